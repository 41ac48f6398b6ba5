"""The console's billing pages: staff holding ``billing.manage`` only; invoices across
tenants with filters and totals; a tenant's subscription (subscribe with bad input refused
field by field and nothing written, plan change shown as pending, add-ons, buyer details);
invoice detail, PDF and void with a reason; the idempotent "issue for a period" run;
unknown ids answer 404; every name escaped."""

from __future__ import annotations

import io
import re
import uuid
from datetime import date
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy import func, select

from billing.periods import Period, beijing_today
from saas.db import get_database
from saas.models.billing import Invoice, Subscription
from saas.models.identity import AuditEvent, Role
from saas.models.tenancy import Tenant
from saas.tenancy import system_context, tenant_context
from tests.billing.conftest import (
    BUYER,
    BillingTenant,
    backdate_sites,
    invoice_by_id,
    issue,
    seed_catalogue,
    subscription,
)
from tests.conftest import TenantFixture, csrf_from, login, make_user

XSS = "<script>alert(1)</script>"


def _staff(app: Flask, role: Role = Role.PROVIDER_BILLING) -> FlaskClient:
    user = make_user(app, role, None)
    client = app.test_client()
    assert login(client, user.username) == 302
    return client


def _rename(app: Flask, tenant: TenantFixture, name: str) -> None:
    with system_context("test: rename tenant"), get_database(app).sessionmaker() as session:
        row = session.get(Tenant, tenant.tenant_id)
        assert row is not None
        row.name = name
        session.commit()


def _post(client: FlaskClient, path: str, data: dict[str, str], page: str) -> Any:
    return client.post(path, data={**data, "csrf_token": csrf_from(client, page)})


def _audit_events(app: Flask, tenant_id: uuid.UUID, event: str) -> list[AuditEvent]:
    with tenant_context(tenant_id), get_database(app).sessionmaker() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(
                    AuditEvent.event == event, AuditEvent.tenant_id == tenant_id
                )
            )
        )


def test_only_billing_staff_may_open_the_pages(app: Flask, billing_tenant: BillingTenant) -> None:
    invoice = issue(app, billing_tenant.tenant_id, "2026-03")
    paths = [
        "/console/billing",
        "/console/billing/plans",
        "/console/billing/subscriptions",
        f"/console/billing/tenants/{billing_tenant.tenant_id}",
        f"/console/billing/invoices/{invoice.id}",
        f"/console/billing/invoices/{invoice.id}/pdf",
        f"/console/billing/invoices/{invoice.id}/void",
    ]
    for role in (Role.PROVIDER_OPS, Role.PROVIDER_EXPERT):
        other = _staff(app, role)
        for path in paths:
            assert other.get(path).status_code == 403, (role, path)
    tenant_admin = app.test_client()
    assert login(tenant_admin, billing_tenant.tenant.admin_username) == 302
    for path in paths:
        assert tenant_admin.get(path).status_code == 403, path
    assert app.test_client().get("/console/billing").status_code in (302, 401)
    for role in (Role.PROVIDER_BILLING, Role.PROVIDER_ADMIN):
        staff = _staff(app, role)
        for path in paths:
            assert staff.get(path).status_code == 200, (role, path)
        assert "/console/billing" in staff.get("/console/").get_data(as_text=True)


def test_invoice_list_filters_totals_and_escapes(app: Flask, billing_tenant: BillingTenant) -> None:
    _rename(app, billing_tenant.tenant, f"甲集团 {XSS}")
    march = issue(app, billing_tenant.tenant_id, "2026-03")
    april = issue(app, billing_tenant.tenant_id, "2026-04")
    staff = _staff(app)
    page = staff.get("/console/billing?period=2026-03").get_data(as_text=True)
    assert XSS not in page
    assert "甲集团 &lt;script&gt;" in page
    assert march.number in page
    assert april.number not in page
    assert "2,400.00" in page
    assert "2,544.00" in page
    totals = re.search(r'<section class="card" id="totals">(.*?)</section>', page, re.S)
    assert totals is not None
    open_row = re.search(r'<tr class="total-open">(.*?)</tr>', totals.group(1), re.S)
    assert open_row is not None
    with system_context("test: expected totals"), get_database(app).sessionmaker() as session:
        count, expected = session.execute(
            select(func.count(), func.coalesce(func.sum(Invoice.total), 0)).where(
                Invoice.status == "open",
                Invoice.period_start >= date(2026, 3, 1),
                Invoice.period_start <= date(2026, 3, 31),
            )
        ).one()
    assert f"<td>{count}</td>" in open_row.group(1)
    assert f"{expected:,.2f}" in open_row.group(1)
    void_only = staff.get("/console/billing?status=void").get_data(as_text=True)
    assert march.number not in void_only
    assert staff.get("/console/billing?status=lost").status_code == 422
    assert staff.get("/console/billing?period=2026-3").status_code == 422


def test_subscribe_change_plan_addons_and_buyer(app: Flask, tenant_b: TenantFixture) -> None:
    seed_catalogue(app)
    backdate_sites(app, tenant_b)
    staff = _staff(app)
    page = f"/console/billing/tenants/{tenant_b.tenant_id}"
    assert "开通订阅" in staff.get(page).get_data(as_text=True)
    subscribe_form = {"plan": "standard", "cycle": "monthly", "starts_on": "2026-02-10"}
    bad = _post(
        staff,
        f"{page}/subscribe",
        {**subscribe_form, "addons.sms_bundle": "-3", **BUYER, "buyer_tax_no": "123"}
        | {"buyer_name": XSS},
        page,
    )
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "纳税人识别号须为 18 位统一社会信用代码" in html
    assert "数量须为 0 到 1000000 之间的整数" in html
    assert XSS not in html
    assert "&lt;script&gt;" in html  # re-shown, escaped
    with tenant_context(tenant_b.tenant_id), get_database(app).sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Subscription)) == 0
    ok = _post(
        staff, f"{page}/subscribe", {**subscribe_form, "addons.sms_bundle": "2", **BUYER}, page
    )
    assert ok.status_code == 302
    sub = subscription(app, tenant_b.tenant_id)
    assert (sub.cycle, sub.starts_on, sub.addons) == (
        "monthly",
        date(2026, 2, 10),
        {"sms_bundle": 2},
    )
    assert sub.buyer_tax_no == BUYER["buyer_tax_no"]
    assert len(_audit_events(app, tenant_b.tenant_id, "billing.subscribe")) == 1
    again = _post(staff, f"{page}/subscribe", {**subscribe_form, **BUYER}, page)
    assert again.status_code == 409

    changed = _post(staff, f"{page}/plan", {"plan": "flagship", "cycle": "annual"}, page)
    assert changed.status_code == 302
    next_month = Period.of(beijing_today()).next().start
    sub = subscription(app, tenant_b.tenant_id)
    assert (sub.pending_cycle, sub.pending_from) == ("annual", next_month)
    pending = re.search(r'<dd id="pending">(.*?)</dd>', staff.get(page).get_data(as_text=True))
    assert pending is not None
    assert "旗舰版" in pending.group(1)
    assert next_month.isoformat() in pending.group(1)
    unknown = _post(staff, f"{page}/plan", {"plan": "gold", "cycle": "annual"}, page)
    assert unknown.status_code == 422

    addons = _post(
        staff, f"{page}/addons", {"addons.storage": "50", "addons.sms_bundle": "0"}, page
    )
    assert addons.status_code == 302
    assert subscription(app, tenant_b.tenant_id).addons == {"storage": 50}
    bad_addons = _post(staff, f"{page}/addons", {"addons.storage": "1.5"}, page)
    assert bad_addons.status_code == 422
    assert subscription(app, tenant_b.tenant_id).addons == {"storage": 50}

    buyer = _post(staff, f"{page}/buyer", {**BUYER, "buyer_bank": "", "buyer_account": ""}, page)
    assert buyer.status_code == 302
    sub = subscription(app, tenant_b.tenant_id)
    assert (sub.buyer_bank, sub.buyer_account) == (None, None)
    half = _post(staff, f"{page}/buyer", {**BUYER, "buyer_bank": ""}, page)
    assert half.status_code == 422
    assert "开户行与账号须同时填写" in half.get_data(as_text=True)
    [event] = _audit_events(app, tenant_b.tenant_id, "billing.buyer")
    assert set(event.details["changed"]) == {"buyer_bank", "buyer_account"}
    assert "0403" not in str(event.details)  # names of fields, not the account number


def test_invoice_detail_pdf_and_void(app: Flask, billing_tenant: BillingTenant) -> None:
    invoice = issue(app, billing_tenant.tenant_id, "2026-05")
    staff = _staff(app)
    detail = f"/console/billing/invoices/{invoice.id}"
    html = staff.get(detail).get_data(as_text=True)
    assert invoice.number in html
    assert "贰仟伍佰肆拾肆元整" in html
    assert BUYER["buyer_name"] in html
    pdf = staff.get(f"{detail}/pdf")
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"
    assert invoice.number in pdf.headers["Content-Disposition"]
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert invoice.number in text

    empty = _post(staff, f"{detail}/void", {"reason": " "}, f"{detail}/void")
    assert empty.status_code == 422
    assert invoice_by_id(app, billing_tenant.tenant_id, invoice.id).status == "open"
    done = _post(staff, f"{detail}/void", {"reason": f"重复开具 {XSS}"}, f"{detail}/void")
    assert done.status_code == 302
    stored = invoice_by_id(app, billing_tenant.tenant_id, invoice.id)
    assert (stored.status, stored.void_reason) == ("void", f"重复开具 {XSS}")
    html = staff.get(detail).get_data(as_text=True)
    assert XSS not in html
    assert "重复开具 &lt;script&gt;" in html
    assert staff.get(f"{detail}/void").status_code == 409
    again = _post(staff, f"{detail}/void", {"reason": "x"}, detail)
    assert again.status_code == 409
    assert len(_audit_events(app, billing_tenant.tenant_id, "billing.invoice_void")) == 1


def test_unknown_ids_answer_404(app: Flask, billing_tenant: BillingTenant) -> None:
    staff = _staff(app)
    missing = uuid.uuid4()
    for path in (
        f"/console/billing/tenants/{missing}",
        f"/console/billing/invoices/{missing}",
        f"/console/billing/invoices/{missing}/pdf",
        f"/console/billing/invoices/{missing}/void",
    ):
        assert staff.get(path).status_code == 404, path
    response = _post(staff, f"/console/billing/tenants/{missing}/buyer", BUYER, "/console/billing")
    assert response.status_code == 404


def test_issue_for_a_period_is_idempotent(app: Flask, billing_tenant: BillingTenant) -> None:
    staff = _staff(app)
    period = str(Period.of(beijing_today()).previous())
    first = _post(staff, "/console/billing/issue", {"period": period}, "/console/billing")
    assert first.status_code == 200
    with tenant_context(billing_tenant.tenant_id), get_database(app).sessionmaker() as session:
        [invoice] = session.scalars(select(Invoice)).all()
    issued = re.compile(rf'<tr class="result-issued">(?:(?!</tr>).)*{invoice.number}', re.S)
    assert issued.search(first.get_data(as_text=True))
    second = _post(staff, "/console/billing/issue", {"period": period}, "/console/billing")
    existing = re.compile(rf'<tr class="result-existing">(?:(?!</tr>).)*{invoice.number}', re.S)
    assert existing.search(second.get_data(as_text=True))
    with tenant_context(billing_tenant.tenant_id), get_database(app).sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Invoice)) == 1
    current = str(Period.of(beijing_today()))
    refused = _post(staff, "/console/billing/issue", {"period": current}, "/console/billing")
    assert refused.status_code == 422
    junk = _post(staff, "/console/billing/issue", {"period": "last month"}, "/console/billing")
    assert junk.status_code == 422
    # Without the CSRF token nothing runs.
    assert staff.post("/console/billing/issue", data={"period": period}).status_code == 400
