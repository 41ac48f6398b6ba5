"""Console: compliance health across tenants (provider view, read-only; docs/console.md).

One row per site: the regulator report rate today and this month (Beijing), flagged below
99 %; the records the platforms rejected or that could not be delivered this month; the alert
in force now and the violations during it (vehicles below the required emission stage let in
by hand). Worst first.

Nothing is computed here that another screen computes already: the rates are
``saas.regulator.report_rate.report_rates`` (the regulator screen's numbers), the alert is
``saas.policy.alerts.effective_alert`` and the violations are the emergency execution record's
(``saas.policy.execution.record``). Provider staff belong to no tenant, so the sites, their
tenants and their data are read in a system context; nothing is written.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask import render_template, request
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from saas.api.regulator import beijing_today
from saas.auth.permissions import Permission, require
from saas.console import bp
from saas.console.alerts import LEVEL_LABELS
from saas.db import get_session, utcnow
from saas.models.alerts import Alert, SiteAlert
from saas.models.regulator import RegulatorConfig, RegulatorUpload
from saas.models.tenancy import Site, Tenant
from saas.policy import alerts, execution
from saas.regulator.outbox import beijing_day_bounds
from saas.regulator.report_rate import ALARM_BELOW, GateRate, month_bounds, report_rates
from saas.tenancy import system_context

MAX_SITES = 1000
PROBLEM_STATUSES = ("rejected", "dead")


@dataclass(frozen=True)
class SiteRate:
    """A site's rate over a period: its worst platform, summed over gates and lanes;
    ``alarm`` when any gate of any platform is below 99 % (as on the regulator screen)."""

    captured: int
    on_time: int
    rate: Decimal | None  # GateRate.rate: 4 decimals, half up
    alarm: bool


@dataclass(frozen=True)
class AlertState:
    level: str
    since: datetime
    episode_key: str
    violations: int
    releases: int


@dataclass
class SiteHealth:
    site_id: uuid.UUID
    tenant: str
    site: str
    platforms: int
    today: SiteRate | None
    month: SiteRate | None
    rejected: int
    alert: AlertState | None

    @property
    def problems(self) -> int:
        return sum(
            (
                bool(self.today and self.today.alarm),
                bool(self.month and self.month.alarm),
                self.rejected > 0,
                bool(self.alert and self.alert.violations),
            )
        )

    def sort_key(self) -> tuple[object, ...]:
        def rate(r: SiteRate | None) -> object:
            return r.rate if r is not None and r.rate is not None else 2

        return (
            -self.problems,
            -(self.alert.violations if self.alert else 0),
            rate(self.month),
            rate(self.today),
            -self.rejected,
            self.tenant,
            self.site,
        )


def site_rate(rows: list[GateRate]) -> SiteRate | None:
    """Fold ``report_rates`` rows (every platform, gate and lane of one period) into the
    site's figure: the platform with the lowest rate (None when nothing was captured)."""
    totals: dict[uuid.UUID, list[int]] = {}
    for row in rows:
        total = totals.setdefault(row.config_id, [0, 0])
        total[0] += row.captured
        total[1] += row.on_time
    if not totals:
        return None
    per_platform = [GateRate(c, "", "", "", cap, ok) for c, (cap, ok) in totals.items()]
    worst = min(per_platform, key=lambda g: (g.rate is None, g.rate or Decimal(0)))
    return SiteRate(worst.captured, worst.on_time, worst.rate, any(r.alarm for r in rows))


def _alert_sites(session: Session, now: datetime) -> set[uuid.UUID]:
    """Sites an alert covers now: regional and site alerts in force, voluntary levels."""
    live = (
        Alert.cancelled_at.is_(None),
        Alert.starts_at <= now,
        or_(Alert.ends_at.is_(None), Alert.ends_at > now),
    )
    found: set[uuid.UUID] = set()
    for alert in session.scalars(select(Alert).where(*live)):
        found.update(s.id for s in alerts.covered_sites(session, alert))
    found.update(
        session.scalars(
            select(SiteAlert.site_id).where(
                SiteAlert.cancelled_at.is_(None),
                SiteAlert.starts_at <= now,
                or_(SiteAlert.ends_at.is_(None), SiteAlert.ends_at > now),
            )
        )
    )
    return found


def alert_state(session: Session, site: Site, now: datetime) -> AlertState | None:
    """The alert in force at the site now and the violations of its episode so far."""
    effective = alerts.effective_alert(session, site, now)
    if effective is None:
        return None
    running = [
        e
        for e in execution.episodes(session, site, now, now + timedelta(microseconds=1))
        if e.contains(now)
    ]
    if not running:
        return None
    episode = running[0]
    record = execution.record(session, site, episode, now=now)
    return AlertState(
        effective.level, episode.starts_at, episode.key, record.violations, len(record.releases)
    )


def health_rows(
    session: Session, today: date, now: datetime
) -> tuple[list[SiteHealth], bool, tuple[date, date]]:
    """Every site's health (at most ``MAX_SITES``), worst first; call in a system context."""
    first = month_bounds(today.year, today.month)[0]
    found = session.execute(
        select(Site, Tenant.name)
        .join(Tenant, Tenant.id == Site.tenant_id)
        .order_by(Tenant.name, Site.name)
        .limit(MAX_SITES + 1)
    ).all()
    truncated = len(found) > MAX_SITES
    found = found[:MAX_SITES]
    ids = [site.id for site, _tenant in found]
    platforms: dict[uuid.UUID, int] = dict(
        session.execute(
            select(RegulatorConfig.site_id, func.count())
            .where(RegulatorConfig.site_id.in_(ids))
            .group_by(RegulatorConfig.site_id)
        ).all()
    ) if ids else {}  # fmt: skip
    lo, hi = beijing_day_bounds(first)[0], beijing_day_bounds(today)[1]
    rejected: dict[uuid.UUID, int] = dict(
        session.execute(
            select(RegulatorUpload.site_id, func.count())
            .where(
                RegulatorUpload.site_id.in_(ids),
                RegulatorUpload.status.in_(PROBLEM_STATUSES),
                RegulatorUpload.captured_at >= lo,
                RegulatorUpload.captured_at < hi,
            )
            .group_by(RegulatorUpload.site_id)
        ).all()
    ) if ids else {}  # fmt: skip
    in_alert = _alert_sites(session, now)
    rows: list[SiteHealth] = []
    for site, tenant_name in found:
        configured = platforms.get(site.id, 0)
        today_rate = month_rate = None
        if configured:
            today_rate = site_rate(report_rates(session, site.id, today, today, period="day"))
            month_rate = site_rate(report_rates(session, site.id, first, today, period="month"))
        rows.append(
            SiteHealth(
                site_id=site.id,
                tenant=tenant_name,
                site=site.name,
                platforms=configured,
                today=today_rate,
                month=month_rate,
                rejected=rejected.get(site.id, 0),
                alert=alert_state(session, site, now) if site.id in in_alert else None,
            )
        )
    rows.sort(key=SiteHealth.sort_key)
    return rows, truncated, (first, today)


@bp.get("/health", endpoint="health")
@require(Permission.CONSOLE_VIEW)
def health() -> str:
    only_problems = request.args.get("problems") == "1"
    today, now = beijing_today(), utcnow()
    with system_context("console: compliance health across tenants (read-only)"):
        rows, truncated, (first, last) = health_rows(get_session(), today, now)
    shown = [r for r in rows if r.problems] if only_problems else rows
    return render_template(
        "console/health.html",
        rows=shown,
        total=len(rows),
        truncated=truncated,
        only_problems=only_problems,
        below=sum(1 for r in rows if (r.today and r.today.alarm) or (r.month and r.month.alarm)),
        with_rejected=sum(1 for r in rows if r.rejected),
        in_alert=sum(1 for r in rows if r.alert),
        with_violations=sum(1 for r in rows if r.alert and r.alert.violations),
        month_start=first.isoformat(),
        today=last.isoformat(),
        alarm_below=f"{ALARM_BELOW * 100:.0f}",
        level_labels=LEVEL_LABELS,
    )
