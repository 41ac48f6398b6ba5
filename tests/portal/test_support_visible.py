"""Support access is visible to the tenant: its portal home lists every grant with its reason."""

from __future__ import annotations

from flask import Flask

from saas.auth import service
from saas.auth.permissions import permissions_for
from saas.auth.principal import Principal
from saas.db import get_database
from saas.models.identity import Role
from tests.conftest import TenantFixture, login, make_user


def test_the_tenant_sees_support_grants_and_another_tenant_does_not(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    staff = make_user(app, Role.PROVIDER_OPS, None)
    principal = Principal(
        staff.id,
        staff.username,
        staff.display_name,
        staff.role,
        None,
        "session",
        permissions_for(staff.role),
    )
    reason = "核对 <b>道闸</b> 离线原因"
    with get_database(app).sessionmaker() as session:
        service.start_support(session, principal, tenant_a.tenant_id, reason, 30)
    a = app.test_client()
    assert login(a, tenant_a.admin_username) == 302
    page = a.get("/portal/").get_data(as_text=True)
    assert "核对 &lt;b&gt;道闸&lt;/b&gt; 离线原因" in page  # shown, escaped
    assert "进行中" in page
    b = app.test_client()
    assert login(b, tenant_b.admin_username) == 302
    other = b.get("/portal/").get_data(as_text=True)
    assert "离线原因" not in other
    assert "近 90 天没有支持访问" in other
