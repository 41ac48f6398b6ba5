"""Regulator upload: a site's platform configuration (credentials encrypted at rest) and the
upload outbox — one row per record per platform, with the platform's verdict (docs/regulator.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from saas.db import Base, utcnow
from saas.models.base import TenantScoped, created_at, uuid_pk

UPLOAD_KINDS = (
    "passage",
    "transport_vehicle",
    "inplant_vehicle",
    "nonroad_machinery",
    "gate",
    "daily_count",
)
UPLOAD_STATUSES = ("pending", "sent", "accepted", "rejected", "dead")
GATE_DIRECTIONS = ("in", "out", "both")


class RegulatorConfig(TenantScoped, Base):
    """One regulator platform a site reports to (a site may report to two, e.g. Tianjin city and
    its development zone). Secrets live only in ``secret_box`` (envelope-encrypted JSON); they
    are never returned or shown again after saving."""

    __tablename__ = "regulator_configs"
    __table_args__ = (UniqueConstraint("site_id", "name", name="uq_regulator_configs_site_name"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))  # e.g. 天津市重点用车单位管控平台
    adapter: Mapped[str] = mapped_column(String(40))  # registry name, e.g. hj1321-json
    endpoint: Mapped[str] = mapped_column(String(300))  # base URL of the platform
    signer: Mapped[str] = mapped_column(String(20))  # rsa2 | hmac-sha256 | md5-key | sm2
    client_id: Mapped[str] = mapped_column(String(100), default="")  # not secret
    enterprise_code: Mapped[str] = mapped_column(String(64), default="")  # 平台企业唯一编码
    uscc: Mapped[str] = mapped_column(String(18))  # 统一社会信用代码
    permit_no: Mapped[str | None] = mapped_column(String(40))  # 排污许可证编号
    secret_box: Mapped[bytes] = mapped_column(LargeBinary)  # saas.regulator.envelope.seal(...)
    public_key: Mapped[str | None] = mapped_column(Text)  # ours, to register with the platform
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_test_at: Mapped[datetime | None]
    last_test_ok: Mapped[bool | None]
    last_test_message: Mapped[str | None] = mapped_column(String(500))


class RegulatorUpload(TenantScoped, Base):
    """One record to deliver to one platform: written in the transaction of its cause (the
    passage's ingest, the registry change), claimed by the relay, and marked with what the
    platform answered (平台信息). ``key`` is the idempotency key sent to the platform."""

    __tablename__ = "regulator_uploads"
    __table_args__ = (
        UniqueConstraint("config_id", "key", name="uq_regulator_uploads_config_key"),
        Index("ix_regulator_uploads_due", "status", "next_attempt_at"),
        Index("ix_regulator_uploads_config_due", "config_id", "status", "next_attempt_at"),
        Index("ix_regulator_uploads_site_time", "site_id", "kind", "captured_at"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    config_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("regulator_configs.id"))
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"))
    kind: Mapped[str] = mapped_column(String(20))  # UPLOAD_KINDS
    source_id: Mapped[str] = mapped_column(String(80))  # event id, registry id, gate, day:gate
    revision: Mapped[int] = mapped_column(Integer, default=1)  # registry: each change re-sends
    key: Mapped[str] = mapped_column(String(120))
    gate_code: Mapped[str | None] = mapped_column(String(20))
    lane_code: Mapped[str | None] = mapped_column(String(2))
    captured_at: Mapped[datetime]  # the passage's time (report rate), or the change's time
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(500))  # transport errors, no secrets
    platform_code: Mapped[str | None] = mapped_column(String(40))
    platform_message: Mapped[str | None] = mapped_column(String(500))  # 平台信息
    created_at: Mapped[datetime] = created_at()
    sent_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]


class SiteGate(TenantScoped, Base):
    """A gate (出入口) and lane (道闸) of a site with its coordinates: the source of the gate
    registration sent to the regulator platforms (``saas.regulator.gates``)."""

    __tablename__ = "site_gates"
    __table_args__ = (
        UniqueConstraint("site_id", "gate_code", "lane_code", name="uq_site_gates_site_gate_lane"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"), index=True)
    gate_code: Mapped[str] = mapped_column(String(20))  # 出入口编号
    lane_code: Mapped[str] = mapped_column(String(2))  # 道闸编号 "01"…
    name: Mapped[str] = mapped_column(String(100))  # 道闸名称
    direction: Mapped[str] = mapped_column(String(4), default="both")  # GATE_DIRECTIONS
    address: Mapped[str | None] = mapped_column(String(200))
    longitude: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    latitude: Mapped[Decimal] = mapped_column(Numeric(9, 6))
    manager_name: Mapped[str | None] = mapped_column(String(50))
    manager_phone: Mapped[str | None] = mapped_column(String(20))
    maintainer: Mapped[str | None] = mapped_column(String(100))
    maintainer_contact: Mapped[str | None] = mapped_column(String(50))
    maintainer_phone: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
