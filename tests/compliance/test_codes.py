from __future__ import annotations

import json
from importlib import resources

import pytest

from saas.compliance import (
    AlertLevel,
    Direction,
    EmissionStage,
    ExemptionCategory,
    FuelType,
    NonRoadStage,
    PlateColor,
    PlateKind,
    StageCode,
    UseNature,
    VehicleCategory,
    VehicleClass,
    VehicleType,
    Verdict,
    color_from_code,
    color_to_code,
    fuel_from_code,
    fuel_to_code,
    parse_color,
    stage_from_code,
    stage_to_code,
    vehicle_type_from_code,
)
from saas.compliance.codes import COLOR_CONVENTIONS, STAGE_CONVENTIONS

CODES = json.loads(
    resources.files("saas.compliance").joinpath("data", "codes.json").read_text(encoding="utf-8")
)


def test_stage_order_is_the_regulatory_order() -> None:
    order = [
        EmissionStage.CN0,
        EmissionStage.CN1,
        EmissionStage.CN2,
        EmissionStage.CN3,
        EmissionStage.CN4,
        EmissionStage.CN5,
        EmissionStage.CN6A,
        EmissionStage.CN6B,
    ]
    assert sorted(reversed(order)) == order
    assert EmissionStage.CN4 < EmissionStage.CN5 < EmissionStage.CN6A < EmissionStage.CN6B
    assert EmissionStage.CN6B >= EmissionStage.CN6A
    assert EmissionStage.CN5 <= EmissionStage.CN5
    assert EmissionStage.CN6A > EmissionStage.CN5


def test_unknown_stage_never_meets_a_minimum() -> None:
    for stage in EmissionStage:
        assert not EmissionStage.UNKNOWN.meets(stage)
    assert EmissionStage.UNKNOWN < EmissionStage.CN0
    assert EmissionStage.CN5.meets(EmissionStage.CN5)
    assert not EmissionStage.CN4.meets(EmissionStage.CN5)


def test_stage_compares_with_plain_strings_as_strings() -> None:
    # Not a stage comparison: falls back to str ordering rather than raising.
    assert (EmissionStage.CN4 < "zzz") is True
    assert (EmissionStage.CN4 > "a") is True
    assert (EmissionStage.CN4 <= "cn4") is True
    assert (EmissionStage.CN4 >= "cn5") is False
    assert (NonRoadStage.NR3 < "zzz") is True
    assert (NonRoadStage.NR3 > "a") is True
    assert (NonRoadStage.NR3 <= "nr3") is True
    assert (NonRoadStage.NR3 >= "nr4") is False


def test_non_road_order() -> None:
    assert NonRoadStage.NR1 < NonRoadStage.NR2 < NonRoadStage.NR3 < NonRoadStage.NR4
    assert NonRoadStage.NR4 > NonRoadStage.NR3
    assert NonRoadStage.NR4 >= NonRoadStage.NR4
    assert NonRoadStage.NR2 <= NonRoadStage.NR3
    assert NonRoadStage.UNKNOWN < NonRoadStage.NR1
    assert not NonRoadStage.UNKNOWN.meets(NonRoadStage.NR1)
    assert NonRoadStage.NR3.meets(NonRoadStage.NR3)
    assert NonRoadStage.NR3.rank == 3
    assert NonRoadStage.NR4.label_zh == "国四"
    assert NonRoadStage.NR4.label_en.endswith("IV")


def test_stage_labels() -> None:
    assert EmissionStage.CN4.label_zh == "国四"
    assert EmissionStage.CN6A.label_zh == "国六a"
    assert EmissionStage.CN6B.short_zh == "国六"
    assert EmissionStage.CN4.short_zh == "国四"
    assert EmissionStage.CN5.board_label == "国V"
    assert EmissionStage.CN6A.board_label == "国VI"
    assert EmissionStage.UNKNOWN.label_zh == "未知"
    assert EmissionStage.CN5.label_en == "China V"


@pytest.mark.parametrize(
    "enum",
    [
        EmissionStage,
        NonRoadStage,
        FuelType,
        PlateColor,
        PlateKind,
        UseNature,
        VehicleClass,
        VehicleType,
        AlertLevel,
    ],
)
def test_every_member_has_chinese_and_english_labels(enum: type) -> None:
    for member in enum:
        assert member.label_zh, member
        assert member.label_en, member


@pytest.mark.parametrize(
    ("enum", "table"),
    [
        (EmissionStage, "emission_stages"),
        (NonRoadStage, "non_road_stages"),
        (FuelType, "fuel_types"),
        (PlateColor, "plate_colors"),
        (PlateKind, "plate_kinds"),
        (UseNature, "use_natures"),
        (VehicleClass, "vehicle_classes"),
        (VehicleType, "vehicle_types"),
        (AlertLevel, "alert_levels"),
        (Direction, "directions"),
    ],
)
def test_enums_and_data_tables_list_the_same_codes(enum: type, table: str) -> None:
    assert [m.value for m in enum] == list(CODES[table]["entries"])


def test_product_enums_have_chinese_labels() -> None:
    assert VehicleCategory.IN_PLANT.label_zh == "厂内运输车辆"
    assert ExemptionCategory.LIVELIHOOD.label_zh == "民生保障"
    assert ExemptionCategory.SAFETY_PRODUCTION.label_zh == "安全生产"
    assert Verdict.DENY.label_zh == "禁止进入"
    assert Verdict.DENY.severity > Verdict.REVIEW.severity > Verdict.ALLOW.severity
    assert Direction.IN.label_zh == "进厂"
    assert Direction.OUT.code == "2"


def test_new_energy_fuels_follow_seed_003() -> None:
    assert {f for f in FuelType if f.is_new_energy} == {
        FuelType.ELECTRIC,
        FuelType.PLUG_IN_HYBRID,
        FuelType.FUEL_CELL,
    }
    assert {f for f in FuelType if f.is_gas} == {FuelType.NATURAL_GAS, FuelType.LPG}
    assert FuelType.HYBRID.label_zh == "混合动力"


def test_ga_24_4_vehicle_types() -> None:
    assert VehicleType.H11.label_zh == "重型普通货车"
    assert VehicleType.H17.label_zh == "重型自卸货车"
    assert VehicleType.Q11.label_zh == "重型半挂牵引车"
    assert VehicleType.B1B.label_zh == "重型低平板半挂车"
    assert VehicleType.Q11.vehicle_class is VehicleClass.TRACTOR
    assert VehicleType.Q11.heavy_duty
    assert VehicleType.H11.vehicle_class is VehicleClass.HEAVY_TRUCK
    assert VehicleType.H11.heavy_duty
    assert VehicleType.H21.vehicle_class is VehicleClass.MEDIUM_TRUCK
    assert not VehicleType.H21.heavy_duty
    assert VehicleType.Q31.vehicle_class is VehicleClass.TRACTOR
    assert not VehicleType.Q31.heavy_duty
    assert VehicleType.B11.vehicle_class is VehicleClass.TRAILER
    assert VehicleType.K11.vehicle_class is VehicleClass.BUS
    assert not VehicleType.K11.heavy_duty
    assert VehicleType.K33.vehicle_class is VehicleClass.CAR
    assert VehicleType.Z51.vehicle_class is VehicleClass.SPECIAL
    assert VehicleType.Z51.heavy_duty
    assert VehicleType.J11.vehicle_class is VehicleClass.MACHINERY
    assert VehicleType.X99.vehicle_class is VehicleClass.OTHER
    assert VehicleType.H11.confirmed
    assert not VehicleType.H12.confirmed
    assert VehicleType.H11.size == "heavy"
    # Every 重型 name is heavy duty and nothing else is.
    for vt in VehicleType:
        assert vt.heavy_duty == vt.label_zh.startswith("重型"), vt


def test_vehicle_type_from_code() -> None:
    assert vehicle_type_from_code(" q11 ") is VehicleType.Q11
    assert vehicle_type_from_code("H99") is None
    assert vehicle_type_from_code(None) is None  # type: ignore[arg-type]


def test_plate_kinds_include_nev() -> None:
    assert PlateKind.NEV_LARGE.value == "51"
    assert PlateKind.NEV_LARGE.label_zh == "大型新能源汽车"
    assert PlateKind.NEV_SMALL.value == "52"
    assert PlateKind.LARGE.label_zh == "大型汽车"
    assert UseNature.HAZARDOUS_GOODS.value == "R"
    assert UseNature.FREIGHT.label_zh == "货运"


@pytest.mark.parametrize(
    ("convention", "code", "expected"),
    [
        ("entrance_control", "0", StageCode(EmissionStage.CN0)),
        ("entrance_control", "4", StageCode(EmissionStage.CN4)),
        ("entrance_control", "6", StageCode(EmissionStage.CN6A)),
        ("entrance_control", "d", StageCode(None, FuelType.ELECTRIC)),
        ("gate_client", "0", StageCode(EmissionStage.CN1)),
        ("gate_client", "3", StageCode(EmissionStage.CN4)),
        ("gate_client", "6", StageCode(None, FuelType.ELECTRIC)),
        ("gate_client", "7", StageCode(None, FuelType.PLUG_IN_HYBRID)),
        ("gate_client", "-1", None),
        ("ab_ledger", "5", StageCode(EmissionStage.CN5)),
        ("nope", "5", None),
    ],
)
def test_stage_from_foreign_codes(convention: str, code: str, expected: StageCode | None) -> None:
    assert stage_from_code(convention, code) == expected


def test_stage_to_foreign_codes() -> None:
    assert stage_to_code("entrance_control", EmissionStage.CN4) == "4"
    assert stage_to_code("entrance_control", EmissionStage.CN6B) == "6"
    assert stage_to_code("entrance_control", None, FuelType.ELECTRIC) == "D"
    assert stage_to_code("entrance_control", None, FuelType.FUEL_CELL) == "D"
    assert stage_to_code("gate_client", EmissionStage.CN4) == "3"
    assert stage_to_code("gate_client", None, FuelType.PLUG_IN_HYBRID) == "7"
    assert stage_to_code("ab_ledger", None, FuelType.ELECTRIC) is None
    assert stage_to_code("ab_ledger", EmissionStage.CN5, FuelType.ELECTRIC) == "5"
    assert stage_to_code("entrance_control", EmissionStage.UNKNOWN) is None
    assert stage_to_code("entrance_control", None) is None
    assert stage_to_code("gate_client", EmissionStage.CN0) is None
    assert stage_to_code("nope", EmissionStage.CN4) is None
    assert stage_from_code("entrance_control", None) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("convention", STAGE_CONVENTIONS)
def test_stage_codes_round_trip(convention: str) -> None:
    for code in CODES["stage_conventions"][convention]["codes"]:
        read = stage_from_code(convention, code)
        assert read is not None
        assert stage_to_code(convention, read.stage, read.fuel) == code


@pytest.mark.parametrize(
    ("convention", "code", "color"),
    [
        ("kakou", "0", PlateColor.WHITE),
        ("kakou", "2", PlateColor.BLUE),
        ("kakou", "4", PlateColor.GREEN),
        ("etc", "0", PlateColor.BLUE),
        ("etc", "4", PlateColor.GREEN),
        ("etc", "5", PlateColor.YELLOW_GREEN),
        ("etc", "9", None),
        ("etc", "11", PlateColor.GREEN),
        ("parking", "6", PlateColor.YELLOW_GREEN),
        ("parking", "9", None),
        ("nope", "1", None),
    ],
)
def test_plate_colour_conventions_disagree_and_are_kept_apart(
    convention: str, code: str, color: PlateColor | None
) -> None:
    assert color_from_code(convention, code) is color


def test_colour_to_foreign() -> None:
    assert color_to_code("kakou", PlateColor.BLUE) == "2"
    assert color_to_code("kakou", PlateColor.YELLOW_GREEN) == "4"
    assert color_to_code("etc", PlateColor.BLUE) == "0"
    assert color_to_code("etc", PlateColor.OTHER) == "9"
    assert color_to_code("parking", PlateColor.OTHER) is None
    assert color_to_code("kakou", None) is None
    assert color_to_code("nope", PlateColor.BLUE) is None
    assert color_from_code("kakou", None) is None  # type: ignore[arg-type]
    # The six GA colours survive a round trip through every convention that has a code for them,
    # except the documented lossy ones (kakou has no yellow-green, ETC "9" means undetermined).
    lossy = {("kakou", PlateColor.YELLOW_GREEN), ("etc", PlateColor.OTHER)}
    for convention in COLOR_CONVENTIONS:
        for color in PlateColor:
            code = color_to_code(convention, color)
            if code is not None and (convention, color) not in lossy:
                assert color_from_code(convention, code) is color, (convention, color)


@pytest.mark.parametrize(
    ("text", "color"),
    [
        ("蓝", PlateColor.BLUE),
        (" 黄色 ", PlateColor.YELLOW),
        ("渐变绿", PlateColor.GREEN),
        ("黄绿双拼", PlateColor.YELLOW_GREEN),
        ("GREEN", PlateColor.GREEN),
        ("yellow_green", PlateColor.YELLOW_GREEN),
        ("紫", None),
        (None, None),
    ],
)
def test_parse_color(text: str | None, color: PlateColor | None) -> None:
    assert parse_color(text) is color


def test_fuel_conventions() -> None:
    assert fuel_from_code("ga", "B") is FuelType.DIESEL
    assert fuel_from_code("ga", "e") is FuelType.NATURAL_GAS
    assert fuel_from_code("ga", "C") is FuelType.ELECTRIC
    assert fuel_from_code("ga", "O") is FuelType.HYBRID
    assert fuel_from_code("ga", "?") is None
    assert fuel_from_code("nope", "B") is None
    assert fuel_from_code("ga", None) is None  # type: ignore[arg-type]
    assert fuel_to_code("ga", FuelType.DIESEL) == "B"
    assert fuel_to_code("ga", FuelType.PLUG_IN_HYBRID) == "O"
    assert fuel_to_code("ga", FuelType.OTHER) == "Z"
    assert fuel_to_code("ga", None) is None
    assert fuel_to_code("nope", FuelType.DIESEL) is None
    for fuel in FuelType:
        assert fuel_to_code("ga", fuel) is not None


def test_alert_levels() -> None:
    assert AlertLevel.ORANGE.response_level == "II"
    assert AlertLevel.RED.response_zh == "Ⅰ级"
    assert AlertLevel.NONE.response_level is None
    assert AlertLevel.NONE.response_zh is None
    assert AlertLevel.parse("橙色") is AlertLevel.ORANGE
    assert AlertLevel.parse("III级") is AlertLevel.YELLOW
    assert AlertLevel.parse(" 红色预警 ") is AlertLevel.RED
    assert AlertLevel.parse("蓝色") is None
    assert AlertLevel.parse(None) is None  # type: ignore[arg-type]
    assert AlertLevel.YELLOW.label_zh == "黄色预警"
