"""``cleangate board url --site ID [--rotate]``: print a site's public board address."""

from __future__ import annotations

import sys
import uuid

import click
from flask import current_app
from flask.cli import with_appcontext

from saas.board import tokens
from saas.db import get_database
from saas.models.tenancy import Site
from saas.tenancy import tenant_context


@click.group("board", help="The public 一厂一策 board (docs/board.md).")
def board_cli() -> None:
    pass


@board_cli.command("url")
@click.option("--site", "site_id", required=True, help="the site's id (UUID)")
@click.option("--rotate", is_flag=True, help="replace the token: the old address 404s at once")
@with_appcontext
def url_command(site_id: str, rotate: bool) -> None:
    """Print the site's board URL (the token is minted on first use)."""
    try:
        wanted = uuid.UUID(site_id)
    except ValueError:
        click.echo(f"--site: not a site id (UUID): {site_id!r}", err=True)
        sys.exit(2)
    settings = current_app.config["CLEANGATE_SETTINGS"]
    with get_database().sessionmaker() as session:
        found = tokens.site_by_id(session, wanted)
        if found is None:
            click.echo(f"--site: no site {wanted}", err=True)
            sys.exit(2)
        tenant_id = found.tenant_id
    with tenant_context(tenant_id), get_database().sessionmaker() as session:
        site = session.get(Site, wanted)
        assert site is not None
        if rotate:
            token = tokens.rotate(session, site, actor_label="cli: cleangate board url --rotate")
        else:
            token = tokens.ensure_token(session, site, actor_label="cli: cleangate board url")
        session.commit()
    click.echo(tokens.board_url(settings.base_url, token))
