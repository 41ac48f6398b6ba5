"""The console's compliance health: one row per site across tenants with the report rate today
and this month (the regulator screen's numbers), flagged below 99 %, the records the platform
rejected this month linked to the regulator screen, the alert in force and the violations
during it (the execution record's count), worst first — from real passages, uploads to a real
local receiver and real alerts; provider staff only; names escaped."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import redis
from flask import Flask
from flask.testing import FlaskClient

from saas.db import get_database
from saas.models.identity import Role
from saas.models.tenancy import Site
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture, login, make_user
from tests.ledger.edge_helpers import make_device
from tests.policy.test_execution import (
    feed_alert,
    gate_passage,
    gate_release,
    prepare_site,
    site_alert,
)
from tests.policy.test_execution import ingest as ingest_at_gate
from tests.regulator.conftest import (
    Receiver,
    breaker_redis,  # noqa: F401  (fixture)
    ingest,
    make_config,
    passage_body,
    receiver,  # noqa: F401  (fixture)
    run_relay,
    uploads,
)

XSS = "<script>alert(1)</script>"


def _staff(app: Flask, role: Role = Role.PROVIDER_OPS) -> FlaskClient:
    client = app.test_client()
    assert login(client, make_user(app, role, None).username) == 302
    return client


def _rename(app: Flask, tenant: TenantFixture, name: str) -> None:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        site.name = name
        session.commit()


def _row(page: str, site_id: uuid.UUID) -> tuple[str, str]:
    """(class, cells) of the site's row on the health page."""
    match = re.search(rf'<tr class="([\w-]+)" data-site="{site_id}">(.*?)</tr>', page, re.S)
    assert match is not None, f"no row for {site_id}"
    return match.group(1), match.group(2)


def _cell(cells: str, name: str) -> str:
    match = re.search(rf'<td class="{name}">(.*?)</td>', cells, re.S)
    assert match is not None, name
    return match.group(1)


def test_late_and_rejected_uploads_flag_the_site_worst_first(
    app: Flask,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    receiver: Receiver,  # noqa: F811
    breaker_redis: redis.Redis,  # noqa: F811
) -> None:
    _rename(app, tenant_a, f"甲厂 {XSS} {uuid.uuid4().hex[:6]}")
    _rename(app, tenant_b, f"乙厂-{uuid.uuid4().hex[:6]}")
    make_config(app, tenant_a, receiver.url, name=f"甲平台-{uuid.uuid4().hex[:6]}")
    make_config(app, tenant_b, receiver.url, name=f"乙平台-{uuid.uuid4().hex[:6]}")
    now = datetime.now(UTC)

    # A: one accepted within the hour, one rejected, one accepted two hours late → 1/3
    on_time, rejected = passage_body("冀B10001"), passage_body("冀B10002")
    ingest(app, tenant_a, [on_time, rejected])
    receiver.reject[f"passage:{rejected['event_id']}"] = "车牌号码格式错误"
    run_relay(app, tenant_a, breaker_redis, at=now + timedelta(minutes=1))
    ingest(app, tenant_a, [passage_body("冀B10003")])
    run_relay(app, tenant_a, breaker_redis, at=now + timedelta(hours=2))
    assert sorted(u.status for u in uploads(app, tenant_a, kind="passage")) == [
        "accepted", "accepted", "rejected",
    ]  # fmt: skip
    # B: both on time → 100 %
    ingest(app, tenant_b, [passage_body("冀B10001"), passage_body("冀B10002")])
    run_relay(app, tenant_b, breaker_redis, at=now + timedelta(minutes=1))

    staff = _staff(app, Role.PROVIDER_BILLING)  # any console role reads it
    response = staff.get("/console/health")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert XSS not in page
    assert "&lt;script&gt;" in page
    a_class, a_cells = _row(page, tenant_a.site_id)
    assert a_class == "health-problem"
    assert "33.33%" in _cell(a_cells, "rate-today")
    assert "低于 99%" in _cell(a_cells, "rate-today")
    assert "33.33%" in _cell(a_cells, "rate-month")
    rejected_cell = _cell(a_cells, "rejected")
    assert ">1</a>" in rejected_cell
    assert 'href="/console/regulator?period=month' in rejected_cell
    b_class, b_cells = _row(page, tenant_b.site_id)
    assert b_class == "health-ok"
    assert "100.00%" in _cell(b_cells, "rate-today")
    assert "低于" not in b_cells
    assert _cell(b_cells, "rejected") == "0"
    assert page.index(str(tenant_a.site_id)) < page.index(str(tenant_b.site_id))  # worst first
    below = re.search(r'id="count-below">(\d+)<', page)
    assert below is not None
    assert int(below.group(1)) >= 1

    problems = staff.get("/console/health?problems=1").get_data(as_text=True)
    assert str(tenant_a.site_id) in problems
    assert str(tenant_b.site_id) not in problems  # healthy sites are filtered out
    assert "/console/health" in staff.get("/console/").get_data(as_text=True)


def test_sites_in_an_alert_show_their_violations(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    """A guard let a 国四 truck in under an orange alert: one violation at A; B is in an alert
    from a regulator feed with nothing let in by hand."""
    for tenant in (tenant_a, tenant_b):
        prepare_site(app, tenant)  # a steel plant in a region of its own
    now = datetime.now(UTC).replace(microsecond=0)
    site_alert(app, tenant_a, "orange", now - timedelta(hours=2), None)
    feed_alert(app, tenant_b, "red", now - timedelta(hours=1), now + timedelta(hours=5))
    refused = gate_passage("冀B44444", now - timedelta(minutes=60), stage="cn4")
    assert refused["decision"]["verdict"] == "DENY"
    released = gate_release(
        refused, now - timedelta(minutes=59), "门岗张三", "领导同意", stage="cn4"
    )
    compliant = gate_passage("冀B66666", now - timedelta(minutes=50), stage="cn6a")
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    ingest_at_gate(app, device, [refused, released, compliant])
    b_device = make_device(app, tenant_b.tenant_id, tenant_b.site_id)
    ingest_at_gate(app, b_device, [gate_passage("冀B44444", now - timedelta(minutes=30),
                                                stage="cn4", level="red")])  # fmt: skip

    page = _staff(app).get("/console/health").get_data(as_text=True)
    a_class, a_cells = _row(page, tenant_a.site_id)
    assert a_class == "health-problem"
    assert "橙色预警" in _cell(a_cells, "alert")
    assert _cell(a_cells, "violations") == '<strong class="verdict-deny">1</strong>'
    assert _cell(a_cells, "releases") == "1"
    assert "未配置监管平台" in a_cells
    b_class, b_cells = _row(page, tenant_b.site_id)
    assert b_class == "health-ok"
    assert "红色预警" in _cell(b_cells, "alert")
    assert (_cell(b_cells, "violations"), _cell(b_cells, "releases")) == ("0", "0")
    assert page.index(str(tenant_a.site_id)) < page.index(str(tenant_b.site_id))
    counts = {
        name: int(m.group(1))
        for name in ("count-alert", "count-violations")
        if (m := re.search(rf'id="{name}">(\d+)<', page))
    }
    assert counts["count-alert"] >= 2
    assert counts["count-violations"] >= 1


def test_tenant_users_cannot_open_the_health_screen(app: Flask, tenant_a: TenantFixture) -> None:
    client = app.test_client()
    assert login(client, tenant_a.admin_username) == 302
    assert client.get("/console/health").status_code == 403
    assert app.test_client().get("/console/health").status_code in (302, 401)
