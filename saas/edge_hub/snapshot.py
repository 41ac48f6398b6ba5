"""Build a site's snapshot body (saas/compliance/snapshot.py) from the database.

Policy and plan: the 一厂一策 plan in force (saas/policy/plans.py) — its gate policy, and the
``plan`` section the public board prints (phones masked); without an approved plan, the
built-in template for the site's industry and rating. Alert: the level in force and every alert
window of the next 72 h (saas/policy/alerts.py). Bookings are empty until the mini-program's
visitor bookings exist (issue 8); that replaces only ``site_bookings`` here.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from saas.db import utcnow
from saas.ledger.chain import iso
from saas.models.ledger import (
    InPlantVehicle,
    NonRoadMachinery,
    TransportVehicle,
    VehicleListEntry,
)
from saas.models.tenancy import Site
from saas.policy import alerts, plans


def site_alert(session: Session, site: Site, now: datetime) -> dict[str, Any]:
    return alerts.snapshot_section(session, site, now)


def site_bookings(
    session: Session, site: Site, now: datetime, *, plate: str | None = None
) -> list[dict[str, Any]]:
    return []


def _d(value: object) -> str | None:
    return value.isoformat() if value is not None else None  # type: ignore[attr-defined]


def build(
    session: Session, site_id: uuid.UUID, *, base_url: str = "", plate: str | None = None
) -> dict[str, Any]:
    """The body for one site, read in the caller's tenant context (``base_url``: the public
    address the board's QR code points under). With ``plate`` (normalised), the registry,
    lists and bookings hold only that plate: what a single pre-check needs."""
    site = session.get(Site, site_id)
    if site is None:
        raise LookupError(f"site {site_id} not found")
    now = utcnow()
    registry: dict[str, dict[str, Any]] = {}
    for tv in session.scalars(
        select(TransportVehicle).where(
            TransportVehicle.site_id == site_id,
            TransportVehicle.active.is_(True),
            *([TransportVehicle.plate == plate] if plate is not None else []),
        )
    ):
        registry[tv.plate] = {
            "vehicle_type": tv.vehicle_type,
            "fuel_type": tv.fuel_type,
            "emission_stage": tv.emission_stage,
            "registration_date": _d(tv.registration_date),
            "vin": tv.vin,
            "category": tv.category or "transport",
        }
    for ip in session.scalars(
        select(InPlantVehicle).where(
            InPlantVehicle.site_id == site_id,
            InPlantVehicle.active.is_(True),
            InPlantVehicle.plate.is_not(None),
            *([InPlantVehicle.plate == plate] if plate is not None else []),
        )
    ):
        registry.setdefault(
            ip.plate or "",
            {
                "vehicle_type": None,
                "fuel_type": ip.fuel_type,
                "emission_stage": ip.emission_stage,
                "registration_date": _d(ip.registration_date),
                "vin": ip.vin,
                "category": "in_plant",
            },
        )
    for nr in session.scalars(
        select(NonRoadMachinery).where(
            NonRoadMachinery.site_id == site_id,
            NonRoadMachinery.active.is_(True),
            NonRoadMachinery.plate.is_not(None),
            *([NonRoadMachinery.plate == plate] if plate is not None else []),
        )
    ):
        registry.setdefault(
            nr.plate or "",
            {
                "vehicle_type": None,
                "fuel_type": nr.fuel_type,
                "emission_stage": None,
                "registration_date": None,
                "vin": None,
                "category": "in_plant",
            },
        )
    black: dict[str, dict[str, Any]] = {}
    white: dict[str, dict[str, Any]] = {}
    for entry in session.scalars(
        select(VehicleListEntry).where(
            VehicleListEntry.site_id == site_id,
            VehicleListEntry.revoked_at.is_(None),
            or_(VehicleListEntry.valid_to.is_(None), VehicleListEntry.valid_to > now),
            *([VehicleListEntry.plate == plate] if plate is not None else []),
        )
    ):
        item: dict[str, Any] = {
            "reason": entry.reason,
            "valid_from": iso(entry.valid_from),
            "valid_to": iso(entry.valid_to) if entry.valid_to else None,
        }
        if entry.list_kind == "black":
            black[entry.plate] = item
        else:
            white[entry.plate] = {**item, "exemption": entry.exemption}
    plan, _ = plans.document(session, site)
    return {
        "policy": plan.policy.to_dict(),
        "plan": plans.board_section(session, site, cargo_url=plans.cargo_url(base_url, site)),
        "alert": site_alert(session, site, now),
        "registry": registry,
        "black": black,
        "white": white,
        "bookings": site_bookings(session, site, now, plate=plate),
    }
