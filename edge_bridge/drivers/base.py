"""Capability interfaces every device driver implements, and the plumbing they share.

The lane logic only ever sees these types: a ``PlateSource`` delivering ``PlateRead`` objects, a
``Barrier`` and a ``Display``. Vendor protocol code stays inside ``edge_bridge/drivers/<vendor>/``
(Home Assistant's "core never talks to devices", software.md §3). Everything is asyncio-native
because one edge box drives every lane of a plant from one event loop: a driver that blocks or
raises must never stall or stop another lane, so delivery and commands are contained here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, NamedTuple

from saas.compliance import Plate, PlateColor, Verdict, parse_plate

log = logging.getLogger(__name__)


class DeviceKind(StrEnum):
    PLATE_SOURCE = "plate_source"
    BARRIER = "barrier"
    DISPLAY = "display"


class DirectionHint(StrEnum):
    """What the camera says about the motion; the lane config turns it into in/out."""

    FORWARD = "forward"  # towards the camera (Hikvision "forward")
    REVERSE = "reverse"
    LEFT = "left"
    RIGHT = "right"
    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


class Image(NamedTuple):
    """One picture of a read: ``(kind, data, content_type)``; kind is ``plate`` or ``scene``."""

    kind: str
    data: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class PlateRead:
    """The one normalised event every plate source produces (software.md §5.5).

    ``plate_raw`` is exactly what the camera sent (``parse_plate`` normalises it later, so the
    ledger can show both). ``event_time`` comes from the device clock and ``received_at`` from
    ours: cameras drift and replay offline records hours late. ``event_id`` is the vendor's record
    id, unique per ``device_serial``; together they are the dedupe key.
    """

    device_serial: str
    lane: str
    plate_raw: str
    color: PlateColor | None
    confidence: float
    direction: DirectionHint
    event_time: datetime
    received_at: datetime
    event_id: str
    images: tuple[Image, ...] = ()
    replayed: bool = False
    vendor: str = ""
    vendor_color_code: str | None = None

    def __post_init__(self) -> None:
        if self.event_time.tzinfo is None or self.received_at.tzinfo is None:
            raise ValueError("PlateRead times must be timezone-aware")
        if not 0.0 <= self.confidence <= 1.0:
            raise ValueError(f"confidence {self.confidence!r} outside 0..1")

    @property
    def dedupe_key(self) -> tuple[str, str]:
        return (self.device_serial, self.event_id)

    @property
    def plate(self) -> Plate:
        return parse_plate(self.plate_raw, self.color.value if self.color else None)


@dataclass(frozen=True, slots=True)
class GateDecision:
    """What the lane answers to a read, for sources that carry the command in their reply.

    Only ``Verdict.ALLOW`` opens; REVIEW and DENY keep the gate shut (fail closed).
    """

    verdict: Verdict
    lines: tuple[str, ...] = ()

    @property
    def opens(self) -> bool:
        return self.verdict is Verdict.ALLOW


PlateCallback = Callable[[PlateRead], Awaitable[GateDecision | None]]


@dataclass(frozen=True, slots=True)
class CommandResult:
    """Outcome of a barrier or display command; drivers never raise for device answers."""

    ok: bool
    code: str  # ok | not_supported | auth_failed | auth_backoff | unreachable | timeout | ...
    detail: str = ""
    latency_ms: float = 0.0

    @classmethod
    def success(cls, detail: str = "", latency_ms: float = 0.0) -> CommandResult:
        return cls(True, "ok", detail, latency_ms)

    @classmethod
    def failure(cls, code: str, detail: str = "", latency_ms: float = 0.0) -> CommandResult:
        return cls(False, code, detail, latency_ms)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    serial: str
    model: str = ""
    firmware: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DriverManifest:
    """Per vendor package, like Home Assistant's manifest.json (software.md §3)."""

    name: str
    title: str
    kinds: frozenset[DeviceKind]
    protocol_doc: str
    iot_class: str = "local_push"


class DeviceNotReady(Exception):
    """The device can't be reached or isn't ready yet; enabling retries with backoff."""


class AuthRejected(DeviceNotReady):
    """Credentials refused: retry only slowly, cameras lock out after a few bad logins."""


class ConfigError(ValueError):
    """A device configuration is unusable; retrying can't help."""


def utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- config helpers


def opt_str(config: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = config.get(key, default)
    if not isinstance(value, str) or (default is None and not value):
        raise ConfigError(f"{key}: a non-empty string is required")
    return value


def opt_int(config: Mapping[str, Any], key: str, default: int) -> int:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}: an integer is required, got {value!r}")
    return value


def opt_float(config: Mapping[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"{key}: a non-negative number is required, got {value!r}")
    return float(value)


# ---------------------------------------------------------------- interfaces


class Device(ABC):
    """A configured physical device; ``serial`` is its unique id, the same one in every record."""

    kind: ClassVar[DeviceKind]
    driver: ClassVar[str]

    def __init__(self, serial: str, lane: str) -> None:
        if not serial:
            raise ConfigError("serial: every device needs its serial as unique id")
        self.serial = serial
        self.lane = lane
        self._available = False

    @property
    def unique_id(self) -> str:
        return f"{self.driver}:{self.serial}"

    @property
    def available(self) -> bool:
        """Transport health (can we talk to it / is it talking to us), not the last value."""
        return self._available

    @abstractmethod
    async def probe(self) -> ProbeResult:
        """Check the device before enabling it; raise ``DeviceNotReady`` to be retried."""

    async def shutdown(self) -> None:  # noqa: B027 - optional hook, most devices hold nothing
        """Release sockets and tasks (not ``close``: a barrier's close lowers the arm)."""


class PlateSource(Device):
    kind = DeviceKind.PLATE_SOURCE

    @abstractmethod
    async def start(self, callback: PlateCallback) -> None:
        """Begin delivering reads to ``callback``; returns once listening/connected."""

    @abstractmethod
    async def stop(self) -> None: ...

    async def shutdown(self) -> None:
        await self.stop()


class Barrier(Device):
    kind = DeviceKind.BARRIER

    @abstractmethod
    async def open(self, reason: str) -> CommandResult: ...

    @abstractmethod
    async def close(self, reason: str = "") -> CommandResult: ...


class Display(Device):
    kind = DeviceKind.DISPLAY

    @abstractmethod
    async def show(self, lines: list[str]) -> CommandResult: ...


# ---------------------------------------------------------------- shared machinery


class EventDeduper:
    """Recent ``(serial, event_id)`` keys: cameras resend and replay (software.md §5.3)."""

    def __init__(self, capacity: int = 20000) -> None:
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._capacity = capacity

    def seen(self, key: tuple[str, str]) -> bool:
        """True if already seen; otherwise remember it and return False."""
        if key in self._seen:
            self._seen.move_to_end(key)
            return True
        self._seen[key] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return False


class ContainedCallback:
    """Runs the lane callback for one source so its exceptions stay inside that source.

    ``decide`` waits at most ``deadline`` seconds for a decision; the callback keeps running in
    the background afterwards (the read must still reach the ledger), tracked so ``drain`` can
    cancel it at shutdown.
    """

    def __init__(self, owner: str, callback: PlateCallback) -> None:
        self._owner = owner
        self._callback = callback
        self._tasks: set[asyncio.Task[GateDecision | None]] = set()

    async def _run(self, read: PlateRead) -> GateDecision | None:
        try:
            decision = await self._callback(read)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: lane callback failed for %s", self._owner, read.event_id)
            return None
        if decision is not None and not isinstance(decision, GateDecision):
            log.error("%s: callback returned %r, not a GateDecision", self._owner, decision)
            return None
        return decision

    def hand_on(self, read: PlateRead) -> asyncio.Task[GateDecision | None]:
        task = asyncio.get_running_loop().create_task(self._run(read))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def decide(self, read: PlateRead, deadline: float) -> GateDecision | None:
        """The decision if the lane gave one within ``deadline`` seconds, else None."""
        task = self.hand_on(read)
        done, _ = await asyncio.wait({task}, timeout=deadline)
        if task in done:
            return task.result()
        log.warning(
            "%s: no decision for %s within %.0f ms; failing closed",
            self._owner,
            read.event_id,
            deadline * 1000,
        )
        return None

    async def drain(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff; auth failures wait much longer (illegal-login lockout)."""

    initial: float = 1.0
    maximum: float = 60.0
    auth_delay: float = 300.0
    max_attempts: int | None = None  # None: keep trying, a lane should come back on its own

    def delay(self, attempt: int, error: Exception) -> float:
        if isinstance(error, AuthRejected):
            return self.auth_delay
        return float(min(self.maximum, self.initial * 2.0 ** max(0, attempt - 1)))


async def probe_until_ready(device: Device, policy: RetryPolicy | None = None) -> ProbeResult:
    """Probe, retrying while the device says it isn't ready (Home Assistant's ConfigEntryNotReady).

    A probe that answers with another serial is a wiring mistake and is not retried.
    """
    policy = policy or RetryPolicy()
    attempt = 0
    while True:
        attempt += 1
        try:
            result = await device.probe()
        except DeviceNotReady as exc:
            if policy.max_attempts is not None and attempt >= policy.max_attempts:
                raise
            wait = policy.delay(attempt, exc)
            log.warning(
                "%s not ready (%s); retry %d in %.1fs", device.unique_id, exc, attempt, wait
            )
            await asyncio.sleep(wait)
            continue
        if result.serial and result.serial != device.serial:
            raise ConfigError(f"{device.unique_id}: device answers with serial {result.serial!r}")
        return result


@dataclass
class _Entry:
    device: Device
    callback: PlateCallback | None
    state: str = "pending"
    error: str = ""
    task: asyncio.Task[None] | None = None


@dataclass
class DriverSupervisor:
    """Enables every device in its own task so one broken lane never stops the others.

    Each device is probed (with retry) then started; any exception is logged and recorded in
    ``status()`` for that device only.
    """

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def add(self, device: Device, callback: PlateCallback | None = None) -> None:
        if device.unique_id in self._entries:
            raise ConfigError(f"{device.unique_id} configured twice")
        if isinstance(device, PlateSource) and callback is None:
            raise ConfigError(f"{device.unique_id}: a plate source needs a callback")
        self._entries[device.unique_id] = _Entry(device, callback)

    async def _enable(self, entry: _Entry) -> None:
        entry.state = "probing"
        try:
            await probe_until_ready(entry.device, self.policy)
            if isinstance(entry.device, PlateSource) and entry.callback is not None:
                await entry.device.start(entry.callback)
            entry.state = "running"
        except asyncio.CancelledError:
            entry.state = "stopped"
            raise
        except Exception as exc:
            entry.state, entry.error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("%s failed to start; other devices continue", entry.device.unique_id)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for entry in self._entries.values():
            entry.task = loop.create_task(self._enable(entry))
        await asyncio.sleep(0)

    async def wait_started(self, timeout: float | None = None) -> None:
        tasks = [e.task for e in self._entries.values() if e.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def status(self) -> dict[str, str]:
        return {uid: e.state for uid, e in self._entries.items()}

    def errors(self) -> dict[str, str]:
        return {uid: e.error for uid, e in self._entries.items() if e.error}

    async def stop(self) -> None:
        for entry in self._entries.values():
            if entry.task is not None and not entry.task.done():
                entry.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await entry.task
            try:
                await entry.device.shutdown()
            except Exception:
                log.exception("%s failed to shut down", entry.device.unique_id)
            entry.state = "stopped"


def monotonic_ms(start: float) -> float:
    return (time.monotonic() - start) * 1000.0
