"""Gates and lanes with coordinates (道闸登记) as the source of the gate registration: the API
validates every field (422 naming it, nothing written), each create/update writes a gate upload
revision in the same transaction, the relay delivers the row's coordinates to the reference
receiver over real HTTP; another tenant gets 404, a viewer 403; the ``regulator daily-counts``
command queues yesterday's per-gate counts."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from saas.db import get_database
from saas.models.identity import AuditEvent, Role
from saas.models.regulator import SiteGate
from saas.regulator.base import Credentials
from saas.regulator.cli import regulator_group
from saas.regulator.jobs import beijing_yesterday
from saas.regulator.relay import Breaker
from saas.regulator.signing import generate_private_key, public_material
from saas.regulator.sim import RegulatorSim, SimClient
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture, api_csrf, login, make_user
from tests.regulator.conftest import (
    ingest,
    make_config,
    passage_body,
    run_relay,
    stored_hj1321_config,
    uploads,
)

CLIENT_ID = "ent-gate-0001"
CLIENT_SECRET = "client-secret-gate-0001-very-secret"
ENT_CODE = "TJ120000000123"


@pytest.fixture(scope="module")
def rsa_key() -> str:
    return generate_private_key("rsa2")


@pytest.fixture
def sim(rsa_key: str, breaker_redis: redis.Redis) -> Iterator[RegulatorSim]:
    material = public_material("rsa2", Credentials(private_key=rsa_key))
    assert material is not None
    with RegulatorSim([SimClient(CLIENT_ID, CLIENT_SECRET, "rsa2", material, ENT_CODE)]) as running:
        key = Breaker.key(running.url)
        breaker_redis.delete(key, key + ":probe")
        yield running
        breaker_redis.delete(key, key + ":probe")


def hj1321_config(app: Flask, tenant: TenantFixture, url: str, private_key: str) -> uuid.UUID:
    return stored_hj1321_config(
        app, tenant, url, private_key, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        ent_code=ENT_CODE, name="天津市重点用车单位管控平台",
    )  # fmt: skip


def gate_body(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "gate_code": "1",
        "lane_code": "01",
        "name": "东门入口道闸",
        "direction": "in",
        "address": "天津市滨海新区<东门>",
        "longitude": "117.712345",
        "latitude": "39.012345",
        "manager_name": "张三",
        "manager_phone": "13800138000",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not ...}


def browser(app: Flask, username: str) -> tuple[FlaskClient, dict[str, str]]:
    client = app.test_client()
    assert login(client, username) == 302
    return client, {"X-CSRFToken": api_csrf(client)}


def url(tenant: TenantFixture, tail: str = "") -> str:
    return f"/api/v1/sites/{tenant.site_id}/gates{tail}"


def gates_of(app: Flask, tenant: TenantFixture) -> list[SiteGate]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        rows = list(session.scalars(select(SiteGate)))
        session.expunge_all()
        return rows


def gate_audits(app: Flask, tenant: TenantFixture) -> list[str]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return list(
            session.scalars(select(AuditEvent.event).where(AuditEvent.event.like("site_gate.%")))
        )


def test_create_is_201_and_queues_a_gate_registration(
    app: Flask, tenant_a: TenantFixture, sim: RegulatorSim, rsa_key: str
) -> None:
    config_id = hj1321_config(app, tenant_a, sim.url, rsa_key)
    client, headers = browser(app, tenant_a.admin_username)
    response = client.post(url(tenant_a), json=gate_body(), headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    out = response.get_json()
    assert (out["gate_code"], out["lane_code"], out["longitude"]) == ("1", "01", "117.712345")
    rows = uploads(app, tenant_a, kind="gate")
    assert [(r.key, r.config_id, r.gate_code, r.lane_code) for r in rows] == [
        ("gate:1:01:r1", config_id, "1", "01")
    ]
    assert gate_audits(app, tenant_a) == ["site_gate.create"]
    listed = client.get(url(tenant_a)).get_json()["items"]
    assert [g["id"] for g in listed] == [out["id"]]
    # The same codes again: 422 naming lane_code, nothing more written.
    again = client.post(url(tenant_a), json=gate_body(), headers=headers)
    assert again.status_code == 422
    assert list(again.get_json()["error"]["details"]["fields"]) == ["lane_code"]
    assert len(gates_of(app, tenant_a)) == 1
    assert len(uploads(app, tenant_a, kind="gate")) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"lane_code": "1"}, "lane_code"),
        ({"lane_code": "A1"}, "lane_code"),
        ({"latitude": ...}, "latitude"),
        ({"longitude": "200.5"}, "longitude"),
        ({"longitude": "12.0"}, "longitude"),
        ({"latitude": "60"}, "latitude"),
        ({"gate_code": "x" * 21}, "gate_code"),
        ({"direction": "sideways"}, "direction"),
        ({"manager_phone": "call me"}, "manager_phone"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_field_is_422_naming_it_and_writes_nothing(
    app: Flask, tenant_a: TenantFixture, changes: dict[str, Any], field: str
) -> None:
    make_config(app, tenant_a, "http://127.0.0.1:9")
    client, headers = browser(app, tenant_a.admin_username)
    response = client.post(url(tenant_a), json=gate_body(**changes), headers=headers)
    assert response.status_code == 422, response.get_data(as_text=True)
    assert list(response.get_json()["error"]["details"]["fields"]) == [field]
    assert gates_of(app, tenant_a) == []
    assert uploads(app, tenant_a, kind="gate") == []
    assert gate_audits(app, tenant_a) == []


def test_update_writes_a_new_revision_and_the_relay_sends_the_coordinates(
    app: Flask,
    tenant_a: TenantFixture,
    sim: RegulatorSim,
    rsa_key: str,
    breaker_redis: redis.Redis,
) -> None:
    hj1321_config(app, tenant_a, sim.url, rsa_key)
    client, headers = browser(app, tenant_a.admin_username)
    gate_id = client.post(url(tenant_a), json=gate_body(), headers=headers).get_json()["id"]
    counts = run_relay(app, tenant_a, breaker_redis)
    assert counts.accepted == 1
    [first] = sim.receipts("gate")
    assert first["record"]["longitude"] == "117.712345"
    assert first["record"]["latitude"] == "39.012345"
    assert first["record"]["laneName"] == "东门入口道闸"
    assert first["record"]["gateCode"] == "1"

    bad = client.patch(url(tenant_a, f"/{gate_id}"), json={"latitude": None}, headers=headers)
    assert bad.status_code == 422
    assert list(bad.get_json()["error"]["details"]["fields"]) == ["latitude"]
    assert len(uploads(app, tenant_a, kind="gate")) == 1

    moved = client.patch(
        url(tenant_a, f"/{gate_id}"),
        json={"longitude": "117.8", "latitude": "39.1"},
        headers=headers,
    )
    assert moved.status_code == 200, moved.get_data(as_text=True)
    assert [r.key for r in uploads(app, tenant_a, kind="gate")] == ["gate:1:01:r1", "gate:1:01:r2"]
    # An unchanged PATCH writes no revision.
    same = client.patch(url(tenant_a, f"/{gate_id}"), json={"latitude": "39.1"}, headers=headers)
    assert same.status_code == 200
    assert len(uploads(app, tenant_a, kind="gate")) == 2
    # Deactivation is reported too (status 0).
    off = client.patch(url(tenant_a, f"/{gate_id}"), json={"active": False}, headers=headers)
    assert off.status_code == 200
    assert run_relay(app, tenant_a, breaker_redis).accepted == 2
    records = {r["key"]: r["record"] for r in sim.receipts("gate")}
    assert (records["gate:1:01:r2"]["longitude"], records["gate:1:01:r2"]["latitude"]) == (
        "117.800000",
        "39.100000",
    )
    assert records["gate:1:01:r3"]["status"] == "0"


def test_another_tenant_gets_404_and_a_viewer_403(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    client, headers = browser(app, tenant_a.admin_username)
    gate_id = client.post(url(tenant_a), json=gate_body(), headers=headers).get_json()["id"]
    other, oheaders = browser(app, tenant_b.admin_username)
    assert other.get(url(tenant_a)).status_code == 404
    assert other.post(url(tenant_a), json=gate_body(), headers=oheaders).status_code == 404
    wrong_site = url(tenant_b, f"/{gate_id}")
    assert other.patch(wrong_site, json={"name": "x"}, headers=oheaders).status_code == 404
    assert other.delete(wrong_site, headers=oheaders).status_code == 404
    viewer = make_user(app, Role.VIEWER, tenant_a.tenant_id)
    vclient, vheaders = browser(app, viewer.username)
    assert vclient.get(url(tenant_a)).status_code == 200
    assert (
        vclient.post(url(tenant_a), json=gate_body(lane_code="02"), headers=vheaders).status_code
        == 403
    )
    assert (
        vclient.patch(
            url(tenant_a, f"/{gate_id}"), json={"name": "x"}, headers=vheaders
        ).status_code
        == 403
    )
    assert vclient.delete(url(tenant_a, f"/{gate_id}"), headers=vheaders).status_code == 403
    [gate] = gates_of(app, tenant_a)
    assert gate.name == "东门入口道闸"
    assert client.delete(url(tenant_a, f"/{gate_id}"), headers=headers).status_code == 204
    assert gates_of(app, tenant_a) == []


def test_enqueue_gates_without_gate_rows_keeps_the_ledger_fallback(
    app: Flask, tenant_a: TenantFixture
) -> None:
    from saas.models.tenancy import Site
    from saas.regulator import outbox

    make_config(app, tenant_a, "http://127.0.0.1:9")
    ingest(app, tenant_a, [passage_body(gate="7", lane="02")])
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant_a.site_id)
        assert site is not None
        assert outbox.enqueue_gates(session, site) == 1
        session.commit()
    assert [r.key for r in uploads(app, tenant_a, kind="gate")] == ["gate:7:02:r1"]


def test_daily_counts_command_queues_yesterday(app: Flask, tenant_a: TenantFixture) -> None:
    yesterday = beijing_yesterday()
    noon_beijing = datetime.combine(yesterday, datetime.min.time(), tzinfo=UTC) + timedelta(hours=4)
    make_config(app, tenant_a, "http://127.0.0.1:9")
    ingest(
        app,
        tenant_a,
        [
            passage_body("冀B10001", captured_at=noon_beijing, gate="1", lane="01"),
            passage_body("冀B10002", captured_at=noon_beijing, gate="1", lane="01"),
            passage_body("冀B10003", captured_at=noon_beijing, gate="2", lane="01"),
        ],
    )
    runner = app.test_cli_runner()
    result = runner.invoke(regulator_group, ["daily-counts"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["day"] == yesterday.isoformat()
    assert printed["sites"][str(tenant_a.site_id)] == 2  # other tests' sites may be listed too
    assert printed["queued"] >= 2
    keys = [r.key for r in uploads(app, tenant_a, kind="daily_count")]
    day = yesterday.isoformat()
    assert keys == [f"daily:{day}:1:01", f"daily:{day}:2:01"]
    # Replaying writes nothing new; a bad --day names the option.
    again = runner.invoke(regulator_group, ["daily-counts", "--site", str(tenant_a.site_id)])
    assert json.loads(again.output) == {
        "day": yesterday.isoformat(),
        "sites": {str(tenant_a.site_id): 0},
        "queued": 0,
    }
    bad = runner.invoke(regulator_group, ["daily-counts", "--day", "yesterday"])
    assert bad.exit_code != 0
    assert "--day" in bad.output


def test_portal_gate_form_names_bad_fields_escapes_and_saves(
    app: Flask, tenant_a: TenantFixture
) -> None:
    from tests.conftest import csrf_from

    make_config(app, tenant_a, "http://127.0.0.1:9")
    client = app.test_client()
    assert login(client, tenant_a.admin_username) == 302
    page = f"/portal/sites/{tenant_a.site_id}/regulator/gates"
    form = {
        "csrf_token": csrf_from(client, page),
        "gate_code": "3",
        "lane_code": "01",
        "name": "北门<script>alert(1)</script>",
        "direction": "out",
        "longitude": "200",
        "latitude": "",
        "address": "",
        "manager_phone": "",
        "active": "1",
    }
    bad = client.post(page, data=form)
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert 'id="error-longitude"' in html
    assert 'id="error-latitude"' in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html
    assert gates_of(app, tenant_a) == []
    assert uploads(app, tenant_a, kind="gate") == []
    # Without the CSRF token nothing is saved either.
    assert client.post(page, data={**form, "csrf_token": "", "longitude": "117.5"}).status_code in (
        400,
        403,
    )
    assert gates_of(app, tenant_a) == []

    good = client.post(page, data={**form, "longitude": "117.5", "latitude": "39.5"})
    assert good.status_code == 302
    [gate] = gates_of(app, tenant_a)
    assert (gate.direction, str(gate.longitude), gate.address) == ("out", "117.500000", None)
    assert [r.key for r in uploads(app, tenant_a, kind="gate")] == ["gate:3:01:r1"]
    listing = client.get(page).get_data(as_text=True)
    assert "&lt;script&gt;" in listing
    assert "<script>alert(1)</script>" not in listing

    edit = client.post(
        f"{page}/{gate.id}",
        data={**form, "longitude": "117.6", "latitude": "39.5", "name": "北门"},
    )
    assert edit.status_code == 302
    assert [r.key for r in uploads(app, tenant_a, kind="gate")] == ["gate:3:01:r1", "gate:3:01:r2"]
    blank = client.post(f"{page}/{gate.id}", data={**form, "latitude": "", "longitude": "117.6"})
    assert blank.status_code == 422
    assert 'id="error-latitude"' in blank.get_data(as_text=True)
    assert len(uploads(app, tenant_a, kind="gate")) == 2
