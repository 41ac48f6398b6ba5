"""A site's gates and lanes (出入口/道闸) with their coordinates: the source of the gate
registration the regulator platforms require (docs/regulator.md, "Gates").

Every create, update and (de)activation writes, in the same transaction, a new revision of the
gate's registration for each active platform configuration of the site
(``outbox.enqueue_gates(..., changed=True)``); the relay reads the row as it is when sent.
Bad input is a 422 naming the field, with nothing written. Audit events ``site_gate.create|
update|delete`` carry the codes and the changed field names.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from saas.auth import audit
from saas.db import utcnow
from saas.errors import NotFound, validation_error
from saas.models.regulator import SiteGate
from saas.models.tenancy import Site
from saas.regulator import outbox

# Sanity bounds of mainland China (the platforms take WGS-84/GCJ-02 decimal degrees).
LONGITUDE = (Decimal(73), Decimal(136))
LATITUDE = (Decimal(3), Decimal(54))

GateCode = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[0-9A-Za-z_-]+$")]
LaneCode = Annotated[str, Field(pattern=r"^[0-9]{2}$")]
Name = Annotated[str, Field(min_length=1, max_length=100)]
Longitude = Annotated[Decimal, Field(ge=LONGITUDE[0], le=LONGITUDE[1], decimal_places=6)]
Latitude = Annotated[Decimal, Field(ge=LATITUDE[0], le=LATITUDE[1], decimal_places=6)]
Phone = Annotated[str | None, Field(default=None, max_length=20, pattern=r"^[0-9+\-() ]*$")]
Direction = Literal["in", "out", "both"]

OPTIONAL_TEXT = {
    "address": 200,
    "manager_name": 50,
    "maintainer": 100,
    "maintainer_contact": 50,
}


class GateFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    address: Annotated[str | None, Field(max_length=200)] = None
    manager_name: Annotated[str | None, Field(max_length=50)] = None
    manager_phone: Phone = None
    maintainer: Annotated[str | None, Field(max_length=100)] = None
    maintainer_contact: Annotated[str | None, Field(max_length=50)] = None
    maintainer_phone: Phone = None


class GateCreate(GateFields):
    """A new gate/lane: codes, name and coordinates required."""

    gate_code: GateCode
    lane_code: LaneCode
    name: Name
    direction: Direction = "both"
    longitude: Longitude
    latitude: Latitude
    active: bool = True


class GatePatch(GateFields):
    """Only the given fields change; codes included (a new registration under the new codes)."""

    gate_code: GateCode | None = None
    lane_code: LaneCode | None = None
    name: Name | None = None
    direction: Direction | None = None
    longitude: Longitude | None = None
    latitude: Latitude | None = None
    active: bool | None = None


class GateOut(BaseModel):
    id: uuid.UUID
    site_id: uuid.UUID
    gate_code: str
    lane_code: str
    name: str
    direction: str
    address: str | None
    longitude: str
    latitude: str
    manager_name: str | None
    manager_phone: str | None
    maintainer: str | None
    maintainer_contact: str | None
    maintainer_phone: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


REQUIRED = ("gate_code", "lane_code", "name", "direction", "longitude", "latitude", "active")


def gate_out(gate: SiteGate) -> dict[str, Any]:
    return GateOut(
        id=gate.id,
        site_id=gate.site_id,
        gate_code=gate.gate_code,
        lane_code=gate.lane_code,
        name=gate.name,
        direction=gate.direction,
        address=gate.address,
        longitude=str(gate.longitude),
        latitude=str(gate.latitude),
        manager_name=gate.manager_name,
        manager_phone=gate.manager_phone,
        maintainer=gate.maintainer,
        maintainer_contact=gate.maintainer_contact,
        maintainer_phone=gate.maintainer_phone,
        active=gate.active,
        created_at=gate.created_at,
        updated_at=gate.updated_at,
    ).model_dump(mode="json")


def list_gates(session: Session, site: Site) -> list[SiteGate]:
    return outbox.registered_gates(session, site.id)


def get_gate(session: Session, site: Site, gate_id: uuid.UUID) -> SiteGate:
    """The gate of ``site`` (current tenant), or 404 — another tenant's answers the same."""
    row = session.scalars(
        select(SiteGate).where(SiteGate.id == gate_id, SiteGate.site_id == site.id)
    ).one_or_none()
    if row is None:
        raise NotFound("道闸")
    return row


def _taken(
    session: Session, site: Site, gate_code: str, lane_code: str, gate_id: uuid.UUID | None
) -> bool:
    query = select(SiteGate.id).where(
        SiteGate.site_id == site.id,
        SiteGate.gate_code == gate_code,
        SiteGate.lane_code == lane_code,
    )
    if gate_id is not None:
        query = query.where(SiteGate.id != gate_id)
    return session.scalars(query).first() is not None


def _blank_to_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if k in OPTIONAL_TEXT and v == "" else v) for k, v in values.items()}


def create_gate(
    session: Session, site: Site, body: GateCreate, *, actor_id: uuid.UUID | None
) -> SiteGate:
    """Save a gate, queue its registration with every active platform, audit, commit."""
    if _taken(session, site, body.gate_code, body.lane_code, None):
        raise validation_error({"lane_code": "本站点已有相同出入口编号与道闸编号的道闸"})
    now = utcnow()
    gate = SiteGate(
        tenant_id=site.tenant_id,
        site_id=site.id,
        **_blank_to_none(body.model_dump()),
        created_at=now,
        updated_at=now,
    )
    session.add(gate)
    session.flush()
    queued = outbox.enqueue_gates(session, site, [gate], changed=True)
    audit.record(
        session,
        "site_gate.create",
        tenant_id=site.tenant_id,
        actor_user_id=actor_id,
        details={
            "site_id": str(site.id),
            "gate_id": str(gate.id),
            "gate_code": gate.gate_code,
            "lane_code": gate.lane_code,
            "uploads_queued": queued,
        },
    )
    session.commit()
    return gate


def update_gate(
    session: Session, site: Site, gate: SiteGate, body: GatePatch, *, actor_id: uuid.UUID | None
) -> SiteGate:
    """Change the given fields; a real change queues a new registration revision (under the
    new codes when they changed). Required fields cannot be set to null."""
    changes = _blank_to_none(body.model_dump(exclude_unset=True))
    nulls = {k: "不能为空" for k in REQUIRED if k in changes and changes[k] is None}
    if nulls:
        raise validation_error(nulls)
    gate_code = changes.get("gate_code", gate.gate_code)
    lane_code = changes.get("lane_code", gate.lane_code)
    if _taken(session, site, gate_code, lane_code, gate.id):
        raise validation_error({"lane_code": "本站点已有相同出入口编号与道闸编号的道闸"})
    changed = sorted(k for k, v in changes.items() if getattr(gate, k) != v)
    queued = 0
    if changed:
        for name in changed:
            setattr(gate, name, changes[name])
        gate.updated_at = utcnow()
        session.flush()
        queued = outbox.enqueue_gates(session, site, [gate], changed=True)
    audit.record(
        session,
        "site_gate.update",
        tenant_id=site.tenant_id,
        actor_user_id=actor_id,
        details={
            "site_id": str(site.id),
            "gate_id": str(gate.id),
            "fields": changed,
            "uploads_queued": queued,
        },
    )
    session.commit()
    return gate


def delete_gate(
    session: Session, site: Site, gate: SiteGate, *, actor_id: uuid.UUID | None
) -> None:
    """Remove a gate (a mistaken entry). Nothing is sent to the platforms: to report a gate out
    of use, deactivate it (``active: false`` sends a registration with status 0)."""
    details = {
        "site_id": str(site.id),
        "gate_id": str(gate.id),
        "gate_code": gate.gate_code,
        "lane_code": gate.lane_code,
    }
    session.delete(gate)
    audit.record(
        session,
        "site_gate.delete",
        tenant_id=site.tenant_id,
        actor_user_id=actor_id,
        details=details,
    )
    session.commit()
