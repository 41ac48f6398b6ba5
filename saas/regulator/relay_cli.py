"""``cleangate regulator relay [--loop --interval]``: send due regulator uploads of every tenant
(cron, demo, or a long-running process next to the workers). Attach with
``regulator_group.add_command(relay_command)`` in ``saas/regulator/cli.py``."""

from __future__ import annotations

import json
import signal
import threading
import uuid
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext

from saas.regulator import relay as relay_module
from saas.tenancy import tenant_context


@click.command("relay")
@click.option("--loop", is_flag=True, help="Keep relaying until SIGTERM/SIGINT.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between sweeps.")
@click.option("--batch", default=1000, show_default=True, help="Rows per configuration a sweep.")
@click.option("--tenant", "tenant_id", type=click.UUID, default=None, help="Only this tenant.")
@with_appcontext
def relay_command(loop: bool, interval: float, batch: int, tenant_id: uuid.UUID | None) -> None:
    """One sweep (prints the counts as JSON), or a loop."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not loop:
        if tenant_id is not None:
            with tenant_context(tenant_id):
                counts = relay_module.relay_app(app, batch=batch)
        else:
            counts = relay_module.relay_all(app, batch=batch)
        click.echo(json.dumps(counts.as_dict()))
        return
    stop = threading.Event()

    def halt(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, halt)
    signal.signal(signal.SIGINT, halt)
    click.echo(f"regulator relay: sweeping every {interval:g} s", err=True)
    relay_module.run_loop(
        app,
        interval=interval,
        stop=stop,
        tenant_id=tenant_id,
        batch=batch,
        report=lambda counts: click.echo(json.dumps(counts), err=True),
    )
