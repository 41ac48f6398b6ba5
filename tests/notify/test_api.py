"""Contacts and notifications over the API: validation naming the field with nothing
written, permissions, tenant isolation, and no secret in any answer."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from saas.db import get_database
from saas.models.identity import AuditEvent, Role
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture, api_csrf, login, make_user
from tests.notify import fakes as f
from tests.notify.conftest import (
    channels_for,
    contacts_of,
    issue_for_site,
    run_relay,
    settings_for,
)

OPENID = "oAbCdEfGhIjKlMnOpQrStUvWx03"


def _client(app: Flask, username: str) -> tuple[FlaskClient, dict[str, str]]:
    client = app.test_client()
    assert login(client, username) == 302
    return client, {"X-CSRFToken": api_csrf(client)}


def _admin(app: Flask, tenant: TenantFixture) -> tuple[FlaskClient, dict[str, str]]:
    return _client(app, tenant.admin_username)


def _contacts_url(tenant: TenantFixture) -> str:
    return f"/api/v1/sites/{tenant.site_id}/contacts"


def test_contact_lifecycle(app: Flask, tenant_a: TenantFixture) -> None:
    client, headers = _admin(app, tenant_a)
    created = client.post(
        _contacts_url(tenant_a),
        json={"name": " 张主任 ", "phone": "138 0013 8000", "email": "zhang@example.cn",
              "notify_email": True},
        headers=headers,
    )  # fmt: skip
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["name"], body["phone"], body["notify_sms"], body["notify_email"]) == (
        "张主任", "13800138000", True, True,
    )  # fmt: skip
    listed = client.get(_contacts_url(tenant_a)).get_json()
    assert [c["id"] for c in listed["items"]] == [body["id"]]
    one = f"{_contacts_url(tenant_a)}/{body['id']}"
    patched = client.patch(one, json={"notify_sms": False, "wechat_openid": OPENID,
                                      "notify_wechat": True}, headers=headers)  # fmt: skip
    assert patched.status_code == 200, patched.get_json()
    after = patched.get_json()
    assert (after["notify_sms"], after["notify_wechat"], after["phone"]) == (
        False, True, "13800138000",
    )  # fmt: skip
    assert client.delete(one, headers=headers).status_code == 204
    assert client.get(_contacts_url(tenant_a)).get_json()["items"] == []
    assert client.delete(one, headers=headers).status_code == 404
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        events = session.scalars(
            select(AuditEvent.event).where(AuditEvent.event.like("site_contact.%"))
        ).all()
    assert sorted(events) == ["site_contact.create", "site_contact.delete", "site_contact.update"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "李工", "phone": "12345"}, "phone"),
        ({"name": "李工", "phone": "+1 415 555 0100"}, "phone"),
        ({"name": "李工"}, "phone"),  # SMS is on by default and needs a number
        ({"name": "李工", "notify_sms": False, "notify_email": True}, "email"),
        (
            {"name": "李工", "notify_sms": False, "email": "not-an-address", "notify_email": True},
            "email",
        ),
        ({"name": "李工", "notify_sms": False, "notify_wechat": True}, "wechat_openid"),
        ({"name": "李工", "notify_sms": False, "wechat_openid": "short"}, "wechat_openid"),
        ({"name": "", "phone": "13800138000"}, "name"),
        ({"name": "李工", "phone": "13800138000", "notify_sms": "yes"}, "notify_sms"),
        ({"name": "李工", "phone": "13800138000", "tenant_id": str(uuid.uuid4())}, "tenant_id"),
    ],
)
def test_bad_contacts_name_the_field_and_write_nothing(
    app: Flask, tenant_a: TenantFixture, body: dict[str, Any], field: str
) -> None:
    client, headers = _admin(app, tenant_a)
    before = len(contacts_of(app, tenant_a))
    response = client.post(_contacts_url(tenant_a), json=body, headers=headers)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert field in error["details"]["fields"], error
    assert len(contacts_of(app, tenant_a)) == before


def test_a_bad_patch_names_the_field_and_changes_nothing(
    app: Flask, tenant_a: TenantFixture
) -> None:
    client, headers = _admin(app, tenant_a)
    made = client.post(_contacts_url(tenant_a), json={"name": "王工", "phone": "13800138001"},
                       headers=headers).get_json()  # fmt: skip
    one = f"{_contacts_url(tenant_a)}/{made['id']}"
    for body, field in (
        ({"phone": None}, "phone"),  # SMS still on: the number cannot go
        ({"notify_email": True}, "email"),
        ({"name": None}, "name"),
        ({"active": None}, "active"),
        ({"site_id": str(uuid.uuid4())}, "site_id"),
    ):
        response = client.patch(one, json=body, headers=headers)
        assert response.status_code == 422, (body, response.get_json())
        assert field in response.get_json()["error"]["details"]["fields"]
    [row] = [c for c in contacts_of(app, tenant_a) if str(c.id) == made["id"]]
    assert (row.phone, row.name, row.notify_email, row.active) == (
        "13800138001", "王工", False, True,
    )  # fmt: skip


def test_viewers_read_and_only_writers_change(app: Flask, tenant_a: TenantFixture) -> None:
    viewer = make_user(app, Role.VIEWER, tenant_a.tenant_id)
    client, headers = _client(app, viewer.username)
    assert client.get(_contacts_url(tenant_a)).status_code == 200
    assert client.get(f"/api/v1/sites/{tenant_a.site_id}/notifications").status_code == 200
    refused = client.post(_contacts_url(tenant_a), json={"name": "x", "phone": "13800138002"},
                          headers=headers)  # fmt: skip
    assert refused.status_code == 403
    assert contacts_of(app, tenant_a) == []


def test_another_tenants_site_and_contacts_answer_404(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    a_client, a_headers = _admin(app, tenant_a)
    made = a_client.post(_contacts_url(tenant_a), json={"name": "甲", "phone": "13800138003"},
                         headers=a_headers).get_json()  # fmt: skip
    b_client, b_headers = _admin(app, tenant_b)
    assert b_client.get(_contacts_url(tenant_a)).status_code == 404
    assert b_client.get(f"/api/v1/sites/{tenant_a.site_id}/notifications").status_code == 404
    posted = b_client.post(_contacts_url(tenant_a), json={"name": "乙", "phone": "13800138004"},
                           headers=b_headers)  # fmt: skip
    assert posted.status_code == 404
    # A's contact id under B's own site: the same 404 as a missing one.
    foreign = f"{_contacts_url(tenant_b)}/{made['id']}"
    assert b_client.patch(foreign, json={"name": "乙"}, headers=b_headers).status_code == 404
    assert b_client.delete(foreign, headers=b_headers).status_code == 404
    assert b_client.get(_contacts_url(tenant_b)).get_json()["items"] == []
    [row] = contacts_of(app, tenant_a)
    assert row.name == "甲"


def test_notifications_list_status_and_errors_without_secrets(
    app: Flask, tenant_a: TenantFixture, servers: f.Fakes, tmp_path: Path
) -> None:
    app.extensions["cleangate.redis"].delete(f"cleangate:wechat:{f.WECHAT_APPID}_access_token")
    client, headers = _admin(app, tenant_a)
    for body in (
        {"name": "短信", "phone": "13800138005"},
        {"name": "微信", "notify_sms": False, "wechat_openid": OPENID, "notify_wechat": True},
    ):
        assert client.post(_contacts_url(tenant_a), json=body, headers=headers).status_code == 201
    servers.wechat.refusing.add(OPENID)
    issue_for_site(app, tenant_a)
    run_relay(app, tenant_a, channels_for(app, settings_for(servers, tmp_path)))
    response = client.get(f"/api/v1/sites/{tenant_a.site_id}/notifications")
    assert response.status_code == 200
    items = {i["channel"]: i for i in response.get_json()["items"]}
    assert (items["sms"]["status"], items["wechat"]["status"]) == ("sent", "failed")
    assert items["sms"]["event"] == "started"
    assert "请按一厂一策落实" in items["sms"]["text"]
    assert "43101" in items["wechat"]["last_error"]
    text = response.get_data(as_text=True)
    for secret in (f.WECHAT_SECRET, f.ALIYUN_SECRET, *servers.wechat.tokens):
        assert secret not in text
    failed = client.get(f"/api/v1/sites/{tenant_a.site_id}/notifications?status=failed")
    assert [i["channel"] for i in failed.get_json()["items"]] == ["wechat"]
    bad = client.get(f"/api/v1/sites/{tenant_a.site_id}/notifications?status=bogus")
    assert bad.status_code == 422
    assert "status" in bad.get_json()["error"]["details"]["fields"]


def test_the_routes_are_in_the_openapi_document(app: Flask) -> None:
    paths = app.test_client().get("/api/v1/openapi.json").get_json()["paths"]
    contacts = paths["/api/v1/sites/{site_id}/contacts"]
    assert set(contacts) == {"get", "post"}
    assert contacts["post"]["x-permission"] == "site.write"
    assert set(paths["/api/v1/sites/{site_id}/contacts/{contact_id}"]) == {"patch", "delete"}
    assert paths["/api/v1/sites/{site_id}/notifications"]["get"]["x-permission"] == "site.read"
