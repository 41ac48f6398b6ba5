"""RQ side of the relay: the job, the trigger after COMMIT, and delayed retries.

* ``trigger_relay(app, tenant, cause)`` — after a transaction wrote notices: one job per
  tenant and cause (``notify-<tenant>-<cause>``; enqueueing the same cause again replaces the
  job rather than adding one).
* ``run_relay`` — what the job runs, in the tenant's context (``saas.jobs.run_tenant_job``).
  When messages of the tenant wait for a retry it schedules one more job at the earliest
  retry time (RQ's scheduler runs inside ``cleangate worker``); the embedded Redis has no
  scheduler, there ``cleangate notify relay --loop`` (or cron) picks the retries up.
"""

from __future__ import annotations

import logging
import uuid

import redis
from flask import Flask, current_app

from saas import jobs
from saas.db import get_database
from saas.notify import relay as relay_module

log = logging.getLogger(__name__)

QUEUE = "default"
FUNC = "saas.notify.jobs.run_relay"
TIMEOUT = 15 * 60


def trigger_relay(app: Flask, tenant_id: uuid.UUID, cause: str) -> None:
    """Enqueue a relay job for ``tenant_id``; a Redis failure is logged, not raised (the data
    is committed and the sweep will deliver it)."""
    try:
        with app.app_context():
            jobs.enqueue(
                QUEUE,
                FUNC,
                tenant_id=tenant_id,
                job_id=f"notify-{tenant_id.hex}-{cause}"[:120],
                timeout=TIMEOUT,
            )
    except (redis.RedisError, OSError):
        log.exception("notify: could not enqueue the relay job of tenant %s", tenant_id)


def run_relay(batch: int = 100) -> dict[str, int]:
    """The job: relay this tenant's due messages, then schedule the next retry if any."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    counts = relay_module.relay_app(app, batch=batch)
    schedule_retry(app)
    return counts.as_dict()


def schedule_retry(app: Flask) -> None:
    """One delayed job at the earliest pending retry of the current tenant (not on the
    embedded Redis, which has no scheduler)."""
    if jobs.uses_embedded_redis(app):
        return
    due = relay_module.next_due(get_database(app).sessionmaker)
    if due is None:
        return
    jobs.schedule_tenant_job(app, QUEUE, FUNC, due, prefix="notify", timeout=TIMEOUT)
