"""RQ side of the regulator relay: the job, the trigger after COMMIT, delayed retries and the
daily per-gate counts (docs/regulator.md).

* ``trigger_relay(app, tenant)`` — after a transaction wrote upload rows: one job per tenant
  (``regulator-<tenant>``; enqueueing again while it waits replaces it rather than adding one).
* ``run_relay`` — the job, in the tenant's context (``saas.jobs.run_tenant_job``); when rows
  wait for a retry it schedules one more job at the earliest retry time (RQ's scheduler runs in
  ``cleangate worker``; on the embedded Redis the ``cleangate scheduler``'s 30-second relay
  sweep, or ``cleangate regulator relay --loop``, picks them up).
* ``run_daily_counts`` — the tenant's daily per-gate counts of one Beijing day (yesterday by
  default), for the scheduler to enqueue after midnight Beijing time.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, timedelta

import redis
from flask import Flask, current_app
from sqlalchemy import select

from saas import jobs
from saas.db import get_database, utcnow
from saas.models.regulator import RegulatorConfig
from saas.models.tenancy import Site
from saas.regulator import outbox
from saas.regulator import relay as relay_module

log = logging.getLogger(__name__)

QUEUE = "default"
FUNC = "saas.regulator.jobs.run_relay"
DAILY_FUNC = "saas.regulator.jobs.run_daily_counts"
TIMEOUT = 15 * 60


def trigger_relay(app: Flask, tenant_id: uuid.UUID) -> None:
    """Enqueue a relay job for ``tenant_id``; a Redis failure is logged, not raised (the rows
    are committed and the sweep will send them)."""
    try:
        with app.app_context():
            jobs.enqueue(
                QUEUE,
                FUNC,
                tenant_id=tenant_id,
                job_id=f"regulator-{tenant_id.hex}",
                timeout=TIMEOUT,
            )
    except (redis.RedisError, OSError):
        log.exception("regulator: could not enqueue the relay job of tenant %s", tenant_id)


def run_relay(batch: int = 1000) -> dict[str, int]:
    """The job: relay this tenant's due rows, then schedule the next retry if any."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    counts = relay_module.relay_app(app, batch=batch)
    schedule_retry(app)
    return counts.as_dict()


def schedule_retry(app: Flask) -> None:
    """One delayed job at the earliest pending retry of the current tenant."""
    if jobs.uses_embedded_redis(app):
        return
    due = relay_module.next_due(get_database(app).sessionmaker)
    if due is None:
        return
    jobs.schedule_tenant_job(app, QUEUE, FUNC, due, prefix="regulator", timeout=TIMEOUT)


def beijing_yesterday(now: datetime | None = None) -> date:
    now = now or utcnow()
    return (now + outbox.BEIJING_OFFSET).date() - timedelta(days=1)


def run_daily_counts(day: str | None = None) -> int:
    """Queue the daily per-gate counts of ``day`` (ISO date; default yesterday in Beijing) for
    every site of the current tenant that has an active platform configuration; commits."""
    target = date.fromisoformat(day) if day else beijing_yesterday()
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    written = 0
    with get_database(app).sessionmaker() as session:
        sites = session.scalars(
            select(Site).where(
                Site.id.in_(select(RegulatorConfig.site_id).where(RegulatorConfig.active.is_(True)))
            )
        ).all()
        for site in sites:
            written += outbox.enqueue_daily_counts(session, site, target)
        session.commit()
    return written
