"""Heavy-pollution alerts: provider staff issue, end and import them; a tenant reads the alert in
force at its site (docs/alerts.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from flask import current_app, request
from flask.typing import ResponseReturnValue
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select

from saas.api import items, registry
from saas.api.pagination import QUERY_PARAMETERS, paginate
from saas.auth.permissions import Permission
from saas.auth.principal import Principal, check_permission
from saas.db import get_session, utcnow
from saas.errors import ApiError, NotFound, validation_error
from saas.models.alerts import Alert
from saas.policy import alerts
from saas.sites import get_site
from saas.tenancy import system_context


class AlertCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    level: Literal["yellow", "orange", "red"]
    region_code: Annotated[str | None, Field(pattern=r"^[0-9]{6}$")] = None
    site_id: uuid.UUID | None = None
    starts_at: AwareDatetime
    ends_at: AwareDatetime | None = None
    notice: Annotated[str, Field(max_length=4000)] = ""


class AlertOut(BaseModel):
    id: uuid.UUID
    level: str
    response: str
    region_code: str | None
    site_id: uuid.UUID | None
    starts_at: datetime
    ends_at: datetime | None
    notice: str
    measures: str
    source: str
    created_at: datetime


class AlertPage(BaseModel):
    items: list[AlertOut]
    next_cursor: str | None


class EffectiveOut(BaseModel):
    level: str
    response: str | None
    headline: str
    starts_at: datetime | None
    ends_at: datetime | None
    notice: str
    source: str | None


def alert_out(row: Alert) -> dict[str, Any]:
    return AlertOut(
        id=row.id,
        level=row.level,
        response=row.response,
        region_code=row.region_code,
        site_id=row.site_id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        notice=row.notice,
        measures=row.measures,
        source=row.source,
        created_at=row.created_at,
    ).model_dump(mode="json")


@registry.route(
    "/alerts",
    "POST",
    summary="发布重污染天气预警（服务商）",
    tags=["alerts"],
    permission=Permission.ALERT_MANAGE,
    body=AlertCreate,
    response=AlertOut,
    status=201,
)
def create_alert(body: AlertCreate) -> ResponseReturnValue:
    principal = check_permission(Permission.ALERT_MANAGE)
    try:
        alert, _ = issue_alert(body, principal)
    except alerts.AlertError as exc:
        raise validation_error(exc.fields) from None
    return alert_out(alert), 201


def issue_alert(body: AlertCreate, principal: Principal) -> tuple[Alert, int]:
    """Issue, commit, then tell the covered sites' hubs (the API and the console both use it).
    Returns the alert and the number of sites told; AlertError leaves nothing written."""
    session = get_session()
    try:
        alert = alerts.issue(
            session,
            level=body.level,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            region_code=body.region_code,
            site_id=body.site_id,
            notice=body.notice,
            actor_id=principal.user_id,
            actor_label=principal.username,
        )
    except alerts.AlertError:
        session.rollback()
        raise
    session.commit()
    return alert, alerts.notify(session, current_app.extensions["cleangate.redis"], alert)


@registry.route(
    "/alerts",
    "GET",
    summary="预警列表（服务商）",
    tags=["alerts"],
    permission=Permission.ALERT_MANAGE,
    response=AlertPage,
    query=QUERY_PARAMETERS,
)
def list_alerts() -> ResponseReturnValue:
    check_permission(Permission.ALERT_MANAGE)
    with system_context("provider alert list"):
        rows, cursor = paginate(get_session(), select(Alert), Alert.created_at, Alert.id)
    return items([alert_out(r) for r in rows], cursor)


@registry.route(
    "/alerts/<uuid:alert_id>/end",
    "POST",
    summary="解除预警，或调整解除时间（服务商；可选 JSON {ends_at}）",
    tags=["alerts"],
    permission=Permission.ALERT_MANAGE,
    response=AlertOut,
)
def end_alert(alert_id: uuid.UUID) -> ResponseReturnValue:
    principal = check_permission(Permission.ALERT_MANAGE)
    session = get_session()
    with system_context("provider ends an alert"):
        alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound("预警")
    if alert.ends_at is not None and alert.ends_at <= utcnow():
        raise ApiError(409, "alert_ended", "预警已解除")
    body = request.get_json(silent=True) or {}
    at = None
    if isinstance(body, dict) and body.get("ends_at") is not None:
        try:
            at = datetime.fromisoformat(str(body["ends_at"]))
        except ValueError:
            raise validation_error({"ends_at": "ISO 8601 time with offset"}) from None
        if at.tzinfo is None:
            raise validation_error({"ends_at": "ISO 8601 time with offset"})
        if at < alert.starts_at:
            raise validation_error({"ends_at": "不能早于预警开始时间"})
    alerts.end(session, alert, at=at, actor_id=principal.user_id, actor_label=principal.username)
    session.commit()
    alerts.notify(session, current_app.extensions["cleangate.redis"], alert)
    return alert_out(alert)


@registry.route(
    "/alerts/import/entrance-control",
    "POST",
    summary="导入监管平台管控措施（findControlMeasuresInfo 格式）",
    tags=["alerts"],
    permission=Permission.ALERT_MANAGE,
)
def import_alerts() -> ResponseReturnValue:
    principal = check_permission(Permission.ALERT_MANAGE)
    session = get_session()
    payload = request.get_json(silent=True)
    try:
        result, touched = alerts.import_feed(
            session, payload, actor_id=principal.user_id, actor_label=principal.username
        )
    except alerts.AlertError as exc:
        session.rollback()
        raise validation_error(exc.fields) from None
    if result.errors:
        session.rollback()
        raise ApiError(
            422, "validation_failed", "导入数据有误，未写入任何记录", {"records": result.errors}
        )
    session.commit()
    for alert in touched:
        alerts.notify(session, current_app.extensions["cleangate.redis"], alert)
    return result.as_dict()


@registry.route(
    "/sites/<uuid:site_id>/alert",
    "GET",
    summary="站点当前（或指定时刻）适用的预警",
    tags=["alerts"],
    permission=Permission.SITE_READ,
    response=EffectiveOut,
)
def site_alert(site_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)  # another tenant's site → 404
    at_text = request.args.get("at")
    try:
        at = datetime.fromisoformat(at_text) if at_text else utcnow()
    except ValueError:
        raise validation_error({"at": "ISO 8601 time with offset"}) from None
    if at.tzinfo is None:
        raise validation_error({"at": "ISO 8601 time with offset"})
    found = alerts.effective_alert(session, site, at)
    if found is None:
        return EffectiveOut(
            level="none",
            response=None,
            headline="当前无预警",
            starts_at=None,
            ends_at=None,
            notice="",
            source=None,
        ).model_dump(mode="json")
    return EffectiveOut(
        level=found.level,
        response=found.response,
        headline=found.headline,
        starts_at=found.starts_at,
        ends_at=found.ends_at,
        notice=found.notice,
        source=found.source,
    ).model_dump(mode="json")
