"""The fleet page: every active bridge across tenants with its live state, most urgent first
(offline > 10 min, outbox growing, clock skew > 2 s, device faults, the rest), the filters and
the search, Beijing time, everything escaped; and the outbox-growth samples on their own."""

from __future__ import annotations

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask
from flask.testing import FlaskClient

from saas.console import fleet
from saas.db import get_database
from saas.edge_hub import bus
from saas.models.identity import Role
from saas.models.ledger import EdgeDevice
from saas.models.tenancy import Tenant
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture, login, make_tenant, make_user
from tests.ledger.edge_helpers import make_device

ROW = re.compile(r'<tr data-device="([0-9a-f-]{36})"')


def _staff(app: Flask, role: Role = Role.PROVIDER_OPS) -> FlaskClient:
    user = make_user(app, role, None)
    client = app.test_client()
    assert login(client, user.username) == 302
    return client


def _bridge(app: Flask, tenant: TenantFixture, name: str, **columns: Any) -> uuid.UUID:
    device = make_device(app, tenant.tenant_id, tenant.site_id)
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        row = session.get(EdgeDevice, device.id)
        assert row is not None
        row.name = name
        for key, value in columns.items():
            setattr(row, key, value)
        session.commit()
    return device.id


def _tagged_tenant(app: Flask, tag: str) -> TenantFixture:
    tenant = make_tenant(app, "fleet")
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        row = session.get(Tenant, tenant.tenant_id)
        assert row is not None
        row.name = f"舰队集团{tag}"
        session.commit()
    return tenant


def _order(client: FlaskClient, **args: str) -> tuple[int, list[str], str]:
    response = client.get("/console/fleet", query_string=args)
    page = response.get_data(as_text=True)
    return response.status_code, ROW.findall(page), page


def test_bridges_sorted_by_urgency_with_filters(app: Flask, tenant_b: TenantFixture) -> None:
    tag = uuid.uuid4().hex[:8]
    tenant = _tagged_tenant(app, tag)
    redis = app.extensions["cleangate.redis"]
    now = datetime.now(UTC)
    two_hours_ago = (now - timedelta(hours=2)).replace(microsecond=0)
    ids = {
        "ok": _bridge(app, tenant, "正常网关"),
        "fault": _bridge(app, tenant, "<script>故障</script>"),
        "short": _bridge(app, tenant, "刚断开"),
        "skew": _bridge(app, tenant, "时钟偏差"),
        "growing": _bridge(app, tenant, "积压增长"),
        "off_long": _bridge(
            app, tenant, "离线两小时", last_seen_at=two_hours_ago, software_version="edge-1.0.0"
        ),
        "off_longer": _bridge(app, tenant, "离线三天", last_seen_at=now - timedelta(days=3)),
        "revoked": _bridge(app, tenant, "已吊销", status="revoked"),
        "pending": _bridge(app, tenant, "待配对", status="pending", public_key=None),
    }
    foreign = _bridge(app, tenant_b, "别家网关")
    bus.set_presence(redis, ids["ok"], online=1, hub="h", outbox_depth=0, clock_skew_ms=150,
                     software_version="edge-2.1.0")  # fmt: skip
    bus.set_presence(redis, ids["fault"], online=1, hub="h", outbox_depth=1, devices=[
        {"id": "simulator:CAM-IN", "state": "running", "last_error": ""},
        {"id": "hikvision:CAM-9", "state": "failed", "last_error": "<b>超时</b>"},
    ])  # fmt: skip
    bus.set_presence(redis, ids["short"], online=1, hub="h")
    bus.mark_offline(redis, ids["short"], "h")
    bus.set_presence(redis, ids["skew"], online=1, hub="h", outbox_depth=0, clock_skew_ms=-3500)
    bus.set_presence(redis, ids["growing"], online=1, hub="h", outbox_depth=40)
    bus.set_presence(redis, foreign, online=1, hub="h")
    # a sample two minutes ago, when the growing bridge had 10 waiting
    fleet.outbox_growing(redis, {str(ids["growing"]): 10}, time.time() - 120)

    client = _staff(app, Role.PROVIDER_BILLING)  # every provider role may look
    status, order, page = _order(client, q=f"舰队集团{tag}")
    assert status == 200
    expected = ["off_longer", "off_long", "growing", "skew", "fault", "short", "ok"]
    assert order == [str(ids[k]) for k in expected]
    assert str(foreign) not in page
    assert "&lt;script&gt;故障&lt;/script&gt;" in page
    assert "<script>故障" not in page
    assert "hikvision:CAM-9: failed (&lt;b&gt;超时&lt;/b&gt;)" in page
    assert "-3.5 s" in page
    assert "0.1 s" in page
    assert "edge-2.1.0" in page
    assert "edge-1.0.0" in page
    assert "↑ 增长中" in page
    beijing = two_hours_ago.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
    assert beijing in page
    assert "2 小时 0 分钟" in page or "1 小时 59 分钟" in page
    assert "3 天" in page

    assert _order(client, q=f"舰队集团{tag}", offline="10m")[1] == [
        str(ids["off_longer"]), str(ids["off_long"])]  # fmt: skip
    assert _order(client, q=f"舰队集团{tag}", offline="3h")[1] == [str(ids["off_longer"])]
    assert _order(client, q=f"舰队集团{tag}", growing="1")[1] == [str(ids["growing"])]
    assert _order(client, q="积压增长")[1] == [str(ids["growing"])]  # by bridge name
    assert _order(client, q=tenant.slug)[1] == _order(client, q=f"舰队集团{tag}")[1]
    status, _rows, page = _order(client, offline="ten minutes")
    assert status == 422
    assert "10m" in page
    assert _order(client, growing="yes")[0] == 422


def test_the_outbox_grows_against_an_earlier_sample(app: Flask) -> None:
    redis = app.extensions["cleangate.redis"]
    device = str(uuid.uuid4())
    t0 = 1_000_000.0
    assert fleet.outbox_growing(redis, {device: 8}, t0) == {device: False}  # first look
    assert fleet.outbox_growing(redis, {device: 12}, t0 + 5) == {device: True}
    assert fleet.outbox_growing(redis, {device: 8}, t0 + 10) == {device: False}
    assert fleet.outbox_growing(redis, {device: 30}, t0 + 61) == {device: True}  # rotates
    # the older sample (8 at t0) stays the reference for a minute
    assert fleet.outbox_growing(redis, {device: 20}, t0 + 70) == {device: True}
    # then the one of t0 + 61 (30) is: 25 is draining, not growing
    assert fleet.outbox_growing(redis, {device: 25}, t0 + 122) == {device: False}
    assert fleet.outbox_growing(redis, {device: 31}, t0 + 130) == {device: True}
    # a few records waiting for their ack are ordinary traffic
    small = str(uuid.uuid4())
    fleet.outbox_growing(redis, {small: 0}, t0)
    assert fleet.outbox_growing(redis, {small: 4}, t0 + 90) == {small: False}
    assert fleet.outbox_growing(redis, {}, t0) == {}


def test_offline_durations_parse_and_read(app: Flask) -> None:
    assert fleet.parse_offline("10m") == timedelta(minutes=10)
    assert fleet.parse_offline("2h") == timedelta(hours=2)
    for bad in ("0m", "10", "m", "10s", "-5m", "1.5h"):
        try:
            fleet.parse_offline(bad)
        except ValueError:
            continue
        raise AssertionError(bad)
    with app.test_request_context():
        assert fleet.duration_label(timedelta(minutes=9, seconds=59)) == "9 分钟"
        assert fleet.duration_label(timedelta(hours=3, minutes=5)) == "3 小时 5 分钟"
        assert fleet.duration_label(timedelta(days=3)) == "3 天"
        assert fleet.duration_label(None) == "—"
