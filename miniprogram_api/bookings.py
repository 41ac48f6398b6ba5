"""Visitor bookings (访客预约) from the visitor's side: ask, list one's own, cancel.

The rules live in ``saas.bookings``; the enterprise decides in its portal or API. Asking and
cancelling run inside the site's tenant context (``sites.site_scope``). Reading one's own
bookings is the one look across tenants here (``_own_bookings``): a visitor's bookings sit at
many enterprises' sites, and the user filter keeps the answer to the caller's own rows.
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import current_app
from flask.typing import ResponseReturnValue
from pydantic import BaseModel

from miniprogram_api import auth, registry, sites
from saas import bookings
from saas.bookings import BookingCreate, BookingOut
from saas.db import get_session
from saas.errors import NotFound
from saas.settings import MiniProgramSettings
from saas.tenancy import system_context


class BookingIn(BookingCreate):
    site_id: uuid.UUID  # the site (from its board's QR code or the site page)


class BookingList(BaseModel):
    items: list[BookingOut]


def _settings() -> MiniProgramSettings:
    return current_app.config["CLEANGATE_SETTINGS"].miniprogram  # type: ignore[no-any-return]


def _own_bookings(user_id: uuid.UUID, booking_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """The caller's bookings (or the one named) across every active enterprise, as plain
    dicts. The one system context of this module: rows are filtered by the caller's user id,
    read, and the transaction ends before anything else runs."""
    session = get_session()
    with system_context("mini-program: a visitor's own bookings across enterprises"):
        try:
            rows = bookings.user_bookings(session, user_id, booking_id)
            return [bookings.booking_out(booking, site_name) for booking, site_name in rows]
        finally:
            session.rollback()


def _own_booking(user_id: uuid.UUID, booking_id: uuid.UUID) -> dict[str, Any]:
    found = _own_bookings(user_id, booking_id)
    if not found:
        raise NotFound("预约")
    return found[0]


@registry.route(
    "/bookings",
    "POST",
    summary="预约到访：提交后待企业审批（审批结果以订阅消息通知）",
    tags=["bookings"],
    permission=None,
    secured=True,
    body=BookingIn,
    response=BookingOut,
    status=201,
)
def create_booking(body: BookingIn) -> ResponseReturnValue:
    settings = _settings()
    user_id = auth.current_user_id()
    with sites.site_scope(body.site_id) as (session, site):
        booking = bookings.create_booking(
            session,
            site,
            user_id,
            body,
            max_hours=settings.booking_max_hours,
            max_days_ahead=settings.booking_max_days_ahead,
        )
        out = bookings.booking_out(booking, site.name)
    return out, 201


@registry.route(
    "/bookings",
    "GET",
    summary="我的预约（各站点，最新在前）",
    tags=["bookings"],
    permission=None,
    secured=True,
    response=BookingList,
)
def list_bookings() -> ResponseReturnValue:
    return {"items": _own_bookings(auth.current_user_id())}


@registry.route(
    "/bookings/<uuid:booking_id>",
    "GET",
    summary="我的一条预约",
    tags=["bookings"],
    permission=None,
    secured=True,
    response=BookingOut,
)
def get_booking(booking_id: uuid.UUID) -> ResponseReturnValue:
    return _own_booking(auth.current_user_id(), booking_id)


@registry.route(
    "/bookings/<uuid:booking_id>/cancel",
    "POST",
    summary="取消预约（待审批，或已通过且未开始）",
    tags=["bookings"],
    permission=None,
    secured=True,
    response=BookingOut,
)
def cancel_booking(booking_id: uuid.UUID) -> ResponseReturnValue:
    user_id = auth.current_user_id()
    found = _own_booking(user_id, booking_id)
    with sites.site_scope(uuid.UUID(found["site_id"])) as (session, site):
        booking = bookings.cancel(session, site, booking_id, user_id)
        return bookings.booking_out(booking, site.name)
