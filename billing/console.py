"""Console: billing (``/console/billing``, ``billing.manage`` only; docs/billing.md).

Invoices across tenants with a status/period filter and totals, the plan catalogue, each
tenant's subscription (subscribe, change plan — shown as pending until the next period —,
add-ons, buyer details), an invoice's detail and PDF, void with a reason, and the monthly
"issue invoices for a period" run (idempotent). Thin over ``billing.plans`` and
``billing.invoicing``; lists across tenants and the look-up of an invoice by id are read in a
system context, everything of one tenant in that tenant's context.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import func, select

from billing import invoicing, metering, pdf, plans
from billing.money import rmb_uppercase
from billing.periods import BadPeriod, Period, beijing_today
from saas.auth.permissions import Permission, require
from saas.auth.principal import check_permission
from saas.db import get_database, get_session
from saas.errors import ApiError
from saas.models.billing import (
    INVOICE_STATUSES,
    Invoice,
    Payment,
    Subscription,
)
from saas.models.tenancy import Site, Tenant
from saas.tenancy import system_context, tenant_context

bp = Blueprint("billing_console", __name__, url_prefix="/console/billing")

MAX_ROWS = 500
STATUS_LABELS = {
    "open": lazy_gettext("待付款"),
    "paid": lazy_gettext("已付款"),
    "overdue": lazy_gettext("已逾期"),
    "void": lazy_gettext("已作废"),
}
CYCLE_LABELS = {"monthly": lazy_gettext("月付"), "annual": lazy_gettext("年付")}
RESULT_LABELS = {
    "issued": lazy_gettext("已开具"),
    "existing": lazy_gettext("已存在（未重复开具）"),
    "nothing": lazy_gettext("无需开具"),
    "error": lazy_gettext("未开具"),
}


def _labels() -> dict[str, Any]:
    views = current_app.view_functions
    return {
        "status_labels": STATUS_LABELS,
        "cycle_labels": CYCLE_LABELS,
        "payments_url": (
            url_for("billing_payments_web.payments_index")
            if "billing_payments_web.payments_index" in views
            else None
        ),
        "has_invoice_payments": "billing_payments_web.invoice_payments" in views,
    }


def _not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", what)


def _tenant_or_404(tenant_id: uuid.UUID) -> Tenant:
    with tenant_context(tenant_id):
        tenant = get_session().get(Tenant, tenant_id)
    if tenant is None:
        raise _not_found(_("企业不存在"))
    return tenant


def _invoice_or_404(invoice_id: uuid.UUID) -> Invoice:
    with system_context("console: the tenant of an invoice named by id"):
        invoice = get_session().get(Invoice, invoice_id)
    if invoice is None:
        raise _not_found(_("账单不存在"))
    return invoice


def _previous_period() -> str:
    return str(Period.of(beijing_today()).previous())


# --- index --------------------------------------------------------------------------------------


@bp.get("")
@require(Permission.BILLING_MANAGE)
def index() -> tuple[str, int]:
    """Invoices across tenants, newest first, with totals per status for the same filter."""
    args = {k: v.strip() for k, v in request.args.items() if v.strip()}
    errors: dict[str, str] = {}
    if args.get("status") and args["status"] not in INVOICE_STATUSES:
        errors["status"] = _("请选择待付款、已付款、已逾期或已作废")
    period: Period | None = None
    if args.get("period"):
        try:
            period = Period.parse(args["period"])
        except BadPeriod:
            errors["period"] = _("账期格式为 YYYY-MM")
    rows: list[tuple[Invoice, str]] = []
    totals: list[dict[str, Any]] = []
    truncated = False
    if not errors:
        where = []
        if period is not None:
            where += [Invoice.period_start >= period.start, Invoice.period_start <= period.end]
        session = get_session()
        with system_context("console: invoices across tenants"):
            found = session.execute(
                select(Invoice, Tenant.name)
                .join(Tenant, Tenant.id == Invoice.tenant_id)
                .where(*where, *([Invoice.status == args["status"]] if "status" in args else []))
                .order_by(Invoice.issued_on.desc(), Invoice.number.desc())
                .limit(MAX_ROWS + 1)
            ).all()
            summary = session.execute(
                select(Invoice.status, func.count(), func.coalesce(func.sum(Invoice.total), 0))
                .where(*where)
                .group_by(Invoice.status)
            ).all()
        truncated = len(found) > MAX_ROWS
        rows = [(invoice, name) for invoice, name in found[:MAX_ROWS]]
        by_status = {status: (count, Decimal(total)) for status, count, total in summary}
        totals = [
            {
                "status": status,
                "count": by_status.get(status, (0, Decimal("0")))[0],
                "total": by_status.get(status, (0, Decimal("0")))[1],
            }
            for status in INVOICE_STATUSES
        ]
    return render_template(
        "console/billing/index.html",
        rows=rows,
        totals=totals,
        args=args,
        errors=errors,
        truncated=truncated,
        default_period=_previous_period(),
        **_labels(),
    ), (422 if errors else 200)


@bp.get("/plans")
@require(Permission.BILLING_MANAGE)
def plan_list() -> str:
    session = get_session()
    return render_template(
        "console/billing/plans.html",
        plans=plans.plans(session),
        addons=plans.addons(session),
        **_labels(),
    )


@bp.get("/subscriptions")
@require(Permission.BILLING_MANAGE)
def subscriptions() -> str:
    """Every tenant with its subscription (or none) — the way into a tenant's billing page."""
    session = get_session()
    with system_context("console: tenants and their subscriptions"):
        found = session.execute(
            select(Tenant, Subscription)
            .outerjoin(Subscription, Subscription.tenant_id == Tenant.id)
            .order_by(Tenant.name)
            .limit(MAX_ROWS + 1)
        ).all()
    plan_names = {p.id: p.name for p in plans.plans(session)}
    return render_template(
        "console/billing/subscriptions.html",
        rows=[(tenant, sub) for tenant, sub in found[:MAX_ROWS]],
        truncated=len(found) > MAX_ROWS,
        plan_names=plan_names,
        **_labels(),
    )


# --- one tenant ---------------------------------------------------------------------------------


def _tenant_page(
    tenant_id: uuid.UUID,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    """The page, read afresh (after a refused change was rolled back)."""
    tenant = _tenant_or_404(tenant_id)
    session = get_session()
    with tenant_context(tenant.id):
        sub = session.scalar(select(Subscription).where(Subscription.tenant_id == tenant.id))
        invoices = list(
            session.scalars(select(Invoice).order_by(Invoice.period_start.desc()).limit(MAX_ROWS))
        )
        site_count = session.scalar(select(func.count()).select_from(Site)) or 0
    last_period = Period.of(beijing_today()).previous()
    usage = metering.recorded(session, tenant.id, last_period)
    plan_rows = plans.plans(session)
    by_id = {p.id: p for p in plan_rows}
    return render_template(
        "console/billing/tenant.html",
        tenant=tenant,
        sub=sub,
        plan=by_id.get(sub.plan_id) if sub else None,
        pending_plan=by_id.get(sub.pending_plan_id) if sub and sub.pending_plan_id else None,
        plans=[p for p in plan_rows if p.active],
        addons=plans.addons(session, active_only=True),
        invoices=invoices,
        site_count=site_count,
        usage=usage,
        usage_period=str(last_period),
        errors=errors or {},
        form=form or {},
        today=beijing_today().isoformat(),
        **_labels(),
    ), status


def _form() -> dict[str, str]:
    return {k: v.strip() for k, v in request.form.items() if k != "csrf_token"}


def _addon_quantities(form: dict[str, str]) -> dict[str, str]:
    return {k[len("addons.") :]: v for k, v in form.items() if k.startswith("addons.")}


@bp.get("/tenants/<uuid:tenant_id>")
@require(Permission.BILLING_MANAGE)
def tenant_billing(tenant_id: uuid.UUID) -> tuple[str, int]:
    return _tenant_page(tenant_id)


@bp.post("/tenants/<uuid:tenant_id>/subscribe")
@require(Permission.BILLING_MANAGE)
def tenant_subscribe(tenant_id: uuid.UUID) -> Any:
    principal = check_permission(Permission.BILLING_MANAGE)
    tenant = _tenant_or_404(tenant_id)
    form = _form()
    session = get_session()
    try:
        starts_on = date.fromisoformat(form.get("starts_on", ""))
    except ValueError:
        return _tenant_page(
            tenant_id, errors={"starts_on": _("请填写开始日期")}, form=form, status=422
        )
    try:
        plans.subscribe(
            session,
            tenant.id,
            plan_code=form.get("plan", ""),
            cycle=form.get("cycle", ""),
            addon_quantities=_addon_quantities(form),
            buyer=form,
            starts_on=starts_on,
            actor_id=principal.user_id,
            actor_label=principal.username,
        )
    except plans.BillingError as exc:
        session.rollback()
        return _tenant_page(tenant_id, errors=exc.fields, form=form, status=exc.status)
    session.commit()
    flash(_("已开通订阅"))
    return redirect(url_for("billing_console.tenant_billing", tenant_id=tenant.id))


def _subscription(tenant: Tenant) -> Subscription | None:
    """The tenant's subscription (None answers 409: subscribe first)."""
    return plans.subscription_of(get_session(), tenant.id)


@bp.post("/tenants/<uuid:tenant_id>/plan")
@require(Permission.BILLING_MANAGE)
def tenant_change_plan(tenant_id: uuid.UUID) -> Any:
    principal = check_permission(Permission.BILLING_MANAGE)
    tenant = _tenant_or_404(tenant_id)
    form = _form()
    session = get_session()
    sub = _subscription(tenant)
    if sub is None:
        return _tenant_page(tenant_id, errors={"plan": _("该企业尚未订阅")}, status=409)
    try:
        plans.change_plan(
            session,
            sub,
            plan_code=form.get("plan", ""),
            cycle=form.get("cycle", ""),
            today=beijing_today(),
            actor_id=principal.user_id,
            actor_label=principal.username,
        )
    except plans.BillingError as exc:
        session.rollback()
        return _tenant_page(tenant_id, errors=exc.fields, form=form, status=exc.status)
    session.commit()
    if sub.pending_from:
        flash(_("套餐变更已登记，自 %(day)s 起生效", day=sub.pending_from.isoformat()))
    else:
        flash(_("套餐已更新（无待生效的变更）"))
    return redirect(url_for("billing_console.tenant_billing", tenant_id=tenant.id))


@bp.post("/tenants/<uuid:tenant_id>/addons")
@require(Permission.BILLING_MANAGE)
def tenant_addons(tenant_id: uuid.UUID) -> Any:
    principal = check_permission(Permission.BILLING_MANAGE)
    tenant = _tenant_or_404(tenant_id)
    form = _form()
    session = get_session()
    sub = _subscription(tenant)
    if sub is None:
        return _tenant_page(tenant_id, errors={"addons": _("该企业尚未订阅")}, status=409)
    try:
        plans.set_addons(
            session,
            sub,
            _addon_quantities(form),
            actor_id=principal.user_id,
            actor_label=principal.username,
        )
    except plans.BillingError as exc:
        session.rollback()
        return _tenant_page(tenant_id, errors=exc.fields, form=form, status=exc.status)
    session.commit()
    flash(_("附加服务已更新，自下一张账单起计费"))
    return redirect(url_for("billing_console.tenant_billing", tenant_id=tenant.id))


@bp.post("/tenants/<uuid:tenant_id>/buyer")
@require(Permission.BILLING_MANAGE)
def tenant_buyer(tenant_id: uuid.UUID) -> Any:
    principal = check_permission(Permission.BILLING_MANAGE)
    tenant = _tenant_or_404(tenant_id)
    form = _form()
    session = get_session()
    sub = _subscription(tenant)
    if sub is None:
        return _tenant_page(tenant_id, errors={"buyer_name": _("该企业尚未订阅")}, status=409)
    try:
        changed = plans.update_buyer(
            session, sub, form, actor_id=principal.user_id, actor_label=principal.username
        )
    except plans.BillingError as exc:
        session.rollback()
        return _tenant_page(tenant_id, errors=exc.fields, form=form, status=exc.status)
    session.commit()
    flash(_("开票信息已保存") if changed else _("开票信息没有变化"))
    return redirect(url_for("billing_console.tenant_billing", tenant_id=tenant.id))


# --- invoices -----------------------------------------------------------------------------------


@bp.get("/invoices/<uuid:invoice_id>")
@require(Permission.BILLING_MANAGE)
def invoice_detail(invoice_id: uuid.UUID) -> str:
    invoice = _invoice_or_404(invoice_id)
    session = get_session()
    tenant = _tenant_or_404(invoice.tenant_id)
    with tenant_context(invoice.tenant_id):
        payments = list(
            session.scalars(
                select(Payment).where(Payment.invoice_id == invoice.id).order_by(Payment.created_at)
            )
        )
    return render_template(
        "console/billing/invoice.html",
        invoice=invoice,
        tenant=tenant,
        lines=invoicing.lines_of(session, invoice),
        payments=payments,
        uppercase=rmb_uppercase(invoice.total),
        **_labels(),
    )


@bp.get("/invoices/<uuid:invoice_id>/pdf")
@require(Permission.BILLING_MANAGE)
def invoice_pdf(invoice_id: uuid.UUID) -> Response:
    invoice = _invoice_or_404(invoice_id)
    tenant = _tenant_or_404(invoice.tenant_id)
    data = pdf.invoice_pdf(
        get_session(),
        invoice,
        current_app.config.get("CLEANGATE_SETTINGS"),
        tenant_name=tenant.name,
    )
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{pdf.filename(invoice)}"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/invoices/<uuid:invoice_id>/void", methods=["GET", "POST"])
@require(Permission.BILLING_MANAGE)
def invoice_void(invoice_id: uuid.UUID) -> Any:
    """GET asks for the reason; POST voids (409 once paid or already void)."""
    invoice = _invoice_or_404(invoice_id)
    tenant = _tenant_or_404(invoice.tenant_id)
    errors: dict[str, str] = {}
    reason = ""
    status = 200
    if invoice.status not in invoicing.VOIDABLE:
        errors["status"] = _("只能作废未付款的账单")
        status = 409
    elif request.method == "POST":
        principal = check_permission(Permission.BILLING_MANAGE)
        reason = request.form.get("reason", "").strip()
        session = get_session()
        try:
            invoicing.void_invoice(
                session,
                invoice,
                reason,
                actor_id=principal.user_id,
                actor_label=principal.username,
            )
        except plans.BillingError as exc:
            session.rollback()
            errors, status = exc.fields, exc.status
            invoice = _invoice_or_404(invoice_id)  # read afresh after the rollback
            tenant = _tenant_or_404(invoice.tenant_id)
        else:
            session.commit()
            flash(_("账单 %(number)s 已作废", number=invoice.number))
            return redirect(url_for("billing_console.invoice_detail", invoice_id=invoice.id))
    return render_template(
        "console/billing/void.html",
        invoice=invoice,
        tenant=tenant,
        errors=errors,
        reason=reason,
        **_labels(),
    ), status


@bp.post("/issue")
@require(Permission.BILLING_MANAGE)
def issue() -> tuple[str, int]:
    """Issue the month's invoice of every subscribed tenant (each in its own transaction;
    a second run answers "already exists")."""
    principal = check_permission(Permission.BILLING_MANAGE)
    text = request.form.get("period", "").strip()
    try:
        period = Period.parse(text)
    except BadPeriod:
        return render_template(
            "console/billing/issue.html",
            period=text,
            results=[],
            errors={"period": _("账期格式为 YYYY-MM")},
            **_labels(),
        ), 422
    if period.end >= beijing_today():
        return render_template(
            "console/billing/issue.html",
            period=text,
            results=[],
            errors={"period": _("该月尚未结束，月底之后才能开具")},
            **_labels(),
        ), 422
    session = get_session()
    tenant_ids = plans.subscribed_tenant_ids(session)
    session.close()
    results = invoicing.issue_for_tenants(
        get_database(),
        tenant_ids,
        period,
        actor_id=principal.user_id,
        actor_label=principal.username,
    )
    names: dict[uuid.UUID, str] = {}
    if tenant_ids:
        with system_context("console: names of the tenants just invoiced"):
            names = dict(
                get_session()
                .execute(select(Tenant.id, Tenant.name).where(Tenant.id.in_(tenant_ids)))
                .all()
            )
    counts = {status: sum(r.status == status for r in results) for status in RESULT_LABELS}
    return render_template(
        "console/billing/issue.html",
        period=str(period),
        results=[(r, names.get(r.tenant_id, str(r.tenant_id))) for r in results],
        counts=counts,
        result_labels=RESULT_LABELS,
        errors={},
        **_labels(),
    ), 200
