"""``cleangate hub``: the websocket server every edge bridge holds a connection to.

One asyncio loop serves thousands of mostly idle connections; database and Redis calls run on
a small thread pool so a slow COMMIT never stalls another bridge's frames. Passages from all of
a site's frames are coalesced for a few milliseconds into one ``ingest_passages`` transaction,
and each frame is acknowledged only after that transaction COMMITted. Presence, "something
changed" notices and commands travel through Redis (saas/edge_hub/bus.py) so several hub
processes can run behind a load balancer. Protocol: docs/edge-protocol.md.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import os
import secrets
import socket
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask import Flask
from pydantic import ValidationError
from sqlalchemy import update
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from saas.auth import audit
from saas.compliance import snapshot as snap
from saas.compliance.board import passage_view
from saas.db import get_database, utcnow
from saas.edge_hub import bus
from saas.edge_hub import snapshot as site_snapshot
from saas.edge_hub.feeds import check_feed_token
from saas.ledger.images import ImageRejected, store_image
from saas.ledger.ingest import MAX_BATCH, PassageBatch, PassageIn, ingest_passages
from saas.models.ledger import EdgeDevice
from saas.models.tenancy import Site
from saas.tenancy import system_context, tenant_context

log = logging.getLogger("cleangate.hub")

PROTOCOL_VERSION = 1
AUTH_CONTEXT = "cleangate-edge-auth"  # mirrors edge_bridge.protocol (tests pin both)
CLOSE_PROTOCOL, CLOSE_AUTH, CLOSE_REVOKED, CLOSE_SUPERSEDED = 4400, 4401, 4403, 4409
AUTH_TIMEOUT = 10.0
MAX_FRAME = 8 * 1024 * 1024  # an image frame: 5 MB JPEG in base64, with room
FRAME_CACHE = 64  # serialized snapshot frames kept, by version
HEALTH_PATH = "/healthz"  # the load balancer's target-group health check (plain HTTP GET)


def auth_message(device_id: str, nonce: str, timestamp: str) -> bytes:
    return f"{AUTH_CONTEXT}\n{device_id}\n{nonce}\n{timestamp}".encode()


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass(eq=False)
class Bridge:
    """One authenticated connection."""

    ws: ServerConnection
    device_id: uuid.UUID
    tenant_id: uuid.UUID
    site_id: uuid.UUID
    name: str
    snapshot_version: str | None = None
    connected_at: float = field(default_factory=time.time)
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, message: dict[str, Any] | str) -> None:
        text = (
            message
            if isinstance(message, str)
            else json.dumps(message, ensure_ascii=False, separators=(",", ":"))
        )
        async with self.send_lock:
            await self.ws.send(text)


@dataclass
class _Pending:
    bridge: Bridge
    items: list[PassageIn]
    future: asyncio.Future[list[dict[str, Any]]]


class SiteBatcher:
    """Coalesces one site's passage frames into transactions of up to ``MAX_BATCH`` passages,
    flushed when full or ``flush_ms`` after the first frame arrived."""

    def __init__(self, hub: Hub, tenant_id: uuid.UUID, site_id: uuid.UUID) -> None:
        self.hub, self.tenant_id, self.site_id = hub, tenant_id, site_id
        self.queue: list[_Pending] = []
        self.count = 0
        self.full = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def submit(
        self, bridge: Bridge, items: list[PassageIn]
    ) -> asyncio.Future[list[dict[str, Any]]]:
        future: asyncio.Future[list[dict[str, Any]]] = asyncio.get_running_loop().create_future()
        self.queue.append(_Pending(bridge, items, future))
        self.count += len(items)
        if self.count >= self.hub.batch_size:
            self.full.set()
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        return future

    async def _run(self) -> None:
        while self.queue:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.full.wait(), self.hub.flush_ms / 1000)
            take: list[_Pending] = []
            n = 0
            while self.queue and (not take or n + len(self.queue[0].items) <= MAX_BATCH):
                item = self.queue.pop(0)
                take.append(item)
                n += len(item.items)
            self.count -= n
            if self.count < self.hub.batch_size:
                self.full.clear()
            items = [p for pending in take for p in pending.items]
            try:
                acks = await self.hub.run_db(
                    self.hub.ingest, self.tenant_id, self.site_id, take[0].bridge.device_id, items
                )
            except Exception as exc:
                log.exception("ingest failed for site %s", self.site_id)
                for pending in take:
                    if not pending.future.done():
                        pending.future.set_exception(exc)
                continue
            by_id = {a["event_id"]: a for a in acks}
            for pending in take:
                if not pending.future.done():
                    pending.future.set_result([by_id[str(p.event_id)] for p in pending.items])
            self.hub.publish_feed(self.site_id, items, acks)


class Hub:
    def __init__(
        self,
        app: Flask,
        *,
        host: str = "0.0.0.0",  # noqa: S104 - a server; bound where the operator says
        port: int = 8765,
        batch_size: int = 500,
        flush_ms: float = 5.0,
        db_threads: int = 8,
        presence_interval: float = 20.0,
        name: str | None = None,
    ) -> None:
        self.app = app
        self.host, self.port = host, port
        self.batch_size, self.flush_ms = batch_size, flush_ms
        self.presence_interval = presence_interval
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.db = get_database(app)
        self.redis: redis.Redis = app.extensions["cleangate.redis"]
        self.storage = app.extensions["cleangate.storage"]
        self.executor = ThreadPoolExecutor(db_threads, thread_name_prefix="hub-db")
        self.fast = ThreadPoolExecutor(4, thread_name_prefix="hub-auth")
        self.bridges: dict[uuid.UUID, Bridge] = {}
        self.by_site: dict[uuid.UUID, set[Bridge]] = {}
        self.batchers: dict[uuid.UUID, SiteBatcher] = {}
        self.versions: dict[uuid.UUID, str] = {}  # site -> current snapshot version
        self.viewers: dict[uuid.UUID, set[ServerConnection]] = {}  # site -> board feeds
        self.secret_key = app.config["CLEANGATE_SETTINGS"].secret_key
        self.base_url = app.config["CLEANGATE_SETTINGS"].base_url
        self.frames: OrderedDict[str, str] = OrderedDict()  # version -> snapshot frame (LRU)
        self.server: Server | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop = threading.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listener: threading.Thread | None = None
        self._changing: set[uuid.UUID] = set()
        self._seen: set[uuid.UUID] = set()  # last_seen_at to write on the next presence round
        self.stats = {"connections": 0, "auth_failures": 0, "passages": 0, "frames": 0}

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.server = await serve(
            self.handler,
            self.host,
            self.port,
            process_request=self.process_request,
            compression=None,  # per-connection deflate buffers cost ~64 KiB x 10 000 bridges
            max_size=MAX_FRAME,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=2,
            backlog=4096,  # a reconnect storm after a restart: don't drop SYNs
        )
        if self.port == 0:
            self.port = self.server.sockets[0].getsockname()[1]
        self._listener = threading.Thread(target=self._listen, name="hub-bus", daemon=True)
        self._listener.start()
        self._spawn(self._presence_loop())
        log.info("hub %s listening on %s:%s", self.name, self.host, self.port)

    @property
    def url(self) -> str:
        return f"ws://{'127.0.0.1' if self.host in ('0.0.0.0', '') else self.host}:{self.port}/"  # noqa: S104

    async def stop(self) -> None:
        self._stop.set()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        for bridge in list(self.bridges.values()):
            await self.run_fast(bus.mark_offline, self.redis, bridge.device_id, self.name)
            self._seen.add(bridge.device_id)
        with contextlib.suppress(Exception):
            await self.run_fast(self._record_last_seen, list(self._seen))
        if self._listener is not None:
            self._listener.join(timeout=5)
        self.executor.shutdown(wait=True, cancel_futures=False)
        self.fast.shutdown(wait=True, cancel_futures=False)

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Future()
        finally:
            await self.stop()

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def run_db(self, fn: Any, *args: Any) -> Any:
        """Ingest and snapshot builds: the slow work."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def run_fast(self, fn: Any, *args: Any) -> Any:
        """Authentication, presence and audit on their own threads, so a queue of snapshot
        builds (a cold start with thousands of sites) never starves the handshakes."""
        return await asyncio.get_running_loop().run_in_executor(self.fast, fn, *args)

    # --- connection ----------------------------------------------------------------------

    @staticmethod
    def process_request(ws: ServerConnection, request: Request) -> Response | None:
        """A plain ``GET /healthz`` (no websocket upgrade) gets 200 ``ok``, answered by the
        event loop itself: it proves this process accepts and serves connections, and nothing
        more, so a database or Redis blip does not make the load balancer drain every hub at
        once. Every other request goes on to the websocket handshake as before."""
        if request.path.split("?", 1)[0] != HEALTH_PATH or "Upgrade" in request.headers:
            return None
        return ws.respond(HTTPStatus.OK, "ok\n")

    async def handler(self, ws: ServerConnection) -> None:
        path = ws.request.path if ws.request is not None else "/"
        if path.startswith("/feed/"):
            await self._viewer(ws, path)
            return
        bridge = await self._authenticate(ws)
        if bridge is None:
            return
        previous = self.bridges.get(bridge.device_id)
        if previous is not None:
            self._spawn(previous.ws.close(CLOSE_SUPERSEDED, "superseded by a newer connection"))
            self._forget(previous)
        self.bridges[bridge.device_id] = bridge
        self.by_site.setdefault(bridge.site_id, set()).add(bridge)
        self.stats["connections"] += 1
        try:
            async for raw in ws:
                await self._dispatch(bridge, raw)
        except ConnectionClosed:
            pass
        finally:
            if self.bridges.get(bridge.device_id) is bridge:
                self._forget(bridge)
                with contextlib.suppress(Exception):
                    await self.run_fast(self._disconnected, bridge.device_id)

    async def _viewer(self, ws: ServerConnection, path: str) -> None:
        """A board viewer: token-checked, then fed passages of its site until it leaves."""
        parts = urlsplit(path)
        token = (parse_qs(parts.query).get("token") or [""])[0]
        try:
            site_id = uuid.UUID(parts.path.removeprefix("/feed/").strip("/"))
        except ValueError:
            await ws.close(CLOSE_PROTOCOL, "no such feed")
            return
        if not check_feed_token(self.secret_key, site_id, token):
            await ws.close(CLOSE_AUTH, "bad or expired feed token")
            return
        viewers = self.viewers.setdefault(site_id, set())
        viewers.add(ws)
        try:
            await ws.send(json.dumps({"type": "hello", "site_id": str(site_id)}))
            async for _ in ws:  # viewers only listen
                pass
        except ConnectionClosed:
            pass
        finally:
            viewers.discard(ws)
            if not viewers:
                self.viewers.pop(site_id, None)

    def _feed(self, site_id: uuid.UUID, data: bytes) -> None:
        viewers = self.viewers.get(site_id)
        if not viewers:
            return
        text = json.dumps({"type": "passages", **json.loads(data)}, ensure_ascii=False)
        for ws in list(viewers):
            self._spawn(self._send_quietly(ws, text))

    def _tell_viewers_changed(self, site_id: uuid.UUID) -> None:
        """Something on the site's board may have changed (alert, plan, site, token): its open
        boards refetch their JSON. Every hub hears the change notice, so viewers on any hub do."""
        for ws in list(self.viewers.get(site_id, ())):
            self._spawn(self._send_quietly(ws, '{"type":"changed"}'))

    @staticmethod
    async def _send_quietly(ws: ServerConnection, text: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await ws.send(text)

    def _forget(self, bridge: Bridge) -> None:
        if self.bridges.get(bridge.device_id) is bridge:
            del self.bridges[bridge.device_id]
        site = self.by_site.get(bridge.site_id)
        if site is not None:
            site.discard(bridge)
            if not site:
                del self.by_site[bridge.site_id]

    def _disconnected(self, device_id: uuid.UUID) -> None:
        bus.mark_offline(self.redis, device_id, self.name)
        self._seen.add(device_id)

    async def _authenticate(self, ws: ServerConnection) -> Bridge | None:
        nonce = base64.b64encode(secrets.token_bytes(32)).decode()
        try:
            await ws.send(
                json.dumps({"type": "challenge", "nonce": nonce, "server_time": now_iso()})
            )
            raw = await asyncio.wait_for(ws.recv(), AUTH_TIMEOUT)
            answer = json.loads(raw)
            device_text = str(answer["device_id"])
            device_id = uuid.UUID(device_text)
            signature = base64.b64decode(answer["signature"], validate=True)
            timestamp = str(answer["timestamp"])
            if answer.get("type") != "auth" or answer.get("nonce") != nonce:
                raise ValueError("not an answer to this challenge")
        except (TimeoutError, ConnectionClosed):
            return None
        except (ValueError, KeyError, TypeError, binascii.Error):
            await self._refuse(ws, "malformed_auth", None, None)
            return None
        device = await self.run_fast(self._load_device, device_id)
        if device is None:
            await self._refuse(ws, "unknown_device", device_text, None)
            return None
        if device["status"] != "active" or device["public_key"] is None:
            await self._refuse(
                ws, "revoked_device", device_text, device["tenant_id"], CLOSE_REVOKED
            )
            return None
        try:
            Ed25519PublicKey.from_public_bytes(device["public_key"]).verify(
                signature, auth_message(device_text, nonce, timestamp)
            )
        except (InvalidSignature, ValueError):
            await self._refuse(ws, "bad_signature", device_text, device["tenant_id"])
            return None
        # The nonce is ours and single-use, so a recorded answer can't be replayed; the
        # bridge's timestamp only measures its clock (a skewed plant still uploads).
        return Bridge(ws, device_id, device["tenant_id"], device["site_id"], device["name"])

    def _load_device(self, device_id: uuid.UUID) -> dict[str, Any] | None:
        with system_context("hub device auth"), self.db.sessionmaker() as session:
            device = session.get(EdgeDevice, device_id)
            if device is None:
                return None
            return {
                "tenant_id": device.tenant_id,
                "site_id": device.site_id,
                "name": device.name,
                "status": device.status,
                "public_key": device.public_key,
            }

    async def _refuse(
        self,
        ws: ServerConnection,
        reason: str,
        device_id: str | None,
        tenant_id: uuid.UUID | None,
        code: int = CLOSE_AUTH,
    ) -> None:
        self.stats["auth_failures"] += 1
        remote = ws.remote_address[0] if ws.remote_address else None
        log.warning("bridge refused: %s (device %s from %s)", reason, device_id, remote)
        with contextlib.suppress(Exception):
            await self.run_fast(self._audit_refusal, reason, device_id, tenant_id, remote)
        with contextlib.suppress(Exception):
            await ws.send(json.dumps({"type": "error", "code": reason, "message": "设备认证失败"}))
        await ws.close(code, reason)

    def _audit_refusal(
        self, reason: str, device_id: str | None, tenant_id: uuid.UUID | None, remote: str | None
    ) -> None:
        self._audit(
            "device.auth_failure",
            tenant_id,
            (device_id or "")[:120],
            {"reason": reason, "channel": "hub", "remote": remote},
        )

    def _audit(
        self, event: str, tenant_id: uuid.UUID | None, label: str, details: dict[str, Any]
    ) -> None:
        with system_context("hub audit"), self.db.sessionmaker() as session:
            audit.record(session, event, tenant_id=tenant_id, actor_label=label, details=details)
            session.commit()

    def _record_last_seen(self, ids: list[uuid.UUID]) -> None:
        """``edge_devices.last_seen_at`` for many bridges in one statement (a reconnect storm
        must not become a thousand single-row commits)."""
        if not ids:
            return
        with system_context("hub presence"), self.db.sessionmaker() as session:
            session.execute(
                update(EdgeDevice).where(EdgeDevice.id.in_(ids)).values(last_seen_at=utcnow())
            )
            session.commit()

    # --- messages ------------------------------------------------------------------------

    async def _dispatch(self, bridge: Bridge, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
            kind = message["type"]
        except (ValueError, KeyError, TypeError):
            await bridge.send(
                {"type": "error", "code": "malformed_frame", "message": "帧不是 JSON 对象"}
            )
            await bridge.ws.close(CLOSE_PROTOCOL, "malformed frame")
            return
        self.stats["frames"] += 1
        handler = {
            "hello": self._on_hello,
            "passages": self._on_passages,
            "image": self._on_image,
            "synced": self._on_synced,
            "resync": self._on_resync,
            "health": self._on_health,
            "command_result": self._on_command_result,
        }.get(kind)
        if handler is None:
            await bridge.send(
                {"type": "error", "code": "unknown_type", "message": f"未知消息类型 {kind!r}"}
            )
            return
        try:
            await handler(bridge, message)
        except ConnectionClosed:
            raise
        except Exception:
            log.exception("handling %s from %s", kind, bridge.device_id)
            await bridge.send({"type": "error", "code": "internal", "message": "处理失败，请重试"})

    async def _on_hello(self, bridge: Bridge, message: dict[str, Any]) -> None:
        skew_ms = None
        with contextlib.suppress(KeyError, TypeError, ValueError):
            edge_clock = datetime.fromisoformat(str(message["clock"]))
            skew_ms = int((datetime.now(UTC) - edge_clock).total_seconds() * 1000)
        bridge.snapshot_version = message.get("snapshot_version")
        if bridge.ws.state is not State.OPEN:
            return  # the bridge gave up waiting: don't build for nobody
        version = await self.site_version(bridge)
        await bridge.send(
            {
                "type": "welcome",
                "protocol": PROTOCOL_VERSION,
                "server_time": now_iso(),
                "clock_skew_ms": skew_ms,
                "snapshot_version": version,
                "device_id": str(bridge.device_id),
                "site_id": str(bridge.site_id),
            }
        )
        if bridge.snapshot_version != version:
            await bridge.send(await self.snapshot_frame(bridge, version))
        await self.run_fast(
            lambda: bus.set_presence(
                self.redis,
                bridge.device_id,
                online=1,
                hub=self.name,
                connected_at=bridge.connected_at,
                outbox_depth=message.get("outbox_depth"),
                clock_skew_ms=skew_ms,
                software_version=str(message.get("software_version", ""))[:40],
            )
        )
        self._seen.add(bridge.device_id)

    async def _on_passages(self, bridge: Bridge, message: dict[str, Any]) -> None:
        batch_no = message.get("batch")
        raw_items = message.get("items")
        if not isinstance(raw_items, list) or not raw_items or len(raw_items) > MAX_BATCH:
            await bridge.send(
                {
                    "type": "error",
                    "code": "invalid_batch",
                    "batch": batch_no,
                    "message": f"items 必须是 1–{MAX_BATCH} 条通行记录",
                }
            )
            return
        foreign = {
            str(s)
            for s in [
                message.get("site_id"),
                *(i.get("site_id") for i in raw_items if isinstance(i, dict)),
            ]
            if s is not None and str(s) != str(bridge.site_id)
        }
        if foreign:
            await self.run_db(
                self._audit,
                "device.wrong_site",
                bridge.tenant_id,
                str(bridge.device_id),
                {"batch": batch_no, "site_ids": sorted(foreign)[:5]},
            )
            await bridge.send(
                {
                    "type": "error",
                    "code": "wrong_site",
                    "batch": batch_no,
                    "message": "设备只能上传本站点的记录，整批拒收",
                }
            )
            return
        valid: list[PassageIn] = []
        rejected: list[dict[str, Any]] = []
        for raw in raw_items:
            clean = (
                {k: v for k, v in raw.items() if k != "site_id"} if isinstance(raw, dict) else raw
            )
            try:
                valid.append(PassageIn.model_validate(clean))
            except ValidationError as exc:
                event_id = raw.get("event_id") if isinstance(raw, dict) else None
                rejected.append(
                    {
                        "event_id": str(event_id) if event_id is not None else None,
                        "status": "invalid",
                        "errors": [
                            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]}
                            for e in exc.errors()[:10]
                        ],
                    }
                )
        acks: list[dict[str, Any]] = []
        if valid:
            batcher = self.batchers.get(bridge.site_id)
            if batcher is None:
                batcher = self.batchers[bridge.site_id] = SiteBatcher(
                    self, bridge.tenant_id, bridge.site_id
                )
            try:
                acks = await batcher.submit(bridge, valid)
            except Exception:
                await bridge.send(
                    {
                        "type": "error",
                        "code": "ingest_unavailable",
                        "batch": batch_no,
                        "message": "云端暂不可写入，稍后重发",
                    }
                )
                return
            self.stats["passages"] += len(valid)
        await bridge.send({"type": "ack", "batch": batch_no, "acks": acks + rejected})

    def ingest(
        self,
        tenant_id: uuid.UUID,
        site_id: uuid.UUID,
        device_id: uuid.UUID,
        items: list[PassageIn],
    ) -> list[dict[str, Any]]:
        with tenant_context(tenant_id), self.db.sessionmaker() as session:
            site = session.get(Site, site_id)
            if site is None:
                raise LookupError(f"site {site_id} not found")
            batch = PassageBatch.model_construct(passages=items)
            return [a.as_dict() for a in ingest_passages(session, site, batch, device_id)]

    def publish_feed(
        self, site_id: uuid.UUID, items: list[PassageIn], acks: list[dict[str, Any]]
    ) -> None:
        stored = {a["event_id"] for a in acks if a["status"] == "stored"}
        feed = []
        for p in items:
            if str(p.event_id) not in stored:
                continue
            item: dict[str, Any] = {
                "event_id": str(p.event_id),
                "captured_at": p.captured_at.isoformat(),
                "gate": p.gate,
                "lane": p.lane,
                "direction": p.direction,
                "plate": p.plate_text,
                "plate_color": p.plate_color,
                "verdict": p.decision.verdict,
                "emission_stage": p.vehicle.emission_stage,
            }
            # the board's last-vehicle panel, computed once here (saas/compliance/board.py)
            item["board"] = passage_view({**item, "display": list(p.decision.display)})
            feed.append(item)
        if feed and self.loop is not None:
            text = json.dumps({"site_id": str(site_id), "passages": feed}, ensure_ascii=False)
            self.loop.run_in_executor(
                self.executor, self.redis.publish, bus.feed_channel(site_id), text
            )

    async def _on_image(self, bridge: Bridge, message: dict[str, Any]) -> None:
        sha = str(message.get("sha256", ""))
        try:
            data = base64.b64decode(str(message.get("data", "")), validate=True)
            key = await self.run_db(
                store_image, self.storage, bridge.tenant_id, bridge.site_id, sha, data
            )
        except (binascii.Error, ValueError) as exc:
            code = exc.code if isinstance(exc, ImageRejected) else "invalid_image"
            await bridge.send(
                {"type": "image_ack", "sha256": sha, "status": "rejected", "code": code}
            )
            return
        await bridge.send({"type": "image_ack", "sha256": sha, "status": "stored", "key": key})

    async def _on_synced(self, bridge: Bridge, message: dict[str, Any]) -> None:
        bridge.snapshot_version = message.get("version")

    async def _on_resync(self, bridge: Bridge, message: dict[str, Any]) -> None:
        body, version = await self.site_snapshot(bridge, refresh=True)
        await bridge.send({"type": "snapshot", "version": version, "body": body})

    async def _on_health(self, bridge: Bridge, message: dict[str, Any]) -> None:
        devices = message.get("devices") if isinstance(message.get("devices"), list) else []
        await self.run_fast(
            lambda: bus.set_presence(
                self.redis,
                bridge.device_id,
                online=1,
                hub=self.name,
                outbox_depth=message.get("outbox_depth"),
                clock_skew_ms=message.get("clock_skew_ms"),
                software_version=str(message.get("software_version", ""))[:40] or None,
                disk_free_bytes=message.get("disk_free_bytes"),
                devices=devices[:64],
            )
        )

    async def _on_command_result(self, bridge: Bridge, message: dict[str, Any]) -> None:
        command_id = str(message.get("command_id", ""))
        await self.run_fast(
            bus.record_command_result,
            self.redis,
            command_id,
            bool(message.get("ok")),
            str(message.get("detail", "")),
        )

    # --- snapshots -----------------------------------------------------------------------
    #
    # The hub keeps only each site's current version in memory (10 000 sites x a policy
    # document would be most of its memory); bodies live in Redis, content-addressed.

    async def snapshot_frame(self, bridge: Bridge, version: str) -> str:
        """The serialized ``snapshot`` frame of a version: equal content has an equal version,
        so sites on the same policy with the same lists share one cached frame."""
        frame = self.frames.get(version)
        if frame is None:
            body, version = await self.site_snapshot(bridge)
            frame = json.dumps(
                {"type": "snapshot", "version": version, "body": body},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            self.frames[version] = frame
            while len(self.frames) > FRAME_CACHE:
                self.frames.popitem(last=False)
        else:
            self.frames.move_to_end(version)
        return frame

    async def site_version(self, bridge: Bridge) -> str:
        version = self.versions.get(bridge.site_id)
        if version is None:
            version = await self.run_db(self._current_version, bridge.tenant_id, bridge.site_id)
            self.versions[bridge.site_id] = version
        return version

    async def site_snapshot(
        self, bridge: Bridge, *, refresh: bool = False
    ) -> tuple[dict[str, Any], str]:
        body, version = await self.run_db(
            self._load_snapshot, bridge.tenant_id, bridge.site_id, refresh
        )
        self.versions[bridge.site_id] = version
        return body, version

    def _current_version(self, tenant_id: uuid.UUID, site_id: uuid.UUID) -> str:
        raw = self.redis.get(bus.snapshot_key(site_id))
        if raw is not None:
            return str(raw.decode())
        return self._load_snapshot(tenant_id, site_id, True)[1]

    def _load_snapshot(
        self, tenant_id: uuid.UUID, site_id: uuid.UUID, refresh: bool
    ) -> tuple[dict[str, Any], str]:
        """The current body: from Redis (whichever hub built it), else built from the database
        and stored. After a hub restart a thousand bridges cost GETs, not queries."""
        if not refresh:
            version = self.redis.get(bus.snapshot_key(site_id))
            if version is not None:
                body = self._stored_body(site_id, version.decode())
                if body is not None:
                    return body, version.decode()
        body = self._build_snapshot(tenant_id, site_id)
        version = snap.version(body)
        pipe = self.redis.pipeline()
        pipe.set(
            bus.snapshot_body_key(site_id, version),
            json.dumps(body, ensure_ascii=False),
            ex=bus.SNAPSHOT_TTL_SECONDS,
        )
        pipe.set(bus.snapshot_key(site_id), version, ex=bus.SNAPSHOT_TTL_SECONDS)
        pipe.execute()
        return body, version

    def _stored_body(self, site_id: uuid.UUID, version: str) -> dict[str, Any] | None:
        raw = self.redis.get(bus.snapshot_body_key(site_id, version))
        if raw is None:
            return None
        try:
            body: dict[str, Any] = json.loads(raw)
        except ValueError:
            return None
        return body

    def _build_snapshot(self, tenant_id: uuid.UUID, site_id: uuid.UUID) -> dict[str, Any]:
        with tenant_context(tenant_id), self.db.sessionmaker() as session:
            return site_snapshot.build(session, site_id, base_url=self.base_url)

    async def site_changed(self, tenant_id: uuid.UUID, site_id: uuid.UUID) -> None:
        """Rebuild the site's snapshot and push a delta to its bridges on this hub."""
        bridges = list(self.by_site.get(site_id, ()))
        old_version = self.versions.pop(site_id, None)
        if not bridges:
            return
        body, version = await self.site_snapshot(bridges[0], refresh=True)
        old = None
        if old_version is not None and old_version != version:
            old = await self.run_db(self._stored_body, site_id, old_version)
        changes = snap.diff(old, body) if old is not None else None
        for bridge in bridges:
            if changes is not None and bridge.snapshot_version == old_version:
                message = {
                    "type": "delta",
                    "base_version": old_version,
                    "version": version,
                    "changes": changes,
                }
            elif bridge.snapshot_version != version:
                message = {"type": "snapshot", "version": version, "body": body}
            else:
                continue
            with contextlib.suppress(ConnectionClosed):
                await bridge.send(message)

    # --- bus (Redis pub/sub, on its own thread) -----------------------------------------

    def _listen(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(bus.CHANGES, bus.COMMANDS, bus.DEVICES)
                pubsub.psubscribe(bus.feed_channel("*"))
                backoff = 1.0
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is None:
                        continue
                    assert self.loop is not None
                    self.loop.call_soon_threadsafe(
                        self._on_bus, message["channel"].decode(), message["data"]
                    )
            except redis.RedisError:
                log.exception("hub lost its Redis subscription; retrying in %.0fs", backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30)
            finally:
                with contextlib.suppress(Exception):
                    pubsub.close()

    def _on_bus(self, channel: str, data: bytes) -> None:
        if channel.startswith("edge:feed:"):
            with contextlib.suppress(ValueError):
                self._feed(uuid.UUID(channel.removeprefix("edge:feed:")), data)
            return
        try:
            message = json.loads(data)
        except ValueError:
            return
        if channel == bus.CHANGES:
            self._tell_viewers_changed(uuid.UUID(message["site_id"]))
            self._spawn(
                self._debounced_change(
                    uuid.UUID(message["tenant_id"]), uuid.UUID(message["site_id"])
                )
            )
        elif channel == bus.DEVICES:
            bridge = self.bridges.get(uuid.UUID(message["device_id"]))
            if bridge is not None:
                self._forget(bridge)
                self._spawn(bridge.ws.close(CLOSE_REVOKED, "device revoked or re-paired"))
        elif channel == bus.COMMANDS:
            bridge = self.bridges.get(uuid.UUID(message["device_id"]))
            if bridge is not None:
                self._spawn(self._send_command(bridge, message))

    async def _debounced_change(self, tenant_id: uuid.UUID, site_id: uuid.UUID) -> None:
        """Many changes in a burst (an import) become one push."""
        if site_id in self._changing:
            return
        self._changing.add(site_id)
        try:
            await asyncio.sleep(0.2)
        finally:
            self._changing.discard(site_id)
        await self.site_changed(tenant_id, site_id)

    async def _send_command(self, bridge: Bridge, command: dict[str, Any]) -> None:
        frame = {
            "type": "command",
            **{
                k: command.get(k)
                for k in ("command_id", "action", "gate", "lane", "reason", "text", "issued_by")
            },
        }
        try:
            await bridge.send(frame)
        except ConnectionClosed:
            await self.run_db(
                bus.record_command_result,
                self.redis,
                command["command_id"],
                False,
                "connection closed before delivery",
            )

    async def _presence_loop(self) -> None:
        while True:
            await asyncio.sleep(self.presence_interval)
            ids = list(self.bridges)
            seen, self._seen = list(self._seen | set(ids)), set()
            with contextlib.suppress(Exception):
                if ids:
                    await self.run_fast(self._refresh_presence, ids)
                await self.run_fast(self._record_last_seen, seen)

    def _refresh_presence(self, ids: list[uuid.UUID]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for device_id in ids:
            key = bus.presence_key(device_id)
            pipe.hset(key, mapping={"online": "1", "hub": self.name, "last_seen": str(time.time())})
            pipe.expire(key, bus.PRESENCE_TTL_SECONDS)
        pipe.execute()


def run(app: Flask, host: str, port: int) -> None:
    hub = Hub(app, host=host, port=port)
    asyncio.run(hub.serve_forever())
