"""Vzenith / AlarmInfoPlate: fixtures parse, the reply is the command, offline replay dedupes."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime

import pytest

from edge_bridge.drivers import DirectionHint, GateDecision, PlateRead
from edge_bridge.drivers.generic_http.led import decode_frame
from edge_bridge.drivers.http import http_request
from edge_bridge.drivers.vzenith import (
    VzenithBarrier,
    VzenithDisplay,
    VzenithHub,
    VzenithSource,
    led_encoder,
)
from edge_bridge.drivers.vzenith.protocol import PayloadError, parse_alarm_info_plate
from edge_bridge.drivers.vzenith.simulator import FakeVzenithCamera
from saas.compliance import PlateColor, Verdict
from tests.edge.drivers.helpers import FIXTURES, Collector, run, started

SERIAL = "fe71e106-57263272"
NOW = datetime(2026, 11, 20, 0, 16, tzinfo=UTC)


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"vzenith_alarminfoplate_{name}.json").read_text("utf-8"))


def _source(**kwargs) -> VzenithSource:
    kwargs.setdefault("hub", VzenithHub())
    return VzenithSource(SERIAL, "lane-in", listen_host="127.0.0.1", listen_port=0, **kwargs)


def _allow(*lines: str):
    async def decide(read: PlateRead) -> GateDecision:
        return GateDecision(Verdict.ALLOW, lines)

    return decide


async def _deny(read: PlateRead) -> GateDecision:
    return GateDecision(Verdict.DENY, ("禁止通行",))


# ---------------------------------------------------------------- parsing


def test_online_fixture_parses_every_field() -> None:
    read = parse_alarm_info_plate(
        _fixture("online"), lane_for_channel=lambda c: f"ch{c}", received_at=NOW
    )
    assert read.device_serial == SERIAL
    assert read.lane == "ch0"
    assert read.plate_raw == "晋A6G12挂"
    assert read.color is PlateColor.YELLOW  # colorType 2
    assert read.confidence == pytest.approx(0.93)
    assert read.direction is DirectionHint.DOWN
    assert read.event_time == datetime(2026, 11, 20, 0, 15, 42, 687772, tzinfo=UTC)
    assert read.received_at == NOW
    assert read.event_id == "21085"
    assert not read.replayed
    assert [(i.kind, i.content_type) for i in read.images] == [
        ("plate", "image/jpeg"),
        ("scene", "image/jpeg"),
    ]
    assert all(i.data[:2] == b"\xff\xd8" and i.data[-2:] == b"\xff\xd9" for i in read.images)
    assert read.plate.valid
    assert read.plate.kind.value == "trailer"


def test_offline_fixture_is_a_replay_with_green_nev_plate() -> None:
    read = parse_alarm_info_plate(_fixture("offline"), lane_for_channel=str, received_at=NOW)
    assert read.replayed
    assert read.color is PlateColor.GREEN  # colorType 5
    assert read.plate.is_new_energy
    assert [i.kind for i in read.images] == ["plate"]  # empty imageFile is no image


@pytest.mark.parametrize(
    ("code", "color"),
    [
        (1, PlateColor.BLUE),
        (2, PlateColor.YELLOW),
        (3, PlateColor.WHITE),
        (4, PlateColor.BLACK),
        (5, PlateColor.GREEN),
        (6, PlateColor.YELLOW_GREEN),
        (0, None),
        (42, None),
    ],
)
def test_color_codes(code: int, color: PlateColor | None, caplog) -> None:
    payload = _fixture("online")
    payload["AlarmInfoPlate"]["result"]["PlateResult"]["colorType"] = code
    read = parse_alarm_info_plate(payload, lane_for_channel=str, received_at=NOW)
    assert read.color is color
    assert read.vendor_color_code == str(code)
    assert ("unknown colorType" in caplog.text) is (code == 42)


def test_no_plate_marker_is_kept_raw_and_unreadable() -> None:
    payload = _fixture("online")
    payload["AlarmInfoPlate"]["result"]["PlateResult"]["license"] = "_无_"
    read = parse_alarm_info_plate(payload, lane_for_channel=str, received_at=NOW)
    assert read.plate_raw == "_无_"
    assert read.plate.unreadable


@pytest.mark.parametrize(
    "breakage",
    [
        lambda p: p.pop("AlarmInfoPlate"),
        lambda p: p["AlarmInfoPlate"].pop("serialno"),
        lambda p: p["AlarmInfoPlate"]["result"]["PlateResult"].pop("plateid"),
        lambda p: p["AlarmInfoPlate"]["result"]["PlateResult"].update(license=7),
        lambda p: p["AlarmInfoPlate"]["result"]["PlateResult"].update(confidence="high"),
    ],
)
def test_malformed_payloads_raise(breakage) -> None:
    payload = _fixture("online")
    breakage(payload)
    with pytest.raises(PayloadError):
        parse_alarm_info_plate(payload, lane_for_channel=str, received_at=NOW)


# ---------------------------------------------------------------- reply = command


def test_timely_allow_answers_ok_with_led_lines() -> None:
    async def scenario() -> None:
        lanes = Collector(_allow("晋A6G12挂", "欢迎光临"))
        source = _source(led=led_encoder("generic_led", "gbk"))
        async with started(source, lanes):
            camera = FakeVzenithCamera(source.url + "/plate", serial=SERIAL)
            reply = await camera.push(_fixture("online"))
            body = reply["Response_AlarmInfoPlate"]
            assert body["info"] == "ok"
            assert body["plateid"] == 21085  # echoed for online records
            assert camera.relay_pulses == [{"via": "info", "io": 0}]
            channel, frame = camera.serial_out[0]
            assert channel == 0
            assert decode_frame(frame).lines == ("晋A6G12挂", "欢迎光临")
            assert lanes.reads[0].plate_raw == "晋A6G12挂"
            assert source.available

    run(scenario())


@pytest.mark.parametrize("slow", [False, True])
def test_deny_or_timeout_answers_no(slow: bool) -> None:
    async def scenario() -> None:
        async def late_allow(read: PlateRead) -> GateDecision:
            await asyncio.sleep(0.5)
            return GateDecision(Verdict.ALLOW)

        lanes = Collector(late_allow if slow else _deny)
        source = _source(decision_timeout=0.1)
        async with started(source, lanes):
            camera = FakeVzenithCamera(source.url, serial=SERIAL)
            loop = asyncio.get_running_loop()
            start = loop.time()
            reply = await camera.push_plate("晋A12345")
            assert reply["Response_AlarmInfoPlate"]["info"] == "no"
            assert camera.relay_pulses == []
            if slow:
                assert loop.time() - start < 0.45  # answered at the deadline, not the decision
            assert len(lanes.reads) == 1  # the read still reached the lane

    run(scenario())


def test_review_does_not_open() -> None:
    async def review(read: PlateRead) -> GateDecision:
        return GateDecision(Verdict.REVIEW)

    async def scenario() -> None:
        source = _source()
        async with started(source, Collector(review)):
            camera = FakeVzenithCamera(source.url, serial=SERIAL)
            reply = await camera.push_plate("晋A12345")
            assert reply["Response_AlarmInfoPlate"]["info"] == "no"

    run(scenario())


def test_callback_exception_fails_closed_and_lane_keeps_working() -> None:
    async def scenario() -> None:
        calls = 0

        async def flaky(read: PlateRead) -> GateDecision:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("lane bug")
            return GateDecision(Verdict.ALLOW)

        source = _source()
        async with started(source, flaky):
            camera = FakeVzenithCamera(source.url, serial=SERIAL)
            first = await camera.push_plate("晋A12345")
            second = await camera.push_plate("晋A12346")
            assert first["Response_AlarmInfoPlate"]["info"] == "no"
            assert second["Response_AlarmInfoPlate"]["info"] == "ok"

    run(scenario())


def test_malformed_push_is_400_and_next_push_works() -> None:
    async def scenario() -> None:
        lanes = Collector(_allow())
        source = _source()
        async with started(source, lanes):
            for body in (b"{not json", b'{"AlarmInfoPlate": {"serialno": "x"}}', b"[]"):
                resp = await http_request(
                    "POST", source.url, body=body, headers=[("Content-Type", "application/json")]
                )
                assert resp.status == 400
            camera = FakeVzenithCamera(source.url, serial=SERIAL)
            reply = await camera.push_plate("晋A12345")
            assert reply["Response_AlarmInfoPlate"]["info"] == "ok"
            assert len(lanes.reads) == 1

    run(scenario())


def test_foreign_serial_and_peer_are_refused() -> None:
    async def scenario() -> None:
        lanes = Collector(_allow())
        source = _source()
        async with started(source, lanes):
            stranger = FakeVzenithCamera(source.url, serial="someone-else")
            assert await stranger.push_plate("晋A12345") is None
            assert lanes.reads == []
        pinned = _source(device_host="10.9.9.9")
        async with started(pinned, lanes):
            camera = FakeVzenithCamera(pinned.url, serial=SERIAL)
            assert await camera.push_plate("晋A12345") is None
            assert lanes.reads == []

    run(scenario())


# ---------------------------------------------------------------- offline replay


def test_offline_replay_is_acknowledged_deduped_and_never_opens() -> None:
    async def scenario() -> None:
        lanes = Collector(_allow())
        source = _source()
        camera = FakeVzenithCamera("http://127.0.0.1:9/", serial=SERIAL)  # nothing listens
        await camera.push_plate("晋A11111", plateid=1)
        await camera.push_plate("晋A22222", plateid=2)
        assert [
            r["AlarmInfoPlate"]["result"]["PlateResult"]["plateid"] for r in camera.offline
        ] == [1, 2]
        async with started(source, lanes):
            camera.receiver_url = source.url
            # A new result pre-empted the replay of record 1, which then comes twice.
            duplicate = json.loads(json.dumps(camera.offline[0]))
            first = await camera.push(duplicate)
            assert first["Response_AlarmInfoPlate"]["ContinuePushOffline"] == {
                "plateid": 1,
                "continue": 1,
            }
            assert await camera.replay_offline() == 2
            assert camera.offline == []
            await asyncio.sleep(0.05)
            assert [(r.plate_raw, r.replayed) for r in lanes.reads] == [
                ("晋A11111", True),
                ("晋A22222", True),
            ]
            assert camera.relay_pulses == []  # a replayed record never opens the gate

    run(scenario())


def test_duplicate_online_push_is_not_handed_on_twice() -> None:
    async def scenario() -> None:
        lanes = Collector(_allow())
        source = _source()
        async with started(source, lanes):
            camera = FakeVzenithCamera(source.url, serial=SERIAL)
            payload = camera.plate_payload("晋A12345", plateid=77)
            assert (await camera.push(payload))["Response_AlarmInfoPlate"]["info"] == "ok"
            assert (await camera.push(payload))["Response_AlarmInfoPlate"]["info"] == "no"
            assert len(lanes.reads) == 1

    run(scenario())


# ---------------------------------------------------------------- barrier and LED via comet


def test_barrier_open_and_display_ride_on_comet_heartbeat() -> None:
    async def scenario() -> None:
        hub = VzenithHub()
        source = _source(hub=hub)
        barrier = VzenithBarrier(SERIAL, "lane-in", io_channel=1, open_via="ivs_ioctrl", hub=hub)
        display = VzenithDisplay(SERIAL, "lane-in", hub=hub)
        async with started(source, Collector()):
            assert not barrier.available
            camera = FakeVzenithCamera(source.url, serial=SERIAL)
            camera.start_comet(0.02)
            try:
                result = await barrier.open("late ALLOW from the lane")
                assert result.ok, result
                shown = await display.show(["请通行"])
                assert shown.ok
                assert (await barrier.probe()).serial == SERIAL
                assert barrier.available
                # "delivered" = put in a reply; give the camera a moment to act on it.
                for _ in range(100):
                    if camera.serial_out:
                        break
                    await asyncio.sleep(0.01)
            finally:
                await camera.stop()
            assert camera.relay_pulses == [{"via": "ivs_ioctrl", "io": 1, "value": 2, "delay": 500}]
            assert camera.serial_out == [(0, "请通行".encode("gbk"))]

    run(scenario())


def test_undelivered_open_is_withdrawn_not_fired_later() -> None:
    async def scenario() -> None:
        hub = VzenithHub()
        source = _source(hub=hub)
        barrier = VzenithBarrier(SERIAL, "lane-in", delivery_timeout=0.1, hub=hub)
        async with started(source, Collector()):
            result = await barrier.open("no heartbeat configured")
            assert not result.ok
            assert result.code == "not_delivered"
            camera = FakeVzenithCamera(source.url, serial=SERIAL)
            reply = await camera.heartbeat()
            assert reply["Response_AlarmInfoPlate"]["info"] == "no"
            assert camera.relay_pulses == []
            close = await barrier.close()
            assert close.code == "not_supported"

    run(scenario())


def test_heartbeat_reply_is_json_and_base64_serial_data_length_matches() -> None:
    async def scenario() -> None:
        hub = VzenithHub()
        source = _source(hub=hub)
        display = VzenithDisplay(SERIAL, "lane-in", hub=hub, delivery_timeout=2.0)
        async with started(source, Collector()):
            camera = FakeVzenithCamera(source.url, serial=SERIAL)
            pending = asyncio.create_task(display.show(["A", "B"]))
            await asyncio.sleep(0.01)
            reply = await camera.heartbeat()
            item = reply["Response_AlarmInfoPlate"]["serialData"][0]
            assert base64.b64decode(item["data"]) == b"A\r\nB"
            assert item["dataLen"] == 4
            assert (await pending).ok

    run(scenario())
