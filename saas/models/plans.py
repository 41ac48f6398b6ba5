"""一厂一策 plans: per site, versioned, approved by a tenant admin (docs/plans.md), and the
production measures checked off during an alert episode (the emergency execution record)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from saas.db import Base, utcnow
from saas.models.base import TenantScoped, created_at, uuid_pk

PLAN_STATUSES = ("draft", "approved", "superseded", "withdrawn")


class SitePlan(TenantScoped, Base):
    """One version of a site's plan. A draft can be edited; approval freezes it and supersedes
    the version in force. At most one version per site is ``approved`` (the one in force)."""

    __tablename__ = "site_plans"
    __table_args__ = (
        UniqueConstraint("site_id", "version", name="uq_site_plans_site_version"),
        Index("ix_site_plans_site_status", "site_id", "status"),
        Index(
            "uq_site_plans_in_force",
            "site_id",
            unique=True,
            postgresql_where=text("status = 'approved'"),
            sqlite_where=text("status = 'approved'"),
        ),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"))
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="draft")
    template: Mapped[str] = mapped_column(String(40))  # the built-in template it started from
    document: Mapped[dict[str, Any]] = mapped_column(JSON)  # saas.compliance.plan.Plan.to_dict()
    city: Mapped[str] = mapped_column(String(40), default="")  # the board title's "XX市"
    district: Mapped[str] = mapped_column(String(40), default="")  # 行政区 as the board shows it
    responsible_name: Mapped[str] = mapped_column(String(100))  # 措施落实负责人
    responsible_phone: Mapped[str] = mapped_column(String(30))
    remarks: Mapped[str] = mapped_column(String(200), default="")  # 备注
    change_note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    approved_at: Mapped[datetime | None]


class MeasureCheck(TenantScoped, Base):
    """A production measure confirmed as carried out at a site during an alert episode: which
    line of the plan in force, when, by whom (emergency execution record)."""

    __tablename__ = "measure_checks"
    __table_args__ = (Index("ix_measure_checks_site_episode", "site_id", "episode_start"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"))
    # The approved version the measure came from; None: the site's built-in template
    plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("site_plans.id"))
    episode_start: Mapped[datetime]  # the start of the alert episode it belongs to
    level: Mapped[str] = mapped_column(String(10))
    measure_index: Mapped[int] = mapped_column(Integer)
    measure_text: Mapped[str] = mapped_column(Text)
    done_at: Mapped[datetime]
    checked_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    checked_by_name: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = created_at()
