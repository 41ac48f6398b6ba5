from __future__ import annotations

import json
from datetime import date, time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from saas.compliance import (
    POLICY_SCHEMA,
    AlertLevel,
    DateRange,
    Policy,
    PolicyError,
    PolicyIssue,
    Rule,
    RuleSet,
    Scope,
    TimeWindow,
    VehicleCategory,
    VehicleClass,
    Verdict,
)

from .strategies import policies


def minimal(**extra: Any) -> dict[str, Any]:
    return {"schema": POLICY_SCHEMA, "id": "p1", "version": "2024-11-01.1", **extra}


def issues_of(doc: object) -> dict[str, str]:
    return {i.path: i.code for i in Policy.validate(doc)}


def test_minimal_document_gets_documented_defaults() -> None:
    policy = Policy.from_dict(minimal())
    assert policy.settings.default_effect is Verdict.ALLOW
    assert policy.settings.unknown_vehicle is Verdict.REVIEW
    assert policy.settings.min_confidence == 0.8
    assert policy.settings.utc_offset_minutes == 480
    assert policy.baseline == RuleSet()
    assert policy.exemptions == ()


def test_json_round_trip_is_exact_for_a_full_document() -> None:
    doc = minimal(
        name="测试",
        settings={
            "default_effect": "deny",
            "booking_required_for": ["visitor"],
            "min_confidence": 0.9,
        },
        baseline={
            "measures": ["禁止国四及以下柴油货车入园"],
            "rules": [
                {
                    "id": "r1",
                    "effect": "allow",
                    "categories": ["visitor", "internal"],
                    "min_stage": "cn5",
                    "weekdays": [1, 2, 3, 4, 5],
                    "time_windows": [{"start": "22:00", "end": "06:00"}],
                    "date_range": {"start": "2024-11-15", "end": "2025-03-15"},
                }
            ],
        },
        levels={
            "orange": {
                "rules": [{"id": "o1", "effect": "deny", "below_stage": "cn5", "heavy_duty": True}]
            }
        },
        exemptions=[
            {
                "category": "hazardous",
                "scopes": ["orange"],
                "min_stage": "cn5",
                "fuel_min_stage": {"natural_gas": "cn6a"},
            }
        ],
    )
    policy = Policy.from_dict(doc)
    text = policy.to_json()
    again = Policy.from_json(text)
    assert again == policy
    assert again.to_json() == text
    assert json.loads(text)["levels"]["orange"]["rules"][0]["below_stage"] == "cn5"
    rule = policy.baseline.rules[0]
    assert rule.time_windows == (TimeWindow(time(22, 0), time(6, 0)),)
    assert rule.date_range == DateRange(date(2024, 11, 15), date(2025, 3, 15))
    assert rule.categories == (VehicleCategory.VISITOR, VehicleCategory.INTERNAL)


@settings(max_examples=100, deadline=None)
@given(policies())
def test_policy_json_round_trips(policy: Policy) -> None:
    text = policy.to_json()
    again = Policy.from_json(text)
    assert again == policy
    assert again.to_json() == text


def test_validation_names_the_path_of_each_bad_field() -> None:
    doc = minimal(
        settings={"min_confidence": 1.5, "unknown_vehicle": "allow", "colour": "x"},
        baseline={"rules": [{"effect": "deny"}, {"id": "b1", "effect": "block"}]},
        levels={
            "orange": {
                "rules": [
                    {"id": "o0", "effect": "deny"},
                    {"id": "o1", "effect": "deny"},
                    {"id": "o2", "effect": "deny"},
                    {"id": "o3", "effect": "deny", "min_stage": "cn9"},
                ]
            },
            "purple": {"rules": []},
        },
    )
    found = issues_of(doc)
    assert found["levels.orange.rules[3].min_stage"] == "bad_value"
    assert found["settings.min_confidence"] == "out_of_range"
    assert found["settings.unknown_vehicle"] == "bad_value"
    assert found["settings.colour"] == "unknown_field"
    assert found["baseline.rules[0].id"] == "missing"
    assert found["baseline.rules[1].effect"] == "bad_value"
    assert found["levels.purple"] == "unknown_field"
    with pytest.raises(PolicyError) as excinfo:
        Policy.from_dict(doc)
    assert "levels.orange.rules[3].min_stage: bad_value" in str(excinfo.value)
    assert len(excinfo.value.issues) == len(found)


@pytest.mark.parametrize(
    ("rule", "path", "code"),
    [
        ({"id": "r", "effect": "deny", "categories": []}, "categories", "empty"),
        ({"id": "r", "effect": "deny", "categories": "transport"}, "categories", "bad_type"),
        ({"id": "r", "effect": "deny", "categories": ["truck"]}, "categories[0]", "bad_value"),
        ({"id": "r", "effect": "deny", "fuels": ["diesel", "diesel"]}, "fuels", "duplicate"),
        ({"id": "r", "effect": "deny", "heavy_duty": "yes"}, "heavy_duty", "bad_type"),
        ({"id": "r", "effect": "deny", "below_stage": "unknown"}, "below_stage", "bad_value"),
        (
            {"id": "r", "effect": "deny", "min_stage": "cn6a", "below_stage": "cn5"},
            "below_stage",
            "bad_range",
        ),
        ({"id": "r", "effect": "deny", "weekdays": [0]}, "weekdays[0]", "bad_value"),
        ({"id": "r", "effect": "deny", "weekdays": [True]}, "weekdays[0]", "bad_value"),
        (
            {"id": "r", "effect": "deny", "time_windows": [{"start": "25:00", "end": "06:00"}]},
            "time_windows[0].start",
            "bad_time",
        ),
        (
            {"id": "r", "effect": "deny", "time_windows": [{"start": "6:00", "end": "08:00"}]},
            "time_windows[0].start",
            "bad_time",
        ),
        (
            {"id": "r", "effect": "deny", "time_windows": [{"start": "08:00", "end": "08:00"}]},
            "time_windows[0]",
            "empty",
        ),
        (
            {"id": "r", "effect": "deny", "time_windows": [{"start": "08:00"}]},
            "time_windows[0]",
            "missing",
        ),
        (
            {"id": "r", "effect": "deny", "time_windows": ["08:00-09:00"]},
            "time_windows[0]",
            "bad_type",
        ),
        (
            {"id": "r", "effect": "deny", "date_range": {"start": "2024-13-01"}},
            "date_range.start",
            "bad_date",
        ),
        (
            {
                "id": "r",
                "effect": "deny",
                "date_range": {"start": "2025-01-01", "end": "2024-01-01"},
            },
            "date_range",
            "bad_range",
        ),
        ({"id": "r", "effect": "deny", "date_range": {}}, "date_range", "empty"),
        ({"id": "r", "effect": "deny", "date_range": "2024"}, "date_range", "bad_type"),
        ({"id": "r", "effect": "deny", "confidence": "SURE"}, "confidence", "bad_value"),
        ({"id": "r", "effect": "deny", "description": 3}, "description", "bad_type"),
        ({"id": "", "effect": "deny"}, "id", "empty"),
        ({"id": "r", "effect": "deny", "colour": "blue"}, "colour", "unknown_field"),
    ],
)
def test_rule_field_errors(rule: dict[str, Any], path: str, code: str) -> None:
    found = issues_of(minimal(levels={"red": {"rules": [rule]}}))
    assert found == {f"levels.red.rules[0].{path}": code}


@pytest.mark.parametrize(
    ("doc", "path", "code"),
    [
        ([], "$", "bad_type"),
        ({"id": "p"}, "version", "missing"),
        (minimal(schema="cleangate.policy/2"), "schema", "bad_schema"),
        (minimal(version=""), "version", "empty"),
        (minimal(name=1), "name", "bad_type"),
        (minimal(extra=1), "extra", "unknown_field"),
        (minimal(baseline=[]), "baseline", "bad_type"),
        (minimal(baseline={"rules": {}}), "baseline.rules", "bad_type"),
        (minimal(baseline={"measures": [1]}), "baseline.measures", "bad_type"),
        (minimal(levels=[]), "levels", "bad_type"),
        (minimal(exemptions={}), "exemptions", "bad_type"),
        (minimal(exemptions=["hazardous"]), "exemptions[0]", "bad_type"),
        (minimal(baseline={"rules": ["r1"]}), "baseline.rules[0]", "bad_type"),
        (minimal(exemptions=[{"scopes": ["red"]}]), "exemptions[0].category", "missing"),
        (
            minimal(exemptions=[{"category": "vip", "scopes": ["red"]}]),
            "exemptions[0].category",
            "bad_value",
        ),
        (minimal(exemptions=[{"category": "special"}]), "exemptions[0].scopes", "missing"),
        (
            minimal(
                exemptions=[{"category": "special", "scopes": ["red"], "min_stage": "unknown"}]
            ),
            "exemptions[0].min_stage",
            "bad_value",
        ),
        (
            minimal(exemptions=[{"category": "special", "scopes": ["red"], "fuel_min_stage": []}]),
            "exemptions[0].fuel_min_stage",
            "bad_type",
        ),
        (
            minimal(
                exemptions=[
                    {"category": "special", "scopes": ["red"], "fuel_min_stage": {"coal": "cn5"}}
                ]
            ),
            "exemptions[0].fuel_min_stage.coal",
            "bad_value",
        ),
        (
            minimal(
                exemptions=[
                    {"category": "special", "scopes": ["red"], "confidence": "x", "source": 1}
                ]
            ),
            "exemptions[0].confidence",
            "bad_value",
        ),
        (
            minimal(
                exemptions=[
                    {"category": "special", "scopes": ["red"]},
                    {"category": "special", "scopes": ["red"]},
                ]
            ),
            "exemptions",
            "duplicate",
        ),
        (minimal(settings=[]), "settings", "bad_type"),
        (minimal(settings={"min_confidence": True}), "settings.min_confidence", "out_of_range"),
        (
            minimal(settings={"min_confidence": float("nan")}),
            "settings.min_confidence",
            "out_of_range",
        ),
        (
            minimal(settings={"utc_offset_minutes": 900}),
            "settings.utc_offset_minutes",
            "out_of_range",
        ),
        (minimal(settings={"infer_stage": 1}), "settings.infer_stage", "bad_type"),
        (
            minimal(settings={"booking_required_for": ["guest"]}),
            "settings.booking_required_for[0]",
            "bad_value",
        ),
        (
            minimal(settings={"unregistered_category": "truck"}),
            "settings.unregistered_category",
            "bad_value",
        ),
        (minimal(settings={"default_effect": "maybe"}), "settings.default_effect", "bad_value"),
    ],
)
def test_document_errors(doc: object, path: str, code: str) -> None:
    assert issues_of(doc).get(path) == code


def test_duplicate_rule_ids_across_scopes_are_reported() -> None:
    found = issues_of(
        minimal(
            baseline={"rules": [{"id": "x", "effect": "deny"}]},
            levels={"red": {"rules": [{"id": "x", "effect": "deny"}]}},
        )
    )
    assert found == {"levels.red.rules[0].id": "duplicate"}


@pytest.mark.parametrize("text", ["", "{", "not json", b"\xff\xfe"])
def test_bad_json(text: str | bytes) -> None:
    with pytest.raises(PolicyError) as excinfo:
        Policy.from_json(text)
    assert excinfo.value.issues[0].path == "$"
    assert excinfo.value.issues[0].code == "bad_json"


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
    )
)
def test_validation_never_raises_on_arbitrary_json(doc: object) -> None:
    found = Policy.validate(doc)
    assert all(isinstance(i, PolicyIssue) for i in found)


def test_empty_booking_list_is_fine() -> None:
    assert (
        Policy.from_dict(
            minimal(settings={"booking_required_for": []})
        ).settings.booking_required_for
        == ()
    )


def test_time_windows() -> None:
    day = TimeWindow(time(8, 0), time(18, 0))
    assert day.contains(time(8, 0))
    assert not day.contains(time(18, 0))
    night = TimeWindow(time(22, 0), time(6, 0))
    assert night.contains(time(23, 59))
    assert night.contains(time(0, 0))
    assert night.contains(time(5, 59))
    assert not night.contains(time(6, 0))
    assert not night.contains(time(12, 0))


def test_date_range_is_inclusive() -> None:
    rng = DateRange(date(2024, 11, 15), date(2025, 3, 15))
    assert rng.contains(date(2024, 11, 15))
    assert rng.contains(date(2025, 3, 15))
    assert not rng.contains(date(2025, 3, 16))
    assert DateRange(end=date(2025, 12, 31)).contains(date(2000, 1, 1))


def test_index_returns_only_rules_for_the_category_and_class() -> None:
    policy = Policy(
        id="p",
        version="1",
        orange=RuleSet(
            rules=(
                Rule(id="trucks", effect=Verdict.DENY, vehicle_classes=(VehicleClass.HEAVY_TRUCK,)),
                Rule(id="visitors", effect=Verdict.REVIEW, categories=(VehicleCategory.VISITOR,)),
                Rule(id="all", effect=Verdict.ALLOW),
            )
        ),
    )
    ids = lambda cat, cls: [r.id for r in policy.candidates(Scope.ORANGE, cat, cls)]  # noqa: E731
    assert ids(VehicleCategory.TRANSPORT, VehicleClass.HEAVY_TRUCK) == ["trucks", "all"]
    assert ids(VehicleCategory.TRANSPORT, VehicleClass.CAR) == ["all"]
    assert ids(VehicleCategory.VISITOR, VehicleClass.CAR) == ["visitors", "all"]
    assert ids(VehicleCategory.TRANSPORT, None) == [
        "trucks",
        "all",
    ]  # unknown class: matcher decides
    assert policy.candidates(Scope.BASELINE, VehicleCategory.TRANSPORT, None) == ()
    assert policy.rules(Scope.ORANGE)[0].id == "trucks"


def test_measures_per_level() -> None:
    policy = Policy(
        id="p",
        version="1",
        baseline=RuleSet(measures=("平日",)),
        yellow=RuleSet(measures=("黄",)),
        red=RuleSet(measures=("红",)),
    )
    assert policy.measures(AlertLevel.NONE) == ("平日",)
    assert policy.measures(AlertLevel.YELLOW) == ("黄",)
    assert policy.measures(AlertLevel.ORANGE) == ()
    assert policy.measures(AlertLevel.RED) == ("红",)


def test_policy_is_frozen_and_comparable() -> None:
    a = Policy(id="p", version="1")
    b = Policy(id="p", version="1")
    assert a == b
    assert hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.version = "2"  # type: ignore[misc]
    assert Scope.ORANGE.is_alert
    assert not Scope.BASELINE.is_alert


def test_the_example_in_docs_policy_md_is_valid() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "policy.md").read_text(encoding="utf-8")
    block = text.split("```json\n", 1)[1].split("```", 1)[0]
    policy = Policy.from_json(block)
    assert policy.id == "acme-coking"
    assert [r.id for r in policy.orange.rules] == ["o-stop-road"]
