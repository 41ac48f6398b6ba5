"""Portal: regulator platforms per site — configurations (secrets as password inputs, blank =
keep, never shown again; our public key to copy), the connection test, the upload records with
their status and 平台信息, single and bulk 补传, and the report rate per gate per day and month.
The rules are ``saas.regulator.configs``'s (the API's own), these views turn forms into calls."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from pydantic import ValidationError
from sqlalchemy import func, select
from werkzeug.wrappers import Response as BaseResponse

from saas.api.openapi import error_fields
from saas.api.pagination import paginate
from saas.api.regulator import check_skip_test, rate_window, rates
from saas.auth.permissions import Permission, require
from saas.auth.principal import check_permission
from saas.db import get_session
from saas.errors import ApiError
from saas.i18n import local_to_aware
from saas.models.identity import Role
from saas.models.regulator import UPLOAD_KINDS, UPLOAD_STATUSES, RegulatorConfig, RegulatorUpload
from saas.models.tenancy import Site
from saas.portal import bp
from saas.regulator import configs, gates, relay
from saas.regulator.base import ADAPTERS, get_adapter
from saas.regulator.signing import SIGNER_KINDS
from saas.sites import get_site

STATUS_LABELS = {
    "pending": lazy_gettext("待发送"),
    "sent": lazy_gettext("发送中"),
    "accepted": lazy_gettext("已接收"),
    "rejected": lazy_gettext("被拒收"),
    "dead": lazy_gettext("发送失败"),
}
STATUS_CLASSES = {
    "pending": "verdict-review",
    "sent": "verdict-review",
    "accepted": "verdict-allow",
    "rejected": "verdict-deny",
    "dead": "verdict-deny",
}
KIND_LABELS = {
    "passage": lazy_gettext("通行记录"),
    "transport_vehicle": lazy_gettext("运输车辆台账"),
    "inplant_vehicle": lazy_gettext("厂内车辆台账"),
    "nonroad_machinery": lazy_gettext("非道路移动机械台账"),
    "gate": lazy_gettext("道闸登记"),
    "daily_count": lazy_gettext("每日过车数"),
}
SIGNER_LABELS = {
    "rsa2": "RSA2 (SHA256withRSA)",
    "sm2": lazy_gettext("SM2 国密 (SM3withSM2)"),
    "hmac-sha256": "HMAC-SHA256",
    "md5-key": "MD5 + key",
}
FIELD_LABELS = {
    "name": lazy_gettext("平台名称"),
    "adapter": lazy_gettext("平台协议"),
    "endpoint": lazy_gettext("平台地址"),
    "signer": lazy_gettext("签名方式"),
    "client_id": lazy_gettext("客户端编号 client_id"),
    "enterprise_code": lazy_gettext("平台企业唯一编码"),
    "uscc": lazy_gettext("统一社会信用代码"),
    "permit_no": lazy_gettext("排污许可证编号"),
    "active": lazy_gettext("启用"),
    "client_secret": lazy_gettext("客户端密钥 client_secret"),
    "private_key": lazy_gettext("私钥（RSA PEM 或 SM2 十六进制）"),
    "shared_key": lazy_gettext("共享密钥"),
    "password": lazy_gettext("平台密码"),
    "skip_test": lazy_gettext("跳过连接测试"),
    "secret_box": lazy_gettext("已保存的凭据"),
}
TEXT_FIELDS = ("name", "adapter", "endpoint", "signer", "client_id", "enterprise_code", "uscc")


def _app() -> Any:
    return current_app._get_current_object()  # type: ignore[attr-defined]


def _adapters() -> list[str]:
    get_adapter("hj1321-json")  # imports the built-in adapters
    return sorted(ADAPTERS)


@bp.get("/regulator", endpoint="regulator")
@require(Permission.SITE_READ)
def regulator_index() -> str:
    session = get_session()
    sites = list(session.scalars(select(Site).order_by(Site.name)))
    config_counts = dict(
        session.execute(
            select(RegulatorConfig.site_id, func.count()).group_by(RegulatorConfig.site_id)
        ).all()
    )
    problem_counts = dict(
        session.execute(
            select(RegulatorUpload.site_id, func.count())
            .where(RegulatorUpload.status.in_(("rejected", "dead")))
            .group_by(RegulatorUpload.site_id)
        ).all()
    )
    return render_template(
        "portal/regulator/index.html",
        sites=sites,
        config_counts=config_counts,
        problem_counts=problem_counts,
    )


def _form_values(config: RegulatorConfig | None = None) -> dict[str, Any]:
    if config is None:
        return {"adapter": "hj1321-json", "signer": "rsa2", "active": True}
    values: dict[str, Any] = {name: getattr(config, name) or "" for name in TEXT_FIELDS}
    values["permit_no"] = config.permit_no or ""
    values["active"] = config.active
    return values


def _render_site(
    site: Site,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    session = get_session()
    rows = configs.list_configs(session, site)
    app = _app()
    counts = Counter(
        session.scalars(
            select(RegulatorUpload.status).where(RegulatorUpload.site_id == site.id)
        ).all()
    )
    html = render_template(
        "portal/regulator/site.html",
        site=site,
        configs=[(row, configs.stored_secret_names(row, app)) for row in rows],
        values=values or _form_values(),
        errors=errors or {},
        counts=counts,
        adapters=_adapters(),
        signers=SIGNER_KINDS,
        signer_labels=SIGNER_LABELS,
        field_labels=FIELD_LABELS,
        status_labels=STATUS_LABELS,
        can_skip=_can_skip(),
    )
    return html, status


def _can_skip() -> bool:
    principal = check_permission(Permission.SITE_READ)
    return principal.role == Role.TENANT_ADMIN.value


@bp.get("/sites/<uuid:site_id>/regulator", endpoint="regulator_site")
@require(Permission.SITE_READ)
def regulator_site(site_id: uuid.UUID) -> tuple[str, int]:
    session = get_session()
    return _render_site(get_site(session, site_id))


def _submitted(*, partial: bool) -> dict[str, Any]:
    """The form as the pydantic model's input: blank secrets and (on edit) blank optional
    texts are left out, checkboxes are booleans."""
    form = request.form
    data: dict[str, Any] = {}
    for name in (*TEXT_FIELDS, "permit_no"):
        if name in form:
            value = form.get(name, "").strip()
            if name == "permit_no":
                data[name] = value or None
            elif value or not partial or name in ("client_id", "enterprise_code"):
                data[name] = value
    for name in configs.SECRET_FIELDS:
        value = form.get(name, "")
        if value.strip():
            data[name] = value
    data["active"] = form.get("active") == "1"
    data["skip_test"] = form.get("skip_test") == "1"
    return data


def _shown(data: dict[str, Any]) -> dict[str, Any]:
    """What goes back into the form after an error: never a secret."""
    return {k: v for k, v in data.items() if k not in configs.SECRET_FIELDS}


@bp.post("/sites/<uuid:site_id>/regulator/configs", endpoint="regulator_config_create")
@require(Permission.SITE_WRITE)
def regulator_config_create(site_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    principal = check_permission(Permission.SITE_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    data = _submitted(partial=False)
    try:
        body = configs.ConfigCreate.model_validate(data)
        check_skip_test(body.skip_test)
        config = configs.create_config(session, site, body, app=_app(), actor_id=principal.user_id)
    except ValidationError as exc:
        session.rollback()
        return _render_site(site, values=_shown(data), errors=error_fields(exc), status=422)
    except ApiError as exc:
        session.rollback()
        fields = exc.details.get("fields") or {"skip_test": exc.message}
        return _render_site(site, values=_shown(data), errors=fields, status=exc.status)
    flash(_("已保存监管平台配置“%(name)s”", name=config.name))
    return redirect(url_for("portal.regulator_config_edit", site_id=site.id, config_id=config.id))


def _render_edit(
    site: Site,
    config: RegulatorConfig,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    html = render_template(
        "portal/regulator/config.html",
        site=site,
        config=config,
        secrets_set=configs.stored_secret_names(config, _app()),
        values=values or _form_values(config),
        errors=errors or {},
        adapters=_adapters(),
        signers=SIGNER_KINDS,
        signer_labels=SIGNER_LABELS,
        field_labels=FIELD_LABELS,
        can_skip=_can_skip(),
    )
    return html, status


@bp.get(
    "/sites/<uuid:site_id>/regulator/configs/<uuid:config_id>", endpoint="regulator_config_edit"
)
@require(Permission.SITE_READ)
def regulator_config_edit(site_id: uuid.UUID, config_id: uuid.UUID) -> tuple[str, int]:
    session = get_session()
    site = get_site(session, site_id)
    return _render_edit(site, configs.get_config(session, site, config_id))


@bp.post(
    "/sites/<uuid:site_id>/regulator/configs/<uuid:config_id>",
    endpoint="regulator_config_update",
)
@require(Permission.SITE_WRITE)
def regulator_config_update(
    site_id: uuid.UUID, config_id: uuid.UUID
) -> BaseResponse | tuple[str, int]:
    principal = check_permission(Permission.SITE_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    config = configs.get_config(session, site, config_id)
    data = _submitted(partial=True)
    try:
        body = configs.ConfigPatch.model_validate(data)
        check_skip_test(body.skip_test)
        configs.update_config(session, config, body, app=_app(), actor_id=principal.user_id)
    except ValidationError as exc:
        session.rollback()
        values = _form_values(config) | _shown(data)
        return _render_edit(site, config, values=values, errors=error_fields(exc), status=422)
    except ApiError as exc:
        session.rollback()
        values = _form_values(config) | _shown(data)
        fields = exc.details.get("fields") or {"skip_test": exc.message}
        return _render_edit(site, config, values=values, errors=fields, status=exc.status)
    flash(_("已保存修改"))
    return redirect(url_for("portal.regulator_config_edit", site_id=site.id, config_id=config.id))


@bp.post(
    "/sites/<uuid:site_id>/regulator/configs/<uuid:config_id>/test",
    endpoint="regulator_config_test",
)
@require(Permission.SITE_WRITE)
def regulator_config_test(site_id: uuid.UUID, config_id: uuid.UUID) -> BaseResponse:
    principal = check_permission(Permission.SITE_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    config = configs.get_config(session, site, config_id)
    result = configs.run_connection_test(session, config, app=_app(), actor_id=principal.user_id)
    if result.ok:
        flash(_("连接测试通过：%(message)s", message=result.message))
    else:
        label = FIELD_LABELS.get(result.field or "", result.field or "")
        flash(_("连接测试失败（%(field)s）：%(message)s", field=label, message=result.message))
    return redirect(url_for("portal.regulator_config_edit", site_id=site.id, config_id=config.id))


@bp.get("/sites/<uuid:site_id>/regulator/uploads", endpoint="regulator_uploads")
@require(Permission.SITE_READ)
def regulator_uploads(site_id: uuid.UUID) -> tuple[str, int]:
    session = get_session()
    site = get_site(session, site_id)
    status = request.args.get("status") or None
    kind = request.args.get("kind") or None
    try:
        stmt = configs.uploads_query(site, status=status, kind=kind)
        rows, cursor = paginate(session, stmt, RegulatorUpload.created_at, RegulatorUpload.id)
        errors: dict[str, str] = {}
    except ApiError as exc:
        rows, cursor, errors = [], None, exc.details.get("fields", {})
    names = {c.id: c.name for c in configs.list_configs(session, site)}
    html = render_template(
        "portal/regulator/uploads.html",
        site=site,
        rows=rows,
        next_cursor=cursor,
        status=status or "",
        kind=kind or "",
        errors=errors,
        config_names=names,
        statuses=UPLOAD_STATUSES,
        kinds=UPLOAD_KINDS,
        status_labels=STATUS_LABELS,
        status_classes=STATUS_CLASSES,
        kind_labels=KIND_LABELS,
        resendable=relay.RESENDABLE,
    )
    return html, 422 if errors else 200


@bp.post("/sites/<uuid:site_id>/regulator/uploads/resend", endpoint="regulator_resend")
@require(Permission.SITE_WRITE)
def regulator_resend(site_id: uuid.UUID) -> BaseResponse:
    """补传: one record (``one``), the ticked ones (``ids``), or all of ``status`` (``all``)."""
    principal = check_permission(Permission.SITE_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    back = url_for(
        "portal.regulator_uploads",
        site_id=site.id,
        status=request.form.get("filter_status") or None,
        kind=request.form.get("filter_kind") or None,
    )
    ids: list[uuid.UUID] | None
    raw = [request.form["one"]] if request.form.get("one") else request.form.getlist("ids")
    statuses: tuple[str, ...] = ("rejected", "dead")
    if request.form.get("all") and not request.form.get("one"):
        ids = None
        chosen = request.form.get("status") or ""
        if chosen:
            statuses = (chosen,)
    else:
        try:
            ids = [uuid.UUID(v) for v in raw]
        except ValueError:
            flash(_("补传失败：记录编号无效"))
            return redirect(back)
        if not ids:
            flash(_("请先勾选要补传的记录"))
            return redirect(back)
        statuses = relay.RESENDABLE
    since = None
    if request.form.get("since"):
        try:
            since = datetime.fromisoformat(local_to_aware(request.form["since"]))
        except ValueError:
            flash(_("补传失败：起始时间无效"))
            return redirect(back)
    try:
        count = relay.resend(
            session, ids, site_id=site.id, status=statuses, since=since,
            actor_id=principal.user_id,
        )  # fmt: skip
    except ValueError as exc:
        flash(_("补传失败：%(error)s", error=str(exc)))
        return redirect(back)
    session.commit()
    flash(_("已安排补传 %(count)s 条记录", count=count))
    return redirect(back)


@bp.get("/sites/<uuid:site_id>/regulator/report-rate", endpoint="regulator_rate")
@require(Permission.SITE_READ)
def regulator_rate(site_id: uuid.UUID) -> tuple[str, int]:
    session = get_session()
    site = get_site(session, site_id)
    args = request.args
    errors: dict[str, str] = {}
    try:
        period, first, last = rate_window(args.get("period"), args.get("from"), args.get("to"))
        data: dict[str, Any] = rates(session, site, period, first, last)
    except ApiError as exc:
        errors = exc.details.get("fields", {})
        data = {"period": args.get("period") or "day", "start": "", "end": "", "items": []}
    names = {c.id: c.name for c in configs.list_configs(session, site)}
    items = data["items"]
    html = render_template(
        "portal/regulator/rate.html",
        site=site,
        data=data,
        rows=items,
        alarms=[r for r in items if r["alarm"]],
        errors=errors,
        config_names={str(k): v for k, v in names.items()},
    )
    return html, 422 if errors else 200


# --- gates (道闸登记) -------------------------------------------------------------------------

GATE_FIELD_LABELS = {
    "gate_code": lazy_gettext("出入口编号"),
    "lane_code": lazy_gettext("道闸编号"),
    "name": lazy_gettext("道闸名称"),
    "direction": lazy_gettext("方向"),
    "address": lazy_gettext("地址"),
    "longitude": lazy_gettext("经度"),
    "latitude": lazy_gettext("纬度"),
    "manager_name": lazy_gettext("负责人"),
    "manager_phone": lazy_gettext("负责人电话"),
    "maintainer": lazy_gettext("运维单位"),
    "maintainer_contact": lazy_gettext("运维联系人"),
    "maintainer_phone": lazy_gettext("运维电话"),
    "active": lazy_gettext("启用"),
}
DIRECTION_LABELS = {
    "in": lazy_gettext("入口"),
    "out": lazy_gettext("出口"),
    "both": lazy_gettext("出入口"),
}
GATE_TEXT_FIELDS = tuple(k for k in GATE_FIELD_LABELS if k != "active")


def _gate_values(gate: Any = None) -> dict[str, Any]:
    if gate is None:
        return {"direction": "both", "active": True}
    values = {name: getattr(gate, name) for name in GATE_TEXT_FIELDS}
    values = {k: ("" if v is None else str(v)) for k, v in values.items()}
    values["active"] = gate.active
    return values


def _gate_submitted(*, partial: bool) -> dict[str, Any]:
    """The form as the model's input: blank optional texts are null, blank required ones are
    left out on create (so the error names the missing field)."""
    data: dict[str, Any] = {}
    for name in GATE_TEXT_FIELDS:
        if name not in request.form:
            continue
        value = request.form.get(name, "").strip()
        if value:
            data[name] = value
        elif name in gates.OPTIONAL_TEXT or name.endswith("_phone"):
            data[name] = None
        elif partial:
            data[name] = None  # the service names the required field
    data["active"] = request.form.get("active") == "1"
    return data


def _render_gates(
    site: Site,
    *,
    edit: Any = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    session = get_session()
    html = render_template(
        "portal/regulator/gates.html",
        site=site,
        gates=gates.list_gates(session, site),
        edit=edit,
        values=values if values is not None else _gate_values(edit),
        errors=errors or {},
        field_labels=GATE_FIELD_LABELS,
        direction_labels=DIRECTION_LABELS,
    )
    return html, status


@bp.get("/sites/<uuid:site_id>/regulator/gates", endpoint="regulator_gates")
@require(Permission.SITE_READ)
def regulator_gates(site_id: uuid.UUID) -> tuple[str, int]:
    session = get_session()
    site = get_site(session, site_id)
    edit_id = request.args.get("edit")
    edit = None
    if edit_id:
        try:
            edit = gates.get_gate(session, site, uuid.UUID(edit_id))
        except ValueError:
            edit = None
    return _render_gates(site, edit=edit)


@bp.post("/sites/<uuid:site_id>/regulator/gates", endpoint="regulator_gate_create")
@require(Permission.SITE_WRITE)
def regulator_gate_create(site_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    principal = check_permission(Permission.SITE_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    data = _gate_submitted(partial=False)
    try:
        body = gates.GateCreate.model_validate(data)
        gate = gates.create_gate(session, site, body, actor_id=principal.user_id)
    except ValidationError as exc:
        session.rollback()
        return _render_gates(site, values=dict(request.form), errors=error_fields(exc), status=422)
    except ApiError as exc:
        session.rollback()
        fields = exc.details.get("fields") or {"gate_code": exc.message}
        return _render_gates(site, values=dict(request.form), errors=fields, status=exc.status)
    flash(_("已保存道闸“%(name)s”，并已排队向监管平台登记", name=gate.name))
    return redirect(url_for("portal.regulator_gates", site_id=site.id))


@bp.post("/sites/<uuid:site_id>/regulator/gates/<uuid:gate_id>", endpoint="regulator_gate_update")
@require(Permission.SITE_WRITE)
def regulator_gate_update(site_id: uuid.UUID, gate_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    principal = check_permission(Permission.SITE_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    gate = gates.get_gate(session, site, gate_id)
    data = _gate_submitted(partial=True)
    try:
        body = gates.GatePatch.model_validate(data)
        gates.update_gate(session, site, gate, body, actor_id=principal.user_id)
    except ValidationError as exc:
        session.rollback()
        values = _gate_values(gate) | dict(request.form)
        return _render_gates(site, edit=gate, values=values, errors=error_fields(exc), status=422)
    except ApiError as exc:
        session.rollback()
        values = _gate_values(gate) | dict(request.form)
        fields = exc.details.get("fields") or {"gate_code": exc.message}
        return _render_gates(site, edit=gate, values=values, errors=fields, status=exc.status)
    flash(_("已保存修改，并已排队向监管平台重新登记"))
    return redirect(url_for("portal.regulator_gates", site_id=site.id))
