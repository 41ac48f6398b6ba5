"""The passage ledger: search, detail with its amendments, images, and manual release."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from flask import Response, current_app, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from saas.api import registry
from saas.api.openapi import error_fields
from saas.api.pagination import page_args
from saas.auth.permissions import Permission
from saas.auth.principal import check_permission
from saas.db import get_session
from saas.errors import ApiError, NotFound
from saas.ledger import queries
from saas.ledger.ingest import append_amendment
from saas.models.ledger import Passage
from saas.models.tenancy import Site

FILTER_PARAMETERS = [
    {"name": name, "in": "query", "required": False, "schema": schema}
    for name, schema in (
        ("since", {"type": "string", "format": "date-time"}),
        ("until", {"type": "string", "format": "date-time"}),
        ("site_id", {"type": "string", "format": "uuid"}),
        ("gate", {"type": "string"}),
        ("lane", {"type": "string", "pattern": "^[0-9]{2}$"}),
        ("plate", {"type": "string", "description": "prefix of the normalized plate"}),
        ("verdict", {"type": "string", "enum": ["ALLOW", "DENY", "REVIEW"]}),
        ("stage", {"type": "string"}),
        ("fuel", {"type": "string"}),
        ("direction", {"type": "string", "enum": ["in", "out"]}),
        (
            "kind",
            {"type": "string", "enum": ["passage", "manual_release", "cargo", "correction", "all"]},
        ),
        ("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
        ("cursor", {"type": "string"}),
    )
]


class PassageOut(BaseModel):
    event_id: uuid.UUID
    site_id: uuid.UUID
    seq: int
    kind: str
    amends_event_id: uuid.UUID | None
    captured_at: datetime
    received_at: datetime
    gate: str | None
    lane: str | None
    direction: str | None
    plate: str | None
    plate_color: str | None
    verdict: str | None
    emission_stage: str | None
    fuel_type: str | None
    hash: str


class PassagePage(BaseModel):
    items: list[PassageOut]
    next_cursor: str | None


class PassageDetail(PassageOut):
    record: dict[str, Any]
    amendments: list[PassageOut]


class ReleaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: Annotated[str, Field(min_length=4, max_length=500)]


class AmendmentOut(BaseModel):
    event_id: uuid.UUID
    seq: int
    hash: str


def passage_out(row: Passage) -> dict[str, Any]:
    return PassageOut(
        event_id=row.event_id,
        site_id=row.site_id,
        seq=row.seq,
        kind=row.kind,
        amends_event_id=row.amends_event_id,
        captured_at=row.captured_at,
        received_at=row.received_at,
        gate=row.gate_code,
        lane=row.lane_code,
        direction=row.direction,
        plate=row.plate,
        plate_color=row.plate_color,
        verdict=row.verdict,
        emission_stage=row.emission_stage,
        fuel_type=row.fuel_type,
        hash=row.hash.hex(),
    ).model_dump(mode="json")


def parse_filter(args: dict[str, str]) -> queries.PassageFilter:
    data = {k: v for k, v in args.items() if k not in {"limit", "cursor"} and v != ""}
    try:
        return queries.PassageFilter.model_validate(data)
    except ValidationError as exc:
        raise ApiError(
            422, "validation_failed", "筛选条件有误", {"fields": error_fields(exc)}
        ) from None


def get_passage_or_404(event_id: uuid.UUID) -> Passage:
    row = queries.find_passage(get_session(), event_id)
    if row is None:
        raise NotFound("通行记录")
    return row


@registry.route(
    "/passages",
    "GET",
    summary="通行记录台账查询",
    tags=["ledger"],
    permission=Permission.LEDGER_READ,
    response=PassagePage,
    query=FILTER_PARAMETERS,
)
def list_passages() -> ResponseReturnValue:
    flt = parse_filter(request.args.to_dict())
    limit, cursor = page_args()
    rows, next_cursor = queries.page(get_session(), flt, limit, cursor)
    return {"items": [passage_out(r) for r in rows], "next_cursor": next_cursor}


@registry.route(
    "/passages/<uuid:event_id>",
    "GET",
    summary="通行记录详情（含决策追溯和补录）",
    tags=["ledger"],
    permission=Permission.LEDGER_READ,
    response=PassageDetail,
)
def get_passage(event_id: uuid.UUID) -> ResponseReturnValue:
    row = get_passage_or_404(event_id)
    out = passage_out(row)
    out["record"] = json.loads(row.record)
    out["amendments"] = [passage_out(a) for a in queries.amendments_of(get_session(), event_id)]
    return out


@registry.route(
    "/passages/<uuid:event_id>/images/<sha256>",
    "GET",
    summary="通行抓拍图片",
    tags=["ledger"],
    permission=Permission.LEDGER_READ,
)
def get_passage_image(event_id: uuid.UUID, sha256: str) -> ResponseReturnValue:
    """Only images the (tenant-scoped) record names are served."""
    from saas.ledger.images import image_key

    row = get_passage_or_404(event_id)
    refs = {i["sha256"]: i for i in json.loads(row.record).get("images", [])}
    ref = refs.get(sha256)
    if ref is None:
        raise NotFound("图片")
    ext = "png" if ref["content_type"] == "image/png" else "jpg"
    storage = current_app.extensions["cleangate.storage"]
    key = image_key(row.tenant_id, row.site_id, sha256, ext)
    if not storage.exists(key):
        raise NotFound("图片")
    return Response(
        storage.get(key),
        mimetype=ref["content_type"],
        headers={"Cache-Control": "private, max-age=86400"},
    )


@registry.route(
    "/passages/<uuid:event_id>/release",
    "POST",
    summary="人工放行（需填写原因，作为补充记录追加到台账）",
    tags=["ledger"],
    permission=Permission.PASSAGE_RELEASE,
    body=ReleaseIn,
    response=AmendmentOut,
    status=201,
)
def release_passage(event_id: uuid.UUID, body: ReleaseIn) -> ResponseReturnValue:
    principal = check_permission(Permission.PASSAGE_RELEASE)
    session = get_session()
    row = get_passage_or_404(event_id)
    if row.kind != "passage":
        raise ApiError(
            422,
            "validation_failed",
            "只能对通行记录人工放行",
            {"fields": {"event_id": "not a passage"}},
        )
    site = session.get(Site, row.site_id)
    assert site is not None
    ack = append_amendment(
        session,
        site,
        event_id,
        "manual_release",
        {"reason": body.reason, "original_verdict": row.verdict},
        {"user_id": str(principal.user_id), "username": principal.username, "role": principal.role},
    )
    return AmendmentOut(event_id=ack.event_id, seq=ack.seq or 0, hash=ack.hash or "").model_dump(
        mode="json"
    ), 201
