"""Emission-stage inference from the registration date (data: ``data/stage_dates.json``).

Only a fallback for when the registry, the 随车清单 and 环保信息公开 give no stage (domain.md §4.2).
The dates are mostly [UNCONFIRMED], so the guess says how sure it is and why, and it is built
to err low: within a grace window after a switch date the previous stage is assumed, several
candidate tables yield the worst of their answers, and a VIN model year can only lower it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from saas.compliance.codes import EmissionStage, FuelType, NonRoadStage, VehicleType, load_data
from saas.compliance.vin import Vin, parse_vin


class Confidence(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class StageGuess:
    """``stage`` is None for new-energy vehicles (they have no emission stage)."""

    stage: EmissionStage | None
    confidence: Confidence
    basis: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NonRoadGuess:
    stage: NonRoadStage
    confidence: Confidence
    basis: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Step:
    stage: str
    start: date
    confirmed: bool


def _steps(rows: list[dict[str, Any]]) -> tuple[_Step, ...]:
    steps = tuple(
        _Step(str(r["stage"]), date.fromisoformat(r["from"]), r["confidence"] == "CONFIRMED")
        for r in rows
    )
    return tuple(sorted(steps, key=lambda s: s.start))


_DATA: dict[str, Any] = load_data("stage_dates.json")
GRACE = timedelta(days=int(_DATA["grace_days"]))
STAGE_TABLES: dict[str, tuple[_Step, ...]] = {
    name: _steps(table["stages"]) for name, table in _DATA["tables"].items()
}
_NON_ROAD: tuple[_Step, ...] = _steps(_DATA["non_road"]["stages"])
_HEAVY_SIZES = frozenset({"heavy", "medium", "large"})
_LIGHT_SIZES = frozenset({"light", "mini", "small"})


def _tables(vehicle_type: VehicleType | None, fuel: FuelType | None) -> list[str]:
    sizes: set[str] = set()
    if vehicle_type is None:
        sizes = {"heavy", "light"}
    elif vehicle_type.size in _HEAVY_SIZES:
        sizes = {"heavy"}
    elif vehicle_type.size in _LIGHT_SIZES:
        sizes = {"light"}
    names: list[str] = []
    if "heavy" in sizes:
        if fuel is None or fuel.is_gas:
            names.append("heavy_gas")
        if fuel is None or not fuel.is_gas:
            names.append("heavy_diesel")
    if "light" in sizes:
        if fuel is None or fuel is FuelType.DIESEL:
            names.append("light_diesel")
        if fuel is None or fuel is not FuelType.DIESEL:
            names.append("light_gasoline")
    return names


def _lookup(steps: tuple[_Step, ...], when: date) -> tuple[EmissionStage, bool, bool]:
    """Stage in force at ``when`` → (stage, inside a grace window, row confirmed)."""
    stage, in_grace, confirmed = EmissionStage.CN0, False, False
    for index, step in enumerate(steps):
        if step.start > when:
            break
        if when < step.start + GRACE:
            previous = steps[index - 1].stage if index > 0 else EmissionStage.CN0.value
            stage, in_grace, confirmed = EmissionStage(previous), True, False
        else:
            stage, in_grace, confirmed = EmissionStage(step.stage), False, step.confirmed
    return stage, in_grace, confirmed


def _vin_cap(vin: str | Vin | None, registered: date) -> tuple[date, str | None]:
    if vin is None:
        return registered, None
    parsed = parse_vin(vin) if isinstance(vin, str) else vin
    if not parsed.valid or not parsed.model_years:
        return registered, "vin_unusable"
    plausible = [y for y in parsed.model_years if y <= registered.year + 1]
    if not plausible:
        return registered, "vin_year_after_registration"
    cap = date(max(plausible), 12, 31)
    if cap < registered:
        return cap, "vin_model_year_cap"
    return registered, None


def infer_stage(
    vehicle_type: VehicleType | None,
    fuel: FuelType | None,
    registration_date: date | None,
    vin: str | Vin | None = None,
) -> StageGuess:
    """Guess the emission stage from the registration date; never better than the date allows."""
    if fuel is not None and fuel.is_new_energy:
        return StageGuess(None, Confidence.HIGH, ("new_energy_no_stage",))
    if vehicle_type is not None:
        vclass = vehicle_type.vehicle_class.value
        if vclass == "trailer":
            return StageGuess(EmissionStage.UNKNOWN, Confidence.NONE, ("no_engine",))
        if vclass == "machinery":
            return StageGuess(EmissionStage.UNKNOWN, Confidence.NONE, ("non_road_machinery",))
    if registration_date is None:
        return StageGuess(EmissionStage.UNKNOWN, Confidence.NONE, ("no_registration_date",))
    names = _tables(vehicle_type, fuel)
    if not names:
        return StageGuess(EmissionStage.UNKNOWN, Confidence.NONE, ("no_table",))
    when, vin_note = _vin_cap(vin, registration_date)
    basis = ["registration_date"]
    if vin_note is not None:
        basis.append(vin_note)
    if vehicle_type is None:
        basis.append("vehicle_type_unknown")
    if fuel is None:
        basis.append("fuel_unknown")
    results = [(name, *_lookup(STAGE_TABLES[name], when)) for name in names]
    name, stage, in_grace, confirmed = min(results, key=lambda r: (r[1].rank, r[0]))
    basis.append(f"table:{name}")
    if in_grace:
        basis.append("grace_window")
    if not confirmed:
        basis.append("unconfirmed_dates")
    if in_grace or len(names) > 1:
        confidence = Confidence.LOW
    elif confirmed:
        confidence = Confidence.HIGH
    else:
        confidence = Confidence.MEDIUM
    return StageGuess(stage, confidence, tuple(basis))


def infer_non_road_stage(production_date: date | None) -> NonRoadGuess:
    """Non-road machinery stage from its production date (GB 20891 switch dates)."""
    if production_date is None:
        return NonRoadGuess(NonRoadStage.UNKNOWN, Confidence.NONE, ("no_production_date",))
    found: _Step | None = None
    for step in _NON_ROAD:
        if step.start <= production_date:
            found = step
    if found is None:
        return NonRoadGuess(NonRoadStage.UNKNOWN, Confidence.LOW, ("before_first_stage",))
    confidence = Confidence.HIGH if found.confirmed else Confidence.MEDIUM
    basis = ("production_date",) if found.confirmed else ("production_date", "unconfirmed_dates")
    return NonRoadGuess(NonRoadStage(found.stage), confidence, basis)
