"""Background jobs on RQ: queues bound to the app's Redis, a tenant-carrying enqueue, and the
wrapper every tenant job runs through.

Rules (CONVENTIONS.md, reliability-performance.md §4.4):

* every queue and worker gets ``connection=`` the app's Redis (``app.extensions
  ["cleangate.redis"]``) — never RQ's global connection;
* a tenant job carries ``tenant_id`` in its arguments and :func:`run_tenant_job` sets the
  tenant context first thing, so the ORM criteria and RLS bind inside the job as in a request;
* job functions run inside an app context of an app built once per worker process
  (:func:`worker_app`), not per job;
* one RQ job per unit of work (an export, a batch), never one per ledger record.

``REDIS_URL=embedded://`` keeps the substitute Redis inside the web process, so no separate
worker process can see its queues: jobs then run in a worker thread of that process
(:func:`start_embedded_worker`, for ``cleangate demo`` to start), and tests run
``SimpleWorker([queue], connection=...).work(burst=True)``.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import redis
from flask import Flask, current_app, has_app_context
from rq import Queue, Retry, SimpleWorker
from rq.job import Job
from rq.timeouts import TimerDeathPenalty

from saas.settings import EMBEDDED_REDIS
from saas.tenancy import tenant_context

log = logging.getLogger(__name__)

QUEUE_NAMES = ("exports", "default")
TENANT_JOB = "saas.jobs.run_tenant_job"
# Job functions are resolved by dotted path; only our own code may be named.
ALLOWED_PREFIX = "saas."


def init_app(app: Flask) -> None:
    from saas.jobs.cli import worker_command

    connection = app.extensions["cleangate.redis"]
    app.extensions["cleangate.queues"] = {
        name: Queue(name, connection=connection) for name in QUEUE_NAMES
    }
    app.cli.add_command(worker_command)


def queue(name: str, app: Flask | None = None) -> Queue:
    queues: dict[str, Queue] = (app or current_app).extensions["cleangate.queues"]
    return queues[name]


def redis_connection(app: Flask | None = None) -> redis.Redis:
    return (app or current_app).extensions["cleangate.redis"]  # type: ignore[no-any-return]


def uses_embedded_redis(app: Flask | None = None) -> bool:
    settings = (app or current_app).config["CLEANGATE_SETTINGS"]
    return bool(settings.redis_url == EMBEDDED_REDIS)


def enqueue(
    name: str,
    func_path: str,
    *,
    tenant_id: uuid.UUID,
    job_id: str | None = None,
    timeout: int | None = None,
    retry: Retry | None = None,
    **kwargs: Any,
) -> Job:
    """Enqueue ``func_path(**kwargs)`` to run for ``tenant_id`` (through :func:`run_tenant_job`).

    ``job_id`` makes the enqueue idempotent per unit of work (RQ replaces a job of that id)."""
    if not isinstance(tenant_id, uuid.UUID):
        raise TypeError("tenant_id must be a UUID")
    _resolve(func_path)  # fail at enqueue time, not in the worker
    return queue(name).enqueue_call(
        TENANT_JOB,
        args=(func_path, str(tenant_id)),
        kwargs=kwargs,
        job_id=job_id,
        timeout=timeout,
        retry=retry,
        failure_ttl=7 * 24 * 3600,
        result_ttl=24 * 3600,
        description=f"{func_path} tenant={tenant_id}",
    )


def schedule_tenant_job(
    app: Flask, queue_name: str, func_path: str, due: datetime, *, prefix: str, timeout: int
) -> None:
    """One delayed run of ``func_path`` for the current tenant at ``due`` (outbox retries);
    the job id makes a second schedule for the same second a no-op. RQ keeps whole seconds:
    round up, or the job would wake just before the row is due."""
    from saas.db import utcnow
    from saas.tenancy import current_tenant_id

    when = max(due, utcnow()).replace(microsecond=0) + timedelta(seconds=1)
    tenant_id = current_tenant_id()
    try:
        queue(queue_name, app).enqueue_at(
            when,
            TENANT_JOB,
            func_path,
            str(tenant_id),
            job_id=f"{prefix}-retry-{tenant_id.hex}-{int(when.timestamp())}",
            job_timeout=timeout,
            result_ttl=3600,
            failure_ttl=7 * 24 * 3600,
        )
    except (redis.RedisError, OSError):
        log.exception("%s: could not schedule the retry of tenant %s", prefix, tenant_id)


def default_retry(app: Flask | None = None) -> Retry:
    """Two retries. Delayed retries need RQ's scheduler, which runs with the worker process;
    the embedded in-process worker has none, so there the retries are immediate."""
    if uses_embedded_redis(app):
        return Retry(max=2)
    return Retry(max=2, interval=[30, 120])


def run_tenant_job(func_path: str, tenant_id: str, **kwargs: Any) -> Any:
    """What RQ executes: an app context of the worker's app, then the tenant context, then the
    job function. A job never runs without the tenant it was enqueued for."""
    tenant = uuid.UUID(tenant_id)
    func = _resolve(func_path)
    app = worker_app()
    with app.app_context(), tenant_context(tenant):
        return func(**kwargs)


def _resolve(func_path: str) -> Callable[..., Any]:
    if not func_path.startswith(ALLOWED_PREFIX) or "." not in func_path:
        raise ValueError(f"job function must live in {ALLOWED_PREFIX}*: {func_path!r}")
    module_name, _, attr = func_path.rpartition(".")
    func = getattr(importlib.import_module(module_name), attr, None)
    if not callable(func):
        raise ValueError(f"not a job function: {func_path!r}")
    return func  # type: ignore[no-any-return]


# --- the worker's app ---------------------------------------------------------------------------

_WORKER_APP: Flask | None = None
_WORKER_PID: int | None = None


def bind_worker_app(app: Flask) -> None:
    """Use ``app`` for the jobs of this process (``cleangate worker`` binds the app it runs in)."""
    global _WORKER_APP, _WORKER_PID
    _WORKER_APP, _WORKER_PID = app, os.getpid()


def worker_app() -> Flask:
    """The app jobs run in: the current one (embedded thread worker, tests), else the one bound
    to this worker, else one built from the environment — once per process. In the child a
    forking worker runs each job in, the inherited database pool is dropped without closing
    the parent's connections (SQLAlchemy's fork recipe)."""
    global _WORKER_PID
    if has_app_context():
        app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    else:
        if _WORKER_APP is None:
            from saas.app import create_app

            bind_worker_app(create_app())
        assert _WORKER_APP is not None
        app = _WORKER_APP
    if app is _WORKER_APP and os.getpid() != _WORKER_PID:
        from saas.db import get_database

        get_database(app).engine.dispose(close=False)
        _WORKER_PID = os.getpid()
    return app


# --- in-process worker (embedded Redis) --------------------------------------------------------


class ThreadWorker(SimpleWorker):
    """A SimpleWorker that can live in a non-main thread: no signal handlers, and job timeouts
    by timer instead of SIGALRM (both are main-thread-only in Python)."""

    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass


@contextmanager
def _pushed(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield


def start_embedded_worker(
    app: Flask, queues: tuple[str, ...] = QUEUE_NAMES, *, burst: bool = False
) -> threading.Thread:
    """Run jobs in a daemon thread of this process: the only way to work the queues of the
    embedded Redis (it exists only inside this process). ``burst`` stops when they are empty."""
    worker = ThreadWorker([queue(n, app) for n in queues], connection=redis_connection(app))

    def run() -> None:
        with _pushed(app):
            worker.work(burst=burst, logging_level="WARNING")

    thread = threading.Thread(target=run, name="cleangate-embedded-worker", daemon=True)
    thread.start()
    return thread


def start_stoppable_worker(
    app: Flask,
    stop: threading.Event,
    queues: tuple[str, ...] = QUEUE_NAMES,
    *,
    poll: float = 0.2,
) -> threading.Thread:
    """Work the queues in a thread of this process until ``stop`` is set (``cleangate demo``, on
    the embedded or a real Redis). Bursts back to back: a stop takes effect after the job in
    hand plus ``poll`` seconds — a blocking worker would sit in its dequeue for minutes, so a
    finished demo inside a test run would go on taking other tests' jobs. Each burst first
    moves due scheduled jobs (delayed retries) to their queues, as ``cleangate worker``'s
    scheduler does."""

    def run() -> None:
        with _pushed(app):
            while not stop.is_set():
                worker = ThreadWorker(
                    [queue(n, app) for n in queues], connection=redis_connection(app)
                )
                try:
                    worker.work(burst=True, with_scheduler=True, logging_level="WARNING")
                except (redis.RedisError, OSError) as exc:
                    log.error("worker: Redis error (%s); retrying", exc)
                stop.wait(poll)

    thread = threading.Thread(target=run, name="cleangate-worker", daemon=True)
    thread.start()
    return thread
