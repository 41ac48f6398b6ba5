"""The edge daemon: drivers, lanes, outbox, cloud link and the local pages in one asyncio loop.

``cleangate-edge run --config edge.toml``. Pair first (``cleangate-edge pair``): the pairing
state file holds the device id and the hub URL. The gate never waits for the cloud: lanes
decide on the snapshot in force, and the link forwards the outbox whenever it can.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge_bridge import __version__, keys
from edge_bridge.config import EdgeConfig
from edge_bridge.drivers.base import Barrier, Display, DriverSupervisor, PlateSource
from edge_bridge.drivers.registry import DriverRegistry, default_registry
from edge_bridge.lanes import Lane, Timing
from edge_bridge.link import CloudLink
from edge_bridge.outbox import Outbox
from edge_bridge.state import BridgeState, LaneState, PassageView
from edge_bridge.sync import SnapshotStore

log = logging.getLogger("cleangate.edge")


class NotPaired(RuntimeError):
    pass


def load_pairing(config: EdgeConfig) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(config.pairing_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotPaired(
            f"{config.pairing_path} is missing: run `cleangate-edge pair --cloud URL --code CODE`"
        ) from None
    return data


class Daemon:
    def __init__(
        self,
        config: EdgeConfig,
        *,
        registry: DriverRegistry | None = None,
        timing: Timing | None = None,
    ) -> None:
        self.config = config
        self.registry = registry or default_registry()
        self.timing = timing
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.pairing = load_pairing(config)
        self.key = keys.load(config.key_path)
        self.outbox = Outbox(config.state_dir / "outbox")
        self.snapshot = SnapshotStore(config.state_dir)
        self.state = BridgeState(
            site_name=config.site_name or str(self.pairing.get("site_name", "")),
            software_version=__version__,
            outbox_depth=self.outbox.depth(),
        )
        if not self.snapshot.synced:
            self.state.alarms["no_snapshot"] = "尚未从云端同步规则，按最严格默认策略判定"
        else:
            self.state.snapshot_version = self.snapshot.version
            self.state.alert_level = self.snapshot.site.alert_level_at(datetime.now(UTC)).value
        self.supervisor = DriverSupervisor()
        self.lanes: dict[str, Lane] = {}
        self.link = CloudLink(
            hub_url=config.hub_url or str(self.pairing["hub_url"]),
            device_id=str(self.pairing["device_id"]),
            key=self.key,
            outbox=self.outbox,
            snapshot=self.snapshot,
            state=self.state,
            software_version=__version__,
            on_command=self.on_command,
            extra_health=self.device_health,
        )
        self.web: Any = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._build_lanes()

    def _build_lanes(self) -> None:
        for lane_config in self.config.lanes:
            view = LaneState(lane_config.gate, lane_config.lane, lane_config.direction)
            barrier = display = camera = None
            if lane_config.barrier:
                barrier = self.registry.create(
                    "barrier", lane_config.barrier["driver"], lane_config.barrier
                )
                view.barrier = barrier.unique_id
            if lane_config.display:
                display = self.registry.create(
                    "display", lane_config.display["driver"], lane_config.display
                )
                view.display = display.unique_id
            if lane_config.camera:
                camera = self.registry.create(
                    "plate_source", lane_config.camera["driver"], lane_config.camera
                )
                view.camera = camera.unique_id
            assert barrier is None or isinstance(barrier, Barrier)
            assert display is None or isinstance(display, Display)
            lane = Lane(
                view,
                outbox=self.outbox,
                snapshot=self.snapshot,
                state=self.state,
                barrier=barrier,
                display=display,
                on_stored=self.link.notify,
                timing=self.timing,
            )
            self.lanes[view.key] = lane
            self.state.lanes[view.key] = view
            if camera is not None:
                assert isinstance(camera, PlateSource)
                self.supervisor.add(camera, lane.on_read)
            for device in (barrier, display):
                if device is not None:
                    with contextlib.suppress(Exception):  # the same box may be camera + barrier
                        self.supervisor.add(device)

    # --- run -----------------------------------------------------------------------------

    async def start(self) -> None:
        await self.supervisor.start()
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self.link.run(), name="cloud-link"),
            loop.create_task(self._housekeeping(), name="housekeeping"),
        ]
        if self.config.web_port is not None:
            from edge_bridge.web import LocalWeb

            self.web = LocalWeb(
                self.state,
                self,
                self.config.web_host,
                self.config.web_port,
                self.config.web_users,
                secret=self._web_secret(),
                snapshot=self.snapshot,
            )
            await self.web.start()
            log.info("local pages on %s", self.web.url)

    def _web_secret(self) -> bytes:
        """Session-signing key kept in the state directory, so a restart (or a crash) does not
        log every guard out."""
        path = self.config.state_dir / "web.secret"
        try:
            return path.read_bytes()
        except FileNotFoundError:
            secret = os.urandom(32)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(secret)
            return secret

    async def stop(self) -> None:
        await self.link.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.web is not None:
            await self.web.stop()
        await self.supervisor.stop()
        for lane in self.lanes.values():
            await lane.drain()
        self.outbox.close()

    async def run_forever(self) -> None:
        await self.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await stop.wait()
        finally:
            await self.stop()

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(5)
            self.state.devices = self.supervisor.status()
            # An alert window may open or close while nothing else changes (or offline).
            self.state.alert_level = self.snapshot.site.alert_level_at(datetime.now(UTC)).value
            for lane in self.lanes.values():
                if lane.overflow:
                    lane.flush_overflow()
            with contextlib.suppress(Exception):
                self.outbox.checkpoint()

    def device_health(self) -> dict[str, Any]:
        errors = self.supervisor.errors()
        return {
            "devices": [
                {"id": uid, "state": state, "last_error": errors.get(uid, "")}
                for uid, state in self.supervisor.status().items()
            ]
        }

    # --- guard actions (GuardActions for the local pages) --------------------------------

    def _lane(self, gate: str, lane: str) -> Lane:
        try:
            return self.lanes[f"{gate}/{lane}"]
        except KeyError:
            raise KeyError(f"no lane {gate}/{lane}") from None

    async def manual_release(self, gate: str, lane: str, reason: str, operator: str) -> PassageView:
        return await self._lane(gate, lane).release(reason, operator)

    async def manual_plate(
        self, gate: str, lane: str, plate_text: str, color: str | None, operator: str
    ) -> PassageView:
        return await self._lane(gate, lane).typed(plate_text, color, operator)

    def image(self, sha256: str) -> bytes | None:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            return None
        try:
            return self.outbox.image_bytes(sha256)
        except FileNotFoundError:
            return None

    # --- commands from the cloud ---------------------------------------------------------

    async def on_command(self, command: dict[str, Any]) -> tuple[bool, str]:
        action = command.get("action")
        issued_by = str(command.get("issued_by") or "cloud")
        if action == "resync":
            return True, "resync requested"  # the link resends hello on the next session
        lane = self.lanes.get(f"{command.get('gate')}/{command.get('lane')}")
        if action == "open_barrier":
            if lane is None:
                return False, f"no lane {command.get('gate')}/{command.get('lane')}"
            reason = str(command.get("reason") or "").strip()
            if not reason:
                return False, "reason required"
            view = await lane.release(reason, issued_by, action="remote_release")
            return bool(view.barrier_opened), "opened" if view.barrier_opened else "barrier failed"
        if action == "show_text":
            lines = [str(x)[:40] for x in str(command.get("text") or "").splitlines()][:4]
            targets = [lane] if lane is not None else list(self.lanes.values())
            results = []
            for target in targets:
                if target.display is not None:
                    results.append(await target.display.show(lines))
            if not results:
                return False, "no display"
            return all(r.ok for r in results), ",".join(r.code for r in results)
        return False, f"unknown action {action!r}"


def run(config: EdgeConfig) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    daemon = Daemon(config)
    asyncio.run(daemon.run_forever())


def write_pairing(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    tmp.replace(path)
