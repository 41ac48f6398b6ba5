"""Passage ledger queries: the filters of the portal, API and exports, in one place."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from saas.compliance import normalize_plate
from saas.db import utcnow
from saas.errors import ApiError
from saas.models.ledger import Passage

MAX_WINDOW = timedelta(days=400)


class PassageFilter(BaseModel):
    """Filters of the passage ledger. Times are UTC-aware; the default window is 24 hours."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    site_id: uuid.UUID | None = None
    gate: Annotated[str | None, Field(max_length=20)] = None
    lane: Annotated[str | None, Field(pattern=r"^[0-9]{2}$")] = None
    plate: Annotated[str | None, Field(max_length=16)] = None
    verdict: Literal["ALLOW", "DENY", "REVIEW"] | None = None
    stage: Annotated[str | None, Field(max_length=10)] = None
    fuel: Annotated[str | None, Field(max_length=20)] = None
    direction: Literal["in", "out"] | None = None
    kind: Literal["passage", "manual_release", "cargo", "correction", "all"] = "passage"

    def window(self) -> tuple[datetime, datetime]:
        until = self.until or utcnow()
        since = self.since or until - timedelta(hours=24)
        if since >= until:
            raise ApiError(
                422,
                "validation_failed",
                "时间范围无效",
                {"fields": {"since": "must be before until"}},
            )
        if until - since > MAX_WINDOW:
            raise ApiError(
                422,
                "validation_failed",
                "时间范围过长",
                {"fields": {"since": "window longer than 400 days"}},
            )
        return since, until


def select_passages(flt: PassageFilter) -> Select[Any]:
    """Newest first. Tenant scoping is added by the ORM; the leading index is
    (tenant_id, site_id, captured_at)."""
    since, until = flt.window()
    stmt = select(Passage).where(Passage.captured_at >= since, Passage.captured_at < until)
    if flt.kind != "all":
        stmt = stmt.where(Passage.kind == flt.kind)
    if flt.site_id:
        stmt = stmt.where(Passage.site_id == flt.site_id)
    if flt.gate:
        stmt = stmt.where(Passage.gate_code == flt.gate)
    if flt.lane:
        stmt = stmt.where(Passage.lane_code == flt.lane)
    if flt.plate:
        plate = normalize_plate(flt.plate)
        stmt = stmt.where(Passage.plate.startswith(plate, autoescape=True))
    if flt.verdict:
        stmt = stmt.where(Passage.verdict == flt.verdict)
    if flt.stage:
        stmt = stmt.where(Passage.emission_stage == flt.stage)
    if flt.fuel:
        stmt = stmt.where(Passage.fuel_type == flt.fuel)
    if flt.direction:
        stmt = stmt.where(Passage.direction == flt.direction)
    return stmt.order_by(Passage.captured_at.desc(), Passage.site_id, Passage.seq.desc())


def encode_cursor(row: Passage) -> str:
    raw = json.dumps([row.captured_at.isoformat(), str(row.site_id), row.seq]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def after_cursor(stmt: Select[Any], cursor: str) -> Select[Any]:
    try:
        stamp, site, seq = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        moment, site_id, seq = datetime.fromisoformat(stamp), uuid.UUID(site), int(seq)
    except (ValueError, TypeError) as exc:
        raise ApiError(
            422, "validation_failed", "分页游标无效", {"fields": {"cursor": "invalid cursor"}}
        ) from exc
    return stmt.where(
        or_(
            Passage.captured_at < moment,
            and_(Passage.captured_at == moment, Passage.site_id > site_id),
            and_(Passage.captured_at == moment, Passage.site_id == site_id, Passage.seq < seq),
        )
    )


def page(
    session: Session, flt: PassageFilter, limit: int, cursor: str | None
) -> tuple[list[Passage], str | None]:
    stmt = select_passages(flt)
    if cursor:
        stmt = after_cursor(stmt, cursor)
    rows = list(session.scalars(stmt.limit(limit + 1)))
    if len(rows) > limit:
        return rows[:limit], encode_cursor(rows[limit - 1])
    return rows, None


def find_passage(session: Session, event_id: uuid.UUID) -> Passage | None:
    return session.scalars(select(Passage).where(Passage.event_id == event_id)).first()


def amendments_of(session: Session, event_id: uuid.UUID) -> list[Passage]:
    return list(
        session.scalars(
            select(Passage).where(Passage.amends_event_id == event_id).order_by(Passage.seq)
        )
    )
