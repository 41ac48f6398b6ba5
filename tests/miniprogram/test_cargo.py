"""Cargo registration by QR (POST/GET/DELETE /mp/v1/cargo) and the portal's read-only list."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import update

from saas.db import get_database
from saas.models.tenancy import Tenant, TenantStatus
from saas.tenancy import system_context
from tests.conftest import TenantFixture
from tests.conftest import login as portal_login
from tests.ledger.edge_helpers import make_device, passage, post_batch
from tests.miniprogram.conftest import Driver, login
from tests.notify import fakes as f


def _body(site_id: uuid.UUID, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "site_id": str(site_id),
        "gate": "1",
        "plate": "冀b·12345",
        "plate_color": "黄",
        "name": "焦炭",
        "quantity": 32.5,
        "unit": "t",
        "carrier": "顺达物流",
        "origin": "唐山港",
    }
    body.update(over)
    return {k: v for k, v in body.items() if v is not None}


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _portal(app: Flask, tenant: TenantFixture):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert portal_login(client, tenant.admin_username) == 302
    return client


def test_register_list_and_attach_to_the_next_passage(
    mp_app: Flask, driver: Driver, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    settings = mp_app.config["CLEANGATE_SETTINGS"]
    mp_app.config["CLEANGATE_SETTINGS"] = replace(
        settings, miniprogram=replace(settings.miniprogram, cargo_window_minutes=30)
    )
    created = driver.post("/cargo", json=_body(tenant_a.site_id))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["plate"] == "冀B12345"
    assert body["plate_color"] == "yellow"
    assert body["site"] == {"id": str(tenant_a.site_id), "name": "一号焦化厂"}
    assert (body["gate"], body["status"], body["passage"]) == ("1", "waiting", None)
    assert body["quantity"] == 32.5
    assert body["destination"] is None
    assert body["replaced"] == []
    assert _when(body["expires_at"]) - _when(body["created_at"]) == timedelta(minutes=30)

    device = make_device(mp_app, tenant_a.tenant_id, tenant_a.site_id)
    item = passage("冀B12345", minutes_ago=0)
    assert post_batch(mp_app.test_client(), device, [item]).status_code == 200

    mine = driver.get("/cargo").get_json()["items"]
    assert [r["id"] for r in mine] == [body["id"]]
    assert mine[0]["status"] == "attached"
    assert mine[0]["status_text"]
    assert mine[0]["passage"]["event_id"] == item["event_id"]
    assert _when(mine[0]["passage"]["captured_at"]) == _when(item["captured_at"])

    # The passage in tenant A's ledger carries the cargo; tenant B cannot see the passage.
    portal_a = _portal(mp_app, tenant_a)
    record = portal_a.get(f"/api/v1/passages/{item['event_id']}").get_json()["record"]
    assert record["cargo"]["name"] == "焦炭"
    assert record["cargo"]["carrier"] == "顺达物流"
    assert record["cargo"]["registration_id"] == body["id"]
    portal_b = _portal(mp_app, tenant_b)
    assert portal_b.get(f"/api/v1/passages/{item['event_id']}").status_code == 404


def test_bad_input_is_422_and_writes_nothing(driver: Driver, tenant_a: TenantFixture) -> None:
    site = tenant_a.site_id
    bad_plate = driver.post("/cargo", json=_body(site, plate="冀I1234"))
    assert bad_plate.status_code == 422
    error = bad_plate.get_json()["error"]
    assert error["code"] == "plate_invalid"
    assert "plate" in error["details"]["fields"]
    assert {r["code"] for r in error["details"]["reasons"]} >= {"forbidden_letter"}
    assert all(r["message"] for r in error["details"]["reasons"])

    nowhere = driver.post("/cargo", json=_body(site, origin=None))
    assert nowhere.status_code == 422
    assert set(nowhere.get_json()["error"]["details"]["fields"]) == {"origin", "destination"}

    for field, value in (("quantity", 0), ("quantity", -3), ("quantity", "多"), ("name", "")):
        response = driver.post("/cargo", json=_body(site, **{field: value}))
        assert response.status_code == 422, (field, value)
        assert field in response.get_json()["error"]["details"]["fields"]

    unit = driver.post("/cargo", json=_body(site, unit="桶"))
    assert unit.status_code == 422
    assert set(unit.get_json()["error"]["details"]["fields"]) == {"unit"}
    color = driver.post("/cargo", json=_body(site, plate_color="紫"))
    assert set(color.get_json()["error"]["details"]["fields"]) == {"plate_color"}
    extra = driver.post("/cargo", json=_body(site, tenant_id=str(uuid.uuid4())))
    assert extra.status_code == 422
    gate = driver.post("/cargo", json=_body(site, gate="1; drop"))
    assert "gate" in gate.get_json()["error"]["details"]["fields"]
    unknown_site = driver.post("/cargo", json=_body(uuid.uuid4()))
    assert unknown_site.status_code == 404
    assert driver.get("/cargo").get_json()["items"] == []
    assert driver.get("/cargo?limit=0").status_code == 422
    assert (
        driver.post("/cargo", json=_body(site, destination="一号焦化厂", origin=None)).status_code
        == 201
    )


def test_unauthenticated_is_401(mp_app: Flask, tenant_a: TenantFixture) -> None:
    client = mp_app.test_client()
    assert client.post("/mp/v1/cargo", json=_body(tenant_a.site_id)).status_code == 401
    assert client.get("/mp/v1/cargo").status_code == 401
    assert client.delete(f"/mp/v1/cargo/{uuid.uuid4()}").status_code == 401


def test_suspended_tenant_site_is_404(
    mp_app: Flask, driver: Driver, tenant_a: TenantFixture
) -> None:
    with get_database(mp_app).sessionmaker() as session, system_context("test: suspend"):
        session.execute(
            update(Tenant)
            .where(Tenant.id == tenant_a.tenant_id)
            .values(status=TenantStatus.SUSPENDED)
        )
        session.commit()
    assert driver.post("/cargo", json=_body(tenant_a.site_id)).status_code == 404


def test_new_registration_replaces_and_cancel(
    mp_app: Flask, driver: Driver, wechat: f.FakeWeChat, tenant_a: TenantFixture
) -> None:
    first = driver.post("/cargo", json=_body(tenant_a.site_id)).get_json()
    second = driver.post("/cargo", json=_body(tenant_a.site_id, name="洗精煤")).get_json()
    assert second["replaced"] == [first["id"]]
    statuses = {r["id"]: r["status"] for r in driver.get("/cargo").get_json()["items"]}
    assert statuses == {first["id"]: "cancelled", second["id"]: "waiting"}
    listed = driver.get("/cargo").get_json()["items"]
    assert [r["id"] for r in listed] == [second["id"], first["id"]]  # newest first

    other = login(mp_app.test_client(), wechat)
    assert other.delete(f"/cargo/{second['id']}").status_code == 404  # not theirs
    assert other.get("/cargo").get_json()["items"] == []
    assert driver.delete(f"/cargo/{uuid.uuid4()}").status_code == 404

    cancelled = driver.delete(f"/cargo/{second['id']}")
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled"
    again = driver.delete(f"/cargo/{second['id']}")
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "cargo_not_waiting"
    # A cancelled registration no longer fills a passage.
    device = make_device(mp_app, tenant_a.tenant_id, tenant_a.site_id)
    item = passage("冀B12345")
    post_batch(mp_app.test_client(), device, [item])
    portal_a = _portal(mp_app, tenant_a)
    record = portal_a.get(f"/api/v1/passages/{item['event_id']}").get_json()["record"]
    assert record["cargo"] is None


def test_attached_registration_cannot_be_cancelled(
    mp_app: Flask, driver: Driver, tenant_a: TenantFixture
) -> None:
    reg = driver.post("/cargo", json=_body(tenant_a.site_id)).get_json()
    device = make_device(mp_app, tenant_a.tenant_id, tenant_a.site_id)
    post_batch(mp_app.test_client(), device, [passage("冀B12345")])
    response = driver.delete(f"/cargo/{reg['id']}")
    assert response.status_code == 409
    assert response.get_json()["error"]["details"]["status"] == "attached"


def test_driver_sees_own_registrations_across_tenants_and_portals_see_their_own(
    mp_app: Flask,
    driver: Driver,
    wechat: f.FakeWeChat,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
) -> None:
    at_a = driver.post("/cargo", json=_body(tenant_a.site_id, name="A 厂的焦炭")).get_json()
    at_b = driver.post("/cargo", json=_body(tenant_b.site_id, name="B 厂的煤")).get_json()
    assert at_a["status"] == at_b["status"] == "waiting"  # same plate, other site: no replace
    other = login(mp_app.test_client(), wechat)
    other.post("/cargo", json=_body(tenant_b.site_id, plate="津A20003"))
    mine = driver.get("/cargo").get_json()["items"]
    assert [(r["id"], r["site"]["id"]) for r in mine] == [
        (at_b["id"], str(tenant_b.site_id)),
        (at_a["id"], str(tenant_a.site_id)),
    ]
    first_page = driver.get("/cargo?limit=1").get_json()
    assert [r["id"] for r in first_page["items"]] == [at_b["id"]]
    rest = driver.get("/cargo", query_string={"cursor": first_page["next_cursor"]}).get_json()
    assert [r["id"] for r in rest["items"]] == [at_a["id"]]
    assert rest["next_cursor"] is None

    portal_a = _portal(mp_app, tenant_a)
    page_a = portal_a.get("/portal/cargo")
    assert page_a.status_code == 200
    html_a = page_a.get_data(as_text=True)
    assert "A 厂的焦炭" in html_a
    assert "冀B12345" in html_a
    assert "B 厂的煤" not in html_a
    assert "津A20003" not in html_a
    assert portal_a.get(f"/portal/sites/{tenant_a.site_id}/cargo?status=waiting").status_code == 200

    portal_b = _portal(mp_app, tenant_b)
    html_b = portal_b.get("/portal/cargo").get_data(as_text=True)
    assert "B 厂的煤" in html_b
    assert "津A20003" in html_b
    assert "A 厂的焦炭" not in html_b
    assert at_a["id"] not in html_b
    assert portal_b.get(f"/portal/sites/{tenant_a.site_id}/cargo").status_code == 404
    cancelled_only = portal_b.get(f"/portal/sites/{tenant_b.site_id}/cargo?status=cancelled")
    assert "B 厂的煤" not in cancelled_only.get_data(as_text=True)


def test_portal_shows_the_attached_passage(
    mp_app: Flask, driver: Driver, tenant_a: TenantFixture
) -> None:
    driver.post("/cargo", json=_body(tenant_a.site_id, name="<b>焦炭</b>"))
    device = make_device(mp_app, tenant_a.tenant_id, tenant_a.site_id)
    item = passage("冀B12345")
    post_batch(mp_app.test_client(), device, [item])
    html = _portal(mp_app, tenant_a).get("/portal/cargo").get_data(as_text=True)
    assert f"/portal/passages/{item['event_id']}" in html
    assert "&lt;b&gt;焦炭&lt;/b&gt;" in html
    assert "<b>焦炭</b>" not in html
    assert "32.5 t" in html


def test_openapi_documents_the_cargo_routes(mp_app: Flask) -> None:
    paths = mp_app.test_client().get("/mp/v1/openapi.json").get_json()["paths"]
    assert {"post", "get"} <= set(paths["/mp/v1/cargo"])
    assert "delete" in paths["/mp/v1/cargo/{registration_id}"]
