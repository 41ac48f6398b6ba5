"""Site contacts and the notification outbox (docs/notifications.md).

A message to the outside world (SMS, WeChat subscribe message, e-mail) is first an
``outbox_messages`` row written in the same transaction as its cause; a relay delivers it
at least once, and the receiver is given the sender's key to stay idempotent."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from saas.db import Base, utcnow
from saas.models.base import TenantScoped, created_at, uuid_pk

CHANNELS = ("sms", "wechat", "email")
STATUSES = ("pending", "sent", "failed", "dead")  # failed: refused for good; dead: gave up


class SiteContact(TenantScoped, Base):
    """Someone at a site who is told of heavy-pollution alerts, and on which channels."""

    __tablename__ = "site_contacts"
    __table_args__ = (Index("ix_site_contacts_site_created", "site_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"))
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(20))  # 11-digit mainland mobile
    email: Mapped[str | None] = mapped_column(String(254))
    wechat_openid: Mapped[str | None] = mapped_column(String(64))
    notify_sms: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_wechat: Mapped[bool] = mapped_column(Boolean, default=False)
    notify_email: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxMessage(TenantScoped, Base):
    """One message to one recipient on one channel. ``idempotency_key`` is chosen by the
    sender (``alert:<alert>:<site>:<event>:<contact>:<channel>``) and unique per tenant, so
    queueing the same notice twice writes one row."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_outbox_messages_key"),
        Index("ix_outbox_messages_site_created", "site_id", "created_at"),
        Index(
            "ix_outbox_messages_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )
    __tenant_index__ = False  # uq_outbox_messages_key leads with tenant_id

    id: Mapped[uuid.UUID] = uuid_pk()
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id"))
    contact_id: Mapped[uuid.UUID | None]  # no FK: the record outlives a deleted contact
    channel: Mapped[str] = mapped_column(String(10))  # sms | wechat | email
    recipient: Mapped[str] = mapped_column(String(254))  # phone, openid or address
    template: Mapped[str] = mapped_column(String(40))  # alert_started | alert_changed | alert_ended
    subject: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # text and template values
    idempotency_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500))  # never a secret
    provider_message_id: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = created_at()
    sent_at: Mapped[datetime | None]
