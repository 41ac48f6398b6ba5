"""The gate ``Policy`` document: baseline rules, rule sets per alert level, exemptions.

A policy is data (JSON, schema in docs/policy.md) so that the cloud can edit, version and push it
and the edge can apply it offline with the same result. ``Policy.from_json`` validates the whole
document and reports every bad field with its path (``levels.orange.rules[3].min_stage``);
``to_json`` writes the canonical form, and the two round-trip exactly. Rules are compiled and
indexed once, when the policy is built, so that ``decide`` only looks at the few rules that can
apply to a vehicle's category and class.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar

from saas.compliance.codes import (
    AlertLevel,
    Direction,
    EmissionStage,
    ExemptionCategory,
    FuelType,
    PlateColor,
    VehicleCategory,
    VehicleClass,
    Verdict,
)

SCHEMA = "cleangate.policy/1"
CONFIDENCE_TAGS = ("CONFIRMED", "VENDOR", "IMPL", "UNCONFIRMED")


class Scope(StrEnum):
    """Where a rule set applies: ordinary days (``baseline``) or one alert level."""

    BASELINE = "baseline"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def is_alert(self) -> bool:
        return self is not Scope.BASELINE


LEVEL_SCOPE: dict[AlertLevel, Scope | None] = {
    AlertLevel.NONE: None,
    AlertLevel.YELLOW: Scope.YELLOW,
    AlertLevel.ORANGE: Scope.ORANGE,
    AlertLevel.RED: Scope.RED,
}


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Local time of day, start inclusive, end exclusive; ``start > end`` wraps midnight."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


@dataclass(frozen=True, slots=True)
class DateRange:
    """Inclusive local dates; an open end is None."""

    start: date | None = None
    end: date | None = None

    def contains(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One gate rule. Every filter left as None matches everything.

    ``min_stage`` matches vehicles that reach the stage; ``below_stage`` matches those that do not
    (``below_stage: cn5`` = 国四及以下). New-energy vehicles reach every stage; an unknown stage
    reaches none. For the other filters an unknown fact (no vehicle type, fuel or plate colour)
    matches a deny or review rule and never an allow rule, so missing data cannot open the gate.
    """

    id: str
    effect: Verdict
    description: str = ""
    source: str = ""
    confidence: str | None = None
    categories: tuple[VehicleCategory, ...] | None = None
    vehicle_classes: tuple[VehicleClass, ...] | None = None
    heavy_duty: bool | None = None
    fuels: tuple[FuelType, ...] | None = None
    plate_colors: tuple[PlateColor, ...] | None = None
    min_stage: EmissionStage | None = None
    below_stage: EmissionStage | None = None
    directions: tuple[Direction, ...] | None = None
    weekdays: tuple[int, ...] | None = None
    time_windows: tuple[TimeWindow, ...] | None = None
    date_range: DateRange | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSet:
    """The rules of one scope and the measures a public board shows while it is active."""

    rules: tuple[Rule, ...] = ()
    measures: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Exemption:
    """An exemption category the policy honours in ``scopes``, with its own minimum stage.

    Seed 003: 危化品运输等特种车辆可采用国五及以上排放标准车辆（燃气车辆达到国六排放标准）
    → ``min_stage: cn5`` and ``fuel_min_stage: {natural_gas: cn6a, lpg: cn6a}``.
    """

    category: ExemptionCategory
    scopes: tuple[Scope, ...]
    min_stage: EmissionStage | None = None
    fuel_min_stage: tuple[tuple[FuelType, EmissionStage], ...] = ()
    description: str = ""
    source: str = ""
    confidence: str | None = None

    def required_stage(self, fuel: FuelType | None) -> EmissionStage | None:
        for fuel_type, stage in self.fuel_min_stage:
            if fuel_type is fuel:
                return stage
        return self.min_stage


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicySettings:
    """Policy-wide switches; see docs/policy.md for each one's reason."""

    default_effect: Verdict = Verdict.ALLOW
    unknown_vehicle: Verdict = Verdict.REVIEW
    unreadable_plate: Verdict = Verdict.REVIEW
    invalid_plate: Verdict = Verdict.REVIEW
    low_confidence: Verdict = Verdict.REVIEW
    min_confidence: float = 0.8
    phev_is_clean: bool = True
    trust_nev_plate: bool = True
    unregistered_category: VehicleCategory = VehicleCategory.TRANSPORT
    booking_required_for: tuple[VehicleCategory, ...] = ()
    booking_effect: Verdict = Verdict.REVIEW
    infer_stage: bool = False
    utc_offset_minutes: int = 480


# --- compiled form ------------------------------------------------------------------------

CLEAN_RANK = 100
"""Stage rank given to vehicles that count as new energy: above every real stage."""


class Subject(NamedTuple):
    """The facts a rule is matched against, already reduced to what the filters need.

    A named tuple rather than a frozen dataclass: one is built per decision, on the hot path.
    """

    category: VehicleCategory
    vehicle_class: VehicleClass | None
    heavy_duty: bool | None
    fuel: FuelType | None
    color: PlateColor | None
    stage_rank: int
    direction: Direction
    weekday: int
    moment: time
    day: date


class CompiledRule:
    """A rule with its filters as frozensets and ranks, for a fast ``matches``."""

    __slots__ = (
        "below",
        "classes",
        "colors",
        "dates",
        "directions",
        "effect",
        "fuels",
        "heavy",
        "id",
        "minimum",
        "restrictive",
        "rule",
        "scope",
        "weekdays",
        "windows",
    )

    def __init__(self, rule: Rule, scope: Scope) -> None:
        self.rule = rule
        self.id = rule.id
        self.scope = scope
        self.effect = rule.effect
        self.restrictive = rule.effect is not Verdict.ALLOW
        self.classes = None if rule.vehicle_classes is None else frozenset(rule.vehicle_classes)
        self.heavy = rule.heavy_duty
        self.fuels = None if rule.fuels is None else frozenset(rule.fuels)
        self.colors = None if rule.plate_colors is None else frozenset(rule.plate_colors)
        self.minimum = None if rule.min_stage is None else rule.min_stage.rank
        self.below = None if rule.below_stage is None else rule.below_stage.rank
        self.directions = None if rule.directions is None else frozenset(rule.directions)
        self.weekdays = None if rule.weekdays is None else frozenset(rule.weekdays)
        self.windows = rule.time_windows
        self.dates = rule.date_range

    def matches(self, s: Subject) -> bool:
        """Categories and classes are filtered by the index; the rest is checked here."""
        if self.below is not None and s.stage_rank >= self.below:
            return False
        if self.minimum is not None and s.stage_rank < self.minimum:
            return False
        if self.classes is not None and s.vehicle_class is None and not self.restrictive:
            return False
        if self.heavy is not None:
            if s.heavy_duty is None:
                if not self.restrictive:
                    return False
            elif s.heavy_duty is not self.heavy:
                return False
        if self.fuels is not None:
            if s.fuel is None:
                if not self.restrictive:
                    return False
            elif s.fuel not in self.fuels:
                return False
        if self.colors is not None:
            if s.color is None:
                if not self.restrictive:
                    return False
            elif s.color not in self.colors:
                return False
        if self.directions is not None and s.direction not in self.directions:
            return False
        if self.weekdays is not None and s.weekday not in self.weekdays:
            return False
        if self.dates is not None and not self.dates.contains(s.day):
            return False
        return self.windows is None or any(w.contains(s.moment) for w in self.windows)


IndexKey = tuple[Scope, VehicleCategory, VehicleClass | None]


def _build_index(policy: Policy) -> dict[IndexKey, tuple[CompiledRule, ...]]:
    index: dict[IndexKey, tuple[CompiledRule, ...]] = {}
    for scope in Scope:
        compiled = [CompiledRule(rule, scope) for rule in policy.rule_set(scope).rules]
        for category in VehicleCategory:
            in_category = [
                c for c in compiled if c.rule.categories is None or category in c.rule.categories
            ]
            for vclass in (*VehicleClass, None):
                index[(scope, category, vclass)] = tuple(
                    c
                    for c in in_category
                    if c.classes is None or vclass is None or vclass in c.classes
                )
    return index


# --- the document -------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Policy:
    """A versioned gate policy. Build it with ``from_json``/``from_dict`` or directly."""

    id: str
    version: str
    name: str = ""
    description: str = ""
    source: str = ""
    settings: PolicySettings = PolicySettings()
    baseline: RuleSet = RuleSet()
    yellow: RuleSet = RuleSet()
    orange: RuleSet = RuleSet()
    red: RuleSet = RuleSet()
    exemptions: tuple[Exemption, ...] = ()
    _index: dict[IndexKey, tuple[CompiledRule, ...]] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _exemptions: dict[ExemptionCategory, Exemption] = field(
        init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", _build_index(self))
        object.__setattr__(self, "_exemptions", {e.category: e for e in self.exemptions})

    def rule_set(self, scope: Scope) -> RuleSet:
        if scope is Scope.BASELINE:
            return self.baseline
        if scope is Scope.YELLOW:
            return self.yellow
        if scope is Scope.ORANGE:
            return self.orange
        return self.red

    def rules(self, scope: Scope) -> tuple[Rule, ...]:
        return self.rule_set(scope).rules

    def candidates(
        self, scope: Scope, category: VehicleCategory, vehicle_class: VehicleClass | None
    ) -> tuple[CompiledRule, ...]:
        """The compiled rules of ``scope`` that can apply to this category and class."""
        return self._index[(scope, category, vehicle_class)]

    def exemption(self, category: ExemptionCategory) -> Exemption | None:
        return self._exemptions.get(category)

    def measures(self, level: AlertLevel) -> tuple[str, ...]:
        """What the public board shows for the active level (seed 001 "一厂一策" board)."""
        scope = LEVEL_SCOPE[level]
        return self.baseline.measures if scope is None else self.rule_set(scope).measures

    # serialisation ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "id": self.id,
            "version": self.version,
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "settings": _settings_to_dict(self.settings),
            "baseline": _rule_set_to_dict(self.baseline),
            "levels": {
                scope.value: _rule_set_to_dict(self.rule_set(scope))
                for scope in Scope
                if scope.is_alert
            },
            "exemptions": [_exemption_to_dict(e) for e in self.exemptions],
        }

    def to_json(self) -> str:
        """Canonical JSON (UTF-8 text, Chinese kept readable, two-space indent)."""
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=2) + "\n"

    @classmethod
    def from_dict(cls, data: object) -> Policy:
        """Validate and build; raises :class:`PolicyError` listing every bad field."""
        reader = _Reader()
        policy = reader.policy(data)
        if reader.issues or policy is None:
            raise PolicyError(tuple(reader.issues))
        return policy

    @classmethod
    def from_json(cls, text: str | bytes) -> Policy:
        try:
            data = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise PolicyError((PolicyIssue("$", "bad_json", str(exc)),)) from None
        return cls.from_dict(data)

    @staticmethod
    def validate(data: object) -> list[PolicyIssue]:
        """Every problem in a policy document (empty list: valid)."""
        reader = _Reader()
        reader.policy(data)
        return list(reader.issues)


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    path: str
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.code} ({self.message})"


class PolicyError(ValueError):
    """An invalid policy document; ``issues`` names the path of each bad field."""

    def __init__(self, issues: tuple[PolicyIssue, ...]) -> None:
        self.issues = issues
        super().__init__("; ".join(str(i) for i in issues))


# --- writing -------------------------------------------------------------------------------


def _fmt_time(t: time) -> str:
    return f"{t.hour:02d}:{t.minute:02d}"


def _rule_to_dict(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"id": rule.id, "effect": rule.effect.value}
    if rule.description:
        out["description"] = rule.description
    if rule.source:
        out["source"] = rule.source
    if rule.confidence is not None:
        out["confidence"] = rule.confidence
    for name in ("categories", "vehicle_classes", "fuels", "plate_colors", "directions"):
        values = getattr(rule, name)
        if values is not None:
            out[name] = [v.value for v in values]
    if rule.heavy_duty is not None:
        out["heavy_duty"] = rule.heavy_duty
    if rule.min_stage is not None:
        out["min_stage"] = rule.min_stage.value
    if rule.below_stage is not None:
        out["below_stage"] = rule.below_stage.value
    if rule.weekdays is not None:
        out["weekdays"] = list(rule.weekdays)
    if rule.time_windows is not None:
        out["time_windows"] = [
            {"start": _fmt_time(w.start), "end": _fmt_time(w.end)} for w in rule.time_windows
        ]
    if rule.date_range is not None:
        rng: dict[str, str] = {}
        if rule.date_range.start is not None:
            rng["start"] = rule.date_range.start.isoformat()
        if rule.date_range.end is not None:
            rng["end"] = rule.date_range.end.isoformat()
        out["date_range"] = rng
    return out


def _rule_set_to_dict(rule_set: RuleSet) -> dict[str, Any]:
    return {
        "measures": list(rule_set.measures),
        "rules": [_rule_to_dict(r) for r in rule_set.rules],
    }


def _exemption_to_dict(e: Exemption) -> dict[str, Any]:
    out: dict[str, Any] = {"category": e.category.value, "scopes": [s.value for s in e.scopes]}
    if e.min_stage is not None:
        out["min_stage"] = e.min_stage.value
    if e.fuel_min_stage:
        out["fuel_min_stage"] = {f.value: s.value for f, s in e.fuel_min_stage}
    if e.description:
        out["description"] = e.description
    if e.source:
        out["source"] = e.source
    if e.confidence is not None:
        out["confidence"] = e.confidence
    return out


def _settings_to_dict(s: PolicySettings) -> dict[str, Any]:
    return {
        "default_effect": s.default_effect.value,
        "unknown_vehicle": s.unknown_vehicle.value,
        "unreadable_plate": s.unreadable_plate.value,
        "invalid_plate": s.invalid_plate.value,
        "low_confidence": s.low_confidence.value,
        "min_confidence": s.min_confidence,
        "phev_is_clean": s.phev_is_clean,
        "trust_nev_plate": s.trust_nev_plate,
        "unregistered_category": s.unregistered_category.value,
        "booking_required_for": [c.value for c in s.booking_required_for],
        "booking_effect": s.booking_effect.value,
        "infer_stage": s.infer_stage,
        "utc_offset_minutes": s.utc_offset_minutes,
    }


# --- reading and validation ----------------------------------------------------------------

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")
_RULE_FIELDS = frozenset(
    {
        "id",
        "effect",
        "description",
        "source",
        "confidence",
        "categories",
        "vehicle_classes",
        "heavy_duty",
        "fuels",
        "plate_colors",
        "min_stage",
        "below_stage",
        "directions",
        "weekdays",
        "time_windows",
        "date_range",
    }
)
_POLICY_FIELDS = frozenset(
    {
        "schema",
        "id",
        "version",
        "name",
        "description",
        "source",
        "settings",
        "baseline",
        "levels",
        "exemptions",
    }
)
_EXEMPTION_FIELDS = frozenset(
    {"category", "scopes", "min_stage", "fuel_min_stage", "description", "source", "confidence"}
)


class _Reader:
    """Walks a document once, collecting every issue with its path, building values on the way."""

    def __init__(self) -> None:
        self.issues: list[PolicyIssue] = []

    def fail(self, path: str, code: str, message: str) -> None:
        self.issues.append(PolicyIssue(path, code, message))

    def obj(self, value: object, path: str, allowed: frozenset[str]) -> Mapping[str, Any] | None:
        if not isinstance(value, Mapping):
            self.fail(path, "bad_type", "expected an object")
            return None
        for key in value:
            if key not in allowed:
                self.fail(
                    f"{path}.{key}" if path != "$" else str(key),
                    "unknown_field",
                    "not in the schema",
                )
        return value

    def text(self, value: object, path: str, *, required: bool = False) -> str | None:
        if not isinstance(value, str):
            self.fail(path, "bad_type", "expected a string")
            return None
        if required and not value.strip():
            self.fail(path, "empty", "must not be empty")
            return None
        return value

    def flag(self, value: object, path: str) -> bool | None:
        if not isinstance(value, bool):
            self.fail(path, "bad_type", "expected true or false")
            return None
        return value

    def enum(self, kind: type[E], value: object, path: str) -> E | None:
        if isinstance(value, str):
            try:
                return kind(value)
            except ValueError:
                pass
        allowed = ", ".join(m.value for m in kind)
        self.fail(path, "bad_value", f"expected one of {allowed}")
        return None

    def listing(
        self, value: object, path: str, item: Callable[[object, str], T | None]
    ) -> tuple[T, ...] | None:
        if not isinstance(value, list):
            self.fail(path, "bad_type", "expected a list")
            return None
        if not value:
            self.fail(path, "empty", "an empty list would match nothing; omit the field instead")
            return None
        items: list[T] = []
        ok = True
        for i, raw in enumerate(value):
            got = item(raw, f"{path}[{i}]")
            if got is None:
                ok = False
            else:
                items.append(got)
        if not ok:
            return None
        if len(set(items)) != len(items):
            self.fail(path, "duplicate", "values must be unique")
            return None
        return tuple(items)

    def enum_list(self, kind: type[E], value: object, path: str) -> tuple[E, ...] | None:
        return self.listing(value, path, lambda raw, p: self.enum(kind, raw, p))

    def confidence(self, value: object, path: str) -> str | None:
        if value not in CONFIDENCE_TAGS:
            self.fail(path, "bad_value", f"expected one of {', '.join(CONFIDENCE_TAGS)}")
            return None
        return str(value)

    def clock(self, value: object, path: str) -> time | None:
        if isinstance(value, str) and len(value) == 5 and value[2] == ":":
            hh, mm = value[:2], value[3:]
            digits = hh.isdigit() and mm.isdigit() and hh.isascii() and mm.isascii()
            if digits and int(hh) < 24 and int(mm) < 60:
                return time(int(hh), int(mm))
        self.fail(path, "bad_time", "expected HH:MM (00:00–23:59)")
        return None

    def day(self, value: object, path: str) -> date | None:
        if isinstance(value, str) and len(value) == 10:
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(path, "bad_date", "expected YYYY-MM-DD")
        return None

    def window(self, value: object, path: str) -> TimeWindow | None:
        data = self.obj(value, path, frozenset({"start", "end"}))
        if data is None:
            return None
        if "start" not in data or "end" not in data:
            self.fail(path, "missing", "a time window needs start and end")
            return None
        start = self.clock(data["start"], f"{path}.start")
        end = self.clock(data["end"], f"{path}.end")
        if start is None or end is None:
            return None
        if start == end:
            self.fail(path, "empty", "start equals end")
            return None
        return TimeWindow(start, end)

    def weekday(self, value: object, path: str) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 7:
            self.fail(path, "bad_value", "expected an ISO weekday 1 (Monday) … 7 (Sunday)")
            return None
        return value

    def date_range(self, value: object, path: str) -> DateRange | None:
        data = self.obj(value, path, frozenset({"start", "end"}))
        if data is None:
            return None
        start = self.day(data["start"], f"{path}.start") if "start" in data else None
        end = self.day(data["end"], f"{path}.end") if "end" in data else None
        if ("start" in data and start is None) or ("end" in data and end is None):
            return None
        if start is None and end is None:
            self.fail(path, "empty", "give start, end or both")
            return None
        if start is not None and end is not None and end < start:
            self.fail(path, "bad_range", "end is before start")
            return None
        return DateRange(start, end)

    def rule(self, value: object, path: str) -> Rule | None:
        data = self.obj(value, path, _RULE_FIELDS)
        if data is None:
            return None
        before = len(self.issues)
        if "id" not in data:
            self.fail(f"{path}.id", "missing", "every rule needs an id")
        if "effect" not in data:
            self.fail(f"{path}.effect", "missing", "allow, deny or review")
        rule_id = self.text(data["id"], f"{path}.id", required=True) if "id" in data else None
        effect = self.enum(Verdict, data["effect"], f"{path}.effect") if "effect" in data else None
        kwargs: dict[str, Any] = {}
        for name in ("description", "source"):
            if name in data:
                kwargs[name] = self.text(data[name], f"{path}.{name}")
        if "confidence" in data:
            kwargs["confidence"] = self.confidence(data["confidence"], f"{path}.confidence")
        enum_lists: dict[str, type[StrEnum]] = {
            "categories": VehicleCategory,
            "vehicle_classes": VehicleClass,
            "fuels": FuelType,
            "plate_colors": PlateColor,
            "directions": Direction,
        }
        for name, kind in enum_lists.items():
            if name in data:
                kwargs[name] = self.enum_list(kind, data[name], f"{path}.{name}")
        if "heavy_duty" in data:
            kwargs["heavy_duty"] = self.flag(data["heavy_duty"], f"{path}.heavy_duty")
        for name in ("min_stage", "below_stage"):
            if name in data:
                stage = self.enum(EmissionStage, data[name], f"{path}.{name}")
                if stage is EmissionStage.UNKNOWN:
                    self.fail(
                        f"{path}.{name}", "bad_value", "unknown is not a stage to compare with"
                    )
                kwargs[name] = stage
        if "weekdays" in data:
            kwargs["weekdays"] = self.listing(data["weekdays"], f"{path}.weekdays", self.weekday)
        if "time_windows" in data:
            kwargs["time_windows"] = self.listing(
                data["time_windows"], f"{path}.time_windows", self.window
            )
        if "date_range" in data:
            kwargs["date_range"] = self.date_range(data["date_range"], f"{path}.date_range")
        minimum, below = kwargs.get("min_stage"), kwargs.get("below_stage")
        if (
            isinstance(minimum, EmissionStage)
            and isinstance(below, EmissionStage)
            and below <= minimum
        ):
            self.fail(f"{path}.below_stage", "bad_range", "below_stage must be above min_stage")
        if len(self.issues) != before or rule_id is None or effect is None:
            return None
        return Rule(id=rule_id, effect=effect, **kwargs)

    def rule_set(self, value: object, path: str, seen: dict[str, str]) -> RuleSet | None:
        data = self.obj(value, path, frozenset({"rules", "measures"}))
        if data is None:
            return None
        rules: list[Rule] = []
        measures: tuple[str, ...] = ()
        ok = True
        raw_rules = data.get("rules", [])
        if not isinstance(raw_rules, list):
            self.fail(f"{path}.rules", "bad_type", "expected a list")
            ok = False
        else:
            for i, raw in enumerate(raw_rules):
                rule = self.rule(raw, f"{path}.rules[{i}]")
                if rule is None:
                    ok = False
                    continue
                if rule.id in seen:
                    self.fail(f"{path}.rules[{i}].id", "duplicate", f"also used at {seen[rule.id]}")
                    ok = False
                seen.setdefault(rule.id, f"{path}.rules[{i}]")
                rules.append(rule)
        raw_measures = data.get("measures", [])
        if not isinstance(raw_measures, list) or not all(isinstance(m, str) for m in raw_measures):
            self.fail(f"{path}.measures", "bad_type", "expected a list of strings")
            ok = False
        else:
            measures = tuple(raw_measures)
        return RuleSet(rules=tuple(rules), measures=measures) if ok else None

    def exemption(self, value: object, path: str) -> Exemption | None:
        data = self.obj(value, path, _EXEMPTION_FIELDS)
        if data is None:
            return None
        before = len(self.issues)
        if "category" not in data:
            self.fail(f"{path}.category", "missing", "which exemption category")
        if "scopes" not in data:
            self.fail(f"{path}.scopes", "missing", "baseline, yellow, orange and/or red")
        category = (
            self.enum(ExemptionCategory, data["category"], f"{path}.category")
            if "category" in data
            else None
        )
        scopes = (
            self.enum_list(Scope, data["scopes"], f"{path}.scopes") if "scopes" in data else None
        )
        kwargs: dict[str, Any] = {}
        if "min_stage" in data:
            kwargs["min_stage"] = self.enum(EmissionStage, data["min_stage"], f"{path}.min_stage")
        if "fuel_min_stage" in data:
            raw = data["fuel_min_stage"]
            pairs: list[tuple[FuelType, EmissionStage]] = []
            if not isinstance(raw, Mapping):
                self.fail(f"{path}.fuel_min_stage", "bad_type", "expected an object fuel → stage")
            else:
                for key, stage_raw in raw.items():
                    fuel = self.enum(FuelType, key, f"{path}.fuel_min_stage.{key}")
                    stage = self.enum(EmissionStage, stage_raw, f"{path}.fuel_min_stage.{key}")
                    if fuel is not None and stage is not None:
                        pairs.append((fuel, stage))
            kwargs["fuel_min_stage"] = tuple(pairs)
        for name in ("description", "source"):
            if name in data:
                kwargs[name] = self.text(data[name], f"{path}.{name}")
        if "confidence" in data:
            kwargs["confidence"] = self.confidence(data["confidence"], f"{path}.confidence")
        for name in ("min_stage",):
            if kwargs.get(name) is EmissionStage.UNKNOWN:
                self.fail(f"{path}.{name}", "bad_value", "unknown is not a stage to compare with")
        if len(self.issues) != before or category is None or scopes is None:
            return None
        return Exemption(category=category, scopes=scopes, **kwargs)

    def settings(self, value: object, path: str) -> PolicySettings | None:
        allowed = frozenset(PolicySettings.__dataclass_fields__)
        data = self.obj(value, path, allowed)
        if data is None:
            return None
        before = len(self.issues)
        kwargs: dict[str, Any] = {}
        verdicts = ("default_effect", "booking_effect")
        restricting = ("unknown_vehicle", "unreadable_plate", "invalid_plate", "low_confidence")
        for name in verdicts:
            if name in data:
                kwargs[name] = self.enum(Verdict, data[name], f"{path}.{name}")
        for name in restricting:
            if name in data:
                got = self.enum(Verdict, data[name], f"{path}.{name}")
                if got is Verdict.ALLOW:
                    self.fail(f"{path}.{name}", "bad_value", "expected deny or review")
                kwargs[name] = got
        for name in ("phev_is_clean", "trust_nev_plate", "infer_stage"):
            if name in data:
                kwargs[name] = self.flag(data[name], f"{path}.{name}")
        if "min_confidence" in data:
            raw = data["min_confidence"]
            if (
                isinstance(raw, bool)
                or not isinstance(raw, int | float)
                or not math.isfinite(raw)
                or not 0 <= raw <= 1
            ):
                self.fail(f"{path}.min_confidence", "out_of_range", "expected a number 0 … 1")
            else:
                kwargs["min_confidence"] = float(raw)
        if "unregistered_category" in data:
            kwargs["unregistered_category"] = self.enum(
                VehicleCategory, data["unregistered_category"], f"{path}.unregistered_category"
            )
        if "booking_required_for" in data:
            raw = data["booking_required_for"]
            if raw == []:
                kwargs["booking_required_for"] = ()
            else:
                kwargs["booking_required_for"] = self.enum_list(
                    VehicleCategory, raw, f"{path}.booking_required_for"
                )
        if "utc_offset_minutes" in data:
            raw = data["utc_offset_minutes"]
            if isinstance(raw, bool) or not isinstance(raw, int) or not -720 <= raw <= 840:
                self.fail(f"{path}.utc_offset_minutes", "out_of_range", "expected -720 … 840")
            else:
                kwargs["utc_offset_minutes"] = raw
        if len(self.issues) != before:
            return None
        return PolicySettings(**kwargs)

    def policy(self, value: object) -> Policy | None:
        data = self.obj(value, "$", _POLICY_FIELDS)
        if data is None:
            return None
        if data.get("schema", SCHEMA) != SCHEMA:
            self.fail("schema", "bad_schema", f"this reader understands {SCHEMA}")
        for name in ("id", "version"):
            if name not in data:
                self.fail(name, "missing", "required")
        policy_id = self.text(data["id"], "id", required=True) if "id" in data else None
        version = (
            self.text(data["version"], "version", required=True) if "version" in data else None
        )
        kwargs: dict[str, Any] = {}
        for name in ("name", "description", "source"):
            if name in data:
                kwargs[name] = self.text(data[name], name)
        if "settings" in data:
            kwargs["settings"] = self.settings(data["settings"], "settings")
        seen: dict[str, str] = {}
        if "baseline" in data:
            kwargs["baseline"] = self.rule_set(data["baseline"], "baseline", seen)
        if "levels" in data:
            levels = self.obj(data["levels"], "levels", frozenset({"yellow", "orange", "red"}))
            for name, raw in (levels or {}).items():
                if name in ("yellow", "orange", "red"):
                    kwargs[name] = self.rule_set(raw, f"levels.{name}", seen)
        if "exemptions" in data:
            raw_exemptions = data["exemptions"]
            if not isinstance(raw_exemptions, list):
                self.fail("exemptions", "bad_type", "expected a list")
            else:
                exemptions = [
                    self.exemption(raw, f"exemptions[{i}]") for i, raw in enumerate(raw_exemptions)
                ]
                cats = [e.category for e in exemptions if e is not None]
                if len(set(cats)) != len(cats):
                    self.fail("exemptions", "duplicate", "one entry per exemption category")
                kwargs["exemptions"] = tuple(e for e in exemptions if e is not None)
        if self.issues or policy_id is None or version is None:
            return None
        return Policy(id=policy_id, version=version, **kwargs)
