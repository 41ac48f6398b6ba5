"""edge.toml: the documented example parses; every mistake names its key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from edge_bridge.config import parse
from edge_bridge.drivers.base import ConfigError
from edge_bridge.drivers.registry import builtin_registry

DOC = Path(__file__).resolve().parents[2] / "docs" / "edge-bridge.md"


def documented_example() -> dict[str, Any]:
    block = re.search(r"```toml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert block, "docs/edge-bridge.md has no toml example"
    return tomllib.loads(block.group(1))


def test_the_documented_example_parses_and_its_devices_build() -> None:
    config = parse(documented_example())
    (lane,) = config.lanes
    assert (lane.key, lane.direction) == ("1/01", "in")
    assert config.web_port == 8088
    assert set(config.web_users) == {"guard1"}
    registry = builtin_registry()
    for kind, device in (
        ("plate_source", lane.camera),
        ("barrier", lane.barrier),
        ("display", lane.display),
    ):
        assert device is not None
        assert registry.create(kind, device["driver"], device).lane == "1/01"


def _with(**changes: Any) -> dict[str, Any]:
    data = documented_example()
    lane = data["gates"][0]["lanes"][0]
    lane.update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (_with(lane="1"), "gates[0].lanes[0].lane"),
        (_with(direction="sideways"), "gates[0].lanes[0].direction"),
        (_with(camera={"serial": "x"}), "gates[0].lanes[0].camera"),
        ({"gates": []}, "[[gates]]"),
        ({"gates": [{"code": "", "lanes": []}]}, "gates[0].code"),
        ({"gates": [{"code": "1", "lanes": []}]}, "[[gates.lanes]]"),
        ({**documented_example(), "web": {"port": "80"}}, "web.port"),
        ({**documented_example(), "web": {"users": {"a": 1}}}, "[web.users]"),
        ({**documented_example(), "bridge": {"decision_timeout": 0}}, "bridge.decision_timeout"),
    ],
)
def test_mistakes_name_the_key(data: dict[str, Any], names: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(names)):
        parse(data)


def test_a_lane_configured_twice_is_refused() -> None:
    data = documented_example()
    data["gates"][0]["lanes"].append(dict(data["gates"][0]["lanes"][0]))
    with pytest.raises(ConfigError, match="1/01 configured twice"):
        parse(data)


def test_no_web_table_means_no_local_pages() -> None:
    data = documented_example()
    del data["web"]
    assert parse(data).web_port is None
