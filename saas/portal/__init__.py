"""Enterprise tenant portal (server-rendered)."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, Flask, render_template
from sqlalchemy import select

from saas.auth.permissions import Permission, require
from saas.auth.principal import current_principal
from saas.db import get_session, utcnow
from saas.models.identity import SupportGrant
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
    # Provider support access is visible to the tenant: every grant of the last 90 days.
    grants = session.scalars(
        select(SupportGrant)
        .where(SupportGrant.created_at >= utcnow() - timedelta(days=90))
        .order_by(SupportGrant.created_at.desc())
        .limit(50)
    ).all()
    return render_template(
        "portal/home.html", tenant=tenant, sites=sites, grants=grants, now=utcnow()
    )


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
