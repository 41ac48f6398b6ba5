"""RQ basics: tenant-carrying jobs, the in-process worker, the worker command, and one export
through the real Redis (skipped without it, a failure with CLEANGATE_REQUIRE_SERVICES=1)."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask
from rq import Queue, SimpleWorker, Worker

from saas import jobs
from saas.db import get_database
from saas.jobs.exports import enqueue_export
from saas.ledger import exports
from saas.tenancy import tenant_context
from tests import services
from tests.conftest import TenantFixture

# A job function that reports the tenant context it runs in.
CURRENT_TENANT = "saas.tenancy.current_tenant_id"


@pytest.fixture
def clean_queues(app: Flask) -> None:
    for name in jobs.QUEUE_NAMES:
        jobs.queue(name, app).empty()


def test_enqueue_carries_the_tenant_and_the_job_runs_in_it(
    app: Flask, tenant_a: TenantFixture, clean_queues: None
) -> None:
    with app.app_context():
        job = jobs.enqueue("default", CURRENT_TENANT, tenant_id=tenant_a.tenant_id)
        assert job.args == (CURRENT_TENANT, str(tenant_a.tenant_id))
        SimpleWorker([jobs.queue("default")], connection=jobs.redis_connection()).work(burst=True)
    job.refresh()
    assert job.return_value() == tenant_a.tenant_id


def test_enqueue_refuses_what_is_not_a_tenant_job(app: Flask, clean_queues: None) -> None:
    with app.app_context():
        with pytest.raises(TypeError):
            jobs.enqueue("default", CURRENT_TENANT, tenant_id=str(uuid.uuid4()))  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="must live in saas"):
            jobs.enqueue("default", "os.system", tenant_id=uuid.uuid4(), command="true")
        with pytest.raises(ValueError, match="not a job function"):
            jobs.enqueue("default", "saas.tenancy.NO_SUCH", tenant_id=uuid.uuid4())
        assert jobs.queue("default").count == 0


def test_embedded_worker_thread_runs_jobs(
    app: Flask, tenant_a: TenantFixture, clean_queues: None
) -> None:
    """No signal handlers or SIGALRM outside the main thread: the ThreadWorker copes."""
    with app.app_context():
        job = jobs.enqueue("default", CURRENT_TENANT, tenant_id=tenant_a.tenant_id)
    thread = jobs.start_embedded_worker(app, ("default",), burst=True)
    thread.join(timeout=30)
    assert not thread.is_alive()
    job.refresh()
    assert job.return_value() == tenant_a.tenant_id


def test_worker_command_refuses_the_embedded_redis(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 2
    assert "embedded://" in result.output


def test_export_job_through_the_real_redis(
    app: Flask, tenant_a: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The production path: a real Redis, RQ's forking Worker (one child per job, the app built
    once in the parent and its database pool dropped in the child)."""
    connection = services.real_redis()
    name = f"exports-test-{uuid.uuid4().hex[:8]}"
    queue = Queue(name, connection=connection)
    monkeypatch.setitem(app.extensions, "cleangate.redis", connection)
    monkeypatch.setitem(app.extensions["cleangate.queues"], "exports", queue)
    monkeypatch.setattr(jobs, "_WORKER_APP", None)  # restored after the test
    monkeypatch.setattr(jobs, "_WORKER_PID", None)
    try:
        with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
            row = exports.create_export(
                session,
                exports.ExportIn(kind="transport_vehicles", format="csv"),
                requested_by=None,
            )
        with app.app_context():
            enqueue_export(row)
            assert queue.count == 1
            jobs.bind_worker_app(app)
            Worker([queue], connection=connection).work(burst=True)
        with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
            done = session.get(exports.Export, row.id)
            assert done is not None
            assert done.status == "done", done.error
            assert done.storage_key == f"t/{tenant_a.tenant_id}/exports/{row.id}.csv"
        data = app.extensions["cleangate.storage"].get(done.storage_key)
        assert data.startswith(b"\xef\xbb\xbf\xe5\xba\x8f\xe5\x8f\xb7")  # BOM + 序号
    finally:
        queue.delete(delete_jobs=True)
