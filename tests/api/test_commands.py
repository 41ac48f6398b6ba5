"""Remote commands to edge bridges: who may send what, validation, offline bridges, and the
command reaching the hubs' channel."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from saas.db import get_database
from saas.edge_hub import bus
from saas.models.identity import AuditEvent, Role
from saas.models.ledger import EdgeDevice
from saas.tenancy import system_context, tenant_context
from tests.conftest import TenantFixture, api_csrf, login, make_user
from tests.ledger.edge_helpers import Device, make_device

OPEN = {"action": "open_barrier", "gate": "1", "lane": "01", "reason": "救护车进厂"}


def _client(app: Flask, username: str) -> tuple[FlaskClient, dict[str, str]]:
    client = app.test_client()
    assert login(client, username) == 302
    return client, {"X-CSRFToken": api_csrf(client)}


def _as(app: Flask, tenant: TenantFixture, role: Role) -> tuple[FlaskClient, dict[str, str]]:
    return _client(app, make_user(app, role, tenant.tenant_id).username)


@pytest.fixture
def box(app: Flask, tenant_a: TenantFixture) -> Device:
    return make_device(app, tenant_a.tenant_id, tenant_a.site_id)


@pytest.fixture
def online(app: Flask, box: Device) -> Iterator[Any]:
    """The bridge held by a (pretend) hub: presence online and a subscriber on the channel."""
    redis = app.extensions["cleangate.redis"]
    bus.set_presence(redis, box.id, online=1, hub="test")
    pubsub = redis.pubsub()
    pubsub.subscribe(bus.COMMANDS)
    _wait(pubsub)  # the subscribe confirmation
    yield pubsub
    pubsub.close()
    redis.delete(bus.presence_key(box.id))


def _wait(pubsub: Any, timeout: float = 2.0) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.05)
        if message is not None:
            return message  # type: ignore[no-any-return]
    return None


def _command_events(app: Flask, device_id: uuid.UUID) -> list[AuditEvent]:
    with get_database(app).sessionmaker() as session, system_context("test: audit"):
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.event == "device.command").order_by(AuditEvent.id)
        )
        return [e for e in rows if e.details.get("device_id") == str(device_id)]


def test_command_to_offline_bridge_is_409_and_audited(
    app: Flask, tenant_a: TenantFixture, box: Device
) -> None:
    client, headers = _client(app, tenant_a.admin_username)
    response = client.post(f"/api/v1/edge-devices/{box.id}/commands", json=OPEN, headers=headers)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "bridge_offline"
    assert error["message"] == "网关离线，指令未发送"
    [event] = _command_events(app, box.id)
    assert event.details["state"] == "offline"
    assert event.details["reason"] == "救护车进厂"
    assert event.tenant_id == tenant_a.tenant_id


def test_command_to_online_bridge_is_published(
    app: Flask, tenant_a: TenantFixture, box: Device, online: Any
) -> None:
    client, headers = _client(app, tenant_a.admin_username)
    response = client.post(f"/api/v1/edge-devices/{box.id}/commands", json=OPEN, headers=headers)
    assert response.status_code == 202, response.get_json()
    command = response.get_json()
    assert command["state"] == "sent"
    assert command["action"] == "open_barrier"

    message = _wait(online)
    assert message is not None
    assert message["type"] == "message"
    published = json.loads(message["data"])
    assert published["command_id"] == command["command_id"]
    assert published["device_id"] == str(box.id)
    assert published["reason"] == "救护车进厂"
    assert (published["gate"], published["lane"]) == ("1", "01")
    assert published["issued_by"] == tenant_a.admin_username

    [event] = _command_events(app, box.id)
    assert event.details["command_id"] == command["command_id"]
    assert (event.details["action"], event.details["lane"]) == ("open_barrier", "01")
    assert event.details["reason"] == "救护车进厂"
    assert event.actor_label == tenant_a.admin_username

    path = f"/api/v1/edge-devices/{box.id}/commands/{command['command_id']}"
    assert client.get(path).get_json()["state"] == "sent"
    bus.record_command_result(
        app.extensions["cleangate.redis"], command["command_id"], True, "opened"
    )
    status = client.get(path).get_json()
    assert (status["state"], status["detail"]) == ("ok", "opened")
    assert status["finished_at"] is not None


def test_show_text_and_resync(
    app: Flask, tenant_a: TenantFixture, box: Device, online: Any
) -> None:
    client, headers = _client(app, tenant_a.admin_username)
    url = f"/api/v1/edge-devices/{box.id}/commands"
    text = "冀B12345\n请靠边停车\n等待人工核查"
    response = client.post(
        url, json={"action": "show_text", "lane": "01", "text": text}, headers=headers
    )
    assert response.status_code == 202
    assert json.loads(_wait(online)["data"])["text"] == text  # type: ignore[index]
    assert client.post(url, json={"action": "resync"}, headers=headers).status_code == 202
    assert json.loads(_wait(online)["data"])["action"] == "resync"  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**OPEN, "reason": ""}, "reason"),
        ({**OPEN, "reason": "  急 "}, "reason"),
        ({k: v for k, v in OPEN.items() if k != "reason"}, "reason"),
        ({k: v for k, v in OPEN.items() if k != "gate"}, "gate"),
        ({k: v for k, v in OPEN.items() if k != "lane"}, "lane"),
        ({**OPEN, "lane": "1"}, "lane"),
        ({"action": "show_text"}, "text"),
        ({"action": "show_text", "text": "一\n二\n三\n四\n五"}, "text"),
        ({"action": "show_text", "text": "字" * 41}, "text"),
        ({"action": "launch_rocket"}, "action"),
        ({"action": "resync", "priority": "high"}, "priority"),
    ],
)
def test_invalid_commands_are_422_naming_the_field(
    app: Flask, tenant_a: TenantFixture, box: Device, online: Any, body: dict[str, Any], field: str
) -> None:
    client, headers = _client(app, tenant_a.admin_username)
    response = client.post(f"/api/v1/edge-devices/{box.id}/commands", json=body, headers=headers)
    assert response.status_code == 422
    assert field in response.get_json()["error"]["details"]["fields"]
    assert _wait(online, 0.2) is None  # nothing was sent
    assert _command_events(app, box.id) == []


def test_permissions_per_action(
    app: Flask, tenant_a: TenantFixture, box: Device, online: Any
) -> None:
    url = f"/api/v1/edge-devices/{box.id}/commands"
    viewer, viewer_headers = _as(app, tenant_a, Role.VIEWER)
    assert viewer.post(url, json=OPEN, headers=viewer_headers).status_code == 403
    assert viewer.post(url, json={"action": "resync"}, headers=viewer_headers).status_code == 403
    guard, guard_headers = _as(app, tenant_a, Role.GUARD)  # may release, may not configure
    assert guard.post(url, json=OPEN, headers=guard_headers).status_code == 202
    shown = guard.post(url, json={"action": "show_text", "text": "x"}, headers=guard_headers)
    assert shown.status_code == 403
    assert _wait(online) is not None
    assert _wait(online, 0.2) is None  # exactly one command went out


def test_pending_or_revoked_bridge_is_409(
    app: Flask, tenant_a: TenantFixture, box: Device, online: Any
) -> None:
    client, headers = _client(app, tenant_a.admin_username)
    pending = client.post(
        "/api/v1/edge-bridges",
        json={"site_id": str(tenant_a.site_id), "name": "未配对"},
        headers=headers,
    ).get_json()["device"]["id"]
    response = client.post(f"/api/v1/edge-devices/{pending}/commands", json=OPEN, headers=headers)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "device_not_active"

    assert client.post(f"/api/v1/edge-devices/{box.id}/revoke", headers=headers).status_code == 200
    response = client.post(f"/api/v1/edge-devices/{box.id}/commands", json=OPEN, headers=headers)
    assert response.status_code == 409
    assert _wait(online, 0.2) is None


def test_other_tenant_cannot_command_or_read_commands(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture, box: Device, online: Any
) -> None:
    client_a, headers_a = _client(app, tenant_a.admin_username)
    sent = client_a.post(f"/api/v1/edge-devices/{box.id}/commands", json=OPEN, headers=headers_a)
    command_id = sent.get_json()["command_id"]
    assert _wait(online) is not None

    client_b, headers_b = _client(app, tenant_b.admin_username)
    refused = client_b.post(f"/api/v1/edge-devices/{box.id}/commands", json=OPEN, headers=headers_b)
    assert refused.status_code == 404
    assert _wait(online, 0.2) is None
    assert client_b.get(f"/api/v1/edge-devices/{box.id}/commands/{command_id}").status_code == 404

    # B's own device does not unlock A's command either
    b_box = make_device(app, tenant_b.tenant_id, tenant_b.site_id)
    cross = client_b.get(f"/api/v1/edge-devices/{b_box.id}/commands/{command_id}")
    assert cross.status_code == 404
    assert client_a.get(f"/api/v1/edge-devices/{box.id}/commands/{'0' * 32}").status_code == 404
    assert client_a.get(f"/api/v1/edge-devices/{box.id}/commands/not-an-id").status_code == 404
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        device = session.get(EdgeDevice, box.id)
        assert device is not None
        assert device.status == "active"
