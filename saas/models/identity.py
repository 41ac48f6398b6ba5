"""Users, login sessions, API tokens, support-access grants and the security audit log."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from saas.db import Base
from saas.models.base import TenantScoped, created_at, uuid_pk


class Role(enum.StrEnum):
    PROVIDER_ADMIN = "provider_admin"
    PROVIDER_OPS = "provider_ops"
    PROVIDER_EXPERT = "provider_expert"
    PROVIDER_BILLING = "provider_billing"
    TENANT_ADMIN = "tenant_admin"
    ENV_MANAGER = "env_manager"
    GUARD = "guard"
    VIEWER = "viewer"

    @property
    def is_provider(self) -> bool:
        return self.value.startswith("provider_")


PROVIDER_ROLES = tuple(r.value for r in Role if r.is_provider)


class User(TenantScoped, Base):
    """A person who logs in. Tenant users have a tenant; provider staff have none."""

    __tablename__ = "users"
    __tenant_nullable__ = True
    __table_args__ = (
        CheckConstraint(
            "(tenant_id IS NULL) = (role IN (" + ", ".join(f"'{r}'" for r in PROVIDER_ROLES) + "))",
            name="provider_staff_have_no_tenant",
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    username: Mapped[str] = mapped_column(String(120), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str | None] = mapped_column(String(254), index=True)
    role: Mapped[str] = mapped_column(String(30))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    oidc_issuer: Mapped[str | None] = mapped_column(String(255))
    oidc_subject: Mapped[str | None] = mapped_column(String(255))
    must_change_password: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = created_at()
    last_login_at: Mapped[datetime | None]


class LoginSession(TenantScoped, Base):
    """A server-side record behind each session cookie, so logout and role changes revoke it."""

    __tablename__ = "login_sessions"
    __tenant_nullable__ = True

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))


class ApiToken(TenantScoped, Base):
    """A scoped, revocable integration token. Only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    __tenant_nullable__ = True

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]]
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class SupportGrant(TenantScoped, Base):
    """Time-limited, reasoned access of one provider staff member to one tenant's data."""

    __tablename__ = "support_grants"

    id: Mapped[uuid.UUID] = uuid_pk()
    staff_user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class AuditEvent(TenantScoped, Base):
    """Append-only security log (database triggers reject UPDATE and DELETE)."""

    __tablename__ = "audit_events"
    __tenant_nullable__ = True

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = created_at()
    event: Mapped[str] = mapped_column(String(50), index=True)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str | None] = mapped_column(String(120))
    ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
