"""A site's visitor bookings (访客预约) for the enterprise: list, approve, decline. Thin routes
over ``saas.bookings``; another tenant's site or booking answers 404 and changes nothing."""

from __future__ import annotations

import uuid

from flask import request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from sqlalchemy import select

from saas import bookings
from saas.api import items, registry
from saas.api.pagination import QUERY_PARAMETERS, paginate
from saas.auth.permissions import Permission
from saas.auth.principal import current_principal
from saas.bookings import ApproveIn, BookingOut, DeclineIn
from saas.db import get_session
from saas.errors import validation_error
from saas.models.miniprogram import BOOKING_STATUSES, VisitorBooking
from saas.sites import get_site


class BookingPage(BaseModel):
    items: list[BookingOut]
    next_cursor: str | None


def _actor() -> tuple[uuid.UUID | None, str | None]:
    principal = current_principal()
    if principal is None:
        return None, None
    return principal.user_id, principal.username


@registry.route(
    "/sites/<uuid:site_id>/bookings",
    "GET",
    summary="站点的访客预约（最新在前；?status=pending|approved|declined|cancelled）",
    tags=["bookings"],
    permission=Permission.SITE_READ,
    response=BookingPage,
    query=[
        *QUERY_PARAMETERS,
        {
            "name": "status",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": list(BOOKING_STATUSES)},
        },
    ],
)
def list_site_bookings(site_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    stmt = select(VisitorBooking).where(VisitorBooking.site_id == site.id)
    status = request.args.get("status")
    if status:
        if status not in BOOKING_STATUSES:
            raise validation_error({"status": "应为 " + "、".join(BOOKING_STATUSES)})
        stmt = stmt.where(VisitorBooking.status == status)
    rows, cursor = paginate(session, stmt, VisitorBooking.created_at, VisitorBooking.id)
    return items([bookings.booking_out(r, site.name) for r in rows], cursor)


@registry.route(
    "/sites/<uuid:site_id>/bookings/<uuid:booking_id>/approve",
    "POST",
    summary="通过访客预约（车辆随即进入门岗快照；访客收到订阅消息）",
    tags=["bookings"],
    permission=Permission.SITE_WRITE,
    body=ApproveIn,
    response=BookingOut,
)
def approve_site_booking(
    site_id: uuid.UUID, booking_id: uuid.UUID, body: ApproveIn
) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    actor_id, actor_label = _actor()
    booking = bookings.approve(
        session, site, booking_id, actor_id=actor_id, actor_label=actor_label, note=body.note
    )
    return bookings.booking_out(booking, site.name)


@registry.route(
    "/sites/<uuid:site_id>/bookings/<uuid:booking_id>/decline",
    "POST",
    summary="不通过访客预约（note 为告知访客的原因）",
    tags=["bookings"],
    permission=Permission.SITE_WRITE,
    body=DeclineIn,
    response=BookingOut,
)
def decline_site_booking(
    site_id: uuid.UUID, booking_id: uuid.UUID, body: DeclineIn
) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    actor_id, actor_label = _actor()
    booking = bookings.decline(
        session, site, booking_id, actor_id=actor_id, actor_label=actor_label, note=body.note
    )
    return bookings.booking_out(booking, site.name)
