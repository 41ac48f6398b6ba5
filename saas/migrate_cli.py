"""Operator commands: `cleangate db upgrade|current|bootstrap-roles`, `cleangate staff create`."""

from __future__ import annotations

import os

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from saas import migrate


def init_app(app: Flask) -> None:
    app.cli.add_command(db_group)
    app.cli.add_command(staff_group)


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


@db_group.command("bootstrap-roles", with_appcontext=False)
@click.option(
    "--admin-user",
    envvar="DB_ADMIN_USER",
    help="the server's admin (RDS master user) [env DB_ADMIN_USER]",
)
@click.option(
    "--admin-password",
    envvar="DB_ADMIN_PASSWORD",
    help="its password; prefer the variable, a command line is visible to `ps`"
    " [env DB_ADMIN_PASSWORD]",
)
def bootstrap_roles(admin_user: str | None, admin_password: str | None) -> None:
    """Create or align the owner role (MIGRATION_DATABASE_URL) and the app role (DATABASE_URL)
    as the admin, before `cleangate db upgrade`. Safe to run on every deployment."""
    import psycopg

    try:
        plan = migrate.plan_roles(
            os.environ.get("MIGRATION_DATABASE_URL"), os.environ.get("DATABASE_URL"), admin_user
        )
        done = migrate.bootstrap_roles(plan, admin_user or "", admin_password or "")
    except migrate.BootstrapRefused as exc:
        raise Refused(f"{exc}; nothing changed") from None
    except migrate.BootstrapFailed as exc:
        raise click.ClickException(f"bootstrap-roles failed, nothing changed: {exc}") from None
    except psycopg.Error as exc:
        # The server's words only, never the statement (it holds a password verifier).
        detail = exc.diag.message_primary or str(exc).strip().splitlines()[0]
        if exc.diag.message_detail:
            detail += f" ({exc.diag.message_detail})"
        raise click.ClickException(f"bootstrap-roles failed, nothing changed: {detail}") from None
    for line in done:
        click.echo(line)
    click.echo(f"roles ready on {plan.database}; next: cleangate db upgrade")


class Refused(click.ClickException):
    """Bad input: exit 2, like a usage error, with the message only."""

    exit_code = 2


@db_group.command("current")
def current() -> None:
    settings = current_app.config["CLEANGATE_SETTINGS"]
    click.echo(migrate.current_revision(settings.migration_database_url) or "(empty)")


@click.group("staff", help="Provider staff accounts.", cls=AppGroup)
def staff_group() -> None:
    pass


@staff_group.command("create")
@click.option("--username", required=True)
@click.option("--display-name", required=True)
@click.option(
    "--role",
    required=True,
    type=click.Choice(["provider_admin", "provider_ops", "provider_expert", "provider_billing"]),
)
@click.option("--email", default=None, help="used to match OpenID Connect logins")
def create_staff_command(username: str, display_name: str, role: str, email: str | None) -> None:
    """Create a provider staff account; prints its one-time password once."""
    import json

    from saas.db import get_database
    from saas.users import create_staff

    with get_database().sessionmaker() as session:
        try:
            user, password = create_staff(session, username, display_name, role, email)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
    click.echo(
        json.dumps(
            {"user_id": str(user.id), "username": user.username, "one_time_password": password}
        )
    )
