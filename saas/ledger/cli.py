"""`cleangate ledger verify|checkpoint|checkpoints|partitions`."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from saas.db import get_database, utcnow
from saas.ledger import checkpoints, partitions
from saas.ledger.verify import verify_site
from saas.models.ledger import Checkpoint, LedgerHead
from saas.storage import Storage, checkpoint_archive
from saas.tenancy import system_context


@click.group(
    "ledger", help="Electronic ledger: verification, checkpoints, partitions.", cls=AppGroup
)
def ledger_group() -> None:
    pass


def signing_key() -> checkpoints.SigningKey:
    return current_app.extensions["cleangate.ledger_key"]  # type: ignore[no-any-return]


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@ledger_group.command("verify")
@click.option("--site", "site_id", required=True, type=click.UUID)
@click.option("--from", "since", default=None, help="ISO time (UTC if no offset)")
@click.option("--to", "until", default=None, help="ISO time, exclusive")
def verify(site_id: uuid.UUID, since: str | None, until: str | None) -> None:
    """Recompute the chain and checkpoints; exit 0 when intact, 1 naming the first break."""
    with get_database().sessionmaker() as session, system_context("ledger verify"):
        report = verify_site(
            session,
            site_id,
            current_app.extensions["cleangate.ledger_keys"],
            _when(since),
            _when(until),
        )
    if report.intact:
        click.echo(
            f"OK site {site_id}: {report.checked} records, {report.checkpoints} checkpoints intact"
        )
        return
    assert report.first_break is not None
    click.echo(
        f"BROKEN site {site_id}: {report.first_break.describe()} "
        f"({report.checked} records verified before it)",
        err=True,
    )
    sys.exit(1)


def archive_store() -> Storage:
    return current_app.extensions["cleangate.checkpoint_archive"]  # type: ignore[no-any-return]


@ledger_group.command("checkpoint")
def checkpoint() -> None:
    """Sign every site's current head that is not signed yet (run at least hourly), then copy
    the new checkpoints, and any of the last 7 days still missing, to the write-once archive
    (CHECKPOINT_STORAGE_URL). An archive failure is logged and leaves the checkpoints signed:
    the next run writes them."""
    key = signing_key()
    made: list[Checkpoint] = []
    with get_database().sessionmaker() as session, system_context("ledger checkpoint"):
        for head in session.scalars(select(LedgerHead)):
            signed = checkpoints.make_checkpoint(session, key, head)
            if signed is not None:
                made.append(signed)
        session.commit()
        keys = current_app.extensions["cleangate.ledger_keys"]
        since = _archived_through()
        archived = checkpoints.archive(session, archive_store(), keys, made, utcnow(), since)
        if archived.error is None and archived.through is not None:
            _archived_through(archived.through)
    click.echo(f"{len(made)} checkpoints signed with key {key.key_id}")
    click.echo(archived.summary())


ARCHIVED_THROUGH_KEY = "ledger:checkpoint-archive:through"


def _archived_through(value: datetime | None = None) -> datetime | None:
    """The archive's watermark in Redis (read; or write ``value``). Redis being away only
    costs a longer look-back (seven days), never a missed checkpoint."""
    import redis

    client = current_app.extensions["cleangate.redis"]
    try:
        if value is not None:
            client.set(ARCHIVED_THROUGH_KEY, value.isoformat())
            return value
        raw = client.get(ARCHIVED_THROUGH_KEY)
    except (redis.RedisError, OSError):
        return None
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw.decode() if isinstance(raw, bytes) else str(raw))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@ledger_group.command("checkpoints")
@click.option("--site", "site_id", required=True, type=click.UUID)
def export_checkpoints(site_id: uuid.UUID) -> None:
    """Export a site's signed checkpoints, one JSON object per line."""
    keys = current_app.extensions["cleangate.ledger_keys"]
    with get_database().sessionmaker() as session, system_context("ledger export"):
        for row in session.scalars(
            select(Checkpoint).where(Checkpoint.site_id == site_id).order_by(Checkpoint.seq)
        ):
            public = keys.get(row.key_id)
            if public is None:  # a retired key not listed in LEDGER_PREVIOUS_PUBLIC_KEYS
                raise click.ClickException(
                    f"checkpoint {row.seq} is signed with key {row.key_id}, which is neither "
                    "LEDGER_SIGNING_KEY nor in LEDGER_PREVIOUS_PUBLIC_KEYS"
                )
            click.echo(json.dumps(checkpoints.export(row, public)))


@ledger_group.command("partitions")
@click.option("--months-ahead", default=3, show_default=True)
def ensure_partitions(months_ahead: int) -> None:
    """Create monthly partitions ahead (PostgreSQL, as the owner role)."""
    from saas.migrate import app_role_of

    settings = current_app.config["CLEANGATE_SETTINGS"]
    if settings.uses_sqlite:
        click.echo("SQLite: no partitions")
        return
    engine = create_engine(settings.migration_database_url, poolclass=NullPool)
    with engine.begin() as conn:
        now = datetime.now(UTC).date()
        created = partitions.ensure(
            conn,
            partitions.month_start(now),
            months_ahead + 1,
            app_role_of(settings.migration_database_url, settings.database_url),
        )
    engine.dispose()
    click.echo(f"created: {', '.join(created) or 'nothing'}")


@ledger_group.command("retention")
@click.option("--now", default=None, help="ISO time to run as of (default: now)")
def retention_command(now: str | None) -> None:
    """Remove ledger records older than the retention (≥ 24 months; the longest tenant's)."""
    from saas.ledger import retention

    settings = current_app.config["CLEANGATE_SETTINGS"]
    report = retention.run(settings.migration_database_url, _when(now))
    click.echo(
        json.dumps(
            {
                "cutoff": report.cutoff.isoformat(),
                "dropped_partitions": report.dropped_partitions,
                "deleted_rows": report.deleted_rows,
            }
        )
    )


def init_app(app: Flask) -> None:
    settings = app.config["CLEANGATE_SETTINGS"]
    if settings.ledger_signing_key:
        key = checkpoints.SigningKey.from_seed_b64(settings.ledger_signing_key)
    else:
        key = checkpoints.SigningKey.load_or_create(settings.var_dir / "ledger_signing_key")
    app.extensions["cleangate.ledger_key"] = key
    app.extensions["cleangate.ledger_keys"] = checkpoints.verification_keys(
        key, settings.ledger_previous_public_keys
    )
    # Built here so a malformed CHECKPOINT_STORAGE_URL stops the start, not the hourly run.
    app.extensions["cleangate.checkpoint_archive"] = checkpoint_archive(settings)
    app.cli.add_command(ledger_group)
