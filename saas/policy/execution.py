"""The emergency execution record (应急响应执行记录) of one site for one alert episode
(docs/emergency-record.md).

An *episode* is a maximal period in which the site's effective alert level is not none:
overlapping or adjacent alert windows (regional, regulator feed, voluntary) merge into one, and
the level may change inside it (``segments``). For an episode the record shows what an
inspector asks for:

* the passages captured during it, by emission stage × fuel × final outcome (admitted,
  refused, pending review), entries and exits apart;
* every manual release (人工放行) of a vehicle the gate had not admitted, flagged as a
  violation when the vehicle was below the emission stage the rules in force required;
* the production measures of the 一厂一策 plan for each level reached, with who confirmed them
  carried out, and when (``MeasureCheck`` rows, written by :func:`check_measure`).

What the record relies on in the ledger (saas/ledger/ingest.py, edge_bridge/lanes.py):

* A release at the gate (the guard's console, or a portal command carried out by the bridge)
  is a new ``passage`` record with ``manual.action`` ``release``/``remote_release``, the
  operator and the reason, ``manual.amends_event_id`` naming the passage it releases, verdict
  forced to ``ALLOW`` and ``manual_release`` appended to the decision's reasons (the other
  reasons are the automatic decision's, re-judged at the moment of release).
* A release from the portal or API is a ``manual_release`` amendment pointing at the original
  passage (``amends_event_id``) whose ``decision`` is a copy of the original's; the actor is in
  ``actor`` and the reason in ``amendment``.
* "Below the required stage" is the reason code ``stage_below_minimum`` of
  ``saas.compliance.decide`` (set by a deny rule's ``below_stage`` or an exemption's minimum).
  A release whose automatic decision carried it, on an entry, is a violation.

Exports for inspectors (xlsx with xlsxwriter, PDF with reportlab's built-in CJK font) are
rendered here from the same :class:`ExecutionRecord`, synchronously: a record is a few tables.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from saas.auth import audit
from saas.auth.principal import Principal
from saas.compliance.codes import AlertLevel, EmissionStage, FuelType, PlateColor
from saas.compliance.plan import Plan
from saas.db import utcnow
from saas.errors import ApiError, NotFound, validation_error
from saas.ledger.exports import (
    DISPLAY_TZ,
    REASON_LABELS,
    TIME_FORMAT,
    XLSX_MIME,
    escape_formula,
    label,
    local_time,
)
from saas.models.alerts import LEVEL_ZH, RESPONSE
from saas.models.ledger import LedgerEvent, Passage
from saas.models.plans import MeasureCheck, SitePlan
from saas.models.tenancy import Site, Tenant
from saas.policy import plans
from saas.policy.alerts import RANK, Effective, windows

PDF_MIME = "application/pdf"
CONTENT_TYPES = {"xlsx": XLSX_MIME, "pdf": PDF_MIME}
FORMATS = ("xlsx", "pdf")
TITLE = "重污染天气应急响应执行记录"
OUTCOMES = ("admitted", "refused", "review")
OUTCOME_ZH = {"admitted": "放行", "refused": "拒绝", "review": "待核验"}
VERDICT_OUTCOME = {"ALLOW": "admitted", "DENY": "refused", "REVIEW": "review"}
VERDICT_ZH = {"ALLOW": "准许进入", "DENY": "禁止进入", "REVIEW": "人工核验"}
DIRECTION_ZH = {"in": "进厂", "out": "出厂"}
RELEASE_ACTIONS = ("release", "remote_release")
RELEASE_SOURCE_ZH = {
    "release": "门岗现场放行",
    "remote_release": "平台远程开闸",
    "portal": "平台补录放行",
}
VIOLATION_REASON = "stage_below_minimum"
LOOKAROUND = timedelta(days=30)  # how far one step looks for windows adjoining an episode
MAX_STEPS = 24  # an episode is followed at most 2 years either way
MAX_NOTE = 300
MAX_NAME = 100
CHUNK = 500


# --- episodes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Segment:
    """A stretch of an episode at one effective level (``ends_at`` None: open-ended)."""

    level: str
    starts_at: datetime
    ends_at: datetime | None

    @property
    def level_zh(self) -> str:
        return LEVEL_ZH[self.level]

    @property
    def response(self) -> str:
        return RESPONSE[self.level]


@dataclass(frozen=True)
class Episode:
    """A maximal period with an alert in force at a site. ``ends_at`` None: still running
    with no announced end."""

    starts_at: datetime
    ends_at: datetime | None
    segments: tuple[Segment, ...]

    @property
    def level(self) -> str:
        """The highest level reached."""
        return max((s.level for s in self.segments), key=RANK.__getitem__)

    @property
    def level_zh(self) -> str:
        return LEVEL_ZH[self.level]

    @property
    def response(self) -> str:
        return RESPONSE[self.level]

    @property
    def levels(self) -> tuple[str, ...]:
        """The levels reached, in the order first reached."""
        return tuple(dict.fromkeys(s.level for s in self.segments))

    @property
    def key(self) -> str:
        """The episode's identifier in URLs: its start, UTC ISO 8601 with ``Z``."""
        return episode_key(self.starts_at)

    def ongoing(self, now: datetime) -> bool:
        return self.starts_at <= now and (self.ends_at is None or now < self.ends_at)

    def contains(self, moment: datetime) -> bool:
        return self.starts_at <= moment and (self.ends_at is None or moment <= self.ends_at)


def episode_key(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_episode_key(text: str) -> datetime:
    """An episode start from a URL (any ISO 8601 form with an offset); ValueError otherwise."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        raise ValueError("needs a time zone")
    return moment.astimezone(UTC)


def _after(a: datetime | None, b: datetime | None) -> bool:
    """``a`` later than ``b``, None being the open future."""
    if a is None:
        return b is not None
    return b is not None and a > b


def _group(found: Iterable[Effective]) -> list[list[Effective]]:
    """Windows merged into episodes: sorted by start, joined while they overlap or touch."""
    groups: list[list[Effective]] = []
    end: datetime | None = None
    for window in sorted(found, key=lambda w: w.starts_at):
        if groups and (end is None or window.starts_at <= end):
            groups[-1].append(window)
            if _after(window.ends_at, end):
                end = window.ends_at
        else:
            groups.append([window])
            end = window.ends_at
    return groups


def _episode(group: list[Effective]) -> Episode:
    start = min(w.starts_at for w in group)
    end: datetime | None = group[0].ends_at
    for window in group:
        if _after(window.ends_at, end):
            end = window.ends_at
    bounds = sorted({w.starts_at for w in group} | {w.ends_at for w in group if w.ends_at})
    segments: list[Segment] = []
    for index, moment in enumerate(bounds):
        if end is not None and moment >= end:
            break
        upto = bounds[index + 1] if index + 1 < len(bounds) else None
        covering = [
            w.level
            for w in group
            if w.starts_at <= moment and (w.ends_at is None or w.ends_at > moment)
        ]
        level = max(covering, key=RANK.__getitem__)  # never empty inside a merged group
        if segments and segments[-1].level == level:
            segments[-1] = Segment(level, segments[-1].starts_at, upto)
        else:
            segments.append(Segment(level, moment, upto))
    return Episode(start, end, tuple(segments))


def episodes(session: Session, site: Site, start: datetime, end: datetime) -> list[Episode]:
    """The site's alert episodes overlapping ``[start, end)``, oldest first. An episode reaching
    past either bound is followed to its true start and end (windows adjoining it outside the
    range are merged in), so the same episode always has the same start — its key."""
    if start.tzinfo is None or end.tzinfo is None or start >= end:
        raise ValueError("start before end, both timezone-aware")
    found = {w.alert_id: w for w in windows(session, site, start, end)}
    lo, hi = start, end
    for _ in range(MAX_STEPS):  # backwards, while the earliest episode may continue earlier
        groups = _group(found.values())
        if not groups or min(w.starts_at for w in groups[0]) > lo:
            break
        lo -= LOOKAROUND
        found.update((w.alert_id, w) for w in windows(session, site, lo, lo + LOOKAROUND))
    for _ in range(MAX_STEPS):  # forwards, while the latest may continue later
        groups = _group(found.values())
        last = _episode(groups[-1]) if groups else None
        if last is None or (last.ends_at is not None and last.ends_at < hi):
            break
        if last.ends_at is None:
            break  # open-ended: nothing later can extend it
        found.update((w.alert_id, w) for w in windows(session, site, hi, hi + LOOKAROUND))
        hi += LOOKAROUND
    result = [_episode(g) for g in _group(found.values())]
    return [e for e in result if e.starts_at < end and (e.ends_at is None or e.ends_at > start)]


def find_episode(session: Session, site: Site, starts_at: datetime) -> Episode:
    """The episode starting exactly at ``starts_at``, or 404."""
    for episode in episodes(session, site, starts_at, starts_at + timedelta(microseconds=1)):
        if episode.starts_at == starts_at:
            return episode
    raise NotFound("预警过程")


# --- the plan that governed an episode -------------------------------------------------------


def plan_for(
    session: Session, site: Site, episode: Episode, now: datetime
) -> tuple[Plan, SitePlan | None]:
    """The plan version in force when the episode began; if none had been approved by then,
    the first version approved during the episode; else the built-in template for the site's
    industry and rating (which has no row: its measures can be read but not checked off)."""
    approved = (SitePlan.site_id == site.id, SitePlan.status.in_(("approved", "superseded")))
    row = session.scalars(
        select(SitePlan)
        .where(*approved, SitePlan.approved_at <= episode.starts_at)
        .order_by(SitePlan.approved_at.desc())
        .limit(1)
    ).first()
    if row is None:
        until = episode.ends_at if episode.ends_at is not None and episode.ends_at < now else now
        row = session.scalars(
            select(SitePlan)
            .where(
                *approved, SitePlan.approved_at > episode.starts_at, SitePlan.approved_at <= until
            )
            .order_by(SitePlan.approved_at)
            .limit(1)
        ).first()
    if row is None:
        return plans.default_template(site).plan, None
    return Plan.from_dict(row.document), row


# --- the record ------------------------------------------------------------------------------


@dataclass
class VehicleCount:
    """Passages of one direction × emission stage × fuel, by final outcome. ``released``
    counts the admitted ones that a person let through after the gate had not."""

    direction: str
    stage: str | None  # canonical code, lower case; None = new energy (no stage)
    fuel: str | None
    admitted: int = 0
    released: int = 0
    refused: int = 0
    review: int = 0

    @property
    def total(self) -> int:
        return self.admitted + self.refused + self.review

    @property
    def direction_zh(self) -> str:
        return DIRECTION_ZH.get(self.direction, self.direction)

    @property
    def stage_zh(self) -> str:
        return stage_label(self.stage)

    @property
    def fuel_zh(self) -> str:
        return label(FuelType, self.fuel) or "未知"


def stage_label(stage: str | None) -> str:
    return "新能源（无排放阶段）" if not stage else label(EmissionStage, stage)


@dataclass(frozen=True)
class ManualRelease:
    """One vehicle let through by a person. ``event_id`` is the release's own ledger record;
    ``passage_event_id`` the passage it released (None if the ledger does not hold it)."""

    event_id: uuid.UUID
    passage_event_id: uuid.UUID | None
    source: str  # release | remote_release (at the gate) | portal (amendment)
    plate: str
    plate_color: str | None
    direction: str | None
    captured_at: datetime | None  # the released passage's time
    released_at: datetime
    operator: str
    reason: str
    stage: str | None
    fuel: str | None
    automatic_verdict: str | None  # ALLOW | DENY | REVIEW of the released passage
    reasons: tuple[str, ...]
    decision_text: str  # the LED's reason phrase (不符合国V及以上标准 …)
    alert_level: str | None
    violation: bool

    @property
    def source_zh(self) -> str:
        return RELEASE_SOURCE_ZH.get(self.source, self.source)

    @property
    def stage_zh(self) -> str:
        return stage_label(self.stage)

    @property
    def fuel_zh(self) -> str:
        return label(FuelType, self.fuel) or "未知"

    @property
    def verdict_zh(self) -> str:
        return VERDICT_ZH.get(self.automatic_verdict or "", "未知")

    @property
    def reasons_zh(self) -> str:
        return "；".join(REASON_LABELS.get(r, r) for r in self.reasons)

    @property
    def plate_color_zh(self) -> str:
        return label(PlateColor, self.plate_color)


@dataclass(frozen=True)
class MeasureItem:
    """One production measure of the plan for a level reached, and its check-off if any."""

    level: str
    index: int
    text: str
    after_hours: int | None
    due_at: datetime | None  # the moment an "after N hours" measure became due
    check: MeasureCheck | None

    @property
    def level_zh(self) -> str:
        return LEVEL_ZH[self.level]

    @property
    def checked(self) -> bool:
        return self.check is not None


@dataclass
class ExecutionRecord:
    site: Site
    enterprise: str
    episode: Episode
    plan_id: uuid.UUID | None
    plan_version: int | None
    plan_template: str
    responsible_name: str
    responsible_phone: str
    counts: list[VehicleCount]
    releases: list[ManualRelease]
    measures: list[MeasureItem]
    generated_at: datetime
    window_end: datetime  # passages up to here (the end, or now for a running episode)

    def totals(self, direction: str) -> VehicleCount:
        out = VehicleCount(direction, None, None)
        for row in self.counts:
            if row.direction == direction:
                out.admitted += row.admitted
                out.released += row.released
                out.refused += row.refused
                out.review += row.review
        return out

    @property
    def violations(self) -> int:
        return sum(1 for r in self.releases if r.violation)

    @property
    def measures_done(self) -> int:
        return sum(1 for m in self.measures if m.checked)

    @property
    def plan_label(self) -> str:
        if self.plan_version is None:
            return f"未批准方案，按内置模板 {self.plan_template} 显示"
        return f"第{self.plan_version}版（模板 {self.plan_template}）"


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def _passages_by_event(
    session: Session, site: Site, event_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Passage]:
    """Original passages by event id, through the event index (site, seq) — ``passages`` has
    no index on event_id and is partitioned by time."""
    wanted = sorted(set(event_ids))
    seqs: dict[int, uuid.UUID] = {}
    for part in _chunks(wanted):
        for event_id, seq in session.execute(
            select(LedgerEvent.event_id, LedgerEvent.seq).where(
                LedgerEvent.event_id.in_(part), LedgerEvent.site_id == site.id
            )
        ):
            seqs[seq] = event_id
    found: dict[uuid.UUID, Passage] = {}
    for part in _chunks(sorted(seqs)):
        for row in session.scalars(
            select(Passage).where(
                Passage.site_id == site.id, Passage.seq.in_(part), Passage.kind == "passage"
            )
        ):
            found[row.event_id] = row
    return found


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


def _stage(value: str | None) -> str | None:
    return value.lower() if value else None


def _reasons(*records: dict[str, Any]) -> tuple[str, ...]:
    out: list[str] = []
    for rec in records:
        for code in _dict(rec.get("decision")).get("reasons") or []:
            if isinstance(code, str) and code != "manual_release":
                out.append(code)
    return tuple(dict.fromkeys(out))


def _release(
    row: Passage, record: dict[str, Any], source: str, original: Passage | None
) -> ManualRelease:
    base = json.loads(original.record) if original is not None else {}
    reasons = _reasons(base, record)
    decision = _dict(base.get("decision")) or _dict(record.get("decision"))
    display = decision.get("display") or []
    plate = _dict(record.get("plate"))
    if source == "portal":
        actor = _dict(record.get("actor"))
        operator = str(actor.get("username") or "")
        reason = str(_dict(record.get("amendment")).get("reason") or "")
    else:
        manual = _dict(record.get("manual"))
        operator = str(manual.get("operator") or "")
        reason = str(manual.get("reason") or "")
    direction = original.direction if original is not None else row.direction
    automatic = original.verdict if original is not None else None
    if source == "portal" and automatic is None:
        automatic = _dict(record.get("amendment")).get("original_verdict")
    return ManualRelease(
        event_id=row.event_id,
        passage_event_id=original.event_id if original is not None else None,
        source=source,
        plate=row.plate or str(plate.get("raw") or ""),
        plate_color=row.plate_color,
        direction=direction,
        captured_at=original.captured_at if original is not None else None,
        released_at=row.captured_at,
        operator=operator,
        reason=reason,
        stage=_stage(original.emission_stage if original is not None else row.emission_stage),
        fuel=original.fuel_type if original is not None else row.fuel_type,
        automatic_verdict=automatic,
        reasons=reasons,
        decision_text=str(display[2]) if len(display) > 2 else "",
        alert_level=decision.get("alert_level"),
        violation=VIOLATION_REASON in reasons and direction != "out",
    )


def record(
    session: Session, site: Site, episode: Episode, *, now: datetime | None = None
) -> ExecutionRecord:
    """Build the execution record (read-only; the current tenant's rows only)."""
    now = now or utcnow()
    lo = episode.starts_at
    hi = episode.ends_at if episode.ends_at is not None and episode.ends_at <= now else now
    hi = max(hi, lo)
    in_window = (
        Passage.site_id == site.id,
        Passage.kind == "passage",
        Passage.captured_at >= lo,
        Passage.captured_at < hi,
    )

    # 1. Every passage of the episode by its gate verdict.
    counts: dict[tuple[str, str | None, str | None], VehicleCount] = {}

    def bucket(direction: str | None, stage: str | None, fuel: str | None) -> VehicleCount:
        key = (direction or "in", _stage(stage), fuel)
        if key not in counts:
            counts[key] = VehicleCount(*key)
        return counts[key]

    stage_col = func.lower(Passage.emission_stage)
    grouped = session.execute(
        select(Passage.direction, stage_col, Passage.fuel_type, Passage.verdict, func.count())
        .where(*in_window)
        .group_by(Passage.direction, stage_col, Passage.fuel_type, Passage.verdict)
    )
    for direction, stage, fuel, verdict, number in grouped:
        target = bucket(direction, stage, fuel)
        outcome = VERDICT_OUTCOME.get(verdict or "", "review")
        setattr(target, outcome, getattr(target, outcome) + int(number))

    # 2. Releases at the gate: passage records carrying ``manual`` (LIKE narrows, JSON decides).
    gate_rows: list[tuple[Passage, dict[str, Any]]] = []
    for row in session.scalars(
        select(Passage).where(
            *in_window, Passage.verdict == "ALLOW", Passage.record.like('%"manual_release"%')
        )
    ):
        rec = json.loads(row.record)
        if _dict(rec.get("manual")).get("action") in RELEASE_ACTIONS:
            gate_rows.append((row, rec))
    # 3. Releases from the portal/API: amendments of this episode's passages.
    released_ids = select(Passage.event_id).where(*in_window)
    portal_rows = [
        (row, json.loads(row.record))
        for row in session.scalars(
            select(Passage).where(
                Passage.site_id == site.id,
                Passage.kind == "manual_release",
                Passage.captured_at >= lo,
                Passage.amends_event_id.in_(released_ids),
            )
        )
    ]
    wanted = [
        x
        for x in (
            *(_uuid(_dict(rec.get("manual")).get("amends_event_id")) for _, rec in gate_rows),
            *(row.amends_event_id for row, _ in portal_rows),
        )
        if x is not None
    ]
    originals = _passages_by_event(session, site, wanted)

    def in_episode(p: Passage | None) -> bool:
        return p is not None and lo <= p.captured_at < hi

    releases: list[ManualRelease] = []
    adjusted: set[uuid.UUID] = set()

    def count_release(original: Passage) -> None:
        """A released passage the gate had refused or held: finally admitted, once."""
        if original.event_id in adjusted or original.verdict not in ("DENY", "REVIEW"):
            return
        adjusted.add(original.event_id)
        target = bucket(original.direction, original.emission_stage, original.fuel_type)
        outcome = VERDICT_OUTCOME[original.verdict]
        setattr(target, outcome, getattr(target, outcome) - 1)
        target.admitted += 1
        target.released += 1

    for row, rec in gate_rows:
        original = originals.get(
            _uuid(_dict(rec.get("manual")).get("amends_event_id")) or uuid.UUID(int=0)
        )
        action = str(_dict(rec.get("manual")).get("action"))
        releases.append(_release(row, rec, action, original))
        own = bucket(row.direction, row.emission_stage, row.fuel_type)
        if in_episode(original):
            assert original is not None
            own.admitted -= 1  # the vehicle is counted once, by the passage it released
            count_release(original)
        else:
            own.released += 1  # no released passage here: the release is the passage
    for row, rec in portal_rows:
        original = originals.get(row.amends_event_id or uuid.UUID(int=0))
        releases.append(_release(row, rec, "portal", original))
        if in_episode(original):
            assert original is not None
            count_release(original)
    releases.sort(key=lambda r: (r.released_at, str(r.event_id)))

    # 4. Production measures of the plan that governed the episode, and their check-offs.
    plan, plan_row = plan_for(session, site, episode, now)
    checks = list(
        session.scalars(
            select(MeasureCheck)
            .where(MeasureCheck.site_id == site.id, MeasureCheck.episode_start == episode.starts_at)
            .order_by(MeasureCheck.done_at)
        )
    )
    by_key = {(c.level, c.measure_index): c for c in checks}
    measures: list[MeasureItem] = []
    for level in episode.levels:
        first = next(s.starts_at for s in episode.segments if s.level == level)
        for index, measure in enumerate(plan.production_at(AlertLevel(level))):
            due = first + timedelta(hours=measure.after_hours) if measure.after_hours else None
            measures.append(
                MeasureItem(
                    level,
                    index,
                    measure.display(),
                    measure.after_hours,
                    due,
                    by_key.pop((level, index), None),
                )
            )
    for check in by_key.values():  # checked against a plan that has since changed
        measures.append(MeasureItem(check.level, check.measure_index, check.measure_text,
                                    None, None, check))  # fmt: skip
    tenant = session.get(Tenant, site.tenant_id)
    ordered = sorted(
        counts.values(),
        key=lambda c: (
            0 if c.direction == "in" else 1,
            -_stage_rank(c.stage),
            c.fuel or "~",
        ),
    )
    return ExecutionRecord(
        site=site,
        enterprise=tenant.name if tenant is not None else "",
        episode=episode,
        plan_id=plan_row.id if plan_row is not None else None,
        plan_version=plan_row.version if plan_row is not None else None,
        plan_template=plan_row.template
        if plan_row is not None
        else plans.default_template(site).id,
        responsible_name=plan_row.responsible_name if plan_row else (site.contact_name or ""),
        responsible_phone=plan_row.responsible_phone if plan_row else (site.contact_phone or ""),
        counts=[c for c in ordered if c.total or c.released],
        releases=releases,
        measures=measures,
        generated_at=now,
        window_end=hi,
    )


def _stage_rank(stage: str | None) -> int:
    if not stage:
        return 100  # new energy first
    try:
        return EmissionStage(stage).rank
    except ValueError:
        return -1


# --- checking off a production measure -------------------------------------------------------


def check_measure(
    session: Session,
    site: Site,
    episode_start: datetime,
    level: str,
    measure_index: int,
    done_at: datetime,
    actor: Principal,
    note: str = "",
    *,
    checked_by_name: str | None = None,
    now: datetime | None = None,
) -> MeasureCheck:
    """Record that a production measure of the plan was carried out during the episode.
    Every bad field is named at once (422) and nothing is written; a second check of the same
    measure in the same episode is refused (409). Flushes; the caller commits."""
    now = now or utcnow()
    episode = find_episode(session, site, episode_start)
    # One check-off at a time per site (PostgreSQL row lock), so two people confirming the
    # same measure at once cannot both be recorded.
    session.execute(select(Site.id).where(Site.id == site.id).with_for_update())
    plan, row = plan_for(session, site, episode, now)
    fields: dict[str, str] = {}
    measures: tuple[Any, ...] = ()
    if level not in episode.levels:
        fields["level"] = f"本次预警过程的级别之一: {', '.join(episode.levels)}"
    else:
        measures = plan.production_at(AlertLevel(level))
        if isinstance(measure_index, bool) or not isinstance(measure_index, int):
            fields["measure_index"] = "须为整数"
        elif not 0 <= measure_index < len(measures):
            fields["measure_index"] = (
                f"该级别共有 {len(measures)} 项生产措施，序号应为 0–{len(measures) - 1}"
                if measures
                else "该级别没有生产措施"
            )
    if done_at.tzinfo is None:
        fields["done_at"] = "须带时区"
    elif done_at > now:
        fields["done_at"] = "不能晚于当前时间"
    elif not episode.contains(done_at):
        fields["done_at"] = "须在本次预警过程之内"
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        fields["note"] = f"最多 {MAX_NOTE} 个字"
    name = (checked_by_name or "").strip() or actor.display_name or actor.username
    if len(name) > MAX_NAME:
        fields["checked_by_name"] = f"最多 {MAX_NAME} 个字"
    if fields:
        raise validation_error(fields, "措施落实登记有误，未保存")
    existing = session.scalars(
        select(MeasureCheck.id).where(
            MeasureCheck.site_id == site.id,
            MeasureCheck.episode_start == episode.starts_at,
            MeasureCheck.level == level,
            MeasureCheck.measure_index == measure_index,
        )
    ).first()
    if existing is not None:
        raise ApiError(409, "measure_already_checked", "该措施在本次预警过程中已登记落实")
    check = MeasureCheck(
        site_id=site.id,
        tenant_id=site.tenant_id,
        plan_id=row.id if row is not None else None,
        episode_start=episode.starts_at,
        level=level,
        measure_index=measure_index,
        measure_text=measures[measure_index].display(),
        done_at=done_at.astimezone(UTC),
        checked_by=actor.user_id,
        checked_by_name=name,
        note=note,
    )
    session.add(check)
    session.flush()
    audit.record(
        session,
        "measure.check",
        tenant_id=site.tenant_id,
        actor_user_id=actor.user_id,
        actor_label=actor.username,
        details={
            "site_id": str(site.id),
            "episode_start": episode.key,
            "level": level,
            "measure_index": measure_index,
            "plan_id": str(row.id) if row is not None else None,
            "done_at": episode_key(check.done_at),
        },
    )
    session.flush()
    return check


# --- files for inspectors --------------------------------------------------------------------


def beijing(moment: datetime | None) -> str:
    return moment.astimezone(DISPLAY_TZ).strftime(TIME_FORMAT) if moment else ""


def _period(start: datetime, end: datetime | None) -> str:
    return f"{beijing(start)} 至 {beijing(end) if end else '未解除'}"


def overview_rows(rec: ExecutionRecord) -> list[tuple[str, str]]:
    """The 概况 section, as (label, value) pairs (shared by xlsx and PDF)."""
    ep, site = rec.episode, rec.site
    entries = rec.totals("in")
    exits = rec.totals("out")
    return [
        ("企业名称", rec.enterprise),
        ("站点名称", site.name),
        ("统一社会信用代码", site.uscc),
        ("排污许可证编号", site.permit_no or ""),
        ("行政区划", site.region_code),
        ("行业", plans.industry_label(site.industry)),
        ("绩效等级", plans.RATING_ZH.get(site.rating, site.rating)),
        ("预警过程", _period(ep.starts_at, ep.ends_at)),
        ("最高预警级别", f"{ep.level_zh}预警（{ep.response}级响应）"),
        (
            "级别变化",
            "；".join(f"{s.level_zh} {_period(s.starts_at, s.ends_at)}" for s in ep.segments),
        ),
        ("一厂一策方案", rec.plan_label),
        ("措施落实负责人", rec.responsible_name),
        ("联系电话", rec.responsible_phone),
        ("统计截止", beijing(rec.window_end)),
        (
            "进厂车辆",
            f"放行 {entries.admitted}（其中人工放行 {entries.released}），"
            f"拒绝 {entries.refused}，待核验 {entries.review}",
        ),
        ("出厂车辆", f"{exits.total}"),
        ("人工放行", f"{len(rec.releases)} 次，其中违规 {rec.violations} 次"),
        ("生产措施落实", f"{rec.measures_done} / {len(rec.measures)}"),
        ("生成时间", beijing(rec.generated_at)),
    ]


COUNT_HEADERS = (
    "进出方向",
    "排放阶段",
    "燃料类型",
    "放行",
    "其中人工放行",
    "拒绝",
    "待核验",
    "合计",
)
RELEASE_HEADERS = (
    "序号",
    "车牌号码",
    "号牌颜色",
    "通行时间",
    "放行时间",
    "排放阶段",
    "燃料类型",
    "自动判定",
    "判定原因",
    "放行人",
    "放行原因",
    "放行方式",
    "是否违规",
)
MEASURE_HEADERS = ("预警级别", "序号", "生产措施", "落实状态", "落实时间", "确认人", "备注")


def count_cells(row: VehicleCount) -> list[Any]:
    return [
        row.direction_zh,
        row.stage_zh,
        row.fuel_zh,
        row.admitted,
        row.released,
        row.refused,
        row.review,
        row.total,
    ]


def release_cells(number: int, r: ManualRelease) -> list[Any]:
    return [
        number,
        r.plate,
        r.plate_color_zh,
        local_time(r.captured_at),
        local_time(r.released_at),
        r.stage_zh,
        r.fuel_zh,
        r.verdict_zh,
        r.reasons_zh,
        r.operator,
        r.reason,
        r.source_zh,
        "是" if r.violation else "否",
    ]


def measure_status(m: MeasureItem) -> str:
    if m.checked:
        return "已落实"
    if m.due_at is not None:
        return f"未登记（{beijing(m.due_at)} 起须落实）"
    return "未登记"


def measure_cells(m: MeasureItem) -> list[Any]:
    check = m.check
    return [
        m.level_zh,
        m.index + 1,
        m.text,
        measure_status(m),
        local_time(check.done_at) if check else None,
        check.checked_by_name if check else "",
        check.note if check else "",
    ]


def download_name(rec: ExecutionRecord, file_format: str) -> str:
    stamp = rec.episode.starts_at.astimezone(DISPLAY_TZ).strftime("%Y%m%d-%H%M")
    return f"{TITLE}_{rec.site.name}_{stamp}.{file_format}"


def render_xlsx(rec: ExecutionRecord) -> bytes:
    """Four sheets: 概况, 车辆统计, 人工放行 (violations highlighted), 生产措施. Every text is
    written as a string (never a formula or link) with the formula-injection guard."""
    import xlsxwriter

    out = io.BytesIO()
    book = xlsxwriter.Workbook(
        out,
        {
            "in_memory": True,
            "strings_to_formulas": False,
            "strings_to_urls": False,
            "strings_to_numbers": False,
        },
    )
    bold = book.add_format({"bold": True})
    title = book.add_format({"bold": True, "font_size": 14})
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    flagged = book.add_format({"bg_color": "#F8D7DA", "font_color": "#9C0006"})
    flagged_when = book.add_format(
        {"bg_color": "#F8D7DA", "font_color": "#9C0006", "num_format": "yyyy-mm-dd hh:mm:ss"}
    )

    def put(
        sheet: Any, row: int, col: int, value: Any, fmt: Any = None, date_fmt: Any = None
    ) -> None:
        if value is None or value == "":
            if fmt is not None:
                sheet.write_blank(row, col, None, fmt)
            return
        if isinstance(value, datetime):
            sheet.write_datetime(row, col, value, date_fmt or when)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            sheet.write_number(row, col, value, fmt)
        else:
            sheet.write_string(row, col, escape_formula(str(value)), fmt)

    def header(sheet: Any, names: Sequence[str], widths: Sequence[int]) -> None:
        for col, (name, width) in enumerate(zip(names, widths, strict=True)):
            sheet.set_column(col, col, width)
            sheet.write_string(0, col, name, bold)
        sheet.freeze_panes(1, 0)

    overview = book.add_worksheet("概况")
    overview.set_column(0, 0, 18)
    overview.set_column(1, 1, 80)
    overview.write_string(0, 0, TITLE, title)
    for index, (name, value) in enumerate(overview_rows(rec), start=2):
        overview.write_string(index, 0, name, bold)
        put(overview, index, 1, value)

    counts = book.add_worksheet("车辆统计")
    header(counts, COUNT_HEADERS, (10, 20, 12, 8, 12, 8, 8, 8))
    line = 1
    for row in rec.counts:
        for col, value in enumerate(count_cells(row)):
            put(counts, line, col, value)
        line += 1
    for direction in ("in", "out"):
        total = rec.totals(direction)
        cells: list[Any] = [f"{DIRECTION_ZH[direction]}合计", "", "", total.admitted,
                            total.released, total.refused, total.review, total.total]  # fmt: skip
        for col, value in enumerate(cells):
            put(counts, line, col, value, bold if col == 0 else None)
        line += 1

    releases = book.add_worksheet("人工放行")
    header(releases, RELEASE_HEADERS, (6, 12, 8, 20, 20, 12, 10, 10, 30, 14, 30, 14, 8))
    for number, release in enumerate(rec.releases, start=1):
        fmt = flagged if release.violation else None
        for col, value in enumerate(release_cells(number, release)):
            put(releases, number, col, value, fmt, flagged_when if release.violation else None)

    measures = book.add_worksheet("生产措施")
    header(measures, MEASURE_HEADERS, (10, 6, 50, 30, 20, 14, 30))
    for line, measure in enumerate(rec.measures, start=1):
        for col, value in enumerate(measure_cells(measure)):
            put(measures, line, col, value)
    book.close()
    return out.getvalue()


PDF_FONT = "STSong-Light"  # reportlab's built-in Adobe CJK font: no font file shipped


def render_pdf(rec: ExecutionRecord) -> bytes:
    """A4 landscape: the title, the same four sections as tables, "第 N 页 / 共 M 页" and the
    generation time on every page. All text goes through ``Paragraph`` escaped."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen.canvas import Canvas
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    if PDF_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(PDF_FONT))
    body = ParagraphStyle("body", fontName=PDF_FONT, fontSize=8.5, leading=11, wordWrap="CJK")
    head = ParagraphStyle("head", parent=body, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4)
    big = ParagraphStyle("title", parent=body, fontSize=18, leading=24, alignment=1)
    footer = f"{rec.enterprise}　{rec.site.name}　生成时间 {beijing(rec.generated_at)}（北京时间）"

    class NumberedCanvas(Canvas):
        """Defers each page until the total is known, then stamps 第 N 页 / 共 M 页."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 - reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self.setFont(PDF_FONT, 8)
                self.setFillColor(colors.grey)
                self.drawString(15 * mm, 8 * mm, footer)
                self.drawRightString(
                    self._pagesize[0] - 15 * mm, 8 * mm, f"第 {number} 页 / 共 {total} 页"
                )
                super().showPage()
            super().save()

    def cell(value: Any) -> Paragraph:
        if isinstance(value, datetime):
            text = value.strftime(TIME_FORMAT)
        else:
            text = "" if value is None else str(value)
        return Paragraph(escape(text), body)

    def table(
        headers: Sequence[str],
        rows: list[list[Any]],
        widths: Sequence[float],
        flagged: Sequence[int] = (),
    ) -> Table:
        data = [[cell(h) for h in headers]] + [[cell(v) for v in r] for r in rows]
        if not rows:
            data.append([cell("无")] + [cell("") for _ in headers[1:]])
        style = [
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#E8EEF3")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
        style += [
            ("BACKGROUND", (0, i + 1), (-1, i + 1), colors.HexColor("#F8D7DA")) for i in flagged
        ]
        result = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
        result.setStyle(TableStyle(style))
        return result

    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=landscape(A4),
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=14 * mm,
        bottomMargin=16 * mm,
        title=TITLE,
        author=rec.enterprise,
    )
    totals = [
        [f"{DIRECTION_ZH[d]}合计", "", "", t.admitted, t.released, t.refused, t.review, t.total]
        for d in ("in", "out")
        for t in (rec.totals(d),)
    ]
    story: list[Any] = [
        Paragraph(escape(TITLE), big),
        Spacer(1, 4 * mm),
        Paragraph("一、概况", head),
        table(("项目", "内容"), [list(r) for r in overview_rows(rec)], (45, 222)),
        Paragraph("二、车辆统计（按排放阶段、燃料类型和最终结果）", head),
        table(
            COUNT_HEADERS,
            [count_cells(r) for r in rec.counts] + totals,
            (22, 45, 30, 25, 30, 25, 25, 25),
        ),
        Paragraph(
            f"三、人工放行（共 {len(rec.releases)} 次，违规 {rec.violations} 次，"
            "违规行以红色标出）",
            head,
        ),
        table(
            RELEASE_HEADERS,
            [release_cells(n, r) for n, r in enumerate(rec.releases, start=1)],
            (10, 20, 12, 22, 22, 16, 13, 18, 32, 18, 40, 20, 14),
            [i for i, r in enumerate(rec.releases) if r.violation],
        ),
        Paragraph(f"四、生产措施落实（已落实 {rec.measures_done} / {len(rec.measures)}）", head),
        table(
            MEASURE_HEADERS, [measure_cells(m) for m in rec.measures], (18, 12, 90, 45, 32, 25, 45)
        ),
    ]
    doc.build(story, canvasmaker=NumberedCanvas)
    return out.getvalue()


def render(rec: ExecutionRecord, file_format: str) -> bytes:
    if file_format == "xlsx":
        return render_xlsx(rec)
    if file_format == "pdf":
        return render_pdf(rec)
    raise validation_error({"format": "xlsx 或 pdf"})
