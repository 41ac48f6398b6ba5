"""A site's regulator platforms: configurations (secrets write-only), the connection test, the
upload records with the platform's answer (平台信息), 补传 and the report rate
(docs/regulator.md, "Configuration and screens"). Thin routes over ``saas.regulator.configs``,
``relay.resend`` and ``report_rate.report_rates``; another tenant's site or configuration
answers 404."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from flask import current_app, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from saas.api import items, registry
from saas.api.pagination import QUERY_PARAMETERS, paginate
from saas.auth.permissions import Permission
from saas.auth.principal import check_permission, current_principal
from saas.db import get_session
from saas.errors import ApiError, validation_error
from saas.models.identity import Role
from saas.models.regulator import UPLOAD_KINDS, UPLOAD_STATUSES, RegulatorUpload
from saas.models.tenancy import Site
from saas.regulator import configs, relay, report_rate
from saas.regulator.configs import (
    ConfigCreate,
    ConfigOut,
    ConfigPatch,
    ConnectionTestOut,
    UploadOut,
)
from saas.regulator.outbox import BEIJING_OFFSET
from saas.sites import get_site


class ConfigList(BaseModel):
    items: list[ConfigOut]


class UploadPage(BaseModel):
    items: list[UploadOut]
    next_cursor: str | None


class ResendIn(BaseModel):
    """补传: the records named by ``ids``, or every record of ``status`` (captured since
    ``since``) at the site."""

    model_config = ConfigDict(extra="forbid")

    ids: Annotated[list[uuid.UUID] | None, Field(max_length=1000)] = None
    status: Annotated[list[Literal["rejected", "dead", "accepted"]], Field(min_length=1)] = [
        "rejected",
        "dead",
    ]
    since: datetime | None = None


class ResendOut(BaseModel):
    count: int


class RateOut(BaseModel):
    config_id: uuid.UUID
    period: str
    gate_code: str
    lane_code: str
    captured: int
    on_time: int
    rate: str | None
    alarm: bool


class RateList(BaseModel):
    period: Literal["day", "month"]
    start: date
    end: date
    alarm_below: str
    items: list[RateOut]


def _actor() -> uuid.UUID | None:
    principal = current_principal()
    return principal.user_id if principal is not None else None


def check_skip_test(skip: bool) -> None:
    """Saving without the connection test is for tenant admins only (docs/regulator.md)."""
    principal = current_principal()
    if skip and (principal is None or principal.role != Role.TENANT_ADMIN.value):
        raise ApiError(403, "forbidden", "只有企业管理员可以跳过连接测试")


def beijing_today() -> date:
    return (datetime.now(UTC) + BEIJING_OFFSET).date()


def rate_window(
    period: str | None, start: str | None, end: str | None
) -> tuple[Literal["day", "month"], date, date]:
    """Parse ``period``/``from``/``to`` (Beijing dates); 422 naming the parameter."""
    chosen = period or "day"
    if chosen not in ("day", "month"):
        raise validation_error({"period": "应为 day 或 month"}, "查询参数有误")
    fields: dict[str, str] = {}
    parsed: dict[str, date] = {}
    for name, value in (("from", start), ("to", end)):
        if value:
            try:
                parsed[name] = date.fromisoformat(value)
            except ValueError:
                fields[name] = "应为日期 YYYY-MM-DD"
    if fields:
        raise validation_error(fields, "查询参数有误")
    last = parsed.get("to") or beijing_today()
    if "from" in parsed:
        first = parsed["from"]
    elif chosen == "day":
        first = last - timedelta(days=6)
    else:
        first = last.replace(day=1)
    if last < first:
        raise validation_error({"to": "不能早于 from"}, "查询参数有误")
    if (last - first).days > 400:
        raise validation_error({"to": "一次至多查询 400 天"}, "查询参数有误")
    return chosen, first, last  # type: ignore[return-value]


def rates(
    session: Session,
    site: Site,
    period: Literal["day", "month"],
    first: date,
    last: date,
) -> dict[str, object]:
    rows = report_rate.report_rates(session, site.id, first, last, period=period)
    return {
        "period": period,
        "start": first.isoformat(),
        "end": last.isoformat(),
        "alarm_below": str(report_rate.ALARM_BELOW),
        "items": [r.as_dict() for r in rows],
    }


@registry.route(
    "/sites/<uuid:site_id>/regulator-configs",
    "GET",
    summary="站点的监管平台配置（不返回任何密钥）",
    tags=["regulator"],
    permission=Permission.SITE_READ,
    response=ConfigList,
)
def list_regulator_configs(site_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    return {"items": [configs.config_out(c, app) for c in configs.list_configs(session, site)]}


@registry.route(
    "/sites/<uuid:site_id>/regulator-configs",
    "POST",
    summary="新增监管平台配置（先测试连接，失败则不保存；密钥加密存储、不再显示）",
    tags=["regulator"],
    permission=Permission.SITE_WRITE,
    body=ConfigCreate,
    response=ConfigOut,
    status=201,
)
def create_regulator_config(site_id: uuid.UUID, body: ConfigCreate) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    check_skip_test(body.skip_test)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    config = configs.create_config(session, site, body, app=app, actor_id=_actor())
    return configs.config_out(config, app), 201


@registry.route(
    "/sites/<uuid:site_id>/regulator-configs/<uuid:config_id>",
    "GET",
    summary="一个监管平台配置（不返回任何密钥）",
    tags=["regulator"],
    permission=Permission.SITE_READ,
    response=ConfigOut,
)
def get_regulator_config(site_id: uuid.UUID, config_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    config = configs.get_config(session, get_site(session, site_id), config_id)
    return configs.config_out(config, current_app._get_current_object())  # type: ignore[attr-defined]


@registry.route(
    "/sites/<uuid:site_id>/regulator-configs/<uuid:config_id>",
    "PATCH",
    summary="修改监管平台配置（只改所给字段；密钥留空则保留原值；改连接参数会重新测试）",
    tags=["regulator"],
    permission=Permission.SITE_WRITE,
    body=ConfigPatch,
    response=ConfigOut,
)
def patch_regulator_config(
    site_id: uuid.UUID, config_id: uuid.UUID, body: ConfigPatch
) -> ResponseReturnValue:
    session = get_session()
    config = configs.get_config(session, get_site(session, site_id), config_id)
    check_skip_test(body.skip_test)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    config = configs.update_config(session, config, body, app=app, actor_id=_actor())
    return configs.config_out(config, app)


@registry.route(
    "/sites/<uuid:site_id>/regulator-configs/<uuid:config_id>/test",
    "POST",
    summary="测试与监管平台的连接（取令牌并发送签名的空请求；结果记入配置）",
    tags=["regulator"],
    permission=Permission.SITE_WRITE,
    response=ConnectionTestOut,
)
def test_regulator_config(site_id: uuid.UUID, config_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    config = configs.get_config(session, get_site(session, site_id), config_id)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    result = configs.run_connection_test(session, config, app=app, actor_id=_actor())
    return ConnectionTestOut(
        ok=result.ok,
        field=result.field,
        message=result.message,
        tested_at=config.last_test_at or datetime.now(UTC),
    ).model_dump(mode="json")


@registry.route(
    "/sites/<uuid:site_id>/regulator-uploads",
    "GET",
    summary="监管平台上报记录（状态、平台信息 platform_message）",
    tags=["regulator"],
    permission=Permission.SITE_READ,
    response=UploadPage,
    query=[
        *QUERY_PARAMETERS,
        {
            "name": "status",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": list(UPLOAD_STATUSES)},
        },
        {
            "name": "kind",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": list(UPLOAD_KINDS)},
        },
    ],
)
def list_regulator_uploads(site_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    stmt = configs.uploads_query(
        site, status=request.args.get("status"), kind=request.args.get("kind")
    )
    rows, cursor = paginate(session, stmt, RegulatorUpload.created_at, RegulatorUpload.id)
    return items([configs.upload_out(r) for r in rows], cursor)


@registry.route(
    "/sites/<uuid:site_id>/regulator-uploads/resend",
    "POST",
    summary="补传：按 ids 或按状态（默认 rejected、dead）重新上报",
    tags=["regulator"],
    permission=Permission.SITE_WRITE,
    body=ResendIn,
    response=ResendOut,
)
def resend_regulator_uploads(site_id: uuid.UUID, body: ResendIn) -> ResponseReturnValue:
    principal = check_permission(Permission.SITE_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    if body.since is not None and body.since.tzinfo is None:
        raise validation_error({"since": "需要带时区的时间"})
    try:
        count = relay.resend(
            session,
            body.ids,
            site_id=site.id,
            status=tuple(body.status),
            since=body.since,
            actor_id=principal.user_id,
        )
    except ValueError as exc:
        field, _sep, reason = str(exc).partition(": ")
        raise validation_error({field or "body": reason or str(exc)}) from None
    session.commit()
    return {"count": count}


@registry.route(
    "/sites/<uuid:site_id>/report-rate",
    "GET",
    summary="上报率（每个出入口/道闸，按北京时间日或月；低于 99% 告警）",
    tags=["regulator"],
    permission=Permission.SITE_READ,
    response=RateList,
    query=[
        {
            "name": "period",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": ["day", "month"], "default": "day"},
        },
        {"name": "from", "in": "query", "required": False, "schema": {"type": "string"}},
        {"name": "to", "in": "query", "required": False, "schema": {"type": "string"}},
    ],
)
def get_report_rate(site_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    period, first, last = rate_window(
        request.args.get("period"), request.args.get("from"), request.args.get("to")
    )
    return rates(session, site, period, first, last)
