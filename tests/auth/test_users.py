"""Tenant admins manage their users; role changes are audited and revoke sessions."""

from __future__ import annotations

import json

from flask import Flask

from tests.conftest import TenantFixture, api_csrf, login


def _admin(app: Flask, tenant: TenantFixture):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert login(client, tenant.admin_username) == 302
    return client, {"X-CSRFToken": api_csrf(client)}


def test_create_change_role_and_deactivate(app: Flask, tenant_a: TenantFixture) -> None:
    admin, headers = _admin(app, tenant_a)
    created = admin.post(
        "/api/v1/users",
        json={"username": "guard1@a", "display_name": "门岗一", "role": "guard"},
        headers=headers,
    )
    assert created.status_code == 201
    user = created.get_json()
    guard = app.test_client()
    assert login(guard, "guard1@a", user["one_time_password"]) == 302
    assert guard.get("/portal/").status_code == 302  # must change the one-time password
    changed = admin.patch(
        f"/api/v1/users/{user['id']}", json={"role": "env_manager"}, headers=headers
    )
    assert changed.status_code == 200
    assert changed.get_json()["role"] == "env_manager"
    assert guard.get("/portal/").status_code == 401  # session revoked by the role change
    events = admin.get("/api/v1/audit-events").get_json()["items"]
    change = next(e for e in events if e["event"] == "role.change")
    assert change["details"] == {"user": "guard1@a", "from": "guard", "to": "env_manager"}
    off = admin.patch(f"/api/v1/users/{user['id']}", json={"is_active": False}, headers=headers)
    assert off.get_json()["is_active"] is False
    assert login(app.test_client(), "guard1@a", user["one_time_password"]) == 401


def test_bad_user_input(app: Flask, tenant_a: TenantFixture) -> None:
    admin, headers = _admin(app, tenant_a)
    bad = admin.post(
        "/api/v1/users",
        json={"username": "x", "display_name": "", "role": "provider_admin"},
        headers=headers,
    )
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["details"]["fields"]) == {"username", "display_name", "role"}
    dup = admin.post(
        "/api/v1/users",
        json={"username": tenant_a.admin_username, "display_name": "重复", "role": "viewer"},
        headers=headers,
    )
    assert dup.status_code == 409
    me = admin.get("/api/v1/me").get_json()
    selfie = admin.patch(f"/api/v1/users/{me['user_id']}", json={"role": "viewer"}, headers=headers)
    assert selfie.status_code == 422
    users = admin.get("/api/v1/users").get_json()["items"]
    assert [u["username"] for u in users] == [tenant_a.admin_username]
    assert "password" not in json.dumps(users)


def test_staff_create_cli(app: Flask) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "staff",
            "create",
            "--username",
            "Ops2@Provider",
            "--display-name",
            "运维二",
            "--role",
            "provider_ops",
        ]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    client = app.test_client()
    assert login(client, "ops2@provider", data["one_time_password"]) == 302
    again = runner.invoke(
        args=[
            "staff",
            "create",
            "--username",
            "ops2@provider",
            "--display-name",
            "x",
            "--role",
            "provider_ops",
        ]
    )
    assert again.exit_code == 2
    assert "already exists" in again.output
