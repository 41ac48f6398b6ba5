"""Portal: cargo registrations (货物登记) drivers made for a site in the mini-program — read-only.

Each row shows what the driver declared, its status (expiry computed on read, as in
saas/ledger/cargo.py) and, once attached, the passage whose record it filled.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from flask import render_template, request
from flask_babel import lazy_gettext
from sqlalchemy import and_, select

from saas.auth.permissions import Permission, require
from saas.db import get_session, utcnow
from saas.ledger import cargo
from saas.models.ledger import LedgerEvent
from saas.models.miniprogram import CargoRegistration
from saas.models.tenancy import Site
from saas.portal import bp
from saas.sites import get_site

PAGE_SIZE = 50
STATUS_TEXT = {
    "waiting": lazy_gettext("等待过车"),
    "attached": lazy_gettext("已关联过车记录"),
    "expired": lazy_gettext("已过期"),
    "cancelled": lazy_gettext("已取消"),
}


@bp.get("/cargo", endpoint="cargo")
@bp.get("/sites/<uuid:site_id>/cargo", endpoint="site_cargo")
@require(Permission.LEDGER_READ)
def cargo_list(site_id: uuid.UUID | None = None) -> tuple[str, int]:
    session = get_session()
    sites = list(session.scalars(select(Site).order_by(Site.name, Site.id)))
    if site_id is not None:
        site: Site | None = get_site(session, site_id)  # another tenant's site: 404
    else:
        site = sites[0] if sites else None
    status = request.args.get("status", "")
    if status not in STATUS_TEXT:
        status = ""  # an unknown filter shows everything
    raw_page = request.args.get("page", "1")
    page = max(int(raw_page), 1) if raw_page.isdigit() else 1
    rows: list[tuple[CargoRegistration, datetime | None]] = []
    more = False
    now = utcnow()
    if site is not None:
        stmt = (
            select(CargoRegistration, LedgerEvent.captured_at)
            .outerjoin(
                LedgerEvent,
                and_(
                    LedgerEvent.event_id == CargoRegistration.passage_event_id,
                    LedgerEvent.tenant_id == CargoRegistration.tenant_id,
                ),
            )
            .where(CargoRegistration.site_id == site.id)
        )
        if status == "expired":
            stmt = stmt.where(
                CargoRegistration.status.in_(("waiting", "expired")),
                CargoRegistration.expires_at <= now,
            )
        elif status == "waiting":
            stmt = stmt.where(
                CargoRegistration.status == "waiting", CargoRegistration.expires_at > now
            )
        elif status:
            stmt = stmt.where(CargoRegistration.status == status)
        stmt = (
            stmt.order_by(CargoRegistration.created_at.desc(), CargoRegistration.id.desc())
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        )
        found: list[tuple[CargoRegistration, datetime | None]] = [
            (row, seen) for row, seen in session.execute(stmt)
        ]
        more = len(found) > PAGE_SIZE
        rows = found[:PAGE_SIZE]
    items = [
        {
            "row": row,
            "status": (effective := cargo.effective_status(row, now)),
            "status_text": STATUS_TEXT[effective],
            "quantity": format(row.quantity.normalize(), "f"),
            "passage_time": seen,
        }
        for row, seen in rows
    ]
    return render_template(
        "portal/cargo/list.html",
        site=site,
        sites=sites,
        items=items,
        status=status,
        statuses=STATUS_TEXT,
        page=page,
        more=more,
    ), 200
