from __future__ import annotations

import dataclasses
import math
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import event as hypothesis_event
from hypothesis import given, settings
from hypothesis import strategies as st

from saas.compliance import (
    REASON_CODES,
    AlertLevel,
    Booking,
    DateRange,
    Decision,
    DecisionContext,
    Direction,
    EmissionStage,
    ExemptionCategory,
    FuelType,
    GateEvent,
    PlateColor,
    Policy,
    PolicySettings,
    Rule,
    RuleSet,
    Scope,
    TimeWindow,
    VehicleCategory,
    VehicleClass,
    VehicleFacts,
    VehicleType,
    Verdict,
    decide,
    load_template,
    parse_plate,
)

from .strategies import policies

NOON = datetime(2024, 12, 12, 12, 0)  # a Thursday; seed 001 board: 2020-12-12 orange alert
TRUCK_CN4 = VehicleFacts(
    vehicle_type=VehicleType.Q11, fuel=FuelType.DIESEL, stage=EmissionStage.CN4
)
TRUCK_CN5 = VehicleFacts(
    vehicle_type=VehicleType.Q11, fuel=FuelType.DIESEL, stage=EmissionStage.CN5
)
TRUCK_CN6 = VehicleFacts(
    vehicle_type=VehicleType.H11, fuel=FuelType.DIESEL, stage=EmissionStage.CN6A
)


def run(
    policy: Policy | str,
    facts: VehicleFacts | None,
    *,
    plate: str = "津A12345",
    color: str | None = "黄",
    level: AlertLevel = AlertLevel.NONE,
    at: datetime = NOON,
    direction: Direction = Direction.IN,
    confidence: float = 0.95,
) -> Decision:
    if isinstance(policy, str):
        policy = load_template(policy)
    event = GateEvent(
        plate_text=plate, color=color, confidence=confidence, direction=direction, time=at, lane="1"
    )
    return decide(event, facts, DecisionContext(policy=policy, alert_level=level, time=at))


# --- seed 001 board --------------------------------------------------------------------------


def test_seed_001_board_allow() -> None:
    d = run("b_enterprise", TRUCK_CN5, plate="津A54321", level=AlertLevel.ORANGE)
    assert d.verdict is Verdict.ALLOW
    assert d.display == ("津A54321", "国五", "符合标准", "准许进入")
    assert d.board_text == "符合标准 准许进入"
    assert d.reasons == ()
    assert d.matched_rules == ()
    assert not d.violation


def test_seed_001_board_deny() -> None:
    d = run("b_enterprise", TRUCK_CN4, plate="津A12345", level=AlertLevel.ORANGE)
    assert d.verdict is Verdict.DENY
    assert d.display == ("津A12345", "国四", "不符合国V及以上标准", "禁止进入")
    assert d.board_text == "不符合国V及以上标准 禁止进入"
    assert d.reasons == ("alert_restriction", "stage_below_minimum")
    assert d.matched_rules == ("b-orange-heavy-cn4",)
    assert d.policy_id == "b_enterprise"
    assert d.policy_version == "1"
    assert d.alert_level is AlertLevel.ORANGE
    assert d.violation


@pytest.mark.parametrize("level", [AlertLevel.YELLOW, AlertLevel.ORANGE, AlertLevel.RED])
@pytest.mark.parametrize("name", ["b_enterprise", "c_enterprise"])
def test_b_and_c_stop_cn4_heavy_trucks_at_every_alert(name: str, level: AlertLevel) -> None:
    assert run(name, TRUCK_CN4, level=level).verdict is Verdict.DENY
    assert run(name, TRUCK_CN5, level=level).verdict is Verdict.ALLOW
    assert run(name, TRUCK_CN4, level=AlertLevel.NONE).verdict is Verdict.ALLOW


def test_alert_rules_include_gas_trucks_but_not_new_energy_or_light_trucks() -> None:
    gas = dataclasses.replace(TRUCK_CN4, fuel=FuelType.NATURAL_GAS)
    assert run("b_enterprise", gas, level=AlertLevel.ORANGE).verdict is Verdict.DENY
    ev = VehicleFacts(vehicle_type=VehicleType.Q11, fuel=FuelType.ELECTRIC)
    d = run("b_enterprise", ev, plate="粤B12345D", color="黄绿", level=AlertLevel.RED)
    assert d.verdict is Verdict.ALLOW
    assert d.display[1] == "新能源"
    assert d.stage is None
    light = VehicleFacts(
        vehicle_type=VehicleType.H31, fuel=FuelType.DIESEL, stage=EmissionStage.CN3
    )
    assert run("b_enterprise", light, color="蓝", level=AlertLevel.RED).verdict is Verdict.ALLOW


def test_unknown_stage_never_meets_the_minimum() -> None:
    unknown = VehicleFacts(vehicle_type=VehicleType.Q11, fuel=FuelType.DIESEL)
    d = run("b_enterprise", unknown, level=AlertLevel.YELLOW)
    assert d.verdict is Verdict.DENY
    assert d.display[1] == "未知"


def test_unknown_vehicle_type_fails_closed_for_deny_rules() -> None:
    facts = VehicleFacts(fuel=FuelType.DIESEL, stage=EmissionStage.CN4)
    assert run("b_enterprise", facts, level=AlertLevel.ORANGE).verdict is Verdict.DENY


# --- ordinary baseline -------------------------------------------------------------------------


def test_ordinary_baseline() -> None:
    d = run("ordinary_baseline", TRUCK_CN4)
    assert d.verdict is Verdict.DENY
    assert d.reasons == (
        "baseline_restriction",
        "stage_below_minimum",
    )
    assert run("ordinary_baseline", TRUCK_CN5).verdict is Verdict.ALLOW
    gas = dataclasses.replace(TRUCK_CN4, fuel=FuelType.NATURAL_GAS)
    assert run("ordinary_baseline", gas).verdict is Verdict.ALLOW  # the baseline names diesel only
    medium = VehicleFacts(
        vehicle_type=VehicleType.H21, fuel=FuelType.DIESEL, stage=EmissionStage.CN4
    )
    assert run("ordinary_baseline", medium).verdict is Verdict.ALLOW
    # Baseline rules stay in force during an alert (the policy has no level rules of its own).
    assert run("ordinary_baseline", TRUCK_CN4, level=AlertLevel.RED).verdict is Verdict.DENY


# --- lists and exemptions ----------------------------------------------------------------------


def test_blacklist_always_denies_entry() -> None:
    for facts in (
        dataclasses.replace(TRUCK_CN6, blacklisted=True),
        dataclasses.replace(TRUCK_CN6, blacklisted=True, whitelisted=True),
        dataclasses.replace(TRUCK_CN6, blacklisted=True, exemption=ExemptionCategory.LIVELIHOOD),
        VehicleFacts(fuel=FuelType.ELECTRIC, blacklisted=True),
    ):
        d = run("b_enterprise", facts)
        assert d.verdict is Verdict.DENY
        assert d.reasons[0] == "blacklisted"
        assert d.display[2] == "黑名单车辆"


def test_whitelist_skips_the_baseline_but_not_an_alert_restriction() -> None:
    listed = dataclasses.replace(TRUCK_CN4, whitelisted=True)
    d = run("ordinary_baseline", listed)
    assert d.verdict is Verdict.ALLOW
    assert d.reasons == ("whitelisted",)
    d = run("b_enterprise", listed, level=AlertLevel.ORANGE)
    assert d.verdict is Verdict.DENY
    assert "alert_restriction" in d.reasons


def test_exemption_category_skips_the_alert_restriction() -> None:
    for category in ExemptionCategory:
        facts = dataclasses.replace(TRUCK_CN4, exemption=category)
        d = run("b_enterprise", facts, level=AlertLevel.RED)
        assert d.verdict is Verdict.ALLOW
        assert d.reasons == ("exemption_applied",)
    whitelisted_exempt = dataclasses.replace(
        TRUCK_CN4, exemption=ExemptionCategory.LIVELIHOOD, whitelisted=True
    )
    assert run("b_enterprise", whitelisted_exempt, level=AlertLevel.RED).verdict is Verdict.ALLOW


def test_exemption_not_honoured_by_the_policy_changes_nothing() -> None:
    facts = dataclasses.replace(TRUCK_CN4, exemption=ExemptionCategory.LIVELIHOOD)
    d = run("coking_ule", facts)
    assert d.verdict is Verdict.DENY
    assert "exemption_applied" not in d.reasons


# --- coking ULE (seed 003) ---------------------------------------------------------------------


def test_coking_ule_road_transport_needs_cn6_or_new_energy() -> None:
    d = run("coking_ule", TRUCK_CN5)
    assert d.verdict is Verdict.DENY
    assert d.board_text == "不符合国VI及以上标准 禁止进入"
    assert run("coking_ule", TRUCK_CN6).verdict is Verdict.ALLOW
    assert run("coking_ule", TRUCK_CN6).display[1] == "国六"
    fc = VehicleFacts(vehicle_type=VehicleType.Q11, fuel=FuelType.FUEL_CELL)
    assert run("coking_ule", fc, plate="粤B12345F").verdict is Verdict.ALLOW


def test_coking_ule_hazardous_goods_need_cn5_and_gas_cn6() -> None:
    hazardous = dataclasses.replace(TRUCK_CN5, exemption=ExemptionCategory.HAZARDOUS)
    d = run("coking_ule", hazardous)
    assert d.verdict is Verdict.ALLOW
    assert d.reasons == ("exemption_applied",)
    gas = dataclasses.replace(hazardous, fuel=FuelType.NATURAL_GAS)
    d = run("coking_ule", gas)
    assert d.verdict is Verdict.DENY
    assert d.reasons == ("exemption_stage_below_minimum", "stage_below_minimum")
    assert d.display[2] == "不符合国VI及以上标准"
    old = dataclasses.replace(hazardous, stage=EmissionStage.CN4)
    assert run("coking_ule", old).board_text == "不符合国V及以上标准 禁止进入"


def test_coking_ule_in_plant_vehicles_switch_to_new_energy_in_2026() -> None:
    in_plant = dataclasses.replace(TRUCK_CN6, category=VehicleCategory.IN_PLANT)
    assert run("coking_ule", in_plant, at=datetime(2025, 12, 31, 23, 0)).verdict is Verdict.ALLOW
    d = run("coking_ule", in_plant, at=datetime(2026, 1, 1, 8, 0))
    assert d.verdict is Verdict.DENY
    assert d.matched_rules == ("ule-in-plant-nev-from-2026",)
    ev = VehicleFacts(
        vehicle_type=VehicleType.H11, fuel=FuelType.ELECTRIC, category=VehicleCategory.IN_PLANT
    )
    assert run("coking_ule", ev, at=datetime(2026, 1, 1, 8, 0)).verdict is Verdict.ALLOW
    no_fuel = VehicleFacts(
        vehicle_type=VehicleType.H11, category=VehicleCategory.IN_PLANT, stage=EmissionStage.CN6B
    )
    assert run("coking_ule", no_fuel, at=datetime(2026, 1, 1, 8, 0)).verdict is Verdict.DENY


def test_plug_in_hybrid_counts_as_new_energy_unless_the_policy_says_otherwise() -> None:
    phev = VehicleFacts(
        vehicle_type=VehicleType.Q11, fuel=FuelType.PLUG_IN_HYBRID, stage=EmissionStage.CN5
    )
    assert run("coking_ule", phev).verdict is Verdict.ALLOW
    strict = dataclasses.replace(
        load_template("coking_ule"), settings=PolicySettings(phev_is_clean=False)
    )
    d = run(strict, phev)
    assert d.verdict is Verdict.DENY
    assert d.display[1] == "国五"


# --- exits ---------------------------------------------------------------------------------------


def test_exit_is_always_allowed_but_the_violation_is_reported() -> None:
    d = run("b_enterprise", TRUCK_CN4, level=AlertLevel.ORANGE, direction=Direction.OUT)
    assert d.verdict is Verdict.ALLOW
    assert d.violation
    assert d.reasons[-1] == "exit_violation"
    assert "alert_restriction" in d.reasons
    assert d.display == ("津A12345", "国四", "违规已记录", "准许离开")
    black = run(
        "b_enterprise", dataclasses.replace(TRUCK_CN6, blacklisted=True), direction=Direction.OUT
    )
    assert black.verdict is Verdict.ALLOW
    assert black.violation
    clean = run("b_enterprise", TRUCK_CN6, direction=Direction.OUT)
    assert clean.display[2:] == ("符合标准", "准许离开")
    assert not clean.violation
    unknown = run("b_enterprise", None, plate="", direction=Direction.OUT)
    assert unknown.verdict is Verdict.ALLOW
    assert not unknown.violation


# --- unknown, unreadable, low confidence --------------------------------------------------------


def test_unregistered_vehicle_follows_the_policy() -> None:
    d = run("b_enterprise", None)
    assert d.verdict is Verdict.REVIEW
    assert d.reasons == ("unregistered_vehicle",)
    assert d.display == ("津A12345", "未知", "未登记车辆", "人工核验")
    deny = dataclasses.replace(
        load_template("b_enterprise"), settings=PolicySettings(unknown_vehicle=Verdict.DENY)
    )
    assert run(deny, None).verdict is Verdict.DENY


def test_unregistered_new_energy_plate_is_treated_as_new_energy() -> None:
    d = run("coking_ule", None, plate="京AD12345", color="渐变绿")
    assert d.verdict is Verdict.ALLOW
    assert d.reasons == ("unregistered_vehicle", "new_energy_plate")
    assert d.display[1] == "新能源"
    # F (non-BEV) is a plug-in hybrid unless the policy does not count those as clean.
    assert run("coking_ule", None, plate="冀B12345F").verdict is Verdict.ALLOW
    strict = dataclasses.replace(
        load_template("coking_ule"), settings=PolicySettings(phev_is_clean=False)
    )
    assert run(strict, None, plate="冀B12345F").verdict is Verdict.DENY
    distrust = dataclasses.replace(
        load_template("coking_ule"), settings=PolicySettings(trust_nev_plate=False)
    )
    assert run(distrust, None, plate="京AD12345").verdict is Verdict.REVIEW


def test_registered_vehicle_without_fuel_takes_it_from_the_nev_plate() -> None:
    facts = VehicleFacts(vehicle_type=VehicleType.Q11)
    assert run("coking_ule", facts, plate="粤B12345D").verdict is Verdict.ALLOW


@pytest.mark.parametrize("text", ["", "_无_", "无牌车"])
def test_unreadable_plate(text: str) -> None:
    d = run("b_enterprise", None, plate=text, color=None)
    assert d.verdict is Verdict.REVIEW
    assert d.reasons[0] == "plate_unreadable"
    assert d.display[0] == "无牌车"
    assert d.display[2] == "未识别车牌"
    deny = dataclasses.replace(
        load_template("b_enterprise"), settings=PolicySettings(unreadable_plate=Verdict.DENY)
    )
    assert run(deny, None, plate=text).verdict is Verdict.DENY


def test_invalid_plate_is_held_even_when_the_registry_knows_it() -> None:
    d = run("b_enterprise", TRUCK_CN6, plate="津A1234O")
    assert d.verdict is Verdict.REVIEW
    assert d.reasons == ("plate_invalid",)
    assert d.display[2] == "车牌无效"
    # ... and a deny rule still denies.
    assert (
        run("b_enterprise", TRUCK_CN4, plate="津A1234O", level=AlertLevel.RED).verdict
        is Verdict.DENY
    )


@pytest.mark.parametrize("confidence", [0.5, 0.79, math.nan])
def test_low_confidence(confidence: float) -> None:
    d = run("b_enterprise", TRUCK_CN6, confidence=confidence)
    assert d.verdict is Verdict.REVIEW
    assert d.reasons == ("low_confidence",)
    assert d.display[2] == "车牌待核验"


def test_confidence_at_threshold_passes() -> None:
    assert run("b_enterprise", TRUCK_CN6, confidence=0.8).verdict is Verdict.ALLOW


# --- rule dimensions ----------------------------------------------------------------------------


def policy_with(*rules: Rule, level: str = "orange", **settings_kw: object) -> Policy:
    return Policy(
        id="t",
        version="7",
        settings=PolicySettings(**settings_kw),  # type: ignore[arg-type]
        **{level: RuleSet(rules=rules)},  # type: ignore[arg-type]
    )


def test_time_window_and_weekday() -> None:
    night = Rule(
        id="night",
        effect=Verdict.DENY,
        time_windows=(TimeWindow(time(22, 0), time(6, 0)),),
        weekdays=(1, 2, 3, 4, 5),
    )
    policy = policy_with(night, level="baseline")
    thursday_night = datetime(2024, 12, 12, 23, 30)
    assert run(policy, TRUCK_CN6, at=thursday_night).verdict is Verdict.DENY
    assert run(policy, TRUCK_CN6, at=datetime(2024, 12, 12, 12, 0)).verdict is Verdict.ALLOW
    assert (
        run(policy, TRUCK_CN6, at=datetime(2024, 12, 14, 23, 30)).verdict is Verdict.ALLOW
    )  # Saturday


def test_aware_times_are_read_in_the_policy_offset() -> None:
    night = Rule(
        id="night", effect=Verdict.DENY, time_windows=(TimeWindow(time(22, 0), time(6, 0)),)
    )
    policy = policy_with(night, level="baseline")
    utc_afternoon = datetime(2024, 12, 12, 15, 0, tzinfo=UTC)  # 23:00 in Beijing
    assert run(policy, TRUCK_CN6, at=utc_afternoon).verdict is Verdict.DENY
    assert run(policy, TRUCK_CN6, at=utc_afternoon.replace(hour=4)).verdict is Verdict.ALLOW


def test_date_range_and_direction() -> None:
    winter = Rule(
        id="winter",
        effect=Verdict.DENY,
        directions=(Direction.IN,),
        date_range=DateRange(date(2024, 11, 15), date(2025, 3, 15)),
    )
    policy = policy_with(winter, level="baseline")
    assert run(policy, TRUCK_CN6, at=datetime(2024, 12, 1, 9)).verdict is Verdict.DENY
    assert run(policy, TRUCK_CN6, at=datetime(2025, 4, 1, 9)).verdict is Verdict.ALLOW
    out = run(policy, TRUCK_CN6, at=datetime(2024, 12, 1, 9), direction=Direction.OUT)
    assert out.matched_rules == ()
    assert not out.violation


def test_plate_colour_filter_and_unknown_colour() -> None:
    yellow_only = Rule(id="y", effect=Verdict.DENY, plate_colors=(PlateColor.YELLOW,))
    policy = policy_with(yellow_only, level="baseline")
    assert run(policy, TRUCK_CN6, color="黄").verdict is Verdict.DENY
    assert run(policy, TRUCK_CN6, color="蓝").verdict is Verdict.ALLOW
    assert run(policy, TRUCK_CN6, color=None).verdict is Verdict.DENY  # unknown colour fails closed


def test_board_phrase_names_the_strictest_failed_minimum() -> None:
    for order in ((EmissionStage.CN6A, EmissionStage.CN5), (EmissionStage.CN5, EmissionStage.CN6A)):
        rules = tuple(
            Rule(id=f"below-{s.value}", effect=Verdict.DENY, below_stage=s) for s in order
        )
        d = run(policy_with(*rules, level="red"), TRUCK_CN4, level=AlertLevel.RED)
        assert d.board_text == "不符合国VI及以上标准 禁止进入"
        assert d.matched_rules == tuple(r.id for r in rules)


def test_review_rule() -> None:
    policy = policy_with(
        Rule(id="check-visitors", effect=Verdict.REVIEW, categories=(VehicleCategory.VISITOR,))
    )
    visitor = dataclasses.replace(TRUCK_CN6, category=VehicleCategory.VISITOR)
    d = run(policy, visitor, level=AlertLevel.ORANGE)
    assert d.verdict is Verdict.REVIEW
    assert d.reasons == ("review_rule",)
    assert d.display[2] == "需人工核验"
    assert d.matched_rules == ("check-visitors",)
    assert run(policy, TRUCK_CN6, level=AlertLevel.ORANGE).verdict is Verdict.ALLOW


def test_default_deny_with_allow_rules_and_unknown_facts() -> None:
    allow_cn6 = Rule(
        id="allow-cn6",
        effect=Verdict.ALLOW,
        vehicle_classes=(VehicleClass.HEAVY_TRUCK,),
        fuels=(FuelType.DIESEL,),
        heavy_duty=True,
        min_stage=EmissionStage.CN6A,
    )
    policy = policy_with(allow_cn6, level="baseline", default_effect=Verdict.DENY)
    assert run(policy, TRUCK_CN6).verdict is Verdict.ALLOW
    d = run(policy, TRUCK_CN5)
    assert d.verdict is Verdict.DENY
    assert d.reasons == ("no_matching_rule",)
    assert d.display[2] == "未获准入"
    # Unknown type or fuel never satisfies an allow rule.
    assert run(policy, dataclasses.replace(TRUCK_CN6, vehicle_type=None)).verdict is Verdict.DENY
    assert run(policy, dataclasses.replace(TRUCK_CN6, fuel=None)).verdict is Verdict.DENY
    light = VehicleFacts(
        vehicle_type=VehicleType.H31, fuel=FuelType.DIESEL, stage=EmissionStage.CN6A
    )
    assert run(policy, light).verdict is Verdict.DENY
    review = policy_with(allow_cn6, level="baseline", default_effect=Verdict.REVIEW)
    assert run(review, TRUCK_CN5).verdict is Verdict.REVIEW


def test_heavy_duty_filter_unknown_type() -> None:
    only_heavy = Rule(id="h", effect=Verdict.DENY, heavy_duty=True)
    not_heavy = Rule(id="nh", effect=Verdict.ALLOW, heavy_duty=False)
    policy = policy_with(only_heavy, not_heavy, level="baseline", default_effect=Verdict.REVIEW)
    assert run(policy, VehicleFacts(vehicle_type=VehicleType.H31)).verdict is Verdict.ALLOW
    assert run(policy, VehicleFacts()).verdict is Verdict.DENY


def test_booking() -> None:
    policy = policy_with(level="baseline", booking_required_for=(VehicleCategory.VISITOR,))
    booked = VehicleFacts(
        category=VehicleCategory.VISITOR,
        bookings=(Booking(NOON - timedelta(hours=1), NOON + timedelta(hours=1)),),
    )
    assert run(policy, booked, color="蓝").verdict is Verdict.ALLOW
    late = run(policy, booked, color="蓝", at=NOON + timedelta(hours=2))
    assert late.verdict is Verdict.REVIEW
    assert late.reasons == ("outside_booking",)
    assert late.display[2] == "未预约"
    aware = VehicleFacts(
        category=VehicleCategory.VISITOR,
        bookings=(
            Booking(
                datetime(2024, 12, 12, 3, 0, tzinfo=UTC), datetime(2024, 12, 12, 5, 0, tzinfo=UTC)
            ),
        ),
    )
    assert run(policy, aware, color="蓝").verdict is Verdict.ALLOW  # 11:00–13:00 Beijing
    listed = dataclasses.replace(booked, bookings=(), whitelisted=True)
    assert run(policy, listed, color="蓝").verdict is Verdict.ALLOW
    assert run(policy, TRUCK_CN6).verdict is Verdict.ALLOW  # transport needs no booking here


def test_stage_inference_when_the_policy_asks_for_it() -> None:
    facts = VehicleFacts(
        vehicle_type=VehicleType.Q11, fuel=FuelType.DIESEL, registration_date=date(2024, 3, 1)
    )
    plain = load_template("coking_ule")
    assert run(plain, facts).verdict is Verdict.DENY
    inferring = dataclasses.replace(plain, settings=PolicySettings(infer_stage=True))
    d = run(inferring, facts)
    assert d.verdict is Verdict.ALLOW
    assert d.reasons == ("stage_inferred",)
    assert d.display[1] == "国六"
    old = dataclasses.replace(facts, registration_date=date(2015, 1, 1))
    assert run(inferring, old).board_text == "不符合国VI及以上标准 禁止进入"
    undated = dataclasses.replace(facts, registration_date=None)
    assert "stage_inferred" not in run(inferring, undated).reasons


def test_display_fits_an_led() -> None:
    d = run("b_enterprise", TRUCK_CN4, plate="津A12345678901234", level=AlertLevel.RED)
    assert len(d.display) <= 4
    assert all(len(line) <= 12 for line in d.display)


def test_reason_codes_are_all_documented() -> None:
    assert len(set(REASON_CODES)) == len(REASON_CODES)


# --- properties ----------------------------------------------------------------------------------

facts_strategy = st.builds(
    VehicleFacts,
    vehicle_type=st.one_of(st.none(), st.sampled_from(list(VehicleType))),
    fuel=st.one_of(st.none(), st.sampled_from(list(FuelType))),
    stage=st.one_of(st.none(), st.sampled_from(list(EmissionStage))),
    registration_date=st.one_of(
        st.none(), st.dates(min_value=date(1995, 1, 1), max_value=date(2030, 1, 1))
    ),
    category=st.sampled_from(list(VehicleCategory)),
    exemption=st.one_of(st.none(), st.sampled_from(list(ExemptionCategory))),
    blacklisted=st.booleans(),
    whitelisted=st.booleans(),
)
plates = st.one_of(
    st.sampled_from(
        ["津A12345", "京AD12345", "冀B12345F", "冀B1234挂", "", "_无_", "津A1234O", "使014578"]
    ),
    st.text(max_size=10),
)
colors = st.one_of(st.none(), st.sampled_from(["蓝", "黄", "绿", "黄绿", "白", "黑", "紫"]))
moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31))
events = st.builds(
    GateEvent,
    plate_text=plates,
    time=moments,
    color=colors,
    confidence=st.floats(0, 1),
    direction=st.sampled_from(list(Direction)),
    lane=st.text(max_size=3),
)


@settings(max_examples=100, deadline=None)
@given(events, st.one_of(st.none(), facts_strategy), policies(), st.sampled_from(list(AlertLevel)))
def test_decide_is_deterministic(
    event: GateEvent, facts: VehicleFacts | None, policy: Policy, level: AlertLevel
) -> None:
    ctx = DecisionContext(policy=policy, alert_level=level, time=event.time)
    first = decide(event, facts, ctx)
    again = decide(
        event,
        facts,
        DecisionContext(
            policy=Policy.from_json(policy.to_json()), alert_level=level, time=event.time
        ),
    )
    assert first == again
    assert set(first.reasons) <= set(REASON_CODES)
    assert 1 <= len(first.display) <= 4
    if event.direction is Direction.OUT:
        assert first.verdict is Verdict.ALLOW
    elif facts is not None and facts.blacklisted:
        assert first.verdict is Verdict.DENY


def _oracle_matches(rule: Rule, facts: VehicleFacts, event: GateEvent, policy: Policy) -> bool:
    """The documented matching semantics, written out plainly (docs/policy.md)."""
    restrictive = rule.effect is not Verdict.ALLOW
    plate = parse_plate(event.plate_text, event.color)
    fuel = facts.fuel if facts.fuel is not None else (plate.energy.fuel if plate.energy else None)
    clean = fuel in (FuelType.ELECTRIC, FuelType.FUEL_CELL) or (
        fuel is FuelType.PLUG_IN_HYBRID and policy.settings.phev_is_clean
    )
    stage = facts.stage or EmissionStage.UNKNOWN

    def reaches(minimum: EmissionStage) -> bool:
        return clean or stage.meets(minimum)

    def known_in(value: object, allowed: tuple[object, ...] | None) -> bool:
        if allowed is None:
            return True
        if value is None:
            return restrictive
        return value in allowed

    vt = facts.vehicle_type
    at = event.time
    return (
        (rule.categories is None or facts.category in rule.categories)
        and known_in(None if vt is None else vt.vehicle_class, rule.vehicle_classes)
        and (
            rule.heavy_duty is None
            or (restrictive if vt is None else vt.heavy_duty == rule.heavy_duty)
        )
        and known_in(fuel, rule.fuels)
        and known_in(plate.color, rule.plate_colors)
        and (rule.min_stage is None or reaches(rule.min_stage))
        and (rule.below_stage is None or not reaches(rule.below_stage))
        and (rule.directions is None or event.direction in rule.directions)
        and (rule.weekdays is None or at.isoweekday() in rule.weekdays)
        and (rule.date_range is None or rule.date_range.contains(at.date()))
        and (rule.time_windows is None or any(w.contains(at.time()) for w in rule.time_windows))
    )


@settings(max_examples=200, deadline=None)
@given(
    st.builds(
        GateEvent,
        plate_text=plates,
        time=moments,
        color=colors,
        confidence=st.floats(0, 1),
        direction=st.just(Direction.IN),
    ),
    facts_strategy,
    policies(with_exemptions=False, sparse=True),
    st.sampled_from([AlertLevel.YELLOW, AlertLevel.ORANGE, AlertLevel.RED]),
)
def test_never_allows_an_entry_a_deny_rule_of_the_active_level_matches(
    event: GateEvent, facts: VehicleFacts, policy: Policy, level: AlertLevel
) -> None:
    policy = dataclasses.replace(
        policy, settings=dataclasses.replace(policy.settings, infer_stage=False)
    )
    decision = decide(
        event, facts, DecisionContext(policy=policy, alert_level=level, time=event.time)
    )
    level_rules = policy.rule_set(Scope(level.value)).rules
    hits = [
        r.id
        for r in level_rules
        if r.effect is Verdict.DENY and _oracle_matches(r, facts, event, policy)
    ]
    hypothesis_event(f"deny rule matched: {bool(hits)}")
    if hits:
        assert decision.verdict is Verdict.DENY, hits
        assert set(hits) <= set(decision.matched_rules)
    # And conversely every rule decide reports as matched, the oracle agrees with.
    for rule in level_rules:
        if rule.id in decision.matched_rules:
            assert _oracle_matches(rule, facts, event, policy), rule.id
