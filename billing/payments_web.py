"""Payments on the web (docs/billing.md, "Payments"):

* ``/console/billing/payments`` — provider billing staff (``billing.manage``): invoices still to
  be paid across tenants with what has arrived, recent payments, and one invoice's page where
  a bank transfer is recorded and reconciled;
* ``POST /billing/wechatpay/notify`` — WeChat Pay's signed payment notifications (no session,
  no CSRF token: the platform signature is the credential; ``billing.wechatpay`` checks it).

Provider staff belong to no tenant: the cross-tenant lists, and the look-up of which tenant an
invoice id belongs to, are read in a system context; every write then runs in that invoice's
tenant context.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import func, select
from werkzeug.wrappers import Response as BaseResponse

from billing import dunning, payments, wechatpay
from saas.auth.permissions import Permission, require
from saas.auth.principal import check_permission
from saas.db import get_database, get_session
from saas.errors import ApiError, NotFound
from saas.models.billing import INVOICE_STATUSES, Invoice, Payment
from saas.models.tenancy import Tenant
from saas.tenancy import system_context, tenant_context

log = logging.getLogger(__name__)

bp = Blueprint("billing_payments_web", __name__)

MAX_ROWS = 500
RECENT_PAYMENTS = 50
METHOD_LABELS = {"bank_transfer": "银行转账", "wechat_pay": "微信支付"}
PAYMENT_STATUS_LABELS = {
    "pending": "待支付",
    "succeeded": "已到账",
    "failed": "下单失败",
    "closed": "已关闭",
}

F = TypeVar("F", bound=Callable[..., Any])


def csrf_exempt(view: F) -> F:
    """Marks a view that no browser session can reach (saas.security honours it)."""
    view.csrf_exempt = True  # type: ignore[attr-defined]
    return view


def _labels() -> dict[str, Any]:
    return {
        "status_labels": payments.STATUS_LABELS,
        "method_labels": METHOD_LABELS,
        "payment_status_labels": PAYMENT_STATUS_LABELS,
        "yuan": payments.yuan,
    }


def _paid_by_invoice(invoice_ids: list[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    if not invoice_ids:
        return {}
    rows = get_session().execute(
        select(Payment.invoice_id, func.sum(Payment.amount))
        .where(Payment.invoice_id.in_(invoice_ids), Payment.status == "succeeded")
        .group_by(Payment.invoice_id)
    )
    return {invoice_id: payments.money(Decimal(str(total))) for invoice_id, total in rows}


# --- console: the list --------------------------------------------------------------------------


@bp.get("/console/billing/payments")
@require(Permission.BILLING_MANAGE)
def payments_index() -> tuple[str, int]:
    """Invoices by status (default: still to be paid), newest due date first, and the latest
    payments of every tenant."""
    status = request.args.get("status", "outstanding").strip() or "outstanding"
    errors: dict[str, str] = {}
    if status not in {"outstanding", "all", *INVOICE_STATUSES}:
        errors["status"] = _("请选择账单状态")
        status = "outstanding"
    session = get_session()
    stmt = select(Invoice, Tenant.name).join(Tenant, Tenant.id == Invoice.tenant_id)
    if status == "outstanding":
        stmt = stmt.where(Invoice.status.in_(payments.OUTSTANDING))
    elif status != "all":
        stmt = stmt.where(Invoice.status == status)
    with system_context("billing console: invoices and payments across tenants"):
        found = session.execute(
            stmt.order_by(Invoice.due_on.desc(), Invoice.number.desc()).limit(MAX_ROWS + 1)
        ).all()
        paid = _paid_by_invoice([invoice.id for invoice, _name in found[:MAX_ROWS]])
        recent = session.execute(
            select(Payment, Invoice.number, Tenant.name)
            .join(Invoice, Invoice.id == Payment.invoice_id)
            .join(Tenant, Tenant.id == Payment.tenant_id)
            .order_by(Payment.created_at.desc(), Payment.id)
            .limit(RECENT_PAYMENTS)
        ).all()
    rows = []
    for invoice, tenant_name in found[:MAX_ROWS]:
        state = payments.Balance(payments.money(invoice.total), paid.get(invoice.id, Decimal("0")))
        rows.append({"invoice": invoice, "tenant": tenant_name, "balance": state})
    return render_template(
        "console/billing/payments_index.html",
        status=status,
        statuses=("outstanding", *INVOICE_STATUSES, "all"),
        rows=rows,
        truncated=len(found) > MAX_ROWS,
        recent=recent,
        errors=errors,
        **_labels(),
    ), (422 if errors else 200)


# --- console: one invoice -----------------------------------------------------------------------


def _invoice_tenant(invoice_id: uuid.UUID) -> tuple[uuid.UUID, str]:
    """Which tenant the invoice belongs to (and its name), or 404."""
    with system_context("billing console: the tenant of an invoice named by id"):
        found = (
            get_session()
            .execute(
                select(Invoice.tenant_id, Tenant.name)
                .join(Tenant, Tenant.id == Invoice.tenant_id)
                .where(Invoice.id == invoice_id)
            )
            .one_or_none()
        )
    if found is None:
        raise NotFound("账单")
    return found[0], found[1]


def _invoice_page(
    invoice_id: uuid.UUID,
    form: dict[str, str],
    errors: dict[str, str],
    message: str | None = None,
    status: int = 200,
) -> tuple[str, int]:
    tenant_id, tenant_name = _invoice_tenant(invoice_id)
    session = get_session()
    with tenant_context(tenant_id):
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        state = payments.balance(session, invoice)
        rows = payments.payments_of(session, invoice.id)
        degraded = dunning.degradation(session, tenant_id)
    return render_template(
        "console/billing/payments_invoice.html",
        invoice=invoice,
        tenant_name=tenant_name,
        balance=state,
        payments=rows,
        degraded=degraded,
        form=form,
        errors=errors,
        message=message,
        today=payments.china_today().isoformat(),
        **_labels(),
    ), status


@bp.get("/console/billing/payments/invoices/<uuid:invoice_id>")
@require(Permission.BILLING_MANAGE)
def invoice_payments(invoice_id: uuid.UUID) -> tuple[str, int]:
    return _invoice_page(invoice_id, {}, {})


@bp.post("/console/billing/payments/invoices/<uuid:invoice_id>")
@require(Permission.BILLING_MANAGE)
def record_transfer(invoice_id: uuid.UUID) -> ResponseReturnValue:
    """Record a bank transfer (amount, payer, 流水号, date received) and reconcile."""
    principal = check_permission(Permission.BILLING_MANAGE)
    form = {k: v.strip() for k, v in request.form.items() if k != "csrf_token"}
    tenant_id, _name = _invoice_tenant(invoice_id)
    session = get_session()
    try:
        transfer = payments.parse_bank_transfer(form)
        with tenant_context(tenant_id):
            invoice = session.get(Invoice, invoice_id)
            assert invoice is not None
            payments.record_bank_transfer(
                session,
                invoice,
                transfer,
                actor_user_id=principal.user_id,
                actor_label=principal.username,
            )
            status = invoice.status
    except ApiError as exc:
        session.rollback()
        return _invoice_page(
            invoice_id, form, exc.details.get("fields", {}), exc.message, exc.status
        )
    flash(
        _("已登记银行转账 %(amount)s，账单状态：%(status)s", amount=payments.yuan(transfer.amount),
          status=payments.STATUS_LABELS.get(status, status))
    )  # fmt: skip
    return redirect(request.path, code=303)


# --- WeChat Pay notifications -------------------------------------------------------------------


def _answer(status: int, code: str, message: str | None = None) -> tuple[BaseResponse, int]:
    body: dict[str, str] = {"code": code}
    if message is not None:
        body["message"] = message
    return jsonify(body), status


@bp.post("/billing/wechatpay/notify")
@csrf_exempt
def wechatpay_notify() -> tuple[BaseResponse, int]:
    """WeChat Pay's 支付结果通知: 200 ``{"code": "SUCCESS"}`` once applied (or already
    applied); 4xx/5xx ``{"code": "FAIL", "message": …}`` otherwise, and nothing changed."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        client = wechatpay.client_for(app)
    except wechatpay.WeChatPayError as exc:
        log.error("WeChat Pay notify: client unusable: %s", exc)
        return _answer(503, "FAIL", "not configured")
    if client is None:
        return _answer(404, "FAIL", "WeChat Pay is not enabled")
    body = request.get_data(cache=False)
    store = app.extensions["cleangate.redis"]
    verified = False
    try:
        notification = client.verify_notification(dict(request.headers), body, store)
        verified = True
        outcome = wechatpay.apply_notification(get_database(app).sessionmaker, client, notification)
    except wechatpay.Rejected as exc:
        log.warning("WeChat Pay notify rejected (%s): %s", exc.status, exc.message)
        return _answer(exc.status, "FAIL", exc.message)
    except Exception:
        log.exception("WeChat Pay notify failed on our side")
        if verified:  # only a genuine notification's nonce may be forgotten (WeChat retries it)
            client.forget_nonce(dict(request.headers), store)
        return _answer(500, "FAIL", "internal error")
    log.info("WeChat Pay notify: %s", outcome)
    return _answer(200, "SUCCESS")
