"""The cloud board ``/board/<token>``: server-rendered state, JSON, tokens (API and CLI),
escaping, caching and security headers. The live feed: test_feed.py; a real browser:
test_browser.py; the edge's local copy: test_edge_board.py."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from saas.board import tokens
from saas.board.cli import board_cli
from saas.db import get_database
from saas.edge_hub.feeds import check_feed_token
from saas.models.identity import AuditEvent, Role
from saas.models.tenancy import Site
from saas.tenancy import tenant_context
from tests.board.helpers import (
    LEGAL_PHONE,
    RESPONSIBLE_PHONE,
    XSS_MEASURE,
    XSS_PLATE,
    board_token,
    cn4_passage,
    device_for,
    end_alert,
    issue_alert,
    push,
    seed_site,
)
from tests.conftest import TenantFixture, api_csrf, login, make_user
from tests.ledger.edge_helpers import passage


def _page(app: Flask, token: str) -> str:
    response = app.test_client().get(f"/board/{token}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def test_the_page_is_complete_on_the_server(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    seed_site(app, tenant_a)
    token = board_token(app, tenant_a)
    device = device_for(app, tenant_a)
    push(app, device, cn4_passage("津A12345", minutes_ago=1))
    push(app, device_for(app, tenant_b), passage("冀B99999"))  # same site name, other tenant
    response = app.test_client().get(f"/board/{token}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "XX市工业企业落实重污染天气应急响应措施\u201c一厂一策\u201d公示" in page
    assert '<h2 id="b-enterprise">一号焦化厂</h2>' in page
    assert "XX区" in page
    assert "省重点出口企业" in page
    assert "B级" in page
    assert "张XX" in page
    assert "139****5678" in page
    assert "138****4321" in page
    assert LEGAL_PHONE not in page
    assert RESPONSIBLE_PHONE not in page
    assert '<p id="b-headline" class="b-headline">当前无预警</p>' in page
    assert 'class="b-alert alert-none"' in page
    assert '<li class="b-none">当前无需执行的应急减排措施</li>' in page  # steel B: none today
    assert '<p id="b-plate" class="b-plate">津A12345</p>' in page
    assert "verdict-deny" in page
    assert "禁止进入" in page
    assert "不符合国V及以上标准" in page
    assert "冀B99999" not in page  # tenant B's truck
    assert "<svg" in page
    assert "扫描二维码" in page
    # the script's config: the hub's viewer feed for this site, with a valid feed token
    config = re.search(r'<script type="application/json" id="board-config">(.*?)</script>', page)
    assert config is not None
    ws = re.search(r'"ws": "([^"]+)"', config.group(1))
    assert ws is not None
    site_id, feed = ws.group(1).split("/feed/")[1].split("?token=")
    assert site_id == str(tenant_a.site_id)
    secret = app.config["CLEANGATE_SETTINGS"].secret_key
    assert check_feed_token(secret, tenant_a.site_id, feed)
    assert not check_feed_token(secret, tenant_b.site_id, feed)
    # headers: never cached, no inline script allowed, the hub the only other connection
    assert response.headers["Cache-Control"] == "no-store"
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in csp
    assert "unsafe-inline" not in csp
    assert "connect-src 'self' ws://" in csp
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "<script>" not in page  # only the JSON data block and the external script


def test_an_ordinary_day_lists_the_ordinary_day_rules(app: Flask, tenant_a: TenantFixture) -> None:
    page = _page(app, board_token(app, tenant_a))  # a B-rated coking plant on its template
    assert "当前无预警" in page
    assert "<li>汽车运输全部采用新能源或国六排放标准车辆</li>" in page
    assert '<p id="b-plate" class="b-plate">—</p>' in page
    assert "等待车辆" in page


def test_json_is_the_same_view_with_a_fresh_feed(app: Flask, tenant_a: TenantFixture) -> None:
    region = seed_site(app, tenant_a)
    token = board_token(app, tenant_a)
    push(app, device_for(app, tenant_a), cn4_passage("津A54321", verdict="ALLOW"))
    alert_id = issue_alert(app, region, "orange", datetime.now(UTC) - timedelta(minutes=5))
    try:
        response = app.test_client().get(f"/board/{token}.json")
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        data = response.get_json()
        assert data["level"] == "orange"
        assert data["headline"] == "当前重污染天气橙色预警，执行II级应急响应措施"
        assert data["started"].startswith("启动时间：")
        assert any("国四及以下" in line for line in data["measures"])  # the orange rules
        assert data["last"]["plate"] == "津A54321"
        assert (data["last"]["verdict"], data["last"]["verdict_class"]) == ("准许进入", "allow")
        assert data["legal_phone"] == "139****5678"
        assert data["feed"]["ws"].startswith(app.config["CLEANGATE_SETTINGS"].board_feed_url)
        page = _page(app, token)
        assert "当前重污染天气橙色预警，执行II级应急响应措施" in page
        assert 'class="b-alert alert-orange"' in page
    finally:
        end_alert(app, alert_id)
    assert app.test_client().get(f"/board/{token}.json").get_json()["headline"] == "当前无预警"


def test_the_last_vehicle_is_the_newest_capture(app: Flask, tenant_a: TenantFixture) -> None:
    seed_site(app, tenant_a)
    token = board_token(app, tenant_a)
    device = device_for(app, tenant_a)
    push(app, device, passage("冀B00001"))
    push(app, device, passage("冀B00002", minutes_ago=30))  # a late upload of an old passage
    data = app.test_client().get(f"/board/{token}.json").get_json()
    assert data["last"]["plate"] == "冀B00001"


@pytest.mark.parametrize(
    "token",
    ["x" * 43, "short", "a" * 44, "a%20b", "%3Cscript%3E", "abc.def", "A" * 200, "-" * 43],
)
def test_unknown_and_malformed_tokens_answer_the_same_404(app: Flask, token: str) -> None:
    client = app.test_client()
    page, data = client.get(f"/board/{token}"), client.get(f"/board/{token}.json")
    assert (page.status_code, data.status_code) == (404, 404)
    assert "公示页不存在" in page.get_data(as_text=True)
    assert data.get_json() == {
        "error": {"code": "not_found", "message": "公示页不存在", "details": {}}
    }


def test_rotation_kills_the_old_address_at_once(app: Flask, tenant_a: TenantFixture) -> None:
    seed_site(app, tenant_a)
    client = app.test_client()
    assert login(client, tenant_a.admin_username) == 302
    first = client.get(f"/api/v1/sites/{tenant_a.site_id}/board")
    assert first.status_code == 200
    url = first.get_json()["url"]
    assert client.get(f"/api/v1/sites/{tenant_a.site_id}/board").get_json()["url"] == url
    old = url.rsplit("/", 1)[1]
    assert tokens.well_formed(old)
    assert app.test_client().get(f"/board/{old}").status_code == 200
    rotated = client.post(
        f"/api/v1/sites/{tenant_a.site_id}/board-token", headers={"X-CSRFToken": api_csrf(client)}
    )
    assert rotated.status_code == 200
    new = rotated.get_json()["url"].rsplit("/", 1)[1]
    assert new != old
    assert tokens.well_formed(new)
    assert rotated.get_json()["json_url"].endswith(f"/board/{new}.json")
    assert app.test_client().get(f"/board/{old}").status_code == 404
    assert app.test_client().get(f"/board/{old}.json").status_code == 404
    assert app.test_client().get(f"/board/{new}").status_code == 200
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.event.like("board.%")).order_by(AuditEvent.id)
        ).all()
    assert [e.event for e in events][-2:] == ["board.token_create", "board.token_rotate"]
    for event in events:
        assert event.details["site_id"] == str(tenant_a.site_id)
        assert old not in str(event.details)
        assert new not in str(event.details)


def test_rotation_needs_site_write_and_the_own_tenant(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    token = board_token(app, tenant_a)
    viewer = make_user(app, Role.VIEWER, tenant_a.tenant_id)
    client = app.test_client()
    assert login(client, viewer.username) == 302
    csrf = api_csrf(client)
    assert client.get(f"/api/v1/sites/{tenant_a.site_id}/board").status_code == 200
    refused = client.post(
        f"/api/v1/sites/{tenant_a.site_id}/board-token", headers={"X-CSRFToken": csrf}
    )
    assert refused.status_code == 403
    other = app.test_client()
    assert login(other, tenant_b.admin_username) == 302
    for method, path in (("GET", "board"), ("POST", "board-token")):
        answer = other.open(
            f"/api/v1/sites/{tenant_a.site_id}/{path}",
            method=method,
            headers={"X-CSRFToken": api_csrf(other)},
        )
        assert answer.status_code == 404
        assert token not in answer.get_data(as_text=True)
    assert app.test_client().get(f"/board/{token}").status_code == 200  # unchanged


def test_cli_prints_the_url_and_rotates(app: Flask, tenant_a: TenantFixture) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(board_cli, ["url", "--site", str(tenant_a.site_id)])
    assert first.exit_code == 0, first.output
    url = first.output.strip()
    base = app.config["CLEANGATE_SETTINGS"].base_url
    assert re.fullmatch(re.escape(base) + r"/board/[A-Za-z0-9_-]{43}", url)
    again = runner.invoke(board_cli, ["url", "--site", str(tenant_a.site_id)])
    assert again.output.strip() == url
    rotated = runner.invoke(board_cli, ["url", "--site", str(tenant_a.site_id), "--rotate"])
    assert rotated.exit_code == 0
    assert rotated.output.strip() != url
    assert app.test_client().get("/board/" + url.rsplit("/", 1)[1]).status_code == 404
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant_a.site_id)
        assert site is not None
        assert rotated.output.strip().endswith(str(site.board_token))
    bad = runner.invoke(board_cli, ["url", "--site", "not-a-uuid"])
    assert bad.exit_code == 2
    assert "--site" in bad.output
    missing = runner.invoke(board_cli, ["url", "--site", str(uuid.uuid4())])
    assert missing.exit_code == 2
    assert "no site" in missing.output


def test_markup_in_plates_and_measures_is_text(app: Flask, tenant_a: TenantFixture) -> None:
    region = seed_site(app, tenant_a, xss_measure=True)
    token = board_token(app, tenant_a)
    push(app, device_for(app, tenant_a), cn4_passage(XSS_PLATE))
    alert_id = issue_alert(app, region, "orange", datetime.now(UTC) - timedelta(minutes=1))
    try:
        page = _page(app, token)
        data = app.test_client().get(f"/board/{token}.json").get_json()
    finally:
        end_alert(app, alert_id)
    # the ledger keeps plates upper-cased; either way the markup is text
    assert "<script>" not in page.lower()
    assert "<img src=x" not in page
    assert html.escape(XSS_PLATE.upper(), quote=False) in page
    assert "&lt;img src=x onerror=&#34;window.__xss = 1&#34;&gt;" in page
    assert data["last"]["plate"] == XSS_PLATE.upper()  # JSON carries text; the script sets text
    assert XSS_MEASURE in data["measures"]


def test_assets_are_served_and_nothing_else(app: Flask, tenant_a: TenantFixture) -> None:
    page = _page(app, board_token(app, tenant_a))
    client = app.test_client()
    for name, kind in (("board.css", "text/css"), ("board.js", "text/javascript")):
        found = re.search(rf'"(/board/assets/\w+/{re.escape(name)})"', page)
        assert found, name
        response = client.get(found.group(1))
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith(kind)
    assert client.get("/board/assets/x/board.html").status_code == 404
    assert client.get("/board/assets/x/..%2F__init__.py").status_code == 404
