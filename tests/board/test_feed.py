"""The board's live feed through a real hub: an edge daemon's passage reaches a viewer websocket
with the last-vehicle panel computed, an alert's change notice reaches it as ``changed``, and a
bad feed token is refused."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from edge_bridge import config as edge_config
from edge_bridge.daemon import Daemon
from edge_bridge.drivers.simulator import SimulatedCamera, SimulatedPlate
from saas.compliance import PlateColor
from saas.edge_hub.feeds import feed_token
from tests.board.helpers import device_for, end_alert, issue_alert, register_truck, seed_site
from tests.conftest import TenantFixture
from tests.edge_hub.harness import SIM_LANES, HubThread, make_box, until

CN4 = SimulatedPlate("ordinary_yellow", "冀B44444", PlateColor.YELLOW)


async def _next(ws: Any, kind: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), deadline - time.monotonic()))
        if message.get("type") == kind:
            return message  # type: ignore[no-any-return]


@pytest.mark.timeout(300)
def test_viewers_get_passages_with_the_panel_and_change_notices(
    app: Flask, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    region = seed_site(app, tenant_a)
    register_truck(app, tenant_a, "冀B44444", "cn4")
    secret = app.config["CLEANGATE_SETTINGS"].secret_key
    with HubThread(app) as hub:
        box = make_box(tmp_path / "box", device_for(app, tenant_a), hub.url, SIM_LANES)
        feed = f"{hub.url}feed/{tenant_a.site_id}?token={feed_token(secret, tenant_a.site_id)}"

        async def scenario() -> None:
            daemon = Daemon(edge_config.load(box.config_path))
            await daemon.start()
            alert_id = None
            try:
                await daemon.supervisor.wait_started(5)
                await until(lambda: daemon.state.online and daemon.snapshot.synced)
                await until(lambda: "冀B44444" in daemon.snapshot.site.registry)
                camera = daemon.supervisor._entries["simulator:CAM-IN"].device
                assert isinstance(camera, SimulatedCamera)
                async with connect(feed) as ws:
                    assert (await _next(ws, "hello"))["site_id"] == str(tenant_a.site_id)
                    started = time.monotonic()
                    decision = await camera.emit(CN4)
                    assert decision is not None
                    frame = await _next(ws, "passages")
                    assert time.monotonic() - started < 5
                    item = frame["passages"][-1]
                    assert item["plate"] == "冀B44444"
                    assert item["board"]["plate"] == "冀B44444"
                    assert item["board"]["verdict_class"] == "allow"  # ordinary day, B steel
                    assert item["board"]["verdict"] == "准许进入"
                    alert_id = await asyncio.to_thread(
                        issue_alert, app, region, "orange",
                        datetime.now(UTC) - timedelta(seconds=1),
                    )  # fmt: skip
                    assert await _next(ws, "changed") == {"type": "changed"}
                    await until(lambda: daemon.state.alert_level == "orange")
                    await until(lambda: daemon.snapshot.site.alert_level_at(datetime.now(UTC))
                                .value == "orange")  # fmt: skip
                    decision = await camera.emit(CN4)
                    assert decision is not None
                    assert decision.verdict.value == "deny"
                    refused = (await _next(ws, "passages"))["passages"][-1]["board"]
                    assert refused["verdict_class"] == "deny"
                    assert refused["verdict"] == "禁止进入"
                    assert refused["stage"] == "不符合国V及以上标准"
            finally:
                if alert_id is not None:
                    await asyncio.to_thread(end_alert, app, alert_id)
                await daemon.stop()

        asyncio.run(scenario())


def test_a_bad_or_foreign_feed_token_is_refused(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    secret = app.config["CLEANGATE_SETTINGS"].secret_key
    with HubThread(app) as hub:

        async def scenario() -> None:
            for token in ("", "123.abc", feed_token(secret, tenant_b.site_id), "9" * 10 + ".x"):
                async with connect(f"{hub.url}feed/{tenant_a.site_id}?token={token}") as ws:
                    with pytest.raises(ConnectionClosed) as closed:
                        await asyncio.wait_for(ws.recv(), 10)
                    assert closed.value.rcvd is not None
                    assert closed.value.rcvd.code == 4401
            expired = feed_token(secret, tenant_a.site_id, ttl_seconds=-1)
            async with connect(f"{hub.url}feed/{tenant_a.site_id}?token={expired}") as ws:
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 10)
            good = feed_token(secret, tenant_a.site_id)
            async with connect(f"{hub.url}feed/{tenant_a.site_id}?token={good}") as ws:
                assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "hello"

        asyncio.run(scenario())
