"""The "一厂一策" plan document: per alert level, what production stops or cuts and which
transport rules apply.

A plan is data like the policy (``docs/plans.md``): ``production`` lists, per alert level, the
production measures in the shapes the city notices use (seed 001, domain.md §2.3) — stop N of M
units of a process, cut a process by a percentage, extend the coking time to H hours, or free
text — each optionally only once the response has lasted longer than some hours ("响应持续超过
120小时"). ``policy`` is the gate :class:`~saas.compliance.policy.Policy` (the transport
measures the edge enforces). ``measures(level)`` is what the public board lists: the production
measures first, then the policy's measure lines for that level.

Plans start from built-in templates per industry and rating (``data/plans/*.json``); see
:func:`template_for`. Pure: the edge renders the board from the same document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import resources
from typing import Any

from saas.compliance.codes import AlertLevel
from saas.compliance.industry import Industry, Rating
from saas.compliance.policy import Policy, PolicyError, PolicyIssue
from saas.compliance.templates import TEMPLATE_NAMES, load_template

SCHEMA = "cleangate.plan/1"
ALERT_LEVELS: tuple[AlertLevel, ...] = (AlertLevel.YELLOW, AlertLevel.ORANGE, AlertLevel.RED)
MAX_TEXT = 200
MAX_MEASURES = 40


class MeasureKind(StrEnum):
    STOP = "stop"  # 停<process>N台（共M台）, or <process>停产 without counts
    LIMIT = "limit"  # <process>限产X%
    EXTEND = "extend"  # <process>出焦时间延长至H小时
    TEXT = "text"  # the text as written


@dataclass(frozen=True, kw_only=True)
class ProductionMeasure:
    kind: MeasureKind
    process: str = ""
    units_stopped: int | None = None
    units_total: int | None = None
    percent: int | None = None
    hours: int | None = None
    after_hours: int | None = None
    text: str = ""

    def display(self) -> str:
        """The line the board and the execution record show (Simplified Chinese)."""
        if self.kind is MeasureKind.STOP:
            if self.units_stopped is not None and self.units_total is not None:
                line = f"停{self.process}{self.units_stopped}台（共{self.units_total}台）"
            else:
                line = f"{self.process}停产"
        elif self.kind is MeasureKind.LIMIT:
            line = f"{self.process}限产{self.percent}%"
        elif self.kind is MeasureKind.EXTEND:
            line = f"{self.process}出焦时间延长至{self.hours}小时"
        else:
            line = self.text
        if self.kind is not MeasureKind.TEXT and self.text:
            line = f"{line}（{self.text}）"
        if self.after_hours is not None:
            line = f"响应持续超过{self.after_hours}小时后，{line}"
        return line

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value}
        for name in ("process", "units_stopped", "units_total", "percent", "hours"):
            value = getattr(self, name)
            if value not in (None, ""):
                out[name] = value
        if self.after_hours is not None:
            out["after_hours"] = self.after_hours
        if self.text:
            out["text"] = self.text
        return out


@dataclass(frozen=True, kw_only=True)
class Plan:
    """A validated plan document. Build it with :meth:`from_dict`."""

    policy: Policy
    production: Mapping[AlertLevel, tuple[ProductionMeasure, ...]] = field(default_factory=dict)

    def production_at(self, level: AlertLevel) -> tuple[ProductionMeasure, ...]:
        return tuple(self.production.get(level, ()))

    def measures(self, level: AlertLevel) -> tuple[str, ...]:
        """Board lines for ``level``: production measures, then the policy's measure lines
        (a line written in both places shows once)."""
        lines = [m.display() for m in self.production_at(level)]
        lines += [line for line in self.policy.measures(level) if line not in lines]
        return tuple(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "production": {
                level.value: [m.to_dict() for m in self.production_at(level)]
                for level in ALERT_LEVELS
            },
            "policy": self.policy.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: object) -> Plan:
        """Validate and build; raises :class:`PolicyError` naming every bad field's path
        (``production.orange[2].percent``, ``policy.levels.red.rules[0].min_stage``)."""
        issues: list[PolicyIssue] = []
        plan = _read_plan(data, issues)
        if issues or plan is None:
            raise PolicyError(tuple(issues))
        return plan

    @staticmethod
    def validate(data: object) -> list[PolicyIssue]:
        issues: list[PolicyIssue] = []
        _read_plan(data, issues)
        return issues


# --- reading ---------------------------------------------------------------------------------

_MEASURE_FIELDS = frozenset(
    {"kind", "process", "units_stopped", "units_total", "percent", "hours", "after_hours", "text"}
)


def _count(
    data: Mapping[str, Any], name: str, path: str, issues: list[PolicyIssue], lo: int, hi: int
) -> int | None:
    if name not in data:
        return None
    value = data[name]
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        issues.append(
            PolicyIssue(f"{path}.{name}", "bad_value", f"expected a whole number {lo}–{hi}")
        )
        return None
    return value


def _string(data: Mapping[str, Any], name: str, path: str, issues: list[PolicyIssue]) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        issues.append(PolicyIssue(f"{path}.{name}", "bad_type", "expected a string"))
        return ""
    if len(value) > MAX_TEXT:
        issues.append(PolicyIssue(f"{path}.{name}", "too_long", f"at most {MAX_TEXT} characters"))
        return ""
    return value.strip()


def _need(ok: bool, path: str, name: str, message: str, issues: list[PolicyIssue]) -> None:
    if not ok:
        issues.append(PolicyIssue(f"{path}.{name}", "missing", message))


def _read_measure(value: object, path: str, issues: list[PolicyIssue]) -> ProductionMeasure | None:
    if not isinstance(value, Mapping):
        issues.append(PolicyIssue(path, "bad_type", "expected an object"))
        return None
    before = len(issues)
    for key in value:
        if key not in _MEASURE_FIELDS:
            issues.append(PolicyIssue(f"{path}.{key}", "unknown_field", "not in the schema"))
    raw_kind = value.get("kind")
    try:
        kind = MeasureKind(raw_kind) if isinstance(raw_kind, str) else None
    except ValueError:
        kind = None
    if kind is None:
        allowed = ", ".join(k.value for k in MeasureKind)
        issues.append(PolicyIssue(f"{path}.kind", "bad_value", f"expected one of {allowed}"))
    process = _string(value, "process", path, issues)
    text = _string(value, "text", path, issues)
    stopped = _count(value, "units_stopped", path, issues, 1, 9999)
    total = _count(value, "units_total", path, issues, 1, 9999)
    percent = _count(value, "percent", path, issues, 1, 100)
    hours = _count(value, "hours", path, issues, 1, 240)
    after = _count(value, "after_hours", path, issues, 1, 720)
    if kind is MeasureKind.TEXT:
        _need(bool(text), path, "text", "a text measure needs its text", issues)
    elif kind is not None:
        _need(bool(process), path, "process", "name the process or equipment", issues)
    if kind is MeasureKind.STOP:
        if (stopped is None) != (total is None) and len(issues) == before:
            issues.append(
                PolicyIssue(path, "missing", "give both units_stopped and units_total, or neither")
            )
        if stopped is not None and total is not None and stopped > total:
            issues.append(
                PolicyIssue(f"{path}.units_stopped", "bad_range", "more units than the total")
            )
    if kind is MeasureKind.LIMIT:
        _need(
            percent is not None or "percent" in value,
            path,
            "percent",
            "a cut needs percent",
            issues,
        )
    if kind is MeasureKind.EXTEND:
        _need(hours is not None or "hours" in value, path, "hours", "give the coking hours", issues)
    if kind is None or len(issues) > before:
        return None
    return ProductionMeasure(
        kind=kind,
        process=process,
        units_stopped=stopped,
        units_total=total,
        percent=percent if kind is MeasureKind.LIMIT else None,
        hours=hours if kind is MeasureKind.EXTEND else None,
        after_hours=after,
        text=text,
    )


def _read_plan(data: object, issues: list[PolicyIssue]) -> Plan | None:
    if not isinstance(data, Mapping):
        issues.append(PolicyIssue("$", "bad_type", "expected an object"))
        return None
    for key in data:
        if key not in ("schema", "production", "policy"):
            issues.append(PolicyIssue(str(key), "unknown_field", "not in the schema"))
    if data.get("schema", SCHEMA) != SCHEMA:
        issues.append(PolicyIssue("schema", "bad_value", f"expected {SCHEMA}"))
    production: dict[AlertLevel, tuple[ProductionMeasure, ...]] = {lv: () for lv in ALERT_LEVELS}
    raw_production = data.get("production", {})
    if not isinstance(raw_production, Mapping):
        issues.append(PolicyIssue("production", "bad_type", "expected an object"))
        raw_production = {}
    for key, raw_list in raw_production.items():
        path = f"production.{key}"
        level = AlertLevel(key) if key in {lv.value for lv in ALERT_LEVELS} else None
        if level is None:
            issues.append(PolicyIssue(path, "bad_value", "expected yellow, orange or red"))
            continue
        if not isinstance(raw_list, list):
            issues.append(PolicyIssue(path, "bad_type", "expected a list"))
            continue
        if len(raw_list) > MAX_MEASURES:
            issues.append(PolicyIssue(path, "too_long", f"at most {MAX_MEASURES} measures"))
            continue
        measures = [_read_measure(item, f"{path}[{i}]", issues) for i, item in enumerate(raw_list)]
        production[level] = tuple(m for m in measures if m is not None)
    policy: Policy | None = None
    if "policy" not in data:
        issues.append(PolicyIssue("policy", "missing", "a plan needs its gate policy"))
    else:
        try:
            policy = Policy.from_dict(data["policy"])
        except PolicyError as exc:
            issues.extend(
                PolicyIssue(f"policy.{i.path}" if i.path != "$" else "policy", i.code, i.message)
                for i in exc.issues
            )
    if policy is None or issues:
        return None
    return Plan(policy=policy, production=production)


# --- templates -------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PlanTemplate:
    id: str
    name: str
    industries: tuple[Industry, ...]  # empty: any industry
    ratings: tuple[Rating, ...]
    source: str
    confidence: str
    plan: Plan


def _load_template(name: str) -> PlanTemplate:
    node = resources.files("saas.compliance").joinpath("data", "plans", f"{name}.json")
    raw = json.loads(node.read_text(encoding="utf-8"))
    policy = load_template(raw["policy_template"]).to_dict()
    for level, lines in (raw.get("transport_measures") or {}).items():
        policy["levels"][level]["measures"] = list(lines)
    plan = Plan.from_dict({"production": raw.get("production", {}), "policy": policy})
    return PlanTemplate(
        id=raw["id"],
        name=raw["name"],
        industries=tuple(Industry(i) for i in raw.get("industries", [])),
        ratings=tuple(Rating(r) for r in raw["ratings"]),
        source=raw["source"],
        confidence=raw["confidence"],
        plan=plan,
    )


PLAN_TEMPLATE_NAMES: tuple[str, ...] = (
    "steel_b",
    "steel_c",
    "coking_b",
    "coking_c",
    "industrial_coating_b",
    "industrial_coating_c",
    "generic_a",
    "generic_b",
    "generic_c",
)
PLAN_TEMPLATES: dict[str, PlanTemplate] = {n: _load_template(n) for n in PLAN_TEMPLATE_NAMES}
assert all(t.plan.policy.id in TEMPLATE_NAMES for t in PLAN_TEMPLATES.values())


def template_for(industry: str, rating: str) -> PlanTemplate:
    """The built-in template a new plan starts from: the first whose industries and ratings
    both match; else the generic one for the rating (A/引领性 → generic_a, B/B- → generic_b,
    anything else → generic_c)."""
    for template in PLAN_TEMPLATES.values():
        if template.industries and industry in template.industries and rating in template.ratings:
            return template
    for template in PLAN_TEMPLATES.values():
        if not template.industries and rating in template.ratings:
            return template
    return PLAN_TEMPLATES["generic_c"]
