"""The bridge's websocket to the cloud hub: authenticate, sync the snapshot, forward the outbox,
run commands, report health — and reconnect forever with jittered exponential backoff.

Delivery: up to ``window`` batches of passages are in flight; a batch leaves the outbox only
when the hub's ``ack`` (sent after its database COMMIT) says ``stored`` or ``duplicate``. After a
reconnect everything unacknowledged is sent again; the hub's dedupe on event id makes that safe.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import random
import shutil
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from edge_bridge import protocol
from edge_bridge.outbox import Outbox, Pending
from edge_bridge.state import BridgeState
from edge_bridge.sync import SnapshotStore

log = logging.getLogger(__name__)

CommandHandler = Callable[[dict[str, Any]], Awaitable[tuple[bool, str]]]
CLOCK_SKEW_ALARM_MS = 5000
MAX_SNAPSHOT_FRAME = 64 * 1024 * 1024


class HubRefused(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class CloudLink:
    def __init__(
        self,
        *,
        hub_url: str,
        device_id: str,
        key: Ed25519PrivateKey,
        outbox: Outbox,
        snapshot: SnapshotStore,
        state: BridgeState,
        software_version: str,
        on_command: CommandHandler | None = None,
        batch_size: int = 500,
        window: int = 4,
        health_interval: float = 15.0,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        extra_health: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.hub_url, self.device_id, self.key = hub_url, device_id, key
        self.outbox, self.snapshot, self.state = outbox, snapshot, state
        self.software_version = software_version
        self.on_command = on_command
        self.batch_size, self.window = batch_size, window
        self.health_interval = health_interval
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.extra_health = extra_health
        self.started = time.monotonic()
        self.wake = asyncio.Event()
        self.connects = 0
        self._stopping = False
        self._ws: ClientConnection | None = None

    def notify(self) -> None:
        """A new record is in the outbox."""
        self.state.outbox_depth += 1
        self.wake.set()

    async def stop(self) -> None:
        self._stopping = True
        if self._ws is not None:
            await self._ws.close()

    # --- connection loop -----------------------------------------------------------------

    async def run(self) -> None:
        attempt = 0
        while not self._stopping:
            connects = self.connects
            try:
                async with connect(
                    self.hub_url,
                    compression=None,
                    max_size=MAX_SNAPSHOT_FRAME,
                    open_timeout=10,
                    ping_interval=20,
                    ping_timeout=20,
                    close_timeout=2,
                    additional_headers={"X-CG-Device": self.device_id},
                ) as ws:
                    self._ws = ws
                    await self._session(ws)
            except HubRefused as exc:
                self.state.alarms["auth"] = f"云端拒绝连接: {exc.code}"
                log.error("hub refused this bridge: %s", exc.code)
                attempt = max(attempt, 6)  # back off hard: a revoked key won't fix itself
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, InvalidURI) as exc:
                log.info("hub unreachable or connection lost: %s", exc)
            except Exception:
                log.exception("cloud link failed")
            finally:
                self._ws = None
                self.state.online = False
                if self.connects > connects:
                    attempt = 0  # it was up: start the backoff again from the bottom
            if self._stopping:
                return
            attempt += 1
            delay = min(self.backoff_max, self.backoff_initial * 2 ** (attempt - 1))
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))

    async def _session(self, ws: ClientConnection) -> None:
        challenge = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if challenge.get("type") != "challenge":
            raise HubRefused(str(challenge.get("code", "no challenge")))
        timestamp = datetime.now(UTC).isoformat()
        signature = self.key.sign(
            protocol.auth_message(self.device_id, challenge["nonce"], timestamp)
        )
        await ws.send(
            json.dumps(
                {
                    "type": "auth",
                    "device_id": self.device_id,
                    "nonce": challenge["nonce"],
                    "timestamp": timestamp,
                    "signature": base64.b64encode(signature).decode(),
                }
            )
        )
        await ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "protocol": protocol.PROTOCOL_VERSION,
                    "software_version": self.software_version,
                    "snapshot_version": self.snapshot.version,
                    "outbox_depth": self.outbox.depth(),
                    "clock": datetime.now(UTC).isoformat(),
                }
            )
        )
        try:
            welcome = json.loads(await asyncio.wait_for(ws.recv(), 30))
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code in (
                protocol.CLOSE_AUTH,
                protocol.CLOSE_REVOKED,
            ):
                raise HubRefused(exc.rcvd.reason or str(exc.rcvd.code)) from None
            raise
        if welcome.get("type") != "welcome":
            raise HubRefused(str(welcome.get("code", welcome.get("type"))))
        self.connects += 1
        self.state.online = True
        self.state.alarms.pop("auth", None)
        self.state.last_connected_at = datetime.now(UTC)
        skew = welcome.get("clock_skew_ms")
        self.state.clock_skew_ms = skew if isinstance(skew, int) else None
        if isinstance(skew, int) and abs(skew) > CLOCK_SKEW_ALARM_MS:
            self.state.alarms["clock_skew"] = f"本机时钟与云端相差 {skew / 1000:+.1f} 秒，请校时"
        else:
            self.state.alarms.pop("clock_skew", None)
        log.info("connected to hub as %s (clock skew %s ms)", self.device_id, skew)
        session = _Session(self, ws)
        await session.run()


class _Session:
    """One authenticated connection: a receiver, a passage sender, an image sender, health."""

    def __init__(self, link: CloudLink, ws: ClientConnection) -> None:
        self.link, self.ws = link, ws
        self.outbox = link.outbox
        self.in_flight: dict[int, list[Pending]] = {}
        self.sent_upto = 0
        self.batch_no = 0
        self.slot = asyncio.Event()
        self.image_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message, ensure_ascii=False, separators=(",", ":")))

    async def run(self) -> None:
        tasks = [
            asyncio.create_task(self.receive()),
            asyncio.create_task(self.send_passages()),
            asyncio.create_task(self.send_images()),
            asyncio.create_task(self.health()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise what ended the session
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # --- outgoing --------------------------------------------------------------------------

    async def send_passages(self) -> None:
        link = self.link
        while True:
            while len(self.in_flight) >= link.window:
                self.slot.clear()
                await self.slot.wait()
            rows = self.outbox.pending(link.batch_size, after=self.sent_upto)
            if not rows:
                link.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(link.wake.wait(), 5)
                continue
            self.batch_no += 1
            self.in_flight[self.batch_no] = rows
            self.sent_upto = rows[-1].n
            await self.send(
                {"type": "passages", "batch": self.batch_no, "items": [r.body for r in rows]}
            )

    async def send_images(self) -> None:
        while True:
            pending = self.outbox.pending_images(10)
            if not pending:
                await asyncio.sleep(2)
                continue
            for sha, content_type in pending:
                try:
                    data = self.outbox.image_bytes(sha)
                except FileNotFoundError:
                    self.outbox.image_uploaded(sha)
                    continue
                future = asyncio.get_running_loop().create_future()
                self.image_acks[sha] = future
                await self.send(
                    {
                        "type": "image",
                        "sha256": sha,
                        "content_type": content_type,
                        "data": base64.b64encode(data).decode(),
                    }
                )
                try:
                    ack = await asyncio.wait_for(future, 60)
                finally:
                    self.image_acks.pop(sha, None)
                if ack.get("status") == "stored":
                    self.outbox.image_uploaded(sha)
                else:
                    log.error("cloud refused photo %s: %s", sha, ack.get("code"))
                    self.outbox.image_uploaded(sha)  # not resent forever; kept on disk

    async def health(self) -> None:
        link = self.link
        while True:
            try:
                disk = shutil.disk_usage(self.outbox.directory).free
            except OSError:
                disk = None
            link.state.disk_free_bytes = disk
            message: dict[str, Any] = {
                "type": "health",
                "outbox_depth": link.state.outbox_depth,
                "clock_skew_ms": link.state.clock_skew_ms,
                "software_version": link.software_version,
                "disk_free_bytes": disk,
                "uptime_s": int(time.monotonic() - link.started),
                "alarms": sorted(link.state.alarms),
            }
            if link.extra_health is not None:
                message.update(link.extra_health())
            await self.send(message)
            await asyncio.sleep(link.health_interval)

    # --- incoming --------------------------------------------------------------------------

    async def receive(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "ack":
                self.on_ack(message)
            elif kind == "snapshot":
                ok = self.link.snapshot.replace(message["body"], message["version"])
                await self.after_sync(ok, message["version"])
            elif kind == "delta":
                ok = self.link.snapshot.apply_delta(
                    message["base_version"], message["version"], message["changes"]
                )
                await self.after_sync(ok, message["version"])
            elif kind == "image_ack":
                future = self.image_acks.get(str(message.get("sha256")))
                if future is not None and not future.done():
                    future.set_result(message)
            elif kind == "command":
                asyncio.create_task(self.on_command(message))  # noqa: RUF006 - answers itself
            elif kind == "error":
                self.on_error(message)
            else:
                log.warning("ignoring unknown frame type %r", kind)

    def on_ack(self, message: dict[str, Any]) -> None:
        rows = self.in_flight.pop(message.get("batch"), None)  # type: ignore[arg-type]
        acks = message.get("acks") or []
        self.outbox.acknowledge(acks)
        if rows is not None:
            answered = {a.get("event_id") for a in acks}
            missing = [r for r in rows if r.event_id not in answered]
            if missing:  # never happens with a correct hub; resend rather than trust it
                self.sent_upto = min(self.sent_upto, missing[0].n - 1)
        state = self.link.state
        state.outbox_depth = self.outbox.depth()
        aside = self.outbox.set_aside()
        if aside:
            state.alarms["set_aside"] = f"{aside} 条记录被云端拒收，已留存待人工处理"
        self.slot.set()

    def on_error(self, message: dict[str, Any]) -> None:
        log.error("hub error %s: %s", message.get("code"), message.get("message"))
        rows = self.in_flight.pop(message.get("batch"), None)  # type: ignore[arg-type]
        if rows:
            self.sent_upto = min(self.sent_upto, rows[0].n - 1)  # resend from there
            self.slot.set()
        if message.get("code") == "wrong_site":
            self.link.state.alarms["wrong_site"] = "云端拒收：记录不属于本站点"

    async def after_sync(self, ok: bool, version: str) -> None:
        state = self.link.state
        if ok:
            site = self.link.snapshot.site
            state.snapshot_version = site.version
            state.snapshot_at = datetime.now(UTC)
            state.alert_level = site.alert_level_at(datetime.now(UTC)).value
            state.alarms.pop("no_snapshot", None)
            await self.send({"type": "synced", "version": version})
        else:
            await self.send({"type": "resync"})

    async def on_command(self, message: dict[str, Any]) -> None:
        handler = self.link.on_command
        try:
            if handler is None:
                ok, detail = False, "not supported"
            else:
                ok, detail = await handler(message)
        except Exception as exc:
            log.exception("command %s failed", message.get("command_id"))
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(ConnectionClosed):
            await self.send(
                {
                    "type": "command_result",
                    "command_id": message.get("command_id"),
                    "ok": ok,
                    "detail": detail[:300],
                }
            )
