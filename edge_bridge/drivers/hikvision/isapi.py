"""Hikvision ISAPI documents: the ANPR ``EventNotificationAlert`` and ``ResponseStatus``.

Pure parsing, no I/O. Shapes from software.md §5.1 (integrators' code and the "Device Network
SDK (Traffic) Developer Guide — XML_EventNotificationAlert_ANPR"). The XML comes from a device on
the plant network, so it is parsed defensively: any DTD or entity declaration is refused before
parsing (no billion-laughs, no external entities), and namespaces are ignored because firmware
uses ``isapi.org`` or ``hikvision.com`` or none.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from edge_bridge.drivers.base import DirectionHint
from saas.compliance import PlateColor, parse_color

log = logging.getLogger(__name__)

NAMESPACES = ("http://www.isapi.org/ver20/XMLSchema", "http://www.hikvision.com/ver20/XMLSchema")
_FORBIDDEN = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
MAX_XML = 256 * 1024

# Hikvision plateColor words beyond what saas.compliance.parse_color reads. [web/memory: verify
# per firmware] Unknown words are logged and map to None.
_HIK_COLORS: dict[str, PlateColor | None] = {
    "unknown": None,
    "": None,
    "yellowgreen": PlateColor.YELLOW_GREEN,
    "greenyellow": PlateColor.YELLOW_GREEN,
    "newenergyyellowgreen": PlateColor.YELLOW_GREEN,
    "newenergygreen": PlateColor.GREEN,
    "gradientgreen": PlateColor.GREEN,
    "civilaviationblack": PlateColor.OTHER,
    "civilaviationgreen": PlateColor.OTHER,
    "other": PlateColor.OTHER,
}
_DIRECTIONS = {"forward": DirectionHint.FORWARD, "reverse": DirectionHint.REVERSE}


class IsapiXmlError(ValueError):
    """Not a usable ISAPI document (malformed, forbidden DTD, missing field)."""


def safe_fromstring(data: bytes) -> ET.Element:
    """Parse device XML, refusing DTDs and entity declarations outright."""
    if len(data) > MAX_XML:
        raise IsapiXmlError("XML document too large")
    if _FORBIDDEN.search(data):
        raise IsapiXmlError("DTD or entity declaration refused")
    try:
        root = ET.fromstring(data)  # noqa: S314 - DTD/entities refused above
    except ET.ParseError as exc:
        raise IsapiXmlError(f"malformed XML: {exc}") from exc
    for element in root.iter():
        element.tag = element.tag.rsplit("}", 1)[-1]  # drop whichever namespace
    return root


def _text(root: ET.Element, path: str) -> str | None:
    node = root.find(path)
    return None if node is None or node.text is None else node.text.strip()


def hik_color(word: str | None) -> PlateColor | None:
    if word is None:
        return None
    key = word.strip().lower().replace("_", "").replace("-", "")
    if key in _HIK_COLORS:
        return _HIK_COLORS[key]
    color = parse_color(word)
    if color is None:
        log.warning(
            "hikvision: unknown plateColor %r mapped to None; please report the model", word
        )
    return color


@dataclass(frozen=True, slots=True)
class AnprEvent:
    event_type: str
    channel: int
    event_time: datetime
    uuid: str | None
    plate: str
    color: PlateColor | None
    color_word: str | None
    confidence: float
    direction: DirectionHint
    post_count: str | None
    body_ip: str | None  # recorded for diagnostics only: never used to address the device


def parse_event(data: bytes, *, device_offset: timedelta = timedelta(hours=8)) -> AnprEvent:
    """An ``EventNotificationAlert``. Non-ANPR events (heartbeats) parse with an empty plate."""
    root = safe_fromstring(data)
    if root.tag != "EventNotificationAlert":
        raise IsapiXmlError(f"unexpected root element {root.tag}")
    event_type = _text(root, "eventType") or ""
    stamp = _text(root, "dateTime")
    if not stamp:
        raise IsapiXmlError("no dateTime")
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError as exc:
        raise IsapiXmlError(f"bad dateTime {stamp!r}") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone(device_offset))  # firmware without an offset
    channel_text = _text(root, "channelID") or _text(root, "dynChannelID") or "1"
    try:
        channel = int(channel_text)
    except ValueError as exc:
        raise IsapiXmlError(f"bad channelID {channel_text!r}") from exc
    anpr = root.find("ANPR")
    if event_type.upper() != "ANPR":
        return AnprEvent(
            event_type,
            channel,
            when,
            _text(root, "UUID"),
            "",
            None,
            None,
            0.0,
            DirectionHint.UNKNOWN,
            _text(root, "activePostCount"),
            _text(root, "ipAddress"),
        )
    if anpr is None:
        raise IsapiXmlError("ANPR event without an ANPR element")
    plate = _text(anpr, "licensePlate")
    if plate is None:
        raise IsapiXmlError("no licensePlate")
    level = _text(anpr, "confidenceLevel") or "0"
    try:
        confidence = min(max(float(level), 0.0), 100.0) / 100.0
    except ValueError as exc:
        raise IsapiXmlError(f"bad confidenceLevel {level!r}") from exc
    color_word = _text(anpr, "plateColor")
    return AnprEvent(
        event_type="ANPR",
        channel=channel,
        event_time=when,
        uuid=_text(root, "UUID"),
        plate=plate,
        color=hik_color(color_word),
        color_word=color_word,
        confidence=confidence,
        direction=_DIRECTIONS.get((_text(anpr, "direction") or "").lower(), DirectionHint.UNKNOWN),
        post_count=_text(root, "activePostCount"),
        body_ip=_text(root, "ipAddress"),
    )


@dataclass(frozen=True, slots=True)
class ResponseStatus:
    """ISAPI's answer to a command: ``statusCode`` 1 is OK; ``subStatusCode`` says why not."""

    status_code: int
    status_string: str
    sub_status_code: str

    @property
    def ok(self) -> bool:
        return self.status_code == 1


def parse_response_status(data: bytes) -> ResponseStatus:
    root = safe_fromstring(data)
    if root.tag != "ResponseStatus":
        raise IsapiXmlError(f"unexpected root element {root.tag}")
    code = _text(root, "statusCode")
    try:
        status_code = int(code or "")
    except ValueError as exc:
        raise IsapiXmlError(f"bad statusCode {code!r}") from exc
    return ResponseStatus(
        status_code, _text(root, "statusString") or "", _text(root, "subStatusCode") or ""
    )


def barrier_gate_xml(mode: str) -> bytes:
    """``PUT /ISAPI/Parking/channels/<ch>/barrierGate`` body (software.md §5.1)."""
    if mode not in ("open", "close"):
        raise ValueError("mode must be open or close")
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f"<BarrierGate><ctrlMode>{mode}</ctrlMode></BarrierGate>"
    ).encode()


def device_serial(data: bytes) -> str:
    """``serialNumber`` of ``GET /ISAPI/System/deviceInfo``."""
    root = safe_fromstring(data)
    serial = _text(root, "serialNumber")
    if root.tag != "DeviceInfo" or not serial:
        raise IsapiXmlError("no DeviceInfo/serialNumber")
    return serial


def device_model(data: bytes) -> tuple[str, str]:
    root = safe_fromstring(data)
    return _text(root, "model") or "", _text(root, "firmwareVersion") or ""
