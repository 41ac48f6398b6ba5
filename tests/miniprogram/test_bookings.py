"""Visitor bookings end to end: the driver books in the mini-program, the enterprise decides in
its portal or API, the approved plate is in the site's snapshot and the gate's own decision
admits it inside the window only (alert rules still apply), and the visitor's WeChat subscribe
message goes through the outbox to the fake WeChat server."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from saas.compliance import Direction, GateEvent, Verdict, decide, plates
from saas.compliance.codes import AlertLevel
from saas.compliance.decision import DecisionContext
from saas.compliance.snapshot import Site as SnapshotSite
from saas.db import get_database
from saas.edge_hub import bus, snapshot
from saas.models.identity import AuditEvent
from saas.models.miniprogram import VisitorBooking
from saas.models.outbox import OutboxMessage
from saas.models.tenancy import Tenant, TenantStatus
from saas.notify.channels import Channel, build_channels
from saas.policy import alerts
from saas.settings import NotifySettings
from saas.tenancy import system_context, tenant_context
from tests.conftest import TenantFixture, api_csrf, csrf_from, login
from tests.miniprogram.conftest import Driver
from tests.miniprogram.conftest import login as mp_login
from tests.notify import fakes as f
from tests.notify.conftest import run_relay

BOOKING_TEMPLATE_ID = "tmpl-booking-0003"

# A gate policy that wants visitors booked and, under a red alert, refuses anything below 国六.
VISITOR_POLICY: dict[str, Any] = {
    "schema": "cleangate.policy/1",
    "id": "test-visitors",
    "version": "1",
    "settings": {
        "default_effect": "allow",
        "unknown_vehicle": "deny",
        "booking_required_for": ["visitor"],
        "booking_effect": "deny",
    },
    "levels": {
        "red": {
            "measures": ["国六以下车辆禁止进厂"],
            "rules": [
                {
                    "id": "red-cn6",
                    "effect": "deny",
                    "categories": ["transport", "visitor"],
                    "below_stage": "cn6a",
                }
            ],
        }
    },
}


def _window(start_in: timedelta = timedelta(hours=1), length: timedelta = timedelta(hours=2)):  # type: ignore[no-untyped-def]
    start = (datetime.now(UTC) + start_in).replace(microsecond=0)
    return start, start + length


def _body(tenant: TenantFixture, **overrides: Any) -> dict[str, Any]:
    start, end = _window()
    body: dict[str, Any] = {
        "site_id": str(tenant.site_id),
        "visitor_name": "张三",
        "phone": "138 0013 8000",
        "plate": "冀B·5A001",
        "company": "某某设备公司",
        "purpose": "设备检修",
        "host": "李四",
        "starts_at": start.isoformat(),
        "ends_at": end.isoformat(),
    }
    body.update(overrides)
    return body


def _book(driver: Driver, tenant: TenantFixture, **overrides: Any) -> dict[str, Any]:
    response = driver.post("/bookings", json=_body(tenant, **overrides))
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def _rows(app: Flask, tenant: TenantFixture) -> list[VisitorBooking]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        rows = list(session.scalars(select(VisitorBooking).order_by(VisitorBooking.created_at)))
        session.expunge_all()
        return rows


def _row(app: Flask, tenant: TenantFixture, booking_id: str) -> VisitorBooking:
    return next(r for r in _rows(app, tenant) if str(r.id) == booking_id)


def _audit_count(app: Flask, tenant: TenantFixture, prefix: str = "booking.") -> int:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.event.startswith(prefix))
            )
            or 0
        )


def _outbox(app: Flask, tenant: TenantFixture) -> list[OutboxMessage]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        rows = list(
            session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.template == "booking_result")
                .order_by(OutboxMessage.created_at)
            )
        )
        session.expunge_all()
        return rows


def _snapshot(app: Flask, tenant: TenantFixture, plate: str | None = None) -> dict[str, Any]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return snapshot.build(session, tenant.site_id, plate=plate)


def _channels(
    app: Flask, wechat: f.FakeWeChat, tmp_path: Path, **overrides: Any
) -> dict[str, Channel]:
    settings = NotifySettings(
        wechat_provider="wechat",
        wechat_app_id=f.WECHAT_APPID,
        wechat_app_secret=f.WECHAT_SECRET,
        wechat_api_base=wechat.url,
        wechat_template_alert="tmpl-alert-0001",
        wechat_template_alert_end="tmpl-end-0002",
        wechat_template_booking=BOOKING_TEMPLATE_ID,
        wechat_booking_page="pages/booking/detail",
        simulator_file=tmp_path / "sim.jsonl",
        send_timeout_seconds=5,
    )
    settings = replace(settings, **overrides)
    settings.check()
    return build_channels(settings, app.extensions["cleangate.redis"])


def _portal(app: Flask, tenant: TenantFixture) -> FlaskClient:
    client = app.test_client()
    assert login(client, tenant.admin_username) == 302
    return client


def _portal_approve(client: FlaskClient, tenant: TenantFixture, booking_id: str, note: str = ""):  # type: ignore[no-untyped-def]
    page = f"/portal/sites/{tenant.site_id}/bookings"
    return client.post(
        f"{page}/{booking_id}/approve",
        data={"csrf_token": csrf_from(client, page), "note": note},
    )


def _decision(site: SnapshotSite, plate: str, at: datetime):  # type: ignore[no-untyped-def]
    return decide(
        GateEvent(plate_text=plate, time=at, direction=Direction.IN),
        site.facts(plate, at),
        DecisionContext(policy=site.policy, time=at, alert_level=site.alert_level_at(at)),
    )


def test_driver_books_tenant_approves_gate_admits_inside_the_window(
    mp_app: Flask, driver: Driver, wechat: f.FakeWeChat, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    booked = _book(driver, tenant_a)
    assert booked["status"] == "pending"
    assert booked["status_text"] == "待审批"
    assert booked["plate"] == "冀B5A001"
    assert booked["phone"] == "13800138000"
    assert booked["site_name"] == "一号焦化厂"
    assert _snapshot(mp_app, tenant_a)["bookings"] == []  # pending admits nobody

    # The enterprise sees it in its portal and approves it there.
    portal = _portal(mp_app, tenant_a)
    page = portal.get(f"/portal/sites/{tenant_a.site_id}/bookings").get_data(as_text=True)
    assert "张三" in page
    assert "冀B5A001" in page
    rds = mp_app.extensions["cleangate.redis"]
    rds.set(bus.snapshot_key(tenant_a.site_id), "v-before")
    pubsub = rds.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(bus.CHANGES)
    try:
        answer = _portal_approve(portal, tenant_a, booked["id"], note="请走二号门")
        assert answer.status_code == 302
        notices = []
        for _ in range(20):
            message = pubsub.get_message(timeout=0.1)
            if message is not None:
                notices.append(json.loads(message["data"]))
            if any(n["site_id"] == str(tenant_a.site_id) for n in notices):
                break
    finally:
        pubsub.close()
    # The hubs were told after COMMIT: the cached version is gone and a change was published.
    assert rds.get(bus.snapshot_key(tenant_a.site_id)) is None
    mine = [n for n in notices if n["site_id"] == str(tenant_a.site_id)]
    assert mine
    assert "bookings" in mine[0]["what"]
    row = _row(mp_app, tenant_a, booked["id"])
    assert row.status == "approved"
    assert row.decided_by == tenant_a.admin_id
    assert row.decision_note == "请走二号门"
    assert _audit_count(mp_app, tenant_a, "booking.approve") == 1

    # The site's snapshot carries the booking; a red alert starts in the middle of the visit.
    start = datetime.fromisoformat(booked["starts_at"])
    end = datetime.fromisoformat(booked["ends_at"])
    with get_database(mp_app).sessionmaker() as session:
        alerts.issue(
            session,
            level="red",
            starts_at=start + timedelta(hours=1),
            ends_at=end + timedelta(hours=24),
            site_id=tenant_a.site_id,
            source="import:test",
            external_id=uuid.uuid4().hex,
            actor_label="test",
        )
        session.commit()
    body = _snapshot(mp_app, tenant_a)
    assert body["bookings"] == [
        {
            "id": booked["id"],
            "plate": "冀B5A001",
            "start": start.astimezone(UTC).isoformat(),
            "end": end.astimezone(UTC).isoformat(),
        }
    ]
    assert datetime.fromisoformat(body["bookings"][0]["start"]).utcoffset() == timedelta(0)
    assert _snapshot(mp_app, tenant_a, plate="冀B5A001")["bookings"] == body["bookings"]
    assert _snapshot(mp_app, tenant_a, plate="冀B99999")["bookings"] == []

    site = SnapshotSite({**body, "policy": VISITOR_POLICY})
    inside = _decision(site, "冀B5A001", start + timedelta(minutes=30))
    assert inside.verdict is Verdict.ALLOW, inside.reasons
    before = _decision(site, "冀B5A001", start - timedelta(minutes=10))
    assert before.verdict is Verdict.DENY
    assert "outside_booking" in before.reasons
    after = _decision(site, "冀B5A001", end + timedelta(minutes=10))
    assert after.verdict is not Verdict.ALLOW
    assert "outside_booking" in after.reasons
    # Booked, inside the window, but the red alert refuses a vehicle not proven 国六.
    under_red = _decision(site, "冀B5A001", start + timedelta(minutes=90))
    assert under_red.alert_level is AlertLevel.RED
    assert under_red.verdict is Verdict.DENY
    assert "alert_restriction" in under_red.reasons
    assert "outside_booking" not in under_red.reasons

    # The visitor is told through the outbox → relay → WeChat subscribe message.
    [notice] = _outbox(mp_app, tenant_a)
    assert notice.recipient == driver.openid
    assert notice.site_id is None  # not in the enterprise's notification list (openid)
    assert notice.idempotency_key == f"booking:{booked['id']}:approved"
    counts = run_relay(mp_app, tenant_a, _channels(mp_app, wechat, tmp_path))
    assert counts.sent == 1, counts
    [sent] = wechat.delivered
    assert sent["touser"] == driver.openid
    assert sent["template_id"] == BOOKING_TEMPLATE_ID
    assert sent["page"] == f"pages/booking/detail?id={booked['id']}"
    assert sent["data"]["thing1"]["value"] == "一号焦化厂"
    assert sent["data"]["phrase2"]["value"] == "已通过"
    assert sent["data"]["thing4"]["value"] == "请走二号门"
    beijing = start.astimezone(ZoneInfo("Asia/Shanghai"))
    assert sent["data"]["time3"]["value"] == beijing.strftime("%Y-%m-%d %H:%M")

    # The driver reads it back, across sites, and by id.
    mine_list = driver.get("/bookings").get_json()["items"]
    assert [b["id"] for b in mine_list] == [booked["id"]]
    assert mine_list[0]["status"] == "approved"
    one = driver.get(f"/bookings/{booked['id']}")
    assert one.status_code == 200
    assert one.get_json()["decision_note"] == "请走二号门"
    # Approving again changes nothing and tells nobody twice.
    again = _portal_approve(portal, tenant_a, booked["id"])
    assert again.status_code == 302
    assert len(_outbox(mp_app, tenant_a)) == 1
    assert _audit_count(mp_app, tenant_a, "booking.approve") == 1


def test_decline_through_the_api_tells_the_visitor_why(
    mp_app: Flask, driver: Driver, wechat: f.FakeWeChat, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    booked = _book(driver, tenant_a)
    client = _portal(mp_app, tenant_a)
    headers = {"X-CSRFToken": api_csrf(client)}
    url = f"/api/v1/sites/{tenant_a.site_id}/bookings/{booked['id']}/decline"
    # A decline needs its reason: 422 naming the field, nothing changed.
    empty = client.post(url, json={"note": ""}, headers=headers)
    assert empty.status_code == 422
    assert "note" in empty.get_json()["error"]["details"]["fields"]
    assert _row(mp_app, tenant_a, booked["id"]).status == "pending"
    assert _outbox(mp_app, tenant_a) == []

    listed = client.get(f"/api/v1/sites/{tenant_a.site_id}/bookings?status=pending")
    assert [b["id"] for b in listed.get_json()["items"]] == [booked["id"]]
    declined = client.post(url, json={"note": "当日不接待来访"}, headers=headers)
    assert declined.status_code == 200, declined.get_json()
    assert declined.get_json()["status"] == "declined"
    assert _snapshot(mp_app, tenant_a)["bookings"] == []
    assert _audit_count(mp_app, tenant_a, "booking.decline") == 1

    counts = run_relay(mp_app, tenant_a, _channels(mp_app, wechat, tmp_path))
    assert counts.sent == 1
    [sent] = wechat.delivered
    assert sent["touser"] == driver.openid
    assert sent["template_id"] == BOOKING_TEMPLATE_ID
    assert sent["data"]["phrase2"]["value"] == "未通过"
    assert sent["data"]["thing4"]["value"] == "当日不接待来访"
    # A declined booking cannot be approved afterwards (409) and stays declined.
    late = client.post(
        f"/api/v1/sites/{tenant_a.site_id}/bookings/{booked['id']}/approve",
        json={},
        headers=headers,
    )
    assert late.status_code == 409
    assert late.get_json()["error"]["code"] == "booking_state"
    assert driver.get(f"/bookings/{booked['id']}").get_json()["status"] == "declined"


def test_without_the_booking_template_the_notice_fails_for_good(
    mp_app: Flask, driver: Driver, wechat: f.FakeWeChat, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    booked = _book(driver, tenant_a)
    client = _portal(mp_app, tenant_a)
    assert _portal_approve(client, tenant_a, booked["id"]).status_code == 302
    channels = _channels(mp_app, wechat, tmp_path, wechat_template_booking="")
    counts = run_relay(mp_app, tenant_a, channels)
    assert counts.failed == 1
    assert counts.sent == 0
    assert counts.retried == 0
    [row] = _outbox(mp_app, tenant_a)
    assert row.status == "failed"
    assert "WECHAT_TEMPLATE_BOOKING" in (row.last_error or "")
    assert wechat.delivered == []
    assert _row(mp_app, tenant_a, booked["id"]).status == "approved"  # the booking stands


def test_bad_input_is_422_naming_the_fields_and_writes_nothing(
    mp_app: Flask, driver: Driver, tenant_a: TenantFixture
) -> None:
    now = datetime.now(UTC)
    cases: list[tuple[dict[str, Any], set[str]]] = [
        ({"phone": "12345"}, {"phone"}),
        ({"plate": "京A12"}, {"plate"}),
        ({"plate": "冀B5A001", "plate_color": "紫"}, {"plate_color"}),
        (
            {
                "starts_at": (now + timedelta(hours=3)).isoformat(),
                "ends_at": (now + timedelta(hours=2)).isoformat(),
            },
            {"ends_at"},
        ),
        (
            {
                "starts_at": (now - timedelta(hours=2)).isoformat(),
                "ends_at": (now + timedelta(hours=2)).isoformat(),
            },
            {"starts_at"},
        ),
        (
            {
                "starts_at": (now + timedelta(hours=1)).isoformat(),
                "ends_at": (now + timedelta(hours=26)).isoformat(),
            },
            {"ends_at"},
        ),
        (
            {
                "starts_at": (now + timedelta(days=31)).isoformat(),
                "ends_at": (now + timedelta(days=31, hours=1)).isoformat(),
            },
            {"starts_at"},
        ),
        ({"starts_at": "2030-01-01T10:00:00"}, {"starts_at"}),  # no time zone
        ({"visitor_name": ""}, {"visitor_name"}),
        ({"purpose": "x" * 201}, {"purpose"}),
        ({"phone": "1", "plate": "冀BO1234", "host": ""}, {"host"}),  # shape errors first
        ({"phone": "1", "plate": "冀BO1234"}, {"phone", "plate"}),  # all rules at once
        ({"extra": "field"}, {"extra"}),
    ]
    for overrides, fields in cases:
        response = driver.post("/bookings", json=_body(tenant_a, **overrides))
        assert response.status_code == 422, (overrides, response.get_json())
        error = response.get_json()["error"]
        assert set(error["details"]["fields"]) == fields, (overrides, error)
        assert all(error["details"]["fields"].values())
    bad_plate = driver.post("/bookings", json=_body(tenant_a, plate="冀BO1234")).get_json()
    assert bad_plate["error"]["details"]["reasons"] == [
        {"code": "forbidden_letter", "message": plates.ERROR_MESSAGES["forbidden_letter"]}
    ]
    assert "字母 I 和 O" in bad_plate["error"]["details"]["fields"]["plate"]
    missing = driver.post("/bookings", json={"site_id": str(tenant_a.site_id)})
    assert missing.status_code == 422
    assert {"visitor_name", "phone", "purpose", "host", "starts_at", "ends_at"} <= set(
        missing.get_json()["error"]["details"]["fields"]
    )
    assert _rows(mp_app, tenant_a) == []
    assert _audit_count(mp_app, tenant_a) == 0
    # On foot: no plate is fine; the booking never reaches the gate's snapshot.
    walk = _book(driver, tenant_a, plate=None, company=None)
    assert walk["plate"] is None
    # The same visitor twice in an overlapping window: 409, one row.
    again = driver.post("/bookings", json=_body(tenant_a, plate=None, company=None))
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "booking_overlap"
    assert len(_rows(mp_app, tenant_a)) == 1


def test_other_drivers_tenants_and_unknown_sites_answer_404(
    mp_app: Flask,
    driver: Driver,
    wechat: f.FakeWeChat,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
) -> None:
    booked = _book(driver, tenant_a)
    # A site id nobody has, and a suspended enterprise's site: 404, nothing written.
    unknown = driver.post("/bookings", json=_body(tenant_a, site_id=str(uuid.uuid4())))
    assert unknown.status_code == 404
    with get_database(mp_app).sessionmaker() as session, system_context("test: suspend"):
        tenant = session.get(Tenant, tenant_b.tenant_id)
        assert tenant is not None
        tenant.status = TenantStatus.SUSPENDED
        session.commit()
    suspended = driver.post("/bookings", json=_body(tenant_b))
    assert suspended.status_code == 404
    assert _rows(mp_app, tenant_b) == []

    # Another driver sees none of it and can touch none of it.
    other = mp_login(mp_app.test_client(), wechat)
    assert other.get("/bookings").get_json()["items"] == []
    assert other.get(f"/bookings/{booked['id']}").status_code == 404
    assert other.post(f"/bookings/{booked['id']}/cancel").status_code == 404
    assert driver.get(f"/bookings/{uuid.uuid4()}").status_code == 404
    assert _row(mp_app, tenant_a, booked["id"]).status == "pending"
    assert _audit_count(mp_app, tenant_a, "booking.cancel") == 0


def test_tenant_b_cannot_decide_tenant_a_bookings(
    mp_app: Flask, driver: Driver, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    booked = _book(driver, tenant_a)
    client = _portal(mp_app, tenant_b)
    headers = {"X-CSRFToken": api_csrf(client)}
    for site_id in (tenant_a.site_id, tenant_b.site_id):
        base = f"/api/v1/sites/{site_id}/bookings"
        assert (
            client.post(f"{base}/{booked['id']}/approve", json={}, headers=headers).status_code
            == 404
        )
        declined = client.post(
            f"{base}/{booked['id']}/decline", json={"note": "x"}, headers=headers
        )
        assert declined.status_code == 404
        page = f"/portal/sites/{site_id}/bookings"
        token = csrf_from(client, "/portal/bookings")
        assert (
            client.post(f"{page}/{booked['id']}/approve", data={"csrf_token": token}).status_code
            == 404
        )
        assert (
            client.post(f"{page}/{booked['id']}/decline", data={"csrf_token": token, "note": "x"})
            .status_code == 404
        )  # fmt: skip
    assert client.get(f"/api/v1/sites/{tenant_a.site_id}/bookings").status_code == 404
    assert client.get(f"/portal/sites/{tenant_a.site_id}/bookings").status_code == 404
    own = client.get(f"/api/v1/sites/{tenant_b.site_id}/bookings").get_json()
    assert own["items"] == []
    row = _row(mp_app, tenant_a, booked["id"])
    assert row.status == "pending"
    assert row.decided_by is None
    assert _outbox(mp_app, tenant_a) == []
    assert _audit_count(mp_app, tenant_a, "booking.approve") == 0


def test_the_visitor_cancels_before_the_start_only(
    mp_app: Flask, driver: Driver, tenant_a: TenantFixture
) -> None:
    pending = _book(driver, tenant_a)
    cancelled = driver.post(f"/bookings/{pending['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.get_json()["status"] == "cancelled"
    twice = driver.post(f"/bookings/{pending['id']}/cancel")
    assert twice.status_code == 409
    assert twice.get_json()["error"]["code"] == "booking_state"

    start, end = _window(timedelta(hours=5))
    approved = _book(
        driver, tenant_a, plate="冀B60001", starts_at=start.isoformat(), ends_at=end.isoformat()
    )
    assert _portal_approve(_portal(mp_app, tenant_a), tenant_a, approved["id"]).status_code == 302
    assert [b["id"] for b in _snapshot(mp_app, tenant_a)["bookings"]] == [approved["id"]]
    assert driver.post(f"/bookings/{approved['id']}/cancel").status_code == 200
    assert _snapshot(mp_app, tenant_a)["bookings"] == []  # the gate no longer admits it
    assert _audit_count(mp_app, tenant_a, "booking.cancel") == 2

    # Started already: too late to cancel (the window began a minute ago, within the grace).
    start, end = _window(timedelta(minutes=-1))
    started = _book(
        driver, tenant_a, plate="冀B60002", starts_at=start.isoformat(), ends_at=end.isoformat()
    )
    late = driver.post(f"/bookings/{started['id']}/cancel")
    assert late.status_code == 409
    assert late.get_json()["error"]["code"] == "booking_started"
    assert _row(mp_app, tenant_a, started["id"]).status == "pending"


@pytest.mark.parametrize("raw", ["", "thing1=site,broken"])
def test_booking_fields_setting_is_checked(raw: str, tmp_path: Path) -> None:
    from saas.settings import SettingsError

    env = {"WECHAT_BOOKING_FIELDS": raw}
    if raw:
        with pytest.raises(SettingsError, match="WECHAT_BOOKING_FIELDS"):
            NotifySettings.from_env(env, tmp_path)
    else:
        assert NotifySettings.from_env(env, tmp_path).wechat_booking_fields.startswith("thing1=")


def test_openapi_lists_the_booking_routes(mp_app: Flask) -> None:
    doc = mp_app.test_client().get("/mp/v1/openapi.json").get_json()
    assert set(doc["paths"]["/mp/v1/bookings"]) == {"get", "post"}
    assert doc["paths"]["/mp/v1/bookings/{booking_id}/cancel"]["post"]["security"] == [
        {"driver": []}
    ]
    api = mp_app.test_client().get("/api/v1/openapi.json").get_json()
    approve = api["paths"]["/api/v1/sites/{site_id}/bookings/{booking_id}/approve"]["post"]
    assert approve["x-permission"] == "site.write"
