"""``cleangate billing dunning`` (docs/billing.md, "Dunning"): run it daily (cron or the
scheduler). Marks invoices overdue and queues reminders; idempotent within a day."""

from __future__ import annotations

import uuid
from datetime import date

import click
from flask import current_app
from flask.cli import with_appcontext

from billing import dunning
from saas.db import get_database


@click.command("dunning", help="Mark overdue invoices and queue payment reminders.")
@click.option(
    "--today",
    "today_text",
    metavar="YYYY-MM-DD",
    help="The Beijing date to act as of (default: today).",
)
@click.option(
    "--tenant",
    "tenants",
    multiple=True,
    type=click.UUID,
    help="Only this tenant (repeatable; default: every tenant).",
)
@with_appcontext
def dunning_command(today_text: str | None, tenants: tuple[uuid.UUID, ...]) -> None:
    today = None
    if today_text:
        try:
            today = date.fromisoformat(today_text)
        except ValueError:
            raise click.BadParameter("expected YYYY-MM-DD", param_hint="--today") from None
    settings = current_app.config["CLEANGATE_SETTINGS"]
    counts = dunning.run(
        get_database().sessionmaker,
        settings=settings.billing,
        notify=settings.notify,
        base_url=settings.base_url,
        today=today,
        tenant_ids=set(tenants) or None,
    )
    click.echo(
        f"tenants {counts.tenants}, marked overdue {counts.marked_overdue}, "
        f"invoices reminded {counts.reminders}, messages queued {counts.messages}"
    )
    if counts.failed_tenants:
        click.echo("failed tenants: " + ", ".join(counts.failed_tenants), err=True)
        raise SystemExit(1)
