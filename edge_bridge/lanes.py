"""One lane at the gate: a plate read comes in, the verdict goes out in milliseconds.

For every read the lane (1) decides with ``saas.compliance.decide`` on the snapshot in force,
(2) commits the passage and its photos to the outbox, (3) commands the barrier and the display.
Nothing reaches the barrier before the record is durable, so a crash can lose a barrier
movement but never a passage that moved it. The record depends only on the read and the
snapshot, so a camera that resends after a crash produces the same record under the same event
id (the cloud acknowledges it as a duplicate).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from edge_bridge.drivers.base import (
    Barrier,
    CommandResult,
    DirectionHint,
    Display,
    GateDecision,
    Image,
    PlateRead,
)
from edge_bridge.outbox import Outbox, OutboxFull
from edge_bridge.state import BridgeState, LaneState, PassageView
from edge_bridge.sync import SnapshotStore
from saas.compliance import (
    DecisionContext,
    Direction,
    GateEvent,
    PlateColor,
    Verdict,
    decide,
    parse_plate,
)

log = logging.getLogger(__name__)

EVENT_NAMESPACE = uuid.UUID("5b0c7c2e-8f4e-4c1b-9a51-0c7e7a1d2f60")
TRUSTED_CAMERA_SKEW = timedelta(minutes=5)
IMAGE_KINDS = {"plate": "plate", "scene": "scene", "vehicle": "vehicle"}


def event_id_for(device_serial: str, vendor_event_id: str) -> uuid.UUID:
    """The ledger event id of a read: stable across resends and restarts."""
    return uuid.uuid5(EVENT_NAMESPACE, f"{device_serial}\n{vendor_event_id}")


@dataclass
class Timing:
    """Camera push received (the driver's ``received_at``) → barrier command sent, in
    milliseconds, for every read (denied ones too: the decision and the durable record are the
    work; bench/edge.py reads these)."""

    samples: list[float] = field(default_factory=list)

    def add(self, ms: float) -> None:
        if len(self.samples) < 100_000:
            self.samples.append(ms)


class Lane:
    def __init__(
        self,
        view: LaneState,
        *,
        outbox: Outbox,
        snapshot: SnapshotStore,
        state: BridgeState,
        barrier: Barrier | None,
        display: Display | None,
        on_stored: Callable[[], None],
        timing: Timing | None = None,
    ) -> None:
        self.view = view
        self.outbox, self.snapshot, self.state = outbox, snapshot, state
        self.barrier, self.display = barrier, display
        self.on_stored = on_stored
        self.timing = timing
        # Records the full disk refused, written as soon as it has room again.
        self.overflow: list[tuple[str, dict[str, Any], tuple[Image, ...]]] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def direction(self) -> Direction:
        return Direction.IN if self.view.direction == "in" else Direction.OUT

    # --- the hot path --------------------------------------------------------------------

    async def on_read(self, read: PlateRead) -> GateDecision:
        body, view = self.judge(read)
        self.store(body, read.images)
        if self.timing is not None:  # the moment the barrier command goes (or would go) out
            self.timing.add((datetime.now(UTC) - read.received_at).total_seconds() * 1000)
        self._act(body, view, f"自动放行 {view.plate_text}")
        return GateDecision(Verdict(body["decision"]["verdict"].lower()), view.display)

    def _act(self, body: dict[str, Any], view: PassageView, reason: str) -> None:
        """After the record is durable: open on ALLOW, show the verdict, update the pages."""
        if body["decision"]["verdict"] == "ALLOW" and self.barrier is not None:
            self._spawn(self._open(reason, view.event_id))
        if self.display is not None:
            self._spawn(self.display.show(list(view.display)))
        self.state.record(view)

    def _manual_read(self, plate_text: str, color: PlateColor | None) -> PlateRead:
        """A read made by a person at this lane (a fresh event id every time)."""
        now = datetime.now(UTC)
        return PlateRead(
            device_serial=f"manual:{self.view.key}",
            lane=self.view.key,
            plate_raw=plate_text[:32],
            color=color,
            confidence=1.0,
            direction=DirectionHint.UNKNOWN,
            event_time=now,
            received_at=now,
            event_id=uuid.uuid4().hex,
        )

    def judge(
        self,
        read: PlateRead,
        *,
        manual: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], PassageView]:
        """The ledger record of a read and the guard's view of it (pure but for the clock)."""
        site = self.snapshot.site
        now = datetime.now(UTC)
        # The camera's clock if it is sane (deterministic for resends), else ours.
        at = read.event_time if abs(read.event_time - now) <= TRUSTED_CAMERA_SKEW else now
        color = read.color.value if read.color is not None else None
        plate = parse_plate(read.plate_raw, color)
        facts = site.facts(plate.normalized, at) if plate.normalized else None
        decision = decide(
            GateEvent(
                plate_text=read.plate_raw,
                time=at,
                color=color,
                confidence=read.confidence,
                direction=self.direction,
                lane=self.view.key,
            ),
            facts,
            DecisionContext(policy=site.policy, time=at, alert_level=site.alert_level_at(at)),
        )
        entry = site.registry.get(plate.normalized) if plate.normalized else None
        event_id = event_id_for(read.device_serial, read.event_id)
        listed = (
            "black"
            if facts is not None and facts.blacklisted
            else "white"
            if facts is not None and facts.whitelisted
            else None
        )
        body: dict[str, Any] = {
            "event_id": str(event_id),
            "captured_at": at.astimezone(UTC).isoformat(),
            "gate": self.view.gate,
            "lane": self.view.lane,
            "direction": self.view.direction,
            "plate_text": read.plate_raw[:32],
            "plate_color": color,
            "confidence": round(read.confidence, 4),
            "vehicle": {
                "registered": entry is not None,
                "vehicle_type": (entry or {}).get("vehicle_type"),
                "fuel_type": (entry or {}).get("fuel_type"),
                "emission_stage": decision.stage.value if decision.stage else None,
                "registration_date": (entry or {}).get("registration_date"),
                "vin": (entry or {}).get("vin"),
                "category": (entry or {}).get("category"),
                "listed": listed,
            },
            "decision": {
                "verdict": decision.verdict.value.upper(),
                "reasons": list(decision.reasons)[:20],
                "matched_rules": list(decision.matched_rules)[:50],
                "policy_version": decision.policy_version[:64] or None,
                "alert_level": decision.alert_level.value,
                "display": [line[:40] for line in decision.display][:6],
                "barrier_opened": decision.verdict is Verdict.ALLOW and self.barrier is not None,
            },
            "images": [],
        }
        if manual is not None:
            body["manual"] = manual
        view = PassageView(
            event_id=str(event_id),
            captured_at=at,
            gate=self.view.gate,
            lane=self.view.lane,
            direction=self.view.direction,
            plate_text=read.plate_raw,
            plate_color=color,
            verdict=decision.verdict.value.upper(),
            reasons=decision.reasons,
            display=decision.display,
            emission_stage=decision.stage.value if decision.stage else None,
            barrier_opened=body["decision"]["barrier_opened"],
            manual=(manual or {}).get("action"),
            operator=(manual or {}).get("operator"),
            reason=(manual or {}).get("reason"),
        )
        return body, view

    def store(self, body: dict[str, Any], images: tuple[Image, ...] = ()) -> None:
        """Photos first, then the row naming them; a full disk keeps the record in memory
        (alarm raised) until it can be written — the gate keeps deciding."""
        try:
            photos = [(image.data, _content_type(image)) for image in images[:4]]
            body["images"] = [
                {
                    "kind": IMAGE_KINDS.get(image.kind, "scene"),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "content_type": content_type,
                    "size": len(data),
                }
                for image, (data, content_type) in zip(images[:4], photos, strict=True)
            ]
            self.outbox.put(body["event_id"], body, photos)
        except OutboxFull as exc:
            self.state.alarms["disk_full"] = (
                f"磁盘已满，{len(self.overflow) + 1} 条记录暂存内存: {exc}"
            )
            log.error("outbox full; keeping %s in memory", body["event_id"])
            self.overflow.append((body["event_id"], body, images))
            return
        self.on_stored()

    def flush_overflow(self) -> None:
        while self.overflow:
            event_id, body, images = self.overflow[0]
            photos = [(image.data, _content_type(image)) for image in images[:4]]
            try:
                self.outbox.put(event_id, body, photos)
            except OutboxFull:
                return
            self.overflow.pop(0)
        self.state.alarms.pop("disk_full", None)
        self.on_stored()

    async def _open(self, reason: str, event_id: str) -> CommandResult:
        assert self.barrier is not None
        try:
            result = await self.barrier.open(reason)
        except Exception as exc:
            log.exception("%s: barrier open raised", self.view.key)
            return CommandResult.failure("driver_error", str(exc))
        if not result.ok:
            log.error("%s: barrier did not open for %s: %s", self.view.key, event_id, result)
            self.state.alarms[f"barrier:{self.view.key}"] = (
                f"{self.view.key} 道闸未响应: {result.code}"
            )
        else:
            self.state.alarms.pop(f"barrier:{self.view.key}", None)
        return result

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- the guard and the cloud ---------------------------------------------------------

    async def release(self, reason: str, operator: str, action: str = "release") -> PassageView:
        """Open for the vehicle at the lane (the last one read) and record who and why."""
        reason = reason.strip()
        if not reason:
            raise ValueError("放行原因 (reason) is required")
        last = self.view.last
        read = self._manual_read(last.plate_text if last else "", None)
        manual = {
            "action": action,
            "operator": operator[:100],
            "reason": reason[:300],
            "amends_event_id": last.event_id if last else None,
        }
        body, view = self.judge(read, manual=manual)
        if last is not None and last.plate_color:
            body["plate_color"] = last.plate_color
        body["decision"]["verdict"] = "ALLOW"
        body["decision"]["reasons"] = [*body["decision"]["reasons"], "manual_release"][:20]
        body["decision"]["barrier_opened"] = self.barrier is not None
        self.store(body)
        result = await self._open(f"人工放行: {reason}", body["event_id"]) if self.barrier else None
        view = replace(view, verdict="ALLOW", barrier_opened=bool(result and result.ok))
        self.state.record(view)
        return view

    async def typed(self, plate_text: str, color: str | None, operator: str) -> PassageView:
        """Decide on a plate the guard typed; opens like a camera read would."""
        plate_text = plate_text.strip().upper()
        if not plate_text:
            raise ValueError("车牌号 (plate) is required")
        try:
            plate_color = PlateColor(color) if color else None
        except ValueError:
            raise ValueError(f"车牌颜色 (color) {color!r} is not a plate colour") from None
        read = self._manual_read(plate_text, plate_color)
        body, view = self.judge(read, manual={"action": "typed", "operator": operator[:100]})
        self.store(body)
        self._act(body, view, f"手工录入放行 {plate_text}")
        return view

    async def drain(self) -> None:
        for task in list(self._tasks):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 2)


def _content_type(image: Image) -> str:
    return image.content_type if image.content_type in ("image/jpeg", "image/png") else "image/jpeg"
