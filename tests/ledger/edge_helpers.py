"""Test helpers: a registered edge device and signed requests to the edge endpoints."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask
from flask.testing import FlaskClient

from saas.auth.devices import sign_request
from saas.db import get_database
from saas.models.ledger import EdgeDevice
from saas.tenancy import tenant_context


@dataclass
class Device:
    id: uuid.UUID
    tenant_id: uuid.UUID
    site_id: uuid.UUID
    key: Ed25519PrivateKey


def make_device(app: Flask, tenant_id: uuid.UUID, site_id: uuid.UUID) -> Device:
    key = Ed25519PrivateKey.generate()
    with tenant_context(tenant_id), get_database(app).sessionmaker() as session:
        device = EdgeDevice(
            site_id=site_id,
            name="gate box",
            public_key=key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw),
        )
        session.add(device)
        session.commit()
        return Device(device.id, tenant_id, site_id, key)


def signed(
    client: FlaskClient,
    device: Device,
    method: str,
    path: str,
    body: bytes,
    content_type: str = "application/json",
    **overrides: Any,
) -> Any:
    headers = sign_request(device.key, device.id, method, path, body, **overrides)
    headers["Content-Type"] = content_type
    return client.open(path, method=method, data=body, headers=headers)


def passage(
    plate: str = "冀B12345", *, minutes_ago: int = 0, verdict: str = "ALLOW", **extra: Any
) -> dict[str, Any]:
    captured = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    body = {
        "event_id": str(uuid.uuid4()),
        "captured_at": captured.isoformat(),
        "gate": "1",
        "lane": "01",
        "direction": "in",
        "plate_text": plate,
        "plate_color": "yellow",
        "confidence": 0.96,
        "vehicle": {
            "registered": True,
            "vehicle_type": "Q11",
            "fuel_type": "diesel",
            "emission_stage": "CN6A",
        },
        "decision": {
            "verdict": verdict,
            "reasons": [],
            "policy_version": "p-1",
            "alert_level": "none",
            "display": [plate, "国六", "准许进入"],
        },
    }
    body.update(extra)
    return body


def post_batch(client: FlaskClient, device: Device, passages: list[dict[str, Any]]) -> Any:
    body = json.dumps({"passages": passages}).encode()
    return signed(client, device, "POST", "/api/v1/edge/passages", body)
