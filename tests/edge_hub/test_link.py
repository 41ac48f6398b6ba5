"""A real bridge (daemon in-process, simulated devices) against a real hub over websocket."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

from flask import Flask

from edge_bridge import config as edge_config
from edge_bridge.daemon import Daemon
from edge_bridge.drivers.generic_http.protocol import signed_headers
from edge_bridge.drivers.http import http_request
from edge_bridge.drivers.simulator import SimulatedBarrier, SimulatedCamera, SimulatedPlate
from edge_bridge.simulate import Simulator, cameras
from saas.compliance import PlateColor, Verdict
from saas.db import get_database
from saas.edge_hub import bus
from saas.models.ledger import TransportVehicle
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture
from tests.edge_hub.harness import (
    SIM_LANES,
    HubThread,
    free_port,
    ledger_count,
    ledger_records,
    make_box,
    push_lanes,
    until,
)
from tests.ledger.edge_helpers import make_device


def test_passages_reach_the_ledger_and_leave_the_outbox(
    app: Flask, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    with HubThread(app) as hub:
        box = make_box(tmp_path / "box", device, hub.url, SIM_LANES)

        async def scenario() -> None:
            daemon = Daemon(edge_config.load(box.config_path))
            await daemon.start()
            try:
                await until(lambda: daemon.state.online and daemon.snapshot.synced)
                camera = daemon.supervisor._entries["simulator:CAM-IN"].device
                assert isinstance(camera, SimulatedCamera)
                await daemon.supervisor.wait_started(5)
                for _ in range(30):
                    await camera.emit()
                await until(lambda: daemon.outbox.depth() == 0)
            finally:
                await daemon.stop()

        asyncio.run(scenario())
    assert ledger_count(app, tenant_a.tenant_id, tenant_a.site_id) == 30


def _daemon(box_path: Path) -> Daemon:
    return Daemon(edge_config.load(box_path))


def _camera(daemon: Daemon, serial: str = "CAM-IN") -> SimulatedCamera:
    camera = daemon.supervisor._entries[f"simulator:{serial}"].device
    assert isinstance(camera, SimulatedCamera)
    return camera


def _barrier(daemon: Daemon, key: str = "1/01") -> SimulatedBarrier:
    barrier = daemon.lanes[key].barrier
    assert isinstance(barrier, SimulatedBarrier)
    return barrier


YELLOW_TRUCK = SimulatedPlate("ordinary_yellow", "冀B77777", PlateColor.YELLOW)


def test_offline_the_gate_keeps_deciding_then_everything_uploads(
    app: Flask, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    port = free_port()
    box = make_box(tmp_path / "box", device, f"ws://127.0.0.1:{port}/", SIM_LANES)

    async def offline_then_online() -> None:
        daemon = _daemon(box.config_path)
        await daemon.start()
        try:
            await daemon.supervisor.wait_started(5)
            assert "no_snapshot" in daemon.state.alarms  # never synced: strictest defaults
            for _ in range(10):
                assert await _camera(daemon).emit() is not None  # a decision, offline
            assert daemon.state.online is False
            assert daemon.outbox.depth() == 10
            hub = await asyncio.to_thread(lambda: HubThread(app, port=port).start())
            try:
                await until(lambda: daemon.outbox.depth() == 0, timeout=30)
                assert daemon.state.online
                assert "no_snapshot" not in daemon.state.alarms
            finally:
                await asyncio.to_thread(hub.stop)
        finally:
            await daemon.stop()

    asyncio.run(offline_then_online())
    assert ledger_count(app, tenant_a.tenant_id, tenant_a.site_id) == 10


def test_registry_changes_reach_the_gate_and_survive_a_restart_offline(
    app: Flask, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    with HubThread(app) as hub:
        box = make_box(tmp_path / "box", device, hub.url, SIM_LANES)

        async def register_then_read() -> None:
            daemon = _daemon(box.config_path)
            await daemon.start()
            try:
                await daemon.supervisor.wait_started(5)
                await until(lambda: daemon.state.online and daemon.snapshot.synced)
                before = await _camera(daemon).emit(YELLOW_TRUCK)
                assert before is not None
                assert before.verdict is not Verdict.ALLOW  # unregistered diesel truck
                version = daemon.snapshot.version

                def register() -> None:
                    with (
                        tenant_context(tenant_a.tenant_id),
                        get_database(app).sessionmaker() as session,
                    ):
                        session.add(
                            TransportVehicle(
                                site_id=tenant_a.site_id,
                                plate="冀B77777",
                                plate_color="yellow",
                                vehicle_type="H11",
                                fuel_type="diesel",
                                emission_stage="cn6b",
                                registration_date=date(2024, 3, 1),
                            )
                        )
                        session.commit()

                await asyncio.to_thread(register)
                await until(lambda: daemon.snapshot.version != version, timeout=10)
                after = await _camera(daemon).emit(YELLOW_TRUCK)
                assert after is not None
                assert after.verdict is Verdict.ALLOW
                assert _barrier(daemon).events[-1][0] == "open"
                await until(lambda: daemon.outbox.depth() == 0)
            finally:
                await daemon.stop()

        asyncio.run(register_then_read())

    async def restart_offline() -> None:  # the hub is gone now
        daemon = _daemon(box.config_path)
        await daemon.start()
        try:
            await daemon.supervisor.wait_started(5)
            assert daemon.snapshot.synced
            decision = await _camera(daemon).emit(YELLOW_TRUCK)
            assert decision is not None
            assert decision.verdict is Verdict.ALLOW
        finally:
            await daemon.stop()

    asyncio.run(restart_offline())


def test_a_remote_open_from_the_portal_opens_and_is_recorded(
    app: Flask, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    redis = app.extensions["cleangate.redis"]
    with HubThread(app) as hub:
        box = make_box(tmp_path / "box", device, hub.url, SIM_LANES)

        async def remote_open() -> dict[str, object]:
            daemon = _daemon(box.config_path)
            await daemon.start()
            try:
                await daemon.supervisor.wait_started(5)
                await until(lambda: bus.presence(redis, [device.id])[str(device.id)]["online"])
                command = bus.issue_command(
                    redis,
                    device.id,
                    action="open_barrier",
                    issued_by="admin@a",
                    gate="1",
                    lane="01",
                    reason="救护车",
                )
                await until(
                    lambda: (
                        (bus.command_status(redis, command["command_id"]) or {}).get("state")
                        != "sent"
                    )
                )
                assert _barrier(daemon).events[-1] == ("open", "人工放行: 救护车")
                await until(lambda: daemon.outbox.depth() == 0)
                return bus.command_status(redis, command["command_id"]) or {}
            finally:
                await daemon.stop()

        status = asyncio.run(remote_open())
    assert status["state"] == "ok"
    records = ledger_records(app, tenant_a.tenant_id, tenant_a.site_id)
    assert [r["manual"] for r in records if "manual" in r] == [
        {
            "action": "remote_release",
            "operator": "admin@a",
            "reason": "救护车",
            "amends_event_id": None,
        }
    ]


def test_a_full_disk_keeps_the_gate_deciding_and_loses_nothing(
    app: Flask, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    box = make_box(tmp_path / "box", device, f"ws://127.0.0.1:{free_port()}/", SIM_LANES)

    async def fill_the_disk() -> None:
        daemon = _daemon(box.config_path)
        await daemon.start()
        try:
            await daemon.supervisor.wait_started(5)
            pages = daemon.outbox.db.execute("PRAGMA page_count").fetchone()[0]
            daemon.outbox.db.execute(f"PRAGMA max_page_count = {pages + 2}")
            for _ in range(40):
                assert await _camera(daemon).emit() is not None  # still deciding
            assert "disk_full" in daemon.state.alarms
            lane = daemon.lanes["1/01"]
            kept = len(lane.overflow)
            assert kept > 0
            written = daemon.outbox.depth()
            assert written + kept == 40
            daemon.outbox.db.execute("PRAGMA max_page_count = 1073741823")  # space again
            lane.flush_overflow()
            assert daemon.outbox.depth() == 40
            assert "disk_full" not in daemon.state.alarms
        finally:
            await daemon.stop()

    asyncio.run(fill_the_disk())


def test_a_malformed_camera_push_gets_400_and_the_lane_keeps_working(
    app: Flask, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    box = make_box(tmp_path / "box", device, f"ws://127.0.0.1:{free_port()}/", push_lanes())
    config = edge_config.load(box.config_path)
    camera = next(c for c in cameras(config) if c.lane.direction == "in")

    async def push_garbage_then_a_truck() -> None:
        daemon = Daemon(config)
        await daemon.start()
        try:
            await daemon.supervisor.wait_started(5)
            for body in (b"{not json", json.dumps({"device": camera.serial}).encode()):
                response = await http_request(
                    "POST", camera.url, body=body, headers=signed_headers(camera.secret, body)
                )
                assert response.status == 400
                assert json.loads(response.body)["ok"] is False
            unsigned = await http_request("POST", camera.url, body=b"{}")
            assert unsigned.status == 401
            sim = Simulator(config, seed=3)
            assert await sim.push(*sim.next_push(), deadline=5)
            assert daemon.outbox.depth() == 1
        finally:
            await daemon.stop()

    asyncio.run(push_garbage_then_a_truck())


def test_the_guard_console_releases_through_the_real_daemon(
    app: Flask, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    """Offline box, local pages on: the board says 离线运行; a guard logs in and releases a
    denied truck with a reason; the barrier opens and the release is a ledger record."""
    from edge_bridge.web import hash_password
    from tests.edge.test_web import Browser, csrf_of

    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    port = free_port()
    box = make_box(
        tmp_path / "box",
        device,
        f"ws://127.0.0.1:{port}/",
        SIM_LANES,
        web_port=free_port(),
    )
    box.config_path.write_text(
        box.config_path.read_text().replace(
            "[web]\n", f'[web]\nusers = {{ guard1 = "{hash_password("guard-password")}" }}\n'
        )
    )

    async def guard() -> None:
        daemon = _daemon(box.config_path)
        await daemon.start()
        try:
            await daemon.supervisor.wait_started(5)
            assert await _camera(daemon).emit(YELLOW_TRUCK) is not None
            browser = Browser(daemon.web.url)
            board = await browser.get("/board")
            assert "离线运行" in board.body.decode()
            assert "冀B77777" in board.body.decode()  # the last vehicle, in full (seed 001)
            assert (await browser.login("guard1", "guard-password")).status == 303
            csrf = csrf_of(await browser.get("/"))
            answer = await browser.post(
                "/lanes/1/01/release", {"csrf": csrf, "reason": "司机持纸质排放证明"}
            )
            assert answer.status == 303
            assert _barrier(daemon).events[-1] == ("open", "人工放行: 司机持纸质排放证明")
            assert daemon.outbox.depth() == 2
            hub = await asyncio.to_thread(lambda: HubThread(app, port=port).start())
            try:
                await until(lambda: daemon.outbox.depth() == 0, timeout=30)
            finally:
                await asyncio.to_thread(hub.stop)
        finally:
            await daemon.stop()

    asyncio.run(guard())
    records = ledger_records(app, tenant_a.tenant_id, tenant_a.site_id)
    release = records[-1]
    assert release["manual"]["action"] == "release"
    assert release["manual"]["operator"] == "guard1"
    assert release["manual"]["amends_event_id"] == records[0]["event_id"]
    assert release["decision"]["verdict"] == "ALLOW"
    assert release["plate"]["normalized"] == "冀B77777"
