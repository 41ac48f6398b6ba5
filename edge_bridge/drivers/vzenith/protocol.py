"""The AlarmInfoPlate HTTP push protocol (Vzenith 臻识 and OEM family): payloads and replies.

Pure functions, no I/O. Field names and codes: software.md §5.3 and the Vzenith "HTTP 推送"
protocol text it cites (plate result 2.1.1, offline resend 2.1.2, replies 2.6).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from edge_bridge.drivers.base import DirectionHint, Image, PlateRead
from saas.compliance import PlateColor, color_from_code

log = logging.getLogger(__name__)

NO_PLATE = "_无_"
# PlateResult.direction: 0 unknown, 1 left, 2 right, 3 up, 4 down (software.md §5.3).
_DIRECTIONS = {
    0: DirectionHint.UNKNOWN,
    1: DirectionHint.LEFT,
    2: DirectionHint.RIGHT,
    3: DirectionHint.UP,
    4: DirectionHint.DOWN,
}


class PayloadError(ValueError):
    """The push isn't a usable AlarmInfoPlate; answered 400 and logged."""


def vendor_color(code: object) -> PlateColor | None:
    """``colorType``: 0 unknown, 1 blue, 2 yellow, 3 white, 4 black, 5 green, 6 yellow-green.

    That is the ``parking`` convention of ``saas.compliance`` (software.md §5.3). 0 means the
    camera couldn't tell; any other unknown code is logged ("please report") and mapped to None.
    """
    if isinstance(code, bool) or not isinstance(code, int | str):
        return None
    text = str(code).strip()
    if text in ("", "0"):
        return None
    color = color_from_code("parking", text)
    if color is None:
        log.warning("vzenith: unknown colorType %r mapped to None; please report the model", code)
    return color


def _int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise PayloadError(f"{field} is not an integer: {value!r}")
    try:
        return int(value)
    except ValueError as exc:
        raise PayloadError(f"{field} is not an integer: {value!r}") from exc


def _image(result: dict[str, Any], field: str, kind: str) -> Image | None:
    data = result.get(field)
    if not data or not isinstance(data, str):
        return None
    try:
        raw = base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        log.warning("vzenith: %s is not base64; image dropped", field)
        return None
    return Image(kind, raw, "image/jpeg")


def parse_alarm_info_plate(
    payload: object, *, lane_for_channel: Callable[[int], str], received_at: datetime
) -> PlateRead:
    """One ``AlarmInfoPlate`` push to a ``PlateRead``; raises ``PayloadError`` on junk."""
    if not isinstance(payload, dict) or not isinstance(payload.get("AlarmInfoPlate"), dict):
        raise PayloadError("no AlarmInfoPlate object")
    alarm = payload["AlarmInfoPlate"]
    result = (alarm.get("result") or {}).get("PlateResult")
    if not isinstance(result, dict):
        raise PayloadError("no result.PlateResult object")
    serial = alarm.get("serialno")
    if not isinstance(serial, str) or not serial:
        raise PayloadError("no serialno")
    license_text = result.get("license")
    if not isinstance(license_text, str):
        raise PayloadError("license is not a string")
    if "plateid" not in result:
        raise PayloadError("no plateid (enable 断线重传 / a newer firmware)")
    plateid = _int(result["plateid"], "plateid")
    timeval = ((result.get("timeStamp") or {}).get("Timeval")) or {}
    if "sec" in timeval:
        sec = _int(timeval["sec"], "timeStamp.Timeval.sec")
        usec = _int(timeval.get("usec", 0), "timeStamp.Timeval.usec")
        event_time = datetime.fromtimestamp(sec + min(max(usec, 0), 999_999) / 1e6, UTC)
    else:
        log.warning("vzenith %s: no timeStamp.Timeval.sec; using receive time", serial)
        event_time = received_at
    confidence = _int(result.get("confidence", 0), "confidence")
    images = tuple(
        i
        for i in (
            _image(result, "imageFragmentFile", "plate"),
            _image(result, "imageFile", "scene"),
        )
        if i is not None
    )
    color_code = result.get("colorType")
    return PlateRead(
        device_serial=serial,
        lane=lane_for_channel(_int(alarm.get("channel", 0), "channel")),
        plate_raw=license_text,
        color=vendor_color(color_code),
        confidence=min(max(confidence, 0), 100) / 100.0,
        direction=_DIRECTIONS.get(
            _int(result.get("direction", 0), "direction"), DirectionHint.UNKNOWN
        ),
        event_time=event_time,
        received_at=received_at,
        event_id=str(plateid),
        images=images,
        replayed=_int(result.get("isoffline", 0), "isoffline") == 1,
        vendor="vzenith",
        vendor_color_code=None if color_code is None else str(color_code),
    )


# ---------------------------------------------------------------- replies (protocol 2.6)


def serial_data(data: bytes, channel: int = 0) -> dict[str, Any]:
    """Bytes for the camera's RS-485/232 port (channel 0 = first 485 port)."""
    return {
        "serialChannel": channel,
        "data": base64.b64encode(data).decode("ascii"),
        "dataLen": len(data),
    }


def plate_reply(
    *,
    open_gate: bool,
    plateid: int | None,
    io_channel: int | None = None,
    serial: list[dict[str, Any]] | None = None,
    retransfer_stop: bool = False,
) -> dict[str, Any]:
    """Reply to an online result: ``info`` ok opens, no keeps shut; echo ``plateid`` (2.1.2)."""
    body: dict[str, Any] = {"info": "ok" if open_gate else "no"}
    if plateid is not None:
        body["plateid"] = plateid
    if open_gate and io_channel is not None:
        body["channelNum"] = io_channel
    if serial:
        body["serialData"] = serial
    if retransfer_stop:
        body["content"] = "retransfer_stop"  # AlphaDigi resends until it sees this (§5.3)
    return {"Response_AlarmInfoPlate": body}


def offline_reply(plateid: int, *, more: bool = True) -> dict[str, Any]:
    """Acknowledge a replayed record; ``continue: 1`` asks for the next one (2.1.2)."""
    return {
        "Response_AlarmInfoPlate": {
            "ContinuePushOffline": {"plateid": plateid, "continue": 1 if more else 0}
        }
    }


def ioctrl(io: int, value: int = 2, delay_ms: int = 500) -> dict[str, Any]:
    """``ivs_ioctrl``: value 0 off, 1 on, 2 pulse for ``delay_ms`` (2.6.6)."""
    return {"io": io, "value": value, "delay": delay_ms}
