"""Password login, lockout, rate limiting, CSRF, sessions and the audit trail."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from sqlalchemy import select

from saas.db import get_database, utcnow
from saas.models.identity import AuditEvent, LoginSession, Role, User
from saas.tenancy import system_context
from tests.conftest import PASSWORD, TenantFixture, csrf_from, login, make_user


def _events(app: Flask, actor: str) -> list[str]:
    with get_database(app).sessionmaker() as session, system_context("test"):
        return list(
            session.scalars(
                select(AuditEvent.event)
                .where(AuditEvent.actor_label == actor)
                .order_by(AuditEvent.id)
            )
        )


def test_login_page_is_chinese_with_csrf(app: Flask) -> None:
    html = app.test_client().get("/login").get_data(as_text=True)
    assert "登录" in html
    assert 'name="csrf_token"' in html


def test_login_reaches_portal_and_is_audited(app: Flask, tenant_a: TenantFixture) -> None:
    client = app.test_client()
    token = csrf_from(client)
    response = client.post(
        "/login",
        data={
            "username": tenant_a.admin_username.upper(),
            "password": PASSWORD,
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/portal/")
    page = client.get("/portal/")
    assert page.status_code == 200
    assert "一号焦化厂" in page.get_data(as_text=True)
    assert "login.success" in _events(app, tenant_a.admin_username)
    cookie = client.get_cookie("cg_session")
    assert cookie is not None
    assert cookie.http_only


def test_wrong_password_is_refused_and_audited(app: Flask, tenant_a: TenantFixture) -> None:
    client = app.test_client()
    assert login(client, tenant_a.admin_username, "wrong-password!") == 401
    assert client.get("/portal/").status_code == 401
    assert _events(app, tenant_a.admin_username)[-1] == "login.failure"


def test_unknown_user_gets_the_same_answer(app: Flask) -> None:
    assert login(app.test_client(), "nobody@nowhere", "whatever-123") == 401
    assert _events(app, "nobody@nowhere") == ["login.failure"]


def test_lockout_after_repeated_failures(app: Flask, tenant_a: TenantFixture) -> None:
    client = app.test_client()
    for _ in range(4):
        assert login(client, tenant_a.admin_username, "bad-password-1") == 401
    assert login(client, tenant_a.admin_username, "bad-password-1") == 423  # 5th locks
    # even the right password is refused while locked
    assert login(client, tenant_a.admin_username, PASSWORD) == 423
    events = _events(app, tenant_a.admin_username)
    assert "login.lockout" in events
    assert events[-1] == "login.locked"
    # after the lockout expires the right password works again
    with get_database(app).sessionmaker() as session, system_context("test"):
        user = session.get(User, tenant_a.admin_id)
        assert user is not None
        user.locked_until = utcnow() - timedelta(seconds=1)
        session.commit()
    assert login(client, tenant_a.admin_username, PASSWORD) == 302


def test_rate_limit_per_client_address(app: Flask, tenant_a: TenantFixture) -> None:
    settings = app.config["CLEANGATE_SETTINGS"]
    client = app.test_client()
    ip = "198.51.100.7"
    limit = settings.login_ip_limit_per_minute
    # Drive the counter to the limit directly, then one more attempt is refused.
    redis = app.extensions["cleangate.redis"]
    import time

    redis.set(f"throttle:login:{ip}:{int(time.time()) // 60}", limit)
    assert login(client, tenant_a.admin_username, PASSWORD, REMOTE_ADDR=ip) == 429
    assert login(client, tenant_a.admin_username, PASSWORD, REMOTE_ADDR="198.51.100.8") == 302


def test_post_without_csrf_token_is_rejected(app: Flask, tenant_a: TenantFixture) -> None:
    client = app.test_client()
    client.get("/login")
    response = client.post(
        "/login", data={"username": tenant_a.admin_username, "password": PASSWORD}
    )
    assert response.status_code == 400
    assert client.get("/portal/").status_code == 401


def test_logout_revokes_the_server_side_session(app: Flask, tenant_a: TenantFixture) -> None:
    client = app.test_client()
    assert login(client, tenant_a.admin_username) == 302
    stolen = client.get_cookie("cg_session")
    assert stolen is not None
    token = csrf_from(client, "/portal/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    replay = app.test_client()
    replay.set_cookie("cg_session", stolen.value)
    assert replay.get("/portal/").status_code == 401
    with get_database(app).sessionmaker() as session, system_context("test"):
        rows = session.scalars(
            select(LoginSession).where(LoginSession.user_id == tenant_a.admin_id)
        ).all()
        assert rows
        assert all(r.revoked_at is not None for r in rows)


def test_guard_cannot_edit_sites_and_provider_cannot_enter_portal(
    app: Flask, tenant_a: TenantFixture
) -> None:
    guard = make_user(app, Role.GUARD, tenant_a.tenant_id)
    client = app.test_client()
    assert login(client, guard.username) == 302
    response = client.patch(
        f"/api/v1/sites/{tenant_a.site_id}",
        json={"name": "x"},
        headers={"X-CSRFToken": client.get("/api/v1/me").get_json()["csrf_token"]},
    )
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    staff = make_user(app, Role.PROVIDER_OPS, None)
    staff_client = app.test_client()
    assert login(staff_client, staff.username) == 302
    assert staff_client.get("/portal/").status_code == 403
    assert staff_client.get("/console/").status_code == 200
    assert client.get("/console/").status_code == 403


def test_one_time_password_must_be_changed(app: Flask, tenant_a: TenantFixture) -> None:
    with get_database(app).sessionmaker() as session, system_context("test"):
        user = session.get(User, tenant_a.admin_id)
        assert user is not None
        user.must_change_password = True
        session.commit()
    client = app.test_client()
    assert login(client, tenant_a.admin_username) == 302
    response = client.get("/portal/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/password")
    assert client.get("/api/v1/sites").status_code == 403
    token = csrf_from(client, "/account/password")
    bad = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "new_password": "short",
            "confirm_password": "short",
        },
    )
    assert bad.status_code == 400
    ok = client.post(
        "/account/password",
        data={
            "csrf_token": token,
            "current_password": PASSWORD,
            "new_password": "A-much-better-pass",
            "confirm_password": "A-much-better-pass",
        },
    )
    assert ok.status_code == 302
    assert client.get("/portal/").status_code == 200
    assert "password.change" in _events(app, tenant_a.admin_username)


def test_security_headers(app: Flask) -> None:
    response = app.test_client().get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "object-src 'none'" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
