"""Portal page of the edge bridges: live state, the pairing code shown once, escaping, revoke,
remote open with a reason and display text, and the same permission checks as the API."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from saas.db import get_database
from saas.edge_hub import bus
from saas.models.identity import Role
from saas.models.ledger import EdgeDevice
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture, csrf_from, login, make_user
from tests.ledger.edge_helpers import Device, make_device

PAGE = "/portal/bridges"
_CODE = re.compile(r'<p class="pairing-code"><strong>([A-Z0-9]{8})</strong></p>')


def _login(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username) == 302
    return client


def _post(client: FlaskClient, path: str, **form: str) -> Any:
    return client.post(path, data={"csrf_token": csrf_from(client, PAGE), **form})


def _flashes(client: FlaskClient) -> list[str]:
    html = client.get(PAGE).get_data(as_text=True)
    return re.findall(r'<p class="flash">([^<]*)</p>', html)


def _device(app: Flask, tenant_id: uuid.UUID, device_id: uuid.UUID) -> EdgeDevice:
    with tenant_context(tenant_id), get_database(app).sessionmaker() as session:
        device = session.get(EdgeDevice, device_id)
        assert device is not None
        return device


@pytest.fixture
def box(app: Flask, tenant_a: TenantFixture) -> Iterator[Device]:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    yield device
    app.extensions["cleangate.redis"].delete(bus.presence_key(device.id))


def test_page_lists_bridges_with_presence_in_beijing_time(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture, box: Device
) -> None:
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        device = session.get(EdgeDevice, box.id)
        assert device is not None
        device.name = "东门网关"
        device.last_seen_at = datetime(2026, 3, 1, 0, 0, 5, tzinfo=UTC)
        device.software_version = "0.9.0"
        session.commit()
    other = make_device(app, tenant_b.tenant_id, tenant_b.site_id)
    client = _login(app, make_user(app, Role.VIEWER, tenant_a.tenant_id).username)

    html = client.get(PAGE).get_data(as_text=True)
    assert "东门网关" in html
    assert "离线" in html
    assert "2026-03-01 08:00:05" in html  # stored UTC, shown in Asia/Shanghai
    assert "0.9.0" in html
    assert str(other.id) not in html
    assert "新增边缘网关" not in html  # a viewer may look, not add
    assert "远程抬杆" not in html

    bus.set_presence(
        app.extensions["cleangate.redis"],
        box.id,
        online=1,
        hub="test",
        outbox_depth=37,
        clock_skew_ms=-1200,
        software_version="1.0.0",
    )
    html = client.get(PAGE).get_data(as_text=True)
    row = html[html.index("东门网关") :]
    row = row[: row.index("</tr>")]
    assert "在线" in row
    assert "离线" not in row
    assert "37" in row
    assert "-1200 ms" in row
    assert "1.0.0" in row

    english = client.get(f"{PAGE}?lang=en").get_data(as_text=True)
    assert "<h1>Edge bridges</h1>" in english
    assert "Online" in english
    assert not {"边缘网关", "在线", "离线", "已激活", "积压"} & set(
        re.findall(r">([^<]+)<", english)
    )


def test_add_bridge_shows_the_code_once_and_escapes_the_name(
    app: Flask, tenant_a: TenantFixture
) -> None:
    client = _login(app, tenant_a.admin_username)
    home = client.get("/portal/").get_data(as_text=True)
    assert f'href="{PAGE}"' in home  # the portal links the page

    hostile = "<script>alert(1)</script>"
    response = _post(client, PAGE, site_id=str(tenant_a.site_id), name=hostile)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    html = response.get_data(as_text=True)
    assert hostile not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    match = _CODE.search(html)
    assert match, "the code is on the page"
    code = match.group(1)
    base_url = app.config["CLEANGATE_SETTINGS"].base_url
    assert f"cleangate-edge pair --cloud {base_url} --code {code}" in html
    assert "待配对" in html

    again = client.get(PAGE).get_data(as_text=True)
    assert code not in again  # shown once
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in again
    assert hostile not in again

    # the code works for the box
    from tests.api.test_pairing import _key, _pair

    _, public = _key()
    assert _pair(app, code, public).status_code == 200
    assert "已激活" in client.get(PAGE).get_data(as_text=True)

    bad = _post(client, PAGE, site_id=str(tenant_a.site_id), name="")
    assert bad.status_code == 302
    assert any("网关名称" in f for f in _flashes(client))


def test_new_pairing_code_and_revoke(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture, box: Device
) -> None:
    client = _login(app, tenant_a.admin_username)
    response = _post(client, f"{PAGE}/{box.id}/pairing-code")
    assert response.status_code == 200
    assert _CODE.search(response.get_data(as_text=True))

    outsider = _login(app, tenant_b.admin_username)
    for action in ("pairing-code", "revoke", "open", "text", "resync"):
        assert _post(outsider, f"{PAGE}/{box.id}/{action}").status_code == 404, action
    assert _device(app, tenant_a.tenant_id, box.id).status == "active"

    viewer = _login(app, make_user(app, Role.VIEWER, tenant_a.tenant_id).username)
    assert _post(viewer, f"{PAGE}/{box.id}/revoke").status_code == 403

    assert client.post(f"{PAGE}/{box.id}/revoke").status_code == 400  # no CSRF token
    assert _post(client, f"{PAGE}/{box.id}/revoke").status_code == 302
    assert _device(app, tenant_a.tenant_id, box.id).status == "revoked"
    assert any("已吊销" in f for f in _flashes(client))
    refused = _post(client, f"{PAGE}/{box.id}/pairing-code")
    assert refused.status_code == 302
    assert any("已吊销" in f for f in _flashes(client))


def test_remote_open_needs_a_reason_and_reports_offline(
    app: Flask, tenant_a: TenantFixture, box: Device
) -> None:
    guard = _login(app, make_user(app, Role.GUARD, tenant_a.tenant_id).username)
    html = guard.get(PAGE).get_data(as_text=True)
    assert "远程抬杆" in html
    assert "显示屏文字" not in html

    _post(guard, f"{PAGE}/{box.id}/open", gate="1", lane="01", reason=" ")
    assert any("原因" in f for f in _flashes(guard))
    _post(guard, f"{PAGE}/{box.id}/open", gate="1", lane="01", reason="消防车进厂")
    assert "网关离线，指令未发送" in _flashes(guard)
    assert _post(guard, f"{PAGE}/{box.id}/text", text="hello").status_code == 403

    redis = app.extensions["cleangate.redis"]
    bus.set_presence(redis, box.id, online=1, hub="test")
    pubsub = redis.pubsub()
    pubsub.subscribe(bus.COMMANDS)
    try:
        _next(pubsub)  # subscribe confirmation
        assert (
            _post(
                guard, f"{PAGE}/{box.id}/open", gate="1", lane="01", reason="消防车进厂"
            ).status_code
            == 302
        )
        message = _next(pubsub)
        assert message is not None
        sent = json.loads(message["data"])
        assert (sent["action"], sent["reason"], sent["lane"]) == (
            "open_barrier",
            "消防车进厂",
            "01",
        )
        assert any(sent["command_id"] in f for f in _flashes(guard))

        admin = _login(app, tenant_a.admin_username)
        _post(admin, f"{PAGE}/{box.id}/text", text="请出示\n随车清单")
        message = _next(pubsub)
        assert message is not None
        assert json.loads(message["data"])["text"] == "请出示\n随车清单"
        _post(admin, f"{PAGE}/{box.id}/text", text="太长" * 21)
        assert any("每行最多 40 个字" in f for f in _flashes(admin))
        assert _next(pubsub, 0.2) is None
    finally:
        pubsub.close()


def _next(pubsub: Any, timeout: float = 2.0) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.05)
        if message is not None:
            return message  # type: ignore[no-any-return]
    return None
