"""Searching the passage ledger, the decision trace, images and manual release."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from flask import Flask

from saas.models.identity import Role
from tests.conftest import TenantFixture, api_csrf, login, make_user
from tests.ledger.edge_helpers import make_device, passage, post_batch, signed


def _client(app: Flask, username: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert login(client, username) == 302
    return client, {"X-CSRFToken": api_csrf(client)}


def _seed(app: Flask, tenant: TenantFixture) -> list[dict[str, object]]:
    device = make_device(app, tenant.tenant_id, tenant.site_id)
    items = [
        passage("冀B10001", minutes_ago=50),
        passage(
            "冀B10002",
            minutes_ago=40,
            verdict="DENY",
            vehicle={
                "registered": True,
                "vehicle_type": "Q11",
                "fuel_type": "diesel",
                "emission_stage": "CN4",
            },
        ),
        passage("津A20003", minutes_ago=30, direction="out"),
        passage("冀B10004", minutes_ago=60 * 30),  # outside the default 24 h window
    ]
    assert post_batch(app.test_client(), device, items).status_code == 200
    return items


def test_filters_and_paging(app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture) -> None:
    _seed(app, tenant_a)
    _seed(app, tenant_b)  # same plates in tenant B: never visible to A
    client, _ = _client(app, tenant_a.admin_username)
    default = client.get("/api/v1/passages").get_json()["items"]
    assert [p["plate"] for p in default] == ["津A20003", "冀B10002", "冀B10001"]
    assert {p["site_id"] for p in default} == {str(tenant_a.site_id)}
    since = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    everything = client.get("/api/v1/passages", query_string={"since": since}).get_json()
    assert len(everything["items"]) == 4
    denied = client.get("/api/v1/passages", query_string={"verdict": "DENY"}).get_json()
    assert [p["plate"] for p in denied["items"]] == ["冀B10002"]
    assert denied["items"][0]["emission_stage"] == "CN4"
    by_plate = client.get("/api/v1/passages", query_string={"plate": "冀b1"}).get_json()
    assert {p["plate"] for p in by_plate["items"]} == {"冀B10001", "冀B10002"}
    out = client.get("/api/v1/passages", query_string={"direction": "out"}).get_json()
    assert [p["plate"] for p in out["items"]] == ["津A20003"]
    pages, cursor, seen = 0, None, []
    while True:
        query = {"since": since, "limit": 3} | ({"cursor": cursor} if cursor else {})
        body = client.get("/api/v1/passages", query_string=query).get_json()
        seen += [p["event_id"] for p in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert pages == 2
    assert len(set(seen)) == 4
    bad = client.get("/api/v1/passages", query_string={"lane": "1", "verdict": "MAYBE"})
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["details"]["fields"]) == {"lane", "verdict"}


def test_detail_image_and_manual_release(app: Flask, tenant_a: TenantFixture) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    jpeg = b"\xff\xd8\xff\xe0passage-photo"
    sha = hashlib.sha256(jpeg).hexdigest()
    assert (
        signed(
            app.test_client(), device, "PUT", f"/api/v1/edge/images/{sha}", jpeg, "image/jpeg"
        ).status_code
        == 201
    )
    item = passage(
        "冀B30001",
        verdict="DENY",
        images=[{"kind": "plate", "sha256": sha, "content_type": "image/jpeg", "size": len(jpeg)}],
    )
    post_batch(app.test_client(), device, [item])
    event_id = item["event_id"]
    viewer = make_user(app, Role.VIEWER, tenant_a.tenant_id)
    viewer_client, viewer_headers = _client(app, viewer.username)
    detail = viewer_client.get(f"/api/v1/passages/{event_id}").get_json()
    assert detail["record"]["decision"]["verdict"] == "DENY"
    assert detail["amendments"] == []
    image = viewer_client.get(f"/api/v1/passages/{event_id}/images/{sha}")
    assert image.status_code == 200
    assert image.data == jpeg
    assert viewer_client.get(f"/api/v1/passages/{event_id}/images/{'0' * 64}").status_code == 404
    assert (
        viewer_client.post(
            f"/api/v1/passages/{event_id}/release",
            json={"reason": "x" * 10},
            headers=viewer_headers,
        ).status_code
        == 403
    )
    guard = make_user(app, Role.GUARD, tenant_a.tenant_id)
    guard_client, guard_headers = _client(app, guard.username)
    short = guard_client.post(
        f"/api/v1/passages/{event_id}/release", json={"reason": "ok"}, headers=guard_headers
    )
    assert short.status_code == 422
    released = guard_client.post(
        f"/api/v1/passages/{event_id}/release",
        json={"reason": "民生保障物资，经值班领导同意"},
        headers=guard_headers,
    )
    assert released.status_code == 201
    detail = viewer_client.get(f"/api/v1/passages/{event_id}").get_json()
    assert detail["record"]["decision"]["verdict"] == "DENY"  # the original never changes
    (amendment,) = detail["amendments"]
    assert amendment["kind"] == "manual_release"
    full = viewer_client.get(f"/api/v1/passages/{amendment['event_id']}").get_json()
    assert full["record"]["amendment"]["reason"] == "民生保障物资，经值班领导同意"
    assert full["record"]["actor"]["username"] == guard.username
    code = (
        app.test_cli_runner()
        .invoke(args=["ledger", "verify", "--site", str(tenant_a.site_id)])
        .exit_code
    )
    assert code == 0
