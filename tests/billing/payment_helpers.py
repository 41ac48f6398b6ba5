"""Set-up shared by the payment, WeChat Pay, dunning and overdue tests: invoices written
directly through the models (the invoicing service is tested on its own), a subscription with
reminder addresses, and readers of what changed."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from billing.payments import china_today
from saas.db import get_database
from saas.models.billing import BillingPlan, Invoice, Payment, Subscription
from saas.models.identity import AuditEvent
from saas.models.outbox import OutboxMessage
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture, csrf_from, login


def make_invoice(
    app: Flask,
    tenant: TenantFixture,
    *,
    total: str = "1060.00",
    due_on: date | None = None,
    status: str = "open",
) -> uuid.UUID:
    """An issued invoice (6 % VAT included in ``total``), due in 15 days unless told."""
    today = china_today()
    due = due_on or today + timedelta(days=15)
    amount = Decimal(total)
    subtotal = (amount / Decimal("1.06")).quantize(Decimal("0.01"))
    start = date(2000 + uuid.uuid4().int % 90, uuid.uuid4().int % 12 + 1, 1)
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        invoice = Invoice(
            number=f"T{uuid.uuid4().hex[:12].upper()}",
            period_start=start,
            period_end=start + timedelta(days=27),
            issued_on=due - timedelta(days=15),
            due_on=due,
            status=status,
            subtotal=subtotal,
            vat_amount=amount - subtotal,
            total=amount,
            buyer={"name": "唐山某某焦化有限公司", "tax_no": "91130200MA0000000X"},
        )
        session.add(invoice)
        session.commit()
        return invoice.id


def subscribe(
    app: Flask,
    tenant: TenantFixture,
    *,
    email: str | None = "finance@example.com",
    openid: str | None = "oBILLING-openid-0001",
    grace_days: int = 15,
) -> None:
    code = f"p-{uuid.uuid4().hex[:10]}"
    with get_database(app).sessionmaker() as session:
        plan = BillingPlan(
            code=code,
            name="标准版",
            site_monthly_fee=Decimal("800.00"),
            lane_monthly_fee=Decimal("200.00"),
            included_sms=1000,
            included_storage_gb=50,
            annual_discount_pct=Decimal("10"),
        )
        session.add(plan)
        session.commit()
        plan_id = plan.id
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        session.add(
            Subscription(
                plan_id=plan_id,
                cycle="monthly",
                addons={},
                starts_on=date(2025, 1, 1),
                grace_days=grace_days,
                buyer_name="唐山某某焦化有限公司",
                billing_email=email,
                billing_openid=openid,
            )
        )
        session.commit()


def invoice_of(app: Flask, tenant: TenantFixture, invoice_id: uuid.UUID) -> Invoice:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        return invoice


def payments_of(app: Flask, tenant: TenantFixture, invoice_id: uuid.UUID) -> list[Payment]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return list(
            session.scalars(
                select(Payment).where(Payment.invoice_id == invoice_id).order_by(Payment.created_at)
            )
        )


def snapshot(app: Flask, tenant: TenantFixture, invoice_id: uuid.UUID) -> dict[str, Any]:
    """Everything a payment could change: the invoice and its payments, column by column."""
    invoice = invoice_of(app, tenant, invoice_id)
    return {
        "invoice": {c.key: getattr(invoice, c.key) for c in Invoice.__table__.columns},
        "payments": [
            {c.key: getattr(p, c.key) for c in Payment.__table__.columns}
            for p in payments_of(app, tenant, invoice_id)
        ],
    }


def audit_events(app: Flask, tenant: TenantFixture, prefix: str = "billing.") -> list[AuditEvent]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.tenant_id == tenant.tenant_id, AuditEvent.event.like(prefix + "%")
                )
                .order_by(AuditEvent.id)
            )
        )


def outbox(
    app: Flask, tenant: TenantFixture, template: str = "invoice_reminder"
) -> list[OutboxMessage]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.template == template)
                .order_by(OutboxMessage.created_at, OutboxMessage.channel)
            )
        )


def count_payments(app: Flask, tenant: TenantFixture) -> int:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(Payment)) or 0)


def logged_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username) == 302
    return client


def form_post(client: FlaskClient, path: str, data: dict[str, str]) -> Any:
    """A browser form POST: the CSRF token from the page it is on."""
    token = csrf_from(client, path)
    return client.post(path, data={**data, "csrf_token": token})
