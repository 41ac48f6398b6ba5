"""Edge devices (bridges) of the tenant's sites: register a public key directly, or create a
bridge and pair the box with a one-time code; list with live presence; revoke; remote commands.

The functions without a route are the service layer the portal (saas/portal/bridges.py) shares,
so a rule (code format, who may open a barrier, what a display accepts) lives in one place.

Pairing (docs/edge-protocol.md): a bridge is created ``pending`` without a key and gets an
8-character code (no 0/O/1/I/L), valid 15 minutes, one-time, stored only as SHA-256. The box
posts the code with its public key to ``/edge/pair`` and the bridge becomes ``active``. A new
code for an ``active`` bridge re-pairs it (a replacement box, or a new key): the old key keeps
working until the new code is redeemed and stops at that moment. Revoked bridges stay revoked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, cast

import redis
from flask import current_app
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from saas.api import items, registry
from saas.api.pagination import QUERY_PARAMETERS, paginate
from saas.auth import audit, throttle
from saas.auth.permissions import Permission
from saas.auth.principal import Principal, check_permission
from saas.db import get_session, utcnow
from saas.edge_hub import bus
from saas.errors import ApiError, NotFound, validation_error
from saas.models.ledger import EdgeDevice
from saas.models.tenancy import Site
from saas.sites import get_site
from saas.tenancy import system_context, tenant_context

log = logging.getLogger(__name__)

PAIRING_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # no 0/O, 1/I/L: read aloud, typed by hand
PAIRING_CODE_LENGTH = 8
PAIRING_TTL = timedelta(minutes=15)
PAIR_ATTEMPTS_PER_MINUTE = 10  # per client address, every attempt counts
_CODE = re.compile(rf"^[{PAIRING_ALPHABET}]{{{PAIRING_CODE_LENGTH}}}$")
_COMMAND_ID = re.compile(r"^[0-9a-f]{32}$")

DISPLAY_MAX_LINES = 4
DISPLAY_MAX_CHARS = 40  # per line
MIN_REASON_CHARS = 2

# Who may send which command: opening a barrier is a release (guards may), the rest configure.
COMMAND_PERMISSIONS: dict[str, Permission] = {
    "open_barrier": Permission.PASSAGE_RELEASE,
    "show_text": Permission.SITE_WRITE,
    "resync": Permission.SITE_WRITE,
}


# --- request and response bodies ----------------------------------------------------------------


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    site_id: uuid.UUID
    name: Annotated[str, Field(min_length=1, max_length=100)]
    public_key: Annotated[
        str, Field(min_length=40, max_length=60, description="Ed25519 public key, 32 bytes base64")
    ]


class BridgeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    site_id: uuid.UUID
    name: Annotated[str, Field(min_length=1, max_length=100)]


class DeviceOut(BaseModel):
    id: uuid.UUID
    site_id: uuid.UUID
    name: str
    public_key: str | None
    status: str = Field(description="pending | active | revoked")
    created_at: datetime
    last_seen_at: datetime | None
    paired_at: datetime | None
    pairing_expires_at: datetime | None = Field(description="an outstanding pairing code expires")
    # live presence, from the hubs (Redis); absent → offline
    online: bool
    last_seen: datetime | None = Field(description="latest of the hub's and the database's")
    outbox_depth: int | None
    clock_skew_ms: int | None
    software_version: str | None


class DevicePage(BaseModel):
    items: list[DeviceOut]
    next_cursor: str | None


class PairingCodeOut(BaseModel):
    device: DeviceOut
    pairing_code: str = Field(description="shown once; only its SHA-256 is stored")
    pairing_expires_at: datetime
    pair_command: str = Field(description="what to run on the box")


class PairIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: Annotated[str, Field(min_length=1, max_length=20)]
    public_key: Annotated[
        str, Field(min_length=1, max_length=100, description="Ed25519 public key, 32 bytes base64")
    ]
    software_version: Annotated[str | None, Field(max_length=40)] = None


class PairOut(BaseModel):
    device_id: uuid.UUID
    tenant_id: uuid.UUID
    site_id: uuid.UUID
    site_name: str
    name: str
    hub_url: str


class CommandIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: Literal["open_barrier", "show_text", "resync"]
    gate: Annotated[str | None, Field(min_length=1, max_length=20)] = None  # 出入口编号
    lane: Annotated[str | None, Field(pattern=r"^[0-9]{2}$")] = None  # 道闸编号
    reason: Annotated[str, Field(max_length=200)] = ""
    text: Annotated[str | None, Field(max_length=200)] = None


class CommandOut(BaseModel):
    command_id: str
    device_id: uuid.UUID
    action: str
    gate: str | None
    lane: str | None
    reason: str
    text: str | None
    issued_by: str
    issued_at: datetime
    state: str = Field(description="sent | ok | failed | offline")
    detail: str
    finished_at: datetime | None


# --- service layer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedCode:
    device: EdgeDevice
    code: str
    expires_at: datetime


def decode_public_key(value: str) -> bytes:
    """base64 of a raw 32-byte Ed25519 key, or 422 naming ``public_key``."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise validation_error({"public_key": "must be a 32-byte Ed25519 key in base64"})
    return raw


def new_pairing_code() -> str:
    return "".join(secrets.choice(PAIRING_ALPHABET) for _ in range(PAIRING_CODE_LENGTH))


def normalize_code(code: str) -> str:
    """What a person types: any case, spaces or a dash in the middle are fine."""
    return re.sub(r"[\s-]", "", code).upper()


def code_digest(code: str) -> bytes:
    return hashlib.sha256(normalize_code(code).encode()).digest()


def pair_command(base_url: str, code: str) -> str:
    return f"cleangate-edge pair --cloud {base_url} --code {code}"


def find_device(session: Session, device_id: uuid.UUID) -> EdgeDevice:
    """The current tenant's device, or 404 (another tenant's id answers the same)."""
    device = session.scalars(select(EdgeDevice).where(EdgeDevice.id == device_id)).one_or_none()
    if device is None:
        raise NotFound("设备")
    return device


def _audit(session: Session, principal: Principal, event: str, details: dict[str, Any]) -> None:
    audit.record(
        session,
        event,
        tenant_id=principal.tenant_id,
        actor_user_id=principal.user_id,
        actor_label=principal.username,
        details=details,
    )


def _set_code(session: Session, principal: Principal, device: EdgeDevice) -> IssuedCode:
    code = new_pairing_code()
    expires_at = utcnow() + PAIRING_TTL
    device.pairing_code_hash = code_digest(code)
    device.pairing_expires_at = expires_at
    _audit(
        session,
        principal,
        "device.pairing_code",
        {
            "device_id": str(device.id),
            "site_id": str(device.site_id),
            "expires_at": expires_at.isoformat(),
            "repair": device.status == "active",
        },
    )
    return IssuedCode(device, code, expires_at)


def create_bridge(
    session: Session, principal: Principal, site_id: uuid.UUID, name: str
) -> IssuedCode:
    """A pending bridge of one of the tenant's sites, with its first pairing code."""
    site = get_site(session, site_id)  # another tenant's site → 404
    device = EdgeDevice(site_id=site.id, name=name, public_key=None, status="pending")
    session.add(device)
    session.flush()
    _audit(
        session,
        principal,
        "device.register",
        {"device_id": str(device.id), "site_id": str(site.id), "pending": True},
    )
    issued = _set_code(session, principal, device)
    session.commit()
    return issued


def issue_pairing_code(session: Session, principal: Principal, device: EdgeDevice) -> IssuedCode:
    """A fresh code (the previous one stops working): pairs a pending bridge, re-pairs an
    active one (its current key works until the new code is redeemed)."""
    if device.status == "revoked":
        raise ApiError(409, "device_revoked", _("网关已吊销，不能再配对；请新增网关"))
    issued = _set_code(session, principal, device)
    session.commit()
    return issued


def revoke_device_now(session: Session, principal: Principal, device: EdgeDevice) -> None:
    if device.status == "revoked":
        return
    device.status = "revoked"
    device.pairing_code_hash = None  # an outstanding code must not revive it
    device.pairing_expires_at = None
    _audit(session, principal, "device.revoke", {"device_id": str(device.id)})
    session.commit()
    _drop_connection(device.id)


def _drop_connection(device_id: uuid.UUID) -> None:
    """Close the hub connection authenticated with the old status or key (after COMMIT)."""
    try:
        bus.notify_device_changed(current_app.extensions["cleangate.redis"], device_id)
    except Exception:  # committed; the hub re-checks on the bridge's next connection
        log.exception("could not tell the hubs that device %s changed", device_id)


class PairingRefused(ApiError):
    def __init__(self) -> None:
        super().__init__(
            400,
            "invalid_pairing_code",
            _("配对码无效、已使用或已过期"),
            {"fields": {"code": "unknown, already used or expired"}},
        )


def _pair_failure(
    session: Session, reason: str, device: EdgeDevice | None = None
) -> PairingRefused:
    """Audit the refused attempt (before any tenant is known: no tenant, except for an expired
    code, which names its device) and answer the same 400 whatever the reason."""
    session.rollback()
    with system_context("edge pairing: failed attempt"):
        audit.record(
            session,
            "device.pair_failure",
            tenant_id=device.tenant_id if device is not None else None,
            actor_label="edge pairing",
            details={"reason": reason, **({"device_id": str(device.id)} if device else {})},
        )
        session.commit()
    log.warning("edge pairing refused: %s", reason)
    return PairingRefused()


def redeem_pairing_code(
    session: Session, code: str, public_key: bytes, software_version: str | None
) -> dict[str, Any]:
    """Bind the box's key to the bridge the code was issued for, once. The code is the only
    thing that names the tenant, so the look-up goes past tenant scoping; everything written
    after it is written in that tenant's context."""
    normalized = normalize_code(code)
    digest = code_digest(normalized)
    now = utcnow()
    device = None
    if _CODE.match(normalized):
        with system_context("edge pairing: code look-up"):
            device = session.scalars(
                select(EdgeDevice).where(EdgeDevice.pairing_code_hash == digest)
            ).one_or_none()
    if device is None or device.status == "revoked":
        raise _pair_failure(session, "unknown_code")
    if device.pairing_expires_at is None or device.pairing_expires_at <= now:
        raise _pair_failure(session, "expired", device)
    with tenant_context(device.tenant_id):
        repaired = device.status == "active"
        # One statement that only matches while the code is still there: of two boxes racing
        # with the same code, exactly one wins.
        claimed = cast(
            "CursorResult[Any]",
            session.execute(
                update(EdgeDevice)
                .where(
                    EdgeDevice.id == device.id,
                    EdgeDevice.pairing_code_hash == digest,
                    EdgeDevice.status != "revoked",
                )
                .values(
                    public_key=public_key,
                    status="active",
                    paired_at=now,
                    software_version=software_version,
                    pairing_code_hash=None,
                    pairing_expires_at=None,
                )
            ),
        ).rowcount
        if claimed != 1:
            raise _pair_failure(session, "already_used")
        site = session.get(Site, device.site_id)
        assert site is not None
        audit.record(
            session,
            "device.paired",
            tenant_id=device.tenant_id,
            actor_label=f"device {device.id}",
            details={
                "device_id": str(device.id),
                "site_id": str(device.site_id),
                "software_version": software_version,
                "repair": repaired,
                "key_sha256": hashlib.sha256(public_key).hexdigest(),
            },
        )
        session.commit()
        if repaired:
            _drop_connection(device.id)  # the old box's key no longer holds the connection
        return {
            "device_id": device.id,
            "tenant_id": device.tenant_id,
            "site_id": device.site_id,
            "site_name": site.name,
            "name": device.name,
        }


def presence_for(client: redis.Redis, devices: list[EdgeDevice]) -> dict[str, dict[str, Any]]:
    """Live state of a page of devices in one Redis round trip; Redis down → all offline."""
    return bus.presence(client, [d.id for d in devices])


def _epoch(value: object) -> datetime | None:
    return datetime.fromtimestamp(float(value), UTC) if isinstance(value, int | float) else None


def device_view(row: EdgeDevice, live: dict[str, Any] | None = None) -> DeviceOut:
    live = live or {}
    seen = [t for t in (_epoch(live.get("last_seen")), row.last_seen_at) if t is not None]
    return DeviceOut(
        id=row.id,
        site_id=row.site_id,
        name=row.name,
        status=row.status,
        public_key=base64.b64encode(row.public_key).decode() if row.public_key else None,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        paired_at=row.paired_at,
        pairing_expires_at=row.pairing_expires_at if row.pairing_code_hash else None,
        online=bool(live.get("online")) and row.status == "active",
        last_seen=max(seen) if seen else None,
        outbox_depth=live.get("outbox_depth"),
        clock_skew_ms=live.get("clock_skew_ms"),
        software_version=live.get("software_version") or row.software_version,
    )


def device_out(row: EdgeDevice, live: dict[str, Any] | None = None) -> dict[str, object]:
    return device_view(row, live).model_dump(mode="json")


def _redis() -> redis.Redis:
    return cast("redis.Redis", current_app.extensions["cleangate.redis"])


def check_command(body: CommandIn) -> None:
    """403 without the action's permission, 422 naming each missing or bad field."""
    check_permission(COMMAND_PERMISSIONS[body.action])
    fields: dict[str, str] = {}
    if body.action == "open_barrier":
        if not body.gate:
            fields["gate"] = "required to open a barrier"
        if not body.lane:
            fields["lane"] = "required to open a barrier"
        if len(body.reason.strip()) < MIN_REASON_CHARS:
            fields["reason"] = f"required: at least {MIN_REASON_CHARS} characters"
    if body.action == "show_text":
        lines = (body.text or "").replace("\r\n", "\n").split("\n")
        if not (body.text or "").strip():
            fields["text"] = "required"
        elif len(lines) > DISPLAY_MAX_LINES:
            fields["text"] = f"at most {DISPLAY_MAX_LINES} lines"
        elif any(len(line) > DISPLAY_MAX_CHARS for line in lines):
            fields["text"] = f"at most {DISPLAY_MAX_CHARS} characters per line"
        elif any(ord(ch) < 32 for line in lines for ch in line):
            fields["text"] = "control characters are not allowed"
    if fields:
        raise validation_error(fields)


def send_command(
    session: Session, client: redis.Redis, principal: Principal, device: EdgeDevice, body: CommandIn
) -> dict[str, Any]:
    """Publish to the hub holding the bridge and audit the attempt (sent or offline). An
    offline bridge gets nothing queued: a barrier must not open hours later (409)."""
    if device.status != "active":
        raise ApiError(409, "device_not_active", _("网关未激活或已吊销，不能发送指令"))
    text = body.text.replace("\r\n", "\n") if body.text else None
    command: dict[str, Any] | None
    try:
        command = bus.issue_command(
            client,
            device.id,
            action=body.action,
            issued_by=principal.username,
            gate=body.gate,
            lane=body.lane,
            reason=body.reason,
            text=text,
        )
    except bus.BridgeOffline:
        command = None
    _audit(
        session,
        principal,
        "device.command",
        {
            "device_id": str(device.id),
            "command_id": command["command_id"] if command else None,
            "action": body.action,
            "gate": body.gate,
            "lane": body.lane,
            "reason": body.reason,
            "text": text,
            "state": command["state"] if command else "offline",
        },
    )
    session.commit()
    if command is None:
        raise ApiError(409, "bridge_offline", _("网关离线，指令未发送"))
    return command


def command_out(command: dict[str, Any]) -> dict[str, object]:
    return CommandOut(
        command_id=command["command_id"],
        device_id=command["device_id"],
        action=command["action"],
        gate=command.get("gate"),
        lane=command.get("lane"),
        reason=command.get("reason") or "",
        text=command.get("text"),
        issued_by=command.get("issued_by") or "",
        issued_at=_epoch(command.get("issued_at")) or utcnow(),
        state=command.get("state") or "sent",
        detail=command.get("detail") or "",
        finished_at=_epoch(command.get("finished_at")),
    ).model_dump(mode="json")


def _pairing_answer(issued: IssuedCode) -> dict[str, object]:
    settings = current_app.config["CLEANGATE_SETTINGS"]
    return PairingCodeOut(
        device=device_view(issued.device, {}),
        pairing_code=issued.code,
        pairing_expires_at=issued.expires_at,
        pair_command=pair_command(settings.base_url, issued.code),
    ).model_dump(mode="json")


# --- routes -------------------------------------------------------------------------------------


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
    raw = decode_public_key(body.public_key)
    device = EdgeDevice(site_id=site.id, name=body.name, public_key=raw, paired_at=utcnow())
    session.add(device)
    session.flush()
    _audit(
        session,
        principal,
        "device.register",
        {"device_id": str(device.id), "site_id": str(site.id)},
    )
    session.commit()
    return device_out(device), 201


@registry.route(
    "/edge-bridges",
    "POST",
    summary="新增边缘网关（返回一次性配对码）",
    tags=["edge"],
    permission=Permission.SITE_WRITE,
    body=BridgeCreate,
    response=PairingCodeOut,
    status=201,
)
def create_edge_bridge(body: BridgeCreate) -> ResponseReturnValue:
    principal = check_permission(Permission.SITE_WRITE)
    issued = create_bridge(get_session(), principal, body.site_id, body.name)
    return _pairing_answer(issued), 201, {"Cache-Control": "no-store"}


@registry.route(
    "/edge-devices/<uuid:device_id>/pairing-code",
    "POST",
    summary="重新生成配对码（待配对网关配对，已激活网关换钥重配）",
    tags=["edge"],
    permission=Permission.SITE_WRITE,
    response=PairingCodeOut,
    status=201,
)
def new_device_pairing_code(device_id: uuid.UUID) -> ResponseReturnValue:
    principal = check_permission(Permission.SITE_WRITE)
    session = get_session()
    issued = issue_pairing_code(session, principal, find_device(session, device_id))
    return _pairing_answer(issued), 201, {"Cache-Control": "no-store"}


@registry.route(
    "/edge/pair",
    "POST",
    summary="边缘网关用配对码换取身份（无需登录，按来源地址限流）",
    tags=["edge"],
    permission=None,
    body=PairIn,
    response=PairOut,
)
def pair_device(body: PairIn) -> ResponseReturnValue:
    ip = audit.client_ip() or "unknown"
    if not throttle.hit(_redis(), f"edge-pair:{ip}", PAIR_ATTEMPTS_PER_MINUTE):
        raise ApiError(429, "rate_limited", _("尝试次数过多，请稍后再试"))
    public_key = decode_public_key(body.public_key)
    paired = redeem_pairing_code(get_session(), body.code, public_key, body.software_version)
    settings = current_app.config["CLEANGATE_SETTINGS"]
    return PairOut(**paired, hub_url=settings.edge_hub_url).model_dump(mode="json")


# The one-time code in the body is the credential; no cookie is consulted, so no CSRF token.
pair_device.csrf_exempt = True  # type: ignore[attr-defined]


@registry.route(
    "/edge-devices",
    "GET",
    summary="边缘设备列表（含在线状态）",
    tags=["edge"],
    permission=Permission.SITE_READ,
    response=DevicePage,
    query=QUERY_PARAMETERS,
)
def list_devices() -> ResponseReturnValue:
    rows, cursor = paginate(get_session(), select(EdgeDevice), EdgeDevice.created_at, EdgeDevice.id)
    live = presence_for(_redis(), list(rows))
    return items([device_out(r, live.get(str(r.id))) for r in rows], cursor)


@registry.route(
    "/edge-devices/<uuid:device_id>",
    "GET",
    summary="边缘设备详情（含在线状态）",
    tags=["edge"],
    permission=Permission.SITE_READ,
    response=DeviceOut,
)
def get_device(device_id: uuid.UUID) -> ResponseReturnValue:
    device = find_device(get_session(), device_id)
    return device_out(device, presence_for(_redis(), [device]).get(str(device.id)))


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
    device = find_device(session, device_id)
    revoke_device_now(session, principal, device)
    return device_out(device)


@registry.route(
    "/edge-devices/<uuid:device_id>/commands",
    "POST",
    summary="向边缘网关发送指令（远程抬杆须填写原因）",
    tags=["edge"],
    permission=Permission.SITE_READ,
    body=CommandIn,
    response=CommandOut,
    status=202,
)
def create_device_command(device_id: uuid.UUID, body: CommandIn) -> ResponseReturnValue:
    """open_barrier needs passage.release, gate, lane and a reason; show_text and resync need
    site.write. 409 ``bridge_offline`` when no hub holds the bridge (nothing is queued)."""
    principal = check_permission(Permission.SITE_READ)
    check_command(body)
    session = get_session()
    device = find_device(session, device_id)
    command = send_command(session, _redis(), principal, device, body)
    return command_out(command), 202


@registry.route(
    "/edge-devices/<uuid:device_id>/commands/<command_id>",
    "GET",
    summary="指令执行状态",
    tags=["edge"],
    permission=Permission.SITE_READ,
    response=CommandOut,
)
def get_device_command(device_id: uuid.UUID, command_id: str) -> ResponseReturnValue:
    device = find_device(get_session(), device_id)
    command = bus.command_status(_redis(), command_id) if _COMMAND_ID.match(command_id) else None
    if command is None or command.get("device_id") != str(device.id):
        raise NotFound("指令")
    return command_out(command)
