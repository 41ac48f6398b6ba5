"""The security audit log: logins, failures, role changes, tokens, support access."""

from __future__ import annotations

import uuid
from typing import Any

from flask import has_request_context, request
from sqlalchemy.orm import Session

from saas.models.identity import AuditEvent


def client_ip() -> str | None:
    """The peer address. X-Forwarded-For is honoured only through ProxyFix configured by the
    operator, never read directly (ASVS 4.1.3)."""
    return request.remote_addr if has_request_context() else None


def record(
    session: Session,
    event: str,
    *,
    tenant_id: uuid.UUID | None,
    actor_user_id: uuid.UUID | None = None,
    actor_label: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit row to ``session``; it commits with the caller's transaction."""
    row = AuditEvent(
        tenant_id=tenant_id,
        event=event,
        actor_user_id=actor_user_id,
        actor_label=actor_label[:120] if actor_label else None,
        ip=client_ip(),
        details=details or {},
    )
    session.add(row)
    return row
