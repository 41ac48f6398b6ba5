"""Writing outbox rows in the caller's transaction, and the trigger after COMMIT.

Rows are inserted with ``ON CONFLICT (tenant_id, idempotency_key) DO NOTHING`` (PostgreSQL
and SQLite alike), so queueing the same notice twice — a retried request, two imports of the
same feed racing — writes one row and never fails the caller's transaction.

After the caller commits, a relay job is enqueued for each tenant that got rows (RQ, an
explicit job id per cause, so a repeated trigger replaces the job instead of adding one). A
rollback drops the trigger with the rows. The trigger is a convenience for latency: the
periodic sweep (``cleangate notify relay``) delivers whatever a lost trigger left behind.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, SessionTransaction

from saas.db import utcnow
from saas.models.outbox import CHANNELS, OutboxMessage
from saas.tenancy import CrossTenantWrite, current_context

log = logging.getLogger(__name__)

_PENDING = "cleangate.notify.pending"  # session.info: {tenant_id: {cause, …}}
_APP = "cleangate.notify.app"
_HOOKED = "cleangate.notify.hooked"


@dataclass(frozen=True)
class NewMessage:
    tenant_id: uuid.UUID
    site_id: uuid.UUID | None
    contact_id: uuid.UUID | None
    channel: str
    recipient: str
    template: str
    subject: str
    payload: dict[str, Any]
    idempotency_key: str


def add_messages(session: Session, messages: Sequence[NewMessage], *, cause: str) -> int:
    """Insert the messages that are not there yet (by tenant and key); return how many were
    written. ``cause`` names the unit of work for the relay job id (``[A-Za-z0-9_-]``)."""
    if not messages:
        return 0
    ctx = current_context()
    for message in messages:
        if message.channel not in CHANNELS:
            raise ValueError(f"unknown channel {message.channel!r}")
        if ctx is not None and ctx.tenant_id is not None and ctx.tenant_id != message.tenant_id:
            raise CrossTenantWrite("an outbox message of another tenant")
    now = utcnow()
    rows = [
        {
            "id": uuid.uuid4(),
            "tenant_id": m.tenant_id,
            "site_id": m.site_id,
            "contact_id": m.contact_id,
            "channel": m.channel,
            "recipient": m.recipient,
            "template": m.template,
            "subject": m.subject[:200],
            "payload": m.payload,
            "idempotency_key": m.idempotency_key,
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for m in messages
    ]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(OutboxMessage)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["tenant_id", "idempotency_key"])
        .returning(OutboxMessage.id, OutboxMessage.tenant_id)
    )
    written = session.execute(statement).all()
    for _, tenant_id in written:
        _remember(session, tenant_id, cause)
    return len(written)


# --- the trigger after COMMIT ------------------------------------------------------------------


def _remember(session: Session, tenant_id: uuid.UUID, cause: str) -> None:
    session.info.setdefault(_PENDING, {}).setdefault(tenant_id, set()).add(cause)
    if has_app_context():
        session.info[_APP] = current_app._get_current_object()  # type: ignore[attr-defined]
    if not session.info.get(_HOOKED):
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_soft_rollback", _after_rollback)
        session.info[_HOOKED] = True


def _after_commit(session: Session) -> None:
    pending: dict[uuid.UUID, set[str]] | None = session.info.pop(_PENDING, None)
    app: Flask | None = session.info.get(_APP)
    if not pending:
        return
    if app is None:
        log.info("notifications queued outside an app: the relay sweep will deliver them")
        return
    from saas.notify import jobs as notify_jobs

    for tenant_id, causes in pending.items():
        for cause in sorted(causes):
            notify_jobs.trigger_relay(app, tenant_id, cause)


def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    if not previous.nested:
        session.info.pop(_PENDING, None)
