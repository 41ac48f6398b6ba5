from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saas.compliance import (
    PROVINCE_PREFIXES,
    normalize_uscc,
    region_covers,
    uscc_check_char,
    validate_region_code,
    validate_uscc,
)
from saas.compliance.identifiers import USCC_CHARSET

REAL_USCC = ["91350100M000100Y43", "91110000600037341L"]


@pytest.mark.parametrize("code", REAL_USCC)
def test_real_uscc_are_valid(code: str) -> None:
    assert validate_uscc(code) == []
    assert uscc_check_char(code[:17]) == code[17]


def test_uscc_typed_by_people_is_normalised() -> None:
    assert normalize_uscc(" ９１１１００００６０００３７３４１ｌ ") == "91110000600037341L"
    assert validate_uscc("9111 0000 6000 3734 1l") == []


@pytest.mark.parametrize(
    ("code", "errors"),
    [
        ("", ["empty"]),
        ("   ", ["empty"]),
        ("91110000600037341", ["bad_length"]),
        ("91110000600037341LL", ["bad_length"]),
        ("91110000600037341I", ["bad_character"]),  # I is not in the GB 32100 code set
        ("91350100M000100Y44", ["bad_check_char"]),
        ("91990000600037341L", ["bad_region", "bad_check_char"]),
    ],
)
def test_uscc_errors(code: str, errors: list[str]) -> None:
    assert validate_uscc(code) == errors


def test_uscc_non_string_is_empty() -> None:
    assert validate_uscc(None) == ["empty"]  # type: ignore[arg-type]


def test_check_char_rejects_bad_input() -> None:
    assert uscc_check_char("9111000060003734") is None
    assert uscc_check_char("9111000060003734I") is None


@given(st.text(alphabet=USCC_CHARSET, min_size=17, max_size=17))
def test_any_single_character_change_of_a_valid_code_is_caught(first17: str) -> None:
    check = uscc_check_char(first17)
    assert check is not None
    code = first17 + check
    for pos in range(17):
        for replacement in "0A":
            if code[pos] != replacement:
                changed = code[:pos] + replacement + code[pos + 1 :]
                # 31 is prime and no weight is 0 mod 31, so one substitution always shows.
                assert uscc_check_char(changed[:17]) != check


@given(st.text())
def test_validators_never_raise(text: str) -> None:
    assert isinstance(validate_uscc(text), list)
    assert isinstance(validate_region_code(text), list)


@pytest.mark.parametrize(
    ("code", "errors"),
    [
        ("130203", []),
        ("110000", []),
        ("820000", []),
        ("", ["empty"]),
        ("13020", ["bad_format"]),
        ("13020a", ["bad_format"]),
        ("１３０２０３", ["bad_format"]),
        ("990000", ["bad_province"]),
    ],
)
def test_region_codes(code: str, errors: list[str]) -> None:
    assert validate_region_code(code) == errors


def test_region_covers_hierarchy() -> None:
    assert region_covers("130000", "130203")  # 河北省 ⊃ 唐山市路北区
    assert region_covers("130200", "130203")  # 唐山市 ⊃ 路北区
    assert region_covers("130203", "130203")
    assert not region_covers("130200", "130303")
    assert not region_covers("120000", "130203")
    assert not region_covers("130203", "130200")
    assert not region_covers("xx", "130203")


def test_province_prefixes_cover_the_31_mainland_provinces() -> None:
    mainland = [k for k in PROVINCE_PREFIXES if k not in ("71", "81", "82")]
    assert len(mainland) == 31
    assert PROVINCE_PREFIXES["12"] == "天津市"
