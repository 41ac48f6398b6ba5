"""The ops console shows every tenant's bridges: how many are online, which are offline, and
which have a backlog — names escaped."""

from __future__ import annotations

from flask import Flask

from saas.db import get_database
from saas.edge_hub import bus
from saas.models.identity import Role
from saas.models.ledger import EdgeDevice
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture, login, make_user
from tests.ledger.edge_helpers import make_device


def test_console_lists_offline_bridges_and_backlogs(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    online = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    offline = make_device(app, tenant_b.tenant_id, tenant_b.site_id)
    for tenant, device, name in (
        (tenant_a, online, f"在线网关-{online.id.hex[:8]}"),
        (tenant_b, offline, "<script>alert(1)</script>"),
    ):
        with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
            row = session.get(EdgeDevice, device.id)
            assert row is not None
            row.name = name
            session.commit()
    redis = app.extensions["cleangate.redis"]
    bus.set_presence(redis, online.id, online=1, hub="test", outbox_depth=4321)
    staff = make_user(app, Role.PROVIDER_OPS, None)
    client = app.test_client()
    assert login(client, staff.username) == 302
    page = client.get("/console/").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert(1)" not in page
    assert "4321" in page  # the online bridge's backlog
    offline_table = page.split("离线网关", 1)[1].split("待上传积压", 1)[0]
    assert "&lt;script&gt;" in offline_table
    assert f"在线网关-{online.id.hex[:8]}" not in offline_table  # online: not listed as offline
