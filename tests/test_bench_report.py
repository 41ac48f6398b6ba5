"""bench/report.py: the figures of every bench script → bench/results.json and the README table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import report

ROWS = [
    {
        "name": "regulator (a) backlog drain",
        "value": 2672.055,
        "unit": "records/s",
        "target": ">= 2000",
        "met": True,
        "anchor_name": "raw POST",
        "anchor_value": 200378.475,
        "ratio": 0.013,
        "extra": "dropped",
    },
    {
        "name": "ingest_passages (batch 500, RLS)",
        "value": 3821.3,
        "unit": "passages/s",
        "target": ">= 5000",
        "met": 0,
        "anchor_name": "COPY same rows",
        "anchor_value": 95483.5,
    },
    {
        "name": "no anchor",
        "value": 1.5,
        "unit": "s",
        "target": None,
        "met": None,
        "anchor_name": None,
        "anchor_value": None,
    },
]


def test_rows_keep_exactly_the_schema_and_get_their_ratio() -> None:
    rows = report.normalise(ROWS)
    assert [list(r) for r in rows] == [list(report.KEYS)] * 3
    assert rows[1]["met"] is False
    assert rows[1]["ratio"] == pytest.approx(3821.3 / 95483.5, abs=1e-3)
    assert rows[2]["ratio"] is None
    with pytest.raises(ValueError, match="lacks unit"):
        report.normalise([{"name": "x", "value": 1}])


def test_main_writes_results_json_and_replaces_the_readme_section(tmp_path: Path) -> None:
    source = tmp_path / "results.local.json"
    source.write_text(json.dumps(ROWS))
    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\nprose stays\n")
    args = [
        "--input",
        str(source),
        "--output",
        str(tmp_path / "results.json"),
        "--readme",
        str(readme),
    ]
    assert report.main(args) == 0
    written = json.loads((tmp_path / "results.json").read_text())
    assert [r["name"] for r in written] == [r["name"] for r in ROWS]
    first = readme.read_text()
    assert "prose stays" in first
    assert "| ingest_passages (batch 500, RLS) | 3,821 passages/s | >= 5000 | **no** |" in first
    assert "cores" in first
    assert report.main(args) == 0  # a second run replaces the section, never appends another
    assert readme.read_text().count(report.BEGIN) == 1
    assert report.main(["--input", str(tmp_path / "missing.json")]) == 1
