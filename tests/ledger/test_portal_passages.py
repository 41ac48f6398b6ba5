"""Portal pages of the passage ledger: escaping, filters, detail, release with a reason."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask

from saas.models.identity import Role
from tests.conftest import TenantFixture, csrf_from, login, make_user
from tests.ledger.edge_helpers import make_device, passage, post_batch

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_list_detail_and_release(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    item = passage("冀B55501", verdict="DENY")
    item["decision"]["reasons"] = ["stage_below_minimum"]
    hostile = passage("<script>x</script>", verdict="REVIEW")
    post_batch(app.test_client(), device, [item, hostile])
    other = make_device(app, tenant_b.tenant_id, tenant_b.site_id)
    post_batch(app.test_client(), other, [passage("冀B77777")])
    guard = make_user(app, Role.GUARD, tenant_a.tenant_id)
    client = app.test_client()
    assert login(client, guard.username) == 302
    page = client.get("/portal/passages").get_data(as_text=True)
    assert "冀B55501" in page
    assert "冀B77777" not in page  # tenant B's passage
    assert "<script>x</script>" not in page
    denied = client.get("/portal/passages?verdict=DENY").get_data(as_text=True)
    assert "冀B55501" in denied
    assert client.get("/portal/passages?lane=9").status_code == 422
    # the page's datetime-local fields carry Beijing wall time without an offset
    window = client.get("/portal/passages?since=2020-01-01T00:00&until=2099-01-01T00:00")
    assert window.status_code == 422  # longer than the 400-day maximum, but parsed
    today = client.get(
        "/portal/passages",
        query_string={
            "since": (datetime.now(UTC) - timedelta(hours=1))
            .astimezone(SHANGHAI)
            .strftime("%Y-%m-%dT%H:%M")
        },
    )
    assert today.status_code == 200
    assert "冀B55501" in today.get_data(as_text=True)
    assert client.get("/portal/passages?since=yesterday").status_code == 422
    detail_url = f"/portal/passages/{item['event_id']}"
    detail = client.get(detail_url).get_data(as_text=True)
    assert "stage_below_minimum" in detail
    token = csrf_from(client, detail_url)
    client.post(f"{detail_url}/release", data={"csrf_token": token, "reason": ""})
    assert "人工放行必须填写原因" in client.get(detail_url).get_data(as_text=True)
    response = client.post(
        f"{detail_url}/release", data={"csrf_token": token, "reason": "安全生产急需，值班长批准"}
    )
    assert response.status_code == 302
    after = client.get(detail_url).get_data(as_text=True)
    assert "manual_release" in after
    amendment = re.search(r'/portal/passages/([0-9a-f-]{36})">查看', after)
    assert amendment
    text = client.get(f"/portal/passages/{amendment.group(1)}").get_data(as_text=True)
    assert "安全生产急需，值班长批准" in text
    viewer = make_user(app, Role.VIEWER, tenant_a.tenant_id)
    viewer_client = app.test_client()
    assert login(viewer_client, viewer.username) == 302
    assert "人工放行原因" not in viewer_client.get(detail_url).get_data(as_text=True)
    assert (
        viewer_client.post(
            f"{detail_url}/release",
            data={"csrf_token": csrf_from(viewer_client, detail_url), "reason": "no right"},
        ).status_code
        == 403
    )
    assert client.get(f"/portal/passages/{tenant_b.site_id}").status_code == 404
