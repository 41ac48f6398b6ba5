"""`cleangate demo`: migrate, seed a demo tenant and provider staff, serve on 127.0.0.1:8000.

Demo passwords are generated once into ``var/demo-logins.json`` (mode 0600) and printed; there
are no well-known default passwords, even in the demo.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from saas import migrate
from saas.auth.passwords import generate_password, hash_password
from saas.db import get_database
from saas.models.identity import Role, User
from saas.models.tenancy import Tenant
from saas.settings import Settings
from saas.tenancy import system_context

DEMO_SLUG = "demo"
DEMO_SITE = {
    "name": "示例焦化厂",
    "region_code": "130200",
    "industry": "coking",
    "rating": "B",
    "address": "河北省唐山市古冶区示例路1号",
    "legal_representative": "张三",
    "legal_representative_phone": "13800001234",
    "contact_name": "李四",
    "contact_phone": "13900005678",
}


def _demo_uscc() -> str:
    from saas.compliance import uscc_check_char

    body = "91130204MA0C8K2P1"
    return body + (uscc_check_char(body) or "0")


def seed_demo(session: Session, var_dir: Path) -> dict[str, dict[str, str]]:
    """Idempotent: creates what is missing and returns the demo logins."""
    from tenants.provisioning import TenantCreate, create_tenant

    logins_path = var_dir / "demo-logins.json"
    logins: dict[str, dict[str, str]] = (
        json.loads(logins_path.read_text()) if logins_path.exists() else {}
    )
    with system_context("demo seed"):
        tenant = session.scalars(select(Tenant).where(Tenant.slug == DEMO_SLUG)).one_or_none()
    if tenant is None:
        site = dict(DEMO_SITE, uscc=_demo_uscc())
        result = create_tenant(
            session,
            TenantCreate(
                name="示例焦化集团",
                slug=DEMO_SLUG,
                site=site,
                admin_username="admin@demo",
                admin_display_name="示例企业管理员",
            ),
            actor_label="demo",
        )
        with system_context("demo seed"):
            admin = session.get(User, result.admin_user_id)
            assert admin is not None
            admin.must_change_password = False
            session.commit()
        logins["portal"] = {"username": result.admin_username, "password": result.one_time_password}
    with system_context("demo seed"):
        staff = session.scalars(select(User).where(User.username == "ops@provider")).one_or_none()
        if staff is None:
            password = generate_password()
            session.add(
                User(
                    username="ops@provider",
                    display_name="服务商运维",
                    role=Role.PROVIDER_ADMIN,
                    password_hash=hash_password(password),
                    email="ops@provider.example",
                )
            )
            session.commit()
            logins["console"] = {"username": "ops@provider", "password": password}
    var_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(logins_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(logins, handle, ensure_ascii=False, indent=2)
    return logins


def prepare(app: Flask) -> dict[str, dict[str, str]]:
    settings: Settings = app.config["CLEANGATE_SETTINGS"]
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.migration_database_url, settings.database_url)
    with get_database(app).sessionmaker() as session:
        return seed_demo(session, settings.var_dir)


@click.command("demo")
@with_appcontext
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="migrate and seed only")
def demo_command(host: str, port: int, no_serve: bool) -> None:
    """Run the platform on the embedded defaults with a demo tenant."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    logins = prepare(app)
    base = f"http://{host}:{port}"
    click.echo("CleanGate 环保门禁云 demo")
    click.echo(f"  login page      {base}/login")
    click.echo(
        f"  enterprise portal  {base}/portal/   user {logins['portal']['username']}"
        f"  password {logins['portal']['password']}"
    )
    click.echo(
        f"  provider console   {base}/console/  user {logins['console']['username']}"
        f"  password {logins['console']['password']}"
    )
    click.echo(f"  API document    {base}/api/v1/openapi.json")
    if no_serve:
        return
    from werkzeug.serving import run_simple

    from saas import jobs

    if app.config["CLEANGATE_SETTINGS"].redis_url == "embedded://":
        jobs.start_embedded_worker(app)  # the embedded Redis lives only in this process
    click.echo("Ctrl-C to stop.")
    run_simple(host, port, app, threaded=True, use_reloader=False)
