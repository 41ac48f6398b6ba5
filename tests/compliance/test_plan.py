"""The 一厂一策 plan document: measure lines as the board prints them, validation naming every bad
field, templates per industry and rating."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from saas.compliance import AlertLevel, PolicyError, load_template
from saas.compliance.plan import (
    PLAN_TEMPLATES,
    MeasureKind,
    Plan,
    ProductionMeasure,
    template_for,
)


@pytest.mark.parametrize(
    ("measure", "line"),
    [
        (ProductionMeasure(kind=MeasureKind.STOP, process="推台锯", units_stopped=2, units_total=4),
         "停推台锯2台（共4台）"),
        (ProductionMeasure(kind=MeasureKind.STOP, process="烧结机"), "烧结机停产"),
        (ProductionMeasure(kind=MeasureKind.LIMIT, process="涂装生产单元", percent=20),
         "涂装生产单元限产20%"),
        (ProductionMeasure(kind=MeasureKind.EXTEND, process="焦炉", hours=48),
         "焦炉出焦时间延长至48小时"),
        (ProductionMeasure(kind=MeasureKind.TEXT, text="自主减排"), "自主减排"),
        (ProductionMeasure(kind=MeasureKind.LIMIT, process="烧结", percent=50, after_hours=120,
                           text="按产量核算"),
         "响应持续超过120小时后，烧结限产50%（按产量核算）"),
    ],
)  # fmt: skip
def test_measure_lines_read_like_the_city_notices(measure: ProductionMeasure, line: str) -> None:
    assert measure.display() == line


def _doc(**production: list[dict[str, Any]]) -> dict[str, Any]:
    return {"production": production, "policy": load_template("b_enterprise").to_dict()}


def test_a_plan_round_trips_and_lists_production_before_transport() -> None:
    doc = _doc(orange=[{"kind": "stop", "process": "立锯", "units_stopped": 1, "units_total": 1}])
    plan = Plan.from_dict(doc)
    assert Plan.from_dict(plan.to_dict()) == plan
    assert plan.to_dict()["production"]["yellow"] == []
    lines = plan.measures(AlertLevel.ORANGE)
    assert lines[0] == "停立锯1台（共1台）"
    assert lines[1:] == load_template("b_enterprise").measures(AlertLevel.ORANGE)
    assert plan.measures(AlertLevel.NONE) == ()
    assert Plan.validate(doc) == []


def test_a_line_written_in_both_places_shows_once() -> None:
    policy = load_template("b_enterprise")
    line = policy.measures(AlertLevel.RED)[0]
    plan = Plan.from_dict(_doc(red=[{"kind": "text", "text": line}]))
    assert plan.measures(AlertLevel.RED).count(line) == 1


BAD: list[tuple[object, str, str]] = [
    ("not a plan", "$", "bad_type"),
    ({**_doc(), "extra": 1}, "extra", "unknown_field"),
    ({**_doc(), "schema": "x/2"}, "schema", "bad_value"),
    ({"production": {}}, "policy", "missing"),
    ({"production": [], "policy": load_template("b_enterprise").to_dict()}, "production",
     "bad_type"),
    (_doc(purple=[]), "production.purple", "bad_value"),
    ({"production": {"red": "x"}, "policy": load_template("b_enterprise").to_dict()},
     "production.red", "bad_type"),
    (_doc(red=["x"]), "production.red[0]", "bad_type"),
    (_doc(red=[{"kind": "boom"}]), "production.red[0].kind", "bad_value"),
    (_doc(red=[{"kind": "stop", "process": "x", "colour": 1}]), "production.red[0].colour",
     "unknown_field"),
    (_doc(red=[{"kind": "stop"}]), "production.red[0].process", "missing"),
    (_doc(red=[{"kind": "text"}]), "production.red[0].text", "missing"),
    (_doc(red=[{"kind": "text", "text": 5}]), "production.red[0].text", "bad_type"),
    (_doc(red=[{"kind": "text", "text": "长" * 201}]), "production.red[0].text", "too_long"),
    (_doc(red=[{"kind": "stop", "process": "x", "units_stopped": 2}]), "production.red[0]",
     "missing"),
    (_doc(red=[{"kind": "stop", "process": "x", "units_stopped": 3, "units_total": 2}]),
     "production.red[0].units_stopped", "bad_range"),
    (_doc(red=[{"kind": "stop", "process": "x", "units_stopped": True, "units_total": 2}]),
     "production.red[0].units_stopped", "bad_value"),
    (_doc(red=[{"kind": "limit", "process": "x"}]), "production.red[0].percent", "missing"),
    (_doc(red=[{"kind": "limit", "process": "x", "percent": 0}]), "production.red[0].percent",
     "bad_value"),
    (_doc(red=[{"kind": "extend", "process": "焦炉"}]), "production.red[0].hours", "missing"),
    (_doc(red=[{"kind": "text", "text": "x"}] * 41), "production.red", "too_long"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "path", "code"), BAD)
def test_every_bad_field_is_named(doc: object, path: str, code: str) -> None:
    with pytest.raises(PolicyError) as caught:
        Plan.from_dict(doc)
    assert (path, code) in {(i.path, i.code) for i in caught.value.issues}, caught.value.issues
    assert (path, code) in {(i.path, i.code) for i in Plan.validate(doc)}


def test_a_bad_gate_policy_is_reported_under_policy() -> None:
    doc = _doc()
    broken = copy.deepcopy(doc)
    broken["policy"]["levels"]["red"]["rules"][0]["below_stage"] = "cn9"
    paths = {i.path for i in Plan.validate(broken)}
    assert any(p.startswith("policy.levels.red.rules[0]") for p in paths), paths
    assert {i.path for i in Plan.validate({**doc, "policy": 3})} == {"policy"}


@pytest.mark.parametrize(
    ("industry", "rating", "template"),
    [
        ("steel_long", "B", "steel_b"),
        ("steel_short", "C", "steel_c"),
        ("coking", "A", "coking_b"),
        ("coking", "D", "coking_c"),
        ("industrial_coating", "B-", "industrial_coating_b"),
        ("cement", "A", "generic_a"),
        ("cement", "leading", "generic_a"),
        ("glass", "B", "generic_b"),
        ("glass", "unrated", "generic_c"),
        ("nonsense", "Z", "generic_c"),
    ],
)
def test_each_site_starts_from_the_template_for_its_industry_and_rating(
    industry: str, rating: str, template: str
) -> None:
    assert template_for(industry, rating).id == template


def test_every_template_cites_its_source_and_lists_measures_at_every_alert_level() -> None:
    for template in PLAN_TEMPLATES.values():
        assert template.source
        assert template.confidence in {"CONFIRMED", "IMPL"}
        for level in (AlertLevel.YELLOW, AlertLevel.ORANGE, AlertLevel.RED):
            assert template.plan.measures(level), (template.id, level)
    # seed 001: the C-rated coating enterprise's orange measures, word for word
    orange = PLAN_TEMPLATES["industrial_coating_c"].plan.measures(AlertLevel.ORANGE)
    assert orange[0].startswith("使用溶剂型原辅材料的喷漆、流平、烘干等涂装生产单元限产60%")
    assert orange[1] == "停止使用国四及以下重型载货车辆（含燃气）进行运输"
