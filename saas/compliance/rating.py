"""Performance-rating transport indicators (运输方式) and their assessment against thresholds.

``indicators`` turns ledger counts into exact shares (``Fraction``: no float rounding decides a
rating at exactly 80 %); ``assess`` compares them with the per-industry table in
``data/rating_thresholds.json`` (seed 001 A/B table, domain.md §2.3, seed 003) and says which
level is met and, for each level above it, which indicator falls short by how much.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from saas.compliance.codes import EmissionStage, NonRoadStage, load_data
from saas.compliance.industry import Industry, Rating


class TransportMode(StrEnum):
    """How tonnage moved: the clean modes of seed 003, new-energy trucks, other road haulage."""

    RAIL = "rail"
    WATER = "water"
    PIPELINE = "pipeline"
    BELT = "belt"
    NEV_TRUCK = "nev_truck"
    ROAD = "road"

    @property
    def label_zh(self) -> str:
        return _MODE_ZH[self]


_MODE_ZH: dict[TransportMode, str] = {
    TransportMode.RAIL: "铁路",
    TransportMode.WATER: "水路",
    TransportMode.PIPELINE: "管道",
    TransportMode.BELT: "管状带式输送机/皮带通廊",
    TransportMode.NEV_TRUCK: "新能源汽车",
    TransportMode.ROAD: "公路（非新能源）",
}
_CLEAN_MODES = frozenset(
    {TransportMode.RAIL, TransportMode.WATER, TransportMode.PIPELINE, TransportMode.BELT}
)


@dataclass(frozen=True, slots=True)
class Indicators:
    """Shares in [0, 1]; None when there is nothing to count (no data is not 100 %)."""

    heavy_truck_clean_share: Fraction | None = None
    heavy_truck_cn4_share: Fraction | None = None
    heavy_truck_cn6_share: Fraction | None = None
    in_plant_clean_share: Fraction | None = None
    in_plant_cn4_share: Fraction | None = None
    non_road_clean_share: Fraction | None = None
    clean_transport_ratio: Fraction | None = None
    clean_transport_ratio_with_nev: Fraction | None = None

    def get(self, name: str) -> Fraction | None:
        if name not in INDICATOR_NAMES:
            raise KeyError(name)
        value: Fraction | None = getattr(self, name)
        return value


INDICATOR_NAMES: tuple[str, ...] = tuple(f.name for f in fields(Indicators))


def _count(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def _road_shares(
    counts: Mapping[EmissionStage, int] | None, nev: int, what: str, *minimums: EmissionStage
) -> list[Fraction | None]:
    by_stage = {stage: _count(n, f"{what}[{stage}]") for stage, n in (counts or {}).items()}
    nev = _count(nev, f"{what} new energy")
    total = sum(by_stage.values()) + nev
    if total == 0:
        return [None for _ in minimums]
    return [
        Fraction(nev + sum(n for s, n in by_stage.items() if s.meets(minimum)), total)
        for minimum in minimums
    ]


def _tonnage(value: int | float | Decimal | Fraction, mode: TransportMode) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | Fraction):
        raise ValueError(f"tonnage[{mode}] must be a number, got {value!r}")
    amount = Fraction(value)
    if amount < 0:
        raise ValueError(f"tonnage[{mode}] must not be negative")
    return amount


def indicators(
    *,
    heavy_truck_passages: Mapping[EmissionStage, int] | None = None,
    heavy_truck_nev_passages: int = 0,
    in_plant_vehicles: Mapping[EmissionStage, int] | None = None,
    in_plant_nev: int = 0,
    non_road_machinery: Mapping[NonRoadStage, int] | None = None,
    non_road_nev: int = 0,
    tonnage_by_mode: Mapping[TransportMode, int | float | Decimal | Fraction] | None = None,
) -> Indicators:
    """Shares from counts. Gas vehicles count by their stage (含燃气); unknown stages count as
    not clean. Raises ValueError on negative or non-integer counts (a caller bug, not data)."""
    heavy = _road_shares(
        heavy_truck_passages,
        heavy_truck_nev_passages,
        "heavy_truck_passages",
        EmissionStage.CN5,
        EmissionStage.CN4,
        EmissionStage.CN6A,
    )
    in_plant = _road_shares(
        in_plant_vehicles, in_plant_nev, "in_plant_vehicles", EmissionStage.CN5, EmissionStage.CN4
    )
    machines = {
        s: _count(n, f"non_road_machinery[{s}]") for s, n in (non_road_machinery or {}).items()
    }
    nr_nev = _count(non_road_nev, "non_road_nev")
    nr_total = sum(machines.values()) + nr_nev
    non_road = (
        None
        if nr_total == 0
        else Fraction(
            nr_nev + sum(n for s, n in machines.items() if s.meets(NonRoadStage.NR3)), nr_total
        )
    )
    tons = {mode: _tonnage(v, mode) for mode, v in (tonnage_by_mode or {}).items()}
    total_tons = sum(tons.values(), Fraction(0))
    clean_tons = sum((v for m, v in tons.items() if m in _CLEAN_MODES), Fraction(0))
    nev_tons = tons.get(TransportMode.NEV_TRUCK, Fraction(0))
    return Indicators(
        heavy_truck_clean_share=heavy[0],
        heavy_truck_cn4_share=heavy[1],
        heavy_truck_cn6_share=heavy[2],
        in_plant_clean_share=in_plant[0],
        in_plant_cn4_share=in_plant[1],
        non_road_clean_share=non_road,
        clean_transport_ratio=None if total_tons == 0 else clean_tons / total_tons,
        clean_transport_ratio_with_nev=None
        if total_tons == 0
        else (clean_tons + nev_tons) / total_tons,
    )


@dataclass(frozen=True, slots=True)
class Shortfall:
    """One unmet clause: the closest alternative, what it needs, what it has, the gap."""

    level: Rating
    label: str
    indicator: str
    required: Fraction
    actual: Fraction | None
    """None: no data for this indicator."""
    gap: Fraction
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Assessment:
    industry: Industry
    table: str
    """Which threshold table was used (the industry's own, or ``default``)."""
    level: Rating | None
    """The highest level whose transport indicators are all met; None if none is."""
    shortfalls: tuple[Shortfall, ...]
    """For every level above the one met, each clause that falls short."""
    source: str


@dataclass(frozen=True, slots=True)
class _Requirement:
    indicator: str
    minimum: Fraction


@dataclass(frozen=True, slots=True)
class _Clause:
    label: str
    any_of: tuple[_Requirement, ...]


_LEVEL_ORDER = (Rating.A, Rating.B, Rating.C)


def _load_tables() -> tuple[dict[str, dict[Rating, tuple[_Clause, ...]]], dict[str, str]]:
    data: dict[str, Any] = load_data("rating_thresholds.json")
    tables: dict[str, dict[Rating, tuple[_Clause, ...]]] = {}
    sources: dict[str, str] = {}
    for name, row in data["industries"].items():
        sources[name] = str(row["source"])
        tables[name] = {
            Rating(level): tuple(
                _Clause(
                    str(c["label"]),
                    tuple(
                        _Requirement(str(r["indicator"]), Fraction(r["min"])) for r in c["any_of"]
                    ),
                )
                for c in clauses
            )
            for level, clauses in row["levels"].items()
        }
    return tables, sources


THRESHOLDS, _SOURCES = _load_tables()


def _check(clause: _Clause, values: Indicators, level: Rating) -> Shortfall | None:
    best: Shortfall | None = None
    for req in clause.any_of:
        actual = values.get(req.indicator)
        if actual is not None and actual >= req.minimum:
            return None
        gap = req.minimum if actual is None else req.minimum - actual
        if best is None or gap < best.gap:
            best = Shortfall(level, clause.label, req.indicator, req.minimum, actual, gap)
    assert best is not None  # every clause has at least one alternative (data test)
    others = tuple(r.indicator for r in clause.any_of if r.indicator != best.indicator)
    return Shortfall(
        best.level, best.label, best.indicator, best.required, best.actual, best.gap, others
    )


def assess(values: Indicators, industry: Industry) -> Assessment:
    """The highest level met (A, then B, then C where the industry has one) and the shortfalls."""
    table_name = industry.value if industry.value in THRESHOLDS else "default"
    table = THRESHOLDS[table_name]
    met: Rating | None = None
    shortfalls: list[Shortfall] = []
    for level in _LEVEL_ORDER:
        if level not in table:
            continue
        missing = [s for c in table[level] if (s := _check(c, values, level)) is not None]
        if not missing:
            met = level
            break
        shortfalls += missing
    return Assessment(industry, table_name, met, tuple(shortfalls), _SOURCES[table_name])
