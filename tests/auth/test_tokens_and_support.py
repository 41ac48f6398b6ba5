"""API tokens (hashed, scoped, revocable) and provider support access (reasoned, time-limited,
audited, visible to the tenant)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from saas.db import get_database, utcnow
from saas.models.identity import ApiToken, Role, SupportGrant
from saas.tenancy import system_context
from tests.conftest import TenantFixture, api_csrf, login, make_user


def _session_client(app: Flask, username: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert login(client, username) == 302
    return client, {"X-CSRFToken": api_csrf(client)}


def test_token_lifecycle(app: Flask, tenant_a: TenantFixture) -> None:
    client, headers = _session_client(app, tenant_a.admin_username)
    created = client.post(
        "/api/v1/tokens", json={"name": "weighbridge", "scopes": ["read"]}, headers=headers
    )
    assert created.status_code == 201
    secret = created.get_json()["token"]
    assert secret.startswith("cg_")
    with get_database(app).sessionmaker() as session, system_context("test"):
        row = session.scalars(select(ApiToken).where(ApiToken.name == "weighbridge")).one()
        assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in (row.prefix, row.token_hash)
    listed = client.get("/api/v1/tokens").get_json()["items"]
    assert all("token" not in item for item in listed)
    bearer = {"Authorization": f"Bearer {secret}"}
    api = app.test_client()
    assert api.get("/api/v1/sites", headers=bearer).status_code == 200
    # read scope: no writes even though the owner could
    assert (
        api.patch(
            f"/api/v1/sites/{tenant_a.site_id}", json={"name": "x"}, headers=bearer
        ).status_code
        == 403
    )
    token_id = created.get_json()["id"]
    assert client.delete(f"/api/v1/tokens/{token_id}", headers=headers).status_code == 204
    response = api.get("/api/v1/sites", headers=bearer)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthenticated"


def test_bad_token_input(app: Flask, tenant_a: TenantFixture) -> None:
    client, headers = _session_client(app, tenant_a.admin_username)
    response = client.post(
        "/api/v1/tokens", json={"name": "", "scopes": ["admin"]}, headers=headers
    )
    assert response.status_code == 422
    fields = response.get_json()["error"]["details"]["fields"]
    assert "name" in fields
    assert any(f.startswith("scopes") for f in fields)
    past = (utcnow() - timedelta(days=1)).isoformat()
    response = client.post(
        "/api/v1/tokens",
        json={"name": "x", "scopes": ["read"], "expires_at": past},
        headers=headers,
    )
    assert response.status_code == 422
    assert "expires_at" in response.get_json()["error"]["details"]["fields"]
    assert client.get("/api/v1/tokens").get_json()["items"] == []


def test_write_token_can_patch_own_site(app: Flask, tenant_a: TenantFixture) -> None:
    client, headers = _session_client(app, tenant_a.admin_username)
    secret = client.post(
        "/api/v1/tokens", json={"name": "erp", "scopes": ["read", "write"]}, headers=headers
    ).get_json()["token"]
    response = app.test_client().patch(
        f"/api/v1/sites/{tenant_a.site_id}",
        json={"contact_phone": "0315-1234567"},
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert response.status_code == 200
    assert response.get_json()["contact_phone"] == "0315-1234567"


def test_support_access_is_read_only_time_limited_and_visible(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    staff = make_user(app, Role.PROVIDER_EXPERT, None)
    client, headers = _session_client(app, staff.username)
    assert client.get("/api/v1/sites").status_code == 403  # no tenant without a grant
    bad = client.post(
        "/api/v1/support-grants",
        json={"tenant_id": str(tenant_a.tenant_id), "reason": "", "minutes": 9999},
        headers=headers,
    )
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["details"]["fields"]) == {"reason", "minutes"}
    started = client.post(
        "/api/v1/support-grants",
        json={
            "tenant_id": str(tenant_a.tenant_id),
            "reason": "客户来电：核对站点信息",
            "minutes": 30,
        },
        headers=headers,
    )
    assert started.status_code == 201
    grant_id = started.get_json()["id"]
    sites = client.get("/api/v1/sites").get_json()["items"]
    assert [s["id"] for s in sites] == [str(tenant_a.site_id)]
    assert client.get(f"/api/v1/sites/{tenant_b.site_id}").status_code == 404
    assert (
        client.patch(
            f"/api/v1/sites/{tenant_a.site_id}", json={"name": "x"}, headers=headers
        ).status_code
        == 403
    )  # read only
    # the tenant sees the grant and the audit trail
    admin, _ = _session_client(app, tenant_a.admin_username)
    grants = admin.get("/api/v1/support-grants").get_json()["items"]
    assert [g["id"] for g in grants] == [grant_id]
    events = [e["event"] for e in admin.get("/api/v1/audit-events").get_json()["items"]]
    assert "support.start" in events
    # tenant B sees neither
    other, _ = _session_client(app, tenant_b.admin_username)
    assert other.get("/api/v1/support-grants").get_json()["items"] == []
    # expiry ends access
    with get_database(app).sessionmaker() as session, system_context("test"):
        grant = session.get(SupportGrant, uuid.UUID(grant_id))
        assert grant is not None
        grant.expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    assert client.get("/api/v1/sites").status_code == 403


def test_support_grant_for_unknown_tenant_is_404(app: Flask) -> None:
    staff = make_user(app, Role.PROVIDER_OPS, None)
    client, headers = _session_client(app, staff.username)
    response = client.post(
        "/api/v1/support-grants",
        json={
            "tenant_id": "00000000-0000-4000-8000-000000000000",
            "reason": "checking something",
            "minutes": 5,
        },
        headers=headers,
    )
    assert response.status_code == 404
