"""The one pagination convention: keyset pages.

Request: ``?limit=1..200`` (default 50) and ``?cursor=`` (opaque, from the previous page).
Response: ``{"items": [...], "next_cursor": "…" | null}``. Keyset pages stay fast on tables of
any size (no OFFSET scans) and never skip or repeat rows when new rows arrive.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any

from flask import request
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from saas.errors import ApiError

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

QUERY_PARAMETERS = [
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    },
    {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
]


def _encode(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, row_id = json.loads(base64.urlsafe_b64decode(padded))
        return datetime.fromisoformat(stamp), uuid.UUID(row_id)
    except (ValueError, TypeError) as exc:
        raise ApiError(
            422, "validation_failed", "分页游标无效", {"fields": {"cursor": "invalid cursor"}}
        ) from exc


def page_args() -> tuple[int, str | None]:
    raw = request.args.get("limit", str(DEFAULT_LIMIT))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(
            422,
            "validation_failed",
            "limit 超出范围",
            {"fields": {"limit": f"integer 1..{MAX_LIMIT}"}},
        )
    return int(raw), request.args.get("cursor") or None


def paginate(
    session: Session,
    stmt: Select[Any],
    created_col: InstrumentedAttribute[datetime],
    id_col: InstrumentedAttribute[uuid.UUID],
) -> tuple[list[Any], str | None]:
    """Newest first, by (created_at, id)."""
    limit, cursor = page_args()
    if cursor:
        stamp, row_id = _decode(cursor)
        stmt = stmt.where(or_(created_col < stamp, and_(created_col == stamp, id_col < row_id)))
    rows = list(session.scalars(stmt.order_by(created_col.desc(), id_col.desc()).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last: Any = rows[-1]
        next_cursor = _encode(getattr(last, created_col.key), getattr(last, id_col.key))
    return rows, next_cursor
