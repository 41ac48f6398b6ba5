"""Metering from real events: sites, lanes with passages (pro rata from a lane's first day),
passages, SMS delivered, stored photos (once per site and SHA-256) and exports — per tenant
per Beijing month, another tenant's events never counted, usage records upserted, the CLI."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from flask import Flask
from sqlalchemy import select

from billing import metering
from billing.periods import Period
from saas.db import get_database
from saas.models.billing import UsageRecord
from saas.models.ledger import Export
from saas.models.outbox import OutboxMessage
from saas.models.tenancy import Site
from saas.tenancy import tenant_context
from tests.billing.conftest import backdate_sites, beijing, ingest, passage
from tests.conftest import Backend, TenantFixture, make_tenant

MB = 1024 * 1024
PHOTO_A = "a" * 64
PHOTO_B = "b" * 64


def _sms(app: Flask, tenant: TenantFixture, sent_at: datetime | None, status: str = "sent") -> None:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        session.add(
            OutboxMessage(
                site_id=tenant.site_id,
                channel="sms",
                recipient="13800000000",
                template="alert_started",
                subject="预警",
                payload={"text": "预警"},
                idempotency_key=f"test:{uuid.uuid4()}",
                status=status,
                sent_at=sent_at,
            )
        )
        session.commit()


def _export(app: Flask, tenant: TenantFixture, size: int, created_at: datetime) -> None:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        session.add(
            Export(
                kind="passages",
                file_format="csv",
                params={},
                status="done",
                size_bytes=size,
                created_at=created_at,
            )
        )
        session.commit()


def _measure(app: Flask, tenant: TenantFixture, period: str) -> metering.Usage:
    with get_database(app).sessionmaker() as session:
        return metering.measure(session, tenant.tenant_id, Period.parse(period))


def _add_site(app: Flask, tenant: TenantFixture, name: str, created_at: datetime) -> uuid.UUID:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        first = session.get(Site, tenant.site_id)
        assert first is not None
        site = Site(
            name=name,
            uscc=first.uscc,
            region_code=first.region_code,
            industry=first.industry,
            rating=first.rating,
            created_at=created_at,
        )
        session.add(site)
        session.commit()
        return site.id


def test_a_month_of_real_events(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    backdate_sites(app, tenant_a)
    backdate_sites(app, tenant_b)
    second_site = _add_site(app, tenant_a, "二号厂区", beijing(2026, 3, 21, 8))
    _add_site(app, tenant_a, "四月新厂", beijing(2026, 4, 1, 0, 5))  # April in Beijing
    ingest(
        app,
        tenant_a,
        [
            passage(beijing(2026, 2, 27), gate="1", lane="01"),  # carried traffic in February
            passage(beijing(2026, 3, 5), gate="1", lane="01", images=((PHOTO_A, 2 * MB),)),
            passage(beijing(2026, 3, 6), gate="1", lane="01", images=((PHOTO_A, 2 * MB),)),
            passage(beijing(2026, 3, 12), gate="2", lane="01", images=((PHOTO_B, 3 * MB),)),
            # 1 March 00:10 Beijing is still 28 February in UTC: March here.
            passage(datetime(2026, 2, 28, 16, 10, tzinfo=UTC), gate="3", lane="02"),
            # 1 April 00:30 Beijing is 31 March in UTC: April, not March.
            passage(datetime(2026, 3, 31, 16, 30, tzinfo=UTC), gate="4", lane="01"),
        ],
    )
    ingest(app, tenant_a, [passage(beijing(2026, 3, 25), images=((PHOTO_A, 2 * MB),))], second_site)
    _sms(app, tenant_a, beijing(2026, 3, 1, 0, 1))
    _sms(app, tenant_a, beijing(2026, 3, 31, 23, 59))
    _sms(app, tenant_a, beijing(2026, 4, 1, 0, 1))  # April
    _sms(app, tenant_a, None, status="pending")  # not delivered
    _sms(app, tenant_a, beijing(2026, 3, 10), status="failed")
    _export(app, tenant_a, 1 * MB, beijing(2026, 3, 15))
    _export(app, tenant_a, 7 * MB, beijing(2026, 4, 2))  # after the month
    # The other tenant, same natural keys, same photo hash: never counted for tenant_a.
    ingest(
        app,
        tenant_b,
        [passage(beijing(2026, 3, 7), gate="9", lane="09", images=((PHOTO_A, 4 * MB),))],
    )
    _sms(app, tenant_b, beijing(2026, 3, 7))

    usage = _measure(app, tenant_a, "2026-03")
    assert usage.site_since == (date(2026, 3, 1), date(2026, 3, 21))
    assert usage.site_days == 31 + 11
    # 1/01 carried traffic in February: the whole month; 2/01, 3/02 and the second site's
    # lane are new this month: from their first day.
    assert usage.lane_since == (
        date(2026, 3, 1),
        date(2026, 3, 1),
        date(2026, 3, 12),
        date(2026, 3, 25),
    )
    assert usage.lanes == 4
    assert usage.passages == 5
    assert usage.sms == 2
    # PHOTO_A once per site (2 sites) + PHOTO_B + one export; the 7 MB export is later.
    assert usage.storage_bytes == (2 + 2 + 3 + 1) * MB
    assert usage.storage_gb == Decimal("0.008")  # 8 MiB = 0.0078125 GB, rounded up

    other = _measure(app, tenant_b, "2026-03")
    assert (other.lanes, other.passages, other.sms, other.storage_bytes) == (1, 1, 1, 4 * MB)
    april = _measure(app, tenant_a, "2026-04")
    assert april.sites == 3
    assert april.lane_since == (date(2026, 4, 1),)  # 4/01 at 00:30 on 1 April
    assert april.sms == 1
    assert april.storage_bytes == (2 + 2 + 3 + 1 + 7) * MB


def test_usage_records_are_upserted_per_tenant_month_and_metric(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    backdate_sites(app, tenant_a)
    period = Period(2026, 6)
    database = get_database(app)
    with database.sessionmaker() as session:
        metering.meter_tenant(session, tenant_a.tenant_id, period)
        session.commit()
    ingest(app, tenant_a, [passage(beijing(2026, 6, 3)), passage(beijing(2026, 6, 4))])
    with database.sessionmaker() as session:
        metering.meter_tenant(session, tenant_a.tenant_id, period)
        session.commit()
    with database.sessionmaker() as session:
        figures = metering.recorded(session, tenant_a.tenant_id, period)
        assert metering.recorded(session, tenant_b.tenant_id, period) == {}
    assert set(figures) == set(metering.METRICS)
    assert figures["passages"] == 2
    assert figures["lanes"] == 1
    assert figures["sites"] == 1
    with tenant_context(tenant_a.tenant_id), database.sessionmaker() as session:
        rows = session.scalars(select(UsageRecord).where(UsageRecord.period == "2026-06")).all()
    assert len(rows) == len(metering.METRICS)  # updated in place, not duplicated


def test_cli_meters_every_tenant(backend: Backend) -> None:
    app = backend.app
    tenant = make_tenant(app, "meter")
    backdate_sites(app, tenant)
    ingest(app, tenant, [passage(beijing(2026, 7, 9), lane="03")])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["billing", "meter", "--period", "2026-07"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    [mine] = [r for r in rows if r["tenant_id"] == str(tenant.tenant_id)]
    assert mine["period"] == "2026-07"
    assert (mine["sites"], mine["lanes"], mine["passages"]) == ("1", "1", "1")
    assert mine["lane_days"] == "23"  # 9 to 31 July
    bad = runner.invoke(args=["billing", "meter", "--period", "July"])
    assert bad.exit_code != 0
