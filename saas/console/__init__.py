"""Provider ops console (server-rendered; provider roles only)."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template
from sqlalchemy import func, select

from saas.auth.permissions import Permission, require
from saas.db import get_session
from saas.models.tenancy import Site, Tenant
from saas.tenancy import system_context

bp = Blueprint("console", __name__, url_prefix="/console")


@bp.get("/")
@require(Permission.CONSOLE_VIEW)
def home() -> str:
    session = get_session()
    with system_context("console: overview counts"):
        tenants = session.scalar(select(func.count()).select_from(Tenant)) or 0
        sites = session.scalar(select(func.count()).select_from(Site)) or 0
    return render_template("console/home.html", tenant_count=tenants, site_count=sites)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
