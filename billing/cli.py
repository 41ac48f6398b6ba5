"""``cleangate billing …`` (issue 9; docs/billing.md).

``seed`` adds the built-in plans and add-ons (idempotent); ``meter`` and ``invoice`` run the
monthly jobs for a Beijing month (default: the previous one), every tenant in its own
transaction and tenant context, one JSON object per tenant on stdout. Exit status 1 when a
tenant failed (the others are still done).
"""

from __future__ import annotations

import json
import sys
from datetime import date

import click
from flask.cli import AppGroup

from billing import dunning_cli, invoicing, metering, plans
from billing.periods import BadPeriod, Period, beijing_today
from saas.db import get_database


@click.group("billing", help="Billing: plans, invoices, payments, dunning.", cls=AppGroup)
def billing_group() -> None:
    pass


def _period(text: str | None) -> Period:
    if not text:
        return Period.of(beijing_today()).previous()
    try:
        return Period.parse(text)
    except BadPeriod as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from None


def _echo(data: dict[str, object]) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, sort_keys=True))


@billing_group.command("seed")
def seed() -> None:
    """Add the built-in plans and add-ons that are missing (never changes a stored price)."""
    with get_database().sessionmaker() as session:
        result = plans.seed_catalogue(session, actor_label="cli")
        session.commit()
    _echo(result)  # type: ignore[arg-type]


@billing_group.command("meter")
@click.option("--period", "period_text", default=None, help="YYYY-MM (default: last month)")
def meter(period_text: str | None) -> None:
    """Meter every tenant's month (sites, lanes, passages, SMS, storage) into usage records."""
    period = _period(period_text)
    database = get_database()
    with database.sessionmaker() as session:
        tenant_ids = plans.all_tenant_ids(session)
    failed = False
    for tenant_id, outcome in metering.meter_all(database, period, tenant_ids, actor_label="cli"):
        if isinstance(outcome, Exception):
            failed = True
            _echo({"tenant_id": str(tenant_id), "period": str(period), "error": str(outcome)})
        else:
            figures = {k: str(v) for k, v in outcome.metrics().items()}
            _echo({"tenant_id": str(tenant_id), "period": str(period), **figures})
    if failed:
        sys.exit(1)


@billing_group.command("invoice")
@click.option("--period", "period_text", default=None, help="YYYY-MM (default: last month)")
@click.option(
    "--issued-on",
    "issued_on",
    default=None,
    help="issue date YYYY-MM-DD (default: today, Beijing); due 15 days later",
)
def invoice(period_text: str | None, issued_on: str | None) -> None:
    """Issue the month's invoice of every subscribed tenant (idempotent)."""
    period = _period(period_text)
    try:
        today = date.fromisoformat(issued_on) if issued_on else beijing_today()
    except ValueError:
        raise click.BadParameter("YYYY-MM-DD", param_hint="--issued-on") from None
    database = get_database()
    with database.sessionmaker() as session:
        tenant_ids = plans.subscribed_tenant_ids(session)
    results = invoicing.issue_for_tenants(
        database, tenant_ids, period, today=today, actor_label="cli"
    )
    for result in results:
        _echo({"period": str(period), **result.as_dict()})
    if any(r.status == "error" for r in results):
        sys.exit(1)


billing_group.add_command(dunning_cli.dunning_command)
