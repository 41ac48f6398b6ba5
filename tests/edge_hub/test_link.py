"""A real bridge (daemon in-process, simulated devices) against a real hub over websocket."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from flask import Flask

from edge_bridge import config as edge_config
from edge_bridge.daemon import Daemon
from edge_bridge.drivers.simulator import SimulatedCamera
from tests.conftest import TenantFixture
from tests.edge_hub.harness import SIM_LANES, HubThread, ledger_count, make_box
from tests.ledger.edge_helpers import make_device


async def wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


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
                await wait_for(lambda: daemon.state.online and daemon.snapshot.synced)
                camera = daemon.supervisor._entries["simulator:CAM-IN"].device
                assert isinstance(camera, SimulatedCamera)
                await daemon.supervisor.wait_started(5)
                for _ in range(30):
                    await camera.emit()
                await wait_for(lambda: daemon.outbox.depth() == 0)
            finally:
                await daemon.stop()

        asyncio.run(scenario())
    assert ledger_count(app, tenant_a.tenant_id, tenant_a.site_id) == 30
