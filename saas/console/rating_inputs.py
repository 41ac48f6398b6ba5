"""The inputs of ``saas.compliance.rating`` from one site's ledger and registries over a period
of Beijing days, and the indicators' assessment against the industry's thresholds
(docs/console.md, "Rating services").

Where each input comes from:

* **heavy-truck passages** (物料公路运输重型载货车辆): the site's admitted entries in the period —
  passage records (``kind = passage``, ``direction = in``) whose gate verdict was ALLOW (a
  guard's release at the gate is such a record) or that a portal release admitted later (a
  ``manual_release`` amendment names them). A refused truck did not haul anything. A passage is
  a heavy truck when the vehicle type the edge recorded (GA 24.4) is heavy-duty (重型); with
  no known type, a yellow plate counts as one (conservative: its stage decides, and an unknown
  stage is not clean). Vehicles the edge filed as in-plant, visitor, internal or exempt are not
  material haulage. New-energy fuels count as new energy, whatever the stage column says.
* **in-plant vehicles** and **non-road machinery**: the site's registries as they stand (active
  rows; a registry keeps no dated fleet history, and plants often enter it after the fact) by
  emission stage; electric and other new-energy fuels count apart.
* **tonnage**: road tonnage is the cargo recorded on admitted passages (entries and exits) in
  tonnes (``t``/``吨``, ``kg`` converted), new-energy trucks apart; rail, water, pipeline and
  belt tonnage is not in the ledger and is entered by the expert for the period.

Read-only; the caller sets the tenant context (or a system context) and names the site.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from sqlalchemy import Numeric, and_, cast, func, or_, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from saas.compliance.codes import (
    EmissionStage,
    FuelType,
    NonRoadStage,
    VehicleCategory,
    vehicle_type_from_code,
)
from saas.compliance.industry import Industry, Rating
from saas.compliance.rating import (
    INDICATOR_NAMES,
    THRESHOLDS,
    Assessment,
    Indicators,
    TransportMode,
    assess,
    indicators,
)
from saas.models.ledger import InPlantVehicle, NonRoadMachinery, Passage
from saas.models.tenancy import Site
from saas.regulator.outbox import beijing_day_bounds

MAX_DAYS = 400  # like the report-rate screens: one query stays a bounded scan
CLEAN_MODES = (
    TransportMode.RAIL,
    TransportMode.WATER,
    TransportMode.PIPELINE,
    TransportMode.BELT,
)
TONNES_PER_UNIT = {
    "t": Decimal(1),
    "吨": Decimal(1),
    "kg": Decimal("0.001"),
    "千克": Decimal("0.001"),
    "公斤": Decimal("0.001"),
}
_HAULAGE_CATEGORIES = {None, "", VehicleCategory.TRANSPORT.value}
_TONNE = Decimal("0.001")


@dataclass
class IndicatorInputs:
    """What was counted, kept for display beside the shares it produced."""

    start: date
    end: date
    heavy_truck_passages: dict[EmissionStage, int] = field(default_factory=dict)
    heavy_truck_nev_passages: int = 0
    other_entries: int = 0  # admitted entries not counted as heavy-truck haulage
    in_plant_vehicles: dict[EmissionStage, int] = field(default_factory=dict)
    in_plant_nev: int = 0
    non_road_machinery: dict[NonRoadStage, int] = field(default_factory=dict)
    non_road_nev: int = 0
    tonnage_by_mode: dict[TransportMode, Decimal] = field(default_factory=dict)
    cargo_other_units: int = 0  # passages whose cargo unit is not a mass (方, 车 …): left out

    @property
    def heavy_truck_total(self) -> int:
        return sum(self.heavy_truck_passages.values()) + self.heavy_truck_nev_passages

    @property
    def in_plant_total(self) -> int:
        return sum(self.in_plant_vehicles.values()) + self.in_plant_nev

    @property
    def non_road_total(self) -> int:
        return sum(self.non_road_machinery.values()) + self.non_road_nev

    def indicators(self) -> Indicators:
        return indicators(
            heavy_truck_passages=self.heavy_truck_passages,
            heavy_truck_nev_passages=self.heavy_truck_nev_passages,
            in_plant_vehicles=self.in_plant_vehicles,
            in_plant_nev=self.in_plant_nev,
            non_road_machinery=self.non_road_machinery,
            non_road_nev=self.non_road_nev,
            tonnage_by_mode=self.tonnage_by_mode,
        )


def _json_text(session: Session, *path: str) -> Any:
    """A text value inside the passage record's JSON, in SQL (NULL when absent)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.jsonb_extract_path_text(cast(Passage.record, JSONB), *path)
    return func.json_extract(Passage.record, "$." + ".".join(path))


def _json_number(session: Session, *path: str) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return cast(_json_text(session, *path), Numeric)
    return func.json_extract(Passage.record, "$." + ".".join(path))


def _stage(value: str | None) -> EmissionStage:
    try:
        return EmissionStage((value or "").strip().lower())
    except ValueError:
        return EmissionStage.UNKNOWN


def _nonroad_stage(value: str | None) -> NonRoadStage:
    try:
        return NonRoadStage((value or "").strip().lower())
    except ValueError:
        return NonRoadStage.UNKNOWN


def _new_energy(fuel: str | None) -> bool:
    try:
        return FuelType((fuel or "").strip().lower()).is_new_energy
    except ValueError:
        return False


def _heavy_haulage(vehicle_type: str | None, category: str | None, plate_color: str | None) -> bool:
    if category not in _HAULAGE_CATEGORIES:
        return False
    known = vehicle_type_from_code(vehicle_type) if vehicle_type else None
    if known is not None:
        return known.heavy_duty
    return plate_color == "yellow"


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def gather(
    session: Session,
    site: Site,
    start: date,
    end: date,
    clean_tonnage: Mapping[TransportMode, Decimal] | None = None,
) -> IndicatorInputs:
    """Count the site's data for Beijing days ``start``..``end`` (inclusive). ValueError names
    the argument on a bad period or tonnage."""
    if end < start:
        raise ValueError("to: must not be before from")
    if (end - start).days >= MAX_DAYS:
        raise ValueError(f"to: at most {MAX_DAYS} days per query")
    out = IndicatorInputs(start, end)
    lo, hi = beijing_day_bounds(start)[0], beijing_day_bounds(end)[1]
    released = select(Passage.amends_event_id).where(
        Passage.site_id == site.id,
        Passage.kind == "manual_release",
        Passage.amends_event_id.is_not(None),
    )
    admitted = and_(
        Passage.site_id == site.id,
        Passage.kind == "passage",
        Passage.captured_at >= lo,
        Passage.captured_at < hi,
        or_(Passage.verdict == "ALLOW", Passage.event_id.in_(released)),
    )

    # 1. Heavy-truck entries by stage (new energy apart).
    vehicle_type = _json_text(session, "vehicle", "vehicle_type")
    category = _json_text(session, "vehicle", "category")
    entries = session.execute(
        select(
            vehicle_type,
            category,
            Passage.emission_stage,
            Passage.fuel_type,
            Passage.plate_color,
            func.count(),
        )
        .where(admitted, Passage.direction == "in")
        .group_by(
            vehicle_type, category, Passage.emission_stage, Passage.fuel_type, Passage.plate_color
        )
    )
    for vtype, cat, stage, fuel, color, number in entries:
        if not _heavy_haulage(vtype, cat, color):
            out.other_entries += int(number)
        elif _new_energy(fuel):
            out.heavy_truck_nev_passages += int(number)
        else:
            key = _stage(stage)
            out.heavy_truck_passages[key] = out.heavy_truck_passages.get(key, 0) + int(number)

    # 2. Registries: in-plant vehicles and non-road machinery.
    for stage, fuel, number in session.execute(
        select(InPlantVehicle.emission_stage, InPlantVehicle.fuel_type, func.count())
        .where(
            InPlantVehicle.site_id == site.id,
            InPlantVehicle.active.is_(True),
        )
        .group_by(InPlantVehicle.emission_stage, InPlantVehicle.fuel_type)
    ):
        if _new_energy(fuel):
            out.in_plant_nev += int(number)
        else:
            key = _stage(stage)
            out.in_plant_vehicles[key] = out.in_plant_vehicles.get(key, 0) + int(number)
    for nr_stage, fuel, number in session.execute(
        select(NonRoadMachinery.nonroad_stage, NonRoadMachinery.fuel_type, func.count())
        .where(
            NonRoadMachinery.site_id == site.id,
            NonRoadMachinery.active.is_(True),
        )
        .group_by(NonRoadMachinery.nonroad_stage, NonRoadMachinery.fuel_type)
    ):
        if _new_energy(fuel):
            out.non_road_nev += int(number)
        else:
            nr_key = _nonroad_stage(nr_stage)
            out.non_road_machinery[nr_key] = out.non_road_machinery.get(nr_key, 0) + int(number)

    # 3. Tonnage: road cargo from the ledger, clean modes as entered.
    unit = _json_text(session, "cargo", "unit")
    quantity = _json_number(session, "cargo", "quantity")
    road = Decimal(0)
    nev = Decimal(0)
    for unit_name, fuel, number, total in session.execute(
        select(unit, Passage.fuel_type, func.count(), func.sum(quantity))
        .where(admitted, quantity.is_not(None))
        .group_by(unit, Passage.fuel_type)
    ):
        factor = TONNES_PER_UNIT.get(str(unit_name or "t").strip().lower())
        if factor is None:
            out.cargo_other_units += int(number)
            continue
        tonnes = _decimal(total) * factor
        if _new_energy(fuel):
            nev += tonnes
        else:
            road += tonnes
    tonnage: dict[TransportMode, Decimal] = {}
    for mode, amount in (clean_tonnage or {}).items():
        if mode not in CLEAN_MODES:
            raise ValueError(f"{mode}: only rail, water, pipeline and belt tonnage is entered")
        if amount < 0:
            raise ValueError(f"{mode}: must not be negative")
        if amount:
            tonnage[mode] = amount
    if road:
        tonnage[TransportMode.ROAD] = road.quantize(_TONNE, rounding=ROUND_HALF_UP)
    if nev:
        tonnage[TransportMode.NEV_TRUCK] = nev.quantize(_TONNE, rounding=ROUND_HALF_UP)
    out.tonnage_by_mode = tonnage
    return out


# --- the assessment, as the page shows it -------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    indicator: str
    minimum: Fraction
    actual: Fraction | None

    @property
    def met(self) -> bool:
        return self.actual is not None and self.actual >= self.minimum


@dataclass(frozen=True)
class Clause:
    label: str
    alternatives: tuple[Requirement, ...]

    @property
    def met(self) -> bool:
        return any(r.met for r in self.alternatives)


@dataclass(frozen=True)
class LevelCheck:
    level: Rating
    clauses: tuple[Clause, ...]

    @property
    def met(self) -> bool:
        return all(c.met for c in self.clauses)


@dataclass(frozen=True)
class RatingView:
    inputs: IndicatorInputs
    values: Indicators
    assessment: Assessment
    levels: tuple[LevelCheck, ...]

    def value(self, name: str) -> Fraction | None:
        return self.values.get(name)


def industry_of(site: Site) -> Industry:
    try:
        return Industry(site.industry)
    except ValueError:
        return Industry.OTHER


def evaluate(site: Site, inputs: IndicatorInputs) -> RatingView:
    """The shares, the level ``assess`` grants, and every clause of every level of the
    industry's table with its threshold, the site's value and pass/fail."""
    values = inputs.indicators()
    result = assess(values, industry_of(site))
    table = THRESHOLDS[result.table]
    levels = tuple(
        LevelCheck(
            level,
            tuple(
                Clause(
                    clause.label,
                    tuple(
                        Requirement(r.indicator, r.minimum, values.get(r.indicator))
                        for r in clause.any_of
                    ),
                )
                for clause in table[level]
            ),
        )
        for level in (Rating.A, Rating.B, Rating.C)
        if level in table
    )
    return RatingView(inputs, values, result, levels)


def percent(value: Fraction | None) -> str:
    """``80.00%`` (half up, for display only: pass/fail compares exact fractions)."""
    if value is None:
        return "—"
    exact = Decimal(value.numerator) / Decimal(value.denominator) * 100
    return f"{exact.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}%"


__all__ = [
    "CLEAN_MODES",
    "INDICATOR_NAMES",
    "IndicatorInputs",
    "RatingView",
    "evaluate",
    "gather",
    "percent",
]
