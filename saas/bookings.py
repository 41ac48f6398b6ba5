"""Visitor bookings (访客预约): asked in the mini-program, decided by the site's enterprise.

A visitor (a mini-program user) asks to visit a site in a time window, with or without a car.
The enterprise approves or declines in its portal or API; the visitor may cancel while the
booking is pending, or approved and not yet started::

    pending ──approve──▶ approved ──cancel──▶ cancelled
       │ ├──decline──▶ declined
       │ └──cancel───▶ cancelled

Every step is audited. A decision also writes, in the same transaction, one notification
outbox row to the visitor (WeChat subscribe message, template ``booking_result``; the relay
delivers it). An approved booking with a plate is in the site's snapshot
(``saas.edge_hub.snapshot.site_bookings``), so the bridges admit the car inside its window —
the gate still applies the policy and the alert in force. The snapshot follows every COMMIT
that touches a booking (``saas.edge_hub.changes``).

These functions run in the site's tenant context (the mini-program's ``site_scope``, the
portal's principal) and commit, like the other services; every bad input raises before
anything is written.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from saas.auth import audit
from saas.compliance import parse_plate, plates
from saas.compliance.codes import parse_color
from saas.db import utcnow
from saas.errors import ApiError, NotFound
from saas.models.miniprogram import MpUser, VisitorBooking
from saas.models.tenancy import Site, Tenant, TenantStatus
from saas.notify.alerts import BRAND, beijing
from saas.notify.outbox import NewMessage, add_messages

STATUS_LABELS = {
    "pending": "待审批",
    "approved": "已通过",
    "declined": "未通过",
    "cancelled": "已取消",
}
OPEN_STATUSES = ("pending", "approved")
NOTICE_TEMPLATE = "booking_result"  # saas.notify.channels.wechat maps it to WECHAT_TEMPLATE_BOOKING
START_GRACE = timedelta(minutes=5)  # a phone's clock a little behind ours is not "the past"
DEFAULT_APPROVE_NOTE = "请按预约时段到访"


_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")


# --- input ---------------------------------------------------------------------------------


class BookingCreate(BaseModel):
    """What the visitor fills in. Shapes here; the rules (phone, plate, window) in ``check``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    visitor_name: Annotated[str, Field(min_length=1, max_length=50)]  # 访客姓名
    phone: Annotated[str, Field(min_length=1, max_length=20)]  # 手机号（中国大陆）
    plate: Annotated[str | None, Field(max_length=16)] = None  # 车牌号码；步行到访不填
    plate_color: Annotated[str | None, Field(max_length=16)] = None  # 号牌颜色
    company: Annotated[str | None, Field(max_length=200)] = None  # 来访单位
    purpose: Annotated[str, Field(min_length=1, max_length=200)]  # 来访事由
    host: Annotated[str, Field(min_length=1, max_length=50)]  # 被访人
    starts_at: AwareDatetime  # 到访时段开始
    ends_at: AwareDatetime  # 到访时段结束


class ApproveIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: Annotated[str | None, Field(max_length=200)] = None  # 给访客的备注（可选）


class DeclineIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: Annotated[str, Field(min_length=1, max_length=200)]  # 不通过的原因（告知访客）


class BookingOut(BaseModel):
    id: str
    site_id: str
    site_name: str | None
    visitor_name: str
    phone: str
    plate: str | None
    plate_color: str | None
    company: str | None
    purpose: str
    host: str
    starts_at: str
    ends_at: str
    status: str
    status_text: str
    decision_note: str | None
    decided_at: str | None
    created_at: str


@dataclass(frozen=True)
class Checked:
    """A request that passed ``check``: phone and plate normalised, times in UTC."""

    phone: str
    plate: str | None
    plate_color: str | None
    starts_at: datetime
    ends_at: datetime


def normalize_phone(value: str) -> str | None:
    """A mainland mobile number without ``+86``, spaces or dashes; None if it is not one."""
    digits = re.sub(r"[\s-]", "", value)
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits if _MOBILE.match(digits) else None


def check(data: BookingCreate, *, now: datetime, max_hours: int, max_days_ahead: int) -> Checked:
    """Every rule at once: 422 naming each bad field (``details.fields``); a bad plate also
    gives its compliance error codes (``details.reasons``)."""
    fields: dict[str, str] = {}
    reasons: list[dict[str, str]] = []
    phone = normalize_phone(data.phone)
    if phone is None:
        fields["phone"] = "手机号无效：需为11位中国大陆手机号"
    plate_text = data.plate or None
    plate: str | None = None
    color: str | None = None
    if plate_text is not None:
        parsed = parse_plate(plate_text, data.plate_color)
        if not parsed.valid:
            explained = plates.error_reasons(parsed.errors or ("bad_length",))
            messages = [r["message"] for r in explained]
            fields["plate"] = "车牌号码无效：" + "；".join(dict.fromkeys(messages))
            reasons += explained
        else:
            plate = parsed.normalized
            color = parsed.color.value if parsed.color is not None else None
        if data.plate_color and parse_color(data.plate_color) is None:
            fields["plate_color"] = "号牌颜色未知（蓝、黄、绿、黄绿、白、黑）"
    starts = data.starts_at.astimezone(UTC)
    ends = data.ends_at.astimezone(UTC)
    if ends <= starts:
        fields["ends_at"] = "结束时间须晚于开始时间"
    elif ends - starts > timedelta(hours=max_hours):
        fields["ends_at"] = f"一次预约最长 {max_hours} 小时"
    if starts < now - START_GRACE:
        fields["starts_at"] = "开始时间不能早于当前时间"
    elif starts > now + timedelta(days=max_days_ahead):
        fields["starts_at"] = f"最多可预约 {max_days_ahead} 天内的到访"
    if fields:
        details: dict[str, Any] = {"fields": fields}
        if reasons:
            details["reasons"] = reasons
        raise ApiError(422, "validation_failed", "预约信息有误", details)
    assert phone is not None
    return Checked(phone=phone, plate=plate, plate_color=color, starts_at=starts, ends_at=ends)


# --- reading -------------------------------------------------------------------------------


def get_booking(session: Session, site: Site, booking_id: uuid.UUID) -> VisitorBooking:
    """The site's booking, or 404 (another site's or tenant's booking answers the same)."""
    booking = session.scalars(
        select(VisitorBooking).where(
            VisitorBooking.id == booking_id, VisitorBooking.site_id == site.id
        )
    ).one_or_none()
    if booking is None:
        raise NotFound("预约")
    return booking


def _locked(session: Session, booking: VisitorBooking) -> VisitorBooking:
    """Re-read the row FOR UPDATE (PostgreSQL) so two people deciding at once cannot both win."""
    row = session.scalars(
        select(VisitorBooking)
        .where(VisitorBooking.id == booking.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return row


def site_overview(
    session: Session, site: Site, *, now: datetime | None = None, recent: int = 30
) -> dict[str, list[VisitorBooking]]:
    """The portal's page: pending first (soonest first), then approved ones still to come or
    under way, then the latest others (declined, cancelled, past)."""
    now = now or utcnow()
    rows = session.scalars(
        select(VisitorBooking)
        .where(VisitorBooking.site_id == site.id)
        .order_by(VisitorBooking.starts_at, VisitorBooking.id)
    ).all()
    pending = [b for b in rows if b.status == "pending"]
    upcoming = [b for b in rows if b.status == "approved" and b.ends_at > now]
    shown = {b.id for b in pending} | {b.id for b in upcoming}
    others = sorted(
        (b for b in rows if b.id not in shown), key=lambda b: b.created_at, reverse=True
    )[:recent]
    return {"pending": pending, "upcoming": upcoming, "others": others}


def pending_counts(session: Session) -> dict[uuid.UUID, int]:
    """Pending bookings per site of the current tenant (the portal's index)."""
    counts: dict[uuid.UUID, int] = {}
    for site_id in session.scalars(
        select(VisitorBooking.site_id).where(VisitorBooking.status == "pending")
    ):
        counts[site_id] = counts.get(site_id, 0) + 1
    return counts


def user_bookings(
    session: Session, user_id: uuid.UUID, booking_id: uuid.UUID | None = None
) -> list[tuple[VisitorBooking, str]]:
    """A driver's own bookings across every active enterprise's sites, newest first, with the
    site's name. Tenant-agnostic on purpose: the caller runs it in its one allow-listed system
    context, and the user filter is what keeps it to the driver's own rows."""
    stmt = (
        select(VisitorBooking, Site.name)
        .join(Site, Site.id == VisitorBooking.site_id)
        .join(Tenant, Tenant.id == VisitorBooking.tenant_id)
        .where(VisitorBooking.user_id == user_id, Tenant.status == TenantStatus.ACTIVE)
        .order_by(VisitorBooking.created_at.desc(), VisitorBooking.id.desc())
        .limit(200)
    )
    if booking_id is not None:
        stmt = stmt.where(VisitorBooking.id == booking_id)
    return [(booking, name) for booking, name in session.execute(stmt)]


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment is not None else None


def booking_out(booking: VisitorBooking, site_name: str | None = None) -> dict[str, Any]:
    return {
        "id": str(booking.id),
        "site_id": str(booking.site_id),
        "site_name": site_name,
        "visitor_name": booking.visitor_name,
        "phone": booking.phone,
        "plate": booking.plate,
        "plate_color": booking.plate_color,
        "company": booking.company,
        "purpose": booking.purpose,
        "host": booking.host,
        "starts_at": _iso(booking.starts_at),
        "ends_at": _iso(booking.ends_at),
        "status": booking.status,
        "status_text": STATUS_LABELS.get(booking.status, booking.status),
        "decision_note": booking.decision_note,
        "decided_at": _iso(booking.decided_at),
        "created_at": _iso(booking.created_at),
    }


# --- writing -------------------------------------------------------------------------------


def create_booking(
    session: Session,
    site: Site,
    user_id: uuid.UUID,
    data: BookingCreate,
    *,
    max_hours: int,
    max_days_ahead: int,
    now: datetime | None = None,
) -> VisitorBooking:
    """A pending booking of ``user_id`` at ``site``; 422 on a bad field, 409 when the same
    visitor (plate, or phone without a car) already has an open booking overlapping it."""
    now = now or utcnow()
    checked = check(data, now=now, max_hours=max_hours, max_days_ahead=max_days_ahead)
    same = (
        VisitorBooking.plate == checked.plate
        if checked.plate is not None
        else and_(VisitorBooking.plate.is_(None), VisitorBooking.phone == checked.phone)
    )
    clash = session.scalars(
        select(VisitorBooking.id).where(
            VisitorBooking.site_id == site.id,
            VisitorBooking.user_id == user_id,
            VisitorBooking.status.in_(OPEN_STATUSES),
            VisitorBooking.starts_at < checked.ends_at,
            VisitorBooking.ends_at > checked.starts_at,
            same,
        )
    ).first()
    if clash is not None:
        raise ApiError(
            409,
            "booking_overlap",
            "该时段已有相同访客的预约，请勿重复提交",
            {"booking_id": str(clash)},
        )
    booking = VisitorBooking(
        tenant_id=site.tenant_id,
        site_id=site.id,
        user_id=user_id,
        visitor_name=data.visitor_name,
        phone=checked.phone,
        plate=checked.plate,
        plate_color=checked.plate_color,
        company=data.company or None,
        purpose=data.purpose,
        host=data.host,
        starts_at=checked.starts_at,
        ends_at=checked.ends_at,
        status="pending",
        created_at=now,
    )
    session.add(booking)
    session.flush()
    audit.record(
        session,
        "booking.create",
        tenant_id=site.tenant_id,
        actor_label=f"mp-user:{user_id}",
        details=_details(booking),
    )
    session.commit()
    return booking


def approve(
    session: Session,
    site: Site,
    booking_id: uuid.UUID,
    *,
    actor_id: uuid.UUID | None,
    actor_label: str | None,
    note: str | None = None,
    now: datetime | None = None,
) -> VisitorBooking:
    """pending → approved; the visitor is told. A booking whose window is over cannot be
    approved (409): it would admit nobody and tell the visitor something untrue."""
    now = now or utcnow()
    booking = _locked(session, get_booking(session, site, booking_id))
    _expect(booking, ("pending",))
    if booking.ends_at <= now:
        raise ApiError(409, "booking_expired", "预约时段已过，无法通过")
    return _decide(session, site, booking, "approved", actor_id, actor_label, note or None, now)


def decline(
    session: Session,
    site: Site,
    booking_id: uuid.UUID,
    *,
    actor_id: uuid.UUID | None,
    actor_label: str | None,
    note: str,
    now: datetime | None = None,
) -> VisitorBooking:
    """pending → declined, with the reason the visitor is told."""
    now = now or utcnow()
    if not note.strip():
        raise ApiError(
            422, "validation_failed", "请填写不通过的原因", {"fields": {"note": "不能为空"}}
        )
    booking = _locked(session, get_booking(session, site, booking_id))
    _expect(booking, ("pending",))
    return _decide(session, site, booking, "declined", actor_id, actor_label, note.strip(), now)


def cancel(
    session: Session,
    site: Site,
    booking_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> VisitorBooking:
    """The visitor withdraws their own booking while pending, or approved and not started.
    Another user's booking answers 404 like a missing one."""
    now = now or utcnow()
    booking = get_booking(session, site, booking_id)
    if booking.user_id != user_id:
        raise NotFound("预约")
    booking = _locked(session, booking)
    _expect(booking, OPEN_STATUSES)
    if booking.starts_at <= now:
        raise ApiError(409, "booking_started", "预约时段已开始，无法取消")
    previous = booking.status
    booking.status = "cancelled"
    audit.record(
        session,
        "booking.cancel",
        tenant_id=booking.tenant_id,
        actor_label=f"mp-user:{user_id}",
        details={**_details(booking), "previous": previous},
    )
    session.commit()
    return booking


def _expect(booking: VisitorBooking, statuses: tuple[str, ...]) -> None:
    if booking.status not in statuses:
        raise ApiError(
            409,
            "booking_state",
            f"预约{STATUS_LABELS.get(booking.status, booking.status)}，不能再更改",
            {"status": booking.status},
        )


def _details(booking: VisitorBooking) -> dict[str, Any]:
    return {
        "site_id": str(booking.site_id),
        "booking_id": str(booking.id),
        "plate": booking.plate,
        "status": booking.status,
    }


def _decide(
    session: Session,
    site: Site,
    booking: VisitorBooking,
    status: str,
    actor_id: uuid.UUID | None,
    actor_label: str | None,
    note: str | None,
    now: datetime,
) -> VisitorBooking:
    booking.status = status
    booking.decided_by = actor_id
    booking.decided_at = now
    booking.decision_note = note
    queued = queue_notice(session, site, booking)
    audit.record(
        session,
        f"booking.{'approve' if status == 'approved' else 'decline'}",
        tenant_id=booking.tenant_id,
        actor_user_id=actor_id,
        actor_label=actor_label,
        details={**_details(booking), "note": note, "notice_queued": queued},
    )
    session.commit()
    return booking


def compose_notice(site: Site, booking: VisitorBooking) -> dict[str, Any]:
    """Subject, text and the WeChat keyword values of a decision (Beijing time)."""
    approved = booking.status == "approved"
    result = "已通过" if approved else "未通过"
    note = booking.decision_note or (DEFAULT_APPROVE_NOTE if approved else "如有疑问请联系被访人")
    start, end = beijing(booking.starts_at), beijing(booking.ends_at)
    window = f"{start}至{end[11:] if end[:10] == start[:10] else end}"
    text = f"【{BRAND}】您预约{window}到访{site.name}（被访人：{booking.host}）{result}。{note}"
    return {
        "subject": f"{site.name}：访客预约{result}",
        "text": text,
        "values": {"site": site.name, "result": result, "start": start, "note": note},
    }


def queue_notice(session: Session, site: Site, booking: VisitorBooking) -> int:
    """One WeChat outbox row to the visitor for this decision (once per booking and status).

    The row carries no ``site_id``: the site's notification list is the enterprise's, and the
    visitor's openid never leaves the platform except to WeChat."""
    user = session.get(MpUser, booking.user_id)
    if user is None or user.disabled or not user.openid:
        return 0
    content = compose_notice(site, booking)
    message = NewMessage(
        tenant_id=booking.tenant_id,
        site_id=None,
        contact_id=None,
        channel="wechat",
        recipient=user.openid,
        template=NOTICE_TEMPLATE,
        subject=content["subject"],
        payload={
            "text": content["text"],
            "values": content["values"],
            "booking_id": str(booking.id),
            "site_id": str(site.id),
            "status": booking.status,
        },
        idempotency_key=f"booking:{booking.id}:{booking.status}",
    )
    return add_messages(session, [message], cause=f"booking-{booking.id.hex}-{booking.status}")
