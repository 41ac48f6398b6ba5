"""Invoices (账单) per tenant per Beijing month (docs/billing.md, "Invoices").

Two halves. ``compute_invoice`` is pure: terms and metered usage in, lines and totals out,
``Decimal`` only. ``issue_invoice`` reads the subscription and the month's usage, computes,
and writes ``Invoice`` + ``InvoiceLine`` with a gap-free number in one transaction.

Arithmetic (every amount has two decimals):

* a full month of a site or lane is its monthly fee, exactly; part of a month is
  ``fee × billable days ÷ days in the month``, the partial days of all sites (lanes) summed
  into one proration line and rounded half up once;
* the first month of a subscription starting mid-month is billed from its first day
  (sites, lanes and recurring add-ons pro rata);
* SMS beyond the plan's allowance plus the SMS bundles is billed per started 1 000 条 at the
  bundle price; storage beyond the plan's allowance plus the storage add-on per started GB at
  the storage price;
* annual cycle: the invoice of the month a term starts bills 12 months of sites, lanes and
  recurring add-ons (the counts and quantities of that month), less the plan's annual
  discount on the site and lane fees (one negative line, rounded half up); the months inside
  the term bill only what exceeds the prepaid counts (sites and lanes pro rata by days, at the
  monthly fee), one-off add-ons and usage overage — and no invoice at all when that is zero;
* subtotal = Σ lines; VAT = subtotal × 6 % rounded half up once, on the invoice total, not
  per line; total = subtotal + VAT.

A plan or cycle change starts on a period boundary, so it never splits a month; a change of
site or lane counts inside a month is what proration is for.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing import metering, numbering
from billing.money import VAT_RATE, prorate, round_fraction, round_half_up, vat_of
from billing.periods import Period, add_years, beijing_today, term_end
from billing.plans import (
    SMS_BUNDLE,
    SMS_PER_BUNDLE,
    STORAGE,
    BillingError,
    apply_due_change,
    buyer_snapshot,
    current_term_start,
)
from saas.auth import audit
from saas.db import Database, utcnow
from saas.models.billing import (
    BillingAddon,
    BillingPlan,
    Invoice,
    InvoiceLine,
    Payment,
    Subscription,
)
from saas.models.tenancy import Tenant
from saas.tenancy import tenant_context

PAYMENT_TERM_DAYS = 15  # due_on = issued_on + 15 days
ANNUAL_MONTHS = 12
UNIT_PRICE_PLACES = Decimal("0.0001")  # InvoiceLine.unit_price is Numeric(12, 4)
QUANTITY_PLACES = Decimal("0.001")


# --- pure computation --------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanTerms:
    code: str
    name: str
    site_fee: Decimal
    lane_fee: Decimal
    included_sms: int = 0
    included_storage_gb: int = 0
    annual_discount_pct: Decimal = Decimal("0")

    @classmethod
    def of(cls, plan: BillingPlan) -> PlanTerms:
        return cls(
            plan.code,
            plan.name,
            plan.site_monthly_fee,
            plan.lane_monthly_fee,
            plan.included_sms,
            plan.included_storage_gb,
            plan.annual_discount_pct,
        )


@dataclass(frozen=True)
class AddonTerms:
    code: str
    name: str
    unit: str
    unit_price: Decimal
    recurring: bool

    @classmethod
    def of(cls, addon: BillingAddon) -> AddonTerms:
        return cls(addon.code, addon.name, addon.unit, addon.unit_price, addon.recurring)


@dataclass(frozen=True)
class MonthUsage:
    """The metered month as invoicing needs it (``billing.metering.Usage`` provides it)."""

    site_since: tuple[date, ...] = ()
    lane_since: tuple[date, ...] = ()
    sms: int = 0
    storage_gb: Decimal = Decimal("0")


@dataclass(frozen=True)
class Term:
    """An annual term. ``new``: this invoice starts it (bill the prepay). ``prepaid``: what
    the term's invoice paid for, by line code (``site``, ``lane``, ``addon:<code>``)."""

    start: date
    end: date
    new: bool
    prepaid: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class BillingCase:
    period: Period
    starts_on: date
    plan: PlanTerms
    cycle: str  # monthly | annual
    addons: Mapping[str, int]  # recurring and one-off quantities to bill
    catalogue: Mapping[str, AddonTerms]
    usage: MonthUsage
    term: Term | None = None  # annual only
    vat_rate: Decimal = VAT_RATE


@dataclass(frozen=True)
class Line:
    kind: str  # site | lane | addon | usage | proration | discount
    code: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Computed:
    period_start: date
    period_end: date
    lines: tuple[Line, ...]
    subtotal: Decimal
    vat_rate: Decimal
    vat: Decimal
    total: Decimal


def _qty(value: int | Decimal) -> Decimal:
    return Decimal(value).quantize(QUANTITY_PLACES)


def _price(value: Decimal | Fraction) -> Decimal:
    """A unit price for display (4 places, half up); amounts are never computed from it."""
    if isinstance(value, Fraction):
        scaled = abs(value) * 10000
        rounded = Decimal(math.floor(scaled + Fraction(1, 2))) / 10000
        return (-rounded if value < 0 else rounded).quantize(UNIT_PRICE_PLACES)
    return Decimal(value).quantize(UNIT_PRICE_PLACES)


def billable_days(since: date, window_start: date, period: Period) -> int:
    first = max(since, window_start)
    return max(0, (period.end - first).days + 1)


def _unit_lines(code: str, label: str, fee: Decimal, days: list[int], period: Period) -> list[Line]:
    """Full months at the fee; the partial days of all units in one proration line."""
    lines: list[Line] = []
    full = sum(1 for d in days if d == period.days)
    partial = sum(d for d in days if 0 < d < period.days)
    if full:
        lines.append(
            Line(code, code, f"{label}月费", _qty(full), _price(fee), round_half_up(fee * full))
        )
    if partial:
        lines.append(
            Line(
                "proration",
                code,
                f"{label}月费按天折算（{partial} 天 ÷ 本月 {period.days} 天）",
                _qty(partial),
                _price(Fraction(fee) / period.days),
                round_fraction(Fraction(fee) * partial / period.days),
            )
        )
    return lines


def compute_invoice(case: BillingCase) -> Computed:
    """The invoice of ``case.period`` (see the module docstring for every rule)."""
    period, plan = case.period, case.plan
    window_start = max(period.start, case.starts_on)
    period_end = period.end
    lines: list[Line] = []
    if window_start > period.end:
        return _totals(window_start, period_end, lines, case.vat_rate)
    window_days = (period.end - window_start).days + 1
    site_days = sorted(
        (billable_days(s, window_start, period) for s in case.usage.site_since), reverse=True
    )
    lane_days = sorted(
        (billable_days(s, window_start, period) for s in case.usage.lane_since), reverse=True
    )
    recurring = {
        code: qty
        for code, qty in sorted(case.addons.items())
        if qty > 0 and code in case.catalogue and case.catalogue[code].recurring
    }
    term = case.term if case.cycle == "annual" else None

    if term is not None and term.new:
        period_end = max(period.end, term.end)
        span = f"{term.start.isoformat()} 至 {term.end.isoformat()}"
        prepaid_total = Decimal("0")
        for code, label, fee, count in (
            ("site", "站点", plan.site_fee, len(site_days)),
            ("lane", "道闸", plan.lane_fee, len(lane_days)),
        ):
            if count:
                amount = round_half_up(fee * ANNUAL_MONTHS * count)
                prepaid_total += amount
                lines.append(
                    Line(
                        code,
                        code,
                        f"{label}年费（{plan.name}，{span}，12 个月）",
                        _qty(count),
                        _price(fee * ANNUAL_MONTHS),
                        amount,
                    )
                )
        discount = round_half_up(prepaid_total * plan.annual_discount_pct / 100)
        if discount:
            lines.append(
                Line(
                    "discount",
                    "annual_discount",
                    f"年付优惠（站点与道闸年费的 {plan.annual_discount_pct.normalize():f}%）",
                    _qty(1),
                    _price(-discount),
                    -discount,
                )
            )
        for code, qty in recurring.items():
            addon = case.catalogue[code]
            lines.append(
                Line(
                    "addon",
                    f"addon:{code}",
                    f"{addon.name}（{span}，12 个月）",
                    _qty(qty),
                    _price(addon.unit_price * ANNUAL_MONTHS),
                    round_half_up(addon.unit_price * ANNUAL_MONTHS * qty),
                )
            )
    else:
        prepaid = term.prepaid if term is not None else {}
        extra = "超出年付数量的" if term is not None else ""
        for code, label, fee, days in (
            ("site", f"{extra}站点（{plan.name}）", plan.site_fee, site_days),
            ("lane", f"{extra}道闸（{plan.name}）", plan.lane_fee, lane_days),
        ):
            lines += _unit_lines(code, label, fee, days[prepaid.get(code, 0) :], period)
        for code, qty in recurring.items():
            addon = case.catalogue[code]
            billed = qty - prepaid.get(f"addon:{code}", 0)
            if billed <= 0:
                continue
            monthly = addon.unit_price * billed
            if window_days == period.days:
                lines.append(
                    Line(
                        "addon",
                        f"addon:{code}",
                        f"{extra}{addon.name}",
                        _qty(billed),
                        _price(addon.unit_price),
                        round_half_up(monthly),
                    )
                )
            else:
                lines.append(
                    Line(
                        "proration",
                        f"addon:{code}",
                        f"{addon.name}按天折算（{window_days} 天 ÷ 本月 {period.days} 天）",
                        _qty(billed),
                        _price(Fraction(addon.unit_price) * window_days / period.days),
                        prorate(monthly, window_days, period.days),
                    )
                )

    for code, qty in sorted(case.addons.items()):
        one_off = case.catalogue.get(code)
        if qty > 0 and one_off is not None and not one_off.recurring:
            lines.append(
                Line(
                    "addon",
                    f"addon:{code}",
                    one_off.name,
                    _qty(qty),
                    _price(one_off.unit_price),
                    round_half_up(one_off.unit_price * qty),
                )
            )

    lines += _overage(case)
    return _totals(window_start, period_end, lines, case.vat_rate)


def _overage(case: BillingCase) -> list[Line]:
    lines: list[Line] = []
    sms_addon = case.catalogue.get(SMS_BUNDLE)
    if sms_addon is not None:
        allowance = case.plan.included_sms + case.addons.get(SMS_BUNDLE, 0) * SMS_PER_BUNDLE
        over = case.usage.sms - allowance
        if over > 0:
            bundles = math.ceil(Fraction(over, SMS_PER_BUNDLE))
            lines.append(
                Line(
                    "usage",
                    "usage:sms",
                    f"短信超出 {over} 条（已用 {case.usage.sms}，含 {allowance}；"
                    f"按 {bundles} 个千条包计）",
                    _qty(bundles),
                    _price(sms_addon.unit_price),
                    round_half_up(sms_addon.unit_price * bundles),
                )
            )
    storage_addon = case.catalogue.get(STORAGE)
    if storage_addon is not None:
        allowance_gb = case.plan.included_storage_gb + case.addons.get(STORAGE, 0)
        over_gb = case.usage.storage_gb - allowance_gb
        if over_gb > 0:
            billed_gb = math.ceil(over_gb)
            lines.append(
                Line(
                    "usage",
                    "usage:storage",
                    f"存储超出 {over_gb:f} GB（已用 {case.usage.storage_gb:f} GB，"
                    f"含 {allowance_gb} GB；按 {billed_gb} GB 计）",
                    _qty(billed_gb),
                    _price(storage_addon.unit_price),
                    round_half_up(storage_addon.unit_price * billed_gb),
                )
            )
    return lines


def _totals(start: date, end: date, lines: list[Line], vat_rate: Decimal) -> Computed:
    subtotal = round_half_up(sum((line.amount for line in lines), Decimal("0")))
    vat = vat_of(subtotal, vat_rate)
    return Computed(start, end, tuple(lines), subtotal, vat_rate, vat, subtotal + vat)


# --- issuing -----------------------------------------------------------------------------------


class NothingToBill(BillingError):
    """No invoice for this tenant and month (not started, or an annual month with nothing
    beyond the prepay). Nothing was written, no number used."""

    def __init__(self, reason: str) -> None:
        super().__init__({"period": reason}, status=409, code="nothing_to_bill")


@dataclass(frozen=True)
class Issued:
    invoice: Invoice
    created: bool  # False: the tenant's invoice of that month already existed


def invoice_of_period(session: Session, tenant_id: uuid.UUID, period: Period) -> Invoice | None:
    with tenant_context(tenant_id):
        return session.scalar(
            select(Invoice).where(
                Invoice.period_start >= period.start, Invoice.period_start <= period.end
            )
        )


def _term(session: Session, sub: Subscription, period: Period) -> Term | None:
    """The annual term that covers ``period`` (new when it starts in it) and what its
    invoice prepaid (a void term invoice prepaid nothing)."""
    if sub.cycle != "annual":
        return None
    start = current_term_start(sub)  # the next term to bill
    if start <= period.end:
        return Term(start, term_end(start), new=True)
    assert sub.paid_through is not None  # start > period.end: a billed term covers it
    term_invoice = session.scalar(
        select(Invoice)
        .where(
            Invoice.period_end == sub.paid_through,
            Invoice.period_start <= period.start,
            Invoice.status != "void",
        )
        .order_by(Invoice.period_start)
        .limit(1)
    )
    prepaid: dict[str, int] = {}
    if term_invoice is not None:
        for code, quantity in session.execute(
            select(InvoiceLine.code, InvoiceLine.quantity).where(
                InvoiceLine.invoice_id == term_invoice.id,
                InvoiceLine.kind.in_(("site", "lane", "addon")),
            )
        ):
            if code:
                prepaid[code] = prepaid.get(code, 0) + int(quantity)
    return Term(add_years(start, -1), sub.paid_through, new=False, prepaid=prepaid)


def build_case(
    session: Session, sub: Subscription, period: Period, usage: metering.Usage
) -> BillingCase:
    plan = session.get(BillingPlan, sub.plan_id)
    assert plan is not None
    catalogue = {a.code: AddonTerms.of(a) for a in session.scalars(select(BillingAddon))}
    starts_on = sub.starts_on
    if sub.cycle == "monthly" and sub.paid_through is not None:
        # Back from the annual cycle: the days the last term prepaid are not billed again.
        starts_on = max(starts_on, sub.paid_through + timedelta(days=1))
    return BillingCase(
        period=period,
        starts_on=starts_on,
        plan=PlanTerms.of(plan),
        cycle=sub.cycle,
        addons={code: int(qty) for code, qty in (sub.addons or {}).items()},
        catalogue=catalogue,
        usage=MonthUsage(usage.site_since, usage.lane_since, usage.sms, usage.storage_gb),
        term=_term(session, sub, period),
    )


def issue_invoice(
    session: Session,
    tenant_id: uuid.UUID,
    period: Period,
    *,
    today: date | None = None,
    actor_id: uuid.UUID | None = None,
    actor_label: str | None = None,
) -> Issued:
    """Meter the month, compute and write the tenant's invoice of ``period``, and commit —
    all in one transaction, the number taken last. Idempotent: the month's existing invoice
    (whatever its status) is returned with ``created=False``. Raises ``NothingToBill`` and
    ``BillingError`` (no subscription 404; a month before an invoiced later month 409)."""
    today = today or beijing_today()
    with tenant_context(tenant_id):
        try:
            return _issue(session, tenant_id, period, today, actor_id, actor_label)
        except IntegrityError:
            # Another issuer wrote this month's invoice first; our number went back with
            # the rollback.
            session.rollback()
            existing = invoice_of_period(session, tenant_id, period)
            if existing is None:
                raise
            return Issued(existing, created=False)
        except BaseException:
            session.rollback()
            raise


def _issue(
    session: Session,
    tenant_id: uuid.UUID,
    period: Period,
    today: date,
    actor_id: uuid.UUID | None,
    actor_label: str | None,
) -> Issued:
    existing = invoice_of_period(session, tenant_id, period)
    if existing is not None:
        return Issued(existing, created=False)
    sub = session.scalar(select(Subscription).where(Subscription.tenant_id == tenant_id))
    if sub is None:
        raise BillingError({"tenant": "该企业没有订阅"}, status=404, code="not_found")
    if sub.starts_on > period.end:
        raise NothingToBill(f"订阅自 {sub.starts_on.isoformat()} 起，{period} 无需计费")
    later = session.scalar(
        select(Invoice.period_start).where(Invoice.period_start > period.end).limit(1)
    )
    if later is not None:
        raise BillingError(
            {"period": f"已开具 {Period.of(later)} 的账单，不能再开具更早的账期"},
            status=409,
            code="conflict",
        )
    if period.end >= today:
        raise BillingError({"period": f"{period} 尚未结束，月底之后才能开具"}, status=409)
    # A change in force during the month (monthly: from its 1st; annual: from the
    # anniversary, which starts the new term in this month) applies to this invoice.
    apply_due_change(session, sub, period.end)
    usage = metering.meter_tenant(session, tenant_id, period, actor_label=actor_label or "billing")
    case = build_case(session, sub, period, usage)
    computed = compute_invoice(case)
    if not computed.lines:
        apply_due_change(session, sub, period.end + timedelta(days=1))
        session.commit()  # the month's usage records and a promoted change
        raise NothingToBill(f"{period} 没有需要计费的项目")
    tenant = session.get(Tenant, tenant_id)
    assert tenant is not None
    invoice = Invoice(
        tenant_id=tenant_id,
        number="",
        period_start=computed.period_start,
        period_end=computed.period_end,
        issued_on=today,
        due_on=today + timedelta(days=PAYMENT_TERM_DAYS),
        status="open",
        currency="CNY",
        subtotal=computed.subtotal,
        vat_rate=computed.vat_rate,
        vat_amount=computed.vat,
        total=computed.total,
        buyer=buyer_snapshot(sub, tenant.name),
    )
    billed_one_offs = {
        code: qty
        for code, qty in (sub.addons or {}).items()
        if code in case.catalogue and not case.catalogue[code].recurring
    }
    if billed_one_offs:
        sub.addons = {k: v for k, v in sub.addons.items() if k not in billed_one_offs}
    if case.term is not None and case.term.new:
        sub.paid_through = case.term.end
    apply_due_change(session, sub, period.end + timedelta(days=1))
    # Last: the counter row stays locked until COMMIT.
    invoice.number = numbering.next_number(session, today.year)
    session.add(invoice)
    session.flush()
    for position, line in enumerate(computed.lines, start=1):
        session.add(
            InvoiceLine(
                tenant_id=tenant_id,
                invoice_id=invoice.id,
                position=position,
                kind=line.kind,
                code=line.code,
                description=line.description[:200],
                quantity=line.quantity,
                unit_price=line.unit_price,
                amount=line.amount,
            )
        )
    audit.record(
        session,
        "billing.invoice_issue",
        tenant_id=tenant_id,
        actor_user_id=actor_id,
        actor_label=actor_label,
        details={
            "invoice_id": str(invoice.id),
            "number": invoice.number,
            "period": str(period),
            "subtotal": str(computed.subtotal),
            "vat": str(computed.vat),
            "total": str(computed.total),
            "one_offs_billed": billed_one_offs,
        },
    )
    session.commit()
    return Issued(invoice, created=True)


@dataclass(frozen=True)
class RunResult:
    tenant_id: uuid.UUID
    status: str  # issued | existing | nothing | error
    invoice_id: uuid.UUID | None = None
    number: str | None = None
    total: Decimal | None = None
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant_id": str(self.tenant_id),
            "status": self.status,
            "invoice_id": str(self.invoice_id) if self.invoice_id else None,
            "number": self.number,
            "total": str(self.total) if self.total is not None else None,
            "message": self.message,
        }


def issue_for_tenants(
    database: Database,
    tenant_ids: list[uuid.UUID],
    period: Period,
    *,
    today: date | None = None,
    actor_id: uuid.UUID | None = None,
    actor_label: str | None = None,
) -> list[RunResult]:
    """The monthly run: each tenant in its own transaction; idempotent (a second run answers
    ``existing``); one tenant's refusal is reported and the others go on."""
    results: list[RunResult] = []
    for tenant_id in tenant_ids:
        with database.sessionmaker() as session:
            try:
                issued = issue_invoice(
                    session,
                    tenant_id,
                    period,
                    today=today,
                    actor_id=actor_id,
                    actor_label=actor_label,
                )
            except NothingToBill as exc:
                results.append(RunResult(tenant_id, "nothing", message=exc.fields["period"]))
                continue
            except BillingError as exc:
                results.append(RunResult(tenant_id, "error", message=str(exc)))
                continue
            invoice = issued.invoice
            results.append(
                RunResult(
                    tenant_id,
                    "issued" if issued.created else "existing",
                    invoice.id,
                    invoice.number,
                    invoice.total,
                )
            )
    return results


# --- void --------------------------------------------------------------------------------------

VOIDABLE = ("open", "overdue")


def void_invoice(
    session: Session,
    invoice: Invoice,
    reason: str,
    *,
    actor_id: uuid.UUID | None = None,
    actor_label: str | None = None,
) -> Invoice:
    """Void an unpaid invoice (open or overdue, no succeeded payment) with a reason (1–200
    characters); its pending WeChat Pay orders are closed. Its number stays used (a void
    invoice is kept, never deleted). Flushes, does not commit."""
    reason = (reason or "").strip()
    if not reason:
        raise BillingError({"reason": "请填写作废原因"})
    if len(reason) > 200:
        raise BillingError({"reason": "作废原因不超过 200 个字符"})
    if invoice.status not in VOIDABLE:
        raise BillingError(
            {"status": f"只能作废未付款的账单（当前状态：{invoice.status}）"},
            status=409,
            code="conflict",
        )
    with tenant_context(invoice.tenant_id):
        if invoice not in session:
            session.add(invoice)  # loaded by another session: attach it
        session.refresh(invoice, with_for_update=True)  # no payment slips in meanwhile
        if invoice.status not in VOIDABLE:
            raise BillingError(
                {"status": f"只能作废未付款的账单（当前状态：{invoice.status}）"},
                status=409,
                code="conflict",
            )
        paid = session.scalar(
            select(func.coalesce(func.sum(Payment.amount), 0)).where(
                Payment.invoice_id == invoice.id, Payment.status == "succeeded"
            )
        )
        if Decimal(str(paid or 0)) > 0:
            raise BillingError(
                {"status": "账单已有到账付款，不能作废"}, status=409, code="conflict"
            )
        # Pending WeChat Pay orders die with the invoice; a payment that still arrives is
        # recorded (never lost) and shows on the void invoice as overpaid.
        session.execute(
            update(Payment)
            .where(Payment.invoice_id == invoice.id, Payment.status == "pending")
            .values(status="closed")
            .execution_options(synchronize_session=False)
        )
        previous = invoice.status
        invoice.status = "void"
        invoice.voided_at = utcnow()
        invoice.void_reason = reason
        audit.record(
            session,
            "billing.invoice_void",
            tenant_id=invoice.tenant_id,
            actor_user_id=actor_id,
            actor_label=actor_label,
            details={
                "invoice_id": str(invoice.id),
                "number": invoice.number,
                "previous_status": previous,
                "reason": reason,
            },
        )
        session.flush()
    return invoice


def lines_of(session: Session, invoice: Invoice) -> list[InvoiceLine]:
    with tenant_context(invoice.tenant_id):
        return list(
            session.scalars(
                select(InvoiceLine)
                .where(InvoiceLine.invoice_id == invoice.id)
                .order_by(InvoiceLine.position)
            )
        )
