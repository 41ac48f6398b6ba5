"""The tenant's security audit log (read only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from saas.api import registry
from saas.api.pagination import page_args
from saas.auth.permissions import Permission
from saas.db import get_session
from saas.errors import ApiError
from saas.models.identity import AuditEvent


class AuditOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    event: str
    actor_user_id: uuid.UUID | None
    actor_label: str | None
    ip: str | None
    details: dict[str, Any]


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None


@registry.route(
    "/audit-events",
    "GET",
    summary="安全审计日志",
    tags=["identity"],
    permission=Permission.AUDIT_READ,
    response=AuditPage,
)
def list_audit_events() -> ResponseReturnValue:
    limit, cursor = page_args()
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
    if cursor:
        if not cursor.isdigit():
            raise ApiError(
                422, "validation_failed", "分页游标无效", {"fields": {"cursor": "invalid cursor"}}
            )
        stmt = stmt.where(AuditEvent.id < int(cursor))
    rows = list(get_session().scalars(stmt))
    next_cursor = str(rows[limit - 1].id) if len(rows) > limit else None
    return {
        "items": [AuditOut.model_validate(r).model_dump(mode="json") for r in rows[:limit]],
        "next_cursor": next_cursor,
    }
