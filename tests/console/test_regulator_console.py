"""The console's report-rate screen: provider staff see every tenant's platforms with their
rates per gate and the alarm list below 99 %; tenant users may not open it; names are escaped."""

from __future__ import annotations

import re
import uuid

from flask import Flask
from flask.testing import FlaskClient

from saas.db import get_database
from saas.models.identity import Role
from saas.models.tenancy import Site
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture, login, make_user
from tests.regulator.conftest import (
    Receiver,
    breaker_redis,  # noqa: F401  (fixture)
    ingest,
    make_config,
    passage_body,
    receiver,  # noqa: F401  (fixture)
    run_relay,
)

XSS = "<script>alert(1)</script>"


def _login(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username) == 302
    return client


def _rename(app: Flask, tenant: TenantFixture, name: str) -> None:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        site.name = name
        session.commit()


def test_staff_see_rates_of_every_tenant_with_the_alarm_list(
    app: Flask,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
    receiver: Receiver,  # noqa: F811
    breaker_redis,  # noqa: F811
) -> None:
    _rename(app, tenant_a, f"甲厂 {XSS}")
    _rename(app, tenant_b, "乙厂-rate")
    a_name, b_name = f"甲平台-{uuid.uuid4().hex[:8]}", f"乙平台-{uuid.uuid4().hex[:8]}"
    make_config(app, tenant_a, receiver.url, name=a_name)
    make_config(app, tenant_b, receiver.url, name=b_name)
    a_passages = [passage_body(gate="1", lane="01") for _ in range(4)]
    ingest(app, tenant_a, a_passages)
    ingest(app, tenant_b, [passage_body(gate="9", lane="02") for _ in range(2)])
    receiver.reject[f"passage:{a_passages[0]['event_id']}"] = "平台拒收"
    run_relay(app, tenant_a, breaker_redis)
    run_relay(app, tenant_b, breaker_redis)

    staff = _login(app, make_user(app, Role.PROVIDER_EXPERT, None).username)
    response = staff.get("/console/regulator")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert XSS not in page
    assert "&lt;script&gt;" in page
    alarms = re.search(r'<section class="card" id="alarms">(.*?)</section>', page, re.S)
    assert alarms is not None
    everywhere = re.findall(r'<tr class="rate-alarm">(.*?)</tr>', alarms.group(1), re.S)
    alarm_rows = [r for r in everywhere if a_name in r or b_name in r]
    assert len(alarm_rows) == 1
    assert a_name in alarm_rows[0]
    assert "75.00%" in alarm_rows[0]
    [b_row] = re.findall(rf'<tr class="rate-ok">(?:(?!</tr>).)*{b_name}.*?</tr>', page, re.S)
    assert "100.00%" in b_row
    month = staff.get("/console/regulator?period=month").get_data(as_text=True)
    a_month = re.findall(rf'<tr class="rate-alarm">(?:(?!</tr>).)*{a_name}.*?</tr>', month, re.S)
    assert len(a_month) == 2  # the alarm list and the platform's summary row
    assert all("75.00%" in r for r in a_month)
    assert staff.get("/console/regulator?period=week").status_code == 422
    assert "/console/regulator" in staff.get("/console/").get_data(as_text=True)


def test_tenant_users_cannot_open_the_console_screen(app: Flask, tenant_a: TenantFixture) -> None:
    admin = _login(app, tenant_a.admin_username)
    assert admin.get("/console/regulator").status_code == 403
