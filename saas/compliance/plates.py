"""Chinese number plates (GA 36-2018) as cameras report them and people type them.

``parse_plate`` never raises: a gate must always reach a verdict, so a bad read becomes a
``Plate`` with ``valid=False`` and stable error codes the decision and the ledger can use.
Formats and colours: domain.md §3.1.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from saas.compliance.codes import PLATE_PROVINCES, FuelType, PlateColor, PlateKind, parse_color
from saas.compliance.identifiers import PROVINCE_PREFIXES


class PlateFormat(StrEnum):
    """The plate family, read from the characters (not the GA 24.7 号牌种类, see ``ga_kind``)."""

    ORDINARY = "ordinary"
    NEV_SMALL = "nev_small"
    NEV_LARGE = "nev_large"
    TRAILER = "trailer"
    COACH = "coach"
    POLICE = "police"
    EMBASSY = "embassy"
    CONSULATE = "consulate"
    HK_MACAU = "hk_macau"
    EMERGENCY = "emergency"

    @property
    def label_zh(self) -> str:
        return _FORMAT_ZH[self]


_FORMAT_ZH: dict[PlateFormat, str] = {
    PlateFormat.ORDINARY: "普通号牌",
    PlateFormat.NEV_SMALL: "小型新能源号牌",
    PlateFormat.NEV_LARGE: "大型新能源号牌",
    PlateFormat.TRAILER: "挂车号牌",
    PlateFormat.COACH: "教练号牌",
    PlateFormat.POLICE: "警用号牌",
    PlateFormat.EMBASSY: "使馆号牌",
    PlateFormat.CONSULATE: "领馆号牌",
    PlateFormat.HK_MACAU: "港澳入出境号牌",
    PlateFormat.EMERGENCY: "应急救援号牌",
}


class PlateEnergy(StrEnum):
    """What the letter of a new-energy plate says: 纯电动 (A–E) or 非纯电动 (F–K)."""

    BEV = "bev"
    NON_BEV = "non_bev"

    @property
    def fuel(self) -> FuelType:
        """Registry stand-in: BEV → electric; non-BEV (插混/增程/燃料电池) → plug-in hybrid."""
        return FuelType.ELECTRIC if self is PlateEnergy.BEV else FuelType.PLUG_IN_HYBRID


# GA 36-2018 serial characters: ASCII letters and digits, never I or O (domain.md §3.1).
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")
_FORBIDDEN = frozenset("IO")
# New-energy energy letter: D/F originally, A–K without I today (domain.md §3.1, [IMPL]).
_NEV_BEV = frozenset("ABCDE")
_NEV_NON_BEV = frozenset("FGHJK")
_NEV_LETTERS = _NEV_BEV | _NEV_NON_BEV
_SUFFIX_KIND: dict[str, PlateFormat] = {
    "挂": PlateFormat.TRAILER,
    "学": PlateFormat.COACH,
    "警": PlateFormat.POLICE,
    "港": PlateFormat.HK_MACAU,
    "澳": PlateFormat.HK_MACAU,
    "领": PlateFormat.CONSULATE,
}
_EMERGENCY_SUFFIX = "应急"  # 应急救援 plates: 省份+字母+4位+应急 [UNCONFIRMED detail, §3.1]
# What cameras and gate clients send when no plate was read (卡口 41 无号牌; vendor strings).
UNREADABLE_MARKERS: frozenset[str] = frozenset(
    {
        "",
        "_无_",
        "无",
        "无牌",
        "无牌车",
        "无车牌",
        "未识别",
        "未知",
        "车牌",
        "NONE",
        "NULL",
        "UNKNOWN",
    }
)
_REMOVED = frozenset(" ·-•・\u3000\t\r\n")
# Colour implied by the format when the camera gave none (domain.md §3.1).
_IMPLIED_COLOR: dict[PlateFormat, PlateColor] = {
    PlateFormat.NEV_SMALL: PlateColor.GREEN,
    PlateFormat.NEV_LARGE: PlateColor.YELLOW_GREEN,
    PlateFormat.TRAILER: PlateColor.YELLOW,
    PlateFormat.COACH: PlateColor.YELLOW,
    PlateFormat.POLICE: PlateColor.WHITE,
    PlateFormat.EMBASSY: PlateColor.BLACK,
    PlateFormat.CONSULATE: PlateColor.BLACK,
    PlateFormat.HK_MACAU: PlateColor.BLACK,
    PlateFormat.EMERGENCY: PlateColor.WHITE,
}
_NEV_FORMATS = frozenset({PlateFormat.NEV_SMALL, PlateFormat.NEV_LARGE})


# What each ``Plate.errors`` code tells the person who typed the plate (docs/compliance.md).
ERROR_MESSAGES: dict[str, str] = {
    "unreadable": "未填写车牌号码",
    "bad_province": "车牌第一个字应为省份简称（如 冀、京、晋）",
    "bad_authority": "车牌第二位应为发牌机关代号字母",
    "bad_length": "车牌位数不对：普通号牌 7 位，新能源号牌 8 位",
    "bad_character": "车牌只能含汉字简称、字母和数字",
    "forbidden_letter": "车牌不含字母 I 和 O（请改为数字 1 和 0）",
    "nev_letter_position": "新能源号牌的字母位置不对",
}


def error_reasons(errors: tuple[str, ...] | list[str]) -> list[dict[str, str]]:
    """``[{code, message}]`` of a plate's error codes, in order (unknown codes keep a
    generic message)."""
    return [{"code": code, "message": ERROR_MESSAGES.get(code, "车牌号码无效")} for code in errors]


@dataclass(frozen=True, slots=True)
class Plate:
    """A parsed plate. ``errors`` make it invalid; ``warnings`` do not."""

    normalized: str
    valid: bool
    province: str | None
    province_name: str | None
    kind: PlateFormat | None
    energy: PlateEnergy | None
    color: PlateColor | None
    errors: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def unreadable(self) -> bool:
        """No plate was read at all (empty, ``_无_``, ``无牌车``…)."""
        return "unreadable" in self.errors

    @property
    def is_new_energy(self) -> bool:
        return self.energy is not None

    @property
    def ga_kind(self) -> PlateKind | None:
        """The GA 24.7 号牌种类 this plate implies, when the format and colour say it."""
        if self.kind is None:
            return None
        if self.kind is PlateFormat.ORDINARY:
            if self.color is PlateColor.YELLOW:
                return PlateKind.LARGE
            if self.color is PlateColor.BLUE:
                return PlateKind.SMALL
            return None
        if self.kind is PlateFormat.HK_MACAU:
            return PlateKind.MACAU if self.normalized.endswith("澳") else PlateKind.HONG_KONG
        return _GA_KIND[self.kind]


_GA_KIND: dict[PlateFormat, PlateKind] = {
    PlateFormat.NEV_SMALL: PlateKind.NEV_SMALL,
    PlateFormat.NEV_LARGE: PlateKind.NEV_LARGE,
    PlateFormat.TRAILER: PlateKind.TRAILER,
    PlateFormat.COACH: PlateKind.COACH,
    PlateFormat.POLICE: PlateKind.POLICE,
    PlateFormat.EMBASSY: PlateKind.EMBASSY,
    PlateFormat.CONSULATE: PlateKind.CONSULATE,
    PlateFormat.EMERGENCY: PlateKind.OTHER,
}


# One C-level translate pass: full-width forms to ASCII, separators dropped. A full-width
# separator (e.g. U+FF0D) is dropped directly so that a second pass changes nothing.
_TRANSLATE: dict[int, str | None] = {ord(c): None for c in _REMOVED}
for _code in range(0xFF01, 0xFF5F):
    _half = chr(_code - 0xFEE0)
    _TRANSLATE[_code] = None if _half in _REMOVED else _half


_DIRTY = frozenset(_REMOVED) | frozenset(chr(c) for c in range(0xFF01, 0xFF5F))


def _normalize_once(text: str) -> str:
    if text == text.upper() and _DIRTY.isdisjoint(text):
        return text  # already clean: the common case for camera output
    return text.translate(_TRANSLATE).upper().translate(_TRANSLATE)


def normalize_plate(text: str) -> str:
    """Full-width → half-width, upper case, spaces and ``·`` ``-`` ``•`` removed. Idempotent.

    Upper-casing some characters yields new ones (``ß`` → ``SS``), so the steps repeat until
    nothing changes; in practice that is one or two passes.
    """
    if not isinstance(text, str):
        return ""
    current = text
    for _ in range(4):
        nxt = _normalize_once(current)
        if nxt == current:
            return nxt
        current = nxt
    return current  # pragma: no cover - no known input needs more than two passes


def _serial_errors(chars: str) -> list[str]:
    errors: list[str] = []
    for ch in chars:
        if ch in _FORBIDDEN:
            errors.append("forbidden_letter")
        elif ch not in _LETTERS and ch not in _DIGITS:
            errors.append("bad_character")
    return errors


def _dedupe(codes: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(codes))


def parse_plate(text: str, color: str | None = None) -> Plate:
    """Parse a plate read by a camera or typed by a person; ``color`` is the reported colour.

    Results are memoised (the same trucks pass a gate all day); ``Plate`` is immutable and the
    function pure, so the cache changes nothing but the time taken.
    """
    if not isinstance(text, str):
        text = ""
    if not isinstance(color, str):
        color = None
    return _parse_plate_cached(text, color)


@lru_cache(maxsize=8192)
def _parse_plate_cached(text: str, color: str | None) -> Plate:
    normalized = normalize_plate(text)
    reported = parse_color(color) if color is not None else None
    warnings: list[str] = []
    if color is not None and color.strip() and reported is None:
        warnings.append("unknown_color")
    if normalized in UNREADABLE_MARKERS:
        return Plate(
            normalized, False, None, None, None, None, reported, ("unreadable",), _dedupe(warnings)
        )

    errors: list[str] = []
    kind: PlateFormat | None = None
    energy: PlateEnergy | None = None
    province: str | None = None
    length = len(normalized)
    first = normalized[0]

    if first == "使" or (first == "领" and length == 7):
        # 使 + 6 serial characters (embassy); 领 + 6 is the consulate form the common regex accepts.
        kind = PlateFormat.EMBASSY if first == "使" else PlateFormat.CONSULATE
        if length != 7:
            errors.append("bad_length")
        errors += _serial_errors(normalized[1:])
    else:
        if first in PLATE_PROVINCES:
            province = first
        else:
            errors.append("bad_province")
        authority = normalized[1] if length > 1 else ""
        if authority == "I":
            errors.append("forbidden_letter")
        elif authority not in _LETTERS:
            errors.append("bad_authority")
        if normalized.endswith(_EMERGENCY_SUFFIX):
            kind = PlateFormat.EMERGENCY
            if length != 8:
                errors.append("bad_length")
            errors += _serial_errors(normalized[2:-2])
        elif normalized[-1] in _SUFFIX_KIND:
            kind = _SUFFIX_KIND[normalized[-1]]
            if length != 7:
                errors.append("bad_length")
            errors += _serial_errors(normalized[2:-1])
            if kind is PlateFormat.HK_MACAU and not normalized.startswith("粤Z"):
                warnings.append("hk_macau_prefix")
        elif length == 7:
            kind = PlateFormat.ORDINARY
            errors += _serial_errors(normalized[2:])
        elif length == 8:
            kind, energy, nev_errors = _parse_nev(normalized[2:])
            errors += nev_errors
        else:
            errors.append("bad_length")

    plate_color = reported
    if plate_color is None and kind is not None:
        plate_color = _IMPLIED_COLOR.get(kind)
    if reported is not None:
        eight = kind in _NEV_FORMATS if kind is not None else length == 8
        seven = not eight and (
            kind is not PlateFormat.EMERGENCY if kind is not None else length == 7
        )
        green = reported in (PlateColor.GREEN, PlateColor.YELLOW_GREEN)
        blue_or_yellow = reported in (PlateColor.BLUE, PlateColor.YELLOW)
        if (seven and green) or (eight and blue_or_yellow):
            warnings.append("color_mismatch")
    province_name = PROVINCE_PREFIXES[PLATE_PROVINCES[province]] if province is not None else None
    return Plate(
        normalized=normalized,
        valid=not errors,
        province=province,
        province_name=province_name,
        kind=kind,
        energy=energy,
        color=plate_color,
        errors=_dedupe(errors),
        warnings=_dedupe(warnings),
    )


def _parse_nev(serial: str) -> tuple[PlateFormat | None, PlateEnergy | None, list[str]]:
    """The 6-character serial of an 8-character plate: small NEV letter first, large NEV last."""
    errors = _serial_errors(serial)
    head, tail = serial[0], serial[-1]
    if head in _LETTERS and tail in _DIGITS:
        # Small NEV: energy letter, then a letter or digit, then four digits.
        if head not in _NEV_LETTERS or any(c not in _DIGITS for c in serial[2:]):
            errors.append("nev_letter_position")
            return None, None, errors
        return PlateFormat.NEV_SMALL, _energy(head), errors
    if tail in _LETTERS and head in _DIGITS:
        # Large NEV: five digits, then the energy letter.
        if tail not in _NEV_LETTERS or any(c not in _DIGITS for c in serial[:5]):
            errors.append("nev_letter_position")
            return None, None, errors
        return PlateFormat.NEV_LARGE, _energy(tail), errors
    errors.append("nev_letter_position")
    return None, None, errors


def _energy(letter: str) -> PlateEnergy:
    return PlateEnergy.BEV if letter in _NEV_BEV else PlateEnergy.NON_BEV
