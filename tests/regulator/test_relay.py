"""The relay against a real local HTTP receiver: batches, per-record verdicts (平台信息), build
errors, retries with backoff, the per-endpoint circuit breaker, dead rows, 补传 singly and in
bulk (tenant-scoped), and at-least-once delivery across a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from saas.db import get_database
from saas.models.identity import AuditEvent
from saas.regulator.relay import Breaker, resend
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture
from tests.regulator.conftest import (
    POLICY,
    Receiver,
    ingest,
    make_config,
    passage_body,
    run_relay,
    until,
    uploads,
)

ROOT = Path(__file__).resolve().parents[2]


def test_delivers_in_batches_and_records_acceptance(
    app: Flask, tenant_a: TenantFixture, receiver: Receiver, breaker_redis: redis.Redis
) -> None:
    make_config(app, tenant_a, receiver.url)
    ids = ingest(
        app, tenant_a, [passage_body(f"冀B1234{n}", gate="2", lane="01") for n in range(7)]
    )
    counts = run_relay(app, tenant_a, breaker_redis)
    assert (counts.claimed, counts.accepted, counts.rejected) == (7, 7, 0)
    assert [len(keys) for keys in receiver.requests] == [5, 2]  # adapter.max_batch = 5
    assert sorted(receiver.accepted) == sorted(f"passage:{i}" for i in ids)
    payload = receiver.accepted[f"passage:{ids[0]}"]
    assert (payload["carNo"], payload["gate"], payload["lane"]) == ("冀B12340", "2", "01")
    for row in uploads(app, tenant_a):
        assert (row.status, row.attempts, row.platform_message) == ("accepted", 1, "成功")
        assert row.accepted_at is not None
        assert row.lease_until is None
    assert run_relay(app, tenant_a, breaker_redis).claimed == 0  # nothing goes twice


def test_rejection_and_build_error_are_per_record(
    app: Flask, tenant_a: TenantFixture, receiver: Receiver, breaker_redis: redis.Redis
) -> None:
    make_config(app, tenant_a, receiver.url)
    good, refused, unmappable = ingest(
        app,
        tenant_a,
        [passage_body("冀B00001"), passage_body("冀B00002"), passage_body("无法映射")],
    )
    receiver.reject[f"passage:{refused}"] = "车牌颜色代码不合法"
    counts = run_relay(app, tenant_a, breaker_redis)
    assert (counts.accepted, counts.rejected) == (1, 2)
    rows = {r.source_id: r for r in uploads(app, tenant_a)}
    assert rows[good].status == "accepted"
    assert (rows[refused].status, rows[refused].platform_code) == ("rejected", "E400")
    assert rows[refused].platform_message == "车牌颜色代码不合法"
    assert (rows[unmappable].status, rows[unmappable].platform_code) == ("rejected", "build_error")
    assert "plate_color" in (rows[unmappable].platform_message or "")
    assert f"passage:{unmappable}" not in receiver.seen_keys()  # never sent


def test_5xx_retries_with_backoff_then_delivers(
    app: Flask, tenant_a: TenantFixture, receiver: Receiver, breaker_redis: redis.Redis
) -> None:
    make_config(app, tenant_a, receiver.url)
    ingest(app, tenant_a, [passage_body()])
    receiver.fail = 1
    now = datetime.now(UTC)
    counts = run_relay(app, tenant_a, breaker_redis, at=now)
    assert (counts.claimed, counts.retried) == (1, 1)
    [row] = uploads(app, tenant_a)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "transport: HTTP 503")
    wait = (row.next_attempt_at - now).total_seconds()
    assert 30 <= wait <= 33  # base 30 s plus up to 10 % jitter
    assert run_relay(app, tenant_a, breaker_redis, at=now + timedelta(seconds=10)).claimed == 0
    counts = run_relay(app, tenant_a, breaker_redis, at=now + timedelta(seconds=40))
    assert counts.accepted == 1
    [row] = uploads(app, tenant_a)
    assert (row.status, row.attempts, row.last_error) == ("accepted", 2, None)


def test_breaker_opens_after_consecutive_failures_and_closes_after_probe(
    app: Flask, tenant_a: TenantFixture, receiver: Receiver, breaker_redis: redis.Redis
) -> None:
    make_config(app, tenant_a, receiver.url)
    ids = ingest(app, tenant_a, [passage_body(f"冀B2000{n}") for n in range(12)])
    receiver.fail = -1
    breaker = Breaker(breaker_redis, POLICY, 60)
    t0 = datetime.now(UTC)
    for step in range(3):  # breaker_failures = 3
        assert breaker.state(receiver.url, t0 + timedelta(seconds=40 * step)) == "closed"
        run_relay(app, tenant_a, breaker_redis, at=t0 + timedelta(seconds=40 * step))
    assert receiver.hits == 3  # one failed batch per sweep: the rest is left for later
    assert breaker.state(receiver.url, t0 + timedelta(seconds=81)) == "open"
    # open: rows are due but nothing is claimed or sent
    counts = run_relay(app, tenant_a, breaker_redis, at=t0 + timedelta(seconds=150))
    assert (counts.claimed, counts.skipped_open) == (0, 1)
    assert receiver.hits == 3
    assert {r.status for r in uploads(app, tenant_a)} == {"pending"}
    # after the cool-down one probe; it fails → open again at once
    probe_at = t0 + timedelta(seconds=201)
    assert breaker.state(receiver.url, probe_at) == "half_open"
    run_relay(app, tenant_a, breaker_redis, at=probe_at)
    assert receiver.hits == 4
    assert breaker.state(receiver.url, probe_at) == "open"
    # the platform is back: the next probe succeeds, the breaker closes, the backlog drains
    receiver.fail = 0
    done_at = t0 + timedelta(seconds=400)
    counts = run_relay(app, tenant_a, breaker_redis, at=done_at)
    assert counts.accepted == 12
    assert breaker.state(receiver.url, done_at) == "closed"
    assert sorted(receiver.accepted) == sorted(f"passage:{i}" for i in ids)


def test_dead_after_max_attempts(
    app: Flask, tenant_a: TenantFixture, receiver: Receiver, breaker_redis: redis.Redis
) -> None:
    make_config(app, tenant_a, receiver.url)
    ingest(app, tenant_a, [passage_body()])
    receiver.fail = -1
    policy = replace(POLICY, breaker_failures=100)
    t0 = datetime.now(UTC)
    for step in range(4):  # max_attempts = 4
        run_relay(app, tenant_a, breaker_redis, at=t0 + timedelta(hours=step), policy=policy)
    [row] = uploads(app, tenant_a)
    assert (row.status, row.attempts, row.last_error) == ("dead", 4, "transport: HTTP 503")
    assert run_relay(app, tenant_a, breaker_redis, at=t0 + timedelta(days=1)).claimed == 0


def test_resend_single_and_bulk_with_audit_and_tenant_scoping(
    app: Flask,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    receiver: Receiver,
    breaker_redis: redis.Redis,
) -> None:
    make_config(app, tenant_a, receiver.url)
    ids = ingest(app, tenant_a, [passage_body(f"冀B3000{n}") for n in range(3)])
    for event_id in ids:
        receiver.reject[f"passage:{event_id}"] = "企业编码错误"
    run_relay(app, tenant_a, breaker_redis)
    rows = uploads(app, tenant_a)
    assert {r.status for r in rows} == {"rejected"}
    receiver.reject.clear()  # the enterprise fixed its code at the platform

    # tenant B cannot re-send A's rows, singly or in bulk
    with tenant_context(tenant_b.tenant_id), get_database(app).sessionmaker() as session:
        assert resend(session, [rows[0].id]) == 0
        assert resend(session, site_id=tenant_a.site_id) == 0
        with pytest.raises(ValueError, match=r"^status"):
            resend(session, status=("pending",))
        session.commit()
    assert {r.status for r in uploads(app, tenant_a)} == {"rejected"}

    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        assert resend(session, [rows[0].id], actor_id=tenant_a.admin_id) == 1
        session.commit()
    single = {r.id: r for r in uploads(app, tenant_a)}[rows[0].id]
    assert (single.status, single.attempts) == ("pending", 0)
    assert run_relay(app, tenant_a, breaker_redis).accepted == 1

    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        assert resend(session, site_id=tenant_a.site_id, actor_id=tenant_a.admin_id) == 2
        session.commit()
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.event == "regulator.resend")
        ).all()
        assert sorted(e.details["count"] for e in events) == [1, 2]
        assert all(e.tenant_id == tenant_a.tenant_id for e in events)
    assert run_relay(app, tenant_a, breaker_redis).accepted == 2
    assert {r.status for r in uploads(app, tenant_a)} == {"accepted"}
    assert sorted(receiver.accepted) == sorted(f"passage:{i}" for i in ids)


# --- SIGKILL mid-batch ----------------------------------------------------------------------------

RELAY_SCRIPT = textwrap.dedent(
    """
    import sys, threading, uuid
    import tests.regulator.conftest  # registers the test adapter
    from saas.app import create_app
    from saas.regulator.relay import run_loop
    app = create_app()
    run_loop(app, interval=0.2, stop=threading.Event(), tenant_id=uuid.UUID(sys.argv[1]), batch=5)
    """
)


def _relay_process(app: Flask, tenant: TenantFixture, var: Path) -> subprocess.Popen[bytes]:
    settings = app.config["CLEANGATE_SETTINGS"]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(ROOT),
        "CLEANGATE_VAR_DIR": str(var),
        "DATABASE_URL": settings.database_url,
        "REGULATOR_MASTER_KEYS": settings.regulator_master_keys,
        "REGULATOR_LEASE_SECONDS": "2",
    }
    command = [sys.executable, "-c", RELAY_SCRIPT, str(tenant.tenant_id)]
    return subprocess.Popen(
        command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


@pytest.mark.timeout(240)
def test_sigkill_mid_batch_then_restart_delivers_everything(
    app: Flask, tenant_a: TenantFixture, receiver: Receiver, tmp_path: Path
) -> None:
    total = 40
    make_config(app, tenant_a, receiver.url)
    ids = ingest(app, tenant_a, [passage_body(f"冀B4{n:04d}") for n in range(total)])
    receiver.delay = 0.3  # a slow platform: the kill lands inside a batch
    first = _relay_process(app, tenant_a, tmp_path)
    try:
        until(lambda: receiver.hits >= 3 or first.poll() is not None, 90)
        assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == -signal.SIGKILL
    accepted_before = sum(r.status == "accepted" for r in uploads(app, tenant_a))
    assert accepted_before < total  # killed mid-way: work was left over

    second = _relay_process(app, tenant_a, tmp_path)
    try:
        until(
            lambda: (
                all(r.status == "accepted" for r in uploads(app, tenant_a))
                or second.poll() is not None
            ),
            120,
        )
        assert second.poll() is None, second.stderr.read().decode() if second.stderr else ""
    finally:
        second.send_signal(signal.SIGKILL)
        second.wait(timeout=20)
    rows = uploads(app, tenant_a)
    assert len(rows) == total
    assert {r.status for r in rows} == {"accepted"}
    assert sorted(receiver.accepted) == sorted(f"passage:{i}" for i in ids)  # every key, once
    seen = receiver.seen_keys()
    duplicates = len(seen) - len(set(seen))
    assert duplicates <= 5  # at most the batch in flight when the first relay died
