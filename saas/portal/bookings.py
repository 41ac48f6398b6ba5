"""Portal: visitor bookings (访客预约) per site — pending ones to decide first, then those to
come; approve (optional note) or decline (with the reason the visitor is told). The rules are
``saas.bookings``'s; these views turn forms into its calls."""

from __future__ import annotations

import uuid

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from saas import bookings
from saas.auth.permissions import Permission, require
from saas.auth.principal import check_permission
from saas.db import get_session, utcnow
from saas.errors import ApiError
from saas.models.tenancy import Site
from saas.portal import bp
from saas.sites import get_site

NOTE_MAX = 200


@bp.get("/bookings", endpoint="bookings")
@require(Permission.SITE_READ)
def booking_index() -> str:
    session = get_session()
    sites = list(session.scalars(select(Site).order_by(Site.name)))
    counts = bookings.pending_counts(session)
    return render_template("portal/bookings/index.html", sites=sites, counts=counts)


def _render_site(
    site: Site,
    *,
    errors: dict[str, str] | None = None,
    failed: uuid.UUID | None = None,
    note: str = "",
    status: int = 200,
) -> tuple[str, int]:
    session = get_session()
    now = utcnow()
    html = render_template(
        "portal/bookings/site.html",
        site=site,
        overview=bookings.site_overview(session, site, now=now),
        labels=bookings.STATUS_LABELS,
        now=now,
        errors=errors or {},
        failed=failed,
        note=note,
        note_max=NOTE_MAX,
    )
    return html, status


@bp.get("/sites/<uuid:site_id>/bookings", endpoint="site_bookings")
@require(Permission.SITE_READ)
def site_bookings(site_id: uuid.UUID) -> tuple[str, int]:
    return _render_site(get_site(get_session(), site_id))


def _note() -> str:
    return (request.form.get("note") or "").strip()


def _back(site: Site) -> BaseResponse:
    return redirect(url_for("portal.site_bookings", site_id=site.id))


@bp.post("/sites/<uuid:site_id>/bookings/<uuid:booking_id>/approve", endpoint="booking_approve")
@require(Permission.SITE_WRITE)
def booking_approve(site_id: uuid.UUID, booking_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    principal = check_permission(Permission.SITE_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    bookings.get_booking(session, site, booking_id)  # 404 before any form error
    note = _note()
    if len(note) > NOTE_MAX:
        errors = {"note": _("备注最多 %(n)s 字", n=NOTE_MAX)}
        return _render_site(site, errors=errors, failed=booking_id, note=note, status=422)
    try:
        booking = bookings.approve(
            session,
            site,
            booking_id,
            actor_id=principal.user_id,
            actor_label=principal.username,
            note=note or None,
        )
    except ApiError as exc:
        if exc.status == 404:
            raise
        session.rollback()
        flash(_("未能通过：%(error)s", error=exc.message))
        return _back(site)
    flash(_("已通过 %(name)s 的预约，访客将收到通知", name=booking.visitor_name))
    return _back(site)


@bp.post("/sites/<uuid:site_id>/bookings/<uuid:booking_id>/decline", endpoint="booking_decline")
@require(Permission.SITE_WRITE)
def booking_decline(site_id: uuid.UUID, booking_id: uuid.UUID) -> BaseResponse | tuple[str, int]:
    principal = check_permission(Permission.SITE_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    bookings.get_booking(session, site, booking_id)  # 404 before any form error
    note = _note()
    errors: dict[str, str] = {}
    if not note:
        errors["note"] = _("请填写不通过的原因（将告知访客）")
    elif len(note) > NOTE_MAX:
        errors["note"] = _("原因最多 %(n)s 字", n=NOTE_MAX)
    if errors:
        return _render_site(site, errors=errors, failed=booking_id, note=note, status=422)
    try:
        booking = bookings.decline(
            session,
            site,
            booking_id,
            actor_id=principal.user_id,
            actor_label=principal.username,
            note=note,
        )
    except ApiError as exc:
        if exc.status == 404:
            raise
        session.rollback()
        flash(_("未能处理：%(error)s", error=exc.message))
        return _back(site)
    flash(_("已拒绝 %(name)s 的预约，访客将收到通知", name=booking.visitor_name))
    return _back(site)
