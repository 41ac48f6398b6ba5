"""Provider ops console (server-rendered; provider roles only)."""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, render_template
from sqlalchemy import func, select

from saas.auth.permissions import Permission, require
from saas.db import get_session
from saas.edge_hub import bus
from saas.models.ledger import EdgeDevice
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
        bridges = session.execute(
            select(EdgeDevice.id, EdgeDevice.name, EdgeDevice.last_seen_at, Tenant.name, Site.name)
            .join(Site, Site.id == EdgeDevice.site_id)
            .join(Tenant, Tenant.id == EdgeDevice.tenant_id)
            .where(EdgeDevice.status == "active")
            .order_by(Tenant.name, Site.name, EdgeDevice.name)
        ).all()
    live = bus.presence(current_app.extensions["cleangate.redis"], [b[0] for b in bridges])
    rows = [
        {
            "tenant": tenant,
            "site": site,
            "name": name,
            "last_seen_at": last_seen,
            **live.get(str(device_id), {"online": False}),
        }
        for device_id, name, last_seen, tenant, site in bridges
    ]
    offline = [r for r in rows if not r.get("online")]
    return render_template(
        "console/home.html",
        tenant_count=tenants,
        site_count=sites,
        bridge_count=len(rows),
        online_count=len(rows) - len(offline),
        offline=offline[:200],
        backlog=sorted(
            (r for r in rows if (r.get("outbox_depth") or 0) > 0),
            key=lambda r: -(r.get("outbox_depth") or 0),
        )[:20],
    )


def init_app(app: Flask) -> None:
    # Importing a page module declares its routes on ``bp``.
    from saas.console import alerts, fleet, health, rating, regulator  # noqa: F401

    app.register_blueprint(bp)
