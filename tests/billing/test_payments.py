"""Bank transfers recorded by provider billing staff, reconciliation and the invoice state
machine (open, paid, overdue, void): exact decimals, partial and over-payment, duplicate bank
references, audited transitions, the console screens and who may use them."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from flask import Flask

from billing import invoicing, payments
from billing.payments import BankTransfer, china_today
from billing.plans import BillingError
from saas.db import get_database
from saas.errors import ApiError
from saas.models.billing import Invoice
from saas.models.identity import Role
from saas.models.tenancy import Tenant
from saas.tenancy import system_context, tenant_context
from tests.billing.payment_helpers import (
    audit_events,
    count_payments,
    form_post,
    invoice_of,
    logged_in,
    make_invoice,
    payments_of,
)
from tests.conftest import TenantFixture, make_user

TODAY = china_today()


def _transfer(amount: str, reference: str | None = None) -> dict[str, str]:
    return {
        "amount": amount,
        "payer_name": "唐山某某焦化有限公司",
        "bank_reference": reference or f"HX{uuid.uuid4().hex[:16]}",
        "received_on": TODAY.isoformat(),
        "note": "",
    }


def _page(invoice_id: uuid.UUID) -> str:
    return f"/console/billing/payments/invoices/{invoice_id}"


# --- pure parsing and money ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("amount", "", "请填写金额"),
        ("amount", "0", "大于 0"),
        ("amount", "-5", "大于 0"),
        ("amount", "1.005", "两位小数"),
        ("amount", "abc", "格式无效"),
        ("amount", "NaN", "格式无效"),
        ("amount", "1e400", "格式无效"),
        ("amount", "10000000000", "过大"),
        ("payer_name", "", "付款方"),
        ("payer_name", "x" * 201, "200"),
        ("bank_reference", "", "流水号"),
        ("bank_reference", "ab c", "流水号"),
        ("received_on", "2026-13-01", "YYYY-MM-DD"),
        ("received_on", (TODAY + timedelta(days=1)).isoformat(), "晚于今天"),
        ("note", "x" * 301, "300"),
    ],
)
def test_a_bad_field_is_named(field: str, value: str, fragment: str) -> None:
    form = {**_transfer("100.00"), field: value}
    with pytest.raises(ApiError) as caught:
        payments.parse_bank_transfer(form, today=TODAY)
    assert caught.value.status == 422
    fields = caught.value.details["fields"]
    assert list(fields) == [field]
    assert fragment in fields[field]


def test_amounts_stay_exact_decimals() -> None:
    transfer = payments.parse_bank_transfer(_transfer("1,234.5"), today=TODAY)
    assert transfer.amount == Decimal("1234.50")
    assert isinstance(transfer.amount, Decimal)
    assert str(transfer.amount) == "1234.50"
    assert payments.to_fen(Decimal("0.01")) == 1
    assert payments.to_fen(Decimal("1060.10")) == 106010
    assert payments.to_fen(Decimal("19.99")) == 1999  # float(19.99) * 100 is 1998.999…
    with pytest.raises(ValueError, match="more than two decimals"):
        payments.to_fen(Decimal("0.001"))
    state = payments.Balance(total=Decimal("100.00"), paid=Decimal("100.01"))
    assert (state.due, state.overpaid) == (Decimal("0.00"), Decimal("0.01"))
    assert payments.yuan(Decimal("1234.5")) == "¥1,234.50"


# --- reconciliation and the state machine -------------------------------------------------------


def _record(
    app: Flask, tenant: TenantFixture, invoice_id: uuid.UUID, amount: str, reference: str
) -> str:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        payments.record_bank_transfer(
            session,
            invoice,
            BankTransfer(Decimal(amount), "付款方", reference, TODAY),
            actor_user_id=None,
            actor_label="test",
        )
        return invoice.status


def test_partial_payments_keep_the_invoice_open_until_the_total_arrives(
    app: Flask, tenant_a: TenantFixture
) -> None:
    invoice_id = make_invoice(app, tenant_a, total="1060.01")
    assert _record(app, tenant_a, invoice_id, "500.00", "REF-A-0001") == "open"
    assert _record(app, tenant_a, invoice_id, "560.00", "REF-A-0002") == "open"  # 0.01 short
    assert _record(app, tenant_a, invoice_id, "0.01", "REF-A-0003") == "paid"
    invoice = invoice_of(app, tenant_a, invoice_id)
    assert invoice.status == "paid"
    assert invoice.paid_at is not None
    events = [
        (e.event, e.details.get("from"), e.details.get("to")) for e in audit_events(app, tenant_a)
    ]
    assert events == [
        ("billing.payment.record", None, None),
        ("billing.payment.record", None, None),
        ("billing.payment.record", None, None),
        ("billing.invoice.status", "open", "paid"),
    ]
    status_event = audit_events(app, tenant_a, "billing.invoice.status")[0]
    assert status_event.details["paid"] == "1060.01"
    assert status_event.details["invoice"] == invoice.number


def test_overpayment_is_recorded_and_shown(app: Flask, tenant_a: TenantFixture) -> None:
    invoice_id = make_invoice(app, tenant_a, total="100.00")
    assert _record(app, tenant_a, invoice_id, "150.50", "REF-OVER-01") == "paid"
    assert _record(app, tenant_a, invoice_id, "10.00", "REF-OVER-02") == "paid"  # still taken
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        state = payments.balance(session, invoice)
    assert (state.paid, state.due, state.overpaid) == (
        Decimal("160.50"),
        Decimal("0.00"),
        Decimal("60.50"),
    )
    staff = make_user(app, Role.PROVIDER_BILLING, None)
    html = logged_in(app, staff.username).get(_page(invoice_id)).get_data(as_text=True)
    assert 'id="overpaid">¥60.50<' in html
    paid_event = audit_events(app, tenant_a, "billing.invoice.status")[0]
    assert paid_event.details["overpaid"] == "50.50"


def test_overdue_after_due_date_then_paid(app: Flask, tenant_a: TenantFixture) -> None:
    invoice_id = make_invoice(app, tenant_a, due_on=TODAY - timedelta(days=1))
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        assert payments.reconcile(session, invoice, today=invoice.due_on) == "open"  # due today
        assert payments.reconcile(session, invoice, today=TODAY) == "overdue"
        assert payments.reconcile(session, invoice, today=TODAY) == "overdue"  # idempotent
        session.commit()
    assert [e.details["to"] for e in audit_events(app, tenant_a, "billing.invoice.status")] == [
        "overdue"
    ]
    assert _record(app, tenant_a, invoice_id, "1060.00", "REF-LATE-01") == "paid"
    assert [e.details["to"] for e in audit_events(app, tenant_a, "billing.invoice.status")] == [
        "overdue",
        "paid",
    ]


def test_void_only_without_payment(app: Flask, tenant_a: TenantFixture) -> None:
    paid_id = make_invoice(app, tenant_a, total="100.00")
    _record(app, tenant_a, paid_id, "40.00", "REF-VOID-01")
    empty_id = make_invoice(app, tenant_a)
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        partly = session.get(Invoice, paid_id)
        empty = session.get(Invoice, empty_id)
        assert partly is not None
        assert empty is not None
        with pytest.raises(BillingError) as refused:
            invoicing.void_invoice(session, partly, "开错了", actor_label="t")
        assert refused.value.status == 409
        with pytest.raises(BillingError) as refused:
            invoicing.void_invoice(session, empty, " ", actor_label="t")
        assert set(refused.value.fields) == {"reason"}
        invoicing.void_invoice(session, empty, "重复开具", actor_label="t")
        session.commit()
    voided = invoice_of(app, tenant_a, empty_id)
    assert (voided.status, voided.void_reason) == ("void", "重复开具")
    assert voided.voided_at is not None
    assert invoice_of(app, tenant_a, paid_id).status == "open"
    with pytest.raises(ApiError) as caught:  # no money towards a void invoice
        _record(app, tenant_a, empty_id, "1.00", "REF-VOID-02")
    assert caught.value.status == 409
    assert payments_of(app, tenant_a, empty_id) == []


def test_no_way_back_from_paid(app: Flask, tenant_a: TenantFixture) -> None:
    invoice_id = make_invoice(app, tenant_a, total="10.00")
    _record(app, tenant_a, invoice_id, "10.00", "REF-BACK-01")
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        with pytest.raises(BillingError) as refused:
            invoicing.void_invoice(session, invoice, "x", actor_label="t")
        assert refused.value.status == 409
        assert payments.reconcile(session, invoice, today=TODAY + timedelta(days=400)) == "paid"


# --- the console --------------------------------------------------------------------------------


def test_staff_record_a_transfer_through_the_console(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    a_invoice = make_invoice(app, tenant_a, total="2120.00")
    b_invoice = make_invoice(app, tenant_b, total="530.00")
    xss = "<script>alert(1)</script>"
    with get_database(app).sessionmaker() as session, system_context("test: rename"):
        tenant = session.get(Tenant, tenant_a.tenant_id)
        assert tenant is not None
        tenant.name = f"甲 {xss}"
        session.commit()
    staff = make_user(app, Role.PROVIDER_BILLING, None)
    client = logged_in(app, staff.username)

    index = client.get("/console/billing/payments")
    assert index.status_code == 200
    html = index.get_data(as_text=True)
    assert invoice_of(app, tenant_a, a_invoice).number in html
    assert invoice_of(app, tenant_b, b_invoice).number in html  # every tenant's
    assert xss not in html
    assert "&lt;script&gt;" in html

    first = form_post(client, _page(a_invoice), _transfer("1000.00", "ICBC-2026-0001"))
    assert first.status_code == 303
    page = client.get(_page(a_invoice)).get_data(as_text=True)
    assert "ICBC-2026-0001" in page
    assert "¥1,120.00" in page
    second = form_post(client, _page(a_invoice), _transfer("1120.00", "ICBC-2026-0002"))
    assert second.status_code == 303
    assert invoice_of(app, tenant_a, a_invoice).status == "paid"
    recorded = payments_of(app, tenant_a, a_invoice)
    assert [p.recorded_by for p in recorded] == [staff.id, staff.id]
    assert [p.amount for p in recorded] == [Decimal("1000.00"), Decimal("1120.00")]
    assert payments_of(app, tenant_b, b_invoice) == []


def test_a_bank_reference_is_recorded_once(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    a_invoice = make_invoice(app, tenant_a)
    b_invoice = make_invoice(app, tenant_b)
    client = logged_in(app, make_user(app, Role.PROVIDER_BILLING, None).username)
    reference = f"CCB{uuid.uuid4().hex[:12]}"
    assert form_post(client, _page(a_invoice), _transfer("100.00", reference)).status_code == 303
    before = count_payments(app, tenant_a), count_payments(app, tenant_b)
    again = form_post(client, _page(a_invoice), _transfer("100.00", reference))
    assert again.status_code == 409
    assert "该银行流水号已登记过" in again.get_data(as_text=True)
    elsewhere = form_post(client, _page(b_invoice), _transfer("100.00", reference))
    assert elsewhere.status_code == 409  # one bank transfer cannot pay two customers
    assert (count_payments(app, tenant_a), count_payments(app, tenant_b)) == before
    assert len(audit_events(app, tenant_a, "billing.payment.record")) == 1


def test_bad_form_is_refused_naming_the_field(app: Flask, tenant_a: TenantFixture) -> None:
    invoice_id = make_invoice(app, tenant_a)
    client = logged_in(app, make_user(app, Role.PROVIDER_BILLING, None).username)
    response = form_post(client, _page(invoice_id), {**_transfer("12.345"), "payer_name": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "金额格式无效，最多两位小数" in html
    assert "请填写付款方名称" in html
    assert 'value="12.345"' in html  # the form keeps what was typed
    assert count_payments(app, tenant_a) == 0
    no_token = client.post(_page(invoice_id), data=_transfer("1.00"))
    assert no_token.status_code == 400  # CSRF
    assert count_payments(app, tenant_a) == 0


@pytest.mark.parametrize("role", [Role.PROVIDER_OPS, Role.PROVIDER_EXPERT])
def test_only_billing_staff_open_the_payment_console(
    app: Flask, tenant_a: TenantFixture, role: Role
) -> None:
    invoice_id = make_invoice(app, tenant_a)
    client = logged_in(app, make_user(app, role, None).username)
    assert client.get("/console/billing/payments").status_code == 403
    assert client.get(_page(invoice_id)).status_code == 403
    admin = logged_in(app, tenant_a.admin_username)
    assert admin.get("/console/billing/payments").status_code == 403
    assert admin.post(_page(invoice_id), data=_transfer("1.00")).status_code in {400, 403}
    assert app.test_client().get("/console/billing/payments").status_code in {302, 401}
    assert count_payments(app, tenant_a) == 0
    boss = logged_in(app, make_user(app, Role.PROVIDER_ADMIN, None).username)
    assert boss.get(_page(invoice_id)).status_code == 200
    assert boss.get(_page(uuid.uuid4())).status_code == 404


def test_status_filter(app: Flask, tenant_a: TenantFixture) -> None:
    open_id = make_invoice(app, tenant_a)
    paid_id = make_invoice(app, tenant_a, total="1.00")
    _record(app, tenant_a, paid_id, "1.00", f"REF-{uuid.uuid4().hex[:8]}")
    client = logged_in(app, make_user(app, Role.PROVIDER_BILLING, None).username)
    open_no, paid_no = (invoice_of(app, tenant_a, i).number for i in (open_id, paid_id))

    def invoices_table(path: str) -> str:  # the list above "最近付款" (recent payments)
        return client.get(path).get_data(as_text=True).split("最近付款")[0]

    outstanding = invoices_table("/console/billing/payments")
    assert open_no in outstanding
    assert paid_no not in outstanding
    paid = invoices_table("/console/billing/payments?status=paid")
    assert paid_no in paid
    assert open_no not in paid
    assert client.get("/console/billing/payments?status=bogus").status_code == 422


# --- the tenant portal --------------------------------------------------------------------------


def test_tenant_admins_see_their_own_bills_only(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    a_invoice = make_invoice(app, tenant_a, total="318.00")
    b_invoice = make_invoice(app, tenant_b, total="999.00")
    client = logged_in(app, tenant_a.admin_username)
    html = client.get("/portal/billing").get_data(as_text=True)
    assert invoice_of(app, tenant_a, a_invoice).number in html
    assert "¥318.00" in html
    assert invoice_of(app, tenant_b, b_invoice).number not in html
    foreign = client.get(f"/portal/billing/invoices/{b_invoice}/wechatpay")
    missing = client.get(f"/portal/billing/invoices/{uuid.uuid4()}/wechatpay")
    assert foreign.status_code == missing.status_code == 404
    for role in (Role.ENV_MANAGER, Role.GUARD, Role.VIEWER):
        user = make_user(app, role, tenant_a.tenant_id)
        assert logged_in(app, user.username).get("/portal/billing").status_code == 403
    staff = make_user(app, Role.PROVIDER_BILLING, None)
    assert logged_in(app, staff.username).get("/portal/billing").status_code == 403


def test_the_bill_pdf(app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture) -> None:
    a_invoice = make_invoice(app, tenant_a)
    b_invoice = make_invoice(app, tenant_b)
    client = logged_in(app, tenant_a.admin_username)
    response = client.get(f"/portal/billing/invoices/{a_invoice}/pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    number = invoice_of(app, tenant_a, a_invoice).number
    assert f'filename="{number}.pdf"' in response.headers["Content-Disposition"]
    assert client.get(f"/portal/billing/invoices/{b_invoice}/pdf").status_code == 404
    viewer = make_user(app, Role.VIEWER, tenant_a.tenant_id)
    pdf = logged_in(app, viewer.username).get(f"/portal/billing/invoices/{a_invoice}/pdf")
    assert pdf.status_code == 403


def test_received_date_is_stored_as_beijing_midnight(app: Flask, tenant_a: TenantFixture) -> None:
    invoice_id = make_invoice(app, tenant_a)
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        payments.record_bank_transfer(
            session,
            invoice,
            BankTransfer(Decimal("1.00"), "付款方", "REF-DATE-01", date(2026, 3, 1)),
            actor_user_id=None,
            actor_label="test",
        )
    (payment,) = payments_of(app, tenant_a, invoice_id)
    assert payment.received_at is not None
    assert payment.received_at.astimezone(payments.CHINA).isoformat() == "2026-03-01T00:00:00+08:00"
