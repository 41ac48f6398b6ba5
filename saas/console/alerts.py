"""Console: heavy-pollution alerts — list with filters and pages, issue, end (with
confirmation), one alert's covered sites and audit trail, and the feed import (docs/alerts.md).

Thin over ``saas.policy.alerts``, the services the API calls (``saas/api/alerts.py``), validated
with the API's own ``AlertCreate``: a browser and an integration get the same rules. Alerts are
provider data (no tenant); the sites, tenants, bridges and audit rows shown beside them are read
in a system context, for staff holding ``alert.manage`` only.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from pydantic import ValidationError
from sqlalchemy import Select, and_, or_, select

from saas.api.alerts import AlertCreate, issue_alert
from saas.api.openapi import error_fields
from saas.api.pagination import paginate
from saas.auth.permissions import Permission, require
from saas.auth.principal import check_permission
from saas.compliance import PROVINCE_PREFIXES, validate_region_code
from saas.console import bp
from saas.db import get_session, utcnow
from saas.edge_hub import bus
from saas.errors import ApiError
from saas.i18n import local_to_aware
from saas.models.alerts import LEVELS, Alert
from saas.models.identity import AuditEvent, User
from saas.models.ledger import EdgeDevice
from saas.models.tenancy import Site, Tenant
from saas.policy import alerts, feed_pull
from saas.tenancy import system_context

LEVEL_LABELS = {
    "yellow": lazy_gettext("黄色预警（III级响应）"),
    "orange": lazy_gettext("橙色预警（II级响应）"),
    "red": lazy_gettext("红色预警（I级响应）"),
}
STATUS_LABELS = {
    "active": lazy_gettext("生效中"),
    "upcoming": lazy_gettext("未开始"),
    "ended": lazy_gettext("已解除"),
}
EVENT_LABELS = {"alert.issue": lazy_gettext("发布"), "alert.end": lazy_gettext("解除")}
MAX_COVERED_SHOWN = 500
MAX_SITE_CHOICES = 1000
MAX_NOTICE = 4000
MAX_IMPORT_CHARS = 5 * 1024 * 1024


def status_of(alert: Alert, now: datetime) -> str:
    if alert.cancelled_at is not None or (alert.ends_at is not None and alert.ends_at <= now):
        return "ended"
    return "upcoming" if alert.starts_at > now else "active"


def region_label(code: str | None) -> str:
    if not code:
        return ""
    province = PROVINCE_PREFIXES.get(code[:2], "")
    return f"{code} {province}" if province else code


def _region_prefix(code: str) -> str:
    """The part of a GB/T 2260 code that its descendants share (``130000`` → ``13``)."""
    if code[2:] == "0000":
        return code[:2]
    if code[4:] == "00":
        return code[:4]
    return code


def _status_filter(stmt: Select[Any], status: str, now: datetime) -> Select[Any]:
    ended = or_(Alert.cancelled_at.is_not(None), Alert.ends_at <= now)
    if status == "ended":
        return stmt.where(ended)
    live = and_(Alert.cancelled_at.is_(None), or_(Alert.ends_at.is_(None), Alert.ends_at > now))
    if status == "upcoming":
        return stmt.where(live, Alert.starts_at > now)
    return stmt.where(live, Alert.starts_at <= now)  # active


def _region_filter(stmt: Select[Any], code: str) -> Select[Any]:
    """Alerts that reach ``code`` or lie beneath it: its province, city and the code itself,
    every region code under it, and site alerts of sites in it."""
    prefix = _region_prefix(code)
    covering = {code[:2] + "0000", code[:4] + "00", code}
    sites_within = select(Site.id).where(Site.region_code.like(prefix + "%"))
    return stmt.where(
        or_(
            Alert.region_code.in_(sorted(covering)),
            Alert.region_code.like(prefix + "%"),
            Alert.site_id.in_(sites_within),
        )
    )


def _sites_by_id(site_ids: set[uuid.UUID]) -> dict[uuid.UUID, tuple[Site, str]]:
    """Sites with their tenant's name (provider view, across tenants)."""
    if not site_ids:
        return {}
    with system_context("console: sites named by alerts"):
        rows = get_session().execute(
            select(Site, Tenant.name)
            .join(Tenant, Tenant.id == Site.tenant_id)
            .where(Site.id.in_(site_ids))
        )
        return {site.id: (site, tenant) for site, tenant in rows}


def _feed_status() -> dict[str, Any] | None:
    return feed_pull.last_outcome(current_app.extensions["cleangate.redis"])


def _nav_context() -> dict[str, Any]:
    return {
        "level_labels": LEVEL_LABELS,
        "status_labels": STATUS_LABELS,
        "region_label": region_label,
    }


# --- list ---------------------------------------------------------------------------------------


@bp.get("/alerts")
@require(Permission.ALERT_MANAGE)
def alerts_index() -> tuple[str, int]:
    """Newest first; filters: status (active/upcoming/ended), level, region (GB/T 2260)."""
    args = {k: v.strip() for k, v in request.args.items() if v.strip() and k != "cursor"}
    errors: dict[str, str] = {}
    if args.get("status") and args["status"] not in STATUS_LABELS:
        errors["status"] = _("请选择生效中、未开始或已解除")
    if args.get("level") and args["level"] not in LEVELS:
        errors["level"] = _("请选择黄色、橙色或红色")
    if args.get("region_code") and validate_region_code(args["region_code"]):
        errors["region_code"] = _("请填写 6 位行政区划代码（GB/T 2260）")
    rows: list[Alert] = []
    next_cursor = None
    if not errors:
        now = utcnow()
        stmt = select(Alert)
        if args.get("status"):
            stmt = _status_filter(stmt, args["status"], now)
        if args.get("level"):
            stmt = stmt.where(Alert.level == args["level"])
        if args.get("region_code"):
            stmt = _region_filter(stmt, args["region_code"])
        try:
            with system_context("console: alert list (site alerts by region)"):
                rows, next_cursor = paginate(get_session(), stmt, Alert.created_at, Alert.id)
        except ApiError as exc:  # a bad cursor or limit
            errors.update(exc.details.get("fields", {}))
    now = utcnow()
    sites = _sites_by_id({a.site_id for a in rows if a.site_id})
    return render_template(
        "console/alerts.html",
        rows=[(a, status_of(a, now), sites.get(a.site_id) if a.site_id else None) for a in rows],
        args=args,
        errors=errors,
        next_cursor=next_cursor,
        feed=_feed_status(),
        **_nav_context(),
    ), (422 if errors else 200)


# --- issue --------------------------------------------------------------------------------------


def _site_choices() -> list[tuple[str, str]]:
    with system_context("console: sites to address an alert to"):
        rows = get_session().execute(
            select(Site.id, Site.name, Site.region_code, Tenant.name)
            .join(Tenant, Tenant.id == Site.tenant_id)
            .order_by(Tenant.name, Site.name)
            .limit(MAX_SITE_CHOICES)
        )
        return [(str(i), f"{tenant} · {name} · {region}") for i, name, region, tenant in rows]


def _site_exists(site_id: uuid.UUID) -> bool:
    with system_context("console: the site an alert names"):
        return get_session().get(Site, site_id) is not None


def _parse_issue_form(form: dict[str, str]) -> tuple[AlertCreate | None, dict[str, str]]:
    """The form → ``AlertCreate`` (the API's model), or errors named by field, Chinese first."""
    errors: dict[str, str] = {}
    raw: dict[str, Any] = {"level": form.get("level", ""), "notice": form.get("notice", "")}
    if raw["level"] not in LEVELS:
        errors["level"] = _("请选择黄色、橙色或红色")
    region, site = form.get("region_code", ""), form.get("site_id", "")
    if region and site:
        errors["region_code"] = _("行政区划代码与站点只能填一个")
    elif not region and not site:
        errors["region_code"] = _("请填写行政区划代码或选择一个站点")
    elif region:
        problems = validate_region_code(region)
        if "bad_province" in problems:
            errors["region_code"] = _("行政区划代码的省级部分（前两位）不存在")
        elif problems:
            errors["region_code"] = _("请填写 6 位行政区划代码（GB/T 2260）")
        raw["region_code"] = region
    else:
        try:
            site_id = uuid.UUID(site)
        except ValueError:
            site_id = None
        if site_id is None or not _site_exists(site_id):
            errors["site_id"] = _("站点不存在")
        raw["site_id"] = site
    for name in ("starts_at", "ends_at"):
        if not form.get(name):
            if name == "starts_at":
                errors[name] = _("请填写开始时间")
            continue
        try:
            raw[name] = local_to_aware(form[name])  # Beijing wall time from the form
        except ValueError:
            errors[name] = _("时间格式无效")
    if (
        "starts_at" in raw
        and "ends_at" in raw
        and (datetime.fromisoformat(raw["ends_at"]) <= datetime.fromisoformat(raw["starts_at"]))
    ):
        errors["ends_at"] = _("结束时间须晚于开始时间")
    if len(raw["notice"]) > MAX_NOTICE:
        errors["notice"] = _("公告内容不超过 4000 字")
    if errors:
        return None, errors
    try:
        return AlertCreate.model_validate(raw), {}
    except ValidationError as exc:
        return None, error_fields(exc)


def _issue_page(form: dict[str, str], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    return render_template(
        "console/alerts_form.html",
        form=form,
        errors=errors,
        site_choices=_site_choices(),
        **_nav_context(),
    ), status


@bp.route("/alerts/new", methods=["GET", "POST"])
@require(Permission.ALERT_MANAGE)
def alert_new() -> Any:
    if request.method == "GET":
        return _issue_page({}, {})
    principal = check_permission(Permission.ALERT_MANAGE)
    form = {k: v.strip() for k, v in request.form.items() if k != "csrf_token"}
    body, errors = _parse_issue_form(form)
    if body is None:
        return _issue_page(form, errors, 422)
    try:
        alert, told = issue_alert(body, principal)
    except alerts.AlertError as exc:
        return _issue_page(form, exc.fields, 422)
    flash(_("预警已发布，已通知 %(n)d 个站点", n=told))
    return redirect(url_for("console.alert_detail", alert_id=alert.id))


# --- one alert ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoveredSite:
    site: Site
    tenant: str
    bridges: int
    online: int


def _alert_or_404(alert_id: uuid.UUID) -> Alert:
    with system_context("console: one alert"):
        alert = get_session().get(Alert, alert_id)
    if alert is None:
        raise ApiError(404, "not_found", _("预警不存在"))
    return alert


def _covered(alert: Alert) -> tuple[list[CoveredSite], int]:
    session = get_session()
    sites = alerts.covered_sites(session, alert)
    total = len(sites)
    sites = sites[:MAX_COVERED_SHOWN]
    ids = [s.id for s in sites]
    with system_context("console: tenants and bridges of covered sites"):
        tenants = dict(
            session.execute(
                select(Tenant.id, Tenant.name).where(Tenant.id.in_({s.tenant_id for s in sites}))
            ).all()
        )
        devices = session.execute(
            select(EdgeDevice.id, EdgeDevice.site_id).where(
                EdgeDevice.site_id.in_(ids), EdgeDevice.status == "active"
            )
        ).all()
    live = bus.presence(current_app.extensions["cleangate.redis"], [d for d, _ in devices])
    count: dict[uuid.UUID, list[int]] = {i: [0, 0] for i in ids}
    for device_id, site_id in devices:
        count[site_id][0] += 1
        if live.get(str(device_id), {}).get("online"):
            count[site_id][1] += 1
    rows = [
        CoveredSite(s, tenants.get(s.tenant_id, ""), count[s.id][0], count[s.id][1])
        for s in sorted(sites, key=lambda s: (tenants.get(s.tenant_id, ""), s.name))
    ]
    return rows, total


def _audit_trail(alert: Alert) -> list[AuditEvent]:
    with system_context("console: an alert's audit trail"):
        return list(
            get_session().scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.tenant_id.is_(None),
                    AuditEvent.event.in_(tuple(EVENT_LABELS)),
                    AuditEvent.details["alert_id"].as_string() == str(alert.id),
                )
                .order_by(AuditEvent.id)
            )
        )


def _creator(alert: Alert) -> str | None:
    if alert.created_by is None:
        return None
    with system_context("console: who issued an alert"):
        user = get_session().get(User, alert.created_by)
        return user.display_name if user else None


@bp.get("/alerts/<uuid:alert_id>")
@require(Permission.ALERT_MANAGE)
def alert_detail(alert_id: uuid.UUID) -> str:
    alert = _alert_or_404(alert_id)
    covered, total = _covered(alert)
    site = _sites_by_id({alert.site_id}).get(alert.site_id) if alert.site_id else None
    return render_template(
        "console/alerts_detail.html",
        alert=alert,
        status=status_of(alert, utcnow()),
        site=site,
        creator=_creator(alert),
        covered=covered,
        covered_total=total,
        trail=_audit_trail(alert),
        event_labels=EVENT_LABELS,
        **_nav_context(),
    )


@bp.route("/alerts/<uuid:alert_id>/end", methods=["GET", "POST"])
@require(Permission.ALERT_MANAGE)
def alert_end(alert_id: uuid.UUID) -> Any:
    """GET asks for confirmation; POST ends the alert now (409 when it is already over)."""
    alert = _alert_or_404(alert_id)
    status = status_of(alert, utcnow())
    error = _("预警已解除") if status == "ended" else None
    if request.method == "POST" and error is None:
        principal = check_permission(Permission.ALERT_MANAGE)
        session = get_session()
        alerts.end(session, alert, actor_id=principal.user_id, actor_label=principal.username)
        session.commit()
        told = alerts.notify(session, current_app.extensions["cleangate.redis"], alert)
        flash(_("预警已解除，已通知 %(n)d 个站点", n=told))
        return redirect(url_for("console.alert_detail", alert_id=alert.id))
    site = _sites_by_id({alert.site_id}).get(alert.site_id) if alert.site_id else None
    return render_template(
        "console/alerts_end.html",
        alert=alert,
        status=status,
        site=site,
        covered_total=len(alerts.covered_sites(get_session(), alert)),
        error=error,
        **_nav_context(),
    ), (409 if error else 200)


# --- import -------------------------------------------------------------------------------------


def _import_page(
    *,
    payload: str = "",
    errors: dict[str, str] | None = None,
    record_errors: list[dict[str, str]] | None = None,
    result: dict[str, Any] | None = None,
    status: int = 200,
) -> tuple[str, int]:
    return render_template(
        "console/alerts_import.html",
        payload=payload,
        errors=errors or {},
        record_errors=record_errors or [],
        result=result,
        feed=_feed_status(),
        **_nav_context(),
    ), status


@bp.route("/alerts/import", methods=["GET", "POST"])
@require(Permission.ALERT_MANAGE)
def alert_import() -> Any:
    """Paste a findControlMeasuresInfo answer; all records or none (saas.policy.alerts)."""
    if request.method == "GET":
        return _import_page()
    principal = check_permission(Permission.ALERT_MANAGE)
    text = request.form.get("payload", "").strip()
    if not text:
        return _import_page(errors={"payload": _("请粘贴监管平台返回的 JSON")}, status=422)
    if len(text) > MAX_IMPORT_CHARS:
        return _import_page(errors={"payload": _("内容过大（不超过 5 MB）")}, status=422)
    try:
        payload = json.loads(text)
    except ValueError as exc:
        line, col = getattr(exc, "lineno", 0), getattr(exc, "colno", 0)
        message = _("不是有效的 JSON（第 %(line)d 行第 %(col)d 列）", line=line, col=col)
        return _import_page(payload=text, errors={"payload": message}, status=422)
    session = get_session()
    try:
        result, touched = alerts.import_feed(
            session, payload, actor_id=principal.user_id, actor_label=principal.username
        )
    except alerts.AlertError as exc:
        session.rollback()
        errors = {
            "payload": _("返回内容的 code 不是 200")
            if "code" in exc.fields
            else _("缺少记录列表 data")
        }
        return _import_page(payload=text, errors=errors, status=422)
    if result.errors:
        session.rollback()
        return _import_page(
            payload=text,
            errors={"payload": _("导入数据有误，未写入任何记录")},
            record_errors=result.errors,
            status=422,
        )
    session.commit()
    redis_client = current_app.extensions["cleangate.redis"]
    told = sum(alerts.notify(session, redis_client, alert) for alert in touched)
    outcome = result.as_dict() | {"notified": told}
    return _import_page(result=outcome)
