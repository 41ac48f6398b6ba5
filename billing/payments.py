"""Payments towards invoices and the invoice's payment state (docs/billing.md, "Payments").

State machine of ``Invoice.status``::

    open ──▶ paid        succeeded payments reach the total
    open ──▶ overdue     the day after ``due_on``, still short (``billing.dunning``)
    overdue ─▶ paid
    open / overdue ──▶ void   only while no payment has succeeded (provider billing)

Every transition is audited (``billing.invoice.status``) and every function here is idempotent:
reconciling twice changes nothing the second time. A partial payment leaves the invoice
open (or overdue); money beyond the total is kept as recorded and shown as overpaid — it is
never rounded away or moved to another invoice by itself.

Money is ``Decimal`` with two places (CNY), never a float. Amounts typed by staff must have at
most two decimals: they are refused, not rounded.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.money import parse_money, round_half_up
from saas.auth import audit
from saas.db import utcnow
from saas.errors import ApiError, validation_error
from saas.models.billing import Invoice, Payment

CHINA = ZoneInfo("Asia/Shanghai")
MAX_AMOUNT = Decimal("9999999999.99")  # Numeric(12, 2)
OUTSTANDING = ("open", "overdue")
TRANSITIONS = frozenset(
    {
        ("open", "paid"),
        ("open", "overdue"),
        ("overdue", "paid"),
        ("open", "void"),
        ("overdue", "void"),
    }
)
STATUS_LABELS = {"open": "待支付", "paid": "已支付", "overdue": "已逾期", "void": "已作废"}
BANK_REFERENCE = re.compile(r"^[0-9A-Za-z._/-]{4,64}$")


def china_today(now: datetime | None = None) -> date:
    """Today in Beijing: due dates and grace periods are calendar days there."""
    return (now or utcnow()).astimezone(CHINA).date()


def money(value: Decimal) -> Decimal:
    """Two places (sums of stored two-place amounts are exact already: nothing is lost)."""
    return round_half_up(value)


def yuan(value: Decimal) -> str:
    """``¥1,234.50`` for pages and messages."""
    return f"¥{money(value):,.2f}"


def to_fen(value: Decimal) -> int:
    """Yuan with at most two decimals → integer fen (WeChat Pay's ``amount.total``)."""
    fen = value * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{value} has more than two decimals")
    return int(fen)


# --- reading ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Balance:
    total: Decimal
    paid: Decimal

    @property
    def due(self) -> Decimal:
        """Still to pay (never negative)."""
        return max(self.total - self.paid, Decimal("0.00"))

    @property
    def overpaid(self) -> Decimal:
        return max(self.paid - self.total, Decimal("0.00"))


def paid_amount(session: Session, invoice_id: uuid.UUID) -> Decimal:
    """Sum of the invoice's succeeded payments (pending WeChat orders count for nothing)."""
    total = session.scalar(
        select(func.coalesce(func.sum(Payment.amount), 0)).where(
            Payment.invoice_id == invoice_id, Payment.status == "succeeded"
        )
    )
    return money(Decimal(str(total or 0)))


def balance(session: Session, invoice: Invoice) -> Balance:
    return Balance(total=money(invoice.total), paid=paid_amount(session, invoice.id))


def payments_of(session: Session, invoice_id: uuid.UUID) -> list[Payment]:
    return list(
        session.scalars(
            select(Payment)
            .where(Payment.invoice_id == invoice_id)
            .order_by(Payment.created_at, Payment.id)
        )
    )


# --- the state machine --------------------------------------------------------------------------


def _transition(
    session: Session,
    invoice: Invoice,
    to: str,
    *,
    actor_user_id: uuid.UUID | None,
    actor_label: str,
    details: dict[str, Any] | None = None,
) -> bool:
    """Move ``invoice`` to ``to`` if it is still in the state it was read in (a concurrent
    reconciliation may have moved it: then nothing happens and False is returned)."""
    previous = invoice.status
    if previous == to:
        return False
    if (previous, to) not in TRANSITIONS:
        raise ApiError(
            409,
            "conflict",
            f"账单状态不能从“{STATUS_LABELS.get(previous, previous)}”变为"
            f"“{STATUS_LABELS.get(to, to)}”",
            {"fields": {"status": f"{previous} -> {to} not allowed"}},
        )
    now = utcnow()
    values: dict[str, Any] = {"status": to}
    if to == "paid":
        values["paid_at"] = now
    if to == "void":
        values["voided_at"] = now
        values["void_reason"] = (details or {}).get("reason")
    moved = session.execute(
        update(Invoice)
        .where(Invoice.id == invoice.id, Invoice.status == previous)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if not moved:
        session.refresh(invoice)
        return False
    for name, value in values.items():
        setattr(invoice, name, value)
    audit.record(
        session,
        "billing.invoice.status",
        tenant_id=invoice.tenant_id,
        actor_user_id=actor_user_id,
        actor_label=actor_label,
        details={"invoice": invoice.number, "from": previous, "to": to, **(details or {})},
    )
    return True


def reconcile(
    session: Session,
    invoice: Invoice,
    *,
    today: date | None = None,
    actor_user_id: uuid.UUID | None = None,
    actor_label: str = "billing",
) -> str:
    """Bring the invoice's status in line with its succeeded payments and due date; return
    the status. Paid when the payments reach the total; overdue when past ``due_on`` and
    still short. Paid and void invoices stay as they are. The caller commits."""
    if invoice.status not in OUTSTANDING:
        return invoice.status
    state = balance(session, invoice)
    facts = {"total": str(state.total), "paid": str(state.paid)}
    if state.paid >= state.total:
        if state.overpaid:
            facts["overpaid"] = str(state.overpaid)
        _transition(
            session,
            invoice,
            "paid",
            actor_user_id=actor_user_id,
            actor_label=actor_label,
            details=facts,
        )
    elif invoice.status == "open" and invoice.due_on < (today or china_today()):
        _transition(
            session,
            invoice,
            "overdue",
            actor_user_id=actor_user_id,
            actor_label=actor_label,
            details={**facts, "due_on": invoice.due_on.isoformat()},
        )
    return invoice.status


# --- bank transfers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BankTransfer:
    amount: Decimal
    payer_name: str
    bank_reference: str
    received_on: date
    note: str | None = None


def parse_amount(text: str, field: str = "amount") -> Decimal:
    """A CNY amount typed by a person: > 0, at most two decimals, no float on the way."""
    if not (text or "").strip():
        raise validation_error({field: "请填写金额"})
    try:
        value = parse_money(text)
    except (ValueError, ArithmeticError):  # ArithmeticError: "1e400" cannot be quantized
        raise validation_error({field: "金额格式无效，最多两位小数"}) from None
    if value <= 0:
        raise validation_error({field: "金额必须大于 0"})
    if value > MAX_AMOUNT:
        raise validation_error({field: "金额过大"})
    return value


def parse_bank_transfer(form: dict[str, str], *, today: date | None = None) -> BankTransfer:
    """Form fields → ``BankTransfer``; every bad field is named at once (422)."""
    errors: dict[str, str] = {}
    amount = Decimal("0")
    try:
        amount = parse_amount(form.get("amount", ""))
    except ApiError as exc:
        errors.update(exc.details["fields"])
    payer = (form.get("payer_name") or "").strip()
    if not payer:
        errors["payer_name"] = "请填写付款方名称"
    elif len(payer) > 200:
        errors["payer_name"] = "付款方名称不超过 200 字"
    reference = (form.get("bank_reference") or "").strip()
    if not reference:
        errors["bank_reference"] = "请填写银行流水号"
    elif not BANK_REFERENCE.fullmatch(reference):
        errors["bank_reference"] = "银行流水号为 4–64 位字母、数字或 . _ / -"
    received = None
    raw_date = (form.get("received_on") or "").strip()
    if not raw_date:
        errors["received_on"] = "请填写到账日期"
    else:
        try:
            received = date.fromisoformat(raw_date)
        except ValueError:
            errors["received_on"] = "到账日期格式应为 YYYY-MM-DD"
        else:
            if received > (today or china_today()):
                errors["received_on"] = "到账日期不能晚于今天"
    note = (form.get("note") or "").strip() or None
    if note and len(note) > 300:
        errors["note"] = "备注不超过 300 字"
    if errors or received is None:
        raise validation_error(errors, "付款信息有误")
    return BankTransfer(amount, payer, reference, received, note)


def record_bank_transfer(
    session: Session,
    invoice: Invoice,
    transfer: BankTransfer,
    *,
    actor_user_id: uuid.UUID | None,
    actor_label: str,
    today: date | None = None,
) -> Payment:
    """Record money received by bank transfer and reconcile the invoice; commits. The bank
    reference (流水号) is unique: entering the same transfer twice answers 409 and writes
    nothing."""
    # Every payment path locks the invoice first: two payments of one invoice (a transfer and a
    # WeChat notification) reconcile one after the other; a void cannot slip between.
    session.refresh(invoice, with_for_update=True)
    if invoice.status == "void":
        raise ApiError(409, "conflict", "作废的账单不能登记付款", {"fields": {"invoice": "void"}})
    received_at = datetime.combine(transfer.received_on, time(0, 0), CHINA).astimezone(UTC)
    payment = Payment(
        tenant_id=invoice.tenant_id,
        invoice_id=invoice.id,
        method="bank_transfer",
        status="succeeded",
        amount=transfer.amount,
        external_id=transfer.bank_reference,
        payer_name=transfer.payer_name,
        received_at=received_at,
        recorded_by=actor_user_id,
        note=transfer.note,
    )
    session.add(payment)
    try:
        session.flush()
    except IntegrityError:  # uq_payments_method_external, whichever tenant recorded it
        session.rollback()
        raise ApiError(
            409,
            "conflict",
            "该银行流水号已登记过",
            {"fields": {"bank_reference": "already recorded"}},
        ) from None
    audit.record(
        session,
        "billing.payment.record",
        tenant_id=invoice.tenant_id,
        actor_user_id=actor_user_id,
        actor_label=actor_label,
        details={
            "invoice": invoice.number,
            "method": "bank_transfer",
            "amount": str(transfer.amount),
            "bank_reference": transfer.bank_reference,
            "received_on": transfer.received_on.isoformat(),
        },
    )
    reconcile(session, invoice, today=today, actor_user_id=actor_user_id, actor_label=actor_label)
    session.commit()
    return payment
