"""Alerts over the API: provider staff issue, end and import; tenants read their site's alert."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from flask import Flask
from flask.testing import FlaskClient

from saas.db import get_database
from saas.edge_hub import bus
from saas.models.alerts import Alert
from saas.models.identity import Role
from saas.models.tenancy import Site
from saas.tenancy import system_context, tenant_context
from tests.conftest import VALID_USCC, TenantFixture, api_csrf, login, make_user


def _staff(app: Flask, role: Role = Role.PROVIDER_OPS) -> tuple[FlaskClient, dict[str, str]]:
    user = make_user(app, role, None)
    client = app.test_client()
    assert login(client, user.username) == 302
    return client, {"X-CSRFToken": api_csrf(client)}


def _admin(app: Flask, tenant: TenantFixture) -> FlaskClient:
    client = app.test_client()
    assert login(client, tenant.admin_username) == 302
    return client


def _region(app: Flask, tenant: TenantFixture) -> str:
    region = f"13{uuid.uuid4().int % 90 + 10:02d}04"
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        site.region_code = region
        session.commit()
    return region


def test_ops_issue_and_end_a_city_alert_and_the_tenant_sees_it(
    app: Flask, tenant_a: TenantFixture
) -> None:
    region = _region(app, tenant_a)
    client, headers = _staff(app)
    pubsub = app.extensions["cleangate.redis"].pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(bus.CHANGES)
    starts = datetime.now(UTC) - timedelta(minutes=1)
    created = client.post(
        "/api/v1/alerts",
        json={"level": "orange", "region_code": region[:4] + "00", "starts_at": starts.isoformat(),
              "notice": "<b>启动橙色预警</b>"},
        headers=headers,
    )  # fmt: skip
    assert created.status_code == 201, created.get_json()
    alert = created.get_json()
    assert (alert["level"], alert["response"]) == ("orange", "II")
    notices = []
    for _ in range(50):
        message = pubsub.get_message(timeout=0.1)
        if message:
            notices.append(json.loads(message["data"]))
    assert {"site_id": str(tenant_a.site_id), "what": "alert"}.items() <= next(
        n for n in notices if n["site_id"] == str(tenant_a.site_id)
    ).items()
    seen = _admin(app, tenant_a).get(f"/api/v1/sites/{tenant_a.site_id}/alert").get_json()
    assert seen["headline"] == "当前重污染天气橙色预警，执行II级应急响应措施"
    assert seen["notice"] == "<b>启动橙色预警</b>"  # JSON: escaping is the page's job
    ended = client.post(f"/api/v1/alerts/{alert['id']}/end", headers=headers)
    assert ended.status_code == 200
    assert client.post(f"/api/v1/alerts/{alert['id']}/end", headers=headers).status_code == 409
    after = _admin(app, tenant_a).get(f"/api/v1/sites/{tenant_a.site_id}/alert").get_json()
    assert (after["level"], after["headline"]) == ("none", "当前无预警")
    past = _admin(app, tenant_a).get(
        f"/api/v1/sites/{tenant_a.site_id}/alert",
        query_string={"at": (starts + timedelta(seconds=30)).isoformat()},
    )
    assert past.get_json()["level"] == "orange"  # what applied then


def test_bad_alerts_are_refused_naming_the_field(app: Flask) -> None:
    client, headers = _staff(app)
    before = _count(app)
    for body, field in (
        ({"level": "blue", "region_code": "130200", "starts_at": "2026-01-12T10:00:00+08:00"},
         "level"),
        ({"level": "red", "region_code": "1302", "starts_at": "2026-01-12T10:00:00+08:00"},
         "region_code"),
        ({"level": "red", "region_code": "130200", "starts_at": "2026-01-12T10:00:00"},
         "starts_at"),
        ({"level": "red", "region_code": "130200", "starts_at": "2026-01-12T10:00:00+08:00",
          "ends_at": "2026-01-12T09:00:00+08:00"}, "ends_at"),
    ):  # fmt: skip
        response = client.post("/api/v1/alerts", json=body, headers=headers)
        assert response.status_code == 422, body
        assert field in json.dumps(response.get_json()["error"]), body
    assert _count(app) == before


def test_tenants_and_billing_staff_cannot_issue_alerts(app: Flask, tenant_a: TenantFixture) -> None:
    admin = _admin(app, tenant_a)
    body = {"level": "red", "region_code": "130200", "starts_at": "2026-01-12T10:00:00+08:00"}
    assert (
        admin.post("/api/v1/alerts", json=body, headers={"X-CSRFToken": api_csrf(admin)})
    ).status_code == 403
    assert admin.get("/api/v1/alerts").status_code == 403
    billing, headers = _staff(app, Role.PROVIDER_BILLING)
    assert billing.post("/api/v1/alerts", json=body, headers=headers).status_code == 403


FEED = {
    "code": 200,
    "msg": "操作成功",
    "data": [
        {
            "id": 0,
            "entNo": VALID_USCC,
            "entName": "测试焦化",
            "startTime": "2026-01-12 10:00:00",
            "endTime": "",
            "warningLevel": "橙色",
            "respondLevel": "II级",
            "controlMeasures": "禁止国四及以下进入",
        },
        {
            "id": 0,
            "entNo": "91000000000000000X",
            "entName": "别家",
            "startTime": "2026-01-12 10:00:00",
            "endTime": "",
            "warningLevel": "红色",
            "respondLevel": "I级",
            "controlMeasures": "停止公路运输",
        },
    ],
}


def test_the_regulator_feed_import_is_idempotent_and_ends_alerts(
    app: Flask, tenant_a: TenantFixture
) -> None:
    client, headers = _staff(app)
    feed = json.loads(json.dumps(FEED))
    feed["data"][0]["id"] = feed["data"][1]["id"] = uuid.uuid4().int % 10**9
    first = client.post("/api/v1/alerts/import/entrance-control", json=feed, headers=headers)
    assert first.status_code == 200, first.get_json()
    result = first.get_json()
    assert result["created"] >= 1  # every site carrying that USCC (the fixtures share one)
    assert result["unmatched"] == ["91000000000000000X"]
    mine = (
        _admin(app, tenant_a)
        .get(f"/api/v1/sites/{tenant_a.site_id}/alert", query_string={"at": "2026-01-12T03:00:00Z"})
        .get_json()
    )
    assert (mine["level"], mine["source"], mine["notice"]) == (
        "orange",
        "site_feed",
        "禁止国四及以下进入",
    )
    again = client.post("/api/v1/alerts/import/entrance-control", json=feed, headers=headers)
    assert again.get_json()["created"] == 0
    assert again.get_json()["unchanged"] == result["created"]
    feed["data"][0]["endTime"] = "2026-01-13 10:00:00"
    ended = client.post("/api/v1/alerts/import/entrance-control", json=feed, headers=headers)
    assert ended.get_json()["updated"] == result["created"]
    later = (
        _admin(app, tenant_a)
        .get(f"/api/v1/sites/{tenant_a.site_id}/alert", query_string={"at": "2026-01-13T03:00:00Z"})
        .get_json()
    )
    assert later["level"] == "none"


def test_a_bad_feed_record_writes_nothing_and_names_the_record(app: Flask) -> None:
    client, headers = _staff(app)
    feed = json.loads(json.dumps(FEED))
    feed["data"][0]["id"] = feed["data"][1]["id"] = uuid.uuid4().int % 10**9
    feed["data"][1]["warningLevel"] = "紫色"
    feed["data"][1]["respondLevel"] = ""
    before = _count(app)
    response = client.post("/api/v1/alerts/import/entrance-control", json=feed, headers=headers)
    assert response.status_code == 422
    assert response.get_json()["error"]["details"]["records"] == [
        {"index": "1", "field": "warningLevel", "message": "黄色/橙色/红色 required"}
    ]
    assert _count(app) == before
    bad = client.post("/api/v1/alerts/import/entrance-control", json={"code": 500}, headers=headers)
    assert bad.status_code == 422


def _count(app: Flask) -> int:
    with system_context("test"), get_database(app).sessionmaker() as session:
        return len(session.query(Alert.id).all())


def test_ops_move_an_alerts_end_and_bad_times_are_named(
    app: Flask, tenant_a: TenantFixture
) -> None:
    region = _region(app, tenant_a)
    client, headers = _staff(app)
    starts = datetime.now(UTC) - timedelta(hours=1)
    alert = client.post(
        "/api/v1/alerts",
        json={"level": "yellow", "region_code": region, "starts_at": starts.isoformat()},
        headers=headers,
    ).get_json()
    end_url = f"/api/v1/alerts/{alert['id']}/end"
    for bad in ("tomorrow", "2026-01-01T00:00:00", (starts - timedelta(days=1)).isoformat()):
        refused = client.post(end_url, json={"ends_at": bad}, headers=headers)
        assert refused.status_code == 422
        assert set(refused.get_json()["error"]["details"]["fields"]) == {"ends_at"}
    later = datetime.now(UTC) + timedelta(hours=6)
    moved = client.post(end_url, json={"ends_at": later.isoformat()}, headers=headers)
    assert moved.status_code == 200
    assert datetime.fromisoformat(moved.get_json()["ends_at"]) == later
    seen = _admin(app, tenant_a).get(f"/api/v1/sites/{tenant_a.site_id}/alert").get_json()
    assert seen["level"] == "yellow"  # still in force until the new end
    assert client.post(end_url, headers=headers).status_code == 200  # now
    after = _admin(app, tenant_a).get(f"/api/v1/sites/{tenant_a.site_id}/alert").get_json()
    assert after["level"] == "none"
