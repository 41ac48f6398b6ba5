"""Enterprise tenant portal (server-rendered)."""

from __future__ import annotations

from flask import Blueprint, Flask, render_template
from sqlalchemy import select

from saas.auth.permissions import Permission, require
from saas.auth.principal import current_principal
from saas.db import get_session
from saas.models.tenancy import Site, Tenant

bp = Blueprint("portal", __name__, url_prefix="/portal")


@bp.get("/")
@require(Permission.PORTAL_VIEW)
def home() -> str:
    session = get_session()
    principal = current_principal()
    assert principal is not None
    assert principal.tenant_id is not None
    tenant = session.get(Tenant, principal.tenant_id)
    sites = session.scalars(select(Site).order_by(Site.name)).all()
    return render_template("portal/home.html", tenant=tenant, sites=sites)


def init_app(app: Flask) -> None:
    # Importing a page module declares its routes on ``bp``.
    from saas.portal import (  # noqa: F401
        bookings,
        bridges,
        cargo,
        execution,
        exports,
        passages,
        plans,
        registries,
        regulator,
    )

    app.register_blueprint(bp)
