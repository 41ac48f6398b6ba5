"""Device authentication for edge HTTP calls: each request is signed with the device's Ed25519
key (registered at pairing). The identity, tenant and site come from the key, never from the
message (shared/reference/reliability-performance.md §5).

Headers:
    X-CG-Device     device id (UUID)
    X-CG-Timestamp  unix seconds; must be within ±300 s of the cloud clock
    X-CG-Nonce      16–64 url-safe characters, never reused within 10 minutes
    X-CG-Signature  base64 Ed25519 signature of the string to sign:

    METHOD \\n PATH \\n TIMESTAMP \\n NONCE \\n hex(SHA-256(body))
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import current_app, g, request

from saas import tenancy
from saas.auth import audit
from saas.db import get_session, utcnow
from saas.errors import ApiError
from saas.models.ledger import EdgeDevice
from saas.tenancy import system_context

MAX_SKEW_SECONDS = 300
NONCE_TTL_SECONDS = 600
_NONCE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{digest}".encode()


@dataclass(frozen=True)
class DevicePrincipal:
    device_id: uuid.UUID
    tenant_id: uuid.UUID
    site_id: uuid.UUID
    name: str


def _refuse(
    reason: str, device_id: str | None = None, tenant_id: uuid.UUID | None = None
) -> ApiError:
    """Audited 401: unknown devices, bad signatures and replays are security events."""
    session = get_session()
    with system_context("device auth failure"):
        audit.record(
            session,
            "device.auth_failure",
            tenant_id=tenant_id,
            actor_label=(device_id or "")[:120],
            details={"reason": reason, "path": request.path},
        )
        session.commit()
    current_app.logger.warning("device request refused: %s (device %s)", reason, device_id)
    return ApiError(401, "device_unauthenticated", "设备认证失败", {"reason": reason})


def authenticate_device() -> DevicePrincipal:
    device_header = request.headers.get("X-CG-Device", "")
    timestamp = request.headers.get("X-CG-Timestamp", "")
    nonce = request.headers.get("X-CG-Nonce", "")
    signature = request.headers.get("X-CG-Signature", "")
    if not (device_header and timestamp and nonce and signature):
        raise _refuse("missing_headers", device_header)
    try:
        device_id = uuid.UUID(device_header)
        sent = int(timestamp)
        sig = base64.b64decode(signature, validate=True)
    except (ValueError, binascii.Error):
        raise _refuse("malformed_headers", device_header) from None
    if not _NONCE.match(nonce):
        raise _refuse("malformed_headers", device_header)
    session = get_session()
    with system_context("device auth"):
        device = session.get(EdgeDevice, device_id)
    if device is None or device.public_key is None or device.status != "active":
        raise _refuse("unknown_device", device_header)
    try:
        Ed25519PublicKey.from_public_bytes(device.public_key).verify(
            sig,
            string_to_sign(
                request.method, request.path, timestamp, nonce, request.get_data(cache=True)
            ),
        )
    except (InvalidSignature, ValueError):
        raise _refuse("bad_signature", device_header, device.tenant_id) from None
    if abs(time.time() - sent) > MAX_SKEW_SECONDS:
        raise _refuse("stale_timestamp", device_header, device.tenant_id)
    redis = current_app.extensions["cleangate.redis"]
    if not redis.set(f"device-nonce:{device_id}:{nonce}", 1, nx=True, ex=NONCE_TTL_SECONDS):
        raise _refuse("replayed_nonce", device_header, device.tenant_id)
    with system_context("device seen"):
        device.last_seen_at = utcnow()
        session.commit()
    return DevicePrincipal(device.id, device.tenant_id, device.site_id, device.name)


def device_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """Authenticate the device and run the view in its tenant's context."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        device = authenticate_device()
        g.device = device
        token = tenancy.set_context(tenancy.TenantContext(tenant_id=device.tenant_id))
        try:
            return view(*args, **kwargs)
        finally:
            tenancy.reset_context(token)

    wrapper.device_authenticated = True  # type: ignore[attr-defined]
    return wrapper


def sign_request(
    private_key: Any,
    device_id: uuid.UUID,
    method: str,
    path: str,
    body: bytes,
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """Client side (tests, simulators, the edge bridge has its own copy without Flask)."""
    import secrets

    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_urlsafe(18)
    sig = private_key.sign(string_to_sign(method, path, ts, nonce, body))
    return {
        "X-CG-Device": str(device_id),
        "X-CG-Timestamp": ts,
        "X-CG-Nonce": nonce,
        "X-CG-Signature": base64.b64encode(sig).decode(),
    }
