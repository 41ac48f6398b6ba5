"""Vzenith 臻识 / AlarmInfoPlate cameras: push receiver, and barrier/LED commands in the reply.

The camera is the HTTP client. It POSTs each plate result and waits a short time for the reply,
and the reply *is* the command (software.md §5.3): so the lane decides synchronously inside the
request. The lane callback gets ``decision_timeout`` (default 300 ms); a timely ALLOW answers
``info: "ok"`` (the camera pulses its relay), anything else, including no answer in time,
answers ``info: "no"`` (fail closed). A late decision is not acted upon by the driver: the lane
calls ``VzenithBarrier.open``, which queues the command for the camera's next request (comet
heartbeat, another push) and reports whether it was delivered in time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edge_bridge.drivers.base import (
    Barrier,
    CommandResult,
    ConfigError,
    ContainedCallback,
    DeviceNotReady,
    Display,
    EventDeduper,
    GateDecision,
    PlateRead,
    ProbeResult,
    monotonic_ms,
    opt_float,
    opt_int,
    opt_str,
    utcnow,
)
from edge_bridge.drivers.generic_http.led import encode_frame, encode_text
from edge_bridge.drivers.http import (
    ALL_INTERFACES,
    HttpError,
    HttpRequest,
    HttpResponse,
    HttpServer,
    form_fields,
    media_type,
)
from edge_bridge.drivers.push import HttpPushSource
from edge_bridge.drivers.vzenith import protocol
from edge_bridge.drivers.vzenith.protocol import PayloadError

log = logging.getLogger(__name__)

JSON = "application/json; charset=utf-8"


def _json(status: int, body: Mapping[str, Any]) -> HttpResponse:
    return HttpResponse(status, json.dumps(body, ensure_ascii=False).encode(), JSON)


def led_encoder(name: str, encoding: str = "gbk") -> Callable[[list[str]], bytes]:
    """How LED lines become RS-485 bytes: ``text`` (bare GBK/UTF-8) or ``generic_led`` frames.

    The screen behind the camera speaks its own protocol; verify per site (software.md §5.4).
    """
    if name == "text":
        return lambda lines: encode_text(lines, encoding)
    if name == "generic_led":
        return lambda lines: encode_frame(lines, encoding)
    raise ConfigError(f"led_protocol must be 'text' or 'generic_led', not {name!r}")


@dataclass
class _Pending:
    fields: dict[str, Any]
    done: asyncio.Future[bool]


@dataclass
class CameraLink:
    """What we know about one camera's connection, shared by its source, barrier and display."""

    serial: str
    last_seen: float | None = None
    pending: list[_Pending] = field(default_factory=list)

    def seen(self) -> None:
        self.last_seen = time.monotonic()

    def alive(self, window: float) -> bool:
        return self.last_seen is not None and time.monotonic() - self.last_seen <= window

    async def send(self, fields: dict[str, Any], timeout: float) -> bool:
        """Queue reply fields for the camera's next request; False if none came in time.

        An undelivered command is withdrawn: a gate must not open half a minute late.
        """
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.pending.append(_Pending(fields, done))
        try:
            return await asyncio.wait_for(asyncio.shield(done), timeout)
        except TimeoutError:
            return False
        finally:
            if not done.done():
                done.cancel()
            self.pending = [p for p in self.pending if not p.done.done()]

    def merge_into(self, reply: dict[str, Any]) -> dict[str, Any]:
        """Add pending commands to a ``Response_AlarmInfoPlate`` body; conflicts wait a turn."""
        body = reply.setdefault("Response_AlarmInfoPlate", {})
        for item in list(self.pending):
            if item.done.done():
                continue
            keys = set(item.fields) - {"serialData"}
            if keys & set(body):
                continue
            for key, value in item.fields.items():
                if key == "serialData":
                    body.setdefault("serialData", []).extend(value)
                else:
                    body[key] = value
            item.done.set_result(True)
        self.pending = [p for p in self.pending if not p.done.done()]
        return reply


class VzenithHub:
    """Links by serial. The default hub is process-wide so config-built barriers find sources."""

    def __init__(self) -> None:
        self._links: dict[str, CameraLink] = {}

    def link(self, serial: str) -> CameraLink:
        return self._links.setdefault(serial, CameraLink(serial))


DEFAULT_HUB = VzenithHub()


class VzenithSource(HttpPushSource):
    """HTTP push receiver for one camera (one listener per camera keeps lanes independent)."""

    driver = "vzenith"

    def __init__(
        self,
        serial: str,
        lane: str,
        *,
        listen_host: str = ALL_INTERFACES,
        listen_port: int = 8088,
        device_host: str | None = None,
        decision_timeout: float = 0.3,
        heartbeat_timeout: float = 35.0,
        io_channel: int | None = None,
        led_channel: int = 0,
        led: Callable[[list[str]], bytes] | None = None,
        channel_lanes: Mapping[int, str] | None = None,
        retransfer_stop: bool = False,
        hub: VzenithHub | None = None,
    ) -> None:
        super().__init__(serial, lane)
        self.listen_host, self.listen_port = listen_host, listen_port
        self.device_host = device_host
        self.decision_timeout = decision_timeout
        self.heartbeat_timeout = heartbeat_timeout
        self.io_channel = io_channel
        self.led_channel = led_channel
        self.led = led or led_encoder("text")
        self.channel_lanes = dict(channel_lanes or {})
        self.retransfer_stop = retransfer_stop
        self.link = (hub or DEFAULT_HUB).link(serial)
        self.deduper = EventDeduper()
        self.server: HttpServer | None = None
        self._callback: ContainedCallback | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], hub: VzenithHub | None = None) -> VzenithSource:
        io_channel = config.get("io_channel")
        lanes = config.get("channel_lanes") or {}
        return cls(
            opt_str(config, "serial"),
            opt_str(config, "lane", "lane-1"),
            listen_host=opt_str(config, "listen_host", ALL_INTERFACES),
            listen_port=opt_int(config, "listen_port", 8088),
            device_host=config.get("device_host"),
            decision_timeout=opt_float(config, "decision_timeout", 0.3),
            heartbeat_timeout=opt_float(config, "heartbeat_timeout", 35.0),
            io_channel=io_channel if isinstance(io_channel, int) else None,
            led_channel=opt_int(config, "led_channel", 0),
            led=led_encoder(
                opt_str(config, "led_protocol", "text"), opt_str(config, "led_encoding", "gbk")
            ),
            channel_lanes={int(k): str(v) for k, v in lanes.items()},
            retransfer_stop=bool(config.get("retransfer_stop", False)),
            hub=hub,
        )

    @property
    def available(self) -> bool:
        serving = self.server is not None and self.server.serving
        return serving and self.link.alive(self.heartbeat_timeout)

    @property
    def url(self) -> str:
        if self.server is None:
            raise RuntimeError("not started")
        return self.server.url

    def _lane(self, channel: int) -> str:
        return self.channel_lanes.get(channel, self.lane)

    async def probe(self) -> ProbeResult:
        """A push device can't be asked; check that our listening port is free instead."""
        if self.server is not None:
            return ProbeResult(self.serial, detail="listening")
        self._check_port_free()
        return ProbeResult(self.serial, detail="port free; serial checked on first push")

    # ------------------------------------------------------------ request handling

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        if self.device_host and request.peer != self.device_host:
            log.warning(
                "%s: push from %s refused (expects %s)",
                self.unique_id,
                request.peer,
                self.device_host,
            )
            return HttpResponse.text(403, "forbidden")
        if request.method != "POST":
            return HttpResponse.text(405, "POST only")
        ctype = media_type(request.headers.get("Content-Type"))
        try:
            if ctype.startswith("multipart/") or ctype == "application/x-www-form-urlencoded":
                return self._heartbeat(form_fields(request))
            payload = json.loads(request.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, HttpError) as exc:
            log.warning("%s: unreadable push from %s: %s", self.unique_id, request.peer, exc)
            return HttpResponse.text(400, "bad request")
        if isinstance(payload, dict) and "AlarmInfoPlate" in payload:
            return await self._plate(payload)
        if isinstance(payload, dict) and payload.keys() & {
            "AlarmGioIn",
            "SerialData",
            "TriggerImage",
        }:
            # IO input, RS-485 input, snapshot upload: proof of life; their use comes later.
            if not self._mine(payload):
                return HttpResponse.text(403, "wrong device")
            self.link.seen()
            return _json(200, self.link.merge_into({"Response_AlarmInfoPlate": {}}))
        log.warning("%s: unknown push %s", self.unique_id, str(payload)[:120])
        return HttpResponse.text(400, "unknown push")

    def _mine(self, payload: dict[str, Any]) -> bool:
        inner = next(iter(payload.values()), None)
        serial = inner.get("serialno") if isinstance(inner, dict) else None
        if serial is not None and serial != self.serial:
            log.error(
                "%s: push from camera %r on this listener; check the camera's URL",
                self.unique_id,
                serial,
            )
            return False
        return True

    def _heartbeat(self, fields: dict[str, str]) -> HttpResponse:
        """Normal heartbeat or comet poll (form fields, incl. the camera's own credentials,
        which we ignore). Pending commands ride on the reply."""
        serial = fields.get("serialno")
        if serial != self.serial:
            log.error("%s: heartbeat from %r refused", self.unique_id, serial)
            return HttpResponse.text(403, "wrong device")
        self.link.seen()
        reply = self.link.merge_into({"Response_AlarmInfoPlate": {}})
        reply["Response_AlarmInfoPlate"].setdefault("info", "no")
        return _json(200, reply)

    async def _plate(self, payload: dict[str, Any]) -> HttpResponse:
        try:
            read = protocol.parse_alarm_info_plate(
                payload, lane_for_channel=self._lane, received_at=utcnow()
            )
        except PayloadError as exc:
            log.warning("%s: malformed AlarmInfoPlate: %s", self.unique_id, exc)
            return HttpResponse.text(400, f"malformed AlarmInfoPlate: {exc}")
        if read.device_serial != self.serial:
            self._mine(payload)
            return HttpResponse.text(403, "wrong device")
        self.link.seen()
        plateid = int(read.event_id)
        duplicate = self.deduper.seen(read.dedupe_key)
        if read.replayed:
            # An offline record: the vehicle is long gone, never open; ledger only.
            if not duplicate and self._callback is not None:
                self._callback.hand_on(read)
            return _json(200, self.link.merge_into(protocol.offline_reply(plateid)))
        if duplicate:
            log.info("%s: duplicate plateid %s answered 'no'", self.unique_id, plateid)
            decision = None
        else:
            decision = await self._decide(read)
        reply = self._decision_reply(plateid, decision)
        return _json(200, self.link.merge_into(reply))

    async def _decide(self, read: PlateRead) -> GateDecision | None:
        if self._callback is None:
            return None
        return await self._callback.decide(read, self.decision_timeout)

    def _decision_reply(self, plateid: int, decision: GateDecision | None) -> dict[str, Any]:
        serial: list[dict[str, Any]] = []
        if decision is not None and decision.lines:
            try:
                serial.append(
                    protocol.serial_data(self.led(list(decision.lines)), self.led_channel)
                )
            except (ValueError, UnicodeError) as exc:
                log.error("%s: LED lines not encodable: %s", self.unique_id, exc)
        return protocol.plate_reply(
            open_gate=decision is not None and decision.opens,
            plateid=plateid,
            io_channel=self.io_channel,
            serial=serial,
            retransfer_stop=self.retransfer_stop,
        )


class _LinkedDevice:
    """Barrier and display commands ride on the camera's next request to its source."""

    def __init__(
        self, link: CameraLink, delivery_timeout: float, heartbeat_timeout: float, unique_id: str
    ) -> None:
        self._link = link
        self._delivery_timeout = delivery_timeout
        self._heartbeat_timeout = heartbeat_timeout
        self._uid = unique_id

    async def deliver(self, fields: dict[str, Any]) -> CommandResult:
        start = time.monotonic()
        if await self._link.send(fields, self._delivery_timeout):
            return CommandResult.success("delivered in reply", monotonic_ms(start))
        log.warning(
            "%s: camera made no request within %.1fs; command withdrawn",
            self._uid,
            self._delivery_timeout,
        )
        return CommandResult.failure(
            "not_delivered",
            "no request from the camera in time (enable comet polling)",
            monotonic_ms(start),
        )

    def probe(self, serial: str) -> ProbeResult:
        if not self._link.alive(self._heartbeat_timeout):
            raise DeviceNotReady("camera has not contacted the receiver yet")
        return ProbeResult(serial, detail="camera heard recently")


class VzenithBarrier(Barrier):
    """The camera's relay. ``open_via``: ``info`` (``info: ok`` + ``channelNum``) or
    ``ivs_ioctrl`` (pulse ``io`` for ``pulse_ms``)."""

    driver = "vzenith"

    def __init__(
        self,
        serial: str,
        lane: str,
        *,
        io_channel: int = 0,
        open_via: str = "info",
        pulse_ms: int = 500,
        close_io: int | None = None,
        delivery_timeout: float = 3.0,
        heartbeat_timeout: float = 35.0,
        hub: VzenithHub | None = None,
    ) -> None:
        super().__init__(serial, lane)
        if open_via not in ("info", "ivs_ioctrl"):
            raise ConfigError("open_via must be 'info' or 'ivs_ioctrl'")
        self.io_channel, self.open_via, self.pulse_ms = io_channel, open_via, pulse_ms
        self.close_io = close_io
        self.heartbeat_timeout = heartbeat_timeout
        self._link = (hub or DEFAULT_HUB).link(serial)
        self._linked = _LinkedDevice(
            self._link, delivery_timeout, heartbeat_timeout, self.unique_id
        )

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], hub: VzenithHub | None = None
    ) -> VzenithBarrier:
        close_io = config.get("close_io")
        return cls(
            opt_str(config, "serial"),
            opt_str(config, "lane", "lane-1"),
            io_channel=opt_int(config, "io_channel", 0),
            open_via=opt_str(config, "open_via", "info"),
            pulse_ms=opt_int(config, "pulse_ms", 500),
            close_io=close_io if isinstance(close_io, int) else None,
            delivery_timeout=opt_float(config, "delivery_timeout", 3.0),
            heartbeat_timeout=opt_float(config, "heartbeat_timeout", 35.0),
            hub=hub,
        )

    @property
    def available(self) -> bool:
        return self._link.alive(self.heartbeat_timeout)

    async def probe(self) -> ProbeResult:
        return self._linked.probe(self.serial)

    async def open(self, reason: str) -> CommandResult:
        log.info("%s: open (%s)", self.unique_id, reason)
        if self.open_via == "info":
            return await self._linked.deliver({"info": "ok", "channelNum": self.io_channel})
        return await self._linked.deliver(
            {"ivs_ioctrl": protocol.ioctrl(self.io_channel, 2, self.pulse_ms)}
        )

    async def close(self, reason: str = "") -> CommandResult:
        if self.close_io is None:
            return CommandResult.failure("not_supported", "no close relay configured (close_io)")
        return await self._linked.deliver(
            {"ivs_ioctrl": protocol.ioctrl(self.close_io, 2, self.pulse_ms)}
        )


class VzenithDisplay(Display):
    """An LED screen on the camera's RS-485 port, written through ``serialData``."""

    driver = "vzenith"

    def __init__(
        self,
        serial: str,
        lane: str,
        *,
        led_channel: int = 0,
        led: Callable[[list[str]], bytes] | None = None,
        delivery_timeout: float = 3.0,
        heartbeat_timeout: float = 35.0,
        hub: VzenithHub | None = None,
    ) -> None:
        super().__init__(serial, lane)
        self.led_channel = led_channel
        self.led = led or led_encoder("text")
        self.heartbeat_timeout = heartbeat_timeout
        self._link = (hub or DEFAULT_HUB).link(serial)
        self._linked = _LinkedDevice(
            self._link, delivery_timeout, heartbeat_timeout, self.unique_id
        )

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], hub: VzenithHub | None = None
    ) -> VzenithDisplay:
        return cls(
            opt_str(config, "serial"),
            opt_str(config, "lane", "lane-1"),
            led_channel=opt_int(config, "led_channel", 0),
            led=led_encoder(
                opt_str(config, "led_protocol", "text"), opt_str(config, "led_encoding", "gbk")
            ),
            delivery_timeout=opt_float(config, "delivery_timeout", 3.0),
            heartbeat_timeout=opt_float(config, "heartbeat_timeout", 35.0),
            hub=hub,
        )

    @property
    def available(self) -> bool:
        return self._link.alive(self.heartbeat_timeout)

    async def probe(self) -> ProbeResult:
        return self._linked.probe(self.serial)

    async def show(self, lines: list[str]) -> CommandResult:
        try:
            data = self.led(lines)
        except (ValueError, UnicodeError) as exc:
            return CommandResult.failure("bad_request", str(exc))
        return await self._linked.deliver(
            {"serialData": [protocol.serial_data(data, self.led_channel)]}
        )
