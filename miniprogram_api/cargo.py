"""Cargo registration by QR: the driver registers the load for a site; it fills the plate's
next passage there (saas/ledger/cargo.py has the rules, ``attach`` runs at ingest).

A registration belongs to the site's tenant. Writing one and cancelling one run inside that
site's tenant context (``sites.site_scope``). Listing the driver's own registrations across
sites — and finding the site of one of them by id — is the one read past tenant scoping
(``_own_registrations``), always filtered by the driver's user id; another driver's
registration answers 404 like a missing one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from flask import current_app
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, Field
from sqlalchemy import select

from miniprogram_api import auth, registry, sites
from saas.api.pagination import QUERY_PARAMETERS, paginate
from saas.db import get_session, utcnow
from saas.errors import NotFound
from saas.ledger import cargo
from saas.models.ledger import LedgerEvent
from saas.models.miniprogram import CargoRegistration
from saas.models.tenancy import Site
from saas.tenancy import system_context


class CargoIn(cargo.CargoData):
    """POST /cargo: the site (and gate) from the scanned QR code, then what the driver typed.
    ``unit`` is one of t, kg, m³ (m3), 件, 车; at least one of origin and destination."""

    site_id: uuid.UUID


class CargoSite(BaseModel):
    id: str
    name: str


class CargoPassage(BaseModel):
    event_id: str
    captured_at: str | None  # 过车时间


class CargoOut(BaseModel):
    id: str
    site: CargoSite
    gate: str | None
    plate: str
    plate_color: str | None
    name: str
    quantity: Annotated[float, Field(description="运输量")]
    unit: str
    carrier: str | None
    origin: str | None
    destination: str | None
    status: str  # waiting | attached | expired | cancelled
    status_text: str
    created_at: str
    expires_at: str
    attached_at: str | None
    passage: CargoPassage | None  # the passage it filled, once attached


class CargoCreated(CargoOut):
    replaced: list[str]  # the plate's earlier waiting registrations at the site, now cancelled


class CargoList(BaseModel):
    items: list[CargoOut]
    next_cursor: str | None


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def cargo_out(
    row: CargoRegistration,
    site_name: str,
    passage_time: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    status = cargo.effective_status(row, now)
    return {
        "id": str(row.id),
        "site": {"id": str(row.site_id), "name": site_name},
        "gate": row.gate_code,
        "plate": row.plate,
        "plate_color": row.plate_color,
        "name": row.name,
        "quantity": float(row.quantity),
        "unit": row.unit,
        "carrier": row.carrier,
        "origin": row.origin,
        "destination": row.destination,
        "status": status,
        "status_text": cargo.STATUS_LABELS[status],
        "created_at": _iso(row.created_at),
        "expires_at": _iso(row.expires_at),
        "attached_at": _iso(row.attached_at),
        "passage": (
            {"event_id": str(row.passage_event_id), "captured_at": _iso(passage_time)}
            if row.passage_event_id is not None
            else None
        ),
    }


def _own_registrations(
    user_id: uuid.UUID, registration_id: uuid.UUID | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """The driver's own registrations across every site, newest first, as output dicts, in
    keyset pages (``?limit``, ``?cursor``) — or only ``registration_id`` if given (and theirs).
    The one read past tenant scoping in this module: a driver has no tenant, and their rows
    live in the tenants of the sites they registered at. Always filtered by ``user_id``."""
    session = get_session()
    now = utcnow()
    with system_context("mini-program: a driver's own cargo registrations, by user id"):
        mine = select(CargoRegistration).where(CargoRegistration.user_id == user_id)
        rows: list[CargoRegistration]
        next_cursor = None
        if registration_id is not None:
            rows = list(session.scalars(mine.where(CargoRegistration.id == registration_id)))
        else:
            rows, next_cursor = paginate(
                session, mine, CargoRegistration.created_at, CargoRegistration.id
            )
        names: dict[uuid.UUID, str] = {}
        seen: dict[tuple[uuid.UUID, uuid.UUID], datetime] = {}
        if rows:
            names = dict(
                session.execute(
                    select(Site.id, Site.name).where(Site.id.in_({r.site_id for r in rows}))
                ).all()
            )
        events = {r.passage_event_id for r in rows if r.passage_event_id is not None}
        if events:
            for tenant_id, event_id, captured_at in session.execute(
                select(LedgerEvent.tenant_id, LedgerEvent.event_id, LedgerEvent.captured_at).where(
                    LedgerEvent.event_id.in_(events)
                )
            ):
                seen[(tenant_id, event_id)] = captured_at
        out = [
            cargo_out(
                r,
                names.get(r.site_id, ""),
                seen.get((r.tenant_id, r.passage_event_id)) if r.passage_event_id else None,
                now,
            )
            for r in rows
        ]
        session.rollback()  # end the system-context transaction before anything else
    return out, next_cursor


def _window() -> timedelta:
    minutes = current_app.config["CLEANGATE_SETTINGS"].miniprogram.cargo_window_minutes
    return timedelta(minutes=minutes)


@registry.route(
    "/cargo",
    "POST",
    summary="货物登记：扫门岗二维码后登记车牌、货物、数量、来源地/目的地；车辆在时限内下次过车时自动关联",
    tags=["cargo"],
    permission=None,
    secured=True,
    body=CargoIn,
    response=CargoCreated,
    status=201,
)
def create_cargo(body: CargoIn) -> ResponseReturnValue:
    user_id = auth.current_user_id()
    cargo.check(body)  # bad input is 422 before the site is looked up, and writes nothing
    with sites.site_scope(body.site_id) as (session, site):
        row, replaced = cargo.register(session, site, user_id, body, _window())
        out = cargo_out(row, site.name, None, utcnow())
        out["replaced"] = [str(r.id) for r in replaced]
    return out, 201


@registry.route(
    "/cargo",
    "GET",
    summary="我的货物登记（各站点，最新在前），含状态与关联的过车时间",
    tags=["cargo"],
    permission=None,
    secured=True,
    response=CargoList,
    query=QUERY_PARAMETERS,
)
def list_cargo() -> ResponseReturnValue:
    items, next_cursor = _own_registrations(auth.current_user_id())
    return {"items": items, "next_cursor": next_cursor}


@registry.route(
    "/cargo/<uuid:registration_id>",
    "DELETE",
    summary="取消一条尚在等待过车的货物登记",
    tags=["cargo"],
    permission=None,
    secured=True,
    response=CargoOut,
)
def cancel_cargo(registration_id: uuid.UUID) -> ResponseReturnValue:
    user_id = auth.current_user_id()
    found, _ = _own_registrations(user_id, registration_id)
    if not found:
        raise NotFound("货物登记")
    site_id = uuid.UUID(found[0]["site"]["id"])
    with sites.site_scope(site_id) as (session, site):
        row = cargo.cancel(session, site, user_id, registration_id)
        return cargo_out(row, site.name, None, utcnow())
