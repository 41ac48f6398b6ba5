from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saas.compliance import (
    Confidence,
    EmissionStage,
    FuelType,
    NonRoadStage,
    VehicleType,
    infer_non_road_stage,
    infer_stage,
    parse_vin,
    vin_check_digit,
)
from saas.compliance.stages import GRACE, STAGE_TABLES


@pytest.mark.parametrize(
    ("registered", "stage"),
    [
        (date(2005, 6, 1), EmissionStage.CN2),
        (date(2010, 1, 1), EmissionStage.CN3),
        (date(2015, 1, 1), EmissionStage.CN4),
        (date(2018, 3, 1), EmissionStage.CN5),
        (date(2022, 3, 1), EmissionStage.CN6A),
        (date(2024, 3, 1), EmissionStage.CN6B),
        (date(1999, 1, 1), EmissionStage.CN0),
    ],
)
def test_heavy_diesel_tractor(registered: date, stage: EmissionStage) -> None:
    guess = infer_stage(VehicleType.Q11, FuelType.DIESEL, registered)
    assert guess.stage is stage
    assert "table:heavy_diesel" in guess.basis


def test_confirmed_row_gives_high_confidence_unconfirmed_medium() -> None:
    assert (
        infer_stage(VehicleType.Q11, FuelType.DIESEL, date(2024, 3, 1)).confidence
        is Confidence.HIGH
    )
    guess = infer_stage(VehicleType.Q11, FuelType.DIESEL, date(2018, 3, 1))
    assert guess.confidence is Confidence.MEDIUM
    assert "unconfirmed_dates" in guess.basis


def test_grace_window_assumes_the_previous_stage() -> None:
    # Registered a month after 国五 began: may have been built as 国四.
    guess = infer_stage(VehicleType.H11, FuelType.DIESEL, date(2017, 8, 1))
    assert guess.stage is EmissionStage.CN4
    assert guess.confidence is Confidence.LOW
    assert "grace_window" in guess.basis


def test_gas_trucks_use_their_own_dates() -> None:
    guess = infer_stage(VehicleType.Q11, FuelType.NATURAL_GAS, date(2020, 6, 1))
    assert guess.stage is EmissionStage.CN6A  # gas 国六a from 2019-07-01
    assert "table:heavy_gas" in guess.basis
    diesel = infer_stage(VehicleType.Q11, FuelType.DIESEL, date(2020, 6, 1))
    assert diesel.stage is EmissionStage.CN5


def test_light_vehicles() -> None:
    assert (
        infer_stage(VehicleType.K33, FuelType.GASOLINE, date(2017, 8, 1)).stage is EmissionStage.CN5
    )
    assert (
        infer_stage(VehicleType.H31, FuelType.DIESEL, date(2017, 8, 1)).stage is EmissionStage.CN4
    )
    assert (
        "table:light_diesel"
        in infer_stage(VehicleType.H31, FuelType.DIESEL, date(2019, 1, 1)).basis
    )


def test_new_energy_has_no_stage_and_says_so() -> None:
    for fuel in (FuelType.ELECTRIC, FuelType.PLUG_IN_HYBRID, FuelType.FUEL_CELL):
        guess = infer_stage(VehicleType.Q11, fuel, date(2022, 1, 1))
        assert guess.stage is None
        assert guess.basis == ("new_energy_no_stage",)
        assert guess.confidence is Confidence.HIGH


@pytest.mark.parametrize(
    ("vehicle_type", "basis"),
    [
        (VehicleType.B11, "no_engine"),
        (VehicleType.J11, "non_road_machinery"),
        (VehicleType.M21, "no_table"),
        (VehicleType.N11, "no_table"),
    ],
)
def test_vehicles_without_a_road_table(vehicle_type: VehicleType, basis: str) -> None:
    guess = infer_stage(vehicle_type, FuelType.DIESEL, date(2022, 1, 1))
    assert guess.stage is EmissionStage.UNKNOWN
    assert guess.basis == (basis,)
    assert guess.confidence is Confidence.NONE


def test_missing_registration_date() -> None:
    guess = infer_stage(VehicleType.Q11, FuelType.DIESEL, None)
    assert guess.stage is EmissionStage.UNKNOWN
    assert guess.basis == ("no_registration_date",)


def test_unknown_type_and_fuel_take_the_worst_table() -> None:
    guess = infer_stage(None, None, date(2018, 3, 1))
    # heavy diesel says 国五, light gasoline 国五, light diesel 国五 in grace → 国四
    assert guess.stage is EmissionStage.CN4
    assert guess.confidence is Confidence.LOW
    assert "vehicle_type_unknown" in guess.basis
    assert "fuel_unknown" in guess.basis


def test_vin_model_year_can_only_lower_the_guess() -> None:
    # Model year A = 2010: built by the end of 2010 at the latest, although registered in 2018.
    guess = infer_stage(VehicleType.Q11, FuelType.DIESEL, date(2018, 3, 1), "LSGPC52U6AF102554")
    assert guess.stage is EmissionStage.CN3
    assert "vin_model_year_cap" in guess.basis
    parsed = parse_vin("LTA1278U35X132040")  # model year 5 = 2005
    consistent = infer_stage(VehicleType.Q11, FuelType.DIESEL, date(2005, 6, 1), parsed)
    assert consistent.stage is EmissionStage.CN2
    assert "vin_model_year_cap" not in consistent.basis


def test_vin_notes() -> None:
    bad = infer_stage(VehicleType.Q11, FuelType.DIESEL, date(2018, 3, 1), "NOT A VIN")
    assert bad.stage is EmissionStage.CN5
    assert "vin_unusable" in bad.basis
    # Model year 1 = 2001/2031; registered 1999: no plausible candidate.
    body = "LTA1278U01X132040"
    vin = body[:8] + (vin_check_digit(body) or "") + body[9:]
    late = infer_stage(VehicleType.Q11, FuelType.DIESEL, date(1999, 3, 1), vin)
    assert "vin_year_after_registration" in late.basis


def test_non_road_stage() -> None:
    nr4 = infer_non_road_stage(date(2023, 1, 1))
    assert nr4.stage is NonRoadStage.NR4
    assert nr4.confidence is Confidence.HIGH
    nr3 = infer_non_road_stage(date(2020, 1, 1))
    assert nr3.stage is NonRoadStage.NR3
    assert "unconfirmed_dates" in nr3.basis
    assert infer_non_road_stage(date(2000, 1, 1)).stage is NonRoadStage.UNKNOWN
    assert infer_non_road_stage(None).confidence is Confidence.NONE


def test_tables_are_ordered_and_monotonic() -> None:
    for name, steps in STAGE_TABLES.items():
        ranks = [EmissionStage(s.stage).rank for s in steps]
        assert ranks == sorted(ranks), name
        assert [s.start for s in steps] == sorted(s.start for s in steps)


types = st.sampled_from(
    [VehicleType.Q11, VehicleType.H11, VehicleType.H21, VehicleType.H31, VehicleType.K33, None]
)
fuels = st.sampled_from([FuelType.DIESEL, FuelType.GASOLINE, FuelType.NATURAL_GAS, None])
days = st.dates(min_value=date(1995, 1, 1), max_value=date(2035, 12, 31))


@given(types, fuels, days, st.integers(min_value=0, max_value=4000))
def test_never_better_than_the_date_allows(
    vehicle_type: VehicleType | None, fuel: FuelType | None, registered: date, later: int
) -> None:
    """A later registration never gives a worse guess, so an earlier one never a better one; and
    no guess exceeds the stage of the table's own date without grace."""
    first = infer_stage(vehicle_type, fuel, registered)
    second = infer_stage(vehicle_type, fuel, registered + timedelta(days=later))
    assert first.stage is not None
    assert second.stage is not None
    assert first.stage <= second.stage
    table = next(b[6:] for b in first.basis if b.startswith("table:"))
    in_force = [s for s in STAGE_TABLES[table] if s.start <= registered]
    ceiling = EmissionStage(in_force[-1].stage) if in_force else EmissionStage.CN0
    assert first.stage <= ceiling
    assert GRACE.days > 0
