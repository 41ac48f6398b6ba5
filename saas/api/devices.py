"""Edge devices of the tenant's sites: register a device's public key, list, revoke.
(The pairing-code flow of the edge bridge builds on this.)"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Annotated

from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from saas.api import items, registry
from saas.api.pagination import QUERY_PARAMETERS, paginate
from saas.auth import audit
from saas.auth.permissions import Permission
from saas.auth.principal import check_permission
from saas.db import get_session
from saas.errors import NotFound, validation_error
from saas.models.ledger import EdgeDevice
from saas.sites import get_site


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    site_id: uuid.UUID
    name: Annotated[str, Field(min_length=1, max_length=100)]
    public_key: Annotated[
        str, Field(min_length=40, max_length=60, description="Ed25519 public key, 32 bytes base64")
    ]


class DeviceOut(BaseModel):
    id: uuid.UUID
    site_id: uuid.UUID
    name: str
    public_key: str | None
    status: str
    created_at: datetime
    last_seen_at: datetime | None


class DevicePage(BaseModel):
    items: list[DeviceOut]
    next_cursor: str | None


def device_out(row: EdgeDevice) -> dict[str, object]:
    return DeviceOut(
        id=row.id,
        site_id=row.site_id,
        name=row.name,
        status=row.status,
        public_key=base64.b64encode(row.public_key).decode() if row.public_key else None,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
    ).model_dump(mode="json")


@registry.route(
    "/edge-devices",
    "POST",
    summary="登记边缘设备（公钥）",
    tags=["edge"],
    permission=Permission.SITE_WRITE,
    body=DeviceCreate,
    response=DeviceOut,
    status=201,
)
def create_device(body: DeviceCreate) -> ResponseReturnValue:
    principal = check_permission(Permission.SITE_WRITE)
    session = get_session()
    site = get_site(session, body.site_id)  # another tenant's site → 404
    try:
        raw = base64.b64decode(body.public_key, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != 32:
        raise validation_error({"public_key": "must be a 32-byte Ed25519 key in base64"})
    device = EdgeDevice(site_id=site.id, name=body.name, public_key=raw)
    session.add(device)
    session.flush()
    audit.record(
        session,
        "device.register",
        tenant_id=principal.tenant_id,
        actor_user_id=principal.user_id,
        actor_label=principal.username,
        details={"device_id": str(device.id), "site_id": str(site.id)},
    )
    session.commit()
    return device_out(device), 201


@registry.route(
    "/edge-devices",
    "GET",
    summary="边缘设备列表",
    tags=["edge"],
    permission=Permission.SITE_READ,
    response=DevicePage,
    query=QUERY_PARAMETERS,
)
def list_devices() -> ResponseReturnValue:
    rows, cursor = paginate(get_session(), select(EdgeDevice), EdgeDevice.created_at, EdgeDevice.id)
    return items([device_out(r) for r in rows], cursor)


@registry.route(
    "/edge-devices/<uuid:device_id>/revoke",
    "POST",
    summary="吊销边缘设备",
    tags=["edge"],
    permission=Permission.SITE_WRITE,
    response=DeviceOut,
)
def revoke_device(device_id: uuid.UUID) -> ResponseReturnValue:
    principal = check_permission(Permission.SITE_WRITE)
    session = get_session()
    device = session.scalars(select(EdgeDevice).where(EdgeDevice.id == device_id)).one_or_none()
    if device is None:
        raise NotFound("设备")
    if device.status != "revoked":
        device.status = "revoked"
        audit.record(
            session,
            "device.revoke",
            tenant_id=principal.tenant_id,
            actor_user_id=principal.user_id,
            actor_label=principal.username,
            details={"device_id": str(device.id)},
        )
        session.commit()
    return device_out(device)
