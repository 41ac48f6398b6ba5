"""The API skeleton: OpenAPI document, error envelope, pagination, and provisioning input."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from sqlalchemy import func, select

from saas.api.openapi import openapi_path
from saas.db import get_database
from saas.models.identity import Role, User
from saas.models.tenancy import Site, Tenant
from saas.tenancy import system_context
from tests.conftest import VALID_USCC, TenantFixture, api_csrf, login, make_tenant, make_user


def _provider(app: Flask) -> tuple[FlaskClient, dict[str, str]]:
    staff = make_user(app, Role.PROVIDER_OPS, None)
    client = app.test_client()
    assert login(client, staff.username) == 302
    return client, {"X-CSRFToken": api_csrf(client)}


def _counts(app: Flask) -> tuple[int, int, int]:
    with get_database(app).sessionmaker() as session, system_context("test"):
        return (
            session.scalar(select(func.count()).select_from(Tenant)) or 0,
            session.scalar(select(func.count()).select_from(Site)) or 0,
            session.scalar(select(func.count()).select_from(User)) or 0,
        )


def _body(**site: Any) -> dict[str, Any]:
    base = {
        "name": "一号焦化厂",
        "uscc": VALID_USCC,
        "region_code": "130203",
        "industry": "coking",
        "rating": "B",
    }
    base.update(site)
    return {"name": "新客户集团", "slug": f"new-{id(site) % 100000}", "site": base}


def test_openapi_document_is_valid_and_complete(app: Flask) -> None:
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    validate(doc)
    paths = doc["paths"]
    assert "/api/v1/sites/{site_id}" in paths
    assert {"get", "patch"} <= set(paths["/api/v1/sites/{site_id}"])
    assert "/api/v1/tenants" in paths
    # every API route in the URL map is documented
    documented = {(p, m.upper()) for p, ops in paths.items() for m in ops}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.endpoint == "api.openapi_document":
            continue
        path = openapi_path(rule.rule)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            assert (path, method) in documented, f"{method} {rule.rule} is not documented"


def test_error_envelope(app: Flask, tenant_a: TenantFixture) -> None:
    client = app.test_client()
    unauth = client.get("/api/v1/sites").get_json()
    assert unauth == {"error": {"code": "unauthenticated", "message": "请先登录", "details": {}}}
    assert login(client, tenant_a.admin_username) == 302
    missing = client.get("/api/v1/sites/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.get_json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/nope").get_json()["error"]["code"] == "not_found"
    bad_limit = client.get("/api/v1/sites?limit=0")
    assert bad_limit.status_code == 422
    assert "limit" in bad_limit.get_json()["error"]["details"]["fields"]
    bad_cursor = client.get("/api/v1/sites?cursor=%%%")
    assert bad_cursor.status_code == 422


def test_keyset_pagination(app: Flask, tenant_a: TenantFixture) -> None:
    client = app.test_client()
    assert login(client, tenant_a.admin_username) == 302
    from saas.tenancy import tenant_context

    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        for i in range(4):
            session.add(
                Site(
                    name=f"分厂{i}",
                    uscc=VALID_USCC,
                    region_code="130200",
                    industry="coking",
                    rating="B",
                )
            )
        session.commit()
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        url = "/api/v1/sites?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url).get_json()
        seen += [s["id"] for s in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 5


def test_provision_tenant_through_api(app: Flask) -> None:
    client, headers = _provider(app)
    body = _body()
    response = client.post("/api/v1/tenants", json=body, headers=headers)
    assert response.status_code == 201
    created = response.get_json()
    assert len(created["one_time_password"]) == 16
    listed = client.get("/api/v1/tenants?limit=200").get_json()["items"]
    assert created["tenant_id"] in {t["id"] for t in listed}
    # the new admin must change the one-time password first
    new_admin = app.test_client()
    assert login(new_admin, created["admin_username"], created["one_time_password"]) == 302
    assert new_admin.get("/portal/").headers["Location"].endswith("/account/password")
    # duplicate slug → 409, nothing written
    before = _counts(app)
    again = client.post("/api/v1/tenants", json=body, headers=headers)
    assert again.status_code == 409
    assert again.get_json()["error"]["details"]["fields"] == {"slug": "already exists"}
    assert _counts(app) == before


@pytest.mark.parametrize(
    ("site", "field"),
    [
        ({"uscc": "91350100M000100Y44"}, "site.uscc"),  # wrong check character
        ({"uscc": "9135010"}, "site.uscc"),
        ({"region_code": "990100"}, "site.region_code"),
        ({"region_code": "13020"}, "site.region_code"),
        ({"industry": "cokes"}, "site.industry"),
        ({"rating": "E"}, "site.rating"),
        ({"latitude": 95}, "site.latitude"),
    ],
)
def test_bad_provisioning_input_names_the_field_and_writes_nothing(
    app: Flask, site: dict[str, Any], field: str
) -> None:
    client, headers = _provider(app)
    before = _counts(app)
    response = client.post("/api/v1/tenants", json=_body(**site), headers=headers)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert list(error["details"]["fields"]) == [field]
    assert _counts(app) == before


def test_bad_slug_and_non_json(app: Flask) -> None:
    client, headers = _provider(app)
    body = _body()
    body["slug"] = "Bad Slug!"
    response = client.post("/api/v1/tenants", json=body, headers=headers)
    assert response.status_code == 422
    assert "slug" in response.get_json()["error"]["details"]["fields"]
    raw = client.post(
        "/api/v1/tenants", data="not json", headers={**headers, "Content-Type": "application/json"}
    )
    assert raw.status_code == 400


def test_tenant_users_cannot_provision(app: Flask, tenant_a: TenantFixture) -> None:
    client = app.test_client()
    assert login(client, tenant_a.admin_username) == 302
    response = client.post(
        "/api/v1/tenants", json=_body(), headers={"X-CSRFToken": api_csrf(client)}
    )
    assert response.status_code == 403


def test_site_patch_validates_with_compliance_codes(app: Flask, tenant_a: TenantFixture) -> None:
    client = app.test_client()
    assert login(client, tenant_a.admin_username) == 302
    headers = {"X-CSRFToken": api_csrf(client)}
    bad = client.patch(
        f"/api/v1/sites/{tenant_a.site_id}",
        json={"uscc": "91350100M000100Y44", "evil": 1},
        headers=headers,
    )
    assert bad.status_code == 422
    fields = bad.get_json()["error"]["details"]["fields"]
    assert "bad_check_char" in fields["uscc"]
    assert "evil" in fields  # no mass assignment
    ok = client.patch(f"/api/v1/sites/{tenant_a.site_id}", json={"rating": "A"}, headers=headers)
    assert ok.status_code == 200
    assert ok.get_json()["rating"] == "A"
    other = make_tenant(app, "other")
    assert (
        client.patch(
            f"/api/v1/sites/{other.site_id}", json={"rating": "A"}, headers=headers
        ).status_code
        == 404
    )
