"""The emergency execution record of a site's alert episodes: list, record, measure check-offs
and the xlsx/PDF files for inspectors (docs/emergency-record.md)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from flask import Response, request, url_for
from flask.typing import ResponseReturnValue
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from saas.api import registry
from saas.auth.permissions import Permission
from saas.auth.principal import check_permission
from saas.db import get_session, utcnow
from saas.errors import validation_error
from saas.models.plans import MeasureCheck
from saas.models.tenancy import Site
from saas.policy import execution
from saas.sites import get_site

DEFAULT_BACK = timedelta(days=90)
DEFAULT_AHEAD = timedelta(hours=72)  # alerts are issued ahead (saas/policy/alerts.py)
MAX_WINDOW = timedelta(days=400)


class MeasureCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    level: Annotated[str, Field(min_length=1, max_length=10)]
    measure_index: Annotated[int, Field(ge=0, le=999, description="0-based, in the plan's list")]
    done_at: AwareDatetime
    note: Annotated[str, Field(max_length=execution.MAX_NOTE)] = ""
    checked_by_name: Annotated[
        str | None, Field(min_length=1, max_length=execution.MAX_NAME, description="默认为当前用户")
    ] = None


class SegmentOut(BaseModel):
    level: str
    level_zh: str
    response: str
    starts_at: datetime
    ends_at: datetime | None


class EpisodeOut(BaseModel):
    key: str  # the episode start, used in URLs
    starts_at: datetime
    ends_at: datetime | None
    ongoing: bool
    level: str
    level_zh: str
    response: str
    segments: list[SegmentOut]
    record_url: str


class EpisodeList(BaseModel):
    since: datetime
    until: datetime
    items: list[EpisodeOut]


class CountOut(BaseModel):
    direction: str
    stage: str | None
    stage_zh: str
    fuel: str | None
    fuel_zh: str
    admitted: int
    released: int
    refused: int
    review: int
    total: int


class VehiclesOut(BaseModel):
    rows: list[CountOut]
    entries: CountOut
    exits: CountOut


class ReleaseOut(BaseModel):
    event_id: uuid.UUID
    passage_event_id: uuid.UUID | None
    source: str
    plate: str
    plate_color: str | None
    direction: str | None
    captured_at: datetime | None
    released_at: datetime
    operator: str
    reason: str
    stage: str | None
    fuel: str | None
    automatic_verdict: str | None
    reasons: list[str]
    decision_text: str
    alert_level: str | None
    violation: bool


class CheckOut(BaseModel):
    id: uuid.UUID
    plan_id: uuid.UUID | None
    level: str
    measure_index: int
    measure_text: str
    done_at: datetime
    checked_by_name: str
    note: str
    created_at: datetime


class MeasureOut(BaseModel):
    level: str
    index: int
    text: str
    after_hours: int | None
    due_at: datetime | None
    checked: bool
    check: CheckOut | None


class SiteSummary(BaseModel):
    id: uuid.UUID
    name: str
    enterprise: str
    uscc: str
    region_code: str
    industry: str
    rating: str


class PlanSummary(BaseModel):
    id: uuid.UUID | None
    version: int | None
    template: str
    responsible_name: str
    responsible_phone: str


class RecordOut(BaseModel):
    site: SiteSummary
    episode: EpisodeOut
    plan: PlanSummary
    vehicles: VehiclesOut
    manual_releases: list[ReleaseOut]
    violations: int
    measures: list[MeasureOut]
    generated_at: datetime
    counted_until: datetime
    downloads: dict[str, str]


# --- views of the service's objects ----------------------------------------------------------


def episode_out(site_id: uuid.UUID, ep: execution.Episode, now: datetime) -> EpisodeOut:
    return EpisodeOut(
        key=ep.key,
        starts_at=ep.starts_at,
        ends_at=ep.ends_at,
        ongoing=ep.ongoing(now),
        level=ep.level,
        level_zh=ep.level_zh,
        response=ep.response,
        segments=[
            SegmentOut(
                level=s.level,
                level_zh=s.level_zh,
                response=s.response,
                starts_at=s.starts_at,
                ends_at=s.ends_at,
            )
            for s in ep.segments
        ],
        record_url=url_for("api.get_alert_episode", site_id=site_id, episode_start=ep.key),
    )


def _count(row: execution.VehicleCount) -> CountOut:
    return CountOut(
        direction=row.direction,
        stage=row.stage,
        stage_zh=row.stage_zh,
        fuel=row.fuel,
        fuel_zh=row.fuel_zh,
        admitted=row.admitted,
        released=row.released,
        refused=row.refused,
        review=row.review,
        total=row.total,
    )


def check_out(check: MeasureCheck) -> CheckOut:
    return CheckOut(
        id=check.id,
        plan_id=check.plan_id,
        level=check.level,
        measure_index=check.measure_index,
        measure_text=check.measure_text,
        done_at=check.done_at,
        checked_by_name=check.checked_by_name,
        note=check.note,
        created_at=check.created_at,
    )


def record_out(rec: execution.ExecutionRecord) -> dict[str, Any]:
    site = rec.site
    key = rec.episode.key
    return RecordOut(
        site=SiteSummary(
            id=site.id,
            name=site.name,
            enterprise=rec.enterprise,
            uscc=site.uscc,
            region_code=site.region_code,
            industry=site.industry,
            rating=site.rating,
        ),
        episode=episode_out(site.id, rec.episode, rec.generated_at),
        plan=PlanSummary(
            id=rec.plan_id,
            version=rec.plan_version,
            template=rec.plan_template,
            responsible_name=rec.responsible_name,
            responsible_phone=rec.responsible_phone,
        ),
        vehicles=VehiclesOut(
            rows=[_count(r) for r in rec.counts],
            entries=_count(rec.totals("in")),
            exits=_count(rec.totals("out")),
        ),
        manual_releases=[
            ReleaseOut(
                event_id=r.event_id,
                passage_event_id=r.passage_event_id,
                source=r.source,
                plate=r.plate,
                plate_color=r.plate_color,
                direction=r.direction,
                captured_at=r.captured_at,
                released_at=r.released_at,
                operator=r.operator,
                reason=r.reason,
                stage=r.stage,
                fuel=r.fuel,
                automatic_verdict=r.automatic_verdict,
                reasons=list(r.reasons),
                decision_text=r.decision_text,
                alert_level=r.alert_level,
                violation=r.violation,
            )
            for r in rec.releases
        ],
        violations=rec.violations,
        measures=[
            MeasureOut(
                level=m.level,
                index=m.index,
                text=m.text,
                after_hours=m.after_hours,
                due_at=m.due_at,
                checked=m.checked,
                check=check_out(m.check) if m.check is not None else None,
            )
            for m in rec.measures
        ],
        generated_at=rec.generated_at,
        counted_until=rec.window_end,
        downloads={
            fmt: url_for("api.export_alert_episode", site_id=site.id, episode_start=key, format=fmt)
            for fmt in execution.FORMATS
        },
    ).model_dump(mode="json")


# --- request helpers (shared with the portal) ------------------------------------------------


def parse_window(since_text: str | None, until_text: str | None) -> tuple[datetime, datetime]:
    """``from``/``to`` (ISO 8601 with offset); defaults: the last 90 days and the next 72 h."""
    fields: dict[str, str] = {}
    parsed: dict[str, datetime | None] = {}
    for name, text in (("from", since_text), ("to", until_text)):
        parsed[name] = None
        if text:
            try:
                moment = datetime.fromisoformat(text.strip())
            except ValueError:
                fields[name] = "ISO 8601 时间，带时区"
                continue
            if moment.tzinfo is None:
                fields[name] = "ISO 8601 时间，带时区"
                continue
            parsed[name] = moment
    if fields:
        raise validation_error(fields, "时间范围有误")
    until = parsed["to"] or utcnow() + DEFAULT_AHEAD
    since = parsed["from"] or until - DEFAULT_AHEAD - DEFAULT_BACK
    if since >= until:
        raise validation_error({"from": "须早于 to"}, "时间范围有误")
    if until - since > MAX_WINDOW:
        raise validation_error({"from": "时间范围不能超过 400 天"}, "时间范围有误")
    return since, until


def episode_of(site: Site, episode_start: str) -> execution.Episode:
    """The site's episode named in the URL: 422 for a malformed start, 404 for none."""
    try:
        start = execution.parse_episode_key(episode_start)
    except ValueError:
        raise validation_error(
            {"episode_start": "预警过程开始时间，ISO 8601 带时区，如 2025-01-10T00:00:00Z"}
        ) from None
    return execution.find_episode(get_session(), site, start)


def file_response(rec: execution.ExecutionRecord, file_format: str | None) -> Response:
    fmt = (file_format or "xlsx").strip().lower()
    if fmt not in execution.FORMATS:
        raise validation_error({"format": "xlsx 或 pdf"})
    data = execution.render(rec, fmt)
    name = execution.download_name(rec, fmt)
    response = Response(data, mimetype=execution.CONTENT_TYPES[fmt])
    response.headers["Content-Disposition"] = (
        f'attachment; filename="emergency-record-{rec.episode.starts_at:%Y%m%d-%H%M}.{fmt}"; '
        f"filename*=UTF-8''{quote(name, safe='')}"  # RFC 6266 / 5987
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-SHA256"] = hashlib.sha256(data).hexdigest()
    return response


# --- routes ----------------------------------------------------------------------------------

_WINDOW_QUERY = [
    {
        "name": name,
        "in": "query",
        "required": False,
        "schema": {"type": "string", "format": "date-time"},
        "description": text,
    }
    for name, text in (
        ("from", "ISO 8601 with offset; default: to − 90 days − 72 h"),
        ("to", "ISO 8601 with offset; default: now + 72 h"),
    )
]


@registry.route(
    "/sites/<uuid:site_id>/alert-episodes",
    "GET",
    summary="站点的重污染天气预警过程（合并相邻预警，含级别变化）",
    tags=["execution"],
    permission=Permission.LEDGER_READ,
    response=EpisodeList,
    query=_WINDOW_QUERY,
)
def list_alert_episodes(site_id: uuid.UUID) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    since, until = parse_window(request.args.get("from"), request.args.get("to"))
    now = utcnow()
    found = execution.episodes(session, site, since, until)
    return EpisodeList(
        since=since,
        until=until,
        items=[episode_out(site.id, ep, now) for ep in reversed(found)],  # newest first
    ).model_dump(mode="json")


@registry.route(
    "/sites/<uuid:site_id>/alert-episodes/<episode_start>",
    "GET",
    summary="应急响应执行记录（车辆统计、人工放行、生产措施落实）",
    tags=["execution"],
    permission=Permission.LEDGER_READ,
    response=RecordOut,
)
def get_alert_episode(site_id: uuid.UUID, episode_start: str) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    episode = episode_of(site, episode_start)
    return record_out(execution.record(session, site, episode))


@registry.route(
    "/sites/<uuid:site_id>/alert-episodes/<episode_start>/measure-checks",
    "POST",
    summary="登记生产措施已落实（时间、确认人、备注）",
    tags=["execution"],
    permission=Permission.SITE_WRITE,
    body=MeasureCheckIn,
    response=CheckOut,
    status=201,
)
def create_measure_check(
    site_id: uuid.UUID, episode_start: str, body: MeasureCheckIn
) -> ResponseReturnValue:
    principal = check_permission(Permission.SITE_WRITE)
    session = get_session()
    site = get_site(session, site_id)
    episode = episode_of(site, episode_start)
    try:
        check = execution.check_measure(
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
    except Exception:
        session.rollback()
        raise
    session.commit()
    return check_out(check).model_dump(mode="json"), 201


@registry.route(
    "/sites/<uuid:site_id>/alert-episodes/<episode_start>/export",
    "GET",
    summary="下载应急响应执行记录（?format=xlsx|pdf）",
    tags=["execution"],
    permission=Permission.LEDGER_READ,
    query=[
        {
            "name": "format",
            "in": "query",
            "required": False,
            "schema": {"type": "string", "enum": list(execution.FORMATS), "default": "xlsx"},
        }
    ],
)
def export_alert_episode(site_id: uuid.UUID, episode_start: str) -> ResponseReturnValue:
    session = get_session()
    site = get_site(session, site_id)
    episode = episode_of(site, episode_start)
    fmt = request.args.get("format")
    if fmt is not None and fmt.strip().lower() not in execution.FORMATS:
        raise validation_error({"format": "xlsx 或 pdf"})
    return file_response(execution.record(session, site, episode), fmt)
