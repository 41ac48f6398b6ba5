"""The site snapshot both ends share: versions, deltas and the facts a gate decides on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from saas.compliance import (
    DecisionContext,
    EmissionStage,
    ExemptionCategory,
    FuelType,
    GateEvent,
    VehicleCategory,
    VehicleType,
    Verdict,
    decide,
    load_template,
)
from saas.compliance import snapshot as snap

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def body(**sections: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "policy": load_template("c_enterprise").to_dict(),
        "alert": {"level": "none", "since": None, "id": None},
        "registry": {},
        "black": {},
        "white": {},
        "bookings": [],
    }
    base.update(sections)
    return base


TRUCK = {
    "vehicle_type": "H11",
    "fuel_type": "diesel",
    "emission_stage": "cn6b",
    "registration_date": "2024-03-01",
    "vin": "LFWSRXSJ5M1A00001",
    "category": "transport",
}


def test_version_is_a_content_digest_independent_of_key_order() -> None:
    one = body(registry={"冀B1": TRUCK, "冀B2": TRUCK})
    two = body(registry={"冀B2": TRUCK, "冀B1": TRUCK})
    assert snap.version(one) == snap.version(two)
    assert len(snap.version(one)) == 32
    assert snap.version(one) != snap.version(body())


def test_diff_and_apply_round_trip_every_section() -> None:
    old = body(registry={"冀B1": TRUCK, "冀B2": TRUCK}, black={"冀B9": {"reason": "x"}})
    new = body(
        registry={"冀B1": {**TRUCK, "emission_stage": "cn5"}, "冀B3": TRUCK},
        white={"冀B4": {"reason": "民生", "exemption": "livelihood"}},
        alert={"level": "orange", "since": "2026-11-23T00:00:00Z", "id": "a1"},
        bookings=[{"id": "b", "plate": "冀B5", "start": "x", "end": "y"}],
    )
    changes = snap.diff(old, new)
    assert changes["registry"] == {
        "set": {"冀B1": {**TRUCK, "emission_stage": "cn5"}, "冀B3": TRUCK},
        "remove": ["冀B2"],
    }
    assert changes["black"] == {"set": {}, "remove": ["冀B9"]}
    assert "policy" not in changes
    assert snap.apply(old, changes) == new
    assert snap.diff(new, new) == {}
    assert old["registry"] == {"冀B1": TRUCK, "冀B2": TRUCK}  # inputs untouched


def test_apply_refuses_an_unknown_section() -> None:
    with pytest.raises(ValueError, match="unknown snapshot section 'weather'"):
        snap.apply(body(), {"weather": {"replace": 1}})


entries = st.dictionaries(
    st.sampled_from(["冀B1", "冀B2", "冀B3", "津A4"]),
    st.fixed_dictionaries({"emission_stage": st.sampled_from(["cn4", "cn5", "cn6a"])}),
)


@given(entries, entries, entries, entries)
def test_apply_of_diff_always_gives_the_new_body(r1: Any, r2: Any, b1: Any, b2: Any) -> None:
    old, new = body(registry=r1, black=b1), body(registry=r2, black=b2)
    result = snap.apply(old, snap.diff(old, new))
    assert result == new
    assert snap.version(result) == snap.version(new)


def test_facts_of_a_registered_truck() -> None:
    site = snap.Site(body(registry={"冀B77777": TRUCK}))
    facts = site.facts("冀B77777", NOW)
    assert facts is not None
    assert (facts.vehicle_type, facts.fuel, facts.stage) == (
        VehicleType.H11,
        FuelType.DIESEL,
        EmissionStage.CN6B,
    )
    assert facts.registration_date == date(2024, 3, 1)
    assert facts.category is VehicleCategory.TRANSPORT
    assert not facts.blacklisted
    assert site.facts("冀B00000", NOW) is None


def test_unreadable_codes_become_unknown_never_an_error() -> None:
    junk = {"vehicle_type": "ZZZ", "fuel_type": 7, "emission_stage": "cn9",
            "registration_date": "yesterday", "vin": 12, "category": "spaceship"}  # fmt: skip
    facts = snap.Site(body(registry={"冀B1": junk})).facts("冀B1", NOW)
    assert facts is not None
    assert (facts.vehicle_type, facts.fuel, facts.stage, facts.registration_date) == (
        None,
        None,
        None,
        None,
    )
    assert (facts.vin, facts.category) == (None, VehicleCategory.TRANSPORT)


def test_lists_apply_only_inside_their_window() -> None:
    site = snap.Site(
        body(
            black={
                "冀B1": {"reason": "r", "valid_from": "2026-01-01T00:00:00Z", "valid_to": None},
                "冀B2": {"reason": "r", "valid_from": "2027-01-01T00:00:00Z", "valid_to": None},
                "冀B3": {
                    "reason": "r",
                    "valid_from": "2025-01-01T00:00:00Z",
                    "valid_to": "2026-01-01T00:00:00Z",
                },
                "冀B4": {"reason": "r", "valid_from": "garbage"},
            },
            white={"冀B5": {"reason": "民生", "exemption": "livelihood", "valid_from": None}},
        )
    )
    one = site.facts("冀B1", NOW)
    assert one is not None
    assert one.blacklisted
    assert site.facts("冀B2", NOW) is None  # not yet listed, not registered
    assert site.facts("冀B3", NOW) is None  # expired
    assert site.facts("冀B4", NOW) is None  # an unreadable window bars nothing
    five = site.facts("冀B5", NOW)
    assert five is not None
    assert five.whitelisted
    assert five.exemption is ExemptionCategory.LIVELIHOOD


def test_bookings_make_a_visitor_and_bad_ones_are_skipped() -> None:
    site = snap.Site(
        body(
            bookings=[
                {
                    "id": "1",
                    "plate": "冀B8",
                    "start": "2026-11-23T00:00:00+00:00",
                    "end": "2026-11-23T08:00:00+00:00",
                },
                {"id": "2", "plate": "冀B8", "start": "never"},
            ]
        )
    )
    facts = site.facts("冀B8", NOW)
    assert facts is not None
    assert facts.category is VehicleCategory.VISITOR
    assert len(facts.bookings) == 1


def test_alert_level_and_a_blacklisted_truck_denied_through_decide() -> None:
    site = snap.Site(
        body(
            alert={"level": "red"},
            registry={"冀B77777": TRUCK},
            black={"冀B77777": {"reason": "超标", "valid_from": None, "valid_to": None}},
        )
    )
    assert site.alert_level.value == "red"
    decision = decide(
        GateEvent(plate_text="冀B77777", time=NOW, color="yellow"),
        site.facts("冀B77777", NOW),
        DecisionContext(policy=site.policy, time=NOW, alert_level=site.alert_level),
    )
    assert decision.verdict is Verdict.DENY
    assert "blacklisted" in decision.reasons
    assert snap.Site(body(alert=None)).alert_level.value == "none"


def test_alert_windows_switch_the_level_on_time_even_offline() -> None:
    site = snap.Site(
        body(
            alert={
                "level": "none",
                "windows": [
                    {"level": "yellow", "starts_at": "2026-11-23T00:00:00Z", "ends_at": None},
                    {
                        "level": "orange",
                        "starts_at": "2026-11-23T04:00:00Z",
                        "ends_at": "2026-11-23T08:00:00Z",
                    },
                    {"level": "purple", "starts_at": "2026-11-23T00:00:00Z"},
                    {"level": "red", "starts_at": "garbage"},
                ],
            }
        )
    )
    assert site.alert_level_at(NOW - timedelta(hours=3)).value == "none"
    assert site.alert_level_at(NOW).value == "yellow"
    assert site.alert_level_at(NOW + timedelta(hours=3)).value == "orange"
    assert site.alert_level_at(NOW + timedelta(hours=6)).value == "yellow"  # orange ended
    assert snap.Site(body(alert={"level": "red"})).alert_level_at(NOW).value == "red"
