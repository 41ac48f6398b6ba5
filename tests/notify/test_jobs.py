"""After COMMIT a relay job is enqueued (RQ); the job delivers in the tenant's context; a
failed send schedules a retry job; the CLI sweep; Redis being down never loses a message."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from rq import SimpleWorker
from rq.registry import ScheduledJobRegistry

from saas import jobs
from saas.app import create_app
from saas.db import get_database
from saas.notify.cli import notify_group
from saas.policy import alerts
from saas.settings import NotifySettings
from tests import services
from tests.conftest import TenantFixture
from tests.notify import fakes as f
from tests.notify.conftest import add_contact, outbox_rows, settings_for


def _app_with(app: Flask, notify: NotifySettings, **changes: object) -> Flask:
    """The test app's database, with the notification channels pointed at the fakes."""
    base = app.config["CLEANGATE_SETTINGS"]
    return create_app(replace(base, notify=notify, **changes))


@pytest.fixture
def notify_app(app: Flask, servers: f.Fakes, tmp_path: Path) -> Iterator[Flask]:
    built = _app_with(app, settings_for(servers, tmp_path))
    jobs.queue("default", built).empty()
    yield built
    jobs.queue("default", built).empty()
    get_database(built).dispose()


def _issue(app: Flask, tenant: TenantFixture, *, commit: bool = True) -> uuid.UUID:
    with app.app_context(), get_database(app).sessionmaker() as session:
        alert = alerts.issue(
            session,
            level="orange",
            starts_at=datetime.now(UTC) + timedelta(hours=1),
            site_id=tenant.site_id,
            source="import:test",
            external_id=uuid.uuid4().hex,
        )
        if commit:
            session.commit()
        else:
            session.rollback()
        return alert.id


def test_commit_enqueues_one_relay_job_which_delivers_in_the_tenant_context(
    notify_app: Flask, tenant_a: TenantFixture, servers: f.Fakes
) -> None:
    add_contact(notify_app, tenant_a, phone="13800138020")
    add_contact(notify_app, tenant_a, phone="13800138021")
    alert_id = _issue(notify_app, tenant_a)
    queue = jobs.queue("default", notify_app)
    assert queue.job_ids == [f"notify-{tenant_a.tenant_id.hex}-alert-{alert_id.hex}-started"]
    job = queue.fetch_job(queue.job_ids[0])
    assert job is not None
    assert job.args == ("saas.notify.jobs.run_relay", str(tenant_a.tenant_id))
    with notify_app.app_context():
        SimpleWorker([queue], connection=jobs.redis_connection(notify_app)).work(burst=True)
    job.refresh()
    assert job.return_value() == {
        "claimed": 2, "sent": 2, "retried": 0, "failed": 0, "dead": 0, "lost": 0,
    }  # fmt: skip
    assert {r.status for r in outbox_rows(notify_app, tenant_a)} == {"sent"}
    assert sorted(d["PhoneNumbers"] for d in servers.aliyun.delivered) == [
        "13800138020",
        "13800138021",
    ]


def test_a_rollback_enqueues_nothing(notify_app: Flask, tenant_a: TenantFixture) -> None:
    add_contact(notify_app, tenant_a, phone="13800138022")
    _issue(notify_app, tenant_a, commit=False)
    assert jobs.queue("default", notify_app).count == 0
    assert outbox_rows(notify_app, tenant_a) == []


def test_redis_down_at_commit_loses_nothing_and_the_sweep_delivers(
    app: Flask, tenant_a: TenantFixture, servers: f.Fakes, tmp_path: Path
) -> None:
    broken = _app_with(app, settings_for(servers, tmp_path), redis_url="redis://127.0.0.1:9/0")
    try:
        add_contact(broken, tenant_a, phone="13800138023")
        _issue(broken, tenant_a)  # the trigger fails; the transaction stands
        [row] = outbox_rows(broken, tenant_a)
        assert row.status == "pending"
        runner = broken.test_cli_runner()
        result = runner.invoke(notify_group, ["relay", "--tenant", str(tenant_a.tenant_id)])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output.strip().splitlines()[-1])["sent"] == 1
        assert [r.status for r in outbox_rows(broken, tenant_a)] == ["sent"]
    finally:
        get_database(broken).dispose()


def test_the_sweep_relays_every_tenant_with_due_messages(
    notify_app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture, servers: f.Fakes
) -> None:
    for tenant in (tenant_a, tenant_b):
        add_contact(notify_app, tenant, phone="13800138024")
        with get_database(notify_app).sessionmaker() as session:  # no app context: no trigger
            alerts.issue(session, level="red", starts_at=datetime.now(UTC) + timedelta(hours=2),
                         site_id=tenant.site_id, source="import:test",
                         external_id=uuid.uuid4().hex)  # fmt: skip
            session.commit()
    assert jobs.queue("default", notify_app).count == 0
    result = notify_app.test_cli_runner().invoke(notify_group, ["relay"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.strip().splitlines()[-1])["sent"] >= 2
    for tenant in (tenant_a, tenant_b):
        assert [r.status for r in outbox_rows(notify_app, tenant)] == ["sent"]


def test_real_redis_job_schedules_the_retry_at_the_backoff_time(
    app: Flask, tenant_a: TenantFixture, servers: f.Fakes, tmp_path: Path
) -> None:
    connection = services.real_redis()
    settings = settings_for(servers, tmp_path, retry_base_seconds=1, retry_max_seconds=2)
    real = _app_with(app, settings, redis_url=services.REDIS_URL)
    queue = jobs.queue("default", real)
    queue.empty()
    registry = ScheduledJobRegistry(queue=queue)
    for stale in registry.get_job_ids():
        registry.remove(stale, delete_job=True)
    try:
        add_contact(real, tenant_a, phone="13800138025")
        servers.aliyun.fail_next(1, 502)
        _issue(real, tenant_a)
        assert queue.count == 1
        with real.app_context():
            SimpleWorker([queue], connection=connection).work(burst=True)
        [row] = outbox_rows(real, tenant_a)
        assert (row.status, row.attempts) == ("pending", 1)
        [retry_id] = registry.get_job_ids()
        assert retry_id.startswith(f"notify-retry-{tenant_a.tenant_id.hex}-")
        scheduled = registry.get_scheduled_time(retry_id)
        assert abs((scheduled - row.next_attempt_at).total_seconds()) <= 1.5
        time.sleep(max(0.0, (scheduled - datetime.now(UTC)).total_seconds()) + 0.5)
        with real.app_context():
            SimpleWorker([queue], connection=connection).work(burst=True, with_scheduler=True)
        [row] = outbox_rows(real, tenant_a)
        assert (row.status, row.attempts) == ("sent", 2)
    finally:
        queue.empty()
        for stale in registry.get_job_ids():
            registry.remove(stale, delete_job=True)
        get_database(real).dispose()


def test_an_alert_issued_over_the_api_queues_and_triggers_in_the_request(
    notify_app: Flask, tenant_a: TenantFixture, servers: f.Fakes
) -> None:
    from saas.models.identity import Role
    from tests.conftest import api_csrf, login, make_user
    from tests.notify.conftest import fresh_region, place_site

    region = fresh_region("15")
    place_site(notify_app, tenant_a, region)
    add_contact(notify_app, tenant_a, phone="13800138026")
    staff = make_user(notify_app, Role.PROVIDER_OPS, None)
    client = notify_app.test_client()
    assert login(client, staff.username) == 302
    response = client.post(
        "/api/v1/alerts",
        json={"level": "yellow", "region_code": region[:4] + "00",
              "starts_at": (datetime.now(UTC) + timedelta(hours=3)).isoformat()},
        headers={"X-CSRFToken": api_csrf(client)},
    )  # fmt: skip
    assert response.status_code == 201, response.get_json()
    alert_id = uuid.UUID(response.get_json()["id"])
    queue = jobs.queue("default", notify_app)
    assert f"notify-{tenant_a.tenant_id.hex}-alert-{alert_id.hex}-started" in queue.job_ids
    with notify_app.app_context():
        SimpleWorker([queue], connection=jobs.redis_connection(notify_app)).work(burst=True)
    [row] = outbox_rows(notify_app, tenant_a)
    assert row.status == "sent"
    assert "黄色预警" in row.payload["text"]
    assert servers.aliyun.delivered[-1]["PhoneNumbers"] == "13800138026"
