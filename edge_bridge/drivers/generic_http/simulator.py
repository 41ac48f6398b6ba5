"""Fake generic devices on loopback: a command endpoint (barrier/display) and an LED screen.

Both are real servers so tests exercise the wire format; both record what they received.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from edge_bridge.drivers.generic_http import led, protocol
from edge_bridge.drivers.http import HttpRequest, HttpResponse, HttpServer


@dataclass
class FakeCommandEndpoint:
    """Accepts signed ``open``/``close``/``show``/``status`` commands; others: not_supported."""

    secret: bytes
    serial: str = "GH-1"
    commands: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    fail_with: str | None = None
    server: HttpServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url + "/command"

    async def start(self) -> None:
        self.server = HttpServer(self._handle, "127.0.0.1", 0, name="fake-command")
        await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
            self.server = None

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        def reply(status: int, body: dict[str, Any]) -> HttpResponse:
            return HttpResponse(status, json.dumps(body).encode(), "application/json")

        try:
            protocol.verify(
                self.secret,
                request.headers.get(protocol.TIMESTAMP_HEADER),
                request.headers.get(protocol.SIGNATURE_HEADER),
                request.body,
            )
        except protocol.SignatureError:
            self.rejected += 1
            return reply(401, {"ok": False, "error": "bad signature"})
        command = json.loads(request.body)
        if command.get("device") != self.serial:
            return reply(403, {"ok": False, "error": "wrong device"})
        if command.get("command") not in ("open", "close", "show", "status"):
            return reply(400, {"ok": False, "error": "not_supported"})
        if self.fail_with and command["command"] != "status":
            return reply(500, {"ok": False, "error": self.fail_with})
        self.commands.append(command)
        return reply(200, {"ok": True})


@dataclass
class FakeLedScreen:
    """A TCP LED controller speaking ``generic_led``: records frames, answers ACK frames."""

    frames: list[bytes] = field(default_factory=list)
    shown: list[led.LedFrame] = field(default_factory=list)
    port: int = 0
    silent: bool = False
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            header = await reader.readexactly(led.HEADER.size)
            rest = await reader.readexactly(led.frame_length(header) - led.HEADER.size)
            frame = header + rest
            self.frames.append(frame)
            self.shown.append(led.decode_frame(frame))
            if not self.silent:
                writer.write(led.encode_frame([], ack=True))
                await writer.drain()
        except (asyncio.IncompleteReadError, led.FrameError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
