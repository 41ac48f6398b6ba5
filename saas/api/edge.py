"""Edge device endpoints: passage batches and their images (device-signed requests)."""

from __future__ import annotations

import hashlib

from flask import current_app, g, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel

from saas.api import registry
from saas.api.openapi import parse_body
from saas.auth.devices import device_required
from saas.db import get_session
from saas.errors import ApiError, NotFound
from saas.ledger.ingest import PassageBatch, ingest_passages
from saas.models.tenancy import Site

MAX_IMAGE_BYTES = 5 * 1024 * 1024
IMAGE_TYPES = {b"\xff\xd8\xff": ("image/jpeg", "jpg"), b"\x89PNG\r\n\x1a\n": ("image/png", "png")}


class AckOut(BaseModel):
    event_id: str
    status: str
    seq: int | None
    hash: str | None


class AcksOut(BaseModel):
    acks: list[AckOut]


class ImageStored(BaseModel):
    key: str
    sha256: str


def image_key(tenant_id: object, site_id: object, sha256: str, ext: str) -> str:
    return f"t/{tenant_id}/s/{site_id}/img/{sha256[:2]}/{sha256}.{ext}"


def sniff_image(data: bytes) -> tuple[str, str] | None:
    for magic, kind in IMAGE_TYPES.items():
        if data.startswith(magic):
            return kind
    return None


@registry.route(
    "/edge/passages",
    "POST",
    summary="边缘设备上传通行记录（批量，签名）",
    tags=["edge"],
    permission=None,
    response=AcksOut,
)
@device_required
def post_passages() -> ResponseReturnValue:
    """One transaction per batch; each ack (stored / duplicate / conflict) only after COMMIT.
    A record for another site rejects the whole batch."""
    batch: PassageBatch = parse_body(PassageBatch)
    session = get_session()
    site = session.get(Site, g.device.site_id)
    if site is None:
        raise NotFound("站点")
    site_field = (request.get_json(silent=True) or {}).get("site_id")
    if site_field is not None and str(site_field) != str(site.id):
        raise ApiError(
            403, "wrong_site", "设备只能上传本站点的记录", {"site_id": "not this device's site"}
        )
    acks = ingest_passages(session, site, batch, g.device.device_id)
    return {"acks": [a.as_dict() for a in acks]}


@registry.route(
    "/edge/images/<sha256>",
    "PUT",
    summary="上传抓拍图片（按 SHA-256 寻址）",
    tags=["edge"],
    permission=None,
    status=201,
)
@device_required
def put_image(sha256: str) -> ResponseReturnValue:
    """Content-addressed and idempotent; stored only if the bytes hash to the name."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ApiError(
            422,
            "validation_failed",
            "图片名必须是 SHA-256",
            {"fields": {"sha256": "64 lowercase hex characters"}},
        )
    if (request.content_length or 0) > MAX_IMAGE_BYTES:
        raise ApiError(413, "payload_too_large", "图片超过 5 MB")
    data = request.get_data(cache=False)
    if len(data) > MAX_IMAGE_BYTES:
        raise ApiError(413, "payload_too_large", "图片超过 5 MB")
    kind = sniff_image(data)
    if kind is None:
        raise ApiError(415, "unsupported_media_type", "只接受 JPEG 或 PNG 图片")
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ApiError(
            422,
            "sha256_mismatch",
            "图片内容与 SHA-256 不符",
            {"fields": {"sha256": "does not match the body"}},
        )
    content_type, ext = kind
    key = image_key(g.device.tenant_id, g.device.site_id, sha256, ext)
    storage = current_app.extensions["cleangate.storage"]
    if not storage.exists(key):
        storage.put(key, data, content_type)
    return {"key": key, "sha256": sha256}, 201
