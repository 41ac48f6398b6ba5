"""一厂一策 plans: drafting, validation, approval by a tenant admin, and the edges switching to
the plan in force."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from edge_bridge import config as edge_config
from edge_bridge.daemon import Daemon
from edge_bridge.drivers.simulator import SimulatedCamera
from saas.compliance import Verdict
from saas.db import get_database
from saas.edge_hub import snapshot as site_snapshot
from saas.models.identity import AuditEvent, Role
from saas.models.plans import SitePlan
from saas.models.tenancy import Site
from saas.tenancy import system_context, tenant_context
from tests.conftest import TenantFixture, api_csrf, login, make_user
from tests.edge_hub.harness import SIM_LANES, HubThread, make_box, until
from tests.ledger.edge_helpers import make_device
from tests.policy.test_alerts import CN4_TRUCK, _register_cn4_truck, _site

STOP_SAWS = {"kind": "stop", "process": "推台锯", "units_stopped": 2, "units_total": 4}


def _client(app: Flask, username: str) -> tuple[FlaskClient, dict[str, str]]:
    client = app.test_client()
    assert login(client, username) == 302
    return client, {"X-CSRFToken": api_csrf(client)}


def _steel_b(app: Flask, tenant: TenantFixture) -> None:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        site.industry, site.rating = "steel_long", "B"
        site.legal_representative, site.legal_representative_phone = "张三", "13912345678"
        site.contact_name, site.contact_phone = "王五", "13800001234"
        session.commit()


def _plans(app: Flask, tenant: TenantFixture) -> list[tuple[int, str, dict[str, Any]]]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        rows = session.query(SitePlan).order_by(SitePlan.version).all()
        return [(r.version, r.status, r.document) for r in rows]


def test_a_plan_is_drafted_from_the_template_edited_approved_and_superseded(
    app: Flask, tenant_a: TenantFixture
) -> None:
    _steel_b(app, tenant_a)
    client, headers = _client(app, tenant_a.admin_username)
    base = f"/api/v1/sites/{tenant_a.site_id}/plans"
    listed = client.get(base).get_json()
    assert (listed["in_force"], listed["default_template"], listed["items"]) == (
        None, "steel_b", [],
    )  # fmt: skip

    created = client.post(base, json={}, headers=headers)
    assert created.status_code == 201, created.get_json()
    draft = created.get_json()
    assert (draft["version"], draft["status"], draft["template"]) == (1, "draft", "steel_b")
    assert draft["responsible_name"] == "王五"  # the site contact, until changed
    assert "烧结机停产" in draft["measures"]["orange"]
    assert "停止使用国四及以下重型载货车辆（含燃气）进行运输" in draft["measures"]["orange"]

    # A bad document: every bad field is named, nothing is written.
    bad = dict(draft["document"])
    bad["production"] = {
        "orange": [{"kind": "limit", "process": "烧结机", "percent": 150}, {"kind": "explode"}],
        "purple": [],
    }
    refused = client.patch(f"{base}/{draft['id']}", json={"document": bad}, headers=headers)
    assert refused.status_code == 422
    fields = refused.get_json()["error"]["details"]["fields"]
    assert {
        "document.production.orange[0].percent",
        "document.production.orange[1].kind",
        "document.production.purple",
    } <= set(fields)
    assert _plans(app, tenant_a)[0][2] == draft["document"]
    blank = client.patch(f"{base}/{draft['id']}", json={"responsible_name": "  "}, headers=headers)
    assert blank.status_code == 422

    good = dict(draft["document"])
    good["production"] = {"orange": [STOP_SAWS], "red": [STOP_SAWS]}
    saved = client.patch(
        f"{base}/{draft['id']}",
        json={"document": good, "responsible_name": "李四", "responsible_phone": "13700005678",
              "city": "唐山市", "district": "路北区", "remarks": "省重点出口企业"},
        headers=headers,
    )  # fmt: skip
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["measures"]["orange"][0] == "停推台锯2台（共4台）"

    approved = client.post(f"{base}/{draft['id']}/approve", headers=headers)
    assert approved.status_code == 200, approved.get_json()
    assert approved.get_json()["status"] == "approved"
    frozen = client.patch(f"{base}/{draft['id']}", json={"remarks": "x"}, headers=headers)
    assert frozen.status_code == 409

    second = client.post(base, json={}, headers=headers).get_json()  # copies the plan in force
    assert (second["version"], second["responsible_name"]) == (2, "李四")
    assert second["document"]["production"]["orange"] == [STOP_SAWS]
    assert client.post(f"{base}/{second['id']}/approve", headers=headers).status_code == 200
    assert [(v, s) for v, s, _ in _plans(app, tenant_a)] == [(1, "superseded"), (2, "approved")]
    assert client.get(base).get_json()["in_force"] == second["id"]

    fresh = client.post(base, json={"template": "generic_c"}, headers=headers).get_json()
    assert (fresh["version"], fresh["template"]) == (3, "generic_c")
    assert client.post(base, json={"template": "nope"}, headers=headers).status_code == 422
    assert client.post(base, json={"from_version": 9}, headers=headers).status_code == 422
    withdrawn = client.post(f"{base}/{fresh['id']}/withdraw", headers=headers)
    assert withdrawn.get_json()["status"] == "withdrawn"
    with system_context("test"), get_database(app).sessionmaker() as session:
        events = [
            e.event
            for e in session.query(AuditEvent).filter(AuditEvent.tenant_id == tenant_a.tenant_id)
            if e.event.startswith("plan.")
        ]
    assert events.count("plan.approve") == 2
    assert "plan.withdraw" in events


def test_only_a_tenant_admin_approves(app: Flask, tenant_a: TenantFixture) -> None:
    manager = make_user(app, Role.ENV_MANAGER, tenant_a.tenant_id)
    viewer = make_user(app, Role.VIEWER, tenant_a.tenant_id)
    base = f"/api/v1/sites/{tenant_a.site_id}/plans"
    client, headers = _client(app, manager.username)
    draft = client.post(base, json={}, headers=headers)
    assert draft.status_code == 201
    plan_id = draft.get_json()["id"]
    assert client.post(f"{base}/{plan_id}/approve", headers=headers).status_code == 403
    viewing, view_headers = _client(app, viewer.username)
    assert viewing.post(base, json={}, headers=view_headers).status_code == 403
    assert viewing.get(f"{base}/{plan_id}").status_code == 200
    assert _plans(app, tenant_a)[0][1] == "draft"


def test_the_snapshot_carries_the_plan_in_force_with_masked_phones(
    app: Flask, tenant_a: TenantFixture
) -> None:
    _steel_b(app, tenant_a)
    from saas.policy import plans

    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        body = site_snapshot.build(session, tenant_a.site_id, base_url="https://cg.example")
        assert body["policy"]["id"] == "b_enterprise"  # the steel B template's gate policy
        section = body["plan"]
        assert section["plan_version"] is None
        assert section["template"] == "steel_b"
        assert (section["legal_phone"], section["responsible_phone"]) == (
            "139****5678", "138****1234",
        )  # fmt: skip
        assert section["cargo_url"] == f"https://cg.example/mp/cargo/{tenant_a.site_id}"
        assert section["measures"]["none"] == []
        site = session.get(Site, tenant_a.site_id)
        assert site is not None
        row = plans.create_draft(session, site, actor_id=None, template="generic_a")
        plans.update_draft(session, row, {"remarks": "出口企业"}, actor_id=None)
        plans.approve(session, row, actor_id=None)
        session.commit()
        body = site_snapshot.build(session, tenant_a.site_id)
        assert body["policy"]["id"] == "ordinary_baseline"
        assert body["plan"]["plan_version"] == 1
        assert body["plan"]["remarks"] == "出口企业"
        assert body["plan"]["measures"]["none"] == ["禁止国四及以下重型柴油货车入园"]
        assert "13912345678" not in str(body)


@pytest.mark.timeout(300)
def test_approving_a_plan_switches_the_gate_within_a_minute(
    app: Flask, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    _site(app, tenant_a, "130203")
    _register_cn4_truck(app, tenant_a)
    client, headers = _client(app, tenant_a.admin_username)
    base = f"/api/v1/sites/{tenant_a.site_id}/plans"
    with HubThread(app) as hub:
        device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
        box = make_box(tmp_path / "box", device, hub.url, SIM_LANES)

        async def scenario() -> None:
            daemon = Daemon(edge_config.load(box.config_path))
            await daemon.start()
            try:
                await daemon.supervisor.wait_started(5)
                await until(lambda: daemon.state.online and daemon.snapshot.synced)
                await until(lambda: "冀B44444" in daemon.snapshot.site.registry)
                camera = daemon.supervisor._entries["simulator:CAM-IN"].device
                assert isinstance(camera, SimulatedCamera)
                first = await camera.emit(CN4_TRUCK)
                assert first is not None
                assert first.verdict is Verdict.ALLOW
                before = daemon.snapshot.version

                def approve_stricter() -> None:
                    # The enterprise's own plan bars 国四 heavy diesel trucks on ordinary days too.
                    draft = client.post(base, json={"template": "generic_a"}, headers=headers)
                    plan_id = draft.get_json()["id"]
                    who = {"responsible_name": "李四", "responsible_phone": "13700005678"}
                    assert (
                        client.patch(f"{base}/{plan_id}", json=who, headers=headers).status_code
                        == 200
                    )
                    done = client.post(f"{base}/{plan_id}/approve", headers=headers)
                    assert done.status_code == 200

                started = time.monotonic()
                await asyncio.to_thread(approve_stricter)
                await until(lambda: daemon.snapshot.version != before)
                assert time.monotonic() - started < 60
                assert daemon.snapshot.site.body["plan"]["plan_version"] == 1
                again = await camera.emit(CN4_TRUCK)
                assert again is not None
                assert again.verdict is Verdict.DENY
            finally:
                await daemon.stop()

        asyncio.run(scenario())
