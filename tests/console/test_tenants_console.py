"""The console's tenant pages: the onboarding wizard (six steps, errors at the field, one
transaction — a failure at the last write leaves nothing), the list with search and status,
one tenant's page, suspend/reactivate with a reason, and support access (reasoned, capped,
audited, seen by the tenant) — for provider staff with the right permission only, escaped."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from saas import migrate
from saas.api.devices import code_digest
from saas.app import create_app
from saas.auth.passwords import verify_password
from saas.db import get_database
from saas.edge_hub import bus
from saas.models.billing import BillingPlan, Subscription
from saas.models.identity import AuditEvent, Role, SupportGrant, User
from saas.models.ledger import EdgeDevice
from saas.models.regulator import RegulatorConfig
from saas.models.tenancy import Site, Tenant
from saas.regulator import configs
from saas.tenancy import system_context, tenant_context
from tests.conftest import (
    VALID_USCC,
    TenantFixture,
    _settings,
    csrf_from,
    login,
    make_user,
)
from tests.ledger.edge_helpers import make_device

WIZARD = "/console/tenants/new"
CODE = re.compile(r'<code id="pairing-code">([A-Z0-9]{8})</code>')
PASSWORD = re.compile(r'<code id="one-time-password">([^<]+)</code>')


def _staff(app: Flask, role: Role = Role.PROVIDER_OPS) -> FlaskClient:
    user = make_user(app, role, None)
    client = app.test_client()
    assert login(client, user.username) == 302
    return client


def _field_error(page: str, field: str) -> str:
    """The error message rendered inside the label of the input named ``field``."""
    for block in re.findall(r"<label>(.*?)</label>", page, re.S):
        if f'name="{field}"' in block:
            match = re.search(r'<span class="error">([^<]+)</span>', block)
            assert match, f"no error next to {field}"
            return match.group(1)
    raise AssertionError(f"no input {field}")


def _steps(slug: str, **overrides: dict[str, str]) -> list[tuple[str, dict[str, str]]]:
    steps = {
        "enterprise": {"name": f"冀东焦化集团 {slug}", "slug": slug},
        "site": {
            "name": f"冀东一厂-{slug}",
            "uscc": VALID_USCC,
            "region_code": "130200",
            "industry": "coking",
            "rating": "B",
            "permit_no": "91130200MA0000000X001P",
            "contact_phone": "0315-1234567",
        },
        "admin": {"admin_username": f"boss@{slug}", "admin_display_name": "王经理"},
        "plan": {"plan_id": ""},
        "regulator": {"configure": "0"},
    }
    for step, values in overrides.items():
        steps[step] = values
    return list(steps.items())


def _walk(client: FlaskClient, slug: str, **overrides: dict[str, str]) -> str:
    """Steps 1–5, each accepted; returns the CSRF token for the confirmation."""
    assert client.get(f"{WIZARD}?restart=1").location.endswith(f"{WIZARD}/enterprise")
    token = csrf_from(client, f"{WIZARD}/enterprise")
    names = [name for name, _values in _steps(slug)] + ["confirm"]
    for index, (step, data) in enumerate(_steps(slug, **overrides)):
        response = client.post(f"{WIZARD}/{step}", data={**data, "csrf_token": token})
        page = response.get_data(as_text=True)
        assert response.status_code == 302, (step, re.findall(r'class="error">([^<]+)', page))
        assert response.location.endswith(f"{WIZARD}/{names[index + 1]}")
    return token


def _plan(app: Flask, **fields: Any) -> BillingPlan:
    with get_database(app).sessionmaker() as session:
        plan = BillingPlan(
            code=f"std-{uuid.uuid4().hex[:8]}",
            name=f"标准版-{uuid.uuid4().hex[:4]}",
            site_monthly_fee=Decimal("1200.00"),
            lane_monthly_fee=Decimal("300.00"),
            annual_discount_pct=Decimal("10.00"),
            **fields,
        )
        session.add(plan)
        session.commit()
        return plan


def _tenant_by_slug(app: Flask, slug: str) -> Tenant | None:
    with get_database(app).sessionmaker() as session, system_context("test: tenant by slug"):
        return session.scalars(select(Tenant).where(Tenant.slug == slug)).one_or_none()


def _count(app: Flask, model: Any, *where: Any) -> int:
    with get_database(app).sessionmaker() as session, system_context("test: count"):
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _events(app: Flask, tenant_id: uuid.UUID) -> list[AuditEvent]:
    with get_database(app).sessionmaker() as session, system_context("test: audit"):
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.id)
            )
        )


# --- the wizard ---------------------------------------------------------------------------------


def test_the_wizard_creates_tenant_site_admin_plan_regulator_and_bridge(app: Flask) -> None:
    plan = _plan(app)
    client = _staff(app)
    slug = f"jd-{uuid.uuid4().hex[:8]}"
    token = _walk(
        client,
        slug,
        plan={"plan_id": str(plan.id), "cycle": "annual", "starts_on": "2026-03-01",
              "billing_email": "finance@jd.example.cn"},
        regulator={"configure": "1", "name": "河北省移动源监管平台", "adapter": "hj1321-json",
                   "endpoint": "https://regulator.example.cn/api", "signer": "rsa2",
                   "client_id": "C-001", "enterprise_code": "E-001", "active": "1"},
    )  # fmt: skip
    page = client.get(f"{WIZARD}/confirm").get_data(as_text=True)
    assert plan.name in page
    assert "河北省移动源监管平台" in page
    assert f"boss@{slug}" in page
    response = client.post(
        f"{WIZARD}/confirm",
        data={"bridge_name": "东门网关", "client_secret": "client-secret-42", "csrf_token": token},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert response.headers["Cache-Control"] == "no-store"
    code = CODE.search(page)
    password = PASSWORD.search(page)
    assert code
    assert password
    assert "BEGIN PUBLIC KEY" in page  # our generated key, to register with the platform
    assert "client-secret-42" not in page
    assert "PRIVATE KEY" not in page

    tenant = _tenant_by_slug(app, slug)
    assert tenant is not None
    assert tenant.status == "active"
    with tenant_context(tenant.id), get_database(app).sessionmaker() as session:
        site = session.scalars(select(Site)).one()
        assert (site.uscc, site.region_code, site.rating) == (VALID_USCC, "130200", "B")
        admin = session.scalars(select(User)).one()
        assert admin.username == f"boss@{slug}"
        assert admin.role == Role.TENANT_ADMIN
        assert admin.must_change_password
        assert verify_password(admin.password_hash, password.group(1))
        subscription = session.scalars(select(Subscription)).one()
        assert (subscription.plan_id, subscription.cycle) == (plan.id, "annual")
        assert str(subscription.starts_on) == "2026-03-01"
        assert subscription.buyer_tax_no == VALID_USCC
        assert subscription.billing_email == "finance@jd.example.cn"
        config = session.scalars(select(RegulatorConfig)).one()
        assert (config.endpoint, config.signer, config.uscc) == (
            "https://regulator.example.cn/api", "rsa2", VALID_USCC)  # fmt: skip
        assert config.permit_no == "91130200MA0000000X001P"
        assert config.last_test_at is None  # not tested at creation: the key is new
        assert config.public_key
        assert "BEGIN PUBLIC KEY" in config.public_key
        assert configs.stored_secret_names(config, app) == ["client_secret", "private_key"]
        bridge = session.scalars(select(EdgeDevice)).one()
        assert (bridge.name, bridge.status, bridge.site_id) == ("东门网关", "pending", site.id)
        assert bridge.pairing_code_hash == code_digest(code.group(1))
    events = [e.event for e in _events(app, tenant.id)]
    for event in ("tenant.create", "role.grant", "subscription.create", "regulator_config.create",
                  "device.register", "device.pairing_code", "tenant.onboard"):  # fmt: skip
        assert events.count(event) == 1, (event, events)
    assert "client-secret-42" not in repr([e.details for e in _events(app, tenant.id)])

    # the wizard starts afresh; the tenant's page shows what was made
    assert client.get(WIZARD).location.endswith(f"{WIZARD}/enterprise")
    detail = client.get(f"/console/tenants/{tenant.id}").get_data(as_text=True)
    assert plan.name in detail
    assert f"冀东一厂-{slug}" in detail
    assert "东门网关" in detail

    # the admin logs in with the one-time password; the box pairs with the code
    assert login(app.test_client(), f"boss@{slug}", password.group(1)) == 302
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    paired = app.test_client().post(
        "/api/v1/edge/pair",
        json={"code": code.group(1), "public_key": base64.b64encode(raw).decode()},
        environ_base={"REMOTE_ADDR": f"10.9.{uuid.uuid4().int % 250}.7"},
    )
    assert paired.status_code == 200, paired.get_json()
    assert paired.get_json()["site_id"] == str(site.id)


def test_each_step_names_the_bad_field_and_nothing_is_written(
    app: Flask, tenant_a: TenantFixture
) -> None:
    client = _staff(app)
    before = _count(app, Tenant)
    client.get(f"{WIZARD}?restart=1")
    token = csrf_from(client, f"{WIZARD}/enterprise")

    def post(step: str, data: dict[str, str]) -> tuple[int, str]:
        response = client.post(f"{WIZARD}/{step}", data={**data, "csrf_token": token})
        return response.status_code, response.get_data(as_text=True)

    # a later step cannot be reached before the earlier ones
    assert client.get(f"{WIZARD}/admin").location.endswith(f"{WIZARD}/enterprise")
    status, page = post("enterprise", {"name": "", "slug": "Bad Slug"})
    assert status == 422
    assert _field_error(page, "name") == "必填"
    assert "小写字母" in _field_error(page, "slug")
    status, page = post("enterprise", {"name": "<b>重名</b>", "slug": tenant_a.slug})
    assert (status, _field_error(page, "slug")) == (422, "企业标识已被使用")
    assert "&lt;b&gt;重名&lt;/b&gt;" in page
    assert "<b>重名</b>" not in page
    slug = f"ok-{uuid.uuid4().hex[:8]}"
    assert post("enterprise", {"name": "新企业", "slug": slug})[0] == 302

    site = dict(_steps(slug))["site"]
    status, page = post("site", {**site, "uscc": "91350100M000100Y44", "region_code": "99"})
    assert status == 422
    assert "统一社会信用代码无效" in _field_error(page, "uscc")
    assert "行政区划代码无效" in _field_error(page, "region_code")
    status, page = post("site", {**site, "longitude": "东经"})
    assert status == 422
    assert "数字" in _field_error(page, "longitude")
    assert post("site", site)[0] == 302

    status, page = post("admin", {"admin_username": tenant_a.admin_username})
    assert status == 422
    assert "已被使用" in _field_error(page, "admin_username")
    status, page = post("admin", {"admin_username": "a b"})
    assert (status, _field_error(page, "admin_username")) == (422, "格式不正确")
    assert post("admin", {"admin_username": ""})[0] == 302  # admin@<slug>

    status, page = post("plan", {"plan_id": str(uuid.uuid4()), "cycle": "monthly"})
    assert status == 422
    assert _field_error(page, "plan_id") == "套餐不存在或已停用"
    assert post("plan", {"plan_id": ""})[0] == 302

    status, page = post(
        "regulator",
        {"configure": "1", "name": "平台", "adapter": "hj1321-json", "signer": "rsa2",
         "endpoint": "ftp://user:pw@example.cn"},
    )  # fmt: skip
    assert status == 422
    assert "http(s)" in _field_error(page, "endpoint")
    status, page = post(
        "regulator",
        {"configure": "1", "name": "平台", "adapter": "nope", "signer": "rsa2",
         "endpoint": "https://example.cn"},
    )  # fmt: skip
    assert status == 422
    assert "nope" in _field_error(page, "adapter")
    assert post("regulator", {"configure": "0"})[0] == 302

    status, page = post("confirm", {"bridge_name": ""})
    assert (status, _field_error(page, "bridge_name")) == (422, "必填")
    assert _count(app, Tenant) == before
    assert _tenant_by_slug(app, slug) is None


def test_a_failure_after_the_tenant_is_written_rolls_everything_back(app: Flask) -> None:
    """The shared key is checked by the regulator configuration, after the tenant, site and
    admin rows are in the transaction: all of them go."""
    client = _staff(app)
    slug = f"rb-{uuid.uuid4().hex[:8]}"
    regulator = {
        "configure": "1",
        "name": "市级平台",
        "adapter": "hj1321-json",
        "endpoint": "https://city.example.cn",
        "signer": "hmac-sha256",
        "active": "1",
    }
    token = _walk(client, slug, regulator=regulator)
    users_before = _count(app, User)
    response = client.post(
        f"{WIZARD}/confirm",
        data={"bridge_name": "1号网关", "shared_key": "too-short", "csrf_token": token},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "共享密钥至少 16 个字符" in _field_error(page, "shared_key")
    assert "too-short" not in page  # a secret is never sent back
    assert _tenant_by_slug(app, slug) is None
    assert _count(app, User) == users_before
    assert _count(app, Site, Site.name == f"冀东一厂-{slug}") == 0
    assert _count(app, AuditEvent, AuditEvent.actor_label == f"boss@{slug}") == 0
    with get_database(app).sessionmaker() as session, system_context("test: audit"):
        onboarded = session.scalars(
            select(AuditEvent).where(AuditEvent.event == "tenant.create")
        ).all()
        assert all(e.details.get("slug") != slug for e in onboarded)

    # the answers are still there: the right key completes it
    response = client.post(
        f"{WIZARD}/confirm",
        data={"bridge_name": "1号网关", "shared_key": "a-shared-key-0123456789",
              "csrf_token": token},
    )  # fmt: skip
    assert response.status_code == 200, response.get_data(as_text=True)
    tenant = _tenant_by_slug(app, slug)
    assert tenant is not None
    with tenant_context(tenant.id), get_database(app).sessionmaker() as session:
        config = session.scalars(select(RegulatorConfig)).one()
        assert config.public_key is None  # a shared key: nothing of ours to register
        assert configs.stored_secret_names(config, app) == ["shared_key"]
        assert session.scalar(select(func.count()).select_from(Subscription)) == 0


def test_a_slug_taken_meanwhile_is_reported_at_confirmation(app: Flask) -> None:
    client = _staff(app)
    slug = f"race-{uuid.uuid4().hex[:8]}"
    token = _walk(client, slug)
    make_tenant_with_slug(app, slug)
    response = client.post(f"{WIZARD}/confirm", data={"bridge_name": "网关", "csrf_token": token})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "企业标识：企业标识已被使用" in page
    assert _count(app, Tenant, Tenant.slug == slug) == 1


def make_tenant_with_slug(app: Flask, slug: str) -> None:
    from tenants.provisioning import TenantCreate, create_tenant

    with get_database(app).sessionmaker() as session:
        create_tenant(
            session,
            TenantCreate(
                name="抢先的企业",
                slug=slug,
                site={
                    "name": "厂",
                    "uscc": VALID_USCC,
                    "region_code": "130200",
                    "industry": "coking",
                },
            ),
        )


@pytest.fixture
def empty_catalogue_app(tmp_path: Path) -> Iterator[Flask]:
    """A fresh database: no billing plans at all."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrate.upgrade(url)
    fresh = create_app(_settings(tmp_path, url))
    yield fresh
    get_database(fresh).dispose()


def test_without_plans_the_step_says_so_and_can_be_skipped(empty_catalogue_app: Flask) -> None:
    app = empty_catalogue_app
    client = _staff(app)
    slug = f"np-{uuid.uuid4().hex[:8]}"
    client.get(f"{WIZARD}?restart=1")
    token = csrf_from(client, f"{WIZARD}/enterprise")
    for step, data in _steps(slug)[:3]:
        assert (
            client.post(f"{WIZARD}/{step}", data={**data, "csrf_token": token}).status_code == 302
        )
    page = client.get(f"{WIZARD}/plan").get_data(as_text=True)
    assert "未配置套餐" in page
    assert 'name="cycle"' not in page
    for step, data in _steps(slug)[3:]:
        assert (
            client.post(f"{WIZARD}/{step}", data={**data, "csrf_token": token}).status_code == 302
        )
    response = client.post(f"{WIZARD}/confirm", data={"bridge_name": "网关", "csrf_token": token})
    assert response.status_code == 200
    tenant = _tenant_by_slug(app, slug)
    assert tenant is not None
    assert _count(app, Subscription, Subscription.tenant_id == tenant.id) == 0
    assert "未订阅套餐" in response.get_data(as_text=True)


def test_who_may_onboard_and_who_may_look(app: Flask, tenant_a: TenantFixture) -> None:
    billing = _staff(app, Role.PROVIDER_BILLING)  # console, tenant list, no tenant.create
    assert billing.get("/console/tenants").status_code == 200
    assert billing.get(WIZARD).status_code == 403
    assert billing.get(f"{WIZARD}/enterprise").status_code == 403
    token = csrf_from(billing)
    assert billing.post(
        f"/console/tenants/{tenant_a.tenant_id}/status",
        data={"status": "suspended", "status_reason": "合同到期未续", "csrf_token": token},
    ).status_code == 403  # fmt: skip
    assert billing.post(
        f"/console/tenants/{tenant_a.tenant_id}/support",
        data={"reason": "排查上报失败", "minutes": "30", "csrf_token": token},
    ).status_code == 403  # fmt: skip

    tenant_admin = app.test_client()
    assert login(tenant_admin, tenant_a.admin_username) == 302
    for path in ("/console/tenants", f"/console/tenants/{tenant_a.tenant_id}", WIZARD,
                 "/console/tenants/support", "/console/fleet"):  # fmt: skip
        assert tenant_admin.get(path).status_code == 403, path
    anonymous = app.test_client().get("/console/tenants")
    assert anonymous.status_code in (302, 401)
    assert _staff(app).get(f"{WIZARD}/nowhere").status_code == 404


# --- list and detail ----------------------------------------------------------------------------


def _rename(app: Flask, tenant: TenantFixture, name: str, site_name: str, uscc: str) -> None:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        row = session.get(Tenant, tenant.tenant_id)
        site = session.get(Site, tenant.site_id)
        assert row is not None
        assert site is not None
        row.name, site.name, site.uscc = name, site_name, uscc
        session.commit()


def _listed(client: FlaskClient, **args: str) -> str:
    response = client.get("/console/tenants", query_string={**args, "limit": "200"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_search_by_name_slug_site_and_uscc_and_filter_by_status(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    tag = uuid.uuid4().hex[:8]
    _rename(app, tenant_a, f"<i>唐山{tag}</i>", f"迁安厂{tag}", "91130200MA07L7Q91X")
    client = _staff(app, Role.PROVIDER_EXPERT)
    a_link = f"/console/tenants/{tenant_a.tenant_id}"
    b_link = f"/console/tenants/{tenant_b.tenant_id}"
    for q in (f"唐山{tag}", tenant_a.slug.upper(), f"迁安厂{tag}", "91130200ma07l7q91x"):
        page = _listed(client, q=q)
        assert a_link in page, q
        assert b_link not in page, q
    page = _listed(client, q=f"唐山{tag}")
    assert f"&lt;i&gt;唐山{tag}&lt;/i&gt;" in page
    assert "<i>唐山" not in page
    assert _listed(client, q=f"唐山{tag}", status="suspended").count(a_link) == 0
    assert a_link in _listed(client, q=f"唐山{tag}", status="active")
    response = client.get("/console/tenants", query_string={"status": "gone"})
    assert response.status_code == 422
    assert "请选择正常或已暂停" in response.get_data(as_text=True)


def test_one_tenants_page(app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    bus.set_presence(app.extensions["cleangate.redis"], device.id, online=1, hub="t",
                     outbox_depth=17, software_version="edge-9.9.1")  # fmt: skip
    make_user(app, Role.GUARD, tenant_a.tenant_id)
    foreign = make_device(app, tenant_b.tenant_id, tenant_b.site_id)
    client = _staff(app)
    page = client.get(f"/console/tenants/{tenant_a.tenant_id}").get_data(as_text=True)
    assert tenant_a.slug in page
    assert "一号焦化厂" in page
    assert "焦化" in page
    assert "edge-9.9.1" in page
    assert ">17<" in page
    assert "1 / 1" in page
    assert "tenant_admin 1" in page
    assert "guard 1" in page
    assert "未订阅套餐" in page
    assert str(foreign.id) not in page
    assert tenant_b.slug not in page
    missing = client.get(f"/console/tenants/{uuid.uuid4()}")
    assert missing.status_code == 404
    assert "企业不存在" in missing.get_data(as_text=True)


def test_suspending_needs_a_reason_is_audited_and_deletes_nothing(
    app: Flask, tenant_a: TenantFixture
) -> None:
    client = _staff(app)
    token = csrf_from(client)
    path = f"/console/tenants/{tenant_a.tenant_id}/status"
    response = client.post(
        path, data={"status": "suspended", "status_reason": " ", "csrf_token": token}
    )
    assert response.status_code == 422
    assert "请填写原因" in _field_error(response.get_data(as_text=True), "status_reason")
    response = client.post(path, data={"status": "closed", "status_reason": "合同到期未续",
                                       "csrf_token": token})  # fmt: skip
    assert response.status_code == 422
    tenant = _tenant_by_slug(app, tenant_a.slug)
    assert tenant is not None
    assert tenant.status == "active"
    assert not [e for e in _events(app, tenant_a.tenant_id) if e.event == "tenant.status"]

    response = client.post(path, data={"status": "suspended", "status_reason": "合同到期未续",
                                       "csrf_token": token})  # fmt: skip
    assert response.status_code == 302
    tenant = _tenant_by_slug(app, tenant_a.slug)
    assert tenant is not None
    assert tenant.status == "suspended"
    (event,) = [e for e in _events(app, tenant_a.tenant_id) if e.event == "tenant.status"]
    assert event.details == {"from": "active", "to": "suspended", "reason": "合同到期未续"}
    assert _count(app, Site, Site.tenant_id == tenant_a.tenant_id) == 1
    assert _count(app, User, User.tenant_id == tenant_a.tenant_id) == 1
    assert "已暂停" in client.get(f"/console/tenants/{tenant_a.tenant_id}").get_data(as_text=True)
    again = client.post(path, data={"status": "suspended", "status_reason": "再次暂停",
                                    "csrf_token": token})  # fmt: skip
    assert again.status_code == 422
    assert client.post(path, data={"status": "active", "status_reason": "已续约",
                                   "csrf_token": token}).status_code == 302  # fmt: skip
    tenant = _tenant_by_slug(app, tenant_a.slug)
    assert tenant is not None
    assert tenant.status == "active"


# --- support access -----------------------------------------------------------------------------


def test_support_access_is_reasoned_capped_audited_and_seen_by_the_tenant(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    expert = make_user(app, Role.PROVIDER_EXPERT, None)
    client = app.test_client()
    assert login(client, expert.username) == 302
    token = csrf_from(client)
    path = f"/console/tenants/{tenant_a.tenant_id}/support"
    response = client.post(path, data={"reason": "查", "minutes": "60", "csrf_token": token})
    assert response.status_code == 422
    assert "请填写原因" in _field_error(response.get_data(as_text=True), "reason")
    response = client.post(path, data={"reason": "排查上报失败", "minutes": "9999",
                                       "csrf_token": token})  # fmt: skip
    assert response.status_code == 422
    assert "480" in _field_error(response.get_data(as_text=True), "minutes")
    assert _count(app, SupportGrant, SupportGrant.staff_user_id == expert.id) == 0

    response = client.post(path, data={"reason": "排查<script>上报</script>失败", "minutes": "30",
                                       "csrf_token": token})  # fmt: skip
    assert response.status_code == 302
    assert response.location.endswith("/portal/")
    portal = client.get("/portal/").get_data(as_text=True)
    assert "服务商支持访问中" in portal
    assert "一号焦化厂" in portal
    with get_database(app).sessionmaker() as session, system_context("test: grant"):
        grant = session.scalars(
            select(SupportGrant).where(SupportGrant.staff_user_id == expert.id)
        ).one()
        minutes = (grant.expires_at - grant.created_at).total_seconds() / 60
        assert grant.tenant_id == tenant_a.tenant_id
        assert 29 < minutes <= 30.1
    started = [e for e in _events(app, tenant_a.tenant_id) if e.event == "support.start"]
    assert [e.details["grant_id"] for e in started] == [str(grant.id)]

    # the tenant sees it
    admin = app.test_client()
    assert login(admin, tenant_a.admin_username) == 302
    grants = admin.get("/api/v1/support-grants").get_json()["items"]
    assert [g["id"] for g in grants] == [str(grant.id)]
    other = app.test_client()
    assert login(other, tenant_b.admin_username) == 302
    assert other.get("/api/v1/support-grants").get_json()["items"] == []

    # the provider sees it (history on the tenant's page, escaped; the active list) and ends it
    ops = _staff(app)
    detail = ops.get(f"/console/tenants/{tenant_a.tenant_id}").get_data(as_text=True)
    assert "排查&lt;script&gt;上报&lt;/script&gt;失败" in detail
    assert "进行中" in detail
    active = ops.get("/console/tenants/support").get_data(as_text=True)
    assert f"/console/tenants/support/{grant.id}/end" not in active  # not ops' own grant
    mine = client.get("/console/tenants/support").get_data(as_text=True)
    assert f"/console/tenants/support/{grant.id}/end" in mine
    assert ops.post(f"/console/tenants/support/{grant.id}/end",
                    data={"csrf_token": csrf_from(ops)}).status_code == 404  # fmt: skip
    assert client.post(f"/console/tenants/support/{grant.id}/end",
                       data={"csrf_token": token}).status_code == 302  # fmt: skip
    assert client.get("/console/tenants").status_code == 200  # a provider again
    ended = [e for e in _events(app, tenant_a.tenant_id) if e.event == "support.end"]
    assert [e.details["grant_id"] for e in ended] == [str(grant.id)]
    detail = ops.get(f"/console/tenants/{tenant_a.tenant_id}").get_data(as_text=True)
    assert "已结束" in detail
