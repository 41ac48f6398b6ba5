"""The console's alert screens: issue (Beijing time in, UTC stored, covered sites told), bad
input re-shown with the error at the field and nothing stored, end with confirmation, the
detail page (covered sites, bridges, audit trail), list filters and pages, the feed import —
for provider staff holding ``alert.manage`` only, everything escaped."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from saas.db import get_database
from saas.edge_hub import bus
from saas.models.alerts import Alert
from saas.models.identity import AuditEvent, Role
from saas.models.tenancy import Site
from saas.policy import alerts
from saas.tenancy import system_context, tenant_context
from tests.conftest import TenantFixture, api_csrf, csrf_from, login, make_user
from tests.ledger.edge_helpers import make_device


def _staff(app: Flask, role: Role = Role.PROVIDER_OPS) -> FlaskClient:
    user = make_user(app, role, None)
    client = app.test_client()
    assert login(client, user.username) == 302
    return client


def _place(app: Flask, tenant: TenantFixture, region: str, **fields: str) -> str:
    """Give the tenant's site a region and a unique name (returned)."""
    name = f"焦化厂-{uuid.uuid4().hex[:8]}"
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        site.region_code, site.name = region, name
        for key, value in fields.items():
            setattr(site, key, value)
        session.commit()
    return name


def _region() -> tuple[str, str]:
    """A random district of Xinjiang and its city."""
    city = f"65{uuid.uuid4().int % 90 + 10:02d}"
    return city + "00", city + "03"


def _alert_count(app: Flask) -> int:
    with get_database(app).sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(Alert)) or 0


def _get_alert(app: Flask, alert_id: uuid.UUID) -> Alert:
    with get_database(app).sessionmaker() as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        session.expunge(alert)
        return alert


def _post(client: FlaskClient, path: str, data: dict[str, str]) -> tuple[int, str, str]:
    token = csrf_from(client, path)
    response = client.post(path, data={**data, "csrf_token": token})
    return response.status_code, response.get_data(as_text=True), response.location or ""


def _field_error(page: str, field: str) -> str:
    """The error message rendered inside the label of ``field``."""
    for block in re.findall(r"<label>(.*?)</label>", page, re.S):
        if f'name="{field}"' in block:
            match = re.search(r'<span class="error">([^<]+)</span>', block)
            assert match, f"no error next to {field}"
            return match.group(1)
    raise AssertionError(f"no field {field}")


def test_ops_issue_a_city_alert_and_the_covered_site_is_told(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    city, district = _region()
    covered_name = _place(app, tenant_a, district)
    other_name = _place(app, tenant_b, "120101")  # Tianjin: not covered
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    redis = app.extensions["cleangate.redis"]
    bus.set_presence(redis, device.id, online=1, hub="test")
    redis.set(bus.snapshot_key(tenant_a.site_id), "v-before")
    redis.set(bus.snapshot_key(tenant_b.site_id), "v-before")
    client = _staff(app)
    form = client.get("/console/alerts/new")
    assert form.status_code == 200
    assert 'name="csrf_token"' in form.get_data(as_text=True)

    status, _, location = _post(
        client,
        "/console/alerts/new",
        {
            "level": "orange",
            "region_code": city,
            "starts_at": "2026-01-12T10:00",  # Beijing wall time
            "ends_at": "2026-01-14T10:00",
            "notice": "<script>alert('x')</script>启动橙色预警",
        },
    )
    assert status == 302
    alert_id = uuid.UUID(location.rstrip("/").rsplit("/", 1)[1])
    alert = _get_alert(app, alert_id)
    assert (alert.level, alert.region_code, alert.site_id) == ("orange", city, None)
    assert alert.starts_at == datetime(2026, 1, 12, 2, 0, tzinfo=UTC)  # stored in UTC
    assert alert.ends_at == datetime(2026, 1, 14, 2, 0, tzinfo=UTC)
    assert alert.source == "console"
    # notify after commit: the covered site's cached snapshot is dropped, the other one kept
    assert redis.get(bus.snapshot_key(tenant_a.site_id)) is None
    assert redis.get(bus.snapshot_key(tenant_b.site_id)) == b"v-before"

    page = client.get(location).get_data(as_text=True)
    assert "已通知" in page  # the flash
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;启动橙色预警" in page
    assert "<script>alert(" not in page
    assert "2026-01-12 10:00" in page  # shown in Beijing time again
    covered = page.split("覆盖站点", 1)[1].split("操作记录", 1)[0]
    assert covered_name in covered
    assert other_name not in covered
    assert "1 / 1" in covered  # its one bridge, online
    trail = page.split("操作记录", 1)[1]
    assert "发布" in trail
    assert "region_code=" + city in trail


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"region_code": "65010"}, "region_code", "6 位行政区划代码"),
        ({"region_code": "990000"}, "region_code", "省级部分"),
        ({"region_code": ""}, "region_code", "请填写行政区划代码或选择一个站点"),
        ({"level": "purple"}, "level", "黄色、橙色或红色"),
        ({"starts_at": ""}, "starts_at", "请填写开始时间"),
        ({"starts_at": "12/01/2026"}, "starts_at", "时间格式无效"),
        ({"ends_at": "2026-01-12T09:00"}, "ends_at", "结束时间须晚于开始时间"),
        ({"region_code": "", "site_id": "not-a-site"}, "site_id", "站点不存在"),
        ({"region_code": "", "site_id": str(uuid.uuid4())}, "site_id", "站点不存在"),
        ({"site_id": "SITE"}, "region_code", "只能填一个"),
    ],
)
def test_bad_input_is_shown_at_the_field_and_nothing_is_stored(
    app: Flask, tenant_a: TenantFixture, fields: dict[str, str], field: str, message: str
) -> None:
    client = _staff(app)
    data = {
        "level": "red",
        "region_code": "650100",
        "starts_at": "2026-01-12T10:00",
        "notice": "保留的公告 <b>",
    } | fields
    if data.get("site_id") == "SITE":
        data["site_id"] = str(tenant_a.site_id)
    before = _alert_count(app)
    redis = app.extensions["cleangate.redis"]
    redis.set(bus.snapshot_key(tenant_a.site_id), "v-before")
    status, page, _ = _post(client, "/console/alerts/new", data)
    assert status == 422
    assert message in _field_error(page, field)
    assert "保留的公告 &lt;b&gt;" in page  # the form keeps what was typed, escaped
    assert _alert_count(app) == before
    assert redis.get(bus.snapshot_key(tenant_a.site_id)) == b"v-before"


def test_a_site_alert_from_the_console(app: Flask, tenant_a: TenantFixture) -> None:
    _, district = _region()
    name = _place(app, tenant_a, district)
    client = _staff(app, Role.PROVIDER_ADMIN)
    assert name in client.get("/console/alerts/new").get_data(as_text=True)  # site choices
    status, _, location = _post(
        client,
        "/console/alerts/new",
        {"level": "red", "site_id": str(tenant_a.site_id), "starts_at": "2026-02-01T00:00"},
    )
    assert status == 302
    alert = _get_alert(app, uuid.UUID(location.rsplit("/", 1)[1]))
    assert (alert.site_id, alert.region_code, alert.ends_at) == (tenant_a.site_id, None, None)
    assert alert.starts_at == datetime(2026, 1, 31, 16, 0, tzinfo=UTC)


def test_end_asks_for_confirmation_then_ends_and_tells_the_sites(
    app: Flask, tenant_a: TenantFixture
) -> None:
    city, district = _region()
    _place(app, tenant_a, district)
    with get_database(app).sessionmaker() as session:
        alert = alerts.issue(
            session,
            level="yellow",
            region_code=city,
            starts_at=datetime.now(UTC) - timedelta(hours=1),
            actor_label="test",
        )
        session.commit()
        alert_id = alert.id
    redis = app.extensions["cleangate.redis"]
    redis.set(bus.snapshot_key(tenant_a.site_id), "v-before")
    client = _staff(app)
    confirm = client.get(f"/console/alerts/{alert_id}/end")
    assert confirm.status_code == 200
    assert "确认解除" in confirm.get_data(as_text=True)
    assert _get_alert(app, alert_id).ends_at is None  # GET changes nothing

    no_csrf = client.post(f"/console/alerts/{alert_id}/end")
    assert no_csrf.status_code == 400
    assert _get_alert(app, alert_id).ends_at is None

    status, _, location = _post(client, f"/console/alerts/{alert_id}/end", {})
    assert status == 302
    assert location.endswith(f"/console/alerts/{alert_id}")
    ended = _get_alert(app, alert_id)
    assert ended.ends_at is not None
    assert abs((ended.ends_at - datetime.now(UTC)).total_seconds()) < 60
    assert redis.get(bus.snapshot_key(tenant_a.site_id)) is None
    page = client.get(location).get_data(as_text=True)
    assert "已解除" in page
    trail = page.split("操作记录", 1)[1]
    assert "解除" in trail
    assert "发布" in trail

    again, page, _ = _post(client, f"/console/alerts/{alert_id}/end", {})
    assert again == 409
    assert "预警已解除" in page
    assert _get_alert(app, alert_id).ends_at == ended.ends_at
    with get_database(app).sessionmaker() as session, system_context("test"):
        ends = session.scalars(
            select(AuditEvent).where(
                AuditEvent.event == "alert.end",
                AuditEvent.details["alert_id"].as_string() == str(alert_id),
            )
        ).all()
        assert len(ends) == 1  # the refused second end wrote nothing

    assert client.get(f"/console/alerts/{uuid.uuid4()}").status_code == 404
    assert client.get(f"/console/alerts/{uuid.uuid4()}/end").status_code == 404


def test_list_filters_and_pages(app: Flask, tenant_a: TenantFixture) -> None:
    city, district = _region()
    site_name = _place(app, tenant_a, district)
    with get_database(app).sessionmaker() as session:
        now = datetime.now(UTC)
        made = {
            "active": alerts.issue(
                session, level="red", region_code=district, starts_at=now - timedelta(hours=1)
            ),
            "upcoming": alerts.issue(
                session, level="orange", region_code=city, starts_at=now + timedelta(days=1)
            ),
            "ended": alerts.issue(
                session,
                level="red",
                region_code=city,
                starts_at=now - timedelta(days=2),
                ends_at=now - timedelta(days=1),
            ),
        }
        site_alert = alerts.issue(
            session, level="yellow", site_id=tenant_a.site_id, starts_at=now - timedelta(hours=2)
        )
        session.commit()
        ids = {k: str(v.id) for k, v in made.items()}
        site_alert_id = str(site_alert.id)
    client = _staff(app)
    nav = client.get("/console/").get_data(as_text=True)
    assert "/console/alerts" in nav  # the console nav links the alert screens

    def listed(**query: str) -> set[str]:
        response = client.get("/console/alerts", query_string=query)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        return {k for k, v in ids.items() if v in page}

    assert listed(region_code=district) == {"active", "upcoming", "ended"}  # city covers it
    by_site = client.get("/console/alerts", query_string={"region_code": district}).get_data(
        as_text=True
    )
    assert site_alert_id in by_site  # a site alert of a site in the district
    assert site_name in by_site
    assert site_alert_id not in client.get(
        "/console/alerts", query_string={"region_code": "120101"}
    ).get_data(as_text=True)
    assert listed(region_code=city) == {"active", "upcoming", "ended"}  # district lies beneath
    assert listed(region_code=district, status="active") == {"active"}
    assert listed(region_code=district, status="upcoming") == {"upcoming"}
    assert listed(region_code=district, status="ended") == {"ended"}
    assert listed(region_code=district, level="red") == {"active", "ended"}
    assert listed(region_code="120101") == set()

    every = [*ids.values(), site_alert_id]
    first = client.get("/console/alerts", query_string={"region_code": city, "limit": "2"})
    page = first.get_data(as_text=True)
    on_first = {v for v in every if v in page}
    assert len(on_first) == 2
    more = re.search(r'href="(/console/alerts\?[^"]*cursor=[^"]+)"', page)
    assert more, "no next-page link"
    second = client.get(more.group(1).replace("&amp;", "&")).get_data(as_text=True)
    on_second = {v for v in every if v in second}
    assert len(on_second) == 2
    assert not on_first & on_second

    bad = client.get("/console/alerts", query_string={"level": "purple", "region_code": "65"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "黄色、橙色或红色" in text
    assert "6 位行政区划代码" in text


FEED_RECORD = {
    "entName": "<b>某焦化</b>",
    "startTime": "2026-03-01 08:00:00",
    "endTime": "",
    "warningLevel": "橙色",
    "respondLevel": "II级",
    "controlMeasures": "禁止国四及以下进入",
}


def test_import_form_reports_counts_and_writes_nothing_on_bad_input(
    app: Flask, tenant_a: TenantFixture
) -> None:
    _, district = _region()
    permit = f"P{uuid.uuid4().hex[:20].upper()}"
    _place(app, tenant_a, district, permit_no=permit)
    feed_id = uuid.uuid4().int % 10**12
    feed = {
        "code": 200,
        "msg": "操作成功",
        "data": [
            FEED_RECORD | {"id": feed_id, "entNo": permit},
            FEED_RECORD | {"id": feed_id + 1, "entNo": "<i>NOBODY</i>"},
        ],
    }
    redis = app.extensions["cleangate.redis"]
    redis.set(bus.snapshot_key(tenant_a.site_id), "v-before")
    client = _staff(app)
    assert client.get("/console/alerts/import").status_code == 200

    status, page, _ = _post(client, "/console/alerts/import", {"payload": json.dumps(feed)})
    assert status == 200
    result = page.split("导入结果", 1)[1]
    assert re.search(r"<dt>新增</dt><dd>1</dd>", result)
    assert re.search(r"<dt>未变</dt><dd>0</dd>", result)
    assert "&lt;i&gt;NOBODY&lt;/i&gt;" in result  # unmatched, escaped
    assert re.search(r"<dt>已通知站点</dt><dd>1</dd>", result)
    assert redis.get(bus.snapshot_key(tenant_a.site_id)) is None
    with get_database(app).sessionmaker() as session:
        stored = session.scalars(
            select(Alert).where(Alert.external_id == f"{feed_id}:{tenant_a.site_id}")
        ).one()
        assert (stored.level, stored.site_id) == ("orange", tenant_a.site_id)
        assert stored.starts_at == datetime(2026, 3, 1, 0, 0, tzinfo=UTC)

    status, page, _ = _post(client, "/console/alerts/import", {"payload": json.dumps(feed)})
    assert status == 200
    assert re.search(r"<dt>新增</dt><dd>0</dd>", page)
    assert re.search(r"<dt>未变</dt><dd>1</dd>", page)

    before = _alert_count(app)
    status, page, _ = _post(
        client, "/console/alerts/import", {"payload": '{"code": 200, "data": ['}
    )
    assert status == 422
    assert "不是有效的 JSON" in _field_error(page, "payload")

    broken = json.loads(json.dumps(feed))
    broken["data"][0]["id"] = feed_id + 7  # would be new …
    broken["data"][1]["warningLevel"], broken["data"][1]["respondLevel"] = "紫色", ""
    status, page, _ = _post(client, "/console/alerts/import", {"payload": json.dumps(broken)})
    assert status == 422
    assert "未写入任何记录" in _field_error(page, "payload")
    assert "<td>1</td><td>warningLevel</td>" in page
    status, page, _ = _post(client, "/console/alerts/import", {"payload": '{"code": 500}'})
    assert status == 422
    assert "code 不是 200" in _field_error(page, "payload")
    status, page, _ = _post(client, "/console/alerts/import", {"payload": ""})
    assert status == 422
    assert _alert_count(app) == before  # … but nothing was written


def test_only_alert_managers_reach_the_screens(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    with get_database(app).sessionmaker() as session:
        alert = alerts.issue(
            session, level="red", region_code="650100", starts_at=datetime.now(UTC)
        )
        session.commit()
        alert_id = alert.id
    paths = [
        "/console/alerts",
        "/console/alerts/new",
        "/console/alerts/import",
        f"/console/alerts/{alert_id}",
        f"/console/alerts/{alert_id}/end",
    ]
    admin = app.test_client()
    assert login(admin, tenant_a.admin_username) == 302
    expert = _staff(app, Role.PROVIDER_EXPERT)  # console, but not alert.manage
    before = _alert_count(app)
    for client in (admin, expert):
        for path in paths:
            assert client.get(path).status_code == 403, path
        token = api_csrf(client)
        for path, data in (
            ("/console/alerts/new", {"level": "red", "region_code": "650100"}),
            (f"/console/alerts/{alert_id}/end", {}),
            ("/console/alerts/import", {"payload": '{"code": 200, "data": []}'}),
        ):
            response = client.post(path, data={**data, "starts_at": "2026-01-01T00:00",
                                                "csrf_token": token})  # fmt: skip
            assert response.status_code == 403, path
    assert "/console/alerts" not in expert.get("/console/").get_data(as_text=True)
    assert _alert_count(app) == before
    assert _get_alert(app, alert_id).ends_at is None
    anonymous = app.test_client().get("/console/alerts")
    assert anonymous.status_code in {302, 401}
