"""CloudWatch metrics in Embedded Metric Format: the exact line `emit` prints, nothing when
METRICS_EMF is off, and the scheduler's real `metrics` job on a fresh database (SQLite and
PostgreSQL as the RLS-bound app role) with real rows across two tenants and presence written
the way the hub writes it."""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import update

from saas import metrics, migrate
from saas import scheduler as sched
from saas.app import create_app
from saas.db import get_database
from saas.edge_hub import bus
from saas.models.regulator import RegulatorUpload
from saas.redis_conn import connect
from saas.regulator.outbox import beijing_day_bounds
from saas.settings import EMBEDDED_REDIS, Settings, SettingsError
from saas.tenancy import tenant_context
from tests import services
from tests.conftest import TenantFixture, make_tenant
from tests.regulator.conftest import ingest, make_config, passage_body

NOWHERE = "http://127.0.0.1:9/"  # the relay never runs here; the configurations need a URL


def settings_for(tmp: Path, **env: str) -> Settings:
    return Settings.from_env({"CLEANGATE_VAR_DIR": str(tmp), **env}, testing=True)


def emf_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- emit ------------------------------------------------------------------------------------


def test_emit_prints_one_emf_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_for(tmp_path, METRICS_EMF="true", METRICS_ENVIRONMENT="production")
    before = int(time.time() * 1000)
    metrics.emit({"Widgets": 3, "Ratio": 99.5}, {"Widgets": "Count"}, settings=settings)
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    (line,) = emf_lines(out)
    timestamp = line["_aws"].pop("Timestamp")
    assert isinstance(timestamp, int)
    assert before <= timestamp <= int(time.time() * 1000)
    assert line == {
        "_aws": {
            "CloudWatchMetrics": [
                {
                    "Namespace": "CleanGate",
                    "Dimensions": [["Environment"]],
                    "Metrics": [
                        {"Name": "Widgets", "Unit": "Count"},
                        {"Name": "Ratio", "Unit": "None"},
                    ],
                }
            ]
        },
        "Environment": "production",
        "Widgets": 3,
        "Ratio": 99.5,
    }


def test_emit_off_prints_nothing_and_logs_at_debug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(tmp_path)
    assert (settings.metrics_emf, settings.metrics_environment) == (False, "development")
    with caplog.at_level(logging.DEBUG, logger="saas.metrics"):
        metrics.emit({"Widgets": 3}, {"Widgets": "Count"}, settings=settings)
    assert capsys.readouterr().out == ""
    assert "'Widgets': 3" in caplog.text


@pytest.mark.parametrize(
    ("values", "units", "message"),
    [
        ({"Widgets": float("nan")}, None, "metric Widgets: value must be finite"),
        ({"Widgets": "3"}, None, "metric Widgets: value must be a number"),
        ({"Widgets": True}, None, "metric Widgets: value must be a number"),
        ({"Widgets": 1}, {"Widgets": "Furlongs"}, "unknown CloudWatch unit 'Furlongs'"),
        ({"Widgets": 1}, {"Gadgets": "Count"}, "unit given for 'Gadgets'"),
        ({"Environment": 1}, None, "metric name 'Environment' is empty, reserved"),
        ({"_aws": 1}, None, "metric name '_aws' is empty, reserved"),
    ],
)
def test_emit_refuses_bad_metrics_naming_them(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    values: dict[str, Any],
    units: dict[str, str] | None,
    message: str,
) -> None:
    settings = settings_for(tmp_path, METRICS_EMF="true")
    with pytest.raises(ValueError, match=message):
        metrics.emit(values, units, settings=settings)
    assert capsys.readouterr().out == ""


def test_metrics_settings_name_a_bad_variable(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="METRICS_EMF must be a boolean"):
        settings_for(tmp_path, METRICS_EMF="sometimes")
    with pytest.raises(SettingsError, match="METRICS_ENVIRONMENT must be"):
        settings_for(tmp_path, METRICS_ENVIRONMENT="prod env")
    assert settings_for(tmp_path, METRICS_ENVIRONMENT="staging-2").metrics_environment == (
        "staging-2"
    )


# --- the job, on a fresh database ------------------------------------------------------------


def _redis_url() -> str:
    """The real Redis when the suite is given one, else the embedded substitute."""
    if os.environ.get("CLEANGATE_TEST_REDIS_URL"):
        services.real_redis()  # skips, or fails under CLEANGATE_REQUIRE_SERVICES=1
        return services.REDIS_URL
    return EMBEDDED_REDIS


def _forget_metrics_state(client: redis.Redis) -> None:
    """Presence and the cached rate are global: start from none (other tests' leftovers)."""
    for pattern in (bus.presence_key("*"), "metrics:*"):
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)


@dataclass
class Fresh:
    app: Flask
    redis: redis.Redis


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Fresh]:
    """A database of its own: the metrics count across all tenants, so the rows other tests
    leave in the shared ones would blur the expected numbers."""
    pg = None
    if request.param == "postgresql":
        pg = services.create_pg_database()
        migrate.upgrade(pg.owner_url, pg.app_url)
        urls = {"DATABASE_URL": pg.app_url, "MIGRATION_DATABASE_URL": pg.owner_url}
    else:
        url = f"sqlite:///{tmp_path / 'metrics.db'}"
        migrate.upgrade(url)
        urls = {"DATABASE_URL": url}
    app = create_app(
        settings_for(
            tmp_path,
            REDIS_URL=_redis_url(),
            METRICS_EMF="true",
            METRICS_ENVIRONMENT="staging-1",
            **urls,
        )
    )
    client: redis.Redis = app.extensions["cleangate.redis"]
    _forget_metrics_state(client)
    try:
        yield Fresh(app, client)
    finally:
        _forget_metrics_state(client)
        get_database(app).dispose()
        if pg is not None:
            services.drop_pg_database(pg)


def run_job(app: Flask, slot: datetime) -> Any:
    """The registered job, as the worker runs it (``saas.scheduler.run_periodic``)."""
    with app.app_context():
        return sched.registry(app).get("metrics").fn(app, slot)


def mark(app: Flask, tenant: TenantFixture, event_id: str, **values: Any) -> None:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        found = session.execute(
            update(RegulatorUpload)
            .where(RegulatorUpload.key == f"passage:{event_id}")
            .values(**values)
        )
        assert found.rowcount == 1  # type: ignore[attr-defined]
        session.commit()


def test_the_metrics_job_emits_the_fleet_and_relay_metrics(
    fresh: Fresh, capsys: pytest.CaptureFixture[str]
) -> None:
    app, client = fresh.app, fresh.redis
    assert "metrics" in {job.name for job in sched.registry(app)}
    assert sched.registry(app).get("metrics").every == timedelta(seconds=60)
    now = datetime.now(UTC)
    slot = now.replace(second=0, microsecond=0)

    # An empty platform: zero bridges, zero due uploads, no report rate (nothing captured).
    assert run_job(app, slot) == {"HubConnectedBridges": 0, "RegulatorUploadsDue": 0}
    (line,) = emf_lines(capsys.readouterr().out)
    assert [m["Name"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]] == [
        "HubConnectedBridges",
        "RegulatorUploadsDue",
    ]
    assert "RegulatorReportRateMin" not in line

    tenant_a, tenant_b = make_tenant(app, "ma"), make_tenant(app, "mb")
    make_config(app, tenant_a, NOWHERE)
    make_config(app, tenant_a, NOWHERE, name="已停用平台", active=False)  # rate 0: not counted
    make_config(app, tenant_b, NOWHERE)

    # Yesterday (Beijing, before the slot's day), from 10:00.
    day = (slot + timedelta(hours=8)).date() - timedelta(days=1)
    base = beijing_day_bounds(day)[0] + timedelta(hours=10)
    at = [base + timedelta(minutes=10 * n) for n in range(4)]
    on_time, late = timedelta(minutes=5), timedelta(hours=2)
    # A gate 1: 3 of 4 accepted within the hour (75 %), the 4th still pending and due.
    a1 = ingest(
        app, tenant_a, [passage_body(f"冀B1000{n}", captured_at=t) for n, t in enumerate(at)]
    )
    for event_id, captured in zip(a1[:3], at[:3], strict=True):
        mark(app, tenant_a, event_id, status="accepted", accepted_at=captured + on_time)
    # A gate 2: 2 of 2 (100 %).
    a2 = ingest(
        app, tenant_a, [passage_body(f"冀B2000{n}", captured_at=at[n], gate="2") for n in range(2)]
    )
    for event_id, captured in zip(a2, at[:2], strict=True):
        mark(app, tenant_a, event_id, status="accepted", accepted_at=captured + on_time)
    # B gate 1 (the same gate code as A's): 1 on time, 1 accepted two hours late (50 %).
    b1 = ingest(app, tenant_b, [passage_body(f"冀B3000{n}", captured_at=at[n]) for n in range(2)])
    mark(app, tenant_b, b1[0], status="accepted", accepted_at=at[0] + on_time)
    mark(app, tenant_b, b1[1], status="accepted", accepted_at=at[1] + late)

    # Today: A one new passage (pending, due); B four in every other state.
    ingest(app, tenant_a, [passage_body("冀B40000", captured_at=now - timedelta(minutes=2))])
    b_today = ingest(
        app,
        tenant_b,
        [passage_body(f"冀B5000{n}", captured_at=now - timedelta(minutes=3)) for n in range(4)],
    )
    mark(app, tenant_b, b_today[0], status="sent", lease_until=now - timedelta(minutes=1))  # due
    mark(app, tenant_b, b_today[1], status="sent", lease_until=now + timedelta(minutes=5))
    mark(app, tenant_b, b_today[2], next_attempt_at=now + timedelta(minutes=10))  # backing off
    mark(app, tenant_b, b_today[3], status="dead")

    # Presence as the hub writes it: two bridges connected (two hubs), one gone offline.
    online = [uuid.uuid4(), uuid.uuid4()]
    for device_id, hub in zip(online, ("hub-a:1:aa", "hub-b:2:bb"), strict=True):
        bus.set_presence(
            client,
            device_id,
            online=1,
            hub=hub,
            connected_at=time.time(),
            outbox_depth=0,
            clock_skew_ms=12,
            software_version="test",
        )
    gone = uuid.uuid4()
    bus.set_presence(client, gone, online=1, hub="hub-a:1:aa")
    bus.mark_offline(client, gone, "hub-a:1:aa")
    client.set(bus.snapshot_key(uuid.uuid4()), "v1")  # another edge:* key, not presence

    # The empty platform's "no rate" for yesterday is cached: forget it (a new day would).
    client.delete(metrics._RATE_KEY + day.isoformat())
    expected = {
        "HubConnectedBridges": 2,
        "RegulatorUploadsDue": 3,  # A gate 1's 4th, A today, B's lapsed lease
        "RegulatorReportRateMin": 50.0,  # B gate 1
    }
    assert run_job(app, slot) == expected
    (line,) = emf_lines(capsys.readouterr().out)
    assert abs(line["_aws"].pop("Timestamp") - time.time() * 1000) < 60_000
    assert line == {
        "_aws": {
            "CloudWatchMetrics": [
                {
                    "Namespace": "CleanGate",
                    "Dimensions": [["Environment"]],
                    "Metrics": [
                        {"Name": "HubConnectedBridges", "Unit": "Count"},
                        {"Name": "RegulatorUploadsDue", "Unit": "Count"},
                        {"Name": "RegulatorReportRateMin", "Unit": "Percent"},
                    ],
                }
            ]
        },
        "Environment": "staging-1",
        **expected,
    }

    # METRICS_EMF off: the same job prints nothing.
    quiet = create_app(replace(app.config["CLEANGATE_SETTINGS"], metrics_emf=False))
    try:
        assert run_job(quiet, slot) == expected
    finally:
        get_database(quiet).dispose()
    assert capsys.readouterr().out == ""


def test_connected_bridges_are_counted_with_scan_in_batches() -> None:
    client = connect(_redis_url())
    _forget_metrics_state(client)
    try:
        pipe = client.pipeline(transaction=False)
        for n in range(1203):
            key = bus.presence_key(uuid.uuid4())
            pipe.hset(key, mapping={"online": "1" if n % 3 else "0", "hub": "h"})
            pipe.expire(key, bus.PRESENCE_TTL_SECONDS)
        pipe.execute()
        assert metrics.connected_bridges(client) == 802  # 1203 less every third (offline)
    finally:
        _forget_metrics_state(client)
