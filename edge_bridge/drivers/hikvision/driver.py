"""Hikvision ANPR cameras over ISAPI: event push receiver, barrier relay, snapshots.

The camera POSTs each ANPR event as ``multipart/form-data`` (``anpr.xml`` then JPEG parts) to
our listener (software.md §5.1). Unlike Vzenith the reply carries no command, so the receiver
hands the read on and answers 200 at once: integrators saw Hikvision drop an event after a slow
or 5xx answer. Commands go the other way, as Digest-authenticated ISAPI requests to the address
we registered for the device (never the ``ipAddress`` inside the event body).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from edge_bridge.drivers.base import (
    AuthRejected,
    Barrier,
    CommandResult,
    ContainedCallback,
    DeviceNotReady,
    EventDeduper,
    Image,
    PlateRead,
    ProbeResult,
    monotonic_ms,
    opt_float,
    opt_int,
    opt_str,
    utcnow,
)
from edge_bridge.drivers.hikvision import isapi
from edge_bridge.drivers.http import (
    ALL_INTERFACES,
    AuthBackoff,
    AuthFailed,
    DigestClient,
    HttpError,
    HttpRequest,
    HttpResponse,
    HttpServer,
    media_type,
    parse_multipart,
)
from edge_bridge.drivers.push import HttpPushSource

log = logging.getLogger(__name__)

XML = "application/xml; charset=UTF-8"
# Part file names -> PlateRead image kinds (software.md §5.1).
IMAGE_KINDS = {
    "licenseplatepicture.jpg": "plate",
    "detectionpicture.jpg": "scene",
    "vehiclepicture.jpg": "vehicle",
}

_clients: dict[tuple[str, str, str], DigestClient] = {}


def isapi_client(
    base_url: str, username: str, password: str, timeout: float = 3.0, auth_backoff: float = 300.0
) -> DigestClient:
    """One Digest client per device account, shared by its source and barrier, so the
    bad-login backoff covers every request we make to that camera."""
    key = (base_url.rstrip("/"), username, hashlib.sha256(password.encode()).hexdigest())
    client = _clients.get(key)
    if client is None:
        client = DigestClient(key[0], username, password, timeout=timeout, backoff=auth_backoff)
        _clients[key] = client
    return client


class IsapiDevice:
    """The outbound half: things we ask the camera for."""

    def __init__(self, client: DigestClient, serial: str) -> None:
        self.client = client
        self.serial = serial

    async def probe(self) -> ProbeResult:
        try:
            resp = await self.client.request("GET", "/ISAPI/System/deviceInfo")
        except (AuthFailed, AuthBackoff) as exc:
            raise AuthRejected(str(exc)) from exc
        except HttpError as exc:
            raise DeviceNotReady(str(exc)) from exc
        if resp.status != 200:
            raise DeviceNotReady(f"deviceInfo answered HTTP {resp.status}")
        try:
            serial = isapi.device_serial(resp.body)
            model, firmware = isapi.device_model(resp.body)
        except isapi.IsapiXmlError as exc:
            raise DeviceNotReady(f"deviceInfo unreadable: {exc}") from exc
        return ProbeResult(serial, model, firmware)

    async def snapshot(self, channel: int = 101) -> bytes:
        """A JPEG from ``/ISAPI/Streaming/channels/<ch>/picture`` (101 = channel 1 main stream)."""
        resp = await self.client.request("GET", f"/ISAPI/Streaming/channels/{channel}/picture")
        if resp.status != 200 or not resp.body.startswith(b"\xff\xd8"):
            raise HttpError(f"snapshot failed: HTTP {resp.status}")
        return resp.body


class HikvisionSource(HttpPushSource):
    """Receives the camera's ANPR pushes on its own listener (one per camera)."""

    driver = "hikvision"

    def __init__(
        self,
        serial: str,
        lane: str,
        *,
        listen_host: str = ALL_INTERFACES,
        listen_port: int = 8089,
        device_host: str | None = None,
        device: IsapiDevice | None = None,
        channel_lanes: Mapping[int, str] | None = None,
        device_utc_offset_hours: float = 8.0,
        heartbeat_timeout: float = 60.0,
    ) -> None:
        super().__init__(serial, lane)
        self.listen_host, self.listen_port = listen_host, listen_port
        self.device_host = device_host
        self.device = device
        self.channel_lanes = dict(channel_lanes or {})
        self.device_offset = timedelta(hours=device_utc_offset_hours)
        self.heartbeat_timeout = heartbeat_timeout
        self.deduper = EventDeduper()
        self.server: HttpServer | None = None
        self.last_push: float | None = None
        self._callback: ContainedCallback | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HikvisionSource:
        device = None
        if config.get("username"):
            client = isapi_client(
                opt_str(config, "device_url"),
                opt_str(config, "username"),
                opt_str(config, "password"),
            )
            device = IsapiDevice(client, opt_str(config, "serial"))
        lanes = config.get("channel_lanes") or {}
        return cls(
            opt_str(config, "serial"),
            opt_str(config, "lane", "lane-1"),
            listen_host=opt_str(config, "listen_host", ALL_INTERFACES),
            listen_port=opt_int(config, "listen_port", 8089),
            device_host=config.get("device_host"),
            device=device,
            channel_lanes={int(k): str(v) for k, v in lanes.items()},
            device_utc_offset_hours=opt_float(config, "device_utc_offset_hours", 8.0),
            heartbeat_timeout=opt_float(config, "heartbeat_timeout", 60.0),
        )

    @property
    def url(self) -> str:
        if self.server is None:
            raise RuntimeError("not started")
        return self.server.url

    @property
    def available(self) -> bool:
        """Listening, and the camera pushed (event or heartbeat) recently."""
        if self.server is None or not self.server.serving or self.last_push is None:
            return False
        return time.monotonic() - self.last_push <= self.heartbeat_timeout

    async def probe(self) -> ProbeResult:
        """With credentials, ask the camera who it is; otherwise check our port is free."""
        if self.device is not None:
            return await self.device.probe()
        if self.server is None:
            self._check_port_free()
        return ProbeResult(self.serial, detail="push device; no credentials to ask it")

    async def snapshot(self, channel: int = 101) -> bytes:
        if self.device is None:
            raise DeviceNotReady("no credentials configured for snapshots")
        return await self.device.snapshot(channel)

    def _bad(self, request: HttpRequest, why: str) -> HttpResponse:
        log.warning("%s: malformed push from %s: %s", self.unique_id, request.peer, why)
        return HttpResponse.text(400, "bad request")

    async def _handle(self, request: HttpRequest) -> HttpResponse:
        if self.device_host and request.peer != self.device_host:
            log.warning(
                "%s: push from %s refused (device is %s)",
                self.unique_id,
                request.peer,
                self.device_host,
            )
            return HttpResponse.text(403, "forbidden")
        if request.method not in ("POST", "PUT"):
            return HttpResponse.text(405, "POST only")
        received_at = utcnow()
        ctype = request.headers.get("Content-Type") or ""
        images: list[Image] = []
        if media_type(ctype).startswith("multipart/"):
            try:
                parts = parse_multipart(request.body, ctype)
            except ValueError as exc:
                return self._bad(request, str(exc))
            xml_part = next(
                (
                    p
                    for p in parts
                    if p.name.lower().endswith(".xml")
                    or p.content_type in ("text/xml", "application/xml")
                ),
                None,
            )
            if xml_part is None:
                return self._bad(request, "no anpr.xml part")
            xml = xml_part.data
            for part in parts:
                if part.content_type.startswith("image/"):
                    name = (part.filename or part.name).lower()
                    images.append(
                        Image(IMAGE_KINDS.get(name, "other"), part.data, part.content_type)
                    )
        else:
            xml = request.body  # some firmware posts the bare XML when pictures are off
        try:
            event = isapi.parse_event(xml, device_offset=self.device_offset)
        except isapi.IsapiXmlError as exc:
            return self._bad(request, str(exc))
        self.last_push = time.monotonic()
        if event.event_type.upper() != "ANPR":
            return HttpResponse(200, b"", "text/plain")  # heartbeat / other event: alive
        read = PlateRead(
            device_serial=self.serial,  # the registered device, not a field of the body
            lane=self.channel_lanes.get(event.channel, self.lane),
            plate_raw=event.plate,
            color=event.color,
            confidence=event.confidence,
            direction=event.direction,
            event_time=event.event_time,
            received_at=received_at,
            event_id=event.uuid or self._derived_id(event),
            images=tuple(images),
            vendor="hikvision",
            vendor_color_code=event.color_word,
        )
        if self.deduper.seen(read.dedupe_key):
            log.info("%s: duplicate event %s ignored", self.unique_id, read.event_id)
        elif self._callback is not None:
            self._callback.hand_on(read)  # the reply never waits on the lane
        return HttpResponse(200, b"", "text/plain")

    @staticmethod
    def _derived_id(event: isapi.AnprEvent) -> str:
        """Firmware without UUID: the same event re-posted has the same time, plate, channel."""
        key = f"{event.event_time.isoformat()}|{event.channel}|{event.plate}"
        return "h:" + hashlib.sha256(key.encode()).hexdigest()[:24]


class HikvisionBarrier(Barrier):
    """The camera's barrier relay via ``PUT /ISAPI/Parking/channels/<ch>/barrierGate``."""

    driver = "hikvision"

    def __init__(
        self,
        serial: str,
        lane: str,
        *,
        device: IsapiDevice,
        channel: int = 1,
        path: str = "/ISAPI/Parking/channels/{channel}/barrierGate",
    ) -> None:
        super().__init__(serial, lane)
        self.device = device
        self.channel = channel
        self.path = path
        self._available = True

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> HikvisionBarrier:
        client = isapi_client(
            opt_str(config, "device_url"),
            opt_str(config, "username"),
            opt_str(config, "password"),
            opt_float(config, "timeout", 3.0),
            opt_float(config, "auth_backoff", 300.0),
        )
        return cls(
            opt_str(config, "serial"),
            opt_str(config, "lane", "lane-1"),
            device=IsapiDevice(client, opt_str(config, "serial")),
            channel=opt_int(config, "channel", 1),
            path=opt_str(config, "barrier_path", "/ISAPI/Parking/channels/{channel}/barrierGate"),
        )

    @property
    def available(self) -> bool:
        return self._available and not self.device.client.in_backoff

    async def probe(self) -> ProbeResult:
        try:
            result = await self.device.probe()
        except DeviceNotReady:
            self._available = False
            raise
        self._available = True
        return result

    async def _command(self, mode: str, reason: str) -> CommandResult:
        start = time.monotonic()
        log.info("%s: barrier %s (%s)", self.unique_id, mode, reason)
        try:
            resp = await self.device.client.request(
                "PUT",
                self.path.format(channel=self.channel),
                body=isapi.barrier_gate_xml(mode),
                content_type=XML,
            )
        except AuthBackoff as exc:
            return CommandResult.failure("auth_backoff", str(exc), monotonic_ms(start))
        except AuthFailed as exc:
            log.error("%s: credentials refused; backing off to avoid a lockout", self.unique_id)
            return CommandResult.failure("auth_failed", str(exc), monotonic_ms(start))
        except HttpError as exc:
            self._available = False
            return CommandResult.failure("unreachable", str(exc), monotonic_ms(start))
        self._available = True
        elapsed = monotonic_ms(start)
        try:
            status = isapi.parse_response_status(resp.body)
        except isapi.IsapiXmlError:
            if resp.status == 200:
                return CommandResult.success("HTTP 200 without ResponseStatus", elapsed)
            return CommandResult.failure("device_error", f"HTTP {resp.status}", elapsed)
        if status.ok and resp.status == 200:
            return CommandResult.success(status.status_string, elapsed)
        detail = f"HTTP {resp.status} {status.status_string}/{status.sub_status_code}"
        if status.sub_status_code.lower() == "notsupport":
            return CommandResult.failure("not_supported", detail, elapsed)
        return CommandResult.failure("device_error", detail, elapsed)

    async def open(self, reason: str) -> CommandResult:
        return await self._command("open", reason)

    async def close(self, reason: str = "") -> CommandResult:
        return await self._command("close", reason)
