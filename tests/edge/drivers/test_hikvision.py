"""Hikvision: the recorded multipart push parses, bad pushes are 400 and the lane survives,
Digest auth against a fake camera, barrier results, and no lockout storm on a wrong password."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from edge_bridge.drivers import AuthRejected, DeviceNotReady, DirectionHint
from edge_bridge.drivers.hikvision import HikvisionBarrier, HikvisionSource, IsapiDevice, isapi
from edge_bridge.drivers.hikvision.simulator import FakeHikvisionCamera, anpr_multipart, anpr_xml
from edge_bridge.drivers.http import DigestClient, http_request
from saas.compliance import PlateColor
from tests.edge.drivers.helpers import FIXTURES, Collector, run, started

SERIAL = "DS-TCG405-E20231015AACHJ1234567"
MULTIPART = "multipart/form-data; boundary=MIME_boundary"


def _source(**kwargs) -> HikvisionSource:
    return HikvisionSource(SERIAL, "lane-in", listen_host="127.0.0.1", listen_port=0, **kwargs)


def _device(camera: FakeHikvisionCamera, password: str | None = None) -> IsapiDevice:
    client = DigestClient(
        camera.url, camera.username, password or camera.password, timeout=2.0, backoff=300.0
    )
    return IsapiDevice(client, SERIAL)


# ---------------------------------------------------------------- parsing


def test_recorded_push_parses_plate_colour_confidence_time_images() -> None:
    async def scenario() -> None:
        lanes = Collector()
        source = _source()
        async with started(source, lanes):
            body = (FIXTURES / "hikvision_anpr_push.multipart").read_bytes()
            resp = await http_request(
                "POST", source.url + "/anpr", body=body, headers=[("Content-Type", MULTIPART)]
            )
            assert resp.status == 200
            (read,) = await lanes.wait_for(1)
            assert read.device_serial == SERIAL  # configured, not from the body
            assert read.lane == "lane-in"
            assert read.plate_raw == "晋A12345"
            assert read.color is PlateColor.YELLOW
            assert read.confidence == pytest.approx(0.96)
            assert read.direction is DirectionHint.FORWARD
            assert read.event_time == datetime(2026, 11, 20, 0, 15, 42, tzinfo=UTC)
            assert read.event_id == "8a1c5d0e-0f2b-4c6a-9d3e-5b7a9c1e2f30"
            assert [(i.kind, i.content_type) for i in read.images] == [
                ("plate", "image/jpeg"),
                ("scene", "image/jpeg"),
            ]
            assert all(
                i.data.startswith(b"\xff\xd8") and i.data.endswith(b"\xff\xd9") for i in read.images
            )
            assert source.available

    run(scenario())


@pytest.mark.parametrize("namespace", isapi.NAMESPACES)
def test_both_namespaces_and_naive_time_assumes_device_offset(namespace: str) -> None:
    xml = anpr_xml(
        "粤BD12345", color="green", namespace=namespace, when=datetime(2026, 1, 2, 3, 4, 5)
    )  # firmware without an offset
    event = isapi.parse_event(xml)
    assert event.plate == "粤BD12345"
    assert event.color is PlateColor.GREEN
    assert event.event_time == datetime(2026, 1, 1, 19, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("word", "color"),
    [
        ("blue", PlateColor.BLUE),
        ("yellowGreen", PlateColor.YELLOW_GREEN),
        ("civilAviationBlack", PlateColor.OTHER),
        ("unknown", None),
        ("purple", None),
    ],
)
def test_colour_words(word: str, color: PlateColor | None, caplog) -> None:
    assert isapi.hik_color(word) is color
    assert ("unknown plateColor" in caplog.text) is (word == "purple")


def test_dtd_and_entities_are_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>'
        b"<EventNotificationAlert>&lol;</EventNotificationAlert>"
    )
    with pytest.raises(isapi.IsapiXmlError, match="DTD"):
        isapi.parse_event(bomb)
    with pytest.raises(isapi.IsapiXmlError):
        isapi.parse_event(b"<EventNotificationAlert><unclosed></EventNotificationAlert>")


def test_malformed_pushes_are_400_and_the_next_push_still_works() -> None:
    async def scenario() -> None:
        lanes = Collector()
        source = _source()
        camera = FakeHikvisionCamera()
        async with started(source, lanes):
            bad_bodies = [
                (b"garbage", MULTIPART),  # no boundary in body
                (
                    anpr_multipart(b'<!DOCTYPE x [<!ENTITY e "e">]><EventNotificationAlert/>'),
                    MULTIPART,
                ),
                (
                    anpr_multipart(
                        b"<EventNotificationAlert><eventType>ANPR</eventType>"
                        b"</EventNotificationAlert>"
                    ),
                    MULTIPART,
                ),  # no dateTime
                (b"<notxml", "application/xml"),
            ]
            for body, ctype in bad_bodies:
                assert await camera.push(source.url, body, ctype) == 400
            assert await camera.push_anpr(source.url, "晋A12345") == 200
            reads = await lanes.wait_for(1)
            assert [r.plate_raw for r in reads] == ["晋A12345"]

    run(scenario())


def test_body_ip_is_ignored_and_duplicates_are_dropped() -> None:
    async def scenario() -> None:
        lanes = Collector()
        source = _source()
        camera = FakeHikvisionCamera()
        async with started(source, lanes):
            xml = anpr_xml("晋A12345", event_uuid="same-uuid", body_ip="169.254.169.254")
            assert await camera.push(source.url, anpr_multipart(xml)) == 200
            assert await camera.push(source.url, anpr_multipart(xml)) == 200  # re-upload
            await lanes.wait_for(1)
            await asyncio.sleep(0.05)
            assert len(lanes.reads) == 1
            assert lanes.reads[0].device_serial == SERIAL

    run(scenario())


def test_heartbeat_events_keep_available_without_reads() -> None:
    async def scenario() -> None:
        lanes = Collector()
        source = _source()
        async with started(source, lanes):
            assert not source.available
            beat = (
                b'<EventNotificationAlert xmlns="http://www.hikvision.com/ver20/XMLSchema">'
                b"<dateTime>2026-11-20T08:00:00+08:00</dateTime><eventType>videoloss"
                b"</eventType><eventState>inactive</eventState></EventNotificationAlert>"
            )
            resp = await http_request(
                "POST", source.url, body=beat, headers=[("Content-Type", "application/xml")]
            )
            assert resp.status == 200
            assert source.available
            assert lanes.reads == []

    run(scenario())


def test_reply_does_not_wait_for_a_slow_lane() -> None:
    async def scenario() -> None:
        release = asyncio.Event()

        async def slow(read):
            await release.wait()

        lanes = Collector(slow)
        source = _source()
        camera = FakeHikvisionCamera()
        async with started(source, lanes):
            status = await asyncio.wait_for(camera.push_anpr(source.url, "晋A12345"), 1.0)
            assert status == 200
            release.set()

    run(scenario())


def test_peer_pinning_refuses_other_hosts() -> None:
    async def scenario() -> None:
        lanes = Collector()
        source = _source(device_host="10.1.2.3")
        async with started(source, lanes):
            assert await FakeHikvisionCamera().push_anpr(source.url, "晋A12345") == 403
            assert lanes.reads == []

    run(scenario())


# ---------------------------------------------------------------- digest + barrier


def test_probe_and_snapshot_with_digest_auth() -> None:
    async def scenario() -> None:
        camera = FakeHikvisionCamera(serial=SERIAL)
        await camera.start()
        try:
            source = _source(device=_device(camera))
            probe = await source.probe()
            assert (probe.serial, probe.model, probe.firmware) == (SERIAL, "DS-TCG405-E", "V5.4.0")
            jpeg = await source.snapshot()
            assert jpeg.startswith(b"\xff\xd8")
            assert camera.bad_logins == 0
            # The nonce is reused with an increasing nc: one challenge, then straight through.
            assert [ok for _, _, ok in camera.requests] == [False, True, True]
        finally:
            await camera.stop()

    run(scenario())


def test_barrier_open_close_and_not_supported() -> None:
    async def scenario() -> None:
        camera = FakeHikvisionCamera(serial=SERIAL)
        await camera.start()
        try:
            barrier = HikvisionBarrier(SERIAL, "lane-in", device=_device(camera))
            opened = await barrier.open("ALLOW 晋A12345")
            assert (opened.ok, opened.code) == (True, "ok"), opened
            assert (await barrier.close("passed")).ok
            assert camera.barrier_commands == [(1, "open"), (1, "close")]
            other = HikvisionBarrier(SERIAL, "lane-out", device=_device(camera), channel=2)
            refused = await other.open("ALLOW")
            assert (refused.ok, refused.code) == (False, "not_supported")
            relay = HikvisionBarrier(
                SERIAL,
                "lane-in",
                device=_device(camera),
                path="/ISAPI/System/IO/outputs/{channel}/trigger",
            )
            assert (await relay.open("x")).code == "not_supported"
            assert barrier.available
        finally:
            await camera.stop()

    run(scenario())


def test_wrong_password_backs_off_without_a_lockout_storm() -> None:
    async def scenario() -> None:
        camera = FakeHikvisionCamera(serial=SERIAL, max_bad_logins=3)
        await camera.start()
        try:
            barrier = HikvisionBarrier(SERIAL, "lane-in", device=_device(camera, "wrong"))
            first = await barrier.open("ALLOW")
            assert (first.ok, first.code) == (False, "auth_failed")
            results = [await barrier.open("ALLOW") for _ in range(10)]
            assert {r.code for r in results} == {"auth_backoff"}
            assert camera.bad_logins == 1
            assert not camera.locked
            assert not barrier.available
            with pytest.raises(AuthRejected):
                await barrier.probe()
            assert camera.bad_logins == 1
        finally:
            await camera.stop()

    run(scenario())


def test_lockout_simulation_locks_after_n_bad_logins() -> None:
    async def scenario() -> None:
        camera = FakeHikvisionCamera(serial=SERIAL, max_bad_logins=2)
        await camera.start()
        try:
            for _ in range(2):  # two separate clients: nobody shares the backoff
                barrier = HikvisionBarrier(SERIAL, "x", device=_device(camera, "wrong"))
                assert (await barrier.open("x")).code == "auth_failed"
            assert camera.locked
            good = HikvisionBarrier(SERIAL, "x", device=_device(camera))
            assert (await good.open("x")).code == "auth_failed"  # even the right password
        finally:
            await camera.stop()

    run(scenario())


def test_unreachable_barrier_reports_and_probe_raises_not_ready() -> None:
    async def scenario() -> None:
        client = DigestClient("http://127.0.0.1:9", "admin", "x", timeout=1.0)
        barrier = HikvisionBarrier(SERIAL, "lane-in", device=IsapiDevice(client, SERIAL))
        result = await barrier.open("ALLOW")
        assert (result.ok, result.code) == (False, "unreachable")
        assert not barrier.available
        with pytest.raises(DeviceNotReady):
            await barrier.probe()

    run(scenario())
