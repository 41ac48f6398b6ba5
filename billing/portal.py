"""Portal: the tenant's bills (``/portal/billing``, docs/billing.md "Tenant portal").

Tenant administrators only (a tenant role holding ``user.manage``: the people who sign for the
company): every invoice with its status, what has arrived and what is still due, the bill PDF,
and "微信支付" — a WeChat Pay Native order for what is still due, shown as a QR code that the
payer scans with WeChat. The page refreshes itself (``Refresh`` header, no script) until the
payment's notification has marked it paid.

Reads run in the principal's tenant context like every portal page: another tenant's invoice
id answers 404, the same as a missing one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from markupsafe import Markup
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from billing import dunning, payments, pdf, wechatpay
from saas.auth.permissions import Permission
from saas.auth.principal import Principal, check_permission
from saas.board.render import qr_svg
from saas.db import get_session
from saas.errors import ApiError, NotFound
from saas.models.billing import Invoice, Payment
from saas.models.identity import Role
from saas.models.tenancy import Tenant

bp = Blueprint("billing_portal", __name__, url_prefix="/portal/billing")

REFRESH_SECONDS = 5
MAX_INVOICES = 120  # ten years of monthly bills

F = TypeVar("F", bound=Callable[..., Any])


def tenant_admin_only(view: F) -> F:
    """401 without a login, 403 unless a tenant administrator of their own tenant (support
    access by provider staff does not open bills)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        principal = check_permission(Permission.USER_MANAGE)
        if (
            principal.tenant_id is None
            or principal.role != Role.TENANT_ADMIN
            or principal.support_grant_id is not None
        ):
            abort(403, description=_("只有企业管理员可以查看账单"))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _principal() -> Principal:
    return check_permission(Permission.USER_MANAGE)


def _invoice_or_404(invoice_id: uuid.UUID) -> Invoice:
    invoice = get_session().get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound("账单")
    return invoice


def _labels() -> dict[str, Any]:
    return {
        "status_labels": payments.STATUS_LABELS,
        "yuan": payments.yuan,
    }


@bp.get("", strict_slashes=False)
@tenant_admin_only
def billing_index() -> str:
    principal = _principal()
    session = get_session()
    invoices = session.scalars(
        select(Invoice).order_by(Invoice.period_start.desc()).limit(MAX_INVOICES)
    ).all()
    rows = [{"invoice": i, "balance": payments.balance(session, i)} for i in invoices]
    assert principal.tenant_id is not None
    return render_template(
        "portal/billing/index.html",
        rows=rows,
        degraded=dunning.degradation(session, principal.tenant_id),
        wechatpay_enabled=current_app.config["CLEANGATE_SETTINGS"].billing.wechatpay_enabled,
        **_labels(),
    )


@bp.get("/invoices/<uuid:invoice_id>/pdf")
@tenant_admin_only
def invoice_pdf(invoice_id: uuid.UUID) -> ResponseReturnValue:
    """The bill as PDF (``billing.pdf``, the same document the console downloads)."""
    invoice = _invoice_or_404(invoice_id)
    session = get_session()
    tenant = session.get(Tenant, invoice.tenant_id)
    data = pdf.invoice_pdf(
        session,
        invoice,
        current_app.config["CLEANGATE_SETTINGS"],
        tenant_name=tenant.name if tenant is not None else "",
    )
    response = BaseResponse(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{pdf.filename(invoice)}"'
    return response


def _pending(invoice_id: uuid.UUID) -> Payment | None:
    return (
        get_session()
        .scalars(
            select(Payment)
            .where(
                Payment.invoice_id == invoice_id,
                Payment.method == "wechat_pay",
                Payment.code_url.is_not(None),
            )
            .order_by(Payment.created_at.desc())
            .limit(1)
        )
        .first()
    )


@bp.post("/invoices/<uuid:invoice_id>/wechatpay")
@tenant_admin_only
def wechatpay_start(invoice_id: uuid.UUID) -> ResponseReturnValue:
    """Open (or show again) a WeChat Pay Native order for what is still due."""
    principal = _principal()
    invoice = _invoice_or_404(invoice_id)
    try:
        client = wechatpay.client_for(current_app._get_current_object())  # type: ignore[attr-defined]
    except wechatpay.WeChatPayError:
        client = None
    if client is None:
        raise ApiError(503, "unavailable", "微信支付暂未开通，请使用银行转账")
    wechatpay.start_native_payment(
        get_session(),
        invoice,
        client,
        actor_user_id=principal.user_id,
        actor_label=principal.username,
    )
    return redirect(url_for("billing_portal.wechatpay_page", invoice_id=invoice.id), code=303)


@bp.get("/invoices/<uuid:invoice_id>/wechatpay")
@tenant_admin_only
def wechatpay_page(invoice_id: uuid.UUID) -> ResponseReturnValue:
    """The QR code of the latest order; refreshes itself until the invoice is paid."""
    invoice = _invoice_or_404(invoice_id)
    session = get_session()
    payment = _pending(invoice.id)
    waiting = (
        invoice.status in payments.OUTSTANDING
        and payment is not None
        and payment.status == "pending"
    )
    # segno's own SVG markup (paths only, no text of the URL): safe to embed as is.
    qr = Markup(qr_svg(payment.code_url or "")) if waiting and payment else Markup("")  # noqa: S704
    body = render_template(
        "portal/billing/wechatpay.html",
        invoice=invoice,
        balance=payments.balance(session, invoice),
        payment=payment,
        waiting=waiting,
        qr=qr,
        order_minutes=current_app.config["CLEANGATE_SETTINGS"].billing.wechatpay_order_minutes,
        **_labels(),
    )
    response = BaseResponse(body, mimetype="text/html")
    if waiting:
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response
