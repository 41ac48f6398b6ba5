"""Edge-bridge pairing: a one-time code from the portal/API, redeemed by the box with its key."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from saas.api import devices as device_api
from saas.auth import throttle
from saas.db import get_database
from saas.edge_hub import bus
from saas.models.identity import AuditEvent
from saas.models.ledger import EdgeDevice
from saas.tenancy import system_context, tenant_context
from tests.conftest import SHARED_SITE_NAME, TenantFixture, api_csrf, login
from tests.ledger.edge_helpers import Device, passage, post_batch


def _admin(app: Flask, tenant: TenantFixture) -> tuple[FlaskClient, dict[str, str]]:
    client = app.test_client()
    assert login(client, tenant.admin_username) == 302
    return client, {"X-CSRFToken": api_csrf(client)}


def _create_bridge(
    app: Flask, tenant: TenantFixture, name: str = "1号门网关"
) -> tuple[FlaskClient, dict[str, str], dict[str, Any]]:
    client, headers = _admin(app, tenant)
    response = client.post(
        "/api/v1/edge-bridges",
        json={"site_id": str(tenant.site_id), "name": name},
        headers=headers,
    )
    assert response.status_code == 201, response.get_json()
    return client, headers, response.get_json()


def _key() -> tuple[Ed25519PrivateKey, str]:
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return key, base64.b64encode(raw).decode()


def _ip() -> str:
    """A fresh client address per call site: the throttle counts per address."""
    b = uuid.uuid4().bytes
    return f"10.{b[0]}.{b[1]}.{b[2]}"


def _pair(app: Flask, code: str, public_key: str, ip: str | None = None, **extra: Any) -> Any:
    """As the box does it: no cookies, no CSRF token."""
    return app.test_client().post(
        "/api/v1/edge/pair",
        json={"code": code, "public_key": public_key, **extra},
        environ_base={"REMOTE_ADDR": ip or _ip()},
    )


def _device(app: Flask, tenant_id: uuid.UUID, device_id: uuid.UUID | str) -> EdgeDevice:
    with tenant_context(tenant_id), get_database(app).sessionmaker() as session:
        device = session.get(EdgeDevice, uuid.UUID(str(device_id)))
        assert device is not None
        return device


def _events(app: Flask, event: str) -> list[AuditEvent]:
    with get_database(app).sessionmaker() as session, system_context("test: audit"):
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.event == event).order_by(AuditEvent.id)
            )
        )


def _audit_count(app: Flask) -> int:
    with get_database(app).sessionmaker() as session, system_context("test: audit"):
        return session.scalar(select(func.count()).select_from(AuditEvent)) or 0


def test_pairing_happy_path(app: Flask, tenant_a: TenantFixture) -> None:
    _client, _headers, created = _create_bridge(app, tenant_a)
    code = created["pairing_code"]
    device_id = created["device"]["id"]
    settings = app.config["CLEANGATE_SETTINGS"]

    assert len(code) == 8
    assert set(code) <= set(device_api.PAIRING_ALPHABET)
    assert not set(code) & set("0O1IL")
    assert created["device"]["status"] == "pending"
    assert created["device"]["public_key"] is None
    assert created["device"]["online"] is False
    assert (
        created["pair_command"] == f"cleangate-edge pair --cloud {settings.base_url} --code {code}"
    )
    expires = datetime.fromisoformat(created["pairing_expires_at"])
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)

    stored = _device(app, tenant_a.tenant_id, device_id)
    assert stored.pairing_code_hash == hashlib.sha256(code.encode()).digest()
    assert stored.public_key is None
    assert stored.status == "pending"
    issued = [e for e in _events(app, "device.pairing_code") if e.details["device_id"] == device_id]
    assert len(issued) == 1
    assert issued[0].tenant_id == tenant_a.tenant_id
    assert code not in str(issued[0].details)

    key, public = _key()
    # people type codes in lower case, with a dash: both are fine
    response = _pair(app, f"{code[:4].lower()}-{code[4:]}", public, software_version="1.4.2")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body == {
        "device_id": device_id,
        "tenant_id": str(tenant_a.tenant_id),
        "site_id": str(tenant_a.site_id),
        "site_name": SHARED_SITE_NAME,
        "name": "1号门网关",
        "hub_url": settings.edge_hub_url,
    }
    paired = _device(app, tenant_a.tenant_id, device_id)
    assert paired.status == "active"
    assert paired.public_key == base64.b64decode(public)
    assert paired.software_version == "1.4.2"
    assert paired.paired_at is not None
    assert paired.pairing_code_hash is None
    assert paired.pairing_expires_at is None
    event = [e for e in _events(app, "device.paired") if e.details["device_id"] == device_id]
    assert len(event) == 1
    assert event[0].tenant_id == tenant_a.tenant_id

    # the paired key now signs edge requests for the tenant's site
    box = Device(uuid.UUID(device_id), tenant_a.tenant_id, tenant_a.site_id, key)
    assert post_batch(app.test_client(), box, [passage()]).status_code == 200


def test_code_is_one_time(app: Flask, tenant_a: TenantFixture) -> None:
    _client, _headers, created = _create_bridge(app, tenant_a)
    _, first = _key()
    assert _pair(app, created["pairing_code"], first).status_code == 200
    _, second = _key()
    again = _pair(app, created["pairing_code"], second)
    assert again.status_code == 400
    error = again.get_json()["error"]
    assert error["code"] == "invalid_pairing_code"
    assert "code" in error["details"]["fields"]
    device = _device(app, tenant_a.tenant_id, created["device"]["id"])
    assert device.public_key == base64.b64decode(first)


def test_expired_code_is_refused(app: Flask, tenant_a: TenantFixture) -> None:
    _client, _headers, created = _create_bridge(app, tenant_a)
    device_id = uuid.UUID(created["device"]["id"])
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        device = session.get(EdgeDevice, device_id)
        assert device is not None
        device.pairing_expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()
    _, public = _key()
    response = _pair(app, created["pairing_code"], public)
    assert response.status_code == 400
    assert response.get_json()["error"]["details"]["fields"]["code"]
    device_after = _device(app, tenant_a.tenant_id, device_id)
    assert device_after.status == "pending"
    assert device_after.public_key is None
    failures = [
        e
        for e in _events(app, "device.pair_failure")
        if e.details.get("device_id") == str(device_id)
    ]
    assert [e.details["reason"] for e in failures] == ["expired"]


def test_wrong_code_is_audited_and_throttled(
    app: Flask, tenant_a: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one fixed throttle window, so the test cannot straddle a minute boundary
    monkeypatch.setattr(throttle, "time", SimpleNamespace(time=lambda: 1_900_000_000.0))
    _client, _headers, created = _create_bridge(app, tenant_a)
    ip = _ip()
    _, public = _key()
    wrong = "ZZZZ2222" if created["pairing_code"] != "ZZZZ2222" else "YYYY3333"
    before = len(_events(app, "device.pair_failure"))
    for _attempt in range(device_api.PAIR_ATTEMPTS_PER_MINUTE):
        response = _pair(app, wrong, public, ip)
        assert response.status_code == 400
        assert response.get_json()["error"]["details"]["fields"] == {
            "code": "unknown, already used or expired"
        }
    failures = _events(app, "device.pair_failure")[before:]
    mine = [e for e in failures if e.ip == ip]
    assert len(mine) == device_api.PAIR_ATTEMPTS_PER_MINUTE
    assert all(e.tenant_id is None and e.details["reason"] == "unknown_code" for e in mine)

    # the 11th attempt from that address is refused before any code is looked at — even a valid one
    limited = _pair(app, created["pairing_code"], public, ip)
    assert limited.status_code == 429
    assert limited.get_json()["error"]["code"] == "rate_limited"
    assert _device(app, tenant_a.tenant_id, created["device"]["id"]).status == "pending"
    # another address is not affected
    assert _pair(app, created["pairing_code"], public).status_code == 200


def test_bad_public_key_is_422_and_writes_nothing(app: Flask, tenant_a: TenantFixture) -> None:
    _client, _headers, created = _create_bridge(app, tenant_a)
    code = created["pairing_code"]
    count = _audit_count(app)
    for bad in ("not base64!", "A" * 44, base64.b64encode(b"x" * 31).decode()):
        response = _pair(app, code, bad)
        assert response.status_code == 422, bad
        error = response.get_json()["error"]
        assert error["code"] == "validation_failed"
        assert list(error["details"]["fields"]) == ["public_key"]
    assert _audit_count(app) == count
    device = _device(app, tenant_a.tenant_id, created["device"]["id"])
    assert device.status == "pending"
    assert device.public_key is None
    assert device.pairing_code_hash is not None  # still usable with a proper key
    _, public = _key()
    assert _pair(app, code, public).status_code == 200


def test_unknown_fields_and_missing_code_are_422(app: Flask) -> None:
    _, public = _key()
    response = _pair(app, "", public)
    assert response.status_code == 422
    assert "code" in response.get_json()["error"]["details"]["fields"]
    response = _pair(app, "ABCD2345", public, tenant_id=str(uuid.uuid4()))
    assert response.status_code == 422
    assert "tenant_id" in response.get_json()["error"]["details"]["fields"]


def test_fresh_code_replaces_the_old_one_and_repairs_an_active_bridge(
    app: Flask, tenant_a: TenantFixture
) -> None:
    client, headers, created = _create_bridge(app, tenant_a)
    device_id = created["device"]["id"]
    fresh = client.post(f"/api/v1/edge-devices/{device_id}/pairing-code", headers=headers)
    assert fresh.status_code == 201
    assert fresh.headers["Cache-Control"] == "no-store"
    new_code = fresh.get_json()["pairing_code"]
    assert new_code != created["pairing_code"]
    _, first = _key()
    assert _pair(app, created["pairing_code"], first).status_code == 400
    assert _pair(app, new_code, first).status_code == 200

    # re-pair (replacement box): the old key works until the new code is redeemed
    repair = client.post(f"/api/v1/edge-devices/{device_id}/pairing-code", headers=headers)
    assert repair.status_code == 201
    assert repair.get_json()["device"]["status"] == "active"
    assert _device(app, tenant_a.tenant_id, device_id).public_key == base64.b64decode(first)
    _, second = _key()
    assert _pair(app, repair.get_json()["pairing_code"], second).status_code == 200
    assert _device(app, tenant_a.tenant_id, device_id).public_key == base64.b64decode(second)
    repaired = [e for e in _events(app, "device.paired") if e.details["device_id"] == device_id]
    assert [e.details["repair"] for e in repaired] == [False, True]

    # a revoked bridge gets no code, and an outstanding code dies with it
    outstanding = client.post(f"/api/v1/edge-devices/{device_id}/pairing-code", headers=headers)
    code = outstanding.get_json()["pairing_code"]
    assert (
        client.post(f"/api/v1/edge-devices/{device_id}/revoke", headers=headers).status_code == 200
    )
    refused = client.post(f"/api/v1/edge-devices/{device_id}/pairing-code", headers=headers)
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "device_revoked"
    _, third = _key()
    assert _pair(app, code, third).status_code == 400
    assert _device(app, tenant_a.tenant_id, device_id).status == "revoked"


def test_list_and_detail_merge_presence(app: Flask, tenant_a: TenantFixture) -> None:
    client, _headers, created = _create_bridge(app, tenant_a)
    _, public = _key()
    assert _pair(app, created["pairing_code"], public, software_version="1.0.0").status_code == 200
    device_id = created["device"]["id"]
    _, _, other = _create_bridge(app, tenant_a, "2号门网关")
    redis = app.extensions["cleangate.redis"]
    bus.set_presence(
        redis,
        device_id,
        online=1,
        hub="test",
        outbox_depth=12,
        clock_skew_ms=-340,
        software_version="1.0.1",
    )
    try:
        listed = client.get("/api/v1/edge-devices?limit=200").get_json()["items"]
        by_id = {d["id"]: d for d in listed}
        mine = by_id[device_id]
        assert mine["online"] is True
        assert mine["outbox_depth"] == 12
        assert mine["clock_skew_ms"] == -340
        assert mine["software_version"] == "1.0.1"
        assert mine["last_seen"] is not None
        assert by_id[other["device"]["id"]]["online"] is False
        assert by_id[other["device"]["id"]]["pairing_expires_at"] is not None
        detail = client.get(f"/api/v1/edge-devices/{device_id}")
        assert detail.status_code == 200
        assert detail.get_json()["online"] is True
        assert detail.get_json()["software_version"] == "1.0.1"
    finally:
        redis.delete(bus.presence_key(device_id))
    assert client.get(f"/api/v1/edge-devices/{device_id}").get_json()["online"] is False
    assert client.get(f"/api/v1/edge-devices/{device_id}").get_json()["software_version"] == "1.0.0"


def test_other_tenant_cannot_see_or_issue_codes(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    _client, _headers, created = _create_bridge(app, tenant_a)
    device_id = created["device"]["id"]
    client_b, headers_b = _admin(app, tenant_b)
    listed = client_b.get("/api/v1/edge-devices?limit=200").get_json()["items"]
    assert device_id not in {d["id"] for d in listed}
    missing = client_b.get(f"/api/v1/edge-devices/{uuid.uuid4()}")
    foreign = client_b.get(f"/api/v1/edge-devices/{device_id}")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.get_json() == missing.get_json()
    for path in ("pairing-code", "revoke"):
        response = client_b.post(f"/api/v1/edge-devices/{device_id}/{path}", headers=headers_b)
        assert response.status_code == 404, path
    on_a_site = client_b.post(
        "/api/v1/edge-bridges",
        json={"site_id": str(tenant_a.site_id), "name": "x"},
        headers=headers_b,
    )
    assert on_a_site.status_code == 404
    device = _device(app, tenant_a.tenant_id, device_id)
    assert device.status == "pending"
    assert device.pairing_code_hash == hashlib.sha256(created["pairing_code"].encode()).digest()


def test_creating_a_bridge_needs_site_write(app: Flask, tenant_a: TenantFixture) -> None:
    from saas.models.identity import Role
    from tests.conftest import make_user

    viewer = make_user(app, Role.VIEWER, tenant_a.tenant_id)
    client = app.test_client()
    assert login(client, viewer.username) == 302
    response = client.post(
        "/api/v1/edge-bridges",
        json={"site_id": str(tenant_a.site_id), "name": "x"},
        headers={"X-CSRFToken": api_csrf(client)},
    )
    assert response.status_code == 403
    # and a browser session without the CSRF token is refused as everywhere else
    admin, _headers = _admin(app, tenant_a)
    no_csrf = admin.post(
        "/api/v1/edge-bridges", json={"site_id": str(tenant_a.site_id), "name": "x"}
    )
    assert no_csrf.status_code in {400, 403}
