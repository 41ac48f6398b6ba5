"""Portal pages of the regulator platforms, driven end to end against the reference receiver over
real HTTP: the configuration form (errors named, nothing saved, secrets never shown again, our
public key to copy), a payload tampered in transit rejected by the receiver and shown as rejected
with its 平台信息, single and bulk 补传, the report-rate page, permissions, escaping."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from flask.testing import FlaskClient
from requests.adapters import HTTPAdapter
from sqlalchemy import select

from saas.db import get_database
from saas.models.identity import Role
from saas.models.regulator import RegulatorConfig, RegulatorUpload
from saas.regulator.base import Credentials
from saas.regulator.relay import relay
from saas.regulator.signing import generate_private_key, public_material
from saas.regulator.sim import RegulatorSim, SimClient
from saas.tenancy import tenant_context
from tests.conftest import VALID_USCC, TenantFixture, csrf_from, login, make_user
from tests.regulator.conftest import (
    POLICY,
    breaker_redis,  # noqa: F401  (fixture)
    ingest,
    passage_body,
    run_relay,
)

CLIENT_ID = "ent-portal-0001"
CLIENT_SECRET = "portal-client-secret-0001"
ENT_CODE = "TS130200000888"
XSS = '<img src=x onerror="alert(1)">'


@pytest.fixture(scope="module")
def rsa_key() -> str:
    return generate_private_key("rsa2")


@pytest.fixture
def sim(rsa_key: str) -> Iterator[RegulatorSim]:
    material = public_material("rsa2", Credentials(private_key=rsa_key))
    assert material is not None
    with RegulatorSim([SimClient(CLIENT_ID, CLIENT_SECRET, "rsa2", material, ENT_CODE)]) as s:
        yield s


class CorruptingAdapter(HTTPAdapter):
    """A man in the middle: changes the plate in upload bodies after they were signed."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        if isinstance(request.body, bytes) and "/upload/" in (request.url or ""):
            request.body = request.body.replace("冀B12345".encode(), "冀B99999".encode())
        return super().send(request, *args, **kwargs)


def _login(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    assert login(client, username) == 302
    return client


def site_page(tenant: TenantFixture) -> str:
    return f"/portal/sites/{tenant.site_id}/regulator"


def form(client: FlaskClient, tenant: TenantFixture, url: str, key: str, **changes: str) -> dict:
    data = {
        "csrf_token": csrf_from(client, site_page(tenant)),
        "name": "唐山市移动源监管平台",
        "adapter": "hj1321-json",
        "endpoint": url,
        "signer": "rsa2",
        "client_id": CLIENT_ID,
        "enterprise_code": ENT_CODE,
        "uscc": VALID_USCC,
        "permit_no": "",
        "client_secret": CLIENT_SECRET,
        "private_key": key,
        "active": "1",
    }
    data.update(changes)
    return data


def configs_of(app: Flask, tenant: TenantFixture) -> list[RegulatorConfig]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        rows = list(session.scalars(select(RegulatorConfig)))
        session.expunge_all()
        return rows


def uploads(app: Flask, tenant: TenantFixture) -> list[RegulatorUpload]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        rows = list(
            session.scalars(
                select(RegulatorUpload)
                .where(RegulatorUpload.kind == "passage")
                .order_by(RegulatorUpload.key)
            )
        )
        session.expunge_all()
        return rows


def configure(app: Flask, client: FlaskClient, tenant: TenantFixture, sim: RegulatorSim, key: str):
    response = client.post(f"{site_page(tenant)}/configs", data=form(client, tenant, sim.url, key))
    assert response.status_code == 302, response.get_data(as_text=True)
    [config] = configs_of(app, tenant)
    return config


def row_of(page: str, upload_id: uuid.UUID) -> str:
    match = re.search(rf'<tr class="upload-\w+" data-id="{upload_id}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {upload_id}"
    return match.group(0)


def test_form_names_the_bad_field_and_saves_nothing(
    app: Flask, tenant_a: TenantFixture, sim: RegulatorSim, rsa_key: str
) -> None:
    client = _login(app, tenant_a.admin_username)
    bad_key = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ1dC1icm9rZW4=\n-----END PRIVATE KEY-----"
    response = client.post(
        f"{site_page(tenant_a)}/configs", data=form(client, tenant_a, sim.url, bad_key)
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'data-field="private_key"' in page
    assert "未保存" in page
    assert "c2VjcmV0LWJ1dC1icm9rZW4" not in page
    assert CLIENT_SECRET not in page
    assert 'value="唐山市移动源监管平台"' in page  # the other fields are kept
    dead = "http://127.0.0.1:9"
    response = client.post(
        f"{site_page(tenant_a)}/configs", data=form(client, tenant_a, dead, rsa_key)
    )
    assert response.status_code == 422
    assert 'data-field="endpoint"' in response.get_data(as_text=True)
    assert configs_of(app, tenant_a) == []


def test_good_config_shows_public_key_and_never_a_secret(
    app: Flask, tenant_a: TenantFixture, sim: RegulatorSim, rsa_key: str
) -> None:
    client = _login(app, tenant_a.admin_username)
    config = configure(app, client, tenant_a, sim, rsa_key)
    page = client.get(f"{site_page(tenant_a)}/configs/{config.id}").get_data(as_text=True)
    public = public_material("rsa2", Credentials(private_key=rsa_key))
    assert public is not None
    assert public.splitlines()[1] in page
    assert CLIENT_SECRET not in page
    assert rsa_key.splitlines()[3] not in page
    assert re.search(r'type="password" name="client_secret" value=""', page)
    assert "已保存" in page
    assert "通过" in page
    # Saving the edit form with blank secrets keeps them (and re-tests nothing unchanged).
    data = form(client, tenant_a, sim.url, "", client_secret="", name=f"改名 {XSS}")
    response = client.post(f"{site_page(tenant_a)}/configs/{config.id}", data=data)
    assert response.status_code == 302
    [after] = configs_of(app, tenant_a)
    assert after.secret_box == config.secret_box
    assert after.name.startswith("改名")
    listing = client.get(site_page(tenant_a)).get_data(as_text=True)
    assert XSS not in listing
    assert "&lt;img src=x" in listing
    # The test connection button records a failure when the platform is down.
    sim.set_faults(down=True)
    token = csrf_from(client, site_page(tenant_a))
    response = client.post(
        f"{site_page(tenant_a)}/configs/{config.id}/test",
        data={"csrf_token": token},
        follow_redirects=True,
    )
    assert "连接测试失败" in response.get_data(as_text=True)
    assert configs_of(app, tenant_a)[0].last_test_ok is False


def test_tampered_payload_is_shown_rejected_then_resent_single_and_bulk(
    app: Flask,
    tenant_a: TenantFixture,
    sim: RegulatorSim,
    rsa_key: str,
    breaker_redis: redis.Redis,  # noqa: F811
) -> None:
    client = _login(app, tenant_a.admin_username)
    configure(app, client, tenant_a, sim, rsa_key)
    ingest(app, tenant_a, [passage_body("冀B12345") for _ in range(3)])
    with requests.Session() as http, tenant_context(tenant_a.tenant_id), app.app_context():
        http.mount("http://", CorruptingAdapter())
        relay(
            get_database(app).sessionmaker,
            breaker_redis,
            policy=POLICY,
            clock=lambda: datetime.now(UTC),
            http=http,
            app=app,
        )
    rows = uploads(app, tenant_a)
    assert [r.status for r in rows] == ["rejected"] * 3
    assert sim.stats()["bad_signature"] >= 1
    assert sim.receipts("passage") == []

    page_url = f"{site_page(tenant_a)}/uploads"
    page = client.get(page_url + "?status=rejected").get_data(as_text=True)
    for r in rows:
        shown = row_of(page, r.id)
        assert "被拒收" in shown
        assert "verdict-deny" in shown
        assert "验签失败" in shown
        assert "40001" in shown
    assert "平台信息" in page

    # 补传 of one record.
    token = csrf_from(client, page_url)
    response = client.post(page_url + "/resend", data={"csrf_token": token, "one": str(rows[0].id)})
    assert response.status_code == 302
    statuses = {r.id: r.status for r in uploads(app, tenant_a)}
    assert statuses[rows[0].id] == "pending"
    assert [statuses[r.id] for r in rows[1:]] == ["rejected", "rejected"]
    # Bulk 补传 of every rejected record, then an honest relay delivers all three.
    response = client.post(
        page_url + "/resend", data={"csrf_token": token, "all": "1", "status": "rejected"},
        follow_redirects=True,
    )  # fmt: skip
    assert "已安排补传 2 条记录" in response.get_data(as_text=True)
    run_relay(app, tenant_a, breaker_redis)
    assert [r.status for r in uploads(app, tenant_a)] == ["accepted"] * 3
    assert len(sim.receipts("passage")) == 3
    page = client.get(page_url).get_data(as_text=True)
    assert "已接收" in row_of(page, rows[0].id)


def test_rejected_message_is_escaped_and_the_rate_page_shows_the_alarm(
    app: Flask,
    tenant_a: TenantFixture,
    sim: RegulatorSim,
    rsa_key: str,
    breaker_redis: redis.Redis,  # noqa: F811
) -> None:
    client = _login(app, tenant_a.admin_username)
    configure(app, client, tenant_a, sim, rsa_key)
    good = [passage_body(gate="1", lane="01") for _ in range(3)]
    other = [passage_body(gate="2", lane="02") for _ in range(2)]
    ingest(app, tenant_a, good + other)
    sim.set_faults(reject_keys=[f"passage:{good[0]['event_id']}"], reject_message=XSS)
    run_relay(app, tenant_a, breaker_redis)
    page = client.get(f"{site_page(tenant_a)}/uploads?status=rejected").get_data(as_text=True)
    assert XSS not in page
    assert "&lt;img src=x onerror=" in page

    rate = client.get(f"{site_page(tenant_a)}/report-rate").get_data(as_text=True)
    assert 'id="alarms"' in rate
    assert "低于 99%" in rate
    assert "99%%" not in rate
    alarm_rows = re.findall(r'<tr class="rate-alarm">(.*?)</tr>', rate, re.S)
    ok_rows = re.findall(r'<tr class="rate-ok">(.*?)</tr>', rate, re.S)
    assert len(alarm_rows) == 1
    assert "66.67%" in alarm_rows[0]
    assert "<td>3</td><td>2</td>" in alarm_rows[0]
    assert len(ok_rows) == 1
    assert "100.00%" in ok_rows[0]
    month = client.get(f"{site_page(tenant_a)}/report-rate?period=month").get_data(as_text=True)
    assert "80.00%" not in month  # per gate, not per site
    assert len(re.findall(r'class="rate-alarm"', month)) == 1
    bad = client.get(f"{site_page(tenant_a)}/report-rate?period=week")
    assert bad.status_code == 422
    assert "period" in bad.get_data(as_text=True)


def test_viewer_sees_no_forms_and_cannot_post_and_another_tenant_gets_404(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture, sim: RegulatorSim, rsa_key: str
) -> None:
    admin = _login(app, tenant_a.admin_username)
    config = configure(app, admin, tenant_a, sim, rsa_key)
    home = admin.get("/portal/").get_data(as_text=True)
    assert "/portal/regulator" in home
    viewer = _login(app, make_user(app, Role.VIEWER, tenant_a.tenant_id).username)
    page = viewer.get(site_page(tenant_a)).get_data(as_text=True)
    assert "测试连接" not in page
    assert 'name="client_secret"' not in page
    token = csrf_from(viewer, site_page(tenant_a))
    for path in (
        f"{site_page(tenant_a)}/configs",
        f"{site_page(tenant_a)}/configs/{config.id}",
        f"{site_page(tenant_a)}/configs/{config.id}/test",
        f"{site_page(tenant_a)}/uploads/resend",
    ):
        assert viewer.post(path, data={"csrf_token": token, "all": "1"}).status_code == 403
    # Without the CSRF token even the admin is refused.
    assert admin.post(f"{site_page(tenant_a)}/configs/{config.id}/test").status_code in (400, 403)
    other = _login(app, tenant_b.admin_username)
    for path in (
        site_page(tenant_a),
        f"{site_page(tenant_a)}/configs/{config.id}",
        f"{site_page(tenant_a)}/uploads",
        f"{site_page(tenant_a)}/report-rate",
        f"{site_page(tenant_b)}/configs/{config.id}",
    ):
        assert other.get(path).status_code == 404, path
    assert str(config.id) not in other.get("/portal/regulator").get_data(as_text=True)
