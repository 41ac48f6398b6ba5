"""Portal pages of the emergency execution record: the episode list, one record with its
violations, checking off a measure through the form (CSRF), errors naming the field with
nothing written, escaping, downloads, and another tenant's site answering 404."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook

from saas.models.identity import Role
from saas.models.plans import MeasureCheck
from tests.conftest import TenantFixture, csrf_from, login, make_user
from tests.policy.test_execution import Scenario, _rows, build_scenario

BEIJING = ZoneInfo("Asia/Shanghai")


def _login(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username) == 302
    return client


def _page(a: Scenario) -> str:
    return f"/portal/sites/{a.tenant.site_id}/alert-episodes/{a.key}"


def _local(moment: object) -> str:
    from datetime import datetime

    assert isinstance(moment, datetime)
    return moment.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M")


def test_episode_list_and_record_page(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    a = build_scenario(app, tenant_a)
    client = _login(app, tenant_a.admin_username)
    home = client.get("/portal/").get_data(as_text=True)
    assert 'href="/portal/alert-episodes"' in home

    listing = client.get(f"/portal/alert-episodes?site_id={tenant_a.site_id}")
    assert listing.status_code == 200
    html = listing.get_data(as_text=True)
    assert _page(a) in html  # the current episode links to its record
    assert "红色" in html
    assert "进行中" in html
    assert html.index(_page(a)) < html.index(a.earlier_start.strftime("%Y-%m-%dT%H"))
    bad = client.get(f"/portal/alert-episodes?site_id={tenant_a.site_id}&since=yesterday")
    assert bad.status_code == 422

    page = client.get(_page(a))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "冀B44444" in html
    assert "门岗张三" in html
    assert html.count("违规：低于要求的排放阶段") == 2
    assert "&lt;b&gt;急需&lt;/b&gt;原料" in html
    assert "<b>急需</b>" not in html
    assert "烧结机停产" in html
    assert f"{_page(a)}/export?format=pdf" in html

    xlsx = client.get(f"{_page(a)}/export?format=xlsx")
    assert xlsx.status_code == 200
    assert load_workbook(io.BytesIO(xlsx.data)).sheetnames[2] == "人工放行"
    assert client.get(f"{_page(a)}/export?format=pdf").mimetype == "application/pdf"

    # Tenant B: A's site and episode are simply not there.
    b_client = _login(app, tenant_b.admin_username)
    assert b_client.get(_page(a)).status_code == 404
    assert b_client.get(f"{_page(a)}/export?format=xlsx").status_code == 404
    assert b_client.get(f"/portal/alert-episodes?site_id={tenant_a.site_id}").status_code == 404
    own = b_client.get("/portal/alert-episodes").get_data(as_text=True)
    assert str(tenant_a.site_id) not in own


def test_checking_off_a_measure_through_the_form(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    a = build_scenario(app, tenant_a)
    client = _login(app, tenant_a.admin_username)
    action = f"{_page(a)}/measure-checks"
    token = csrf_from(client, _page(a))
    assert f'action="{action}"' in client.get(_page(a)).get_data(as_text=True)

    # Without the CSRF token: refused, nothing written.
    form = {"level": "orange", "measure_index": "1", "done_at": _local(a.now - timedelta(hours=4))}
    assert client.post(action, data=form).status_code == 400
    # A time in the future, a measure the plan lacks: the page names the field.
    future = client.post(action, data={**form, "csrf_token": token,
                                       "done_at": _local(a.now + timedelta(hours=1))})  # fmt: skip
    assert future.status_code == 422
    assert re.search(r"<li>done_at: [^<]+</li>", future.get_data(as_text=True))
    missing = client.post(action, data={**form, "csrf_token": token, "measure_index": "42"})
    assert missing.status_code == 422
    assert "<li>measure_index:" in missing.get_data(as_text=True)
    junk = client.post(action, data={**form, "csrf_token": token, "done_at": "soon"})
    assert junk.status_code == 422
    assert _rows(app, tenant_a, MeasureCheck) == 0

    # Tenant B posting to A's site: 404, nothing written.
    b_client = _login(app, tenant_b.admin_username)
    b_token = csrf_from(b_client, "/portal/alert-episodes")
    assert b_client.post(action, data={**form, "csrf_token": b_token}).status_code == 404
    # A viewer cannot check off (and sees no form).
    viewer = _login(app, make_user(app, Role.VIEWER, tenant_a.tenant_id).username)
    assert f'action="{action}"' not in viewer.get(_page(a)).get_data(as_text=True)
    v_token = csrf_from(viewer, "/portal/alert-episodes")
    assert viewer.post(action, data={**form, "csrf_token": v_token}).status_code == 403
    assert _rows(app, tenant_a, MeasureCheck) == 0

    done = client.post(action, data={**form, "csrf_token": token, "note": "<i>已停机</i>",
                                     "checked_by_name": "车间主任赵六"})  # fmt: skip
    assert done.status_code == 302
    html = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "已登记措施落实" in html
    assert "车间主任赵六" in html
    assert "&lt;i&gt;已停机&lt;/i&gt;" in html
    assert _rows(app, tenant_a, MeasureCheck) == 1
    twice = client.post(action, data={**form, "csrf_token": token})
    assert twice.status_code == 409
    assert "已登记落实" in twice.get_data(as_text=True)
    assert _rows(app, tenant_a, MeasureCheck) == 1
