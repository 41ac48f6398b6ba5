"""Canonical code tables (enums) and the conversions from and to the foreign conventions.

There is no single national code table (domain.md §1.7): the regulator API, the 公安卡口 and ETC
systems and each gate vendor number stages and plate colours differently. The product stores only
the enums below; adapters convert with the ``*_from_code`` / ``*_to_code`` functions, whose tables
live in ``data/codes.json`` with their sources, so no adapter invents its own mapping.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any


def load_data(*parts: str) -> Any:
    """Read a bundled JSON data file (import-time only; the rules themselves do no I/O)."""
    node = resources.files("saas.compliance").joinpath("data")
    for part in parts:
        node = node.joinpath(part)
    return json.loads(node.read_text(encoding="utf-8"))


_CODES: dict[str, Any] = load_data("codes.json")


def _entries(table: str) -> dict[str, Any]:
    entries: dict[str, Any] = _CODES[table]["entries"]
    return entries


class EmissionStage(StrEnum):
    """Road-vehicle emission stage, ordered ``UNKNOWN < CN0 < … < CN5 < CN6A < CN6B``.

    ``UNKNOWN`` sorts below every real stage so that it never satisfies a minimum.
    Comparisons between stages use that order, not the string values.
    """

    CN0 = "cn0"
    CN1 = "cn1"
    CN2 = "cn2"
    CN3 = "cn3"
    CN4 = "cn4"
    CN5 = "cn5"
    CN6A = "cn6a"
    CN6B = "cn6b"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        return _STAGE_RANK[self]

    @property
    def label_zh(self) -> str:
        """国四, 国六a … as written in ledgers."""
        return str(_entries("emission_stages")[self.value]["zh"])

    @property
    def label_en(self) -> str:
        return str(_entries("emission_stages")[self.value]["en"])

    @property
    def short_zh(self) -> str:
        """The label an LED shows: 国六 for both 6a and 6b."""
        return _STAGE_SHORT[self]

    @property
    def board_label(self) -> str:
        """Roman form used on the seed-001 board phrase (国V, 国VI)."""
        return _STAGE_BOARD[self]

    def meets(self, minimum: EmissionStage) -> bool:
        """True if this stage is at least ``minimum``; an unknown stage meets nothing."""
        return self is not EmissionStage.UNKNOWN and _STAGE_RANK[self] >= _STAGE_RANK[minimum]

    def __lt__(self, other: str) -> bool:
        if isinstance(other, EmissionStage):
            return _STAGE_RANK[self] < _STAGE_RANK[other]
        return str.__lt__(self, other)

    def __le__(self, other: str) -> bool:
        if isinstance(other, EmissionStage):
            return _STAGE_RANK[self] <= _STAGE_RANK[other]
        return str.__le__(self, other)

    def __gt__(self, other: str) -> bool:
        if isinstance(other, EmissionStage):
            return _STAGE_RANK[self] > _STAGE_RANK[other]
        return str.__gt__(self, other)

    def __ge__(self, other: str) -> bool:
        if isinstance(other, EmissionStage):
            return _STAGE_RANK[self] >= _STAGE_RANK[other]
        return str.__ge__(self, other)


_STAGE_RANK: dict[EmissionStage, int] = {
    EmissionStage(k): int(v["rank"]) for k, v in _entries("emission_stages").items()
}
_STAGE_SHORT: dict[EmissionStage, str] = {
    EmissionStage(k): str(v.get("short", v["zh"])) for k, v in _entries("emission_stages").items()
}
_STAGE_BOARD: dict[EmissionStage, str] = {
    EmissionStage(k): str(v["board"]) for k, v in _entries("emission_stages").items()
}


class NonRoadStage(StrEnum):
    """Non-road mobile machinery stage (GB 20891), ordered like :class:`EmissionStage`."""

    NR1 = "nr1"
    NR2 = "nr2"
    NR3 = "nr3"
    NR4 = "nr4"
    UNKNOWN = "unknown"

    @property
    def rank(self) -> int:
        return _NR_RANK[self]

    @property
    def label_zh(self) -> str:
        return str(_entries("non_road_stages")[self.value]["zh"])

    @property
    def label_en(self) -> str:
        return str(_entries("non_road_stages")[self.value]["en"])

    def meets(self, minimum: NonRoadStage) -> bool:
        return self is not NonRoadStage.UNKNOWN and _NR_RANK[self] >= _NR_RANK[minimum]

    def __lt__(self, other: str) -> bool:
        if isinstance(other, NonRoadStage):
            return _NR_RANK[self] < _NR_RANK[other]
        return str.__lt__(self, other)

    def __le__(self, other: str) -> bool:
        if isinstance(other, NonRoadStage):
            return _NR_RANK[self] <= _NR_RANK[other]
        return str.__le__(self, other)

    def __gt__(self, other: str) -> bool:
        if isinstance(other, NonRoadStage):
            return _NR_RANK[self] > _NR_RANK[other]
        return str.__gt__(self, other)

    def __ge__(self, other: str) -> bool:
        if isinstance(other, NonRoadStage):
            return _NR_RANK[self] >= _NR_RANK[other]
        return str.__ge__(self, other)


_NR_RANK: dict[NonRoadStage, int] = {
    NonRoadStage(k): int(v["rank"]) for k, v in _entries("non_road_stages").items()
}


class FuelType(StrEnum):
    DIESEL = "diesel"
    GASOLINE = "gasoline"
    NATURAL_GAS = "natural_gas"
    LPG = "lpg"
    METHANOL = "methanol"
    ETHANOL = "ethanol"
    ELECTRIC = "electric"
    PLUG_IN_HYBRID = "plug_in_hybrid"
    HYBRID = "hybrid"
    FUEL_CELL = "fuel_cell"
    OTHER = "other"

    @property
    def label_zh(self) -> str:
        return str(_entries("fuel_types")[self.value]["zh"])

    @property
    def label_en(self) -> str:
        return str(_entries("fuel_types")[self.value]["en"])

    @property
    def is_new_energy(self) -> bool:
        """新能源汽车 per seed 003 附表5 注: battery electric, plug-in hybrid, fuel cell."""
        return bool(_entries("fuel_types")[self.value]["new_energy"])

    @property
    def is_gas(self) -> bool:
        """燃气 (CNG/LNG/LPG): some rules set a stricter stage for gas vehicles (seed 003)."""
        return bool(_entries("fuel_types")[self.value]["gas"])


class PlateColor(StrEnum):
    BLUE = "blue"
    YELLOW = "yellow"
    GREEN = "green"
    YELLOW_GREEN = "yellow_green"
    WHITE = "white"
    BLACK = "black"
    OTHER = "other"

    @property
    def label_zh(self) -> str:
        return str(_entries("plate_colors")[self.value]["zh"])

    @property
    def label_en(self) -> str:
        return str(_entries("plate_colors")[self.value]["en"])


class PlateKind(StrEnum):
    """号牌种类, GA 24.7 codes (plus the 卡口 extras 41/42/99)."""

    LARGE = "01"
    SMALL = "02"
    EMBASSY = "03"
    CONSULATE = "04"
    FOREIGN_REGISTERED = "05"
    FOREIGN_OWNED = "06"
    MOTORCYCLE = "07"
    MOPED = "08"
    EMBASSY_MOTORCYCLE = "09"
    CONSULATE_MOTORCYCLE = "10"
    FOREIGN_REGISTERED_MOTORCYCLE = "11"
    FOREIGN_OWNED_MOTORCYCLE = "12"
    LOW_SPEED = "13"
    TRACTOR = "14"
    TRAILER = "15"
    COACH = "16"
    COACH_MOTORCYCLE = "17"
    TEST = "18"
    TEST_MOTORCYCLE = "19"
    TEMPORARY_ENTRY = "20"
    TEMPORARY_ENTRY_MOTORCYCLE = "21"
    TEMPORARY = "22"
    POLICE = "23"
    POLICE_MOTORCYCLE = "24"
    FORMER_AGRICULTURAL = "25"
    HONG_KONG = "26"
    MACAU = "27"
    NO_PLATE = "41"
    FAKE_PLATE = "42"
    NEV_LARGE = "51"
    NEV_SMALL = "52"
    OTHER = "99"

    @property
    def label_zh(self) -> str:
        return str(_entries("plate_kinds")[self.value]["zh"])

    @property
    def label_en(self) -> str:
        return str(_entries("plate_kinds")[self.value]["en"])


class UseNature(StrEnum):
    """使用性质, GA 24.3 codes."""

    NON_COMMERCIAL = "A"
    HIGHWAY_PASSENGER = "B"
    PUBLIC_TRANSIT = "C"
    TAXI = "D"
    TOURISM = "E"
    FREIGHT = "F"
    RENTAL = "G"
    POLICE = "H"
    FIRE = "I"
    AMBULANCE = "J"
    ENGINEERING_RESCUE = "K"
    FORMER_COMMERCIAL = "L"
    FORMER_TAXI = "M"
    DRIVING_SCHOOL = "N"
    KINDERGARTEN_BUS = "O"
    PRIMARY_SCHOOL_BUS = "P"
    JUNIOR_SCHOOL_BUS = "Q"
    HAZARDOUS_GOODS = "R"
    SCHOOL_BUS = "S"

    @property
    def label_zh(self) -> str:
        return str(_entries("use_natures")[self.value]["zh"])

    @property
    def label_en(self) -> str:
        return str(_entries("use_natures")[self.value]["en"])


class VehicleClass(StrEnum):
    """The coarse class rules match on, derived from the GA 24.4 code (``data/codes.json``)."""

    HEAVY_TRUCK = "heavy_truck"
    MEDIUM_TRUCK = "medium_truck"
    LIGHT_TRUCK = "light_truck"
    MINI_TRUCK = "mini_truck"
    TRACTOR = "tractor"
    TRAILER = "trailer"
    BUS = "bus"
    CAR = "car"
    SPECIAL = "special"
    MACHINERY = "machinery"
    OTHER = "other"

    @property
    def label_zh(self) -> str:
        return str(_entries("vehicle_classes")[self.value]["zh"])

    @property
    def label_en(self) -> str:
        return str(_entries("vehicle_classes")[self.value]["en"])


class VehicleType(StrEnum):
    """车辆类型, GA 24.4 codes. Labels, class and size come from ``data/codes.json``."""

    H11 = "H11"
    H12 = "H12"
    H13 = "H13"
    H14 = "H14"
    H15 = "H15"
    H16 = "H16"
    H17 = "H17"
    H18 = "H18"
    H19 = "H19"
    H21 = "H21"
    H22 = "H22"
    H23 = "H23"
    H24 = "H24"
    H25 = "H25"
    H26 = "H26"
    H27 = "H27"
    H28 = "H28"
    H29 = "H29"
    H31 = "H31"
    H32 = "H32"
    H33 = "H33"
    H34 = "H34"
    H35 = "H35"
    H36 = "H36"
    H37 = "H37"
    H38 = "H38"
    H39 = "H39"
    H41 = "H41"
    H42 = "H42"
    H43 = "H43"
    H44 = "H44"
    H45 = "H45"
    H46 = "H46"
    H47 = "H47"
    H51 = "H51"
    H52 = "H52"
    H53 = "H53"
    H54 = "H54"
    H55 = "H55"
    Q11 = "Q11"
    Q12 = "Q12"
    Q21 = "Q21"
    Q22 = "Q22"
    Q31 = "Q31"
    Q32 = "Q32"
    B11 = "B11"
    B12 = "B12"
    B13 = "B13"
    B14 = "B14"
    B15 = "B15"
    B16 = "B16"
    B17 = "B17"
    B18 = "B18"
    B19 = "B19"
    B1A = "B1A"
    B1B = "B1B"
    B21 = "B21"
    B22 = "B22"
    B23 = "B23"
    B24 = "B24"
    B25 = "B25"
    B26 = "B26"
    B27 = "B27"
    B28 = "B28"
    B29 = "B29"
    B2A = "B2A"
    B2B = "B2B"
    B31 = "B31"
    B32 = "B32"
    B33 = "B33"
    B34 = "B34"
    B35 = "B35"
    B36 = "B36"
    B37 = "B37"
    B38 = "B38"
    B39 = "B39"
    G11 = "G11"
    G12 = "G12"
    G13 = "G13"
    G14 = "G14"
    G15 = "G15"
    G16 = "G16"
    G17 = "G17"
    G18 = "G18"
    G19 = "G19"
    G21 = "G21"
    G22 = "G22"
    G23 = "G23"
    G24 = "G24"
    G25 = "G25"
    G26 = "G26"
    G27 = "G27"
    G28 = "G28"
    G29 = "G29"
    G31 = "G31"
    G32 = "G32"
    G33 = "G33"
    G34 = "G34"
    G35 = "G35"
    G36 = "G36"
    G37 = "G37"
    G38 = "G38"
    K11 = "K11"
    K12 = "K12"
    K13 = "K13"
    K14 = "K14"
    K15 = "K15"
    K16 = "K16"
    K17 = "K17"
    K18 = "K18"
    K21 = "K21"
    K22 = "K22"
    K23 = "K23"
    K24 = "K24"
    K25 = "K25"
    K26 = "K26"
    K27 = "K27"
    K28 = "K28"
    K31 = "K31"
    K32 = "K32"
    K33 = "K33"
    K34 = "K34"
    K38 = "K38"
    K39 = "K39"
    K41 = "K41"
    K42 = "K42"
    K43 = "K43"
    Z11 = "Z11"
    Z21 = "Z21"
    Z31 = "Z31"
    Z41 = "Z41"
    Z51 = "Z51"
    Z71 = "Z71"
    J11 = "J11"
    J12 = "J12"
    J13 = "J13"
    T11 = "T11"
    T21 = "T21"
    T22 = "T22"
    T23 = "T23"
    M11 = "M11"
    M12 = "M12"
    M13 = "M13"
    M14 = "M14"
    M15 = "M15"
    M21 = "M21"
    M22 = "M22"
    N11 = "N11"
    D11 = "D11"
    D12 = "D12"
    X99 = "X99"

    @property
    def label_zh(self) -> str:
        return str(_entries("vehicle_types")[self.value]["zh"])

    @property
    def label_en(self) -> str:
        return str(_entries("vehicle_types")[self.value]["en"])

    @property
    def vehicle_class(self) -> VehicleClass:
        return _VT_CLASS[self]

    @property
    def size(self) -> str:
        """The GA size word: heavy, medium, light, mini, large, small or none."""
        return str(_entries("vehicle_types")[self.value]["size"])

    @property
    def heavy_duty(self) -> bool:
        """重型 in the GA 24.4 name: what the alert measures call 重型载货车辆 (with the class)."""
        return _VT_HEAVY[self]

    @property
    def confirmed(self) -> bool:
        return "confidence" not in _entries("vehicle_types")[self.value]


_VT_CLASS: dict[VehicleType, VehicleClass] = {
    VehicleType(k): VehicleClass(v["class"]) for k, v in _entries("vehicle_types").items()
}
_VT_HEAVY: dict[VehicleType, bool] = {
    VehicleType(k): v["size"] == "heavy" for k, v in _entries("vehicle_types").items()
}


class AlertLevel(StrEnum):
    """Heavy-pollution alert: 黄/橙/红 = Ⅲ/Ⅱ/Ⅰ级 response (domain.md §2.1)."""

    NONE = "none"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def label_zh(self) -> str:
        return str(_entries("alert_levels")[self.value]["zh"])

    @property
    def label_en(self) -> str:
        return str(_entries("alert_levels")[self.value]["en"])

    @property
    def response_level(self) -> str | None:
        """III, II or I (None when no alert is active)."""
        value = _entries("alert_levels")[self.value]["response"]
        return None if value is None else str(value)

    @property
    def response_zh(self) -> str | None:
        value = _entries("alert_levels")[self.value]["response_zh"]
        return None if value is None else str(value)

    @classmethod
    def parse(cls, text: str) -> AlertLevel | None:
        """Read a regulator's warningLevel / respondLevel text (黄色, III级, …)."""
        return _ALERT_ALIASES.get(text.strip()) if isinstance(text, str) else None


_ALERT_ALIASES: dict[str, AlertLevel] = {
    alias: AlertLevel(k) for k, v in _entries("alert_levels").items() for alias in v["aliases"]
}


class Direction(StrEnum):
    IN = "in"
    OUT = "out"

    @property
    def label_zh(self) -> str:
        return str(_entries("directions")[self.value]["zh"])

    @property
    def code(self) -> str:
        """The 1/2 code of the regulator API and most gate clients."""
        return str(_entries("directions")[self.value]["code"])


class VehicleCategory(StrEnum):
    """Which ledger a vehicle belongs to (HJ 1321 three ledgers, plus visitors and staff)."""

    TRANSPORT = "transport"
    IN_PLANT = "in_plant"
    VISITOR = "visitor"
    INTERNAL = "internal"
    EXEMPT = "exempt"

    @property
    def label_zh(self) -> str:
        return _CATEGORY_ZH[self]


_CATEGORY_ZH: dict[VehicleCategory, str] = {
    VehicleCategory.TRANSPORT: "进出厂运输车辆",
    VehicleCategory.IN_PLANT: "厂内运输车辆",
    VehicleCategory.VISITOR: "访客车辆",
    VehicleCategory.INTERNAL: "内部车辆",
    VehicleCategory.EXEMPT: "豁免车辆",
}


class ExemptionCategory(StrEnum):
    """Exemptions alert plans name (domain.md §2.2, §6.1; seed 003 for hazardous goods)."""

    LIVELIHOOD = "livelihood"
    SAFETY_PRODUCTION = "safety_production"
    SPECIAL = "special"
    HAZARDOUS = "hazardous"

    @property
    def label_zh(self) -> str:
        return _EXEMPTION_ZH[self]


_EXEMPTION_ZH: dict[ExemptionCategory, str] = {
    ExemptionCategory.LIVELIHOOD: "民生保障",
    ExemptionCategory.SAFETY_PRODUCTION: "安全生产",
    ExemptionCategory.SPECIAL: "特种车辆",
    ExemptionCategory.HAZARDOUS: "危化品运输",
}


class Verdict(StrEnum):
    """A gate verdict, also a rule's effect. Severity: DENY > REVIEW > ALLOW."""

    ALLOW = "allow"
    DENY = "deny"
    REVIEW = "review"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @property
    def label_zh(self) -> str:
        return _VERDICT_ZH[self]


_SEVERITY: dict[Verdict, int] = {Verdict.ALLOW: 0, Verdict.REVIEW: 1, Verdict.DENY: 2}
_VERDICT_ZH: dict[Verdict, str] = {
    Verdict.ALLOW: "准许进入",
    Verdict.DENY: "禁止进入",
    Verdict.REVIEW: "人工核验",
}


# --- foreign conventions ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageCode:
    """A foreign stage code read back: a stage, or (for codes such as ``D`` 电动) a fuel."""

    stage: EmissionStage | None
    fuel: FuelType | None = None


STAGE_CONVENTIONS: tuple[str, ...] = tuple(_CODES["stage_conventions"])
COLOR_CONVENTIONS: tuple[str, ...] = tuple(_CODES["plate_color_conventions"])
FUEL_CONVENTIONS: tuple[str, ...] = tuple(_CODES["fuel_conventions"])


def _read_stage_target(target: str) -> StageCode:
    if target.startswith("fuel:"):
        return StageCode(stage=None, fuel=FuelType(target[5:]))
    return StageCode(stage=EmissionStage(target))


def stage_from_code(convention: str, code: str) -> StageCode | None:
    """Read a foreign stage code (e.g. ``stage_from_code("entrance_control", "D")``)."""
    table = _CODES["stage_conventions"].get(convention)
    if table is None or not isinstance(code, str):
        return None
    target = table["codes"].get(code.strip().upper())
    return None if target is None else _read_stage_target(str(target))


def stage_to_code(
    convention: str, stage: EmissionStage | None, fuel: FuelType | None = None
) -> str | None:
    """Write a stage (or, for new-energy vehicles, the fuel) in a foreign convention.

    Returns None when the convention has no code for it (an unknown stage, or new energy in a
    convention without one): adapters must then send their platform's "unknown".
    """
    table = _CODES["stage_conventions"].get(convention)
    if table is None:
        return None
    emit: dict[str, str] = table["emit"]
    inverse = {str(v): k for k, v in table["codes"].items()}
    if fuel is not None and fuel.is_new_energy:
        key = f"fuel:{fuel.value}"
        code = emit.get(key, inverse.get(key))
        if code is not None:
            return code
    if stage is None or stage is EmissionStage.UNKNOWN:
        return None
    return emit.get(stage.value, inverse.get(stage.value))


_COLOR_ALIASES: dict[str, PlateColor] = {
    alias.upper(): PlateColor(k)
    for k, v in _entries("plate_colors").items()
    for alias in v["aliases"]
}


def parse_color(text: str | None) -> PlateColor | None:
    """Read a colour name as cameras and people write it (蓝, 黄绿双拼, green…)."""
    if not isinstance(text, str):
        return None
    return _COLOR_ALIASES.get(text.strip().upper())


def color_from_code(convention: str, code: str) -> PlateColor | None:
    """Read a numeric plate-colour code; the same digit means different colours per convention."""
    table = _CODES["plate_color_conventions"].get(convention)
    if table is None or not isinstance(code, str):
        return None
    target = table["codes"].get(code.strip())
    return None if target is None else PlateColor(target)


def color_to_code(convention: str, color: PlateColor | None) -> str | None:
    table = _CODES["plate_color_conventions"].get(convention)
    if table is None or color is None:
        return None
    if color.value in table["emit"]:
        return str(table["emit"][color.value])
    for code, target in table["codes"].items():
        if target == color.value:
            return str(code)
    return None


def fuel_from_code(convention: str, code: str) -> FuelType | None:
    table = _CODES["fuel_conventions"].get(convention)
    if table is None or not isinstance(code, str):
        return None
    target = table["codes"].get(code.strip().upper())
    return None if target is None else FuelType(target)


def fuel_to_code(convention: str, fuel: FuelType | None) -> str | None:
    table = _CODES["fuel_conventions"].get(convention)
    if table is None or fuel is None:
        return None
    if fuel.value in table["emit"]:
        return str(table["emit"][fuel.value])
    for code, target in table["codes"].items():
        if target == fuel.value:
            return str(code)
    return None  # pragma: no cover - every fuel has a GA code or an emit entry


def vehicle_type_from_code(code: str) -> VehicleType | None:
    """A GA 24.4 code (``H11``, ``q11``) or None if it is not in the table."""
    if not isinstance(code, str):
        return None
    try:
        return VehicleType(code.strip().upper())
    except ValueError:
        return None


PLATE_PROVINCES: dict[str, str] = dict(_entries("plate_provinces"))
"""Plate province abbreviation → GB/T 2260 province prefix (京 → 11)."""
