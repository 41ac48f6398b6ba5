"""Build a site's snapshot body (saas/compliance/snapshot.py) from the database.

Policy and plan: the 一厂一策 plan in force (saas/policy/plans.py) — its gate policy, and the
``plan`` section the public board prints (phones masked); without an approved plan, the
built-in template for the site's industry and rating. Alert: the level in force and every alert
window of the next 72 h (saas/policy/alerts.py). Bookings: the approved visitor bookings with
a plate around now (``site_bookings``, saas/bookings.py).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
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
from saas.models.miniprogram import VisitorBooking
from saas.models.tenancy import Site
from saas.policy import alerts, plans


def site_alert(session: Session, site: Site, now: datetime) -> dict[str, Any]:
    return alerts.snapshot_section(session, site, now)


BOOKINGS_BEHIND = timedelta(hours=1)  # slack for the edge's clock; decide checks the window
# Every approved booking to come (they are made at most MP_BOOKING_MAX_DAYS_AHEAD ≤ 31 days
# ahead): the hub rebuilds a snapshot only when something changes, so a booking approved days
# ahead must be in the snapshot from its approval on.
BOOKINGS_AHEAD = timedelta(days=31)


def site_bookings(
    session: Session, site: Site, now: datetime, *, plate: str | None = None
) -> list[dict[str, Any]]:
    """Approved visitor bookings with a plate whose window overlaps [now − 1 h, now + 31 days]
    (saas/bookings.py): ``[{id, plate, start, end}]``, times ISO 8601 with offset (UTC).
    ``decide`` admits the plate only inside its window, so a booking that ended since the
    snapshot was built grants nothing."""
    rows = session.scalars(
        select(VisitorBooking)
        .where(
            VisitorBooking.site_id == site.id,
            VisitorBooking.status == "approved",
            VisitorBooking.plate.is_not(None),
            VisitorBooking.starts_at < now + BOOKINGS_AHEAD,
            VisitorBooking.ends_at > now - BOOKINGS_BEHIND,
            *([VisitorBooking.plate == plate] if plate is not None else []),
        )
        .order_by(VisitorBooking.starts_at, VisitorBooking.id)
    )
    return [
        {
            "id": str(b.id),
            "plate": b.plate,
            "start": b.starts_at.astimezone(UTC).isoformat(timespec="seconds"),
            "end": b.ends_at.astimezone(UTC).isoformat(timespec="seconds"),
        }
        for b in rows
    ]


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
