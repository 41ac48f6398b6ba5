"""Every data file entry carries its source (and a confidence tag where the reference has one)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

TAGS = {"CONFIRMED", "VENDOR", "IMPL", "UNCONFIRMED"}
DATA = resources.files("saas.compliance").joinpath("data")


def load(*parts: str) -> Any:
    node = DATA
    for part in parts:
        node = node.joinpath(part)
    return json.loads(node.read_text(encoding="utf-8"))


def test_every_code_table_cites_a_source_and_a_tag() -> None:
    codes = load("codes.json")
    tables = {k: v for k, v in codes.items() if isinstance(v, dict)}
    assert len(tables) >= 12
    for name, table in tables.items():
        if "entries" in table:
            assert table["source"], name
            assert table["confidence"] in TAGS, name
        else:  # a group of conventions
            for convention, sub in table.items():
                assert sub["source"], (name, convention)
                assert sub["confidence"] in TAGS, (name, convention)


def test_vehicle_type_entries_tag_what_the_reference_does_not_name() -> None:
    entries = load("codes.json")["vehicle_types"]["entries"]
    for code, entry in entries.items():
        assert entry.get("confidence", "IMPL") in TAGS, code
    assert "confidence" not in entries["Q11"]
    assert entries["H12"]["confidence"] == "UNCONFIRMED"


def test_stage_dates_cite_each_row() -> None:
    data = load("stage_dates.json")
    rows = [r for t in data["tables"].values() for r in t["stages"]] + data["non_road"]["stages"]
    for row in rows:
        assert row["source"], row
        assert row["confidence"] in TAGS, row
    assert data["grace_source"]


def test_rating_thresholds_cite_each_industry() -> None:
    for name, row in load("rating_thresholds.json")["industries"].items():
        assert row["source"], name
        assert row["confidence"] in TAGS, name


@pytest.mark.parametrize(
    "name", ["ordinary_baseline", "b_enterprise", "c_enterprise", "coking_ule"]
)
def test_template_files_exist(name: str) -> None:
    assert load("templates", f"{name}.json")["source"]
