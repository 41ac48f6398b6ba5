"""``cleangate regulator …`` commands (docs/regulator-adapters.md). ``regulator_group`` is the
group other regulator commands join (``regulator relay``); ``regulator-sim`` is also offered at
the top level, as the issue names it."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from saas.regulator.relay_cli import relay_command


def _run_sim(host: str, port: int, clients: Path, store: Path | None, token_ttl: int) -> None:
    from saas.regulator.base import ConfigError
    from saas.regulator.sim import RegulatorSim, load_clients

    try:
        registered = load_clients(json.loads(clients.read_text(encoding="utf-8")))
    except ValueError as exc:  # ConfigError and JSON errors; ConfigError names the field
        field = exc.field if isinstance(exc, ConfigError) else "clients"
        raise click.BadParameter(str(exc), param_hint=f"--clients ({field})") from None
    sim = RegulatorSim(registered, host, port, store=store, token_ttl=token_ttl, verbose=True)
    click.echo(
        f"hj1321-json reference receiver on http://{host}:{port} "
        f"({len(registered)} client(s){', store ' + str(store) if store else ''}); Ctrl-C stops"
    )
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")


_OPTIONS = [
    click.option("--host", default="127.0.0.1", show_default=True, help="address to bind"),
    click.option("--port", default=8990, show_default=True, type=int),
    click.option(
        "--clients",
        required=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="JSON file of registered clients (client_id, client_secret, signer, public key)",
    ),
    click.option(
        "--store",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="JSON-lines file receipts are appended to and reloaded from",
    ),
    click.option("--token-ttl", default=7200, show_default=True, type=click.IntRange(1)),
]


def _with_options(func):  # type: ignore[no-untyped-def]
    for option in reversed(_OPTIONS):
        func = option(func)
    return func


@click.group("regulator")
def regulator_group() -> None:
    """Regulator upload (监管平台上报): reference receiver, relay."""


@regulator_group.command("sim")
@_with_options
def sim_command(host: str, port: int, clients: Path, store: Path | None, token_ttl: int) -> None:
    """Run the hj1321-json reference receiver (the same as ``cleangate regulator-sim``)."""
    _run_sim(host, port, clients, store, token_ttl)


@click.command("regulator-sim")
@_with_options
def regulator_sim_command(
    host: str, port: int, clients: Path, store: Path | None, token_ttl: int
) -> None:
    """Run the hj1321-json reference receiver: tokens, signature checks, receipts, faults."""
    _run_sim(host, port, clients, store, token_ttl)


regulator_group.add_command(relay_command)


def enqueue_daily_counts_all(
    app: Flask, day: date, site_id: uuid.UUID | None = None
) -> dict[str, int]:
    """``outbox.enqueue_daily_counts`` for each site with an active configuration, each in its
    tenant's context and transaction; returns {site id: rows queued}."""
    from saas.db import get_database
    from saas.models.tenancy import Site
    from saas.regulator import outbox
    from saas.tenancy import tenant_context

    written: dict[str, int] = {}
    from saas.regulator.relay import daily_count_sites

    for tenant_id, sid in daily_count_sites(app, site_id):
        with tenant_context(tenant_id), get_database(app).sessionmaker() as session:
            site = session.get(Site, sid)
            if site is None:
                continue
            written[str(sid)] = outbox.enqueue_daily_counts(session, site, day)
            session.commit()
    return written


@regulator_group.command("daily-counts")
@click.option("--day", default=None, help="Beijing date YYYY-MM-DD (default: yesterday).")
@click.option("--site", "site_id", type=click.UUID, default=None, help="Only this site.")
@with_appcontext
def daily_counts_command(day: str | None, site_id: uuid.UUID | None) -> None:
    """Queue the per-gate daily passage counts (每日过车数) for every site with an active
    platform configuration; prints {day, sites, queued} as JSON. Cron: 00:10 Beijing."""
    from saas.regulator.jobs import beijing_yesterday

    try:
        target = date.fromisoformat(day) if day else beijing_yesterday()
    except ValueError:
        raise click.BadParameter("应为日期 YYYY-MM-DD", param_hint="--day") from None
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    per_site = enqueue_daily_counts_all(app, target, site_id)
    click.echo(
        json.dumps({"day": target.isoformat(), "sites": per_site, "queued": sum(per_site.values())})
    )


@regulator_group.command("rewrap")
@click.option("--dry-run", is_flag=True, help="count what would change, write nothing")
@with_appcontext
def rewrap_command(dry_run: bool) -> None:
    """Re-seal every platform credential under the current master key (the first entry of
    REGULATOR_MASTER_KEYS), so that a retired key can then be dropped (docs/deployment.md)."""
    from sqlalchemy import select

    from saas.db import get_database
    from saas.models.regulator import RegulatorConfig
    from saas.regulator import envelope
    from saas.tenancy import system_context

    keyring = current_app.config["CLEANGATE_SETTINGS"].regulator_keyring
    current = next(iter(keyring))
    moved: dict[str, int] = {}
    total = 0
    with (
        get_database().sessionmaker() as session,
        system_context("operator CLI: re-seal regulator credentials under the current key"),
    ):
        # Locked: a tenant saving new credentials meanwhile waits, rather than being undone.
        rows = select(RegulatorConfig).order_by(RegulatorConfig.id).with_for_update()
        for config in session.scalars(rows):
            total += 1
            old = envelope.key_id_of(config.secret_box)
            if old != current:
                try:
                    config.secret_box = envelope.rewrap(config.secret_box, keyring)
                except envelope.EnvelopeError as exc:
                    session.rollback()
                    raise click.ClickException(
                        f"platform configuration {config.id} (site {config.site_id}) is sealed "
                        f"with key {old!r}, which REGULATOR_MASTER_KEYS lacks: {exc}; "
                        "nothing was changed"
                    ) from None
                moved[old] = moved.get(old, 0) + 1
        if dry_run:
            session.rollback()
        else:
            session.commit()
    verb = "would re-seal" if dry_run else "re-sealed"
    click.echo(
        json.dumps(
            {"current_key": current, "configs": total, verb.replace(" ", "_"): moved},
            ensure_ascii=False,
        )
    )
