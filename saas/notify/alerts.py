"""Heavy-pollution alert notices to a site's contacts (docs/notifications.md).

``queue_alert_notices`` is called by ``saas.policy.alerts`` (issue, end, feed import) for
every covered site, inside the caller's transaction and in whatever context the caller runs
(the provider's system context there): it reads the site's active contacts explicitly by
tenant and site, and stamps every row with the site's tenant.

Texts are Simplified Chinese with times in Asia/Shanghai (UTC in storage), e.g.
``【CleanGate】XX公司：当前重污染天气橙色预警，执行II级应急响应措施，2026-01-12 10:00起。
请按一厂一策落实。``
"""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from saas.db import utcnow
from saas.models.alerts import LEVEL_ZH, RESPONSE
from saas.models.outbox import SiteContact
from saas.models.tenancy import Site
from saas.notify.outbox import NewMessage, add_messages
from saas.tenancy import current_context, tenant_context

DISPLAY_TZ = ZoneInfo("Asia/Shanghai")
BRAND = "CleanGate"
EVENTS = ("started", "changed", "ended")
Event = Literal["started", "changed", "ended"]
OPEN_END = "另行通知"


def beijing(moment: datetime) -> str:
    """``2026-01-12 10:00`` in Beijing time."""
    return moment.astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M")


def event_key(event: str, ends_at: datetime | None) -> str:
    """The event part of the idempotency key. A change carries the new end, so each distinct
    change is told once and telling the same change again is not."""
    if event == "changed":
        return "changed-" + (ends_at.strftime("%Y%m%dT%H%M%SZ") if ends_at else "open")
    return event


def compose(
    event: str,
    *,
    site_name: str,
    level: str,
    headline: str,
    starts_at: datetime,
    ends_at: datetime | None,
) -> dict[str, Any]:
    """Subject, full text and the template values (SMS variables, WeChat keywords)."""
    level_zh, response = LEVEL_ZH[level], RESPONSE[level]
    start = beijing(starts_at)
    end = beijing(ends_at) if ends_at else OPEN_END
    if event == "started":
        window = f"{start}起" + (f"至{end}" if ends_at else "")
        text = f"【{BRAND}】{site_name}：{headline}，{window}。请按一厂一策落实。"
        subject = f"{site_name}：重污染天气{level_zh}预警（{response}级应急响应）"
        summary, time = f"执行{response}级应急响应措施", start
    elif event == "changed":
        text = (
            f"【{BRAND}】{site_name}：重污染天气{level_zh}预警（{response}级应急响应）将于{end}"
            "解除，解除前请继续按一厂一策落实。"
        )
        subject = f"{site_name}：{level_zh}预警解除时间（{end}）"
        summary, time = f"预警将于{end}解除", end
    else:
        text = (
            f"【{BRAND}】{site_name}：重污染天气{level_zh}预警（{response}级应急响应）"
            f"已于{end}解除。"
        )
        subject = f"{site_name}：{level_zh}预警已解除"
        summary, time = "预警已解除", end
    return {
        "subject": subject,
        "text": text,
        "values": {
            "site": site_name,
            "level": level_zh,
            "response": response,
            "start": start,
            "end": end,
            "time": time,
            "summary": summary,
        },
    }


def _channels(contact: SiteContact) -> list[tuple[str, str]]:
    wanted = [
        ("sms", contact.notify_sms, contact.phone),
        ("wechat", contact.notify_wechat, contact.wechat_openid),
        ("email", contact.notify_email, contact.email),
    ]
    return [(channel, address) for channel, on, address in wanted if on and address]


def queue_alert_notices(
    session: Session,
    site: Site,
    *,
    event: Event,
    alert_id: uuid.UUID,
    level: str,
    headline: str,
    starts_at: datetime,
    ends_at: datetime | None,
    now: datetime | None = None,
) -> int:
    """One outbox row per active contact × enabled channel of ``site``, in the caller's
    transaction; returns how many rows were written (0 for a repeat). A start or change of an
    alert already over (a historical feed record) tells nobody."""
    if event not in EVENTS:
        raise ValueError(f"event must be one of {EVENTS}, got {event!r}")
    if level not in LEVEL_ZH:
        raise ValueError(f"unknown level {level!r}")
    if event != "ended" and ends_at is not None and ends_at <= (now or utcnow()):
        return 0
    # Inside a system or tenant context the caller chose; without one, the site's tenant.
    scope = tenant_context(site.tenant_id) if current_context() is None else nullcontext()
    with scope:
        contacts = session.scalars(
            select(SiteContact)
            .where(
                SiteContact.tenant_id == site.tenant_id,
                SiteContact.site_id == site.id,
                SiteContact.active.is_(True),
            )
            .order_by(SiteContact.created_at, SiteContact.id)
        ).all()
        content = compose(
            event,
            site_name=site.name,
            level=level,
            headline=headline,
            starts_at=starts_at,
            ends_at=ends_at,
        )
        key_event = event_key(event, ends_at)
        template = f"alert_{event}"
        payload_base = {
            "text": content["text"],
            "values": content["values"],
            "event": event,
            "alert_id": str(alert_id),
            "site_id": str(site.id),
        }
        messages = [
            NewMessage(
                tenant_id=site.tenant_id,
                site_id=site.id,
                contact_id=contact.id,
                channel=channel,
                recipient=address,
                template=template,
                subject=content["subject"],
                payload=payload_base,
                idempotency_key=f"alert:{alert_id}:{site.id}:{key_event}:{contact.id}:{channel}",
            )
            for contact in contacts
            for channel, address in _channels(contact)
        ]
        return add_messages(session, messages, cause=f"alert-{alert_id.hex}-{key_event}")
