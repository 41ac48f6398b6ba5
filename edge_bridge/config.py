"""The daemon's TOML configuration (``cleangate-edge run --config edge.toml``).

Example (docs/edge-bridge.md has the full reference)::

    [bridge]
    state_dir = "/var/lib/cleangate-edge"     # outbox, photos, snapshot, pairing state, key

    [cloud]
    url = "https://cloud.example.com"         # pairing; the hub URL comes from pairing
    # hub_url = "wss://hub.example.com/"      # optional override

    [web]
    host = "0.0.0.0"
    port = 8088
    [web.users]
    guard1 = "scrypt$..."                     # cleangate-edge hash-password

    [[gates]]
    code = "1"                                # 出入口编号
    [[gates.lanes]]
    lane = "01"                               # 道闸编号 (two digits)
    direction = "in"
    camera = { driver = "hikvision", serial = "DS-1", host = "10.0.0.21", ... }
    barrier = { driver = "hikvision", serial = "DS-1", host = "10.0.0.21", ... }
    display = { driver = "generic_led", serial = "LED-1", host = "10.0.0.31" }

Every error names the key that is wrong.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_bridge.drivers.base import ConfigError

_LANE = re.compile(r"^[0-9]{2}$")


@dataclass(frozen=True)
class LaneConfig:
    gate: str
    lane: str
    direction: str  # in | out
    camera: dict[str, Any] | None
    barrier: dict[str, Any] | None
    display: dict[str, Any] | None

    @property
    def key(self) -> str:
        return f"{self.gate}/{self.lane}"


@dataclass(frozen=True)
class EdgeConfig:
    state_dir: Path
    key_path: Path
    cloud_url: str | None
    hub_url: str | None
    web_host: str
    web_port: int | None  # None: no local web UI
    web_users: dict[str, str]
    lanes: tuple[LaneConfig, ...]
    site_name: str = ""
    decision_timeout: float = 0.3
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pairing_path(self) -> Path:
        return self.state_dir / "bridge.json"


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"[{key}] must be a table")
    return value


def _device(value: object, where: str, lane_key: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("driver"), str):
        raise ConfigError(f"{where}: a table with a driver name is required")
    return {**value, "lane": lane_key}


def parse(data: dict[str, Any], base: Path | None = None) -> EdgeConfig:
    bridge = _table(data, "bridge")
    cloud = _table(data, "cloud")
    web = _table(data, "web")
    state_dir = Path(bridge.get("state_dir", "/var/lib/cleangate-edge"))
    if base is not None and not state_dir.is_absolute():
        state_dir = base / state_dir
    key_path = Path(bridge.get("key", state_dir / "device.key"))
    users = web.get("users", {})
    if not isinstance(users, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in users.items()
    ):
        raise ConfigError("[web.users]: name = password hash (cleangate-edge hash-password)")
    port = web.get("port", 8088) if web else None  # no [web] table: no local pages
    if port is not None and (not isinstance(port, int) or not 0 <= port <= 65535):
        raise ConfigError(f"web.port: a port number is required, got {port!r}")
    gates = data.get("gates", [])
    if not isinstance(gates, list) or not gates:
        raise ConfigError("[[gates]]: at least one gate with lanes is required")
    lanes: list[LaneConfig] = []
    for g, gate in enumerate(gates):
        code = str(gate.get("code", "")) if isinstance(gate, dict) else ""
        if not code or len(code) > 20:
            raise ConfigError(f"gates[{g}].code: 1–20 characters (出入口编号) required")
        for n, lane in enumerate(gate.get("lanes", [])):
            where = f"gates[{g}].lanes[{n}]"
            number = str(lane.get("lane", "")) if isinstance(lane, dict) else ""
            if not _LANE.match(number):
                raise ConfigError(f"{where}.lane: two digits (道闸编号) required, got {number!r}")
            direction = lane.get("direction")
            if direction not in ("in", "out"):
                raise ConfigError(f"{where}.direction: 'in' or 'out' required")
            key = f"{code}/{number}"
            if any(existing.key == key for existing in lanes):
                raise ConfigError(f"{where}: lane {key} configured twice")
            lanes.append(
                LaneConfig(
                    gate=code,
                    lane=number,
                    direction=direction,
                    camera=_device(lane.get("camera"), f"{where}.camera", key),
                    barrier=_device(lane.get("barrier"), f"{where}.barrier", key),
                    display=_device(lane.get("display"), f"{where}.display", key),
                )
            )
    if not lanes:
        raise ConfigError("[[gates.lanes]]: at least one lane is required")
    timeout = bridge.get("decision_timeout", 0.3)
    if not isinstance(timeout, int | float) or not 0 < timeout <= 5:
        raise ConfigError("bridge.decision_timeout: seconds, 0 < t <= 5")
    return EdgeConfig(
        state_dir=state_dir,
        key_path=key_path,
        cloud_url=cloud.get("url"),
        hub_url=cloud.get("hub_url"),
        web_host=str(web.get("host", "0.0.0.0")),  # noqa: S104 - the plant network's guard PCs
        web_port=port,
        web_users=users,
        lanes=tuple(lanes),
        site_name=str(bridge.get("site_name", "")),
        decision_timeout=float(timeout),
    )


def load(path: Path) -> EdgeConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from None
    return parse(data, path.parent)
