"""Regulator platform configuration through the API, against the reference receiver over real
HTTP: a malformed key or an unreachable endpoint is a 422 naming the field with nothing saved;
a good configuration saves with its secrets sealed and never shown (answers, audit rows, logs);
the connection test; updates keep secrets; permissions; another tenant's ids answer 404;
upload records, 补传 and the report rate."""

from __future__ import annotations

import json
import logging
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from saas.db import get_database
from saas.models.identity import AuditEvent, Role
from saas.models.regulator import RegulatorConfig, RegulatorUpload
from saas.regulator.base import Credentials
from saas.regulator.signing import generate_private_key, public_material
from saas.regulator.sim import RegulatorSim, SimClient
from saas.tenancy import tenant_context
from tests.conftest import VALID_USCC, TenantFixture, api_csrf, login, make_user
from tests.regulator.conftest import (
    breaker_redis,  # noqa: F401  (fixture)
    ingest,
    passage_body,
    run_relay,
)

CLIENT_ID = "ent-cfg-0001"
CLIENT_SECRET = "client-secret-cfg-0001-very-secret"
ENT_CODE = "TS130200000777"
BAD_KEY = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"


@pytest.fixture(scope="module")
def rsa_key() -> str:
    return generate_private_key("rsa2")


@pytest.fixture
def sim(rsa_key: str) -> Iterator[RegulatorSim]:
    material = public_material("rsa2", Credentials(private_key=rsa_key))
    assert material is not None
    with RegulatorSim([SimClient(CLIENT_ID, CLIENT_SECRET, "rsa2", material, ENT_CODE)]) as s:
        yield s


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def body(url: str, rsa_key: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "唐山市重点用车单位管控平台",
        "adapter": "hj1321-json",
        "endpoint": url,
        "signer": "rsa2",
        "client_id": CLIENT_ID,
        "enterprise_code": ENT_CODE,
        "uscc": VALID_USCC,
        "permit_no": "91350100M000100Y43001P",
        "client_secret": CLIENT_SECRET,
        "private_key": rsa_key,
    }
    data.update(changes)
    return data


def browser(app: Flask, username: str) -> tuple[FlaskClient, dict[str, str]]:
    client = app.test_client()
    assert login(client, username) == 302
    return client, {"X-CSRFToken": api_csrf(client)}


def configs_of(app: Flask, tenant: TenantFixture) -> list[RegulatorConfig]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        rows = list(session.scalars(select(RegulatorConfig)))
        session.expunge_all()
        return rows


def audit_rows(app: Flask, tenant: TenantFixture) -> list[AuditEvent]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        rows = list(session.scalars(select(AuditEvent).where(AuditEvent.event.like("regulator%"))))
        session.expunge_all()
        return rows


def url(tenant: TenantFixture, tail: str = "") -> str:
    return f"/api/v1/sites/{tenant.site_id}/regulator-configs{tail}"


def test_malformed_private_key_is_422_naming_it_and_saves_nothing(
    app: Flask, tenant_a: TenantFixture, sim: RegulatorSim, rsa_key: str
) -> None:
    client, headers = browser(app, tenant_a.admin_username)
    for bad in (BAD_KEY, "not a key at all", "ab" * 10):
        response = client.post(url(tenant_a), json=body(sim.url, bad), headers=headers)
        assert response.status_code == 422, response.get_data(as_text=True)
        fields = response.get_json()["error"]["details"]["fields"]
        assert list(fields) == ["private_key"]
        assert bad not in response.get_data(as_text=True)
    # An SM2 key that is not 64 hex digits names the same field.
    response = client.post(
        url(tenant_a), json=body(sim.url, "12345", signer="sm2"), headers=headers
    )
    assert response.status_code == 422
    assert "private_key" in response.get_json()["error"]["details"]["fields"]
    assert configs_of(app, tenant_a) == []
    assert audit_rows(app, tenant_a) == []
    assert sim.stats()["tokens_issued"] == 0  # the key is checked before the network


def test_unreachable_endpoint_is_422_naming_it_and_saves_nothing(
    app: Flask, tenant_a: TenantFixture, rsa_key: str
) -> None:
    client, headers = browser(app, tenant_a.admin_username)
    dead = f"http://127.0.0.1:{closed_port()}"
    response = client.post(url(tenant_a), json=body(dead, rsa_key), headers=headers)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert list(error["details"]["fields"]) == ["endpoint"]
    assert "无法连接" in error["details"]["fields"]["endpoint"]
    assert configs_of(app, tenant_a) == []


def test_form_errors_name_each_field(app: Flask, tenant_a: TenantFixture, rsa_key: str) -> None:
    client, headers = browser(app, tenant_a.admin_username)
    response = client.post(
        url(tenant_a),
        json=body(
            "ftp://user:pw@example.com",
            rsa_key,
            uscc="91350100M000100Y44",
            adapter="nope",
            signer="rsa1",
        ),
        headers=headers,
    )
    assert response.status_code == 422
    fields = response.get_json()["error"]["details"]["fields"]
    assert {"endpoint", "uscc", "adapter", "signer"} <= set(fields)
    response = client.post(
        url(tenant_a), json=body("https://user:pw@example.com", rsa_key), headers=headers
    )
    assert "endpoint" in response.get_json()["error"]["details"]["fields"]
    assert configs_of(app, tenant_a) == []


def test_refused_credentials_and_unregistered_key_name_their_fields(
    app: Flask, tenant_a: TenantFixture, sim: RegulatorSim
) -> None:
    client, headers = browser(app, tenant_a.admin_username)
    other_key = generate_private_key("rsa2")
    response = client.post(
        url(tenant_a), json=body(sim.url, other_key, client_secret="wrong-secret"), headers=headers
    )
    assert response.status_code == 422
    assert list(response.get_json()["error"]["details"]["fields"]) == ["client_secret"]
    response = client.post(url(tenant_a), json=body(sim.url, other_key), headers=headers)
    assert response.status_code == 422
    fields = response.get_json()["error"]["details"]["fields"]
    assert list(fields) == ["private_key"]
    assert "验签失败" in fields["private_key"]
    assert configs_of(app, tenant_a) == []


def test_good_config_saves_sealed_and_never_shows_a_secret(
    app: Flask,
    tenant_a: TenantFixture,
    sim: RegulatorSim,
    rsa_key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    ingest(app, tenant_a, [passage_body(gate="1", lane="01"), passage_body(gate="2", lane="01")])
    client, headers = browser(app, tenant_a.admin_username)
    response = client.post(url(tenant_a), json=body(sim.url, rsa_key), headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    out = response.get_json()
    expected_public = public_material("rsa2", Credentials(private_key=rsa_key))
    assert out["public_key"] == expected_public
    assert out["secrets_set"] == ["client_secret", "private_key"]
    assert out["last_test_ok"] is True
    assert "连接成功" in out["last_test_message"]
    answers = [
        response.get_data(as_text=True),
        client.get(url(tenant_a)).get_data(as_text=True),
        client.get(url(tenant_a, f"/{out['id']}")).get_data(as_text=True),
        client.get(f"/portal/sites/{tenant_a.site_id}/regulator").get_data(as_text=True),
        client.get(f"/portal/sites/{tenant_a.site_id}/regulator/configs/{out['id']}").get_data(
            as_text=True
        ),
        json.dumps([r.details for r in audit_rows(app, tenant_a)], ensure_ascii=False),
        caplog.text,
    ]
    key_body = rsa_key.splitlines()[5]  # a line of the private key's base64
    for text in answers:
        assert CLIENT_SECRET not in text
        assert key_body not in text
    [row] = configs_of(app, tenant_a)
    assert CLIENT_SECRET.encode() not in row.secret_box
    assert key_body.encode() not in row.secret_box
    assert row.created_by == tenant_a.admin_id
    events = [a.event for a in audit_rows(app, tenant_a)]
    assert events == ["regulator_config.create"]
    # Gate registration was queued for the gates the ledger has seen, for this platform.
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        gates = session.scalars(
            select(RegulatorUpload.key).where(RegulatorUpload.kind == "gate")
        ).all()
    assert sorted(gates) == ["gate:1:01:r1", "gate:2:01:r1"]


def test_update_keeps_secrets_and_retests_connection_changes(
    app: Flask, tenant_a: TenantFixture, sim: RegulatorSim, rsa_key: str
) -> None:
    client, headers = browser(app, tenant_a.admin_username)
    created = client.post(url(tenant_a), json=body(sim.url, rsa_key), headers=headers).get_json()
    one = url(tenant_a, f"/{created['id']}")
    [before] = configs_of(app, tenant_a)
    tokens = sim.stats()["tokens_issued"]
    # A rename needs no test and keeps the box as it is.
    response = client.patch(one, json={"name": "新名称", "client_secret": ""}, headers=headers)
    assert response.status_code == 200
    assert response.get_json()["name"] == "新名称"
    assert sim.stats()["tokens_issued"] == tokens
    [after] = configs_of(app, tenant_a)
    assert after.secret_box == before.secret_box
    # A wrong new secret fails the test: 422 naming it, nothing changed.
    response = client.patch(one, json={"client_secret": "wrong", "name": "x"}, headers=headers)
    assert response.status_code == 422
    assert list(response.get_json()["error"]["details"]["fields"]) == ["client_secret"]
    [unchanged] = configs_of(app, tenant_a)
    assert unchanged.name == "新名称"
    assert unchanged.secret_box == before.secret_box
    # An unreachable endpoint: 422 naming it, the old one kept.
    dead = f"http://127.0.0.1:{closed_port()}"
    response = client.patch(one, json={"endpoint": dead}, headers=headers)
    assert list(response.get_json()["error"]["details"]["fields"]) == ["endpoint"]
    assert configs_of(app, tenant_a)[0].endpoint == sim.url
    # A malformed new key: named, nothing changed.
    response = client.patch(one, json={"private_key": BAD_KEY}, headers=headers)
    assert list(response.get_json()["error"]["details"]["fields"]) == ["private_key"]
    assert configs_of(app, tenant_a)[0].secret_box == before.secret_box


def test_connection_test_records_its_outcome(
    app: Flask, tenant_a: TenantFixture, sim: RegulatorSim, rsa_key: str
) -> None:
    client, headers = browser(app, tenant_a.admin_username)
    created = client.post(url(tenant_a), json=body(sim.url, rsa_key), headers=headers).get_json()
    test_url = url(tenant_a, f"/{created['id']}/test")
    response = client.post(test_url, headers=headers)
    assert response.status_code == 200
    assert response.get_json()["ok"] is True
    sim.set_faults(down=True)
    response = client.post(test_url, headers=headers)
    result = response.get_json()
    assert result["ok"] is False
    assert result["field"] == "endpoint"
    [row] = configs_of(app, tenant_a)
    assert row.last_test_ok is False
    assert row.last_test_message.startswith("endpoint:")
    events = [a.event for a in audit_rows(app, tenant_a)]
    assert events.count("regulator_config.test") == 2


def test_skip_test_is_for_tenant_admins_only(
    app: Flask, tenant_a: TenantFixture, rsa_key: str
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    manager = make_user(app, Role.ENV_MANAGER, tenant_a.tenant_id)
    client, headers = browser(app, manager.username)
    response = client.post(url(tenant_a), json=body(dead, rsa_key, skip_test=True), headers=headers)
    assert response.status_code == 403
    assert configs_of(app, tenant_a) == []
    # The key is still checked when the test is skipped.
    admin, admin_headers = browser(app, tenant_a.admin_username)
    response = admin.post(
        url(tenant_a), json=body(dead, BAD_KEY, skip_test=True), headers=admin_headers
    )
    assert list(response.get_json()["error"]["details"]["fields"]) == ["private_key"]
    response = admin.post(
        url(tenant_a), json=body(dead, rsa_key, skip_test=True), headers=admin_headers
    )
    assert response.status_code == 201
    assert response.get_json()["last_test_at"] is None
    assert response.get_json()["public_key"].startswith("-----BEGIN PUBLIC KEY-----")


def test_viewer_cannot_change_and_another_tenant_gets_404(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture, sim: RegulatorSim, rsa_key: str
) -> None:
    admin, headers = browser(app, tenant_a.admin_username)
    created = admin.post(url(tenant_a), json=body(sim.url, rsa_key), headers=headers).get_json()
    viewer = make_user(app, Role.VIEWER, tenant_a.tenant_id)
    client, vheaders = browser(app, viewer.username)
    assert client.get(url(tenant_a)).status_code == 200
    one = url(tenant_a, f"/{created['id']}")
    assert client.patch(one, json={"name": "x"}, headers=vheaders).status_code == 403
    assert client.post(one + "/test", headers=vheaders).status_code == 403
    assert (
        client.post(url(tenant_a), json=body(sim.url, rsa_key), headers=vheaders).status_code == 403
    )
    resend = f"/api/v1/sites/{tenant_a.site_id}/regulator-uploads/resend"
    assert client.post(resend, json={}, headers=vheaders).status_code == 403
    other, oheaders = browser(app, tenant_b.admin_username)
    assert other.get(one).status_code == 404
    assert other.patch(one, json={"name": "x"}, headers=oheaders).status_code == 404
    assert other.post(one + "/test", headers=oheaders).status_code == 404
    # B's own site with A's config id: still 404.
    assert other.get(url(tenant_b, f"/{created['id']}")).status_code == 404
    assert configs_of(app, tenant_a)[0].name == created["name"]


def test_uploads_resend_and_report_rate(
    app: Flask,
    tenant_a: TenantFixture,
    sim: RegulatorSim,
    rsa_key: str,
    breaker_redis: redis.Redis,  # noqa: F811
) -> None:
    client, headers = browser(app, tenant_a.admin_username)
    assert (
        client.post(url(tenant_a), json=body(sim.url, rsa_key), headers=headers).status_code == 201
    )
    bodies = [passage_body(gate="1", lane="01") for _ in range(4)]
    ingest(app, tenant_a, bodies)
    sim.set_faults(reject_keys=[f"passage:{bodies[0]['event_id']}"], reject_message="车牌颜色不符")
    run_relay(app, tenant_a, breaker_redis)
    base = f"/api/v1/sites/{tenant_a.site_id}"
    rejected = client.get(f"{base}/regulator-uploads?status=rejected").get_json()["items"]
    assert [r["key"] for r in rejected] == [f"passage:{bodies[0]['event_id']}"]
    assert rejected[0]["platform_message"] == "车牌颜色不符"
    assert len(client.get(f"{base}/regulator-uploads?kind=passage").get_json()["items"]) == 4
    bad = client.get(f"{base}/regulator-uploads?status=weird")
    assert bad.status_code == 422
    assert "status" in bad.get_json()["error"]["details"]["fields"]

    rate = client.get(f"{base}/report-rate?period=day").get_json()
    [row] = [r for r in rate["items"] if r["gate_code"] == "1"]
    assert (row["captured"], row["on_time"], row["rate"], row["alarm"]) == (4, 3, "0.7500", True)
    month = client.get(f"{base}/report-rate?period=month").get_json()
    assert month["items"][0]["period"] == rate["items"][0]["period"][:7]
    wrong = client.get(f"{base}/report-rate?period=week&from=junk")
    assert set(wrong.get_json()["error"]["details"]["fields"]) == {"period"}
    wrong = client.get(f"{base}/report-rate?from=2025-02-01&to=2025-01-01")
    assert "to" in wrong.get_json()["error"]["details"]["fields"]

    # 补传 by status: the rejected one goes back to pending and is then accepted.
    sim.set_faults(reject_keys=[])
    bad = client.post(
        f"{base}/regulator-uploads/resend", json={"status": ["pending"]}, headers=headers
    )
    assert bad.status_code == 422
    assert "status" in json.dumps(bad.get_json())
    response = client.post(f"{base}/regulator-uploads/resend", json={}, headers=headers)
    assert response.get_json() == {"count": 1}
    run_relay(app, tenant_a, breaker_redis)
    assert client.get(f"{base}/regulator-uploads?status=rejected").get_json()["items"] == []
    # 补传 by id of another tenant's or an unknown record: nothing.
    response = client.post(
        f"{base}/regulator-uploads/resend", json={"ids": [str(uuid.uuid4())]}, headers=headers
    )
    assert response.get_json() == {"count": 0}
