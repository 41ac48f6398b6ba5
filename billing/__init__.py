"""Billing: plans, subscriptions, metering, invoices, payments, dunning (issue 9; docs/billing.md).

Billing never gates the gate: ingest, the edge hub, the regulator relay and the board read
nothing from here. An overdue tenant loses only convenience features (``billing.dunning``).
``saas`` reaches this package only through ``init_app``, called from ``saas.app.create_app``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask


def init_app(app: Flask) -> None:
    from billing import cli, console, dunning, payments_web, portal
    from saas import scheduler

    app.register_blueprint(console.bp)  # /console/billing: plans, subscriptions, invoices
    app.register_blueprint(payments_web.bp)  # /console/billing/payments, WeChat Pay notify
    app.register_blueprint(portal.bp)  # /portal/billing: the tenant's invoices, pay by WeChat
    app.cli.add_command(cli.billing_group)
    dunning.install(app)  # overdue past grace → convenience features refused (saas.entitlements)
    # `cleangate scheduler` (docs/scheduler.md): the daily and monthly runs
    scheduler.register(app, "billing-dunning", at=(9, 0), fn=run_dunning)
    scheduler.register(
        app, "billing-monthly", monthly_day=1, at=(2, 0), fn=run_monthly, timeout=3600
    )


def run_dunning(app: Flask, slot: datetime) -> dict[str, Any]:
    """``cleangate billing dunning`` as of the slot's Beijing day."""
    from dataclasses import asdict

    from billing import dunning
    from billing.periods import beijing_date
    from saas.db import get_database

    settings = app.config["CLEANGATE_SETTINGS"]
    counts = dunning.run(
        get_database(app).sessionmaker,
        settings=settings.billing,
        notify=settings.notify,
        base_url=settings.base_url,
        today=beijing_date(slot),
    )
    if counts.failed_tenants:  # a failed RQ job: retried, and visible in the failed registry
        raise RuntimeError(f"billing-dunning: failed tenants {counts.failed_tenants}")
    return asdict(counts)


def run_monthly(app: Flask, slot: datetime) -> dict[str, Any]:
    """``cleangate billing meter`` then ``invoice`` for the Beijing month before the slot's,
    issued on the slot's day; each tenant in its own transaction, idempotent."""
    from billing import invoicing, metering, plans
    from billing.periods import Period, beijing_date
    from saas.db import get_database

    today = beijing_date(slot)
    period = Period.of(today).previous()
    database = get_database(app)
    with database.sessionmaker() as session:
        every_tenant = plans.all_tenant_ids(session)
        subscribed = plans.subscribed_tenant_ids(session)
    metered = metering.meter_all(database, period, every_tenant, actor_label="scheduler")
    results = invoicing.issue_for_tenants(
        database, subscribed, period, today=today, actor_label="scheduler"
    )
    statuses: dict[str, int] = {}
    for result in results:
        statuses[result.status] = statuses.get(result.status, 0) + 1
    errors = [f"{t}: {outcome}" for t, outcome in metered if isinstance(outcome, Exception)]
    errors += [f"{r.tenant_id}: {r.message}" for r in results if r.status == "error"]
    if errors:  # after every tenant was tried; a retry is idempotent (one invoice a month)
        raise RuntimeError(f"billing-monthly {period}: " + "; ".join(errors))
    return {"period": str(period), "metered": len(metered), "invoices": statuses}
