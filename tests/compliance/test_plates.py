from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saas.compliance import (
    PLATE_PROVINCES,
    FuelType,
    PlateColor,
    PlateEnergy,
    PlateFormat,
    PlateKind,
    normalize_plate,
    parse_plate,
)

SERIAL = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
DIGITS = "0123456789"
NEV_LETTERS = "ABCDEFGHJK"


@pytest.mark.parametrize(
    ("text", "kind", "province", "color", "energy"),
    [
        # seed 001 board examples
        ("津A12345", PlateFormat.ORDINARY, "津", None, None),
        ("津A54321", PlateFormat.ORDINARY, "津", None, None),
        ("冀B·5J3A8", PlateFormat.ORDINARY, "冀", None, None),
        # small NEV: energy letter first (D 纯电, F 非纯电; A–K today)
        ("京AD12345", PlateFormat.NEV_SMALL, "京", PlateColor.GREEN, PlateEnergy.BEV),
        ("沪AF01234", PlateFormat.NEV_SMALL, "沪", PlateColor.GREEN, PlateEnergy.NON_BEV),
        ("粤BDA1234", PlateFormat.NEV_SMALL, "粤", PlateColor.GREEN, PlateEnergy.BEV),
        ("京AA12345", PlateFormat.NEV_SMALL, "京", PlateColor.GREEN, PlateEnergy.BEV),
        ("京AK12345", PlateFormat.NEV_SMALL, "京", PlateColor.GREEN, PlateEnergy.NON_BEV),
        # large NEV: energy letter last
        ("粤B12345D", PlateFormat.NEV_LARGE, "粤", PlateColor.YELLOW_GREEN, PlateEnergy.BEV),
        ("冀B12345F", PlateFormat.NEV_LARGE, "冀", PlateColor.YELLOW_GREEN, PlateEnergy.NON_BEV),
        ("冀B1234挂", PlateFormat.TRAILER, "冀", PlateColor.YELLOW, None),
        ("京A1234学", PlateFormat.COACH, "京", PlateColor.YELLOW, None),
        ("川A·1234警", PlateFormat.POLICE, "川", PlateColor.WHITE, None),
        ("粤Z·1234港", PlateFormat.HK_MACAU, "粤", PlateColor.BLACK, None),
        ("粤Z·1234澳", PlateFormat.HK_MACAU, "粤", PlateColor.BLACK, None),
        ("使014578", PlateFormat.EMBASSY, None, PlateColor.BLACK, None),
        ("沪A·1234领", PlateFormat.CONSULATE, "沪", PlateColor.BLACK, None),
        ("领A12345", PlateFormat.CONSULATE, None, PlateColor.BLACK, None),
        ("京A1234应急", PlateFormat.EMERGENCY, "京", PlateColor.WHITE, None),
    ],
)
def test_real_plate_formats(
    text: str,
    kind: PlateFormat,
    province: str | None,
    color: PlateColor | None,
    energy: PlateEnergy | None,
) -> None:
    plate = parse_plate(text)
    assert plate.valid, plate.errors
    assert plate.errors == ()
    assert plate.warnings == ()
    assert plate.kind is kind
    assert plate.province == province
    assert plate.color is color
    assert plate.energy is energy
    assert plate.is_new_energy is (energy is not None)


def test_province_name_comes_from_gb_t_2260() -> None:
    assert parse_plate("津A12345").province_name == "天津市"
    assert parse_plate("蒙A12345").province_name == "内蒙古自治区"
    assert parse_plate("使014578").province_name is None


def test_all_31_province_abbreviations() -> None:
    assert len(PLATE_PROVINCES) == 31
    for abbr in PLATE_PROVINCES:
        plate = parse_plate(f"{abbr}A12345")
        assert plate.valid
        assert plate.province == abbr
        assert plate.province_name


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("津a 12345", "津A12345"),
        ("津Ａ１２３４５", "津A12345"),  # full-width from an IME
        ("津A·12345", "津A12345"),
        ("津A-12345", "津A12345"),
        ("津A•12345", "津A12345"),
        ("\u3000津A12345\t", "津A12345"),
        ("京ad12345", "京AD12345"),
    ],
)
def test_normalisation(text: str, normalized: str) -> None:
    plate = parse_plate(text)
    assert plate.normalized == normalized
    assert plate.valid


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("港A12345", "bad_province"),
        ("AA12345", "bad_province"),
        ("津A1234", "bad_length"),
        ("津A1234567", "bad_length"),
        ("津A12345挂", "bad_length"),
        ("京A12345应急", "bad_length"),
        ("使01457", "bad_length"),
        ("津AI2345", "forbidden_letter"),
        ("津A1234O", "forbidden_letter"),
        ("津I12345", "forbidden_letter"),
        ("津112345", "bad_authority"),
        ("津A12韩45", "bad_character"),
        ("京AL12345", "nev_letter_position"),  # L is not an energy letter
        ("京A12345L", "nev_letter_position"),
        ("京A1234L5", "nev_letter_position"),  # letter in neither position 3 nor 8
        ("京AD1234A", "nev_letter_position"),  # small NEV ends in 4 digits
        ("京A1234AD", "nev_letter_position"),
        ("京AI12345", "forbidden_letter"),
    ],
)
def test_invalid_plates(text: str, error: str) -> None:
    plate = parse_plate(text)
    assert not plate.valid
    assert error in plate.errors


def test_nev_with_wrong_letter_has_no_kind_or_energy() -> None:
    plate = parse_plate("京AL12345")
    assert plate.kind is None
    assert plate.energy is None


@pytest.mark.parametrize("text", ["", "   ", "_无_", "无牌车", "无牌", "未识别", "NONE", "none"])
def test_unreadable(text: str) -> None:
    plate = parse_plate(text)
    assert plate.unreadable
    assert plate.errors == ("unreadable",)
    assert not plate.valid
    assert plate.kind is None


def test_non_string_is_unreadable() -> None:
    assert parse_plate(None).unreadable  # type: ignore[arg-type]
    assert normalize_plate(None) == ""  # type: ignore[arg-type]
    assert parse_plate("津A12345", 3).color is None  # type: ignore[arg-type]


def test_memoised_results_are_the_same_object_and_equal_to_a_fresh_parse() -> None:
    from saas.compliance.plates import _parse_plate_cached

    first = parse_plate("津A12345", "黄")
    assert parse_plate("津A12345", "黄") is first
    _parse_plate_cached.cache_clear()
    assert parse_plate("津A12345", "黄") == first


@pytest.mark.parametrize(
    ("text", "color", "mismatch"),
    [
        ("津A12345", "绿", True),  # 7 characters cannot be green
        ("津A12345", "黄绿双拼", True),
        ("京AD12345", "蓝", True),  # 8 characters cannot be blue or yellow
        ("粤B12345D", "黄", True),
        ("京AD12345", "渐变绿", False),
        ("粤B12345D", "黄绿", False),
        ("津A12345", "黄", False),
        ("京A1234应急", "白", False),
        ("京AL12345", "蓝", True),  # invalid plate: the rule falls back to its length
        ("津A1234", "绿", False),  # six characters: neither rule applies
        ("津A123456", "蓝", True),
    ],
)
def test_color_mismatch(text: str, color: str, mismatch: bool) -> None:
    plate = parse_plate(text, color)
    assert ("color_mismatch" in plate.warnings) is mismatch


def test_reported_colour_wins_and_unknown_colour_warns() -> None:
    assert parse_plate("津A12345", "黄").color is PlateColor.YELLOW
    plate = parse_plate("津A12345", "紫")
    assert plate.color is None
    assert plate.warnings == ("unknown_color",)
    assert parse_plate("京AD12345", "紫").color is PlateColor.GREEN
    assert parse_plate("津A12345", "").warnings == ()


def test_hk_macau_outside_yue_z_warns() -> None:
    plate = parse_plate("京A1234港")
    assert plate.valid
    assert plate.warnings == ("hk_macau_prefix",)


@pytest.mark.parametrize(
    ("text", "color", "kind"),
    [
        ("津A12345", "黄", PlateKind.LARGE),
        ("津A12345", "蓝", PlateKind.SMALL),
        ("津A12345", None, None),
        ("粤B12345D", None, PlateKind.NEV_LARGE),
        ("京AD12345", None, PlateKind.NEV_SMALL),
        ("冀B1234挂", None, PlateKind.TRAILER),
        ("京A1234学", None, PlateKind.COACH),
        ("京A1234警", None, PlateKind.POLICE),
        ("粤Z1234港", None, PlateKind.HONG_KONG),
        ("粤Z1234澳", None, PlateKind.MACAU),
        ("使014578", None, PlateKind.EMBASSY),
        ("沪A1234领", None, PlateKind.CONSULATE),
        ("京A1234应急", None, PlateKind.OTHER),
        ("", None, None),
    ],
)
def test_ga_24_7_kind(text: str, color: str | None, kind: PlateKind | None) -> None:
    assert parse_plate(text, color).ga_kind is kind


def test_energy_maps_to_a_registry_fuel() -> None:
    assert PlateEnergy.BEV.fuel is FuelType.ELECTRIC
    assert PlateEnergy.NON_BEV.fuel is FuelType.PLUG_IN_HYBRID
    assert PlateFormat.NEV_LARGE.label_zh == "大型新能源号牌"


# --- properties ----------------------------------------------------------------------------

provinces = st.sampled_from(sorted(PLATE_PROVINCES))
authority = st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZ")


@st.composite
def valid_plates(draw: st.DrawFn) -> tuple[str, PlateFormat]:
    head = draw(provinces) + draw(authority)
    kind = draw(
        st.sampled_from(
            [
                PlateFormat.ORDINARY,
                PlateFormat.NEV_SMALL,
                PlateFormat.NEV_LARGE,
                PlateFormat.TRAILER,
            ]
        )
    )
    if kind is PlateFormat.ORDINARY:
        return head + draw(st.text(SERIAL, min_size=5, max_size=5)), kind
    if kind is PlateFormat.NEV_SMALL:
        serial = draw(st.sampled_from(NEV_LETTERS)) + draw(st.sampled_from(SERIAL))
        return head + serial + draw(st.text(DIGITS, min_size=4, max_size=4)), kind
    if kind is PlateFormat.NEV_LARGE:
        return head + draw(st.text(DIGITS, min_size=5, max_size=5)) + draw(
            st.sampled_from(NEV_LETTERS)
        ), kind
    return head + draw(st.text(SERIAL, min_size=4, max_size=4)) + "挂", kind


def _decorate(text: str, data: st.DataObject) -> str:
    out = []
    for ch in text:
        if ch.isascii() and data.draw(st.booleans()):
            ch = chr(ord(ch) + 0xFEE0)  # full width
        if ch.isascii() and data.draw(st.booleans()):
            ch = ch.lower()
        out.append(ch)
        out.append(data.draw(st.sampled_from(["", "", " ", "·", "-", "•"])))
    return "".join(out)


@given(st.text(), st.one_of(st.none(), st.text()))
def test_parse_plate_never_raises(text: str, color: str | None) -> None:
    plate = parse_plate(text, color)
    assert plate.valid is (plate.errors == ())
    assert len(set(plate.errors)) == len(plate.errors)


@given(st.text())
def test_normalized_is_idempotent(text: str) -> None:
    once = normalize_plate(text)
    assert normalize_plate(once) == once
    assert parse_plate(once).normalized == once


@given(valid_plates())
def test_generated_plates_are_valid(case: tuple[str, PlateFormat]) -> None:
    text, kind = case
    plate = parse_plate(text)
    assert plate.valid, (text, plate.errors)
    assert plate.kind is kind
    assert plate.is_new_energy is (kind in (PlateFormat.NEV_SMALL, PlateFormat.NEV_LARGE))


@given(valid_plates(), st.data())
def test_decoration_does_not_change_the_reading(
    case: tuple[str, PlateFormat], data: st.DataObject
) -> None:
    text, _ = case
    assert parse_plate(_decorate(text, data)) == parse_plate(text)


@given(valid_plates(), st.integers(min_value=2, max_value=7), st.sampled_from("IO"))
def test_i_and_o_in_the_serial_are_always_rejected(
    case: tuple[str, PlateFormat], pos: int, letter: str
) -> None:
    text, _ = case
    if pos < len(text) and text[pos] != "挂":
        bad = text[:pos] + letter + text[pos + 1 :]
        assert "forbidden_letter" in parse_plate(bad).errors
