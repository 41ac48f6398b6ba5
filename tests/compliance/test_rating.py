from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saas.compliance import EmissionStage, Industry, NonRoadStage, Rating
from saas.compliance.rating import (
    INDICATOR_NAMES,
    THRESHOLDS,
    Indicators,
    TransportMode,
    assess,
    indicators,
)

CN4, CN5, CN6A = EmissionStage.CN4, EmissionStage.CN5, EmissionStage.CN6A


def a_grade(**overrides: object) -> Indicators:
    base = {
        "heavy_truck_passages": {CN5: 60, CN6A: 40},
        "in_plant_vehicles": {CN6A: 12},
        "non_road_machinery": {NonRoadStage.NR4: 5},
        "tonnage_by_mode": {TransportMode.RAIL: 900, TransportMode.ROAD: 100},
    }
    base.update(overrides)
    return indicators(**base)  # type: ignore[arg-type]


def test_shares_from_counts() -> None:
    values = indicators(
        heavy_truck_passages={CN4: 15, CN5: 70, CN6A: 10, EmissionStage.UNKNOWN: 0},
        heavy_truck_nev_passages=5,
        in_plant_vehicles={CN4: 1, CN5: 3},
        in_plant_nev=1,
        non_road_machinery={NonRoadStage.NR2: 1, NonRoadStage.NR3: 2, NonRoadStage.NR4: 1},
        non_road_nev=1,
        tonnage_by_mode={
            TransportMode.RAIL: 500,
            TransportMode.BELT: Decimal("100.5"),
            TransportMode.NEV_TRUCK: Fraction(99, 2),
            TransportMode.ROAD: 350,
        },
    )
    assert values.heavy_truck_clean_share == Fraction(85, 100)
    assert values.heavy_truck_cn4_share == 1
    assert values.heavy_truck_cn6_share == Fraction(15, 100)
    assert values.in_plant_clean_share == Fraction(4, 5)
    assert values.in_plant_cn4_share == 1
    assert values.non_road_clean_share == Fraction(4, 5)
    assert values.clean_transport_ratio == Fraction(6005, 10000)
    assert values.clean_transport_ratio_with_nev == Fraction(650, 1000)


def test_unknown_stages_count_against_the_share() -> None:
    values = indicators(heavy_truck_passages={CN5: 8, EmissionStage.UNKNOWN: 2})
    assert values.heavy_truck_clean_share == Fraction(4, 5)
    assert values.heavy_truck_cn4_share == Fraction(4, 5)


def test_no_data_is_none_not_a_hundred_percent() -> None:
    values = indicators()
    assert all(values.get(name) is None for name in INDICATOR_NAMES)
    assert indicators(heavy_truck_passages={CN5: 0}).heavy_truck_clean_share is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"heavy_truck_passages": {CN5: -1}},
        {"heavy_truck_passages": {CN5: 1.5}},
        {"heavy_truck_nev_passages": True},
        {"non_road_nev": -3},
        {"tonnage_by_mode": {TransportMode.RAIL: -1}},
        {"tonnage_by_mode": {TransportMode.RAIL: "100"}},
    ],
)
def test_bad_counts_are_caller_bugs(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must"):
        indicators(**kwargs)  # type: ignore[arg-type]


def test_indicator_lookup() -> None:
    with pytest.raises(KeyError):
        Indicators().get("nonsense")


def test_seed_001_a_level() -> None:
    result = assess(a_grade(), Industry.CEMENT)
    assert result.level is Rating.A
    assert result.shortfalls == ()
    assert result.table == "cement"


def test_seed_001_b_level_exactly_at_eighty_percent() -> None:
    values = indicators(
        heavy_truck_passages={CN4: 20, CN5: 80},
        in_plant_vehicles={CN4: 2, CN5: 8},
        non_road_machinery={NonRoadStage.NR2: 2, NonRoadStage.NR3: 8},
    )
    result = assess(values, Industry.FOUNDRY)
    assert result.table == "default"
    assert result.level is Rating.B
    short = {(s.level, s.indicator): s for s in result.shortfalls}
    assert set(short) == {
        (Rating.A, "heavy_truck_clean_share"),
        (Rating.A, "in_plant_clean_share"),
        (Rating.A, "non_road_clean_share"),
    }
    gap = short[(Rating.A, "heavy_truck_clean_share")]
    assert gap.required == 1
    assert gap.actual == Fraction(4, 5)
    assert gap.gap == Fraction(1, 5)
    assert gap.label == "物料公路运输全部国五及以上或新能源"


def test_b_requires_the_rest_at_cn4() -> None:
    values = indicators(
        heavy_truck_passages={EmissionStage.CN3: 1, CN5: 99},
        in_plant_vehicles={CN5: 1},
        non_road_machinery={NonRoadStage.NR3: 1},
    )
    result = assess(values, Industry.GLASS)
    assert result.level is None
    assert any(
        s.level is Rating.B and s.indicator == "heavy_truck_cn4_share" for s in result.shortfalls
    )


def test_cement_has_a_c_level_at_fifty_percent() -> None:
    values = indicators(heavy_truck_passages={CN4: 50, CN5: 50})
    result = assess(values, Industry.CEMENT)
    assert result.level is Rating.C
    b_short = [s for s in result.shortfalls if s.level is Rating.B]
    assert {s.indicator for s in b_short} >= {"heavy_truck_clean_share", "in_plant_clean_share"}
    missing = next(s for s in b_short if s.indicator == "in_plant_clean_share")
    assert missing.actual is None
    assert missing.gap == 1
    assert (
        assess(indicators(heavy_truck_passages={CN4: 51, CN5: 49}), Industry.CEMENT).level is None
    )


def test_coking_a_needs_clean_transport_or_all_cn6() -> None:
    rail_heavy = a_grade()
    assert assess(rail_heavy, Industry.COKING).level is Rating.A
    road_heavy = a_grade(tonnage_by_mode={TransportMode.RAIL: 700, TransportMode.ROAD: 300})
    result = assess(road_heavy, Industry.COKING)
    assert result.level is Rating.B
    (short,) = result.shortfalls
    assert short.indicator == "clean_transport_ratio"
    assert short.actual == Fraction(7, 10)
    assert short.gap == Fraction(1, 10)
    assert short.alternatives == ("heavy_truck_cn6_share",)
    all_cn6 = a_grade(
        heavy_truck_passages={CN6A: 90},
        heavy_truck_nev_passages=10,
        tonnage_by_mode={TransportMode.RAIL: 700, TransportMode.ROAD: 300},
    )
    assert assess(all_cn6, Industry.COKING).level is Rating.A


def test_coking_does_not_count_nev_trucks_as_a_clean_mode_but_steel_does() -> None:
    values = a_grade(
        tonnage_by_mode={
            TransportMode.RAIL: 600,
            TransportMode.NEV_TRUCK: 250,
            TransportMode.ROAD: 150,
        }
    )
    assert assess(values, Industry.COKING).level is Rating.B
    assert assess(values, Industry.STEEL_LONG).level is Rating.A
    assert assess(values, Industry.STEEL_LONG).table == "steel_long"


def test_shortfall_picks_the_closest_alternative() -> None:
    values = a_grade(
        heavy_truck_passages={CN6A: 95, CN5: 5},
        tonnage_by_mode={TransportMode.RAIL: 100, TransportMode.ROAD: 900},
    )
    (short,) = assess(values, Industry.COKING).shortfalls
    assert short.indicator == "heavy_truck_cn6_share"
    assert short.gap == Fraction(1, 20)


def test_threshold_data_is_well_formed() -> None:
    assert "default" in THRESHOLDS
    for table in THRESHOLDS.values():
        assert Rating.A in table
        assert Rating.B in table
        for clauses in table.values():
            for clause in clauses:
                assert clause.any_of
                for req in clause.any_of:
                    assert req.indicator in INDICATOR_NAMES
                    assert 0 < req.minimum <= 1


def test_transport_mode_labels() -> None:
    assert TransportMode.RAIL.label_zh == "铁路"
    assert all(mode.label_zh for mode in TransportMode)


counts = st.dictionaries(st.sampled_from(list(EmissionStage)), st.integers(0, 1000))


@given(counts, st.integers(0, 1000), st.sampled_from(list(Industry)))
def test_shares_are_fractions_between_zero_and_one(
    by_stage: dict[EmissionStage, int], nev: int, industry: Industry
) -> None:
    values = indicators(heavy_truck_passages=by_stage, heavy_truck_nev_passages=nev)
    for name in INDICATOR_NAMES:
        share = values.get(name)
        assert share is None or 0 <= share <= 1
    clean, cn4 = values.heavy_truck_clean_share, values.heavy_truck_cn4_share
    if clean is not None and cn4 is not None:
        assert clean <= cn4  # 国五+ is a subset of 国四+
    result = assess(values, industry)
    assert all(s.gap > 0 for s in result.shortfalls)
