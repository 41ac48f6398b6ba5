"""Registering edge devices, the edge CLI's keys, and revocation taking effect."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from flask import Flask

from edge_bridge import keys
from tests.conftest import TenantFixture, api_csrf, login
from tests.ledger.edge_helpers import Device, passage, post_batch


def test_edge_cli_keygen_and_pubkey(tmp_path: Path) -> None:
    path = tmp_path / "device.key"
    run = [sys.executable, "-m", "edge_bridge.cli"]
    created = subprocess.run(
        [*run, "keygen", "--key", str(path)], capture_output=True, text=True, check=True, timeout=60
    )
    public = created.stdout.strip().splitlines()[-1].split()[-1]
    assert path.stat().st_mode & 0o777 == 0o600
    again = subprocess.run(
        [*run, "keygen", "--key", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert again.returncode == 2
    shown = subprocess.run(
        [*run, "pubkey", "--key", str(path)], capture_output=True, text=True, check=True, timeout=60
    )
    assert shown.stdout.strip() == public
    # the edge package imports no web or ORM stack
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, edge_bridge.cli, edge_bridge.keys; "
            "print(sorted(m for m in ('flask','sqlalchemy','saas.app','saas.db')"
            " if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert probe.stdout.strip() == "[]"


def test_register_use_and_revoke_a_device(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture, tmp_path: Path
) -> None:
    key = keys.generate(tmp_path / "k")
    client = app.test_client()
    assert login(client, tenant_a.admin_username) == 302
    headers = {"X-CSRFToken": api_csrf(client)}
    bad = client.post(
        "/api/v1/edge-devices",
        json={"site_id": str(tenant_a.site_id), "name": "1号门", "public_key": "A" * 44},
        headers=headers,
    )
    assert bad.status_code == 422
    foreign = client.post(
        "/api/v1/edge-devices",
        json={
            "site_id": str(tenant_b.site_id),
            "name": "x",
            "public_key": keys.public_key_b64(key),
        },
        headers=headers,
    )
    assert foreign.status_code == 404
    created = client.post(
        "/api/v1/edge-devices",
        json={
            "site_id": str(tenant_a.site_id),
            "name": "1号门",
            "public_key": keys.public_key_b64(key),
        },
        headers=headers,
    )
    assert created.status_code == 201
    device_id = created.get_json()["id"]
    import uuid

    device = Device(uuid.UUID(device_id), tenant_a.tenant_id, tenant_a.site_id, key)
    assert post_batch(app.test_client(), device, [passage()]).status_code == 200
    listed = client.get("/api/v1/edge-devices").get_json()["items"]
    assert [d["id"] for d in listed] == [device_id]
    assert listed[0]["last_seen_at"] is not None
    revoked = client.post(f"/api/v1/edge-devices/{device_id}/revoke", headers=headers)
    assert revoked.get_json()["status"] == "revoked"
    assert post_batch(app.test_client(), device, [passage()]).status_code == 401
    events = [e["event"] for e in client.get("/api/v1/audit-events").get_json()["items"]]
    assert {"device.register", "device.revoke"} <= set(events)
    assert json.dumps(listed).count("public_key") == 1
