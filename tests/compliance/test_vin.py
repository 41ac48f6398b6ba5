from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saas.compliance import normalize_vin, parse_vin, vin_check_digit
from saas.compliance.vin import model_years

VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"


@pytest.mark.parametrize(
    ("vin", "check", "wmi", "years"),
    [
        # Real Chinese VINs from domain.md §3.2: the algorithm reproduces their 9th character.
        ("LSGPC52U6AF102554", "6", "LSG", (1980, 2010)),
        ("LTA1278U35X132040", "3", "LTA", (2005, 2035)),
        # ISO 3779 / NHTSA textbook example with check character X.
        ("1M8GDM9AXKP042788", "X", "1M8", (1989, 2019)),
    ],
)
def test_real_vins(vin: str, check: str, wmi: str, years: tuple[int, ...]) -> None:
    parsed = parse_vin(vin)
    assert parsed.valid
    assert parsed.errors == ()
    assert parsed.warnings == ()
    assert parsed.check_digit == check == vin[8]
    assert parsed.wmi == wmi
    assert parsed.model_years == years


def test_made_in_china_flag() -> None:
    assert parse_vin("LSGPC52U6AF102554").made_in_china
    assert not parse_vin("1M8GDM9AXKP042788").made_in_china
    assert not parse_vin("").made_in_china


def test_wrong_check_digit_is_an_error_for_chinese_wmi() -> None:
    parsed = parse_vin("LSGPC52U7AF102554")
    assert not parsed.valid
    assert parsed.errors == ("bad_check_digit",)
    assert parsed.check_digit == "6"


def test_wrong_check_digit_is_only_a_warning_elsewhere() -> None:
    # European makers commonly leave position 9 unused (here a Z-filled VDS).
    parsed = parse_vin("WVWZZZ1JZYW000001")
    assert parsed.valid
    assert parsed.warnings == ("bad_check_digit",)
    assert parsed.model_years == (2000, 2030)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "empty"),
        ("LSGPC52U6AF10255", "bad_length"),
        ("LSGPC52U6AF1025544", "bad_length"),
        ("LSGPC52U6AF1O2554", "forbidden_letter"),
        ("LSGPC52U6AF1Q2554", "forbidden_letter"),
        ("ISGPC52U6AF102554", "forbidden_letter"),
        ("LSGPC52U6AF1_2554", "bad_character"),
        ("LSGPC52U6AF1中2554", "bad_character"),
    ],
)
def test_invalid_vins(text: str, error: str) -> None:
    parsed = parse_vin(text)
    assert not parsed.valid
    assert error in parsed.errors


def test_normalisation() -> None:
    assert parse_vin(" lsgpc52u6af102554 ").normalized == "LSGPC52U6AF102554"
    assert parse_vin("ＬＳＧＰＣ５２Ｕ６ＡＦ１０２５５４").valid
    assert parse_vin("LSG-PC52U6-AF102554").valid
    assert normalize_vin(None) == ""  # type: ignore[arg-type]


def test_bad_year_code_warns() -> None:
    base = "LSGPC52U6" + "U" + "F102554"  # U is never a year code
    vin = base[:8] + (vin_check_digit(base) or "0") + base[9:]
    parsed = parse_vin(vin)
    assert parsed.valid
    assert parsed.warnings == ("bad_year_code",)
    assert parsed.model_years == ()


def test_model_year_table() -> None:
    assert model_years("A") == (1980, 2010)
    assert model_years("Y") == (2000, 2030)
    assert model_years("1") == (2001, 2031)
    assert model_years("9") == (2009, 2039)
    assert model_years("R") == (1994, 2024)
    assert model_years("S") == (1995, 2025)
    for bad in ("I", "O", "Q", "U", "Z", "0", "", "AB"):
        assert model_years(bad) == ()


def test_check_digit_of_bad_input() -> None:
    assert vin_check_digit("SHORT") is None
    assert vin_check_digit("LSGPC52U6AF1O2554") is None


@given(st.text())
def test_parse_vin_never_raises(text: str) -> None:
    parsed = parse_vin(text)
    assert parsed.valid is (parsed.errors == ())


@given(st.text(VIN_CHARS, min_size=17, max_size=17))
def test_a_vin_with_its_check_digit_is_valid(body: str) -> None:
    check = vin_check_digit(body)
    assert check is not None
    vin = body[:8] + check + body[9:]
    assert vin_check_digit(vin) == check  # position 9 has weight 0
    parsed = parse_vin(vin)
    assert parsed.valid
    assert "bad_check_digit" not in parsed.warnings


@given(st.text(VIN_CHARS, min_size=17, max_size=17), st.sampled_from("0123456789X"))
def test_a_wrong_check_digit_on_l_wmi_is_always_an_error(body: str, digit: str) -> None:
    vin = "L" + body[1:8] + digit + body[9:]
    expected = vin_check_digit(vin)
    parsed = parse_vin(vin)
    assert ("bad_check_digit" in parsed.errors) is (digit != expected)
