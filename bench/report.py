"""Collect the figures every bench/ script wrote to ``bench/results.local.json`` into
``bench/results.json`` and the "All figures" table of ``bench/README.md`` (issue 10).

Each row: ``name``, ``value``, ``unit``, ``target``, ``met`` (true/false, null when the figure
has no target), ``anchor_name``, ``anchor_value`` (the physical limit measured in the same run:
a raw COPY, a bare loopback HTTP round trip, a websocket echo, an empty call …) and ``ratio``
(value ÷ anchor). The table also names the machine's core count and Python, so a reader
compares ratios, not absolute times. ``make bench`` runs every script and then this one.

    .venv/bin/python bench/report.py [--input bench/results.local.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KEYS = ("name", "value", "unit", "target", "met", "anchor_name", "anchor_value", "ratio")
BEGIN = "<!-- make bench: begin -->"
END = "<!-- make bench: end -->"


def normalise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Exactly the schema's keys, ``met`` a boolean or null, ``ratio`` recomputed when missing."""
    out = []
    for row in rows:
        missing = [k for k in ("name", "value", "unit") if k not in row]
        if missing:
            raise ValueError(f"figure {row.get('name', '?')!r} lacks {', '.join(missing)}")
        clean = {k: row.get(k) for k in KEYS}
        if clean["met"] is not None:
            clean["met"] = bool(clean["met"])
        anchor = clean["anchor_value"]
        if clean["ratio"] is None and anchor:
            clean["ratio"] = round(float(clean["value"]) / float(anchor), 3)
        out.append(clean)
    return out


def _number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and abs(value) < 100:
        return f"{value:,.3g}" if abs(value) < 1 else f"{value:,.2f}"
    return f"{value:,.0f}" if isinstance(value, (int, float)) else str(value)


def table(rows: list[dict[str, Any]], *, cores: int, python: str, when: str) -> str:
    met = {True: "yes", False: "**no**", None: "—"}
    lines = [
        BEGIN,
        f"All figures of the last `make bench` ({when}, {cores} cores, Python {python}); "
        "the anchor is the physical limit measured in the same run.",
        "",
        "| figure | value | target | met | anchor (same run) | ratio |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        anchor = f"{r['anchor_name']}: {_number(r['anchor_value'])}" if r["anchor_name"] else "—"
        lines.append(
            f"| {r['name']} | {_number(r['value'])} {r['unit']} | {r['target'] or '—'} | "
            f"{met[r['met']]} | {anchor} | {_number(r['ratio'])} |"
        )
    lines.append(END)
    return "\n".join(lines)


def replace_section(readme: str, section: str) -> str:
    """Put ``section`` between the markers (appended with a heading the first time)."""
    if BEGIN in readme and END in readme:
        head, rest = readme.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        return head + section + tail
    return readme.rstrip("\n") + "\n\n## All figures (`make bench`)\n\n" + section + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", type=Path, default=ROOT / "bench" / "results.local.json")
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--readme", type=Path, default=ROOT / "bench" / "README.md")
    args = parser.parse_args(argv)
    if not args.input.exists():
        print(f"{args.input} not found: run the bench/ scripts first (make bench)", file=sys.stderr)
        return 1
    rows = normalise(json.loads(args.input.read_text()))
    args.output.write_text(json.dumps(rows, ensure_ascii=False, indent=1) + "\n")
    section = table(
        rows,
        cores=os.cpu_count() or 1,
        python=platform.python_version(),
        when=datetime.now(UTC).strftime("%Y-%m-%d"),
    )
    args.readme.write_text(replace_section(args.readme.read_text(), section))
    missed = [r["name"] for r in rows if r["met"] is False]
    print(f"{len(rows)} figures → {args.output.name} and {args.readme.name}; missed: {missed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
