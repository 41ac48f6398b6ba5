"""Heavy-pollution alerts: which applies to a site at any moment, issuing and ending them, and
telling the edges (domain.md §2.1; docs/alerts.md).

Levels 黄/橙/红 ↔ response Ⅲ/Ⅱ/Ⅰ. A regional alert covers every site whose region code lies
beneath its code (province ``130000``, city ``130200``, district ``130203``); an alert from a
regulator feed may name one site; a site may add a voluntary stricter level. The effective
level is the highest of those in force.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from saas.auth import audit
from saas.compliance import validate_region_code
from saas.db import utcnow
from saas.edge_hub import bus
from saas.ledger.chain import iso
from saas.models.alerts import LEVEL_ZH, LEVELS, RESPONSE, Alert, SiteAlert
from saas.models.tenancy import Site
from saas.notify.alerts import queue_alert_notices
from saas.tenancy import system_context

RANK = {"none": 0, "yellow": 1, "orange": 2, "red": 3}
SNAPSHOT_HORIZON = timedelta(hours=72)  # alerts are issued ≥ 24 h ahead (domain.md §2.1)


class AlertError(ValueError):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class Effective:
    level: str  # yellow | orange | red
    starts_at: datetime
    ends_at: datetime | None
    notice: str
    source: str  # regional | site_feed | voluntary
    alert_id: uuid.UUID

    @property
    def response(self) -> str:
        return RESPONSE[self.level]

    @property
    def headline(self) -> str:
        """``当前重污染天气橙色预警，执行II级应急响应措施`` (seed 001)."""
        return f"当前重污染天气{LEVEL_ZH[self.level]}预警，执行{self.response}级应急响应措施"


def _prefix_filter(region_code: str) -> Any:
    """Alerts whose region covers ``region_code``: its province, its city or the district
    itself (GB/T 2260: trailing ``00`` pairs widen the code)."""
    return Alert.region_code.in_([region_code[:2] + "0000", region_code[:4] + "00", region_code])


def windows(session: Session, site: Site, start: datetime, end: datetime) -> list[Effective]:
    """Every alert of the site overlapping ``[start, end)``, in no particular order."""
    active = [Alert.cancelled_at.is_(None), Alert.starts_at < end]
    with system_context("alerts covering a site"):
        alerts = session.scalars(
            select(Alert).where(
                or_(_prefix_filter(site.region_code), Alert.site_id == site.id),
                or_(Alert.ends_at.is_(None), Alert.ends_at > start),
                *active,
            )
        ).all()
    found = [
        Effective(
            a.level,
            a.starts_at,
            a.ends_at,
            a.notice or a.measures,
            "site_feed" if a.site_id else "regional",
            a.id,
        )
        for a in alerts
    ]
    voluntary = session.scalars(
        select(SiteAlert).where(
            SiteAlert.site_id == site.id,
            SiteAlert.cancelled_at.is_(None),
            SiteAlert.starts_at < end,
            or_(SiteAlert.ends_at.is_(None), SiteAlert.ends_at > start),
        )
    ).all()
    found += [
        Effective(v.level, v.starts_at, v.ends_at, v.reason, "voluntary", v.id) for v in voluntary
    ]
    return found


def effective_alert(session: Session, site: Site, at: datetime) -> Effective | None:
    """The alert in force at ``at`` (past moments included), the highest level winning; None
    on an ordinary day."""
    covering = [
        w
        for w in windows(session, site, at, at + timedelta(microseconds=1))
        if w.starts_at <= at and (w.ends_at is None or at < w.ends_at)
    ]
    return max(covering, key=lambda w: (RANK[w.level], w.starts_at), default=None)


def snapshot_section(session: Session, site: Site, now: datetime) -> dict[str, Any]:
    """The snapshot's ``alert``: the level now plus every window of the next 72 h, so the edge
    switches on time even offline (saas/compliance/snapshot.py)."""
    current = effective_alert(session, site, now)
    upcoming = sorted(
        windows(session, site, now, now + SNAPSHOT_HORIZON), key=lambda w: w.starts_at
    )
    return {
        "level": current.level if current else "none",
        "since": iso(current.starts_at) if current else None,
        "id": str(current.alert_id) if current else None,
        "windows": [
            {
                "level": w.level,
                "starts_at": iso(w.starts_at),
                "ends_at": iso(w.ends_at) if w.ends_at else None,
                "id": str(w.alert_id),
            }
            for w in upcoming
        ],
    }


# --- issuing and ending ----------------------------------------------------------------------


def check(
    level: str, starts_at: datetime, ends_at: datetime | None, region_code: str | None
) -> None:
    errors: dict[str, str] = {}
    if level not in LEVELS:
        errors["level"] = f"one of {', '.join(LEVELS)}"
    if starts_at.tzinfo is None:
        errors["starts_at"] = "needs a time zone"
    if ends_at is not None and (ends_at.tzinfo is None or ends_at <= starts_at):
        errors["ends_at"] = "after starts_at, with a time zone"
    if region_code is not None and validate_region_code(region_code):
        errors["region_code"] = "a 6-digit GB/T 2260 code (province, city or district)"
    if errors:
        raise AlertError(errors)


def covered_sites(session: Session, alert: Alert) -> list[Site]:
    with system_context("sites an alert covers"):
        if alert.site_id is not None:
            site = session.get(Site, alert.site_id)
            return [site] if site else []
        code = alert.region_code or ""
        if code[2:] == "0000":
            where = Site.region_code.like(code[:2] + "%")
        elif code[4:] == "00":
            where = Site.region_code.like(code[:4] + "%")
        else:
            where = Site.region_code == code
        return list(session.scalars(select(Site).where(where)))


def issue(
    session: Session,
    *,
    level: str,
    starts_at: datetime,
    ends_at: datetime | None = None,
    region_code: str | None = None,
    site_id: uuid.UUID | None = None,
    notice: str = "",
    measures: str = "",
    source: str = "console",
    external_id: str | None = None,
    actor_id: uuid.UUID | None = None,
    actor_label: str = "",
) -> Alert:
    """Record an alert (flush; the caller commits, then calls ``notify``)."""
    check(level, starts_at, ends_at, region_code)
    if (region_code is None) == (site_id is None):
        raise AlertError({"region_code": "either a region code or one site"})
    alert = Alert(
        level=level,
        starts_at=starts_at,
        ends_at=ends_at,
        region_code=region_code,
        site_id=site_id,
        notice=notice,
        measures=measures,
        source=source,
        external_id=external_id,
        created_by=actor_id,
    )
    with system_context("issue alert"):
        session.add(alert)
        session.flush()
        audit.record(
            session,
            "alert.issue",
            tenant_id=None,
            actor_user_id=actor_id,
            actor_label=actor_label,
            details={
                "alert_id": str(alert.id),
                "level": level,
                "region_code": region_code,
                "site_id": str(site_id) if site_id else None,
                "starts_at": iso(starts_at),
                "ends_at": iso(ends_at) if ends_at else None,
                "source": source,
            },
        )
        session.flush()
        # Each covered site's contacts, in this transaction (outbox; docs/notifications.md).
        headline = Effective(level, starts_at, ends_at, "", "regional", alert.id).headline
        for site in covered_sites(session, alert):
            queue_alert_notices(
                session,
                site,
                event="started",
                alert_id=alert.id,
                level=level,
                headline=headline,
                starts_at=starts_at,
                ends_at=ends_at,
            )
    return alert


def end(
    session: Session,
    alert: Alert,
    *,
    at: datetime | None = None,
    actor_id: uuid.UUID | None = None,
    actor_label: str = "",
) -> Alert:
    """End an alert now (or at ``at``); the row stays for the record (flush, no commit)."""
    at = at or utcnow()
    with system_context("end alert"):
        alert.ends_at = max(at, alert.starts_at)
        audit.record(
            session,
            "alert.end",
            tenant_id=None,
            actor_user_id=actor_id,
            actor_label=actor_label,
            details={"alert_id": str(alert.id), "ends_at": iso(alert.ends_at)},
        )
        session.flush()
        # Over now → "ended"; an end announced for later → "changed" (docs/notifications.md).
        event = "ended" if alert.ends_at <= utcnow() else "changed"
        headline = Effective(
            alert.level, alert.starts_at, alert.ends_at, "", "regional", alert.id
        ).headline
        for site in covered_sites(session, alert):
            queue_alert_notices(
                session,
                site,
                event=event,
                alert_id=alert.id,
                level=alert.level,
                headline=headline,
                starts_at=alert.starts_at,
                ends_at=alert.ends_at,
            )
    return alert


def notify(session: Session, client: redis.Redis, alert: Alert) -> int:
    """After COMMIT: every covered site's edges get the new snapshot (push within seconds)."""
    sites = covered_sites(session, alert)
    for site in sites:
        bus.notify_site_changed(client, site.tenant_id, site.id, "alert")
    return len(sites)


# --- regulator feed: the showdoc "entranceControl" findControlMeasuresInfo shape ------------

FEED_SOURCE = "import:entrance_control"
_FEED_TIME = "%Y-%m-%d %H:%M:%S"  # Beijing wall time


@dataclass
class FeedResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    unmatched: list[str] | None = None  # entNo values no site carries
    errors: list[dict[str, str]] | None = None  # {index, field, message}

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "unmatched": self.unmatched or [],
            "errors": self.errors or [],
        }


def _feed_time(value: object) -> datetime | None:
    from zoneinfo import ZoneInfo

    if value in (None, ""):
        return None
    parsed = datetime.strptime(str(value), _FEED_TIME)  # ValueError for junk
    return parsed.replace(tzinfo=ZoneInfo("Asia/Shanghai")).astimezone(UTC)


def import_feed(
    session: Session, payload: Any, *, actor_id: uuid.UUID | None = None, actor_label: str = ""
) -> tuple[FeedResult, list[Alert]]:
    """Import ``{code: 200, msg, data: [{id, entNo, entName, startTime, endTime,
    warningLevel, respondLevel, controlMeasures}]}`` (domain.md §1.8). ``entNo`` is matched
    against the sites' 统一社会信用代码 or 排污许可证编号; each record becomes an alert for
    each matching site, idempotent on the feed's id (a later import that adds the end time
    ends it). Validation first: any bad record → nothing written, every error listed.
    Flushes; the caller commits and then ``notify``s the returned alerts."""
    from saas.compliance import AlertLevel

    if not isinstance(payload, dict) or payload.get("code") != 200:
        raise AlertError({"code": "the feed did not answer code 200"})
    records = payload.get("data")
    if not isinstance(records, list):
        raise AlertError({"data": "a list of records is required"})
    parsed: list[tuple[dict[str, Any], str, datetime, datetime | None]] = []
    errors: list[dict[str, str]] = []
    for index, record in enumerate(records):
        where = str(index)
        if (
            not isinstance(record, dict)
            or record.get("id") in (None, "")
            or not str(record.get("entNo") or "").strip()
        ):
            errors.append({"index": where, "field": "id/entNo", "message": "required"})
            continue
        level = AlertLevel.parse(str(record.get("warningLevel") or "")) or AlertLevel.parse(
            str(record.get("respondLevel") or "")
        )
        if level is None or level is AlertLevel.NONE:
            errors.append(
                {"index": where, "field": "warningLevel", "message": "黄色/橙色/红色 required"}
            )
            continue
        try:
            starts = _feed_time(record.get("startTime"))
            ends = _feed_time(record.get("endTime"))
        except ValueError:
            errors.append(
                {"index": where, "field": "startTime/endTime", "message": "yyyy-MM-dd HH:mm:ss"}
            )
            continue
        if starts is None or (ends is not None and ends <= starts):
            errors.append({"index": where, "field": "startTime", "message": "before endTime"})
            continue
        parsed.append((record, level.value, starts, ends))
    if errors:
        return FeedResult(errors=errors), []
    result, touched = FeedResult(unmatched=[]), []
    for record, level, starts, ends in parsed:
        ent_no = str(record["entNo"]).strip()
        with system_context("feed: sites by enterprise number"):
            sites = list(
                session.scalars(
                    select(Site).where(or_(Site.uscc == ent_no, Site.permit_no == ent_no))
                )
            )
        if not sites:
            assert result.unmatched is not None
            result.unmatched.append(ent_no)
            continue
        for site in sites:
            external_id = f"{record['id']}:{site.id}"[:64]
            with system_context("feed: existing alert"):
                existing = session.scalars(
                    select(Alert).where(
                        Alert.source == FEED_SOURCE, Alert.external_id == external_id
                    )
                ).one_or_none()
            if existing is None:
                touched.append(
                    issue(
                        session,
                        level=level,
                        starts_at=starts,
                        ends_at=ends,
                        site_id=site.id,
                        measures=str(record.get("controlMeasures") or "")[:2000],
                        source=FEED_SOURCE,
                        external_id=external_id,
                        actor_id=actor_id,
                        actor_label=actor_label or "regulator feed",
                    )
                )
                result.created += 1
            elif existing.ends_at != ends and ends is not None:
                touched.append(end(session, existing, at=ends, actor_id=actor_id,
                                   actor_label=actor_label or "regulator feed"))  # fmt: skip
                result.updated += 1
            else:
                result.unchanged += 1
    return result, touched
