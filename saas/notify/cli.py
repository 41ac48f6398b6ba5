"""``cleangate notify relay [--loop]``: deliver due notifications of every tenant (cron, demo,
or a long-running process next to the workers)."""

from __future__ import annotations

import json
import signal
import threading
import uuid
from types import FrameType

import click
from flask import current_app
from flask.cli import AppGroup

from saas.notify import relay as relay_module
from saas.tenancy import tenant_context


@click.group("notify", help="Site-contact notifications: the outbox relay.", cls=AppGroup)
def notify_group() -> None:
    pass


@notify_group.command("relay")
@click.option("--loop", is_flag=True, help="Keep relaying until SIGTERM/SIGINT.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between sweeps.")
@click.option("--batch", default=100, show_default=True, help="Messages per tenant per sweep.")
@click.option("--tenant", "tenant_id", type=click.UUID, default=None, help="Only this tenant.")
def relay_command(loop: bool, interval: float, batch: int, tenant_id: uuid.UUID | None) -> None:
    """One sweep (prints the counts as JSON), or a loop for cron-less deployments."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = threading.Event()

    def sweep() -> dict[str, int]:
        if tenant_id is not None:
            with tenant_context(tenant_id):
                return relay_module.relay_app(app, batch=batch).as_dict()
        return relay_module.relay_all(app, batch=batch).as_dict()

    if not loop:
        click.echo(json.dumps(sweep()))
        return

    def halt(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, halt)
    signal.signal(signal.SIGINT, halt)
    click.echo(f"notify relay: sweeping every {interval:g} s", err=True)
    while not stop.is_set():
        counts = sweep()
        if counts["claimed"]:
            click.echo(json.dumps(counts), err=True)
        stop.wait(interval)
