"""Vehicle identification numbers (GB 16735 / ISO 3779), domain.md §3.2.

The check digit at position 9 is mandatory in China, so a wrong one on a VIN whose WMI starts
with ``L`` is an error; foreign makers (e.g. European ones) often leave it unused, so there it is
only a warning. ``parse_vin`` never raises.
"""

from __future__ import annotations

from dataclasses import dataclass

# ISO 3779 transliteration and weights (domain.md §3.2 [CONFIRMED algorithm]).
_VALUES: dict[str, int] = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_FORBIDDEN = frozenset("IOQ")
# Position 10 model-year code, 30-year cycle from 1980 (A) / 2001 (1) [UNCONFIRMED table, §3.2].
_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"
_FIRST_CYCLE = 1980
_LAST_YEAR = 2039


@dataclass(frozen=True, slots=True)
class Vin:
    normalized: str
    valid: bool
    wmi: str | None
    check_digit: str | None
    """The check character the first 17 characters call for (None if it cannot be computed)."""
    model_years: tuple[int, ...]
    """Candidate model years from position 10 (30-year cycle); a hint, not a production date."""
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def made_in_china(self) -> bool:
        return self.wmi is not None and self.wmi.startswith("L")


def vin_check_digit(vin: str) -> str | None:
    """The ISO 3779 check character for a 17-character VIN, or None if a character has no value."""
    if len(vin) != 17 or any(c not in _VALUES for c in vin):
        return None
    remainder = sum(_VALUES[c] * w for c, w in zip(vin, _WEIGHTS, strict=True)) % 11
    return "X" if remainder == 10 else str(remainder)


def normalize_vin(text: str) -> str:
    if not isinstance(text, str):
        return ""
    out: list[str] = []
    for ch in text:
        code = ord(ch)
        if 0xFF01 <= code <= 0xFF5E:
            ch = chr(code - 0xFEE0)
        if ch.isspace() or ch in "-·":
            continue
        out.append(ch.upper() if ch.isascii() else ch)
    return "".join(out)


def model_years(code: str) -> tuple[int, ...]:
    """Candidate model years (1980–2039) for a position-10 code; empty if the code is invalid."""
    index = _YEAR_CODES.find(code) if len(code) == 1 else -1
    if index < 0:
        return ()
    return tuple(y for y in range(_FIRST_CYCLE + index, _LAST_YEAR + 1, 30))


# What each ``Vin.errors`` / ``Vin.warnings`` code tells the person who typed the VIN.
ERROR_MESSAGES: dict[str, str] = {
    "empty": "未填写车辆识别代号",
    "bad_length": "车辆识别代号应为 17 位",
    "forbidden_letter": "车辆识别代号不含字母 I、O、Q",
    "bad_character": "车辆识别代号只能含字母和数字",
    "bad_check_digit": "车辆识别代号第 9 位校验位不符，请对照行驶证核对",
    "bad_year_code": "车辆识别代号第 10 位年份代码无效",
}


def error_reasons(errors: tuple[str, ...] | list[str]) -> list[dict[str, str]]:
    """``[{code, message}]`` of a VIN's error codes, in order."""
    return [
        {"code": code, "message": ERROR_MESSAGES.get(code, "车辆识别代号无效")} for code in errors
    ]


def parse_vin(text: str) -> Vin:
    """Validate a VIN: length, characters (no I/O/Q), check digit, model-year code."""
    vin = normalize_vin(text)
    if not vin:
        return Vin(vin, False, None, None, (), ("empty",), ())
    errors: list[str] = []
    warnings: list[str] = []
    if len(vin) != 17:
        errors.append("bad_length")
    if any(c in _FORBIDDEN for c in vin):
        errors.append("forbidden_letter")
    if any(c not in _VALUES and c not in _FORBIDDEN for c in vin):
        errors.append("bad_character")
    if errors:
        return Vin(vin, False, vin[:3] if len(vin) >= 3 else None, None, (), tuple(errors), ())
    wmi = vin[:3]
    expected = vin_check_digit(vin)
    if expected != vin[8]:
        (errors if wmi.startswith("L") else warnings).append("bad_check_digit")
    years = model_years(vin[9])
    if not years:
        warnings.append("bad_year_code")
    return Vin(vin, not errors, wmi, expected, years, tuple(errors), tuple(warnings))
