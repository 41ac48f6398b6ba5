"""The gate decision: one pure function shared by the edge (deciding) and the cloud (re-checking).

``decide`` takes the camera event, what the registry knows and the context (policy, alert level,
time) and returns a verdict with stable reason codes, the LED lines and the ids of the rules that
matched. It reads no clock and no files, so the same facts always give the same ``Decision``.

Order of precedence (docs/compliance.md §decide):

* exits are always allowed — a truck is never trapped inside — but a violation is still reported;
* a blacklisted vehicle is always denied entry;
* rules combine deny-overrides: any matching deny rule → DENY, else any review rule → REVIEW,
  else an allow rule or the policy default;
* a whitelist skips the baseline (ordinary-day) rules but never an alert-level rule; only an
  exemption category honoured by the policy skips those, and it brings its own minimum stage;
* plate, confidence and booking problems can only make the verdict stricter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from saas.compliance.codes import (
    AlertLevel,
    Direction,
    EmissionStage,
    ExemptionCategory,
    FuelType,
    VehicleCategory,
    VehicleType,
    Verdict,
)
from saas.compliance.plates import Plate, parse_plate
from saas.compliance.policy import CLEAN_RANK, LEVEL_SCOPE, Policy, Scope, Subject
from saas.compliance.stages import infer_stage

REASON_CODES: tuple[str, ...] = (
    "plate_unreadable",
    "plate_invalid",
    "low_confidence",
    "blacklisted",
    "unregistered_vehicle",
    "new_energy_plate",
    "whitelisted",
    "exemption_applied",
    "exemption_stage_below_minimum",
    "stage_below_minimum",
    "alert_restriction",
    "baseline_restriction",
    "review_rule",
    "no_matching_rule",
    "outside_booking",
    "stage_inferred",
    "exit_violation",
)
"""Every code ``Decision.reasons`` can hold (documented in docs/compliance.md)."""


@dataclass(frozen=True, slots=True)
class Booking:
    """A visitor or delivery booking window (start inclusive, end exclusive)."""

    start: datetime
    end: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class GateEvent:
    """What the camera reported for one passage."""

    plate_text: str
    time: datetime
    color: str | None = None
    confidence: float = 1.0
    direction: Direction = Direction.IN
    lane: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class VehicleFacts:
    """What the registry knows about the vehicle (None fields are unknown)."""

    vehicle_type: VehicleType | None = None
    fuel: FuelType | None = None
    stage: EmissionStage | None = None
    registration_date: date | None = None
    vin: str | None = None
    category: VehicleCategory = VehicleCategory.TRANSPORT
    exemption: ExemptionCategory | None = None
    blacklisted: bool = False
    whitelisted: bool = False
    bookings: tuple[Booking, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionContext:
    """The policy, the alert level in force and the decision time (rules' windows use it)."""

    policy: Policy
    time: datetime
    alert_level: AlertLevel = AlertLevel.NONE


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    verdict: Verdict
    reasons: tuple[str, ...]
    display: tuple[str, ...]
    """Up to four LED lines: plate, stage, reason phrase, verdict phrase."""
    matched_rules: tuple[str, ...]
    policy_id: str
    policy_version: str
    alert_level: AlertLevel
    direction: Direction
    plate: Plate
    stage: EmissionStage | None
    """The stage used (None: counted as new energy)."""
    violation: bool
    """A rule or list was broken; on exit the gate still opens but this is reported."""

    @property
    def board_text(self) -> str:
        """The seed-001 board phrase, e.g. ``不符合国V及以上标准 禁止进入``."""
        return " ".join(self.display[2:])


def _local(moment: datetime, offset_minutes: int) -> datetime:
    """Policy-local wall time; naive datetimes are taken as already local."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(timezone(timedelta(minutes=offset_minutes))).replace(tzinfo=None)


def _is_clean(fuel: FuelType | None, phev_is_clean: bool) -> bool:
    """New energy for stage purposes: BEV and fuel cell always, plug-in hybrid per policy."""
    if fuel is FuelType.ELECTRIC or fuel is FuelType.FUEL_CELL:
        return True
    return fuel is FuelType.PLUG_IN_HYBRID and phev_is_clean


_PHRASES: tuple[tuple[str, str], ...] = (
    ("blacklisted", "黑名单车辆"),
    ("exemption_stage_below_minimum", ""),
    ("stage_below_minimum", ""),
    ("alert_restriction", "重污染天气管控"),
    ("baseline_restriction", "不符合准入规定"),
    ("plate_unreadable", "未识别车牌"),
    ("plate_invalid", "车牌无效"),
    ("low_confidence", "车牌待核验"),
    ("unregistered_vehicle", "未登记车辆"),
    ("outside_booking", "未预约"),
    ("review_rule", "需人工核验"),
    ("no_matching_rule", "未获准入"),
)


def _display(
    plate: Plate,
    stage_label: str,
    verdict: Verdict,
    reasons: list[str],
    required: EmissionStage | None,
    direction: Direction,
    violation: bool,
) -> tuple[str, ...]:
    plate_line = "无牌车" if plate.unreadable else plate.normalized[:10]
    if direction is Direction.OUT:
        return (plate_line, stage_label, "违规已记录" if violation else "符合标准", "准许离开")
    if verdict is Verdict.ALLOW:
        return (plate_line, stage_label, "符合标准", verdict.label_zh)
    phrase = "需人工核验"
    for code, text in _PHRASES:  # pragma: no branch - every hold or refusal has a phrase
        if code in reasons:
            if not text:
                text = f"不符合{required.board_label}及以上标准" if required else "排放阶段不符"
            phrase = text
            break
    return (plate_line, stage_label, phrase, verdict.label_zh)


def decide(event: GateEvent, vehicle: VehicleFacts | None, ctx: DecisionContext) -> Decision:
    """Decide one passage. Pure and deterministic; never raises on well-typed input."""
    policy = ctx.policy
    settings = policy.settings
    plate = parse_plate(event.plate_text, event.color)
    reasons: list[str] = []
    verdict = Verdict.ALLOW
    matched: list[str] = []
    violation = False
    required: EmissionStage | None = None

    def worsen(to: Verdict) -> None:
        nonlocal verdict
        if to.severity > verdict.severity:
            verdict = to

    if plate.unreadable:
        reasons.append("plate_unreadable")
        worsen(settings.unreadable_plate)
    else:
        if not plate.valid:
            reasons.append("plate_invalid")
            worsen(settings.invalid_plate)
        if not event.confidence >= settings.min_confidence:  # NaN counts as low
            reasons.append("low_confidence")
            worsen(settings.low_confidence)

    facts = vehicle
    if facts is None and not plate.unreadable:
        # No plate, no registry lookup: "unreadable" already says it all.
        reasons.append("unregistered_vehicle")
        if plate.energy is not None and settings.trust_nev_plate:
            reasons.append("new_energy_plate")
            facts = VehicleFacts(fuel=plate.energy.fuel, category=settings.unregistered_category)
        else:
            worsen(settings.unknown_vehicle)

    stage: EmissionStage | None = EmissionStage.UNKNOWN
    if facts is not None:
        fuel = facts.fuel
        if fuel is None and plate.energy is not None:
            fuel = plate.energy.fuel
        clean = _is_clean(fuel, settings.phev_is_clean)
        stage = facts.stage or EmissionStage.UNKNOWN
        if stage is EmissionStage.UNKNOWN and settings.infer_stage and not clean:
            guess = infer_stage(facts.vehicle_type, fuel, facts.registration_date, facts.vin)
            if guess.stage is not None and guess.stage is not EmissionStage.UNKNOWN:
                stage = guess.stage
                reasons.append("stage_inferred")
        stage_rank = CLEAN_RANK if clean else stage.rank
        if clean:
            stage = None

        if facts.blacklisted:
            reasons.append("blacklisted")
            worsen(Verdict.DENY)
            violation = True

        at = _local(ctx.time, settings.utc_offset_minutes)
        level_scope = LEVEL_SCOPE[ctx.alert_level]
        scopes: list[Scope] = (
            [Scope.BASELINE] if level_scope is None else [Scope.BASELINE, level_scope]
        )

        exemption = policy.exemption(facts.exemption) if facts.exemption is not None else None
        if exemption is not None:
            exempt = [s for s in scopes if s in exemption.scopes]
            if exempt:
                scopes = [s for s in scopes if s not in exempt]
                need = exemption.required_stage(fuel)
                if need is not None and stage_rank < need.rank:
                    reasons += ["exemption_stage_below_minimum", "stage_below_minimum"]
                    required = need
                    worsen(Verdict.DENY)
                    violation = True
                else:
                    reasons.append("exemption_applied")
        if facts.whitelisted:
            reasons.append("whitelisted")
            scopes = [s for s in scopes if s is not Scope.BASELINE]

        vehicle_type = facts.vehicle_type
        subject = Subject(
            category=facts.category,
            vehicle_class=None if vehicle_type is None else vehicle_type.vehicle_class,
            heavy_duty=None if vehicle_type is None else vehicle_type.heavy_duty,
            fuel=fuel,
            color=plate.color,
            stage_rank=stage_rank,
            direction=event.direction,
            weekday=at.isoweekday(),
            moment=at.time(),
            day=at.date(),
        )
        denied = reviewed = allowed = False
        for scope in scopes:
            for rule in policy.candidates(scope, subject.category, subject.vehicle_class):
                if not rule.matches(subject):
                    continue
                matched.append(rule.id)
                if rule.effect is Verdict.DENY:
                    denied = True
                    reasons.append(
                        "alert_restriction" if scope.is_alert else "baseline_restriction"
                    )
                    if rule.rule.below_stage is not None:
                        reasons.append("stage_below_minimum")
                        if required is None or rule.rule.below_stage > required:
                            required = rule.rule.below_stage
                elif rule.effect is Verdict.REVIEW:
                    reviewed = True
                    reasons.append("review_rule")
                else:
                    allowed = True
        if denied:
            worsen(Verdict.DENY)
            violation = True
        elif reviewed:
            worsen(Verdict.REVIEW)
        elif not allowed and settings.default_effect is not Verdict.ALLOW:
            reasons.append("no_matching_rule")
            worsen(settings.default_effect)

        if facts.category in settings.booking_required_for and not facts.whitelisted:
            booked = any(
                _local(b.start, settings.utc_offset_minutes)
                <= at
                < _local(b.end, settings.utc_offset_minutes)
                for b in facts.bookings
            )
            if not booked:
                reasons.append("outside_booking")
                worsen(settings.booking_effect)

    stage_label = "新能源" if stage is None else stage.short_zh
    entry_verdict = verdict
    if event.direction is Direction.OUT:
        verdict = Verdict.ALLOW
        if violation:
            reasons.append("exit_violation")
    unique = list(dict.fromkeys(reasons))
    return Decision(
        verdict=verdict,
        reasons=tuple(unique),
        display=_display(
            plate, stage_label, entry_verdict, unique, required, event.direction, violation
        ),
        matched_rules=tuple(matched),
        policy_id=policy.id,
        policy_version=policy.version,
        alert_level=ctx.alert_level,
        direction=event.direction,
        plate=plate,
        stage=stage,
        violation=violation,
    )
