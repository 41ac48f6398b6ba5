"""The WeChat mini-program's data (docs/miniprogram-api.md).

A driver or visitor (``MpUser``) is nobody's tenant: one provider mini-program serves every
enterprise, so the driver's profile and garage (``MpVehicle``) are global rows, reachable only
through the driver's own token. What the driver sends to a site — a vehicle registration (a
``TransportVehicle`` row, source ``miniprogram``), a cargo registration, a visitor booking —
belongs to that site's tenant and is tenant-scoped like every ledger row.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from saas.db import Base, utcnow
from saas.models.base import TenantScoped, created_at, uuid_pk

CARGO_STATUSES = ("waiting", "attached", "expired", "cancelled")
BOOKING_STATUSES = ("pending", "approved", "declined", "cancelled")


class MpUser(Base):
    """A mini-program user, known by the provider app's openid (unionid when WeChat gives it)."""

    __tablename__ = "mp_users"

    id: Mapped[uuid.UUID] = uuid_pk()
    openid: Mapped[str] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    phone: Mapped[str | None] = mapped_column(String(20))  # bound with getPhoneNumber
    phone_bound_at: Mapped[datetime | None]
    display_name: Mapped[str | None] = mapped_column(String(50))
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = created_at()
    last_login_at: Mapped[datetime] = mapped_column(default=utcnow)


class MpVehicle(Base):
    """A vehicle in a driver's garage: the facts and document photos the driver declared once
    and registers at any number of sites."""

    __tablename__ = "mp_vehicles"
    __table_args__ = (UniqueConstraint("user_id", "plate", "plate_color"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mp_users.id"), index=True)
    plate: Mapped[str] = mapped_column(String(16))  # 车牌号码 (normalised)
    plate_color: Mapped[str] = mapped_column(String(16))  # 号牌颜色 (canonical)
    vehicle_type: Mapped[str | None] = mapped_column(String(8))  # 车辆类型 (GA 24.4)
    vin: Mapped[str | None] = mapped_column(String(17))  # 车辆识别代号
    registration_date: Mapped[date | None] = mapped_column(Date)  # 注册登记日期
    model: Mapped[str | None] = mapped_column(String(100))  # 车辆品牌型号
    fuel_type: Mapped[str | None] = mapped_column(String(20))  # 燃料类型
    emission_stage: Mapped[str | None] = mapped_column(String(10))  # 排放阶段 (as declared)
    use_nature: Mapped[str | None] = mapped_column(String(4))  # 使用性质
    owner_name: Mapped[str | None] = mapped_column(String(200))  # 车辆所有人(单位)
    license_image_key: Mapped[str | None] = mapped_column(String(300))  # 行驶证
    list_image_key: Mapped[str | None] = mapped_column(String(300))  # 随车清单
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MpVehicleSite(Base):
    """Where a garage vehicle has been registered: the site and the registry row it became.
    Global (the driver lists them); the registry row itself is the tenant's."""

    __tablename__ = "mp_vehicle_sites"
    __table_args__ = (UniqueConstraint("vehicle_id", "site_id"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    vehicle_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mp_vehicles.id"), index=True)
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"), index=True)
    registry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("transport_vehicles.id"))
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CargoRegistration(TenantScoped, Base):
    """运输货物登记 made by scanning a site's QR code: waits for the plate's next passage at
    the site (within the window) and fills that passage's cargo fields at ingest."""

    __tablename__ = "cargo_registrations"
    __table_args__ = (Index("ix_cargo_registrations_site_plate", "site_id", "plate", "status"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"))
    gate_code: Mapped[str | None] = mapped_column(String(20))  # the gate whose QR was scanned
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mp_users.id"), index=True)
    plate: Mapped[str] = mapped_column(String(16))  # normalised
    plate_color: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))  # 运输货物名称
    quantity: Mapped[Decimal] = mapped_column(Numeric(12, 3))  # 运输量
    unit: Mapped[str] = mapped_column(String(10))  # 单位
    carrier: Mapped[str | None] = mapped_column(String(200))  # 承运单位
    origin: Mapped[str | None] = mapped_column(String(200))  # 来源地
    destination: Mapped[str | None] = mapped_column(String(200))  # 目的地
    status: Mapped[str] = mapped_column(String(10), default="waiting")
    created_at: Mapped[datetime] = created_at()
    expires_at: Mapped[datetime]
    passage_event_id: Mapped[uuid.UUID | None]
    attached_at: Mapped[datetime | None]


class VisitorBooking(TenantScoped, Base):
    """访客预约: asked in the mini-program, approved or declined in the portal; an approved
    booking reaches the site's bridges in the snapshot and admits the plate in its window."""

    __tablename__ = "visitor_bookings"
    __table_args__ = (Index("ix_visitor_bookings_site_status", "site_id", "status", "starts_at"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    site_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("sites.id"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("mp_users.id"), index=True)
    visitor_name: Mapped[str] = mapped_column(String(50))
    phone: Mapped[str] = mapped_column(String(20))
    plate: Mapped[str | None] = mapped_column(String(16))  # normalised; None: on foot
    plate_color: Mapped[str | None] = mapped_column(String(16))
    company: Mapped[str | None] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(50))  # 被访人
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10), default="pending")
    decided_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = created_at()
