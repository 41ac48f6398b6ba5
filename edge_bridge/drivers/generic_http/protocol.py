"""The generic HTTP JSON protocol: our documented push and command format for integrators.

Messages are signed with HMAC-SHA256 under a shared secret per device over
``"<timestamp>.<raw body>"``; the timestamp header bounds replays. Full spec:
docs/drivers/generic_http.md.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from datetime import datetime
from typing import Any

from edge_bridge.drivers.base import DirectionHint, Image, PlateRead
from saas.compliance import PlateColor, parse_color

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-CleanGate-Signature"
TIMESTAMP_HEADER = "X-CleanGate-Timestamp"
SCHEME = "sha256="
MAX_SKEW = 300.0


class PayloadError(ValueError):
    pass


class SignatureError(ValueError):
    pass


def canonical(timestamp: str, body: bytes) -> bytes:
    """What is signed: the timestamp header, a dot, then the exact body bytes."""
    return timestamp.encode("ascii") + b"." + body


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return SCHEME + hmac.new(secret, canonical(timestamp, body), hashlib.sha256).hexdigest()


def signed_headers(secret: bytes, body: bytes, now: float | None = None) -> list[tuple[str, str]]:
    timestamp = str(int(time.time() if now is None else now))
    return [
        ("Content-Type", "application/json"),
        (TIMESTAMP_HEADER, timestamp),
        (SIGNATURE_HEADER, sign(secret, timestamp, body)),
    ]


def verify(
    secret: bytes,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    *,
    now: float | None = None,
    max_skew: float = MAX_SKEW,
) -> None:
    """Raise ``SignatureError`` unless the signature matches (constant-time) and is fresh."""
    if not timestamp or not signature:
        raise SignatureError("missing signature headers")
    try:
        stamp = int(timestamp)
    except ValueError as exc:
        raise SignatureError("bad timestamp") from exc
    current = time.time() if now is None else now
    if abs(current - stamp) > max_skew:
        raise SignatureError("timestamp outside the allowed skew")
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode()):
        raise SignatureError("signature mismatch")


def _color(value: object) -> PlateColor | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise PayloadError("color must be a string")
    color = parse_color(value)
    if color is None:
        log.warning("generic_http: unknown color %r mapped to None", value)
    return color


def parse_push(payload: object, *, received_at: datetime, default_lane: str) -> PlateRead:
    """``{device, lane, plate, color, confidence, time, event_id, images}`` to a PlateRead."""
    if not isinstance(payload, dict):
        raise PayloadError("body must be a JSON object")
    device, plate, event_id = payload.get("device"), payload.get("plate"), payload.get("event_id")
    if not isinstance(device, str) or not device:
        raise PayloadError("device is required")
    if not isinstance(plate, str):
        raise PayloadError("plate must be a string (use '' when nothing was read)")
    if not isinstance(event_id, str | int) or isinstance(event_id, bool) or event_id == "":
        raise PayloadError("event_id is required")
    confidence = payload.get("confidence", 0)
    if isinstance(confidence, bool) or not isinstance(confidence, int | float):
        raise PayloadError("confidence must be a number 0..1")
    if not 0 <= confidence <= 1:
        raise PayloadError("confidence must be within 0..1")
    try:
        when = datetime.fromisoformat(str(payload.get("time")))
    except ValueError as exc:
        raise PayloadError("time must be ISO 8601") from exc
    if when.tzinfo is None:
        raise PayloadError("time must carry a UTC offset")
    lane = payload.get("lane") or default_lane
    if not isinstance(lane, str):
        raise PayloadError("lane must be a string")
    direction = payload.get("direction", "unknown")
    try:
        hint = DirectionHint(direction)
    except ValueError as exc:
        raise PayloadError(f"direction must be one of {[d.value for d in DirectionHint]}") from exc
    images = []
    for item in payload.get("images") or []:
        if not isinstance(item, dict) or not isinstance(item.get("base64"), str):
            raise PayloadError("images[] entries need kind, content_type, base64")
        try:
            data = base64.b64decode(item["base64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise PayloadError("image is not base64") from exc
        images.append(
            Image(
                str(item.get("kind", "scene")),
                data,
                str(item.get("content_type", "image/jpeg")),
            )
        )
    color = payload.get("color")
    return PlateRead(
        device_serial=device,
        lane=lane,
        plate_raw=plate,
        color=_color(color),
        confidence=float(confidence),
        direction=hint,
        event_time=when,
        received_at=received_at,
        event_id=str(event_id),
        images=tuple(images),
        replayed=bool(payload.get("replayed", False)),
        vendor="generic_http",
        vendor_color_code=color if isinstance(color, str) else None,
    )


def push_body(read: PlateRead) -> dict[str, Any]:
    """The inverse of ``parse_push`` (simulators, bridges from other systems)."""
    return {
        "device": read.device_serial,
        "lane": read.lane,
        "plate": read.plate_raw,
        "color": read.color.value if read.color else None,
        "confidence": read.confidence,
        "time": read.event_time.isoformat(),
        "event_id": read.event_id,
        "direction": read.direction.value,
        "replayed": read.replayed,
        "images": [
            {
                "kind": i.kind,
                "content_type": i.content_type,
                "base64": base64.b64encode(i.data).decode(),
            }
            for i in read.images
        ],
    }
