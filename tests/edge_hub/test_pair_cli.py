"""`cleangate-edge pair` against the real cloud over HTTP (werkzeug server on loopback): the box
makes its key, redeems the code and can then connect to the hub as the paired device."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.serving import make_server

from edge_bridge import config as edge_config
from edge_bridge import keys
from edge_bridge.cli import main as edge_cli
from edge_bridge.daemon import Daemon
from saas.db import get_database
from saas.models.ledger import EdgeDevice
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture, api_csrf, login
from tests.edge_hub.harness import SIM_LANES, HubThread


@pytest.fixture
def cloud(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def _pairing_code(app: Flask, tenant: TenantFixture) -> tuple[str, str]:
    client = app.test_client()
    assert login(client, tenant.admin_username) == 302
    answer = client.post(
        "/api/v1/edge-bridges",
        json={"site_id": str(tenant.site_id), "name": "东门网关"},
        headers={"X-CSRFToken": api_csrf(client)},
    ).get_json()
    return answer["pairing_code"], answer["device"]["id"]


def test_pair_then_connect_as_the_paired_device(
    app: Flask,
    tenant_a: TenantFixture,
    cloud: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, device_id = _pairing_code(app, tenant_a)
    (tmp_path / "edge.toml").write_text(
        f'[bridge]\nstate_dir = "{tmp_path}"\n[cloud]\nurl = "{cloud}"\n{SIM_LANES}',
        encoding="utf-8",
    )
    config = str(tmp_path / "edge.toml")
    assert edge_cli(["pair", "--config", config, "--code", code.lower()]) == 0
    assert "paired as device" in capsys.readouterr().out
    state = json.loads((tmp_path / "bridge.json").read_text())
    assert state["device_id"] == device_id
    public = keys.public_key_b64(keys.load(tmp_path / "device.key"))
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        row = session.get(EdgeDevice, uuid.UUID(state["device_id"]))
        assert row is not None
        assert row.status == "active"
        assert base64.b64encode(row.public_key or b"").decode() == public
    # The code was one-time.
    assert edge_cli(["pair", "--config", config, "--code", code]) == 1
    assert "pairing refused (400)" in capsys.readouterr().err

    with HubThread(app) as hub:

        async def connect() -> bool:
            daemon = Daemon(edge_config.load(Path(config)))
            daemon.link.hub_url = hub.url
            await daemon.start()
            try:
                deadline = time.monotonic() + 15
                while not daemon.state.online and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                return daemon.state.online
            finally:
                await daemon.stop()

        assert asyncio.run(connect())


def test_pair_reports_an_unreachable_cloud(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.edge_hub.harness import free_port

    code = edge_cli(
        [
            "pair",
            "--cloud",
            f"http://127.0.0.1:{free_port()}",
            "--code",
            "ABCD2345",
            "--key",
            str(tmp_path / "device.key"),
        ]
    )
    assert code == 1
    assert "cannot reach" in capsys.readouterr().err
