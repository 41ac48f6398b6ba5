"""`cleangate db upgrade|current|heads` and `cleangate demo`."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from saas import migrate


def init_app(app: Flask) -> None:
    app.cli.add_command(db_group)
    from saas.demo import demo_command

    app.cli.add_command(demo_command)


@click.group("db", help="Database schema.", cls=AppGroup)
def db_group() -> None:
    pass


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def upgrade(revision: str) -> None:
    """Apply migrations as the owner role, then grant the app role (PostgreSQL)."""
    settings = current_app.config["CLEANGATE_SETTINGS"]
    if settings.uses_sqlite:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.migration_database_url, settings.database_url, revision)
    click.echo(f"database at {migrate.current_revision(settings.migration_database_url)}")


@db_group.command("current")
def current() -> None:
    settings = current_app.config["CLEANGATE_SETTINGS"]
    click.echo(migrate.current_revision(settings.migration_database_url) or "(empty)")
