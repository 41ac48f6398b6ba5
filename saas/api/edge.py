"""Edge device endpoints: passage batches and their images (device-signed requests)."""

from __future__ import annotations

from flask import current_app, g, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel

from saas.api import registry
from saas.api.openapi import parse_body
from saas.auth.devices import device_required
from saas.db import get_session
from saas.errors import ApiError, NotFound
from saas.ledger.images import MAX_IMAGE_BYTES, ImageRejected, store_image
from saas.ledger.ingest import PassageBatch, ingest_passages
from saas.models.tenancy import Site


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
    if (request.content_length or 0) > MAX_IMAGE_BYTES:
        raise ApiError(413, "payload_too_large", "图片超过 5 MB")
    data = request.get_data(cache=False)
    storage = current_app.extensions["cleangate.storage"]
    try:
        key = store_image(storage, g.device.tenant_id, g.device.site_id, sha256, data)
    except ImageRejected as exc:
        status = {"payload_too_large": 413, "unsupported_media_type": 415}.get(exc.code, 422)
        fields = {"sha256": str(exc)} if status == 422 else None
        raise ApiError(
            status,
            "validation_failed" if exc.code == "invalid_name" else exc.code,
            str(exc),
            {"fields": fields} if fields else None,
        ) from None
    return {"key": key, "sha256": sha256}, 201
