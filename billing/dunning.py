"""Dunning: overdue invoices, reminders, and the convenience features an overdue tenant loses
(docs/billing.md, "Dunning").

* ``run`` (``cleangate billing dunning``, daily): an open invoice still short the day after its
  ``due_on`` becomes overdue; every overdue invoice gets a reminder by e-mail
  (``Subscription.billing_email``) and WeChat (``Subscription.billing_openid``) through the
  notification outbox — at most one per invoice per ``BILLING_REMINDER_INTERVAL_DAYS``, by the
  outbox key ``invoice_reminder:<invoice>:<window>``, so two runs on one day send one.
* ``degradation``: the tenant's oldest invoice unpaid more than its grace period
  (``Subscription.grace_days``, else ``BILLING_GRACE_DAYS``) after ``due_on``. While there is
  one, and only then, an export window over 30 days and inviting a new user are refused (402)
  with a message naming the invoice — the ``saas.entitlements`` checks installed here.

Gate control, ingest, the ledger, the regulator upload and the board never ask: billing never
stops them (tests/billing/test_overdue_e2e.py).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import Flask, current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from billing import payments
from saas import entitlements
from saas.auth import audit
from saas.models.billing import Invoice, Subscription
from saas.notify.outbox import NewMessage, add_messages
from saas.settings import BillingSettings, NotifySettings
from saas.tenancy import system_context, tenant_context

log = logging.getLogger(__name__)

REMINDER_TEMPLATE = "invoice_reminder"
FEATURE_LABELS = {
    entitlements.LONG_EXPORT: "导出超过 30 天的数据",
    entitlements.USER_INVITE: "邀请新用户",
}


def _settings() -> BillingSettings:
    if has_app_context():
        return current_app.config["CLEANGATE_SETTINGS"].billing  # type: ignore[no-any-return]
    return BillingSettings()


def grace_days(session: Session, default: int) -> int:
    """The tenant's grace period (read in its context): its subscription's, else the default."""
    days = session.scalar(select(Subscription.grace_days).limit(1))
    return default if days is None else int(days)


def degradation(
    session: Session, tenant_id: uuid.UUID, today: date | None = None
) -> Invoice | None:
    """The oldest invoice of ``tenant_id`` still unpaid more than the grace period after its
    due date, or None. Read from the dates, so it holds even before the daily run marks the
    invoice overdue."""
    today = today or payments.china_today()
    with tenant_context(tenant_id):
        days = grace_days(session, _settings().grace_days)
        return session.scalars(
            select(Invoice)
            .where(
                Invoice.status.in_(payments.OUTSTANDING),
                Invoice.due_on < today - timedelta(days=days),
            )
            .order_by(Invoice.due_on, Invoice.number)
            .limit(1)
        ).first()


def is_degraded(session: Session, tenant_id: uuid.UUID, today: date | None = None) -> bool:
    return degradation(session, tenant_id, today) is not None


def refusal_message(session: Session, invoice: Invoice, feature: str) -> str:
    with tenant_context(invoice.tenant_id):
        due = payments.balance(session, invoice).due
    what = FEATURE_LABELS.get(feature, feature)
    return (
        f"账单 {invoice.number}（应付 {payments.yuan(due)}，到期日 {invoice.due_on.isoformat()}）"
        f"已逾期超过宽限期，{what}暂停使用；付清后自动恢复。"
        "门禁放行、电子台账、监管平台上报和公示大屏不受影响。"
    )


def _check(feature: str) -> entitlements.Check:
    def check(session: Session, tenant_id: uuid.UUID) -> str | None:
        invoice = degradation(session, tenant_id)
        return refusal_message(session, invoice, feature) if invoice is not None else None

    return check


def install(app: Flask) -> None:
    """Register the degradation checks on ``app`` (called when billing's blueprints register)."""
    for feature in entitlements.FEATURES:
        entitlements.register_check(app, feature, _check(feature))


# --- the daily run ------------------------------------------------------------------------------


@dataclass
class DunningCounts:
    tenants: int = 0
    marked_overdue: int = 0
    reminders: int = 0  # invoices reminded (one or more messages queued)
    messages: int = 0
    failed_tenants: list[str] = field(default_factory=list)


def reminder_messages(
    session: Session,
    invoice: Invoice,
    subscription: Subscription | None,
    *,
    today: date,
    interval_days: int,
    grace: int,
    portal_url: str,
) -> list[NewMessage]:
    """The reminder of ``invoice`` for today's window, one per channel with an address."""
    if subscription is None:
        return []
    overdue_days = (today - invoice.due_on).days
    window = max(overdue_days - 1, 0) // interval_days
    due = payments.balance(session, invoice).due
    grace_end = invoice.due_on + timedelta(days=grace)
    subject = f"【环保门禁云】账单 {invoice.number} 已逾期，请尽快付款"
    text = (
        f"您好，账单 {invoice.number}（账期 {invoice.period_start.isoformat()} 至 "
        f"{invoice.period_end.isoformat()}）应付 {payments.yuan(due)}，"
        f"到期日 {invoice.due_on.isoformat()}，已逾期 {overdue_days} 天。\n"
        f"宽限期至 {grace_end.isoformat()}；此后导出超过 30 天的数据、邀请新用户将暂停，"
        "门禁放行、电子台账、监管平台上报和公示大屏不受影响。\n"
        f"请通过银行转账付款，或登录企业门户使用微信支付：{portal_url}\n"
        "如已付款请忽略本提醒。"
    )
    values = {
        "invoice": invoice.number,
        "amount": payments.yuan(due),
        "due": invoice.due_on.isoformat(),
        "status": "已逾期",
        "grace_end": grace_end.isoformat(),
    }
    payload = {"text": text, "values": values, "invoice_id": str(invoice.id)}
    key = f"{REMINDER_TEMPLATE}:{invoice.id}:{window}"
    messages = []
    if subscription.billing_email:
        messages.append(("email", subscription.billing_email))
    if subscription.billing_openid:
        messages.append(("wechat", subscription.billing_openid))
    return [
        NewMessage(
            tenant_id=invoice.tenant_id,
            site_id=None,
            contact_id=None,
            channel=channel,
            recipient=recipient,
            template=REMINDER_TEMPLATE,
            subject=subject,
            payload=payload,
            idempotency_key=f"{key}:{channel}",
        )
        for channel, recipient in messages
    ]


def run(
    factory: sessionmaker[Session],
    *,
    settings: BillingSettings,
    notify: NotifySettings,
    base_url: str,
    today: date | None = None,
    tenant_ids: Collection[uuid.UUID] | None = None,
) -> DunningCounts:
    """Mark overdue and remind, tenant by tenant (one transaction each: a failing tenant is
    logged and skipped, the others proceed); ``tenant_ids`` limits the run to those tenants.
    Safe to run any number of times a day."""
    today = today or payments.china_today()
    counts = DunningCounts()
    stmt = (
        select(Invoice.tenant_id)
        .where(Invoice.status.in_(payments.OUTSTANDING), Invoice.due_on < today)
        .distinct()
    )
    if tenant_ids is not None:
        stmt = stmt.where(Invoice.tenant_id.in_(list(tenant_ids)))
    with system_context("billing dunning: tenants with invoices past due"), factory() as s:
        due_tenants = list(s.scalars(stmt))
    portal_url = base_url.rstrip("/") + "/portal/billing"
    for tenant_id in due_tenants:
        counts.tenants += 1
        try:
            with tenant_context(tenant_id), factory() as session:
                _run_tenant(session, counts, today, settings, portal_url)
                session.commit()
        except Exception:
            log.exception("dunning failed for tenant %s", tenant_id)
            counts.failed_tenants.append(str(tenant_id))
    return counts


def _run_tenant(
    session: Session,
    counts: DunningCounts,
    today: date,
    settings: BillingSettings,
    portal_url: str,
) -> None:
    subscription = session.scalars(select(Subscription).limit(1)).first()
    grace = subscription.grace_days if subscription is not None else settings.grace_days
    invoices = session.scalars(
        select(Invoice)
        .where(Invoice.status.in_(payments.OUTSTANDING), Invoice.due_on < today)
        .order_by(Invoice.due_on, Invoice.number)
    ).all()
    for invoice in invoices:
        before = invoice.status
        status = payments.reconcile(session, invoice, today=today, actor_label="billing dunning")
        if before == "open" and status == "overdue":
            counts.marked_overdue += 1
        if status != "overdue":
            continue
        messages = reminder_messages(
            session,
            invoice,
            subscription,
            today=today,
            interval_days=settings.reminder_interval_days,
            grace=grace,
            portal_url=portal_url,
        )
        written = add_messages(session, messages, cause=f"invoice-reminder-{invoice.id.hex}")
        if written:
            invoice.reminders_sent += 1
            counts.reminders += 1
            counts.messages += written
            audit.record(
                session,
                "billing.invoice.reminder",
                tenant_id=invoice.tenant_id,
                actor_label="billing dunning",
                details={
                    "invoice": invoice.number,
                    "channels": sorted({m.channel for m in messages}),
                    "reminder": invoice.reminders_sent,
                },
            )
