"""Heavy-pollution weather alerts (domain.md §2.1): regional alerts issued by the authorities
(GB/T 2260 region code: a province, city or district code covers the sites beneath it), alerts
a regulator feed addressed to one enterprise, and a site's voluntary stricter level."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from saas.db import Base
from saas.models.base import TenantScoped, created_at, uuid_pk

LEVELS = ("yellow", "orange", "red")
RESPONSE = {"yellow": "III", "orange": "II", "red": "I"}  # 黄/橙/红 = Ⅲ/Ⅱ/Ⅰ级响应
LEVEL_ZH = {"yellow": "黄色", "orange": "橙色", "red": "红色"}


class Alert(Base):
    """Issued by an authority for a region — or, from a regulator feed, for one site. Provider
    data, not a tenant's: every covered tenant reads it. Ending or cancelling keeps the row."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("source", "external_id", name="uq_alerts_source_external_id"),
        Index("ix_alerts_region_time", "region_code", "starts_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    region_code: Mapped[str | None] = mapped_column(String(6))
    site_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("sites.id"), index=True)
    level: Mapped[str] = mapped_column(String(10))  # yellow | orange | red
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    notice: Mapped[str] = mapped_column(Text, default="")  # the authority's notice text
    measures: Mapped[str] = mapped_column(Text, default="")  # a feed's controlMeasures text
    source: Mapped[str] = mapped_column(String(40), default="console")  # console | import:<name>
    external_id: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at()
    cancelled_at: Mapped[datetime | None]

    @property
    def response(self) -> str:
        return RESPONSE[self.level]


class SiteAlert(TenantScoped, Base):
    """A site's voluntary stricter level (自主提级), e.g. orange while the city is at yellow."""

    __tablename__ = "site_alerts"

    id: Mapped[uuid.UUID] = uuid_pk()
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"), index=True)
    level: Mapped[str] = mapped_column(String(10))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(String(300))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at()
    cancelled_at: Mapped[datetime | None]
