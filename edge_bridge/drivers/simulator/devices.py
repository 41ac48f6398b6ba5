"""Simulated camera, barrier and display: what the demo and the daemon tests run against.

They implement the same interfaces as the real drivers, without sockets, and record what they
were told so a test can assert on it. Fault injection (latency, failures, offline) lets the lane
logic be tested against the bad days too.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from edge_bridge.drivers.base import (
    Barrier,
    CommandResult,
    ContainedCallback,
    DeviceNotReady,
    DirectionHint,
    Display,
    GateDecision,
    Image,
    PlateCallback,
    PlateRead,
    PlateSource,
    ProbeResult,
    monotonic_ms,
    opt_float,
    opt_int,
    opt_str,
    utcnow,
)
from edge_bridge.drivers.simulator.jpeg import tiny_jpeg
from edge_bridge.drivers.simulator.plates import PlateMix, SimulatedPlate


class SimulatedCamera(PlateSource):
    """Pushes reads at ``rate`` per second (exponential gaps) drawn from a realistic plate mix.

    ``emit`` pushes one chosen plate immediately, for scripted demos and deterministic tests.
    """

    driver = "simulator"

    def __init__(
        self,
        serial: str,
        lane: str,
        *,
        rate: float = 0.5,
        seed: int | None = None,
        decision_timeout: float = 0.3,
        images: bool = True,
        mix: dict[str, float] | None = None,
    ) -> None:
        super().__init__(serial, lane)
        self.rate = rate
        self.mix = PlateMix(seed, mix)
        self.decision_timeout = decision_timeout
        self.images = images
        self.decisions: list[tuple[PlateRead, GateDecision | None]] = []
        self._counter = 0
        self._callback: ContainedCallback | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SimulatedCamera:
        seed = config.get("seed")
        return cls(
            opt_str(config, "serial"),
            opt_str(config, "lane", "lane-1"),
            rate=opt_float(config, "rate", 0.5),
            seed=seed if isinstance(seed, int) else None,
            decision_timeout=opt_float(config, "decision_timeout", 0.3),
            images=bool(config.get("images", True)),
            mix=config.get("mix"),
        )

    async def probe(self) -> ProbeResult:
        return ProbeResult(self.serial, model="simulated camera")

    def make_read(self, plate: SimulatedPlate | None = None) -> PlateRead:
        plate = plate or self.mix.draw()
        self._counter += 1
        now = utcnow()
        jpeg = tiny_jpeg()
        images = (Image("plate", jpeg, "image/jpeg"), Image("scene", jpeg, "image/jpeg"))
        category_confidence = 0.4 if plate.category in ("malformed", "unreadable") else 0.9
        return PlateRead(
            device_serial=self.serial,
            lane=self.lane,
            plate_raw=plate.text,
            color=plate.color,
            confidence=min(1.0, category_confidence + self.mix.rng.random() * 0.1),
            direction=DirectionHint.FORWARD,
            event_time=now - timedelta(milliseconds=40),
            received_at=now,
            event_id=str(self._counter),
            images=images if self.images else (),
            vendor="simulator",
        )

    async def emit(self, plate: SimulatedPlate | None = None) -> GateDecision | None:
        if self._callback is None:
            raise RuntimeError("camera not started")
        read = self.make_read(plate)
        decision = await self._callback.decide(read, self.decision_timeout)
        self.decisions.append((read, decision))
        return decision

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.mix.rng.expovariate(self.rate))
            await self.emit()

    async def start(self, callback: PlateCallback) -> None:
        self._callback = ContainedCallback(self.unique_id, callback)
        if self.rate > 0:
            self._task = asyncio.get_running_loop().create_task(self._run())
        self._available = True

    async def stop(self) -> None:
        self._available = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._callback is not None:
            await self._callback.drain()


@dataclass
class _Faults:
    latency: float = 0.0
    fail_next: int = 0
    offline: bool = False


class _Recorder:
    def __init__(self, latency: float) -> None:
        self.faults = _Faults(latency=latency)

    async def _command(self) -> CommandResult | None:
        """Apply the injected faults; a result means the command failed."""
        start = time.monotonic()
        if self.faults.offline:
            return CommandResult.failure("unreachable", "simulated device offline")
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        if self.faults.fail_next > 0:
            self.faults.fail_next -= 1
            return CommandResult.failure("device_error", "injected fault", monotonic_ms(start))
        return None


class SimulatedBarrier(Barrier):
    driver = "simulator"

    def __init__(self, serial: str, lane: str, *, latency: float = 0.0) -> None:
        super().__init__(serial, lane)
        self._sim = _Recorder(latency)
        self.faults = self._sim.faults
        self.events: list[tuple[str, str]] = []
        self.state = "closed"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SimulatedBarrier:
        return cls(
            opt_str(config, "serial"),
            opt_str(config, "lane", "lane-1"),
            latency=opt_float(config, "latency", 0.0),
        )

    @property
    def available(self) -> bool:
        return not self.faults.offline

    async def probe(self) -> ProbeResult:
        if self.faults.offline:
            raise DeviceNotReady("simulated barrier offline")
        return ProbeResult(self.serial, model="simulated barrier")

    async def _move(self, action: str, reason: str) -> CommandResult:
        start = time.monotonic()
        failed = await self._sim._command()
        if failed is not None:
            return failed
        self.events.append((action, reason))
        self.state = "open" if action == "open" else "closed"
        return CommandResult.success(action, monotonic_ms(start))

    async def open(self, reason: str) -> CommandResult:
        return await self._move("open", reason)

    async def close(self, reason: str = "") -> CommandResult:
        return await self._move("close", reason)


class SimulatedDisplay(Display):
    driver = "simulator"

    def __init__(self, serial: str, lane: str, *, latency: float = 0.0, max_lines: int = 4) -> None:
        super().__init__(serial, lane)
        self._sim = _Recorder(latency)
        self.faults = self._sim.faults
        self.max_lines = max_lines
        self.shown: list[tuple[str, ...]] = []

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SimulatedDisplay:
        return cls(
            opt_str(config, "serial"),
            opt_str(config, "lane", "lane-1"),
            latency=opt_float(config, "latency", 0.0),
            max_lines=opt_int(config, "max_lines", 4),
        )

    @property
    def available(self) -> bool:
        return not self.faults.offline

    async def probe(self) -> ProbeResult:
        if self.faults.offline:
            raise DeviceNotReady("simulated display offline")
        return ProbeResult(self.serial, model="simulated display")

    async def show(self, lines: list[str]) -> CommandResult:
        start = time.monotonic()
        failed = await self._sim._command()
        if failed is not None:
            return failed
        self.shown.append(tuple(lines[: self.max_lines]))
        return CommandResult.success(f"{len(lines)} lines", monotonic_ms(start))
