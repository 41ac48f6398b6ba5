"""Billing tables (issue 9, package ``billing/``). Money is ``Numeric(12, 2)`` CNY, computed
with ``decimal.Decimal`` only — never a float.

Catalogue rows (plans, add-ons) and the invoice-number counter are provider data without a
tenant; everything about one customer (subscription, usage, invoices, payments) is
tenant-scoped like every other row. Billing never gates the gate: nothing here is read by
ingest, the edge hub, the regulator relay or the board (tests/billing prove it).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from saas.db import Base, utcnow
from saas.models.base import TenantScoped, created_at, uuid_pk

Money = Numeric(12, 2)
INVOICE_STATUSES = ("open", "paid", "overdue", "void")
PAYMENT_METHODS = ("bank_transfer", "wechat_pay")
PAYMENT_STATUSES = ("pending", "succeeded", "failed", "closed")
USAGE_METRICS = ("sites", "lanes", "passages", "sms", "storage_gb")


class BillingPlan(Base):
    """A price list entry: a monthly fee per site plus per gate lane, what it includes, and the
    discount for paying a year ahead."""

    __tablename__ = "billing_plans"

    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    site_monthly_fee: Mapped[Decimal] = mapped_column(Money)  # 每站点月费
    lane_monthly_fee: Mapped[Decimal] = mapped_column(Money)  # 每道闸月费
    included_sms: Mapped[int] = mapped_column(Integer, default=0)  # per month
    included_storage_gb: Mapped[int] = mapped_column(Integer, default=0)
    annual_discount_pct: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = created_at()


class BillingAddon(Base):
    """An optional add-on: SMS bundle, extra storage, expert services (monthly or one-off)."""

    __tablename__ = "billing_addons"

    id: Mapped[uuid.UUID] = uuid_pk()
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str] = mapped_column(String(20))  # 条 / GB / 人天 …
    unit_price: Mapped[Decimal] = mapped_column(Money)
    recurring: Mapped[bool] = mapped_column(default=True)  # monthly; False: billed once
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = created_at()


class Subscription(TenantScoped, Base):
    """A tenant's plan, cycle and add-ons, with the buyer details a 增值税发票 request needs.
    A plan change is recorded as ``pending_*`` and takes effect at the next period."""

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("tenant_id", name="uq_subscriptions_tenant"),)

    id: Mapped[uuid.UUID] = uuid_pk()
    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("billing_plans.id"))
    cycle: Mapped[str] = mapped_column(String(10), default="monthly")  # monthly | annual
    addons: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {addon code: qty}
    starts_on: Mapped[date] = mapped_column(Date)
    paid_through: Mapped[date | None] = mapped_column(Date)  # annual prepay covers until
    pending_plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("billing_plans.id"))
    pending_cycle: Mapped[str | None] = mapped_column(String(10))
    pending_from: Mapped[date | None] = mapped_column(Date)
    grace_days: Mapped[int] = mapped_column(Integer, default=15)
    # 增值税发票 buyer (购买方) details
    buyer_name: Mapped[str | None] = mapped_column(String(200))  # 名称
    buyer_tax_no: Mapped[str | None] = mapped_column(String(20))  # 纳税人识别号
    buyer_bank: Mapped[str | None] = mapped_column(String(200))  # 开户行
    buyer_account: Mapped[str | None] = mapped_column(String(40))  # 账号
    buyer_address: Mapped[str | None] = mapped_column(String(200))  # 地址
    buyer_phone: Mapped[str | None] = mapped_column(String(30))  # 电话
    billing_email: Mapped[str | None] = mapped_column(String(200))
    billing_openid: Mapped[str | None] = mapped_column(String(64))  # WeChat reminders
    created_at: Mapped[datetime] = created_at()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class UsageRecord(TenantScoped, Base):
    """One metered figure of one tenant for one month, computed from the real events."""

    __tablename__ = "usage_records"
    __table_args__ = (
        UniqueConstraint("tenant_id", "period", "metric", name="uq_usage_records_period_metric"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM (Asia/Shanghai month)
    metric: Mapped[str] = mapped_column(String(20))  # USAGE_METRICS
    quantity: Mapped[Decimal] = mapped_column(Numeric(16, 3))
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class InvoiceCounter(Base):
    """Gap-free invoice numbers: the year's row is locked and incremented in the transaction
    that writes the invoice, so a rolled-back invoice never consumes a number."""

    __tablename__ = "invoice_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Invoice(TenantScoped, Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("tenant_id", "period_start", name="uq_invoices_tenant_period"),
        Index("ix_invoices_status_due", "status", "due_on"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    number: Mapped[str] = mapped_column(String(20), unique=True)  # CG2026-000001
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # inclusive
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open")  # INVOICE_STATUSES
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    subtotal: Mapped[Decimal] = mapped_column(Money)  # 不含税金额
    vat_rate: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=Decimal("0.06"))
    vat_amount: Mapped[Decimal] = mapped_column(Money)  # 税额
    total: Mapped[Decimal] = mapped_column(Money)  # 价税合计
    buyer: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # snapshot at issue
    paid_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    void_reason: Mapped[str | None] = mapped_column(String(200))
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_at()


class InvoiceLine(TenantScoped, Base):
    __tablename__ = "invoice_lines"

    id: Mapped[uuid.UUID] = uuid_pk()
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))  # site, lane, addon, usage, proration, discount
    # What the line bills, for later invoices to read back (an annual term's prepaid
    # quantities): site | lane | addon:<code> | usage:sms | usage:storage | annual_discount
    code: Mapped[str | None] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[Decimal] = mapped_column(Numeric(16, 3))
    unit_price: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    amount: Mapped[Decimal] = mapped_column(Money)


class Payment(TenantScoped, Base):
    """Money towards an invoice: a bank transfer recorded by provider billing staff, or a
    WeChat Pay (Native QR) order confirmed by its signed callback."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("method", "external_id", name="uq_payments_method_external"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    invoice_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("invoices.id"), index=True)
    method: Mapped[str] = mapped_column(String(20))  # PAYMENT_METHODS
    status: Mapped[str] = mapped_column(String(10), default="pending")  # PAYMENT_STATUSES
    amount: Mapped[Decimal] = mapped_column(Money)
    out_trade_no: Mapped[str | None] = mapped_column(String(32), unique=True)  # ours, WeChat Pay
    external_id: Mapped[str | None] = mapped_column(String(64))  # transaction_id / bank ref
    code_url: Mapped[str | None] = mapped_column(String(300))  # Native QR content
    payer_name: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime | None]
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = created_at()
