"""Console: tenants and sites (docs/console.md) — the list with search and status filter, one
tenant's page (sites, users, bridges, plan, support-access history), suspending and
reactivating a tenant, support access into a tenant, and the onboarding wizard
(企业 → 首个站点 → 管理员 → 套餐 → 监管平台 → 确认).

Provider staff belong to no tenant: tenants, sites, bridges and grants are read in a system
context. Writes go through the services the API uses (``tenants.onboarding`` over
``create_tenant``, ``saas.auth.service.start_support``). The wizard keeps its answers in the
session cookie between steps — never a secret: the regulator platform's secrets are typed on
the last step and go straight into the one transaction that creates everything.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import session as cookie_session
from flask_babel import gettext, lazy_gettext  # type: ignore[import-untyped]
from pydantic import ValidationError
from sqlalchemy import Executable, Select, func, or_, select
from werkzeug.wrappers import Response as BaseResponse

from saas.api import devices
from saas.api.pagination import paginate
from saas.api.support import SupportStart
from saas.auth import audit, service
from saas.auth.permissions import Permission, require
from saas.auth.principal import Principal, check_permission
from saas.compliance import Industry, Rating
from saas.db import get_session, utcnow
from saas.errors import ApiError
from saas.i18n import DISPLAY_TIMEZONE
from saas.models.billing import BillingPlan, Subscription
from saas.models.identity import SupportGrant, User
from saas.models.ledger import EdgeDevice
from saas.models.tenancy import Site, Tenant, TenantStatus
from saas.portal.regulator import FIELD_LABELS as REGULATOR_FIELD_LABELS
from saas.portal.regulator import SIGNER_LABELS
from saas.regulator.base import ADAPTERS, get_adapter
from saas.regulator.configs import SECRET_FIELDS, ConfigCreate
from saas.regulator.signing import SIGNER_KINDS
from saas.sites import SiteFields
from saas.tenancy import system_context
from saas.users import username_taken
from tenants import onboarding
from tenants.provisioning import DuplicateSlug, DuplicateUsername, TenantCreate

bp = Blueprint("tenants_console", __name__, url_prefix="/console/tenants")

STATUS_LABELS = {
    TenantStatus.ACTIVE.value: lazy_gettext("正常"),
    TenantStatus.SUSPENDED.value: lazy_gettext("已暂停"),
}
CYCLE_LABELS = {"monthly": lazy_gettext("按月"), "annual": lazy_gettext("按年预付")}
SUPPORT_MINUTES = (15, 30, 60, 120, 240, service.MAX_SUPPORT_MINUTES)
MAX_REASON = 500
MIN_REASON = 5  # as the API's SupportStart
MIN_STATUS_REASON = 2  # "已续约" says enough
MAX_SHOWN = 500  # sites, bridges, grants on one tenant's page

WIZARD = "tenant_wizard"  # session key: {step: {field: value}} of the steps done so far
STEPS: tuple[tuple[str, Any], ...] = (
    ("enterprise", lazy_gettext("企业")),
    ("site", lazy_gettext("首个站点")),
    ("admin", lazy_gettext("管理员")),
    ("plan", lazy_gettext("套餐")),
    ("regulator", lazy_gettext("监管平台")),
    ("confirm", lazy_gettext("确认")),
)
STEP_NAMES = tuple(name for name, _label in STEPS)
SITE_FIELDS = tuple(SiteFields.model_fields)
REGULATOR_FIELDS = ("name", "adapter", "endpoint", "signer", "client_id", "enterprise_code")
FIELD_LABELS: dict[str, Any] = {
    "name": lazy_gettext("企业名称"),
    "slug": lazy_gettext("企业标识"),
    "site.name": lazy_gettext("站点名称"),
    "site.uscc": lazy_gettext("统一社会信用代码"),
    "site.permit_no": lazy_gettext("排污许可证编号"),
    "site.region_code": lazy_gettext("行政区划代码"),
    "site.industry": lazy_gettext("行业"),
    "site.rating": lazy_gettext("绩效等级"),
    "site.address": lazy_gettext("地址"),
    "site.longitude": lazy_gettext("经度"),
    "site.latitude": lazy_gettext("纬度"),
    "site.legal_representative": lazy_gettext("法定代表人"),
    "site.legal_representative_phone": lazy_gettext("法定代表人电话"),
    "site.contact_name": lazy_gettext("联系人"),
    "site.contact_phone": lazy_gettext("联系电话"),
    "admin_username": lazy_gettext("管理员用户名"),
    "admin_display_name": lazy_gettext("管理员姓名"),
    "plan_id": lazy_gettext("套餐"),
    "cycle": lazy_gettext("计费周期"),
    "starts_on": lazy_gettext("开始计费日期"),
    "billing_email": lazy_gettext("账单邮箱"),
    "bridge_name": lazy_gettext("首个边缘网关名称"),
    **{f"regulator.{k}": v for k, v in REGULATOR_FIELD_LABELS.items()},
}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


# --- helpers ------------------------------------------------------------------------------------


def _(text: str, **values: Any) -> str:
    """flask-babel's ``gettext``, typed (UI strings of this module are extracted as ``_``)."""
    return str(gettext(text, **values))


def _principal(permission: Permission) -> Principal:
    return check_permission(permission)


def _today() -> date:
    return datetime.now(ZoneInfo(DISPLAY_TIMEZONE)).date()


def _message(err: Mapping[str, Any]) -> str:
    """A pydantic error in the console's language (the custom ones are Chinese already)."""
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return _("必填")
    if kind == "string_too_short":
        return _("至少 %(n)s 个字符", n=ctx.get("min_length"))
    if kind == "string_too_long":
        return _("至多 %(n)s 个字符", n=ctx.get("max_length"))
    if kind == "string_pattern_mismatch":
        return _("格式不正确")
    if kind.startswith("decimal") or kind in ("greater_than_equal", "less_than_equal"):
        return _("应为有效的数字（经度 -180~180，纬度 -90~90）")
    return str(err.get("msg", _("无效")))


def _errors(exc: ValidationError, prefix: str = "") -> dict[str, str]:
    fields: dict[str, str] = {}
    for err in exc.errors():
        path = prefix + ".".join(str(p) for p in err["loc"])
        fields.setdefault(path, _message(err))
    return fields


def _tenant_or_404(tenant_id: uuid.UUID) -> Tenant:
    with system_context("console: one tenant"):
        tenant = get_session().get(Tenant, tenant_id)
    if tenant is None:
        raise ApiError(404, "not_found", _("企业不存在"))
    return tenant


def _staff_names(ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    with system_context("console: names of provider staff"):
        rows = get_session().execute(
            select(User.id, User.display_name, User.username).where(User.id.in_(ids))
        )
        return {i: f"{name} ({username})" for i, name, username in rows}


# --- list ---------------------------------------------------------------------------------------


def _search(stmt: Select[Any], q: str) -> Select[Any]:
    """Tenant name or slug, or the name or 统一社会信用代码 of one of its sites."""
    like = f"%{q.lower()}%"
    sites = select(Site.tenant_id).where(
        or_(func.lower(Site.name).like(like), func.lower(Site.uscc).like(like))
    )
    return stmt.where(
        or_(func.lower(Tenant.name).like(like), Tenant.slug.like(like), Tenant.id.in_(sites))
    )


def _counts(stmt: Executable) -> dict[Any, int]:
    return {k: int(v) for k, v in get_session().execute(stmt).all()}


@bp.get("", endpoint="index")
@require(Permission.TENANT_READ_ALL)
def tenant_list() -> tuple[str, int]:
    args = {k: v.strip() for k, v in request.args.items() if v.strip() and k != "cursor"}
    errors: dict[str, str] = {}
    if args.get("status") and args["status"] not in STATUS_LABELS:
        errors["status"] = _("请选择正常或已暂停")
    if len(args.get("q", "")) > 200:
        errors["q"] = _("至多 %(n)s 个字符", n=200)
    rows: list[Tenant] = []
    next_cursor = None
    counts: dict[str, dict[uuid.UUID, int]] = {}
    plans: dict[uuid.UUID, str] = {}
    with system_context("console: tenant list across tenants"):
        if not errors:
            stmt = select(Tenant)
            if args.get("status"):
                stmt = stmt.where(Tenant.status == args["status"])
            if args.get("q"):
                stmt = _search(stmt, args["q"])
            try:
                rows, next_cursor = paginate(get_session(), stmt, Tenant.created_at, Tenant.id)
            except ApiError as exc:  # a bad cursor or limit
                errors.update(exc.details.get("fields", {}))
        ids = [t.id for t in rows]
        if ids:
            counts["sites"] = _counts(
                select(Site.tenant_id, func.count()).where(Site.tenant_id.in_(ids))
                .group_by(Site.tenant_id)
            )  # fmt: skip
            counts["users"] = _counts(
                select(User.tenant_id, func.count()).where(User.tenant_id.in_(ids))
                .group_by(User.tenant_id)
            )  # fmt: skip
            counts["bridges"] = _counts(
                select(EdgeDevice.tenant_id, func.count())
                .where(EdgeDevice.tenant_id.in_(ids), EdgeDevice.status == "active")
                .group_by(EdgeDevice.tenant_id)
            )
            plans = dict(
                get_session()
                .execute(
                    select(Subscription.tenant_id, BillingPlan.name)
                    .join(BillingPlan, BillingPlan.id == Subscription.plan_id)
                    .where(Subscription.tenant_id.in_(ids))
                )
                .all()
            )
    return render_template(
        "console/tenants/index.html",
        rows=rows,
        counts=counts,
        plans=plans,
        args=args,
        errors=errors,
        next_cursor=next_cursor,
        status_labels=STATUS_LABELS,
    ), (422 if errors else 200)


# --- one tenant ---------------------------------------------------------------------------------


def _detail_page(
    tenant: Tenant,
    *,
    form: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> tuple[str, int]:
    session = get_session()
    with system_context("console: one tenant's sites, users, bridges, plan and grants"):
        sites = list(
            session.scalars(
                select(Site).where(Site.tenant_id == tenant.id).order_by(Site.name).limit(MAX_SHOWN)
            )
        )
        users = _counts(
            select(User.role, func.count()).where(User.tenant_id == tenant.id).group_by(User.role)
        )
        bridges = list(
            session.scalars(
                select(EdgeDevice)
                .where(EdgeDevice.tenant_id == tenant.id)
                .order_by(EdgeDevice.created_at)
                .limit(MAX_SHOWN)
            )
        )
        subscription = session.execute(
            select(Subscription, BillingPlan)
            .join(BillingPlan, BillingPlan.id == Subscription.plan_id)
            .where(Subscription.tenant_id == tenant.id)
        ).first()
        pending_plan = (
            session.get(BillingPlan, subscription[0].pending_plan_id)
            if subscription is not None and subscription[0].pending_plan_id
            else None
        )
        grants = list(
            session.scalars(
                select(SupportGrant)
                .where(SupportGrant.tenant_id == tenant.id)
                .order_by(SupportGrant.created_at.desc())
                .limit(MAX_SHOWN)
            )
        )
    live = devices.presence_for(current_app.extensions["cleangate.redis"], bridges)
    views = [devices.device_view(b, live.get(str(b.id))) for b in bridges]
    site_names = {s.id: s.name for s in sites}
    per_site: dict[uuid.UUID, list[int]] = {s.id: [0, 0] for s in sites}
    for view in views:
        if view.status == "active" and view.site_id in per_site:
            per_site[view.site_id][0] += 1
            per_site[view.site_id][1] += int(view.online)
    now = utcnow()
    return render_template(
        "console/tenants/detail.html",
        tenant=tenant,
        sites=sites,
        per_site=per_site,
        site_names=site_names,
        users=users,
        bridges=views,
        subscription=subscription,
        pending_plan=pending_plan,
        grants=grants,
        staff=_staff_names({g.staff_user_id for g in grants}),
        now=now,
        form=form or {},
        errors=errors or {},
        status_labels=STATUS_LABELS,
        cycle_labels=CYCLE_LABELS,
        support_minutes=SUPPORT_MINUTES,
        industry_labels={i.value: i.label_zh for i in Industry},
        rating_labels={r.value: r.label_zh for r in Rating},
    ), (422 if errors else 200)


@bp.get("/<uuid:tenant_id>", endpoint="detail")
@require(Permission.TENANT_READ_ALL)
def tenant_detail(tenant_id: uuid.UUID) -> tuple[str, int]:
    return _detail_page(_tenant_or_404(tenant_id))


@bp.post("/<uuid:tenant_id>/status", endpoint="status")
@require(Permission.TENANT_CREATE)
def tenant_status(tenant_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    """Suspend or reactivate: a marker on the tenant, reasoned and audited; no data is deleted
    or changed, gates, ledger and regulator upload keep running."""
    principal = _principal(Permission.TENANT_CREATE)
    tenant = _tenant_or_404(tenant_id)
    form = {k: v.strip() for k, v in request.form.items() if k != "csrf_token"}
    errors: dict[str, str] = {}
    wanted = form.get("status", "")
    if wanted not in STATUS_LABELS:
        errors["status"] = _("请选择正常或已暂停")
    elif wanted == tenant.status:
        errors["status"] = _("企业已是该状态")
    if len(form.get("status_reason", "")) < MIN_STATUS_REASON:
        errors["status_reason"] = _("请填写原因（至少 %(n)s 个字）", n=MIN_STATUS_REASON)
    elif len(form["status_reason"]) > MAX_REASON:
        errors["status_reason"] = _("至多 %(n)s 个字符", n=MAX_REASON)
    if errors:
        return _detail_page(tenant, form=form, errors=errors)
    session = get_session()
    with system_context("console: tenant status change"):
        row = session.get(Tenant, tenant.id)
        assert row is not None
        previous = row.status
        row.status = wanted
        audit.record(
            session,
            "tenant.status",
            tenant_id=row.id,
            actor_user_id=principal.user_id,
            actor_label=principal.username,
            details={"from": previous, "to": wanted, "reason": form["status_reason"]},
        )
        session.commit()
    flash(_("企业状态已改为“%(status)s”", status=STATUS_LABELS[wanted]))
    return redirect(url_for("tenants_console.detail", tenant_id=tenant.id))


# --- support access -----------------------------------------------------------------------------


@bp.post("/<uuid:tenant_id>/support", endpoint="support_start")
@require(Permission.SUPPORT_ACCESS)
def support_start(tenant_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    """Enter the tenant's portal read-only, for a stated reason and a limited time (the API's
    rules: ``SupportStart``, ``service.start_support``); the tenant sees the grant."""
    principal = _principal(Permission.SUPPORT_ACCESS)
    tenant = _tenant_or_404(tenant_id)
    form = {k: v.strip() for k, v in request.form.items() if k != "csrf_token"}
    errors: dict[str, str] = {}
    try:
        body = SupportStart.model_validate(
            {
                "tenant_id": str(tenant.id),
                "reason": form.get("reason", ""),
                "minutes": form.get("minutes", ""),
            }
        )
    except ValidationError as exc:
        errors = {k: v for k, v in _errors(exc).items() if k in ("reason", "minutes")}
        if "minutes" in errors:
            errors["minutes"] = _("时长为 1 至 %(n)s 分钟", n=service.MAX_SUPPORT_MINUTES)
        if "reason" in errors:
            errors["reason"] = _(
                "请填写原因（%(min)s 至 %(max)s 个字）", min=MIN_REASON, max=MAX_REASON
            )
        return _detail_page(tenant, form=form, errors=errors)
    grant = service.start_support(get_session(), principal, tenant.id, body.reason, body.minutes)
    cookie_session["support_grant"] = str(grant.id)
    flash(
        _(
            "已进入“%(tenant)s”的支持访问（只读，%(n)s 分钟内有效，企业可见）",
            tenant=tenant.name,
            n=body.minutes,
        )
    )
    return redirect(url_for("portal.home"))


@bp.get("/support", endpoint="support")
@require(Permission.CONSOLE_VIEW)
def support_list() -> str:
    """Every active grant across tenants; staff end their own here (also while inside)."""
    now = utcnow()
    principal = _principal(Permission.CONSOLE_VIEW)
    with system_context("console: active support grants across tenants"):
        rows = (
            get_session()
            .execute(
                select(SupportGrant, Tenant.name)
                .join(Tenant, Tenant.id == SupportGrant.tenant_id)
                .where(SupportGrant.ended_at.is_(None), SupportGrant.expires_at > now)
                .order_by(SupportGrant.expires_at)
                .limit(MAX_SHOWN)
            )
            .all()
        )
    return render_template(
        "console/tenants/support.html",
        rows=rows,
        staff=_staff_names({g.staff_user_id for g, _name in rows}),
        me=principal.user_id,
    )


@bp.post("/support/<uuid:grant_id>/end", endpoint="support_end")
@require(Permission.CONSOLE_VIEW)
def support_end(grant_id: uuid.UUID) -> BaseResponse:
    principal = _principal(Permission.CONSOLE_VIEW)
    if not service.end_support(get_session(), principal, grant_id):
        raise ApiError(404, "not_found", _("支持访问不存在或已结束"))
    if cookie_session.get("support_grant") == str(grant_id):
        cookie_session.pop("support_grant", None)
    flash(_("支持访问已结束"))
    return redirect(url_for("tenants_console.support"))


# --- onboarding wizard --------------------------------------------------------------------------


def _state() -> dict[str, dict[str, str]]:
    value = cookie_session.get(WIZARD)
    return value if isinstance(value, dict) else {}


def _save(step: str, values: dict[str, str]) -> None:
    state = _state()
    state[step] = values
    cookie_session[WIZARD] = state


def _first_open_step(state: Mapping[str, Any]) -> str:
    for name in STEP_NAMES:
        if name not in state:
            return name
    return STEP_NAMES[-1]


def _blank_to_none(values: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in values.items() if v != ""}


def _tenant_input(state: Mapping[str, Mapping[str, str]]) -> dict[str, Any]:
    enterprise, admin = state.get("enterprise", {}), state.get("admin", {})
    return {
        "name": enterprise.get("name", ""),
        "slug": enterprise.get("slug", ""),
        "site": _blank_to_none(state.get("site", {})),
        **_blank_to_none(admin),
    }


def _tenant_errors(
    state: Mapping[str, Mapping[str, str]], wanted: tuple[str, ...]
) -> dict[str, str]:
    """``TenantCreate``'s own rules, reported for the fields of one step only."""
    try:
        TenantCreate.model_validate(_tenant_input(state))
    except ValidationError as exc:
        errors = _errors(exc)
        if "slug" in errors and errors["slug"] == _("格式不正确"):
            errors["slug"] = _("只能用小写字母、数字和连字符，不以连字符开头或结尾")
        return {k: v for k, v in errors.items() if k in wanted or k.split(".")[0] in wanted}
    return {}


def _active_plans() -> list[BillingPlan]:
    with system_context("console: the plan catalogue"):
        return list(
            get_session().scalars(
                select(BillingPlan).where(BillingPlan.active.is_(True)).order_by(BillingPlan.name)
            )
        )


def _adapters() -> list[str]:
    get_adapter("hj1321-json")  # imports the built-in adapters
    return sorted(ADAPTERS)


def _check_enterprise(form: dict[str, str], state: dict[str, Any]) -> dict[str, str]:
    errors = _tenant_errors({**state, "enterprise": form}, ("name", "slug"))
    if "slug" not in errors:
        with system_context("console: is the tenant slug free"):
            taken = get_session().scalar(
                select(func.count()).select_from(Tenant).where(Tenant.slug == form["slug"])
            )
        if taken:
            errors["slug"] = _("企业标识已被使用")
    return errors


def _check_site(form: dict[str, str], state: dict[str, Any]) -> dict[str, str]:
    return _tenant_errors({**state, "site": form}, ("site",))


def _check_admin(form: dict[str, str], state: dict[str, Any]) -> dict[str, str]:
    errors = _tenant_errors({**state, "admin": form}, ("admin_username", "admin_display_name"))
    slug = state.get("enterprise", {}).get("slug", "")
    username = (form.get("admin_username") or f"admin@{slug}").lower()
    if "admin_username" not in errors and username_taken(get_session(), username):
        errors["admin_username"] = _("用户名 %(name)s 已被使用", name=username)
    return errors


def _plan_choice(values: Mapping[str, str]) -> tuple[onboarding.PlanChoice | None, dict[str, str]]:
    if not values.get("plan_id"):
        return None, {}
    errors: dict[str, str] = {}
    plans = {str(p.id): p for p in _active_plans()}
    if values["plan_id"] not in plans:
        errors["plan_id"] = _("套餐不存在或已停用")
    if values.get("cycle") not in onboarding.CYCLES:
        errors["cycle"] = _("请选择按月或按年预付")
    try:
        starts_on = date.fromisoformat(values.get("starts_on", ""))
    except ValueError:
        errors["starts_on"] = _("请填写日期（年-月-日）")
    email = values.get("billing_email", "")
    if email and (len(email) > 200 or not _EMAIL.match(email)):
        errors["billing_email"] = _("邮箱格式不正确")
    if errors:
        return None, errors
    choice = onboarding.PlanChoice(
        uuid.UUID(values["plan_id"]), values["cycle"], starts_on, email or None
    )
    return choice, {}


def _check_plan(form: dict[str, str], state: dict[str, Any]) -> dict[str, str]:
    return _plan_choice(form)[1]


def _regulator_config(
    state: Mapping[str, Mapping[str, str]], secrets: Mapping[str, str] | None = None
) -> tuple[ConfigCreate | None, dict[str, str]]:
    values = state.get("regulator", {})
    if values.get("configure") != "1":
        return None, {}
    site = state.get("site", {})
    data: dict[str, Any] = {k: values.get(k, "") for k in REGULATOR_FIELDS}
    data |= {
        "uscc": site.get("uscc", ""),
        "permit_no": site.get("permit_no") or None,
        "active": values.get("active") == "1",
        "skip_test": True,  # our key is registered with the platform after this; see docs
    }
    data |= {k: v for k, v in (secrets or {}).items() if k in SECRET_FIELDS and v.strip()}
    try:
        return ConfigCreate.model_validate(data), {}
    except ValidationError as exc:
        errors = _errors(exc, "regulator.")
        if "regulator.uscc" in errors:  # comes from the site step
            errors["site.uscc"] = errors.pop("regulator.uscc")
        return None, errors


def _check_regulator(form: dict[str, str], state: dict[str, Any]) -> dict[str, str]:
    return _regulator_config({**state, "regulator": form})[1]


CHECKS = {
    "enterprise": _check_enterprise,
    "site": _check_site,
    "admin": _check_admin,
    "plan": _check_plan,
    "regulator": _check_regulator,
}
KEPT = {  # what each step stores in the session
    "enterprise": ("name", "slug"),
    "site": SITE_FIELDS,
    "admin": ("admin_username", "admin_display_name"),
    "plan": ("plan_id", "cycle", "starts_on", "billing_email"),
    "regulator": ("configure", "active", *REGULATOR_FIELDS),
}


def _step_of(field: str) -> str:
    """The wizard step where a field with an error is entered."""
    head, _dot, rest = field.partition(".")
    if field in KEPT["enterprise"]:
        return "enterprise"
    if head == "site":
        return "site"
    if field in KEPT["admin"]:
        return "admin"
    if field in KEPT["plan"]:
        return "plan"
    if head == "regulator" and rest in KEPT["regulator"]:
        return "regulator"
    return "confirm"  # the bridge name and the regulator secrets


def _wizard_page(
    step: str,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    status: int = 200,
) -> tuple[str, int]:
    state = _state()
    plans = _active_plans() if step in ("plan", "confirm") else []
    regulator = state.get("regulator", {})
    return render_template(
        "console/tenants/wizard.html",
        step=step,
        steps=STEPS,
        done=set(state),
        values=values,
        errors=errors,
        state=state,
        plans=plans,
        plan_names={str(p.id): p.name for p in plans},
        adapters=_adapters(),
        signers=SIGNER_KINDS,
        signer_labels=SIGNER_LABELS,
        shared_key_needed=regulator.get("signer") in ("hmac-sha256", "md5-key"),
        key_generated=regulator.get("signer") in onboarding.GENERATED_KEY_SIGNERS,
        field_labels=FIELD_LABELS,
        step_of=_step_of,
        cycle_labels=CYCLE_LABELS,
        industries=[(i.value, i.label_zh) for i in Industry],
        ratings=[(r.value, r.label_zh) for r in Rating],
        today=_today().isoformat(),
    ), status


@bp.get("/new", endpoint="wizard")
@require(Permission.TENANT_CREATE)
def wizard_start() -> BaseResponse:
    if request.args.get("restart") == "1":
        cookie_session.pop(WIZARD, None)
    return redirect(url_for("tenants_console.wizard_step", step=_first_open_step(_state())))


@bp.route("/new/<step>", methods=["GET", "POST"], endpoint="wizard_step")
@require(Permission.TENANT_CREATE)
def wizard_step(step: str) -> BaseResponse | tuple[str, int]:
    principal = _principal(Permission.TENANT_CREATE)
    if step not in STEP_NAMES:
        raise ApiError(404, "not_found", _("没有这个步骤"))
    state = _state()
    first_open = _first_open_step(state)
    if STEP_NAMES.index(step) > STEP_NAMES.index(first_open):
        return redirect(url_for("tenants_console.wizard_step", step=first_open))
    if step == "confirm":
        if request.method == "POST":
            return _finish(principal, state)
        return _wizard_page(step, {"bridge_name": _("1号网关")}, {})
    if request.method == "GET":
        return _wizard_page(step, state.get(step, {}), {})
    form = {name: request.form.get(name, "").strip() for name in KEPT[step]}
    errors = CHECKS[step](form, state)
    if errors:
        return _wizard_page(step, form, errors, 422)
    _save(step, form)
    next_step = STEP_NAMES[STEP_NAMES.index(step) + 1]
    return redirect(url_for("tenants_console.wizard_step", step=next_step))


def _finish(principal: Principal, state: dict[str, Any]) -> BaseResponse | tuple[str, int]:
    """Check every step again (the catalogue or a slug may have changed since), then create
    everything in one transaction and show the one-time secrets once."""
    bridge_name = request.form.get("bridge_name", "").strip()
    secrets = {name: request.form.get(name, "") for name in SECRET_FIELDS}
    errors: dict[str, str] = {}
    for step, check in CHECKS.items():
        errors |= check(state.get(step, {}), state)
    if not bridge_name:
        errors["bridge_name"] = _("必填")
    elif len(bridge_name) > 100:
        errors["bridge_name"] = _("至多 %(n)s 个字符", n=100)
    regulator, regulator_errors = _regulator_config(state, secrets)
    errors |= regulator_errors
    plan, _plan_errors = _plan_choice(state.get("plan", {}))
    if errors:
        return _wizard_page("confirm", {"bridge_name": bridge_name}, errors, 422)
    data = onboarding.Onboarding(
        tenant=TenantCreate.model_validate(_tenant_input(state)),
        bridge_name=bridge_name,
        plan=plan,
        regulator=regulator,
    )
    try:
        done = onboarding.onboard(
            get_session(),
            data,
            app=current_app._get_current_object(),  # type: ignore[attr-defined]
            actor_user_id=principal.user_id,
            actor_label=principal.username,
        )
    except DuplicateSlug:
        errors = {"slug": _("企业标识已被使用")}
    except DuplicateUsername:
        errors = {"admin_username": _("管理员用户名已被使用")}
    except onboarding.PlanUnavailable:
        errors = {"plan_id": _("套餐不存在或已停用")}
    except ApiError as exc:  # the regulator configuration's checks (the key)
        fields = exc.details.get("fields") or {"endpoint": exc.message}
        errors = {f"regulator.{k}": str(v) for k, v in fields.items()}
    if errors:
        return _wizard_page("confirm", {"bridge_name": bridge_name}, errors, 422)
    cookie_session.pop(WIZARD, None)
    settings = current_app.config["CLEANGATE_SETTINGS"]
    response = make_response(
        render_template(
            "console/tenants/onboarded.html",
            done=done,
            tenant_name=data.tenant.name,
            site_name=data.tenant.site.name,
            bridge_name=bridge_name,
            pair_command=devices.pair_command(settings.base_url, done.pairing_code),
            regulator_name=regulator.name if regulator else None,
        )
    )
    response.headers["Cache-Control"] = "no-store"  # a password and a code, shown once
    return response
