"""The load balancer's health check on the hub's websocket port: a real hub, real HTTP."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest
from flask import Flask

from saas.edge_hub.feeds import feed_token
from tests.conftest import TenantFixture
from tests.edge_hub.harness import HubThread
from tests.edge_hub.test_hub import authenticate, open_ws, recv
from tests.ledger.edge_helpers import make_device


@pytest.fixture
def hub(app: Flask) -> Iterator[HubThread]:
    with HubThread(app) as running:
        yield running


def http_get(hub: HubThread, path: str, **headers: str) -> tuple[int, bytes]:
    """One plain HTTP/1.1 GET, as the ALB's target-group health check sends it."""
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_plain_get_healthz_is_ok(hub: HubThread) -> None:
    assert http_get(hub, "/healthz") == (200, b"ok\n")
    # as the ALB sends it (its own User-Agent, Connection: close), and repeatedly
    for _ in range(3):
        assert http_get(hub, "/healthz", **{"User-Agent": "ELB-HealthChecker/2.0"}) == (
            200,
            b"ok\n",
        )
    assert http_get(hub, "/healthz?probe=1")[0] == 200


def test_other_plain_requests_are_still_refused(hub: HubThread) -> None:
    """Anything else is what it was before the health check: the websocket handshake's refusal
    (426 Upgrade Required), never a 200."""
    for path in ("/", "/health", "/healthz/", "/feed/x"):
        status, body = http_get(hub, path)
        assert status == 426, (path, status)
        assert body != b"ok\n"


def test_websockets_still_connect_after_health_checks(
    app: Flask, hub: HubThread, tenant_a: TenantFixture
) -> None:
    assert http_get(hub, "/healthz")[0] == 200
    # a bridge authenticates as before
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    ws, welcome = authenticate(hub, device)
    with ws:
        assert welcome["type"] == "welcome"
        assert welcome["site_id"] == str(tenant_a.site_id)
    # a board viewer's live feed as before
    token = feed_token(app.config["CLEANGATE_SETTINGS"].secret_key, tenant_a.site_id)
    with open_ws(f"{hub.url}feed/{tenant_a.site_id}?token={token}") as viewer:
        assert json.loads(viewer.recv(timeout=10)) == {
            "type": "hello",
            "site_id": str(tenant_a.site_id),
        }
    # a websocket upgrade on /healthz is not the health check: the bridge protocol answers
    with open_ws(f"{hub.url}healthz") as ws:
        assert recv(ws, "challenge")["nonce"]
    assert http_get(hub, "/healthz") == (200, b"ok\n")
