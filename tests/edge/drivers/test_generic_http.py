"""Generic HTTP push (HMAC), command endpoint, and the generic_led frame over TCP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from edge_bridge.drivers import DeviceNotReady, DirectionHint, GateDecision, Image, PlateRead
from edge_bridge.drivers.generic_http import (
    GenericHttpBarrier,
    GenericHttpDisplay,
    GenericHttpSource,
    GenericLedDisplay,
    led,
    protocol,
)
from edge_bridge.drivers.generic_http.simulator import FakeCommandEndpoint, FakeLedScreen
from edge_bridge.drivers.http import http_request
from edge_bridge.drivers.simulator.jpeg import tiny_jpeg
from saas.compliance import PlateColor, Verdict
from tests.edge.drivers.helpers import Collector, run, started

SECRET = b"site-secret-0123456789"
SERIAL = "GH-1"


# ---------------------------------------------------------------- signatures (golden vectors)


def test_signature_golden_vector() -> None:
    body = '{"device":"GH-1","plate":"晋A12345"}'.encode()
    # printf '%s' '1795133742.<body>' | openssl dgst -sha256 -hmac golden-secret-0123456789
    assert protocol.sign(b"golden-secret-0123456789", "1795133742", body) == (
        "sha256=c41407d07e67031ae73b9b5d006a4d6c24d2f28dd903d8a9477759ac78dd83d7"
    )


def test_verify_rejects_tampering_staleness_and_missing_headers() -> None:
    body = b'{"a":1}'
    good = protocol.sign(SECRET, "1000", body)
    protocol.verify(SECRET, "1000", good, body, now=1100)
    for timestamp, signature, payload, now in [
        ("1000", good, b'{"a":2}', 1100),  # body changed
        ("1001", good, body, 1100),  # timestamp changed
        ("1000", good.replace("a", "b"), body, 1100),
        ("1000", good, body, 1000 + protocol.MAX_SKEW + 1),  # replayed later
        (None, good, body, 1100),
        ("1000", None, body, 1100),
        ("soon", good, body, 1100),
    ]:
        with pytest.raises(protocol.SignatureError):
            protocol.verify(SECRET, timestamp, signature, payload, now=now)
    with pytest.raises(protocol.SignatureError):
        protocol.verify(b"another-secret-0123456", "1000", good, body, now=1100)


# ---------------------------------------------------------------- push


def _read(**overrides) -> PlateRead:
    fields = {
        "device_serial": SERIAL,
        "lane": "lane-out",
        "plate_raw": "冀BD12345",
        "color": PlateColor.GREEN,
        "confidence": 0.91,
        "direction": DirectionHint.REVERSE,
        "event_time": datetime(2026, 11, 20, 8, 15, 42, tzinfo=timezone(timedelta(hours=8))),
        "received_at": datetime(2026, 11, 20, 0, 15, 43, tzinfo=UTC),
        "event_id": "evt-1",
        "images": (Image("plate", tiny_jpeg(), "image/jpeg"),),
    }
    fields.update(overrides)
    return PlateRead(**fields)


async def _post(url: str, payload: dict, secret: bytes = SECRET):
    body = json.dumps(payload, ensure_ascii=False).encode()
    return await http_request("POST", url, body=body, headers=protocol.signed_headers(secret, body))


def test_push_round_trip_with_decision_in_reply() -> None:
    async def allow(read: PlateRead) -> GateDecision:
        return GateDecision(Verdict.ALLOW, ("冀BD12345", "请通行"))

    async def scenario() -> None:
        lanes = Collector(allow)
        source = GenericHttpSource(
            SERIAL, "lane-in", secret=SECRET, listen_host="127.0.0.1", listen_port=0
        )
        async with started(source, lanes):
            resp = await _post(source.url, protocol.push_body(_read()))
            assert resp.status == 200
            assert json.loads(resp.body)["decision"] == {
                "verdict": "allow",
                "open": True,
                "lines": ["冀BD12345", "请通行"],
            }
            (got,) = lanes.reads
            sent = _read()
            assert got.plate_raw == sent.plate_raw
            assert got.color is PlateColor.GREEN
            assert got.lane == "lane-out"
            assert got.event_time == sent.event_time
            assert got.images == sent.images
            assert got.direction.value == "reverse"
            again = await _post(source.url, protocol.push_body(_read()))
            assert json.loads(again.body)["duplicate"] is True
            assert len(lanes.reads) == 1

    run(scenario())


def test_bad_signature_is_401_and_never_reaches_the_lane() -> None:
    async def scenario() -> None:
        lanes = Collector()
        source = GenericHttpSource(
            SERIAL, "lane-in", secret=SECRET, listen_host="127.0.0.1", listen_port=0
        )
        async with started(source, lanes):
            forged = await _post(source.url, protocol.push_body(_read()), b"guessed-secret-000000")
            assert forged.status == 401
            unsigned = await http_request(
                "POST", source.url, body=b"{}", headers=[("Content-Type", "application/json")]
            )
            assert unsigned.status == 401
            assert lanes.reads == []

    run(scenario())


@pytest.mark.parametrize(
    "change",
    [
        {"time": "2026-11-20T08:15:42"},  # no offset
        {"confidence": 96},  # percent, not 0..1
        {"plate": None},
        {"event_id": ""},
        {"direction": "sideways"},
        {"images": [{"kind": "plate", "base64": "***"}]},
    ],
)
def test_malformed_push_is_400_and_next_push_works(change: dict) -> None:
    async def scenario() -> None:
        lanes = Collector()
        source = GenericHttpSource(
            SERIAL, "lane-in", secret=SECRET, listen_host="127.0.0.1", listen_port=0
        )
        async with started(source, lanes):
            bad = protocol.push_body(_read()) | change
            assert (await _post(source.url, bad)).status == 400
            assert (await _post(source.url, protocol.push_body(_read()))).status == 200
            assert len(lanes.reads) == 1

    run(scenario())


# ---------------------------------------------------------------- command endpoint


def test_command_endpoint_barrier_and_display() -> None:
    async def scenario() -> None:
        endpoint = FakeCommandEndpoint(SECRET, SERIAL)
        await endpoint.start()
        try:
            barrier = GenericHttpBarrier(SERIAL, "x", command_url=endpoint.url, secret=SECRET)
            display = GenericHttpDisplay(SERIAL, "x", command_url=endpoint.url, secret=SECRET)
            assert (await barrier.probe()).serial == SERIAL
            assert (await barrier.open("ALLOW")).ok
            assert (await barrier.close("passed")).ok
            assert (await display.show(["晋A12345", "禁止通行"])).ok
            assert [c["command"] for c in endpoint.commands] == ["status", "open", "close", "show"]
            assert endpoint.commands[-1]["lines"] == ["晋A12345", "禁止通行"]
            assert barrier.available
            endpoint.fail_with = "busy"
            busy = await barrier.open("ALLOW")
            assert (busy.ok, busy.code) == (False, "busy")
            wrong = GenericHttpBarrier(
                SERIAL, "x", command_url=endpoint.url, secret=b"wrong-secret-000000000"
            )
            refused = await wrong.open("ALLOW")
            assert (refused.ok, refused.code) == (False, "auth_failed")
            assert endpoint.rejected == 1
        finally:
            await endpoint.stop()
        gone = await barrier.open("ALLOW")
        assert gone.code == "unreachable"
        assert not barrier.available

    run(scenario())


# ---------------------------------------------------------------- generic_led


def test_led_frame_golden_and_round_trip() -> None:
    frame = led.encode_frame(["晋A12345", "请通行"], "gbk")
    assert frame.hex() == "43470101000fbdfa4131323334350ac7ebcda8d0d03bee"
    assert led.decode_frame(frame) == led.LedFrame(("晋A12345", "请通行"), "gbk", False)
    utf8 = led.encode_frame(["欢迎 Welcome"], "utf-8")
    assert led.decode_frame(utf8).lines == ("欢迎 Welcome",)
    assert led.crc16_modbus(b"123456789") == 0x4B37
    corrupted = bytearray(frame)
    corrupted[8] ^= 0xFF
    with pytest.raises(led.FrameError, match="CRC"):
        led.decode_frame(bytes(corrupted))
    with pytest.raises(led.FrameError):
        led.encode_frame(["two\nlines"])
    with pytest.raises(UnicodeEncodeError):
        led.encode_frame(["🚚"], "gbk")


def test_led_screen_over_tcp_gbk_and_utf8() -> None:
    async def scenario() -> None:
        screen = FakeLedScreen()
        await screen.start()
        try:
            gbk = GenericLedDisplay("LED-1", "x", host="127.0.0.1", port=screen.port)
            assert (await gbk.probe()).serial == "LED-1"
            assert (await gbk.show(["晋A12345", "请通行"])).ok
            utf8 = GenericLedDisplay(
                "LED-1", "x", host="127.0.0.1", port=screen.port, encoding="utf-8"
            )
            assert (await utf8.show(["欢迎光临"])).ok
            assert [(f.lines, f.encoding) for f in screen.shown] == [
                (("晋A12345", "请通行"), "gbk"),
                (("欢迎光临",), "utf-8"),
            ]
            assert screen.frames[0] == led.encode_frame(["晋A12345", "请通行"], "gbk")
            bad = await gbk.show(["🚚"])
            assert bad.code == "bad_request"
            screen.silent = True
            quiet = GenericLedDisplay("LED-1", "x", host="127.0.0.1", port=screen.port, timeout=0.3)
            assert (await quiet.show(["x"])).code == "unreachable"
        finally:
            await screen.stop()
        with pytest.raises(DeviceNotReady):
            await gbk.probe()
        assert not gbk.available

    run(scenario())
