"""The outbox relay: deliver due messages at least once, with retries.

Each round is three short transactions per message, never one held across the network:

1. **claim** — ``UPDATE … SET attempts = attempts + 1, next_attempt_at = now + lease WHERE id
   IN (due pending rows … FOR UPDATE SKIP LOCKED)`` (PostgreSQL; SQLite has one writer), so
   concurrent relays never take the same row, and a relay that dies leaves its rows to be
   taken again when the lease runs out;
2. **send** through the row's channel, outside any transaction;
3. **mark** — sent / retry later with exponential backoff / ``failed`` (refused for good) /
   ``dead`` (``max_attempts`` used up), conditional on the claim still being ours.

A relay killed between 2 and 3 sends that message again after the lease: at-least-once. The
receivers are given the sender's key (docs/notifications.md) to drop the copy.

``relay`` works in the caller's context: in a tenant context (the RQ job) it sees that
tenant's rows only. ``relay_all`` (the CLI sweep) asks, in a system context, which tenants
have due rows — nothing else — and relays each in its own tenant context.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from saas.db import get_database, utcnow
from saas.models.outbox import OutboxMessage
from saas.notify.channels import Channel, Outgoing, PermanentError, RetryableError, build_channels
from saas.settings import NotifySettings
from saas.tenancy import current_context, system_context, tenant_context

log = logging.getLogger(__name__)

CLAIM_CHUNK = 10  # rows claimed at once: a slow provider cannot outlive the lease of a chunk
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 30
    max_seconds: float = 3600
    lease_seconds: float = 300

    @classmethod
    def from_settings(cls, settings: NotifySettings) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
            base_seconds=settings.retry_base_seconds,
            max_seconds=settings.retry_max_seconds,
            lease_seconds=settings.lease_seconds,
        )

    def delay(self, attempts: int) -> timedelta:
        """30 s, 60 s, 120 s, … capped, plus up to 10 % jitter so a provider coming back is
        not hit by every waiting message in the same second."""
        seconds = min(self.max_seconds, self.base_seconds * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=seconds * random.uniform(1.0, 1.1))


@dataclass
class RelayCounts:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dead: int = 0
    lost: int = 0  # the claim ran out and another relay took the row over

    def add(self, other: RelayCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _claim(
    factory: sessionmaker[Session], limit: int, policy: RetryPolicy, now: datetime
) -> list[Outgoing]:
    with factory() as session, session.begin():
        due = (
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
        ctx = current_context()
        if ctx is not None and ctx.tenant_id is not None:
            due = due.where(OutboxMessage.tenant_id == ctx.tenant_id)
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        claimed = (
            session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(due.scalar_subquery()),
                    OutboxMessage.status == "pending",
                    OutboxMessage.next_attempt_at <= now,
                )
                .values(
                    attempts=OutboxMessage.attempts + 1,
                    next_attempt_at=now + timedelta(seconds=policy.lease_seconds),
                )
                .returning(OutboxMessage.id)
                .execution_options(synchronize_session=False)
            )
            .scalars()
            .all()
        )
        if not claimed:
            return []
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.id.in_(claimed))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.created_at)
        ).all()
        return [
            Outgoing(
                id=row.id,
                tenant_id=row.tenant_id,
                channel=row.channel,
                recipient=row.recipient,
                template=row.template,
                subject=row.subject,
                payload=dict(row.payload),
                idempotency_key=row.idempotency_key,
                attempt=row.attempts,
            )
            for row in rows
        ]


def _mark(
    factory: sessionmaker[Session], message: Outgoing, now: datetime, **values: object
) -> bool:
    """Record the outcome if the claim is still ours (same attempt, still pending)."""
    with factory() as session, session.begin():
        result = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == message.id,
                OutboxMessage.status == "pending",
                OutboxMessage.attempts == message.attempt,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _deliver(
    factory: sessionmaker[Session],
    channels: Mapping[str, Channel],
    message: Outgoing,
    policy: RetryPolicy,
    clock: Clock,
    counts: RelayCounts,
) -> None:
    outcome: str
    values: dict[str, object]
    try:
        channel = channels.get(message.channel)
        if channel is None:
            raise PermanentError(f"no {message.channel} channel configured")
        provider_id = channel.send(message)
        outcome = "sent"
        values = {
            "status": "sent",
            "sent_at": clock(),
            "provider_message_id": (provider_id or "")[:100] or None,
            "last_error": None,
        }
    except PermanentError as exc:
        outcome = "failed"
        values = {"status": "failed", "last_error": str(exc)[:500]}
    except Exception as exc:  # RetryableError, and anything unforeseen: try again later
        error = str(exc) if isinstance(exc, RetryableError) else f"unexpected {type(exc).__name__}"
        if not isinstance(exc, RetryableError):
            log.exception("notify: unexpected error sending message %s", message.id)
        if message.attempt >= policy.max_attempts:
            outcome = "dead"
            values = {"status": "dead", "last_error": error[:500]}
        else:
            outcome = "retried"
            values = {
                "last_error": error[:500],
                "next_attempt_at": clock() + policy.delay(message.attempt),
            }
    if _mark(factory, message, clock(), **values):
        setattr(counts, outcome, getattr(counts, outcome) + 1)
        if outcome != "sent":
            log.warning(
                "notify: message %s (%s) %s after attempt %d: %s",
                message.id,
                message.channel,
                outcome,
                message.attempt,
                values.get("last_error"),
            )
    else:
        counts.lost += 1


def relay(
    factory: sessionmaker[Session],
    channels: Mapping[str, Channel],
    *,
    policy: RetryPolicy | None = None,
    batch: int = 100,
    clock: Clock = utcnow,
) -> RelayCounts:
    """Deliver up to ``batch`` due messages of the current context; returns the counts."""
    policy = policy or RetryPolicy()
    counts = RelayCounts()
    while counts.claimed < batch:
        chunk = _claim(factory, min(CLAIM_CHUNK, batch - counts.claimed), policy, clock())
        if not chunk:
            break
        counts.claimed += len(chunk)
        for message in chunk:
            _deliver(factory, channels, message, policy, clock, counts)
    return counts


# --- with an app's settings ------------------------------------------------------------------


def channels_for(app: Flask) -> dict[str, Channel]:
    """The app's channels, built once per app (they keep HTTP sessions and the WeChat token)."""
    channels: dict[str, Channel] | None = app.extensions.get("cleangate.notify.channels")
    if channels is None:
        settings = app.config["CLEANGATE_SETTINGS"].notify
        channels = build_channels(settings, app.extensions["cleangate.redis"])
        app.extensions["cleangate.notify.channels"] = channels
    return channels


def relay_app(app: Flask, *, batch: int = 100, clock: Clock = utcnow) -> RelayCounts:
    """``relay`` with the app's database, channels and retry policy (current context)."""
    settings = app.config["CLEANGATE_SETTINGS"].notify
    return relay(
        get_database(app).sessionmaker,
        channels_for(app),
        policy=RetryPolicy.from_settings(settings),
        batch=batch,
        clock=clock,
    )


def due_tenants(app: Flask, *, clock: Clock = utcnow) -> list[uuid.UUID]:
    """Tenants with due messages. The one look past tenant scoping here: which tenants, not
    what their messages say."""
    with (
        get_database(app).sessionmaker() as session,
        system_context("notify relay: which tenants have due messages"),
    ):
        return list(
            session.scalars(
                select(OutboxMessage.tenant_id)
                .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= clock())
                .group_by(OutboxMessage.tenant_id)
            )
        )


def relay_all(app: Flask, *, batch: int = 100, clock: Clock = utcnow) -> RelayCounts:
    """Sweep every tenant with due messages, each in its own tenant context."""
    total = RelayCounts()
    for tenant_id in due_tenants(app, clock=clock):
        with tenant_context(tenant_id):
            total.add(relay_app(app, batch=batch, clock=clock))
    return total


def next_due(factory: sessionmaker[Session]) -> datetime | None:
    """When the earliest pending message of the current context is due."""
    query = select(func.min(OutboxMessage.next_attempt_at)).where(OutboxMessage.status == "pending")
    ctx = current_context()
    if ctx is not None and ctx.tenant_id is not None:
        query = query.where(OutboxMessage.tenant_id == ctx.tenant_id)
    with factory() as session:
        return session.scalar(query)
