from __future__ import annotations

import pytest

from saas.compliance import (
    TEMPLATE_NAMES,
    AlertLevel,
    EmissionStage,
    ExemptionCategory,
    FuelType,
    Policy,
    Scope,
    VehicleClass,
    Verdict,
    load_template,
    template_json,
)


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_template_files_are_canonical_and_round_trip(name: str) -> None:
    text = template_json(name)
    policy = Policy.from_json(text)
    assert policy.to_json() == text
    assert load_template(name) == policy
    assert policy.id == name
    assert policy.version


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_template_and_rule_cites_a_source(name: str) -> None:
    policy = load_template(name)
    assert policy.source
    for scope in Scope:
        for rule in policy.rules(scope):
            assert rule.source, rule.id
            assert rule.confidence, rule.id
    for exemption in policy.exemptions:
        assert exemption.source
        assert exemption.confidence


def test_unknown_template() -> None:
    with pytest.raises(KeyError):
        load_template("nope")
    with pytest.raises(KeyError):
        template_json("../codes")


def test_ordinary_baseline_denies_cn4_heavy_diesel() -> None:
    (rule,) = load_template("ordinary_baseline").rules(Scope.BASELINE)
    assert rule.effect is Verdict.DENY
    assert rule.below_stage is EmissionStage.CN5
    assert rule.fuels == (FuelType.DIESEL,)
    assert rule.heavy_duty is True
    assert set(rule.vehicle_classes or ()) == {VehicleClass.HEAVY_TRUCK, VehicleClass.TRACTOR}


@pytest.mark.parametrize("name", ["b_enterprise", "c_enterprise"])
def test_seed_001_alert_measures(name: str) -> None:
    policy = load_template(name)
    assert policy.rules(Scope.BASELINE) == ()
    for scope in (Scope.YELLOW, Scope.ORANGE, Scope.RED):
        (rule,) = policy.rules(scope)
        assert rule.effect is Verdict.DENY
        assert rule.below_stage is EmissionStage.CN5
        assert rule.fuels is None  # 含燃气: every fuel
        assert "停止使用国四及以下重型载货车辆（含燃气）进行运输" in policy.rule_set(scope).measures
    assert {e.category for e in policy.exemptions} == set(ExemptionCategory)
    assert (
        policy.measures(AlertLevel.ORANGE)[-1] == "停止使用国四及以下重型载货车辆（含燃气）进行运输"
    )


def test_c_red_is_marked_unconfirmed() -> None:
    (rule,) = load_template("c_enterprise").rules(Scope.RED)
    assert rule.confidence == "UNCONFIRMED"


def test_coking_ule_rule() -> None:
    policy = load_template("coking_ule")
    road = policy.rules(Scope.BASELINE)[0]
    assert road.below_stage is EmissionStage.CN6A
    hazardous = policy.exemption(ExemptionCategory.HAZARDOUS)
    assert hazardous is not None
    assert hazardous.required_stage(FuelType.DIESEL) is EmissionStage.CN5
    assert hazardous.required_stage(FuelType.NATURAL_GAS) is EmissionStage.CN6A
    assert hazardous.required_stage(None) is EmissionStage.CN5
    assert policy.exemption(ExemptionCategory.LIVELIHOOD) is None
    assert policy.settings.default_effect is Verdict.ALLOW
