"""The customer account (Tenant) and its plants (Site)."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, synonym

from saas.db import Base
from saas.models.base import TenantScoped, created_at, uuid_pk


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Tenant(TenantScoped, Base):
    """A customer enterprise (or group) of the service provider."""

    __tablename__ = "tenants"
    __tenant_root__ = True

    id: Mapped[uuid.UUID] = uuid_pk()
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=TenantStatus.ACTIVE)
    # Passage ledger retention in months: at least the legal 24 (HJ 1321-2023, seed 003);
    # a tenant may keep longer, never shorter. NULL = the legal minimum.
    ledger_retention_months: Mapped[int | None] = mapped_column(
        CheckConstraint("ledger_retention_months >= 24", name="retention_at_least_24_months")
    )
    created_at: Mapped[datetime] = created_at()

    # Scoping treats the tenant row as owned by itself.
    tenant_id = synonym("id")


class Site(TenantScoped, Base):
    """One plant registered with the regulators (one 统一社会信用代码 and 排污许可证)."""

    __tablename__ = "sites"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    name: Mapped[str] = mapped_column(String(200))
    uscc: Mapped[str] = mapped_column(String(18))
    permit_no: Mapped[str | None] = mapped_column(String(40))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    industry: Mapped[str] = mapped_column(String(40))
    rating: Mapped[str] = mapped_column(String(20))
    address: Mapped[str | None] = mapped_column(String(300))
    longitude: Mapped[Decimal | None] = mapped_column(Numeric(9, 6))
    latitude: Mapped[Decimal | None] = mapped_column(Numeric(8, 6))
    legal_representative: Mapped[str | None] = mapped_column(String(100))
    legal_representative_phone: Mapped[str | None] = mapped_column(String(30))
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    # The public board's address is /board/<board_token>: unguessable, rotatable (docs/board.md)
    board_token: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = created_at()
