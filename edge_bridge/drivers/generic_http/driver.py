"""Generic HTTP push source, HTTP JSON command barrier/display, and the ``generic_led`` screen.

For devices and gateways an integrator can program (or a bridge from another system): one
signed JSON push per read, answered with the lane's decision if it comes within the deadline;
commands are signed JSON POSTs to the device's endpoint; LED screens get length-prefixed
frames over TCP. Spec: docs/drivers/generic_http.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any

from edge_bridge.drivers.base import (
    Barrier,
    CommandResult,
    ConfigError,
    ContainedCallback,
    DeviceNotReady,
    Display,
    EventDeduper,
    ProbeResult,
    monotonic_ms,
    opt_float,
    opt_int,
    opt_str,
    utcnow,
)
from edge_bridge.drivers.generic_http import led, protocol
from edge_bridge.drivers.http import (
    ALL_INTERFACES,
    HttpError,
    HttpRequest,
    HttpResponse,
    HttpServer,
    http_request,
)
from edge_bridge.drivers.push import HttpPushSource

log = logging.getLogger(__name__)
JSON = "application/json; charset=utf-8"


def _json(status: int, body: Mapping[str, Any]) -> HttpResponse:
    return HttpResponse(status, json.dumps(body, ensure_ascii=False).encode(), JSON)


def _secret(config: Mapping[str, Any]) -> bytes:
    secret = opt_str(config, "secret")
    if len(secret) < 16:
        raise ConfigError("secret: at least 16 characters")
    return secret.encode()


class GenericHttpSource(HttpPushSource):
    driver = "generic_http"

    def __init__(
        self,
        serial: str,
        lane: str,
        *,
        secret: bytes,
        listen_host: str = ALL_INTERFACES,
        listen_port: int = 8090,
        decision_timeout: float = 0.3,
        max_skew: float = protocol.MAX_SKEW,
        heartbeat_timeout: float = 0.0,
    ) -> None:
        super().__init__(serial, lane)
        self.secret = secret
        self.listen_host, self.listen_port = listen_host, listen_port
        self.decision_timeout = decision_timeout
        self.max_skew = max_skew
        self.heartbeat_timeout = heartbeat_timeout
        self.deduper = EventDeduper()
        self.server: HttpServer | None = None
        self.last_push: float | None = None
        self._callback: ContainedCallback | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GenericHttpSource:
        return cls(
            opt_str(config, "serial"),
            opt_str(config, "lane", "lane-1"),
            secret=_secret(config),
            listen_host=opt_str(config, "listen_host", ALL_INTERFACES),
            listen_port=opt_int(config, "listen_port", 8090),
            decision_timeout=opt_float(config, "decision_timeout", 0.3),
            max_skew=opt_float(config, "max_skew", protocol.MAX_SKEW),
            heartbeat_timeout=opt_float(config, "heartbeat_timeout", 0.0),
        )

    @property
    def url(self) -> str:
        if self.server is None:
            raise RuntimeError("not started")
        return self.server.url

    @property
    def available(self) -> bool:
        """Listening; with ``heartbeat_timeout`` > 0 also heard from within that window."""
        if self.server is None or not self.server.serving:
            return False
        if self.heartbeat_timeout <= 0:
            return True
        return (
            self.last_push is not None
            and time.monotonic() - self.last_push <= self.heartbeat_timeout
        )

    async def probe(self) -> ProbeResult:
        if self.server is None:
            self._check_port_free()
        return ProbeResult(self.serial, detail="push device")

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return _json(405, {"ok": False, "error": "POST only"})
        try:
            protocol.verify(
                self.secret,
                request.headers.get(protocol.TIMESTAMP_HEADER),
                request.headers.get(protocol.SIGNATURE_HEADER),
                request.body,
                max_skew=self.max_skew,
            )
        except protocol.SignatureError as exc:
            log.warning("%s: rejected push from %s: %s", self.unique_id, request.peer, exc)
            return _json(401, {"ok": False, "error": "bad signature"})
        try:
            payload = json.loads(request.body.decode("utf-8"))
            read = protocol.parse_push(payload, received_at=utcnow(), default_lane=self.lane)
        except (UnicodeDecodeError, ValueError) as exc:
            log.warning("%s: malformed push: %s", self.unique_id, exc)
            return _json(400, {"ok": False, "error": str(exc)})
        if read.device_serial != self.serial:
            return _json(403, {"ok": False, "error": "wrong device"})
        self.last_push = time.monotonic()
        if self.deduper.seen(read.dedupe_key):
            return _json(200, {"ok": True, "duplicate": True, "decision": None})
        if self._callback is None or read.replayed:
            if self._callback is not None:
                self._callback.hand_on(read)
            return _json(200, {"ok": True, "decision": None})
        decision = await self._callback.decide(read, self.decision_timeout)
        body: dict[str, Any] = {"ok": True, "decision": None}
        if decision is not None:
            body["decision"] = {
                "verdict": decision.verdict.value,
                "open": decision.opens,
                "lines": list(decision.lines),
            }
        return _json(200, body)


class _CommandClient:
    """Signed JSON commands to ``command_url``; ``{"ok": true}`` back means done."""

    def __init__(self, serial: str, command_url: str, secret: bytes, timeout: float) -> None:
        self.serial, self.command_url, self.secret, self.timeout = (
            serial,
            command_url,
            secret,
            timeout,
        )
        self.available = False

    async def send(self, command: str, **fields: Any) -> CommandResult:
        start = time.monotonic()
        body = json.dumps(
            {"device": self.serial, "command": command, "id": str(uuid.uuid4()), **fields},
            ensure_ascii=False,
        ).encode()
        try:
            resp = await http_request(
                "POST",
                self.command_url,
                body=body,
                headers=protocol.signed_headers(self.secret, body),
                timeout=self.timeout,
            )
        except HttpError as exc:
            self.available = False
            return CommandResult.failure("unreachable", str(exc), monotonic_ms(start))
        self.available = True
        elapsed = monotonic_ms(start)
        try:
            answer = json.loads(resp.body)
        except ValueError:
            answer = {}
        if resp.status == 200 and isinstance(answer, dict) and answer.get("ok") is True:
            return CommandResult.success(str(answer.get("detail", "")), elapsed)
        error = answer.get("error") if isinstance(answer, dict) else None
        code = error if error in ("not_supported", "busy", "bad_request") else "device_error"
        if resp.status == 401:
            code = "auth_failed"
        return CommandResult.failure(code, f"HTTP {resp.status} {error or ''}".strip(), elapsed)

    async def probe(self) -> ProbeResult:
        result = await self.send("status")
        if not result.ok:
            raise DeviceNotReady(f"status command failed: {result.code} {result.detail}")
        return ProbeResult(self.serial, detail="status ok")


class GenericHttpBarrier(Barrier):
    driver = "generic_http"

    def __init__(
        self, serial: str, lane: str, *, command_url: str, secret: bytes, timeout: float = 2.0
    ) -> None:
        super().__init__(serial, lane)
        self._client = _CommandClient(serial, command_url, secret, timeout)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GenericHttpBarrier:
        return cls(
            opt_str(config, "serial"),
            opt_str(config, "lane", "lane-1"),
            command_url=opt_str(config, "command_url"),
            secret=_secret(config),
            timeout=opt_float(config, "timeout", 2.0),
        )

    @property
    def available(self) -> bool:
        return self._client.available

    async def probe(self) -> ProbeResult:
        return await self._client.probe()

    async def open(self, reason: str) -> CommandResult:
        return await self._client.send("open", reason=reason)

    async def close(self, reason: str = "") -> CommandResult:
        return await self._client.send("close", reason=reason)


class GenericHttpDisplay(Display):
    driver = "generic_http"

    def __init__(
        self, serial: str, lane: str, *, command_url: str, secret: bytes, timeout: float = 2.0
    ) -> None:
        super().__init__(serial, lane)
        self._client = _CommandClient(serial, command_url, secret, timeout)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GenericHttpDisplay:
        return cls(
            opt_str(config, "serial"),
            opt_str(config, "lane", "lane-1"),
            command_url=opt_str(config, "command_url"),
            secret=_secret(config),
            timeout=opt_float(config, "timeout", 2.0),
        )

    @property
    def available(self) -> bool:
        return self._client.available

    async def probe(self) -> ProbeResult:
        return await self._client.probe()

    async def show(self, lines: list[str]) -> CommandResult:
        return await self._client.send("show", lines=list(lines))


class GenericLedDisplay(Display):
    """A ``generic_led`` screen over TCP: one connection per update, ACK frame expected."""

    driver = "generic_led"

    def __init__(
        self,
        serial: str,
        lane: str,
        *,
        host: str,
        port: int,
        encoding: str = "gbk",
        timeout: float = 2.0,
    ) -> None:
        super().__init__(serial, lane)
        if encoding not in led.ENCODINGS:
            raise ConfigError(f"encoding must be one of {sorted(led.ENCODINGS)}")
        self.host, self.port, self.encoding, self.timeout = host, port, encoding, timeout

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> GenericLedDisplay:
        return cls(
            opt_str(config, "serial"),
            opt_str(config, "lane", "lane-1"),
            host=opt_str(config, "host"),
            port=opt_int(config, "port", 5005),
            encoding=opt_str(config, "encoding", "gbk"),
            timeout=opt_float(config, "timeout", 2.0),
        )

    async def probe(self) -> ProbeResult:
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), self.timeout
            )
        except (OSError, TimeoutError) as exc:
            self._available = False
            raise DeviceNotReady(f"LED screen unreachable: {exc}") from exc
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        self._available = True
        return ProbeResult(self.serial, detail="TCP connect ok")

    async def show(self, lines: list[str]) -> CommandResult:
        start = time.monotonic()
        try:
            frame = led.encode_frame(lines, self.encoding)
        except (led.FrameError, UnicodeError) as exc:
            return CommandResult.failure("bad_request", str(exc))
        try:
            ack = await asyncio.wait_for(self._exchange(frame), self.timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, led.FrameError) as exc:
            self._available = False
            return CommandResult.failure("unreachable", str(exc), monotonic_ms(start))
        self._available = True
        if not ack.ack:
            return CommandResult.failure("device_error", "screen did not acknowledge")
        return CommandResult.success(f"{len(lines)} lines", monotonic_ms(start))

    async def _exchange(self, frame: bytes) -> led.LedFrame:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        try:
            writer.write(frame)
            await writer.drain()
            header = await reader.readexactly(led.HEADER.size)
            rest = await reader.readexactly(led.frame_length(header) - led.HEADER.size)
            return led.decode_frame(header + rest)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
