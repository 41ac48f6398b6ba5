"""Portal: the emergency execution record (应急响应执行记录) — a site's alert episodes, one
episode's record, checking off production measures, and the xlsx/PDF downloads."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from pydantic import ValidationError
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from saas.api.execution import MeasureCheckIn, episode_of, file_response
from saas.api.openapi import error_fields
from saas.auth.permissions import Permission, require
from saas.auth.principal import check_permission
from saas.db import get_session, utcnow
from saas.errors import ApiError
from saas.i18n import DISPLAY_TIMEZONE, local_to_aware
from saas.ledger.exports import DISPLAY_TZ
from saas.models.tenancy import Site
from saas.policy import execution
from saas.portal import bp
from saas.sites import get_site

DEFAULT_DAYS = 90
MAX_DAYS = 400


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


@bp.get("/alert-episodes", endpoint="alert_episodes")
@require(Permission.LEDGER_READ)
def episode_index() -> tuple[str, int]:
    """Pick a site and a date range (Beijing dates); the site's episodes, newest first."""
    session = get_session()
    sites = session.scalars(select(Site).order_by(Site.name)).all()
    args = {k: v.strip() for k, v in request.args.items() if v.strip()}
    error, status, found = None, 200, []
    site = None
    if args.get("site_id"):
        try:
            wanted = uuid.UUID(args["site_id"])
        except ValueError:
            wanted = None
        site = next((s for s in sites if s.id == wanted), None)
        if site is None:
            error, status = _("站点不存在"), 404
    elif sites:
        site = sites[0]
    today = utcnow().astimezone(DISPLAY_TZ).date()
    try:
        since = _day(args.get("since")) or today - timedelta(days=DEFAULT_DAYS)
        until = _day(args.get("until")) or today + timedelta(days=3)
    except ValueError:
        since, until = today - timedelta(days=DEFAULT_DAYS), today + timedelta(days=3)
        error, status = _("日期格式应为 年-月-日"), 422
    if error is None and (since > until or (until - since).days > MAX_DAYS):
        error, status = _("开始日期须不晚于结束日期，范围不超过 400 天"), 422
    if site is not None and error is None:
        start = datetime.combine(since, time.min, DISPLAY_TZ)
        end = datetime.combine(until + timedelta(days=1), time.min, DISPLAY_TZ)
        found = list(reversed(execution.episodes(session, site, start, end)))
    return render_template(
        "portal/execution_index.html",
        sites=sites,
        site=site,
        since=since,
        until=until,
        episodes=found,
        now=utcnow(),
        error=error,
    ), status


def _record_page(
    site: Site,
    episode: execution.Episode,
    *,
    errors: dict[str, str] | None = None,
    message: str | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    rec = execution.record(get_session(), site, episode)
    return render_template(
        "portal/execution_record.html",
        rec=rec,
        site=site,
        episode=episode,
        errors=errors or {},
        message=message,
        form=form or {},
        timezone=DISPLAY_TIMEZONE,
        now_local=utcnow().astimezone(DISPLAY_TZ).strftime("%Y-%m-%dT%H:%M"),
    ), status


@bp.get("/sites/<uuid:site_id>/alert-episodes/<episode_start>")
@require(Permission.LEDGER_READ)
def episode_record(site_id: uuid.UUID, episode_start: str) -> tuple[str, int]:
    site = get_site(get_session(), site_id)
    return _record_page(site, episode_of(site, episode_start))


@bp.post("/sites/<uuid:site_id>/alert-episodes/<episode_start>/measure-checks")
@require(Permission.SITE_WRITE)
def episode_check_measure(site_id: uuid.UUID, episode_start: str) -> Any:
    principal = check_permission(Permission.SITE_WRITE)
    site = get_site(get_session(), site_id)
    episode = episode_of(site, episode_start)
    form = {k: v.strip() for k, v in request.form.items() if k != "csrf_token"}
    raw: dict[str, Any] = {
        "level": form.get("level", ""),
        "measure_index": form.get("measure_index", ""),
        "note": form.get("note", ""),
        "done_at": form.get("done_at", ""),
    }
    if form.get("checked_by_name"):
        raw["checked_by_name"] = form["checked_by_name"]
    errors: dict[str, str] = {}
    if raw["done_at"]:
        try:
            raw["done_at"] = local_to_aware(raw["done_at"])  # Beijing wall time from the form
        except ValueError:
            errors["done_at"] = _("时间格式无效")
    else:
        errors["done_at"] = _("请填写落实时间")
    body = None
    if not errors:
        try:
            body = MeasureCheckIn.model_validate(raw)
        except ValidationError as exc:
            errors.update(error_fields(exc))
    if body is None:
        return _record_page(site, episode, errors=errors, form=form, status=422)
    session = get_session()
    try:
        execution.check_measure(
            session,
            site,
            episode.starts_at,
            body.level,
            body.measure_index,
            body.done_at,
            principal,
            body.note,
            checked_by_name=body.checked_by_name,
        )
    except ApiError as exc:
        session.rollback()
        return _record_page(
            site,
            episode,
            errors=exc.details.get("fields", {}),
            message=exc.message,
            form=form,
            status=exc.status,
        )
    session.commit()
    flash(_("已登记措施落实"))
    return redirect(url_for("portal.episode_record", site_id=site.id, episode_start=episode.key))


@bp.get("/sites/<uuid:site_id>/alert-episodes/<episode_start>/export")
@require(Permission.LEDGER_READ)
def episode_export(site_id: uuid.UUID, episode_start: str) -> BaseResponse:
    site = get_site(get_session(), site_id)
    episode = episode_of(site, episode_start)
    return file_response(execution.record(get_session(), site, episode), request.args.get("format"))
