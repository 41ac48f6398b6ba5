"""Portal pages of the 一厂一策 plans: the plan in force, a draft edited through the form (errors
named, nothing saved), approval by the tenant admin only, and escaping of measure text."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from saas.db import get_database
from saas.models.identity import Role
from saas.models.plans import SitePlan
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture, csrf_from, login, make_user

XSS = '<img src=x onerror="alert(1)">'


def _login(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username) == 302
    return client


def _rows(app: Flask, tenant: TenantFixture) -> list[SitePlan]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        rows = session.query(SitePlan).order_by(SitePlan.version).all()
        session.expunge_all()
        return rows


def _form(page: str) -> dict[str, Any]:
    """The fields of the draft form as the browser would submit them."""
    form: dict[str, Any] = {}
    for name, value in re.findall(r'<input name="([^"]+)"[^>]*value="([^"]*)"', page):
        form[name] = value
    for name, rows in re.findall(r'<input type="hidden" name="(\w+-rows)" value="(\d+)"', page):
        form[name] = rows
    for name, body in re.findall(r'<textarea name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        form[name] = (
            body.replace("&#34;", '"').replace("&quot;", '"').replace("&lt;", "<")
            .replace("&gt;", ">").replace("&#39;", "'").replace("&amp;", "&")
        )  # fmt: skip
    for name, options in re.findall(r'<select name="([^"]+)">(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', options)
        form[name] = chosen.group(1) if chosen else ""
    return form


def test_a_draft_is_edited_through_the_form_and_approved(
    app: Flask, tenant_a: TenantFixture
) -> None:
    client = _login(app, tenant_a.admin_username)
    site_page = f"/portal/sites/{tenant_a.site_id}/plan"
    assert "一厂一策" in client.get("/portal/plans").get_data(as_text=True)
    shown = client.get(site_page).get_data(as_text=True)
    assert "内置模板" in shown
    assert "焦炉出焦时间延长至48小时" not in shown
    assert "炭化室高度6米以下焦炉出焦时间延长至36小时" in shown

    created = client.post(
        f"/portal/sites/{tenant_a.site_id}/plans",
        data={"csrf_token": csrf_from(client, site_page), "start": "current"},
    )
    assert created.status_code == 302
    edit_url = created.headers["Location"]
    page = client.get(edit_url).get_data(as_text=True)
    form = _form(page)
    assert form["orange-0-kind"] == "extend"
    assert form["orange-0-hours"] == "28"

    # A cut of 150 % and an unnamed process: both named, nothing stored.
    bad = {**form, "csrf_token": csrf_from(client, edit_url), "responsible_name": "王五",
           "responsible_phone": "13800001234", "orange-3-kind": "limit",
           "orange-3-process": "烧结", "orange-3-percent": "150", "red-3-kind": "stop"}  # fmt: skip
    refused = client.post(edit_url, data=bad)
    assert refused.status_code == 422
    text = refused.get_data(as_text=True)
    assert "橙色预警 · 第 4 行 限产比例" in text
    assert "红色预警 · 第 4 行 工序/设备" in text
    assert 'value="150"' in text  # the form keeps what was typed
    (row,) = _rows(app, tenant_a)
    assert row.responsible_name == ""
    assert len(row.document["production"]["orange"]) == 2

    transport = "停止使用国四及以下重型载货车辆（含燃气）进行运输\n<b>夜间禁行</b>"
    good = {**bad, "orange-3-percent": "30", "red-3-kind": "text", "red-3-text": XSS,
            "transport-orange": transport}  # fmt: skip
    saved = client.post(edit_url, data=good)
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    (row,) = _rows(app, tenant_a)
    assert row.document["production"]["orange"][2] == {
        "kind": "limit", "process": "烧结", "percent": 30,
    }  # fmt: skip
    assert row.document["policy"]["levels"]["orange"]["measures"][1] == "<b>夜间禁行</b>"
    page = client.get(edit_url).get_data(as_text=True)
    assert XSS not in page
    assert "&lt;img src=x onerror=" in page
    assert "<b>夜间禁行</b>" not in page
    assert "&lt;b&gt;夜间禁行&lt;/b&gt;" in page

    bad_json = {**good, "policy_json": "{not json"}
    assert client.post(edit_url, data=bad_json).status_code == 422

    approved = client.post(edit_url + "/approve", data={"csrf_token": csrf_from(client, edit_url)})
    assert approved.status_code == 302
    (row,) = _rows(app, tenant_a)
    assert row.status == "approved"
    assert "烧结限产30%" in client.get(site_page).get_data(as_text=True)
    assert json.dumps(row.document)  # stored as plain JSON


def test_a_manager_drafts_but_only_the_admin_approves(app: Flask, tenant_a: TenantFixture) -> None:
    manager = make_user(app, Role.ENV_MANAGER, tenant_a.tenant_id)
    client = _login(app, manager.username)
    site_page = f"/portal/sites/{tenant_a.site_id}/plan"
    created = client.post(
        f"/portal/sites/{tenant_a.site_id}/plans",
        data={"csrf_token": csrf_from(client, site_page), "start": "template:generic_c"},
    )
    edit_url = created.headers["Location"]
    page = client.get(edit_url).get_data(as_text=True)
    assert "须由企业管理员批准" in page
    refused = client.post(edit_url + "/approve", data={"csrf_token": csrf_from(client, edit_url)})
    assert refused.status_code == 403
    assert [r.status for r in _rows(app, tenant_a)] == ["draft"]
    viewer = make_user(app, Role.VIEWER, tenant_a.tenant_id)
    viewing = _login(app, viewer.username)
    assert "保存草稿" not in viewing.get(edit_url).get_data(as_text=True)
    blocked = viewing.post(edit_url, data={"csrf_token": csrf_from(viewing, edit_url)})
    assert blocked.status_code == 403


def test_another_tenant_cannot_open_the_plan(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    owner = _login(app, tenant_a.admin_username)
    created = owner.post(
        f"/portal/sites/{tenant_a.site_id}/plans",
        data={"csrf_token": csrf_from(owner, "/portal/plans"), "start": "current"},
    )
    edit_url = created.headers["Location"]
    other = _login(app, tenant_b.admin_username)
    assert other.get(edit_url).status_code == 404
    assert other.get(f"/portal/sites/{tenant_a.site_id}/plan").status_code == 404


def test_the_board_address_is_created_and_rotated_from_the_plan_page(
    app: Flask, tenant_a: TenantFixture
) -> None:
    client = _login(app, tenant_a.admin_username)
    site_page = f"/portal/sites/{tenant_a.site_id}/plan"
    assert "尚未生成公示大屏地址" in client.get(site_page).get_data(as_text=True)
    action = f"/portal/sites/{tenant_a.site_id}/board-token"
    assert client.post(action, data={"csrf_token": csrf_from(client, site_page)}).status_code == 302
    first = re.search(
        r'href="(http[^"]+/board/[^"]+)"', client.get(site_page).get_data(as_text=True)
    )
    assert first is not None
    token = first.group(1).rsplit("/", 1)[1]
    assert client.get(f"/board/{token}").status_code == 200
    client.post(action, data={"csrf_token": csrf_from(client, site_page)})
    assert client.get(f"/board/{token}").status_code == 404  # the old address is dead
    viewer = make_user(app, Role.VIEWER, tenant_a.tenant_id)
    viewing = _login(app, viewer.username)
    refused = viewing.post(action, data={"csrf_token": csrf_from(viewing, site_page)})
    assert refused.status_code == 403
