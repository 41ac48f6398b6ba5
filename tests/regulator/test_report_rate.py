"""The report rate shows an outage honestly: passages captured while the receiver was down are
delivered late (100 % delivered, no duplicate at the receiver) and count as not within 1 hour;
per gate, per Beijing day and month; tenant-scoped; bad arguments name themselves."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import redis
from flask import Flask
from sqlalchemy import update

from saas.db import get_database
from saas.models.regulator import RegulatorUpload
from saas.notify.relay import RetryPolicy
from saas.regulator.outbox import beijing_day_bounds
from saas.regulator.report_rate import month_bounds, report_rates
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture
from tests.regulator.conftest import (
    POLICY,
    Receiver,
    ingest,
    make_config,
    passage_body,
    run_relay,
    uploads,
)

PATIENT = replace(
    POLICY, retry=RetryPolicy(max_attempts=100, base_seconds=30, max_seconds=600, lease_seconds=60)
)


def _written_at_capture(app: Flask, tenant: TenantFixture) -> None:
    """The rows were written when their passages arrived (ingest happens at capture time)."""
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        session.execute(
            update(RegulatorUpload)
            .where(RegulatorUpload.status == "pending")
            .values(
                next_attempt_at=RegulatorUpload.captured_at,
                created_at=RegulatorUpload.captured_at,
            )
        )
        session.commit()


def test_outage_is_shown_as_late_uploads(
    app: Flask,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    receiver: Receiver,
    breaker_redis: redis.Redis,
) -> None:
    config = make_config(app, tenant_a, receiver.url)
    day = (datetime.now(UTC) + timedelta(hours=8)).date() - timedelta(days=2)
    base = beijing_day_bounds(day)[0] + timedelta(hours=1)  # 09:00 Beijing

    # before the outage: gate 1 and gate 2, each delivered a minute after capture
    normal = [base + timedelta(minutes=10 * n) for n in range(4)]
    for n, at in enumerate(normal):
        ingest(app, tenant_a, [passage_body(f"冀B5000{n}", captured_at=at, gate="1", lane="01")])
        ingest(app, tenant_a, [passage_body(f"冀B6000{n}", captured_at=at, gate="2", lane="01")])
        _written_at_capture(app, tenant_a)
        run_relay(app, tenant_a, breaker_redis, at=at + timedelta(minutes=1), policy=PATIENT)
    assert len(receiver.accepted) == 8

    # the receiver is down for 6 hours of gate-1 traffic; the relay keeps trying
    receiver.fail = -1
    outage = [base + timedelta(hours=1, minutes=30 * n) for n in range(12)]
    for n, at in enumerate(outage):
        ingest(app, tenant_a, [passage_body(f"冀B7{n:04d}", captured_at=at, gate="1", lane="01")])
        _written_at_capture(app, tenant_a)
        run_relay(app, tenant_a, breaker_redis, at=at + timedelta(minutes=1), policy=PATIENT)
    assert receiver.hits > 8  # it did try during the outage
    assert len(receiver.accepted) == 8

    # back up two hours after the last capture: everything is delivered, once
    receiver.fail = 0
    back = outage[-1] + timedelta(hours=2)
    run_relay(app, tenant_a, breaker_redis, at=back, policy=PATIENT)
    rows = uploads(app, tenant_a)
    assert len(rows) == 20
    assert {r.status for r in rows} == {"accepted"}
    seen = receiver.seen_keys()
    assert len(seen) == len(set(seen)) == 20  # 100 % delivered, 0 duplicates

    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        daily = report_rates(session, tenant_a.site_id, day, day)
        first, last = month_bounds(day.year, day.month)
        monthly = report_rates(session, tenant_a.site_id, first, last, period="month")
    by_gate = {(r.gate_code, r.lane_code): r for r in daily}
    gate1, gate2 = by_gate[("1", "01")], by_gate[("2", "01")]
    assert (gate1.period, gate1.config_id) == (day.isoformat(), config)
    assert (gate1.captured, gate1.on_time) == (16, 4)  # the 12 late ones are not within 1 hour
    assert gate1.rate == Decimal("0.2500")
    assert gate1.alarm
    assert (gate2.captured, gate2.on_time, gate2.rate, gate2.alarm) == (4, 4, Decimal(1), False)
    assert gate1.as_dict()["rate"] == "0.2500"
    month = {(r.gate_code, r.lane_code): r for r in monthly}
    assert month[("1", "01")].period == day.strftime("%Y-%m")
    assert (month[("1", "01")].captured, month[("1", "01")].on_time) == (16, 4)

    # the next Beijing day holds none of them
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        assert (
            report_rates(
                session, tenant_a.site_id, day + timedelta(days=1), day + timedelta(days=1)
            )
            == []
        )

    # tenant B asking for A's site sees nothing
    with tenant_context(tenant_b.tenant_id), get_database(app).sessionmaker() as session:
        assert report_rates(session, tenant_a.site_id, day, day) == []
        assert report_rates(session, tenant_a.site_id, day, day, config_id=config) == []


def test_bad_arguments_name_themselves(app: Flask, tenant_a: TenantFixture) -> None:
    today = datetime.now(UTC).date()
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        with pytest.raises(ValueError, match=r"^end"):
            report_rates(session, tenant_a.site_id, today, today - timedelta(days=1))
        with pytest.raises(ValueError, match=r"^period"):
            report_rates(session, tenant_a.site_id, today, today, period="week")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"^month"):
            month_bounds(2026, 13)
