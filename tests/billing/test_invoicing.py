"""Invoices: exact decimal arithmetic (properties and edge cases: 0.005 ties, 31/30/28/29-day
months, VAT on the total), monthly and annual invoices issued through the real service,
plan changes at the period boundary, idempotency, void, gap-free numbering under
concurrency and rollback, the PDF, and the CLI."""

from __future__ import annotations

import io
import itertools
import json
import re
import threading
import uuid
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from flask import Flask
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader
from sqlalchemy import func, select

from billing import invoicing, numbering, pdf, plans
from billing.invoicing import (
    AddonTerms,
    BillingCase,
    MonthUsage,
    PlanTerms,
    Term,
    compute_invoice,
)
from billing.money import NotMoney, prorate, rmb_uppercase, round_half_up, vat_of
from billing.periods import Period
from saas.db import get_database
from saas.models.billing import Invoice, InvoiceCounter, Subscription
from saas.models.identity import AuditEvent
from saas.models.tenancy import Site
from saas.tenancy import system_context, tenant_context
from tests.billing.conftest import (
    BillingTenant,
    backdate_sites,
    beijing,
    ingest,
    invoice_by_id,
    issue,
    issue_result,
    lines_of,
    passage,
    subscribe,
    subscription,
)
from tests.conftest import Backend, TenantFixture, make_tenant

CENT = Decimal("0.01")
STANDARD = PlanTerms(
    "standard", "标准版", Decimal("2400.00"), Decimal("350.00"), 2000, 100, Decimal("12")
)
CATALOGUE = {
    a.code: AddonTerms(a.code, a.name, a.unit, a.unit_price, a.recurring) for a in plans.ADDONS
}


def _case(period: Period, **over: Any) -> BillingCase:
    values: dict[str, Any] = {
        "period": period,
        "starts_on": date(2020, 1, 1),
        "plan": STANDARD,
        "cycle": "monthly",
        "addons": {},
        "catalogue": CATALOGUE,
        "usage": MonthUsage(site_since=(period.start,)),
    }
    values.update(over)
    return BillingCase(**values)


def _two_places(value: Decimal) -> bool:
    return isinstance(value, Decimal) and value.as_tuple().exponent == -2


# --- money ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("1234.56", "壹仟贰佰叁拾肆元伍角陆分"),
        ("100", "壹佰元整"),
        ("0", "零元整"),
        ("0.05", "伍分"),
        ("0.50", "伍角"),
        ("10", "壹拾元整"),
        ("1000.05", "壹仟元零伍分"),
        ("1005", "壹仟零伍元整"),
        ("1050.10", "壹仟零伍拾元壹角"),
        ("100005", "壹拾万零伍元整"),
        ("10010000", "壹仟零壹万元整"),
        ("100000005", "壹亿零伍元整"),
        ("30782.40", "叁万零柒佰捌拾贰元肆角"),
        ("1010101.01", "壹佰零壹万零壹佰零壹元零壹分"),
        ("-12.30", "负壹拾贰元叁角"),
    ],
)
def test_rmb_uppercase(amount: str, words: str) -> None:
    assert rmb_uppercase(Decimal(amount)) == words


def test_rounding_is_half_up_at_the_cent() -> None:
    assert round_half_up(Decimal("0.005")) == Decimal("0.01")
    assert round_half_up(Decimal("-0.005")) == Decimal("-0.01")
    assert round_half_up(Decimal("2.675")) == Decimal("2.68")  # float rounding gives 2.67
    assert round_half_up(Decimal("1.0049999")) == Decimal("1.00")
    # A proration that lands exactly on half a cent: 0.15 × 1/30 = 0.005; 1000.05 / 30 = 33.335
    assert prorate(Decimal("0.15"), 1, 30) == Decimal("0.01")
    assert prorate(Decimal("1000.05"), 1, 30) == Decimal("33.34")
    # VAT ties: 0.25 × 6 % = 0.015, 8.25 × 6 % = 0.495, 1234.75 × 6 % = 74.085
    assert vat_of(Decimal("0.25")) == Decimal("0.02")
    assert vat_of(Decimal("8.25")) == Decimal("0.50")
    assert vat_of(Decimal("1234.75")) == Decimal("74.09")
    with pytest.raises(NotMoney):
        round_half_up(0.1)  # type: ignore[arg-type]
    with pytest.raises(NotMoney):
        vat_of(Decimal("1"), 0.06)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("period", "since", "expected"),
    [
        ("2026-01", date(2026, 1, 16), Decimal("1238.71")),  # 31 days: 2400 × 16/31
        ("2026-04", date(2026, 4, 16), Decimal("1200.00")),  # 30 days: 2400 × 15/30
        ("2026-02", date(2026, 2, 16), Decimal("1114.29")),  # 28 days: 2400 × 13/28
        ("2028-02", date(2028, 2, 16), Decimal("1158.62")),  # 29 days: 2400 × 14/29
    ],
)
def test_a_site_added_mid_month_in_31_30_28_and_29_day_months(
    period: str, since: date, expected: Decimal
) -> None:
    month = Period.parse(period)
    computed = compute_invoice(_case(month, usage=MonthUsage(site_since=(month.start, since))))
    full, prorated = computed.lines
    assert (full.kind, full.amount) == ("site", Decimal("2400.00"))
    assert (prorated.kind, prorated.code, prorated.amount) == ("proration", "site", expected)
    assert f"本月 {month.days} 天" in prorated.description
    assert computed.subtotal == Decimal("2400.00") + expected
    assert computed.vat == (computed.subtotal * Decimal("0.06")).quantize(CENT, ROUND_HALF_UP)


def test_vat_is_computed_once_on_the_subtotal_not_per_line() -> None:
    tiny = PlanTerms("t", "测试", Decimal("0.25"), Decimal("0.25"))
    month = Period(2026, 4)
    computed = compute_invoice(
        _case(month, plan=tiny, usage=MonthUsage((month.start,), (month.start,)), catalogue={})
    )
    assert [line.amount for line in computed.lines] == [Decimal("0.25"), Decimal("0.25")]
    assert computed.subtotal == Decimal("0.50")
    assert computed.vat == Decimal("0.03")  # per line it would be 0.02 + 0.02
    assert computed.total == Decimal("0.53")


def test_mid_month_start_prorates_the_first_month_and_overage_is_per_started_unit() -> None:
    month = Period(2026, 3)
    computed = compute_invoice(
        _case(
            month,
            starts_on=date(2026, 3, 17),  # 15 of 31 days
            addons={"sms_bundle": 2, "storage": 10, "expert_service": 1},
            usage=MonthUsage(
                site_since=(date(2025, 1, 1),),
                lane_since=(month.start, date(2026, 3, 25)),
                sms=4001,  # 2000 included + 2 × 1000 bundles → 1 over → one started bundle
                storage_gb=Decimal("110.001"),  # 100 + 10 included → 0.001 over → 1 GB
            ),
        )
    )
    by_code = {(line.kind, line.code): line for line in computed.lines}
    assert by_code[("proration", "site")].amount == Decimal("1161.29")  # 2400 × 15/31
    assert by_code[("proration", "lane")].amount == Decimal("248.39")  # 350 × (15+7)/31
    assert by_code[("proration", "addon:sms_bundle")].amount == Decimal("48.39")  # 100 × 15/31
    assert by_code[("proration", "addon:storage")].amount == Decimal("4.84")  # 10 × 15/31
    assert by_code[("addon", "addon:expert_service")].amount == Decimal("3000.00")  # one-off
    assert by_code[("usage", "usage:sms")].quantity == 1
    assert by_code[("usage", "usage:sms")].amount == Decimal("50.00")
    assert by_code[("usage", "usage:storage")].amount == Decimal("1.00")
    assert computed.period_start == date(2026, 3, 17)
    assert computed.subtotal == sum(line.amount for line in computed.lines)


def test_annual_term_prepays_twelve_months_less_the_discount() -> None:
    month = Period(2026, 3)
    term = Term(date(2026, 3, 15), date(2027, 3, 14), new=True)
    computed = compute_invoice(
        _case(
            month,
            starts_on=date(2026, 3, 15),
            cycle="annual",
            term=term,
            addons={"sms_bundle": 1},
            usage=MonthUsage((date(2026, 3, 15),), (date(2026, 3, 20),)),
        )
    )
    assert [(line.kind, line.amount) for line in computed.lines] == [
        ("site", Decimal("28800.00")),
        ("lane", Decimal("4200.00")),
        ("discount", Decimal("-3960.00")),  # 12 % of 33 000
        ("addon", Decimal("600.00")),
    ]
    assert (computed.period_start, computed.period_end) == (date(2026, 3, 15), date(2027, 3, 14))
    assert computed.subtotal == Decimal("29640.00")
    assert computed.vat == Decimal("1778.40")
    assert computed.total == Decimal("31418.40")
    # The discount is rounded half up once: 12.5 % of 1 234.52 = 154.315 → 154.32
    odd = PlanTerms("odd", "奇数", Decimal("102.71"), Decimal("0.16"), 0, 0, Decimal("12.5"))
    computed = compute_invoice(
        _case(month, plan=odd, cycle="annual", term=term, usage=MonthUsage((month.start,), ()))
    )
    assert computed.lines[0].amount == Decimal("1232.52")
    assert computed.lines[1].amount == Decimal("-154.07")  # 1232.52 × 12.5 % = 154.065


def test_inside_an_annual_term_only_what_exceeds_the_prepay_is_billed() -> None:
    month = Period(2026, 5)
    term = Term(date(2026, 3, 15), date(2027, 3, 14), new=False, prepaid={"site": 1, "lane": 1})
    nothing = compute_invoice(
        _case(month, cycle="annual", term=term, usage=MonthUsage((month.start,), (month.start,)))
    )
    assert nothing.lines == ()
    assert nothing.total == Decimal("0.00")
    more = compute_invoice(
        _case(
            month,
            cycle="annual",
            term=term,
            usage=MonthUsage((month.start, date(2026, 5, 11)), (month.start,), sms=2500),
        )
    )
    assert [(line.kind, line.code, line.amount) for line in more.lines] == [
        ("proration", "site", Decimal("1625.81")),  # the second site, 2400 × 21/31
        ("usage", "usage:sms", Decimal("50.00")),
    ]
    assert "超出年付数量" in more.lines[0].description


# --- properties -------------------------------------------------------------------------------

MONTHS = [Period(2026, 1), Period(2026, 2), Period(2026, 4), Period(2028, 2), Period(2027, 12)]
cents = st.integers(min_value=0, max_value=5_000_000).map(lambda c: Decimal(c) / 100)


@st.composite
def cases(draw: st.DrawFn) -> BillingCase:
    month = draw(st.sampled_from(MONTHS))
    day = st.integers(min_value=1, max_value=month.days).map(
        lambda d: date(month.year, month.month, d)
    )
    plan = PlanTerms(
        "p",
        "套餐",
        draw(cents),
        draw(cents),
        draw(st.integers(0, 5000)),
        draw(st.integers(0, 500)),
        Decimal(draw(st.integers(0, 3000))) / 100,
    )
    cycle = draw(st.sampled_from(["monthly", "annual"]))
    term = None
    if cycle == "annual":
        new = draw(st.booleans())
        start = draw(day)
        term = Term(
            start,
            start + timedelta(days=364),
            new=new,
            prepaid={"site": draw(st.integers(0, 3)), "lane": draw(st.integers(0, 3))},
        )
    return _case(
        month,
        plan=plan,
        cycle=cycle,
        term=term,
        starts_on=draw(st.one_of(st.just(date(2020, 1, 1)), day)),
        addons=draw(
            st.dictionaries(st.sampled_from(sorted(CATALOGUE)), st.integers(0, 50), max_size=3)
        ),
        usage=MonthUsage(
            site_since=tuple(draw(st.lists(day, max_size=6))),
            lane_since=tuple(draw(st.lists(day, max_size=12))),
            sms=draw(st.integers(0, 100_000)),
            storage_gb=Decimal(draw(st.integers(0, 2_000_000))) / 1000,
        ),
    )


@settings(max_examples=300, deadline=None)
@given(cases())
def test_invoice_totals_are_exact(case: BillingCase) -> None:
    computed = compute_invoice(case)
    assert computed.total == computed.subtotal + computed.vat
    assert computed.vat == (computed.subtotal * Decimal("0.06")).quantize(CENT, ROUND_HALF_UP)
    assert computed.subtotal == sum((line.amount for line in computed.lines), Decimal("0"))
    for value in (computed.subtotal, computed.vat, computed.total):
        assert _two_places(value)
    for line in computed.lines:
        assert _two_places(line.amount), line
        assert isinstance(line.quantity, Decimal)
        assert isinstance(line.unit_price, Decimal)
    assert computed.subtotal >= 0


@settings(max_examples=300, deadline=None)
@given(cents, st.sampled_from([28, 29, 30, 31]))
def test_proration_of_a_full_month_is_the_full_fee(fee: Decimal, days: int) -> None:
    assert prorate(fee, days, days) == fee.quantize(CENT)


@settings(max_examples=300, deadline=None)
@given(cents, st.sampled_from([28, 29, 30, 31]), st.data())
def test_prorated_parts_of_a_month_add_up_to_the_fee_within_a_cent_each(
    fee: Decimal, days: int, data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.sets(st.integers(1, days - 1), max_size=days - 1)))
    bounds = [0, *cuts, days]
    parts = [b - a for a, b in itertools.pairwise(bounds)]
    total = sum(prorate(fee, part, days) for part in parts)
    assert total - fee <= CENT * len(parts)
    assert fee - total <= CENT * len(parts)
    assert all(_two_places(prorate(fee, part, days)) for part in parts)


# --- issuing through the service ----------------------------------------------------------------


def _audit(app: Flask, tenant_id: uuid.UUID, event: str) -> list[AuditEvent]:
    with tenant_context(tenant_id), get_database(app).sessionmaker() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.event == event, AuditEvent.tenant_id == tenant_id)
                .order_by(AuditEvent.id)
            )
        )


def _counter(app: Flask, year: int) -> int:
    with get_database(app).sessionmaker() as session:
        return numbering.last_number(session, year)


def _set_addons(app: Flask, tenant_id: uuid.UUID, quantities: dict[str, int]) -> None:
    with get_database(app).sessionmaker() as session:
        sub = plans.subscription_of(session, tenant_id)
        assert sub is not None
        plans.set_addons(session, sub, quantities, actor_label="test")
        session.commit()


def test_monthly_invoice_from_metered_usage(app: Flask, billing_tenant: BillingTenant) -> None:
    tenant = billing_tenant.tenant
    ingest(
        app,
        tenant,
        [
            passage(beijing(2026, 2, 27), lane="01"),  # lane 01 carried traffic in February
            passage(beijing(2026, 3, 2), lane="01"),
            passage(beijing(2026, 3, 10), lane="02"),  # lane 02 is new on 10 March: 22 days
            passage(beijing(2026, 3, 31, 23, 59), lane="02"),
            passage(beijing(2026, 4, 1, 0, 1), lane="03"),  # April in Beijing: not March
        ],
    )
    _set_addons(app, tenant.tenant_id, {"sms_bundle": 1, "expert_service": 2})
    issued = issue_result(app, tenant.tenant_id, "2026-03", today=date(2026, 4, 1))
    assert issued.created
    invoice = issued.invoice
    assert re.fullmatch(r"CG2026-\d{6}", invoice.number)
    assert (invoice.period_start, invoice.period_end) == (date(2026, 3, 1), date(2026, 3, 31))
    assert (invoice.issued_on, invoice.due_on) == (date(2026, 4, 1), date(2026, 4, 16))
    assert invoice.status == "open"
    lines = lines_of(app, invoice)
    assert [(line.position, line.kind, line.code, line.amount) for line in lines] == [
        (1, "site", "site", Decimal("2400.00")),
        (2, "lane", "lane", Decimal("350.00")),
        (3, "proration", "lane", Decimal("248.39")),  # 350 × 22/31 = 248.387…
        (4, "addon", "addon:sms_bundle", Decimal("50.00")),
        (5, "addon", "addon:expert_service", Decimal("6000.00")),
    ]  # fmt: skip
    assert invoice.subtotal == Decimal("9048.39")
    assert invoice.vat_rate == Decimal("0.06")
    assert invoice.vat_amount == Decimal("542.90")  # 542.9034
    assert invoice.total == Decimal("9591.29")
    assert invoice.buyer["tax_no"] == "91350100M000100Y43"
    assert invoice.buyer["account"] == "0403011209024567890"
    # The one-off is billed once; the recurring bundle stays.
    assert subscription(app, tenant.tenant_id).addons == {"sms_bundle": 1}
    [event] = _audit(app, tenant.tenant_id, "billing.invoice_issue")
    assert event.details["number"] == invoice.number
    assert event.details["total"] == "9591.29"
    # A buyer change later does not touch the issued invoice's snapshot.
    with get_database(app).sessionmaker() as session:
        sub = plans.subscription_of(session, tenant.tenant_id)
        assert sub is not None
        plans.update_buyer(session, sub, {**_buyer(), "buyer_name": "新名称有限公司"})
        session.commit()
    again = issue_result(app, tenant.tenant_id, "2026-03", today=date(2026, 4, 2))
    assert not again.created
    assert again.invoice.id == invoice.id
    assert again.invoice.buyer["name"] == "唐山市某某焦化有限公司"


def _buyer() -> dict[str, str]:
    from tests.billing.conftest import BUYER

    return dict(BUYER)


def test_issuing_twice_returns_the_first_invoice_and_uses_no_number(
    app: Flask, billing_tenant: BillingTenant
) -> None:
    first = issue(app, billing_tenant.tenant_id, "2026-05", today=date(2026, 6, 1))
    used = _counter(app, 2026)
    second = issue_result(app, billing_tenant.tenant_id, "2026-05", today=date(2026, 6, 3))
    assert not second.created
    assert second.invoice.id == first.id
    assert second.invoice.number == first.number
    assert _counter(app, 2026) == used
    with tenant_context(billing_tenant.tenant_id), get_database(app).sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Invoice)) == 1


def test_mid_month_subscription_bills_the_first_month_by_days(
    app: Flask, tenant_b: TenantFixture
) -> None:
    backdate_sites(app, tenant_b)
    subscribe(app, tenant_b, plan="basic", starts_on=date(2026, 6, 11), addons={"storage": 30})
    invoice = issue(app, tenant_b.tenant_id, "2026-06")
    assert invoice.period_start == date(2026, 6, 11)
    assert [(line.kind, line.code, line.amount) for line in lines_of(app, invoice)] == [
        ("proration", "site", Decimal("800.00")),  # 1200 × 20/30
        ("proration", "addon:storage", Decimal("20.00")),  # 30 × 20/30
    ]
    assert invoice.total == Decimal("869.20")  # 820.00 + 49.20
    with pytest.raises(invoicing.NothingToBill):
        issue(app, tenant_b.tenant_id, "2026-05")  # before the subscription started


def test_plan_change_takes_effect_at_the_period_boundary(
    app: Flask, billing_tenant: BillingTenant
) -> None:
    tenant_id = billing_tenant.tenant_id
    with get_database(app).sessionmaker() as session:
        sub = plans.subscription_of(session, tenant_id)
        assert sub is not None
        plans.change_plan(
            session, sub, plan_code="flagship", cycle="monthly", today=date(2026, 1, 31)
        )
        session.commit()
        assert (sub.pending_from, sub.cycle) == (date(2026, 2, 1), "monthly")
    # A second change while the first is in force but not yet billed is refused…
    with get_database(app).sessionmaker() as session:
        sub = plans.subscription_of(session, tenant_id)
        assert sub is not None
        with pytest.raises(plans.BillingError) as refused:
            plans.change_plan(
                session, sub, plan_code="basic", cycle="monthly", today=date(2026, 2, 1)
            )
        assert refused.value.status == 409
        assert "2026-01" in refused.value.fields["plan"]
    january = issue(app, tenant_id, "2026-01", today=date(2026, 2, 1))
    assert [line.amount for line in lines_of(app, january)] == [Decimal("2400.00")]  # 标准版
    sub = subscription(app, tenant_id)
    assert sub.pending_from is None
    with get_database(app).sessionmaker() as session:
        flagship = plans.plan_by_code(session, "flagship")
    assert sub.plan_id == flagship.id
    february = issue(app, tenant_id, "2026-02", today=date(2026, 3, 1))
    assert [line.amount for line in lines_of(app, february)] == [Decimal("4800.00")]  # 旗舰版
    # …and once billed, the next change is recorded for the next month's 1st.
    with get_database(app).sessionmaker() as session:
        sub = plans.subscription_of(session, tenant_id)
        assert sub is not None
        plans.change_plan(session, sub, plan_code="basic", cycle="monthly", today=date(2026, 3, 1))
        session.commit()
        assert sub.pending_from == date(2026, 4, 1)
        # Asking for what is in force cancels the pending change.
        plans.change_plan(
            session, sub, plan_code="flagship", cycle="monthly", today=date(2026, 3, 2)
        )
        session.commit()
        assert sub.pending_from is None
    events = [e.event for e in _audit(app, tenant_id, "billing.plan_change")]
    assert len(events) == 2
    assert len(_audit(app, tenant_id, "billing.plan_change_applied")) == 1
    assert len(_audit(app, tenant_id, "billing.plan_change_cancel")) == 1


def test_annual_cycle_one_invoice_for_twelve_months_then_only_overage(
    app: Flask, tenant_b: TenantFixture
) -> None:
    backdate_sites(app, tenant_b)
    subscribe(app, tenant_b, cycle="annual", starts_on=date(2026, 3, 15))
    ingest(app, tenant_b, [passage(beijing(2026, 3, 20)), passage(beijing(2026, 4, 2))])
    march = issue(app, tenant_b.tenant_id, "2026-03")
    assert (march.period_start, march.period_end) == (date(2026, 3, 15), date(2027, 3, 14))
    assert [(line.kind, line.amount) for line in lines_of(app, march)] == [
        ("site", Decimal("28800.00")),
        ("lane", Decimal("4200.00")),
        ("discount", Decimal("-3960.00")),
    ]
    assert (march.subtotal, march.vat_amount, march.total) == (
        Decimal("29040.00"),
        Decimal("1742.40"),
        Decimal("30782.40"),
    )
    assert subscription(app, tenant_b.tenant_id).paid_through == date(2027, 3, 14)
    used = _counter(app, 2026)
    with pytest.raises(invoicing.NothingToBill):
        issue(app, tenant_b.tenant_id, "2026-04")
    assert _counter(app, 2026) == used  # no number taken for nothing
    # A second site from 11 May is billed monthly, pro rata, at the monthly fee.
    with tenant_context(tenant_b.tenant_id), get_database(app).sessionmaker() as session:
        first = session.get(Site, tenant_b.site_id)
        assert first is not None
        session.add(
            Site(
                name="二号厂区",
                uscc=first.uscc,
                region_code=first.region_code,
                industry=first.industry,
                rating=first.rating,
                created_at=beijing(2026, 5, 11, 9),
            )
        )
        session.commit()
    ingest(app, tenant_b, [passage(beijing(2026, 5, 3))])
    may = issue(app, tenant_b.tenant_id, "2026-05")
    assert [(line.kind, line.code, line.amount) for line in lines_of(app, may)] == [
        ("proration", "site", Decimal("1625.81"))
    ]
    # A void term invoice prepaid nothing: the next month bills every unit monthly.
    with get_database(app).sessionmaker() as session:
        invoicing.void_invoice(session, march, "开错了", actor_label="test")
        session.commit()
    june = issue(app, tenant_b.tenant_id, "2026-06")
    assert [(line.kind, line.amount) for line in lines_of(app, june)] == [
        ("site", Decimal("4800.00"))
    ]


def test_switching_to_annual_starts_the_term_at_the_next_month(
    app: Flask, billing_tenant: BillingTenant
) -> None:
    tenant_id = billing_tenant.tenant_id
    with get_database(app).sessionmaker() as session:
        sub = plans.subscription_of(session, tenant_id)
        assert sub is not None
        plans.change_plan(session, sub, plan_code="basic", cycle="annual", today=date(2026, 1, 20))
        session.commit()
    january = issue(app, tenant_id, "2026-01")
    assert [line.amount for line in lines_of(app, january)] == [Decimal("2400.00")]
    sub = subscription(app, tenant_id)
    assert (sub.cycle, sub.paid_through) == ("annual", date(2026, 1, 31))
    february = issue(app, tenant_id, "2026-02")
    assert (february.period_start, february.period_end) == (date(2026, 2, 1), date(2027, 1, 31))
    assert [line.amount for line in lines_of(app, february)] == [
        Decimal("14400.00"),  # 1200 × 12
        Decimal("-1440.00"),  # 10 %
    ]


def test_refusals_name_the_field_and_write_nothing(
    app: Flask, billing_tenant: BillingTenant, tenant_b: TenantFixture
) -> None:
    with pytest.raises(plans.BillingError) as missing:
        issue(app, tenant_b.tenant_id, "2026-03")
    assert missing.value.status == 404
    issue(app, billing_tenant.tenant_id, "2026-04")
    with pytest.raises(plans.BillingError) as earlier:
        issue(app, billing_tenant.tenant_id, "2026-03")
    assert earlier.value.status == 409
    assert "period" in earlier.value.fields
    with pytest.raises(plans.BillingError) as unfinished:
        issue(app, billing_tenant.tenant_id, "2026-05", today=date(2026, 5, 31))
    assert "period" in unfinished.value.fields
    with tenant_context(billing_tenant.tenant_id), get_database(app).sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Invoice)) == 1
    # Subscribing with bad input names every field.
    with get_database(app).sessionmaker() as session:
        with pytest.raises(plans.BillingError) as bad:
            plans.subscribe(
                session,
                tenant_b.tenant_id,
                plan_code="gold",
                cycle="weekly",
                addon_quantities={"sms_bundle": -1, "caviar": 1, "storage": "2.5"},
                buyer={
                    "buyer_name": "",
                    "buyer_tax_no": "91350100M000100Y44",  # wrong check character
                    "buyer_account": "12ab",
                    "buyer_phone": "call me",
                    "billing_email": "nope",
                },
                starts_on=date(2026, 1, 1),
            )
        session.rollback()
    assert set(bad.value.fields) == {
        "plan",
        "cycle",
        "addons.sms_bundle",
        "addons.caviar",
        "addons.storage",
        "buyer_name",
        "buyer_tax_no",
        "buyer_account",
        "buyer_phone",
        "billing_email",
    }
    assert "校验位" in bad.value.fields["buyer_tax_no"]
    with tenant_context(tenant_b.tenant_id), get_database(app).sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Subscription)) == 0


@pytest.mark.parametrize(
    ("tax_no", "ok"),
    [
        ("91350100M000100Y43", True),
        ("91350100m000100y43", True),  # typed in lower case
        ("130202123456789", True),  # 15: region + organisation code
        ("13020219800101123456", True),  # 20: ID number + 2 digits
        ("13020219800101X12", False),
        ("1302021980010112345", False),  # 19 characters
        ("9135010", False),
    ],
)
def test_tax_number_formats(tax_no: str, ok: bool) -> None:
    assert (plans.validate_tax_no(tax_no) is None) is ok


def test_void_an_open_invoice_with_a_reason(app: Flask, billing_tenant: BillingTenant) -> None:
    invoice = issue(app, billing_tenant.tenant_id, "2026-07")
    with get_database(app).sessionmaker() as session:
        with pytest.raises(plans.BillingError) as empty:
            invoicing.void_invoice(session, invoice, "  ")
        assert "reason" in empty.value.fields
        invoicing.void_invoice(session, invoice, "客户退订，重复开具", actor_label="test")
        session.commit()
    stored = invoice_by_id(app, billing_tenant.tenant_id, invoice.id)
    assert (stored.status, stored.void_reason) == ("void", "客户退订，重复开具")
    assert stored.voided_at is not None
    with get_database(app).sessionmaker() as session:
        with pytest.raises(plans.BillingError) as again:
            invoicing.void_invoice(session, stored, "再次作废")
        assert again.value.status == 409
    [event] = _audit(app, billing_tenant.tenant_id, "billing.invoice_void")
    assert event.details["reason"] == "客户退订，重复开具"
    # The month stays billed by the void invoice (its number is kept, never reused).
    assert issue(app, billing_tenant.tenant_id, "2026-07").id == invoice.id


# --- numbering ----------------------------------------------------------------------------------


def _unique_year() -> int:
    return 2100 + uuid.uuid4().int % 700


def test_a_rolled_back_issue_leaves_no_gap(app: Flask) -> None:
    year = _unique_year()
    database = get_database(app)
    with database.sessionmaker() as session:
        assert numbering.next_number(session, year) == f"CG{year}-000001"
        session.rollback()
    with database.sessionmaker() as session:
        assert numbering.next_number(session, year) == f"CG{year}-000001"
        session.commit()
    with database.sessionmaker() as session:
        assert numbering.next_number(session, year) == f"CG{year}-000002"
        session.rollback()
    with database.sessionmaker() as session:
        assert numbering.next_number(session, year) == f"CG{year}-000002"
        session.commit()


def test_an_issue_that_loses_the_race_gives_its_number_back(
    backend: Backend, tenant_a: TenantFixture
) -> None:
    """PostgreSQL: an issuer takes a number, then its invoice insert collides with another
    transaction's invoice of the same month; it rolls back (number and all) and answers
    with the invoice that won. The counter shows no gap."""
    if backend.name != "postgresql":
        pytest.skip("SQLite serialises whole transactions; test_a_rolled_back_issue… covers it")
    app = backend.app
    backdate_sites(app, tenant_a)
    subscribe(app, tenant_a)
    year = _unique_year()
    database = get_database(app)
    holder = database.sessionmaker()
    with tenant_context(tenant_a.tenant_id):
        winner = Invoice(
            number=f"HOLD{uuid.uuid4().hex[:8]}",
            period_start=date(2026, 8, 1),
            period_end=date(2026, 8, 31),
            issued_on=date(year, 1, 1),
            due_on=date(year, 1, 16),
            subtotal=Decimal("1.00"),
            vat_amount=Decimal("0.06"),
            total=Decimal("1.06"),
            buyer={},
        )
        holder.add(winner)
        holder.flush()  # the month's unique key is taken, not yet committed
    outcome: list[invoicing.Issued] = []
    failures: list[BaseException] = []

    def loser() -> None:
        try:
            outcome.append(issue_result(app, tenant_a.tenant_id, "2026-08", today=date(year, 1, 2)))
        except BaseException as exc:  # reported below
            failures.append(exc)

    thread = threading.Thread(target=loser)
    thread.start()
    thread.join(1.0)
    assert thread.is_alive(), "the loser should wait on the month's unique key"
    with database.sessionmaker() as session:
        assert numbering.last_number(session, year) == 0  # its number is not committed
    holder.commit()
    holder.close()
    thread.join(30)
    assert not failures
    [issued] = outcome
    assert not issued.created
    assert issued.invoice.id == winner.id
    assert _counter(app, year) == 0  # the loser's number went back with its rollback
    with database.sessionmaker() as session:
        assert numbering.next_number(session, year) == f"CG{year}-000001"
        session.rollback()


def test_concurrent_issuers_get_consecutive_numbers(backend: Backend) -> None:
    """PostgreSQL: the second issuer waits on the counter row and takes the next number;
    when the first rolls back, the second takes the first's number — no gap either way."""
    if backend.name != "postgresql":
        pytest.skip("the row lock under concurrency is a PostgreSQL matter")
    app = backend.app
    year = _unique_year()
    database = get_database(app)
    holder = database.sessionmaker()
    first = numbering.next_number(holder, year)  # holds the row lock until commit/rollback
    assert first == f"CG{year}-000001"
    got: list[str] = []
    started = threading.Event()

    def second_issuer() -> None:
        with database.sessionmaker() as session:
            started.set()
            got.append(numbering.next_number(session, year))
            session.commit()

    waiter = threading.Thread(target=second_issuer)
    waiter.start()
    assert started.wait(5)
    waiter.join(0.5)
    assert waiter.is_alive(), "the second issuer should wait for the first one's transaction"
    holder.rollback()  # the first issue fails: its number is free again
    holder.close()
    waiter.join(10)
    assert got == [f"CG{year}-000001"]

    # A real issue while another transaction holds the counter: it waits, then takes the
    # next number — never the held one.
    tenants = [make_tenant(app, "n1"), make_tenant(app, "n2"), make_tenant(app, "n3")]
    for tenant in tenants:
        backdate_sites(app, tenant)
        subscribe(app, tenant)
    numbers: list[str] = []
    errors: list[BaseException] = []

    def issuer(tenant: TenantFixture, barrier: threading.Barrier | None = None) -> None:
        try:
            if barrier is not None:
                barrier.wait(5)
            numbers.append(issue(app, tenant.tenant_id, "2026-09", today=date(year, 1, 2)).number)
        except BaseException as exc:  # reported below
            errors.append(exc)

    holder = database.sessionmaker()
    assert numbering.next_number(holder, year) == f"CG{year}-000002"
    waiter = threading.Thread(target=issuer, args=(tenants[0],))
    waiter.start()
    waiter.join(1.0)
    assert waiter.is_alive(), "the issuer should wait for the transaction holding the counter"
    holder.commit()
    holder.close()
    waiter.join(30)
    assert not errors
    assert numbers == [f"CG{year}-000003"]

    # Two real issues at once: consecutive numbers, both committed.
    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=issuer, args=(t, barrier)) for t in tenants[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors
    assert sorted(numbers[1:]) == [f"CG{year}-000004", f"CG{year}-000005"]
    with database.sessionmaker() as session:
        assert session.get(InvoiceCounter, year).last == 5  # type: ignore[union-attr]


# --- PDF and CLI --------------------------------------------------------------------------------


def test_invoice_pdf_has_buyer_seller_vat_and_uppercase_total(
    app: Flask, billing_tenant: BillingTenant
) -> None:
    with get_database(app).sessionmaker() as session:
        sub = plans.subscription_of(session, billing_tenant.tenant_id)
        assert sub is not None
        plans.update_buyer(session, sub, {**_buyer(), "buyer_name": "<b>唐山</b>焦化&有限公司"})
        session.commit()
    invoice = issue(app, billing_tenant.tenant_id, "2026-02")
    settings_ = app.config["CLEANGATE_SETTINGS"]
    from dataclasses import replace

    seller_settings = replace(
        settings_,
        billing=replace(
            settings_.billing,
            seller_name="某某环保科技有限公司",
            seller_tax_no="91110108MA00000000",
        ),
    )
    with get_database(app).sessionmaker() as session:
        data = pdf.invoice_pdf(session, invoice, seller_settings)
    assert data.startswith(b"%PDF")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    compact = re.sub(r"\s+", "", text)
    for expected in (
        invoice.number,
        "<b>唐山</b>焦化&有限公司",
        "91350100M000100Y43",
        "中国工商银行唐山丰南支行",
        "0403011209024567890",
        "某某环保科技有限公司",
        "91110108MA00000000",
        "纳税人识别号",
        "开户行及账号",
        "不含税金额",
        "税率6%",
        "2,400.00",  # 标准版, one site, February
        "144.00",
        "¥2,544.00",
        "价税合计（大写）贰仟伍佰肆拾肆元整",
        "不是增值税发票",
    ):
        assert expected in compact, expected


def test_cli_seed_and_invoice_are_idempotent(backend: Backend) -> None:
    app = backend.app
    runner = app.test_cli_runner()
    seeded = runner.invoke(args=["billing", "seed"])
    assert seeded.exit_code == 0, seeded.output
    again = json.loads(runner.invoke(args=["billing", "seed"]).output)
    assert again["created"] == []
    assert {"basic", "standard", "flagship", "sms_bundle", "storage", "expert_service"} <= set(
        again["existing"]
    )
    tenant = make_tenant(app, "cli")
    backdate_sites(app, tenant)
    subscribe(app, tenant)
    args = ["billing", "invoice", "--period", "2026-09", "--issued-on", "2026-10-08"]
    first = runner.invoke(args=args)
    mine = [json.loads(x) for x in first.output.splitlines() if str(tenant.tenant_id) in x]
    assert [(r["status"], r["total"]) for r in mine] == [("issued", "2544.00")]
    second = runner.invoke(args=args)
    mine_again = [json.loads(x) for x in second.output.splitlines() if str(tenant.tenant_id) in x]
    assert [(r["status"], r["number"]) for r in mine_again] == [("existing", mine[0]["number"])]
    bad = runner.invoke(args=["billing", "invoice", "--period", "2026-13"])
    assert bad.exit_code != 0
    assert "period" in bad.output
    with system_context("test: the invoice the CLI wrote"):
        with get_database(app).sessionmaker() as session:
            stored = session.scalar(select(Invoice).where(Invoice.tenant_id == tenant.tenant_id))
    assert stored is not None
    assert stored.due_on == date(2026, 10, 23)
