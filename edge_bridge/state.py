"""What the daemon knows right now, as plain values for the local pages (guard console, board).

The daemon owns one ``BridgeState`` and updates it from the lanes and the cloud link; the local
web UI only reads it and calls the ``GuardActions`` it is given, so the pages never touch the
drivers, the outbox or the websocket themselves.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PassageView:
    """One passage as the guard sees it (newest first on the console)."""

    event_id: str
    captured_at: datetime  # UTC; the pages show Asia/Shanghai
    gate: str
    lane: str
    direction: str  # in | out
    plate_text: str  # as read (or typed by the guard)
    plate_color: str | None
    verdict: str  # ALLOW | DENY | REVIEW
    reasons: tuple[str, ...]
    display: tuple[str, ...]  # the LED lines shown
    emission_stage: str | None
    barrier_opened: bool | None
    manual: str | None = None  # None, "release" (guard opened) or "typed" (guard typed the plate)
    operator: str | None = None
    reason: str | None = None  # the guard's reason for a manual release
    images: tuple[str, ...] = ()  # SHA-256 of photos kept in the outbox image store


@dataclass(slots=True)
class LaneState:
    gate: str
    lane: str
    direction: str  # in | out
    camera: str | None = None  # device unique ids
    barrier: str | None = None
    display: str | None = None
    last: PassageView | None = None

    @property
    def key(self) -> str:
        return f"{self.gate}/{self.lane}"


@dataclass(slots=True)
class BridgeState:
    site_name: str = ""
    software_version: str = ""
    online: bool = False  # websocket to the hub up and authenticated
    last_connected_at: datetime | None = None
    clock_skew_ms: int | None = None  # cloud clock minus ours, measured at welcome
    snapshot_version: str | None = None  # digest of the snapshot in force (None: never synced)
    snapshot_at: datetime | None = None
    alert_level: str = "none"  # none | yellow | orange | red
    outbox_depth: int = 0
    disk_free_bytes: int | None = None
    alarms: dict[str, str] = field(default_factory=dict)  # code -> message (disk_full, clock_skew…)
    devices: dict[str, str] = field(default_factory=dict)  # device unique id -> state
    lanes: dict[str, LaneState] = field(default_factory=dict)  # key "gate/lane"
    recent: deque[PassageView] = field(default_factory=lambda: deque(maxlen=200))
    today_in: int = 0
    today_out: int = 0

    def record(self, view: PassageView) -> None:
        self.recent.appendleft(view)
        lane = self.lanes.get(f"{view.gate}/{view.lane}")
        if lane is not None:
            lane.last = view
        if view.barrier_opened:
            if view.direction == "in":
                self.today_in += 1
            else:
                self.today_out += 1


class GuardActions(Protocol):
    """What the guard console may ask the daemon to do. Both write a ledger record."""

    async def manual_release(self, gate: str, lane: str, reason: str, operator: str) -> PassageView:
        """Open the lane's barrier for the vehicle at it; ``reason`` is mandatory (non-empty)."""
        ...

    async def manual_plate(
        self, gate: str, lane: str, plate_text: str, color: str | None, operator: str
    ) -> PassageView:
        """Decide on a plate the guard typed (the camera could not read it)."""
        ...

    def image(self, sha256: str) -> bytes | None:
        """A photo from the local image store, or None."""
        ...
