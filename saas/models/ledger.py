"""Electronic ledgers (HJ 1321-2023; seed 003 appendix 5): vehicle and machinery registries,
black/white lists, edge devices, and the hash-chained passage ledger.

Field names follow shared/reference/domain.md §1.5; the Chinese names in comments are the
ledger columns as the standards and regulators write them (exports use them verbatim).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from saas.db import Base, utcnow
from saas.models.base import TenantScoped, created_at, uuid_pk

# --- registries -------------------------------------------------------------------------------


class RegistryMixin(TenantScoped):
    """Shared columns of the three registries: owning site, verification state, provenance."""

    __tablename__: str

    id: Mapped[uuid.UUID] = uuid_pk()
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"), index=True)
    verification: Mapped[str] = mapped_column(String(30), default="self_declared")
    source: Mapped[str] = mapped_column(String(20), default="portal")
    active: Mapped[bool] = mapped_column(default=True)
    owner_name: Mapped[str | None] = mapped_column(String(200))  # 车辆所有人(单位)
    owner_phone: Mapped[str | None] = mapped_column(String(30))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Carrier(TenantScoped, Base):
    """车队 / 承运单位."""

    __tablename__ = "carriers"
    __table_args__ = (UniqueConstraint("site_id", "name"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))  # 车队名称
    uscc: Mapped[str | None] = mapped_column(String(18))
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(30))
    created_at: Mapped[datetime] = created_at()


class TransportVehicle(RegistryMixin, Base):
    """进出厂运输车辆."""

    __tablename__ = "transport_vehicles"
    __table_args__ = (UniqueConstraint("site_id", "plate", "plate_color"),)

    plate: Mapped[str] = mapped_column(String(16))  # 车牌号码 (normalized)
    plate_color: Mapped[str] = mapped_column(String(16))  # 号牌颜色 (canonical)
    vehicle_type: Mapped[str | None] = mapped_column(String(8))  # 车辆类型 (GA 24.4)
    vin: Mapped[str | None] = mapped_column(String(17), index=True)  # 车辆识别代号
    registration_date: Mapped[date | None] = mapped_column(Date)  # 注册登记日期
    model: Mapped[str | None] = mapped_column(String(100))  # 车辆品牌型号
    engine_model: Mapped[str | None] = mapped_column(String(100))  # 发动机型号
    engine_manufacturer: Mapped[str | None] = mapped_column(String(200))  # 发动机生产厂
    engine_no: Mapped[str | None] = mapped_column(String(50))  # 发动机号码
    fuel_type: Mapped[str | None] = mapped_column(String(20))  # 燃料类型
    emission_stage: Mapped[str] = mapped_column(String(10), default="unknown")  # 排放阶段
    stage_inferred: Mapped[bool] = mapped_column(default=False)
    stage_basis: Mapped[str | None] = mapped_column(String(300))
    use_nature: Mapped[str | None] = mapped_column(String(4))  # 使用性质 (GA 24.3)
    network_status: Mapped[str] = mapped_column(String(20), default="unknown")  # 联网状态
    list_image_key: Mapped[str | None] = mapped_column(String(300))  # 随车清单
    license_image_key: Mapped[str | None] = mapped_column(String(300))  # 行驶证
    carrier_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("carriers.id"))
    rated_load_kg: Mapped[int | None] = mapped_column(Integer)  # 核定载质量
    category: Mapped[str] = mapped_column(String(20), default="transport")


class InPlantVehicle(RegistryMixin, Base):
    """厂内运输车辆."""

    __tablename__ = "inplant_vehicles"
    __table_args__ = (UniqueConstraint("site_id", "env_reg_code"),)

    env_reg_code: Mapped[str] = mapped_column(String(40))  # 环保登记编码 / 内部管理号牌
    vin: Mapped[str | None] = mapped_column(String(17))  # 车辆识别代号
    production_date: Mapped[date | None] = mapped_column(Date)  # 生产日期
    plate: Mapped[str | None] = mapped_column(String(16))  # 车牌号码
    registration_date: Mapped[date | None] = mapped_column(Date)  # 注册登记日期
    model: Mapped[str | None] = mapped_column(String(100))  # 车辆品牌型号
    engine_model: Mapped[str | None] = mapped_column(String(100))
    engine_manufacturer: Mapped[str | None] = mapped_column(String(200))
    engine_no: Mapped[str | None] = mapped_column(String(50))
    fuel_type: Mapped[str | None] = mapped_column(String(20))
    emission_stage: Mapped[str] = mapped_column(String(10), default="unknown")
    stage_inferred: Mapped[bool] = mapped_column(default=False)
    stage_basis: Mapped[str | None] = mapped_column(String(300))
    network_status: Mapped[str] = mapped_column(String(20), default="unknown")
    list_image_key: Mapped[str | None] = mapped_column(String(300))
    license_image_key: Mapped[str | None] = mapped_column(String(300))


class NonRoadMachinery(RegistryMixin, Base):
    """非道路移动机械."""

    __tablename__ = "nonroad_machinery"
    __table_args__ = (UniqueConstraint("site_id", "env_reg_code"),)

    env_reg_code: Mapped[str] = mapped_column(String(40))  # 环保登记编码
    pin: Mapped[str | None] = mapped_column(String(40), index=True)  # 机械环保代码/产品识别码
    machine_type: Mapped[str] = mapped_column(String(40))  # 机械种类
    production_date: Mapped[date | None] = mapped_column(Date)  # 生产日期
    plate: Mapped[str | None] = mapped_column(String(16))  # 号牌 (if any)
    nonroad_stage: Mapped[str] = mapped_column(String(10), default="unknown")  # 排放阶段 国一–国四
    stage_inferred: Mapped[bool] = mapped_column(default=False)
    fuel_type: Mapped[str | None] = mapped_column(String(20))
    machine_model: Mapped[str | None] = mapped_column(String(100))  # 机械型号
    engine_model: Mapped[str | None] = mapped_column(String(100))
    engine_manufacturer: Mapped[str | None] = mapped_column(String(200))
    engine_no: Mapped[str | None] = mapped_column(String(50))
    engine_power_kw: Mapped[Decimal | None] = mapped_column(Numeric(8, 1))
    manufacturer: Mapped[str | None] = mapped_column(String(200))  # 机械生产厂
    local_code: Mapped[str | None] = mapped_column(String(40))  # 本地环保编码 (e.g. 天津编码)
    nameplate_image_key: Mapped[str | None] = mapped_column(String(300))  # 整车(机)铭牌
    engine_nameplate_image_key: Mapped[str | None] = mapped_column(String(300))  # 发动机铭牌
    env_label_image_key: Mapped[str | None] = mapped_column(String(300))  # 机械环保信息标签


class VehicleListEntry(TenantScoped, Base):
    """Black and white lists, per site, with reason and validity."""

    __tablename__ = "vehicle_lists"
    __table_args__ = (Index("ix_vehicle_lists_site_plate", "site_id", "plate"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"))
    plate: Mapped[str] = mapped_column(String(16))
    list_kind: Mapped[str] = mapped_column(String(10))  # black | white
    reason: Mapped[str] = mapped_column(String(300))
    exemption: Mapped[str | None] = mapped_column(String(30))  # white list: exemption category
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at()
    revoked_at: Mapped[datetime | None]


class RegistryChange(TenantScoped, Base):
    """Who changed what in a registry (append-only history)."""

    __tablename__ = "registry_changes"
    __table_args__ = (Index("ix_registry_changes_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[uuid.UUID]
    at: Mapped[datetime] = created_at()
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(20))  # create | update | deactivate | import
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)


# --- edge devices -----------------------------------------------------------------------------


class EdgeDevice(TenantScoped, Base):
    """An edge bridge (or other device) of one site, authenticated by its Ed25519 key.

    A bridge created in the portal starts ``pending`` without a key; the box redeems a one-time
    pairing code (only its SHA-256 is kept, valid until ``pairing_expires_at``) and its public
    key makes it ``active``. An active bridge may be given a new code to re-pair (new key)."""

    __tablename__ = "edge_devices"

    id: Mapped[uuid.UUID] = uuid_pk()
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    public_key: Mapped[bytes | None] = mapped_column(LargeBinary(32))  # NULL while pending
    status: Mapped[str] = mapped_column(String(20), default="active")  # pending|active|revoked
    created_at: Mapped[datetime] = created_at()
    last_seen_at: Mapped[datetime | None]
    # Looked up across tenants when a box redeems its code; unique (NULLs are distinct).
    pairing_code_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), unique=True)
    pairing_expires_at: Mapped[datetime | None]
    paired_at: Mapped[datetime | None]
    software_version: Mapped[str | None] = mapped_column(String(40))


# --- the passage ledger -----------------------------------------------------------------------


class Passage(TenantScoped, Base):
    """One chained ledger record of a site: a passage, or an amendment of one (manual release,
    cargo, correction). ``record`` holds the exact canonical bytes that were hashed; the other
    columns are copies for querying, checked against ``record`` by ``cleangate ledger verify``.

    PostgreSQL: partitioned by month on ``captured_at`` (the primary key includes it)."""

    __tablename__ = "passages"
    __table_args__ = (
        PrimaryKeyConstraint("site_id", "seq", "captured_at", name="pk_passages"),
        Index("ix_passages_tenant_site_time", "tenant_id", "site_id", "captured_at"),
        Index("ix_passages_tenant_plate_time", "tenant_id", "plate", "captured_at"),
        {"postgresql_partition_by": "RANGE (captured_at)"},
    )

    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    captured_at: Mapped[datetime]  # edge time of the event (进/出厂时间)
    event_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(20), default="passage")
    amends_event_id: Mapped[uuid.UUID | None]
    received_at: Mapped[datetime]
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    record: Mapped[str] = mapped_column(Text)
    gate_code: Mapped[str | None] = mapped_column(String(20))  # 出入口编号
    lane_code: Mapped[str | None] = mapped_column(String(2))  # 道闸编号
    direction: Mapped[str | None] = mapped_column(String(3))  # in | out
    plate: Mapped[str | None] = mapped_column(String(32))  # as long as any raw OCR text
    plate_color: Mapped[str | None] = mapped_column(String(16))
    verdict: Mapped[str | None] = mapped_column(String(10))
    emission_stage: Mapped[str | None] = mapped_column(String(10))
    fuel_type: Mapped[str | None] = mapped_column(String(20))


class LedgerEvent(TenantScoped, Base):
    """Dedupe index of ledger records by event id (non-partitioned, so a replay is found
    whatever its claimed time) and the acknowledgement a replay gets back."""

    __tablename__ = "ledger_events"
    # The key leads with event_id so a batch's dedupe look-up (``event_id IN (…)``) is an index
    # condition; led by tenant_id, the planner scanned all of a tenant's events per batch under
    # RLS and ingest slowed as the tenant grew (bench/ledger.py).
    __table_args__ = (PrimaryKeyConstraint("event_id", "tenant_id", name="pk_ledger_events"),)
    __tenant_index__ = False  # nothing looks events up by tenant alone

    event_id: Mapped[uuid.UUID]
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"))
    seq: Mapped[int] = mapped_column(BigInteger)
    captured_at: Mapped[datetime] = mapped_column(index=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    payload_digest: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerHead(TenantScoped, Base):
    """The tip of one site's chain; locked per batch so sequence numbers stay gapless."""

    __tablename__ = "ledger_heads"

    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    head: Mapped[bytes] = mapped_column(LargeBinary(32))
    # After retention removed the oldest records, the chain is verified from here.
    retained_from_seq: Mapped[int] = mapped_column(BigInteger, default=1, server_default="1")
    retained_prev_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Checkpoint(TenantScoped, Base):
    """A signed statement of a site's chain head (Ed25519, the platform's key)."""

    __tablename__ = "ledger_checkpoints"
    __table_args__ = (UniqueConstraint("site_id", "seq"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    head: Mapped[bytes] = mapped_column(LargeBinary(32))
    signed_at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)  # the signed note text, exportable as is
    signature: Mapped[bytes] = mapped_column(LargeBinary(64))


# --- exports ----------------------------------------------------------------------------------


class Export(TenantScoped, Base):
    """One requested ledger/registry export (xlsx or csv) and its progress. The row, not the
    RQ job, is the truth: it survives Redis restarts and expiring job results, and RLS scopes
    it like every other tenant row, so another tenant's export id is simply not found."""

    __tablename__ = "exports"
    __table_args__ = (Index("ix_exports_tenant_created", "tenant_id", "created_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    kind: Mapped[str] = mapped_column(String(30))  # passages | transport_vehicles | …
    file_format: Mapped[str] = mapped_column(String(8))  # xlsx | csv
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)  # filter, resolved at request
    status: Mapped[str] = mapped_column(String(12), default="queued")  # queued|running|done|failed
    rows_done: Mapped[int] = mapped_column(BigInteger, default=0)
    rows_total: Mapped[int | None] = mapped_column(BigInteger)
    storage_key: Mapped[str | None] = mapped_column(String(300))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(500))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = created_at()
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
