"""Shared billing fixtures (invoicing, metering, console; payments and dunning use them too).

``billing_tenant`` gives ``tenant_a`` the built-in catalogue's 标准版, monthly from
2026-01-01, with complete buyer (购买方) details; its site is back-dated to 2025-12-01 so it
is billable in every month of 2026. ``issue`` issues the tenant's invoice of one month through
the real service (metering included) and returns it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from billing import invoicing, plans
from billing.periods import Period
from saas.db import get_database
from saas.models.billing import Invoice, InvoiceLine, Subscription
from saas.models.tenancy import Site
from saas.tenancy import tenant_context
from tests.conftest import VALID_USCC, TenantFixture

BUYER: dict[str, str] = {
    "buyer_name": "唐山市某某焦化有限公司",
    "buyer_tax_no": VALID_USCC,
    "buyer_address": "河北省唐山市丰南区沿海工业区 1 号",
    "buyer_phone": "0315-8123456",
    "buyer_bank": "中国工商银行唐山丰南支行",
    "buyer_account": "0403 0112 0902 4567 890",
    "billing_email": "finance@example.com",
}
SUBSCRIBED_ON = date(2026, 1, 1)
SITES_SINCE = datetime(2025, 12, 1, tzinfo=UTC)


@dataclass
class BillingTenant:
    tenant: TenantFixture
    subscription_id: uuid.UUID
    plan_code: str
    cycle: str

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.tenant.tenant_id


def seed_catalogue(app: Flask) -> None:
    with get_database(app).sessionmaker() as session:
        plans.seed_catalogue(session, actor_label="test")
        session.commit()


def backdate_sites(app: Flask, tenant: TenantFixture, when: datetime = SITES_SINCE) -> None:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        for site in session.scalars(select(Site)):
            site.created_at = when
        session.commit()


def subscribe(
    app: Flask,
    tenant: TenantFixture,
    *,
    plan: str = "standard",
    cycle: str = "monthly",
    starts_on: date = SUBSCRIBED_ON,
    addons: Mapping[str, int] | None = None,
    buyer: Mapping[str, str] | None = None,
) -> BillingTenant:
    seed_catalogue(app)
    with get_database(app).sessionmaker() as session:
        sub = plans.subscribe(
            session,
            tenant.tenant_id,
            plan_code=plan,
            cycle=cycle,
            addon_quantities=dict(addons or {}),
            buyer=dict(BUYER if buyer is None else buyer),
            starts_on=starts_on,
            actor_label="test",
        )
        session.commit()
        return BillingTenant(tenant, sub.id, plan, cycle)


@pytest.fixture
def billing_tenant(app: Flask, tenant_a: TenantFixture) -> BillingTenant:
    """tenant_a on 标准版, monthly from 2026-01-01, buyer details complete, its site billable
    since 2025-12-01."""
    backdate_sites(app, tenant_a)
    return subscribe(app, tenant_a)


def day_after(period: str | Period) -> date:
    return (Period.parse(period) if isinstance(period, str) else period).end + timedelta(days=1)


def issue_result(
    app: Flask, tenant_id: uuid.UUID, period: str | Period, *, today: date | None = None
) -> invoicing.Issued:
    month = Period.parse(period) if isinstance(period, str) else period
    with get_database(app).sessionmaker() as session:
        return invoicing.issue_invoice(
            session, tenant_id, month, today=today or day_after(month), actor_label="test"
        )


def issue(
    app: Flask, tenant_id: uuid.UUID, period: str | Period, *, today: date | None = None
) -> Invoice:
    """Issue (or fetch) the tenant's invoice of ``period`` (YYYY-MM), issued the day after
    the month unless ``today`` is given."""
    return issue_result(app, tenant_id, period, today=today).invoice


def lines_of(app: Flask, invoice: Invoice) -> list[InvoiceLine]:
    with get_database(app).sessionmaker() as session:
        return invoicing.lines_of(session, invoice)


def subscription(app: Flask, tenant_id: uuid.UUID) -> Subscription:
    with get_database(app).sessionmaker() as session:
        sub = plans.subscription_of(session, tenant_id)
        assert sub is not None
        return sub


def invoice_by_id(app: Flask, tenant_id: uuid.UUID, invoice_id: uuid.UUID) -> Invoice:
    with tenant_context(tenant_id), get_database(app).sessionmaker() as session:
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        return invoice


def amounts(lines: list[InvoiceLine]) -> dict[str, Any]:
    """``{code or kind: amount}`` summed, for compact assertions."""
    out: dict[str, Any] = {}
    for line in lines:
        key = f"{line.kind}:{line.code}"
        out[key] = out.get(key, 0) + line.amount
    return out


def passage(
    captured_at: datetime,
    *,
    gate: str = "1",
    lane: str = "01",
    images: tuple[tuple[str, int], ...] = (),
    plate: str = "冀B12345",
) -> dict[str, Any]:
    """A passage body as the edge sends it; ``images``: (sha256, size) pairs."""
    return {
        "event_id": str(uuid.uuid4()),
        "captured_at": captured_at.isoformat(),
        "gate": gate,
        "lane": lane,
        "direction": "in",
        "plate_text": plate,
        "plate_color": "yellow",
        "decision": {"verdict": "ALLOW"},
        "images": [
            {"kind": "plate", "sha256": sha, "content_type": "image/jpeg", "size": size}
            for sha, size in images
        ],
    }


def ingest(
    app: Flask,
    tenant: TenantFixture,
    bodies: list[dict[str, Any]],
    site_id: uuid.UUID | None = None,
) -> None:
    """Store passages through the real ingest (hash chain and all)."""
    from saas.ledger.ingest import PassageBatch, ingest_passages

    batch = PassageBatch.model_validate({"passages": bodies})
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, site_id or tenant.site_id)
        assert site is not None
        ingest_passages(session, site, batch)


def beijing(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    """An aware UTC moment given as Beijing wall time."""
    from billing.periods import BEIJING

    return datetime(year, month, day, hour, minute, tzinfo=BEIJING).astimezone(UTC)
