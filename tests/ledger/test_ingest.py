"""Passage ingestion over the device-signed HTTP endpoint."""

from __future__ import annotations

import hashlib
import json
import uuid

from flask import Flask
from sqlalchemy import func, select

from saas.db import get_database
from saas.models.identity import AuditEvent
from saas.models.ledger import LedgerHead, Passage
from saas.tenancy import system_context, tenant_context
from tests.conftest import TenantFixture
from tests.ledger.edge_helpers import make_device, passage, post_batch, signed

JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(200)


def _count(app: Flask, tenant_id: uuid.UUID) -> int:
    with tenant_context(tenant_id), get_database(app).sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(Passage)) or 0


def test_batch_is_stored_chained_and_acked(app: Flask, tenant_a: TenantFixture) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    items = [passage(f"冀B1234{i}") for i in range(5)]
    response = post_batch(app.test_client(), device, items)
    assert response.status_code == 200, response.get_data(as_text=True)
    acks = response.get_json()["acks"]
    assert [a["status"] for a in acks] == ["stored"] * 5
    assert [a["seq"] for a in acks] == [1, 2, 3, 4, 5]
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        rows = session.scalars(select(Passage).order_by(Passage.seq)).all()
        head = session.get(LedgerHead, tenant_a.site_id)
        assert head is not None
        assert head.seq == 5
        assert rows[-1].hash == head.head
        record = json.loads(rows[0].record)
        assert record["plate"]["normalized"] == "冀B12340"
        assert record["event_id"] == items[0]["event_id"]
        assert rows[0].plate == "冀B12340"
        assert rows[0].verdict == "ALLOW"


def test_replay_acks_without_new_rows_and_conflict_is_refused(
    app: Flask, tenant_a: TenantFixture
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    client = app.test_client()
    items = [passage("冀B00001"), passage("冀B00002")]
    first = post_batch(client, device, items).get_json()["acks"]
    again = post_batch(client, device, items).get_json()["acks"]
    assert [a["status"] for a in again] == ["duplicate", "duplicate"]
    assert [(a["seq"], a["hash"]) for a in again] == [(a["seq"], a["hash"]) for a in first]
    assert _count(app, tenant_a.tenant_id) == 2
    forged = dict(items[0], plate_text="冀B99999")
    acks = post_batch(client, device, [forged, passage("冀B00003")]).get_json()["acks"]
    assert [a["status"] for a in acks] == ["conflict", "stored"]
    assert _count(app, tenant_a.tenant_id) == 3
    # the same event twice inside one batch is stored once
    twin = passage("冀B00004")
    acks = post_batch(client, device, [twin, twin]).get_json()["acks"]
    assert [a["status"] for a in acks] == ["stored", "stored"]
    assert acks[0] == acks[1]
    assert _count(app, tenant_a.tenant_id) == 4


def test_invalid_batch_names_the_field_and_writes_nothing(
    app: Flask, tenant_a: TenantFixture
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    bad = passage(lane="1")
    response = post_batch(app.test_client(), device, [passage(), bad])
    assert response.status_code == 422
    assert "passages.1.lane" in response.get_json()["error"]["details"]["fields"]
    naive = passage(captured_at="2026-11-23T10:00:00")
    response = post_batch(app.test_client(), device, [naive])
    assert "passages.0.captured_at" in response.get_json()["error"]["details"]["fields"]
    assert _count(app, tenant_a.tenant_id) == 0


def test_malformed_plate_is_kept_as_evidence(app: Flask, tenant_a: TenantFixture) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    acks = post_batch(app.test_client(), device, [passage("_无_", verdict="REVIEW")]).get_json()
    assert acks["acks"][0]["status"] == "stored"
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        record = json.loads(session.scalars(select(Passage.record)).one())
        assert record["plate"]["raw"] == "_无_"
        assert record["plate"]["valid"] is False


def test_other_sites_records_are_rejected_whole(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    body = json.dumps({"site_id": str(tenant_b.site_id), "passages": [passage()]}).encode()
    response = signed(app.test_client(), device, "POST", "/api/v1/edge/passages", body)
    assert response.status_code in (403, 422)
    assert _count(app, tenant_a.tenant_id) == 0
    assert _count(app, tenant_b.tenant_id) == 0


def _audit_reasons(app: Flask) -> list[str]:
    with get_database(app).sessionmaker() as session, system_context("test"):
        rows = session.scalars(select(AuditEvent).where(AuditEvent.event == "device.auth_failure"))
        return [r.details["reason"] for r in rows]


def test_device_authentication_failures_are_refused_and_audited(
    app: Flask, tenant_a: TenantFixture
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    client = app.test_client()
    body = json.dumps({"passages": [passage()]}).encode()
    path = "/api/v1/edge/passages"
    # unknown device
    stranger = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    stranger.id = uuid.uuid4()
    assert signed(client, stranger, "POST", path, body).status_code == 401
    # bad signature: body changed after signing
    from saas.auth.devices import sign_request

    headers = sign_request(device.key, device.id, "POST", path, body)
    tampered = body.replace(b'"lane": "01"', b'"lane": "02"')
    assert tampered != body
    response = client.post(
        path, data=tampered, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 401
    # replayed nonce
    headers = sign_request(device.key, device.id, "POST", path, body)
    ok = client.post(path, data=body, headers={**headers, "Content-Type": "application/json"})
    assert ok.status_code == 200
    replay = client.post(path, data=body, headers={**headers, "Content-Type": "application/json"})
    assert replay.status_code == 401
    # stale timestamp
    import time

    assert (
        signed(client, device, "POST", path, body, timestamp=int(time.time()) - 3600).status_code
        == 401
    )
    reasons = _audit_reasons(app)
    for reason in ("unknown_device", "bad_signature", "replayed_nonce", "stale_timestamp"):
        assert reason in reasons
    assert _count(app, tenant_a.tenant_id) == 1


def test_image_upload_rules(app: Flask, tenant_a: TenantFixture) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    client = app.test_client()
    storage = app.extensions["cleangate.storage"]

    def put(data: bytes, name: str | None = None, ctype: str = "image/jpeg") -> object:
        sha = name or hashlib.sha256(data).hexdigest()
        return signed(client, device, "PUT", f"/api/v1/edge/images/{sha}", data, ctype)

    ok = put(JPEG)
    assert ok.status_code == 201
    key = ok.get_json()["key"]
    assert storage.get(key) == JPEG
    assert f"t/{tenant_a.tenant_id}/s/{tenant_a.site_id}/" in key
    assert put(JPEG).status_code == 201  # idempotent
    big = b"\xff\xd8\xff" + bytes(5 * 1024 * 1024)
    assert put(big).status_code == 413
    text = b"hello, not an image"
    assert put(text, ctype="text/plain").status_code == 415
    other = JPEG + b"x"
    mismatch = put(other, name=hashlib.sha256(JPEG + b"y").hexdigest())
    assert mismatch.status_code == 422
    assert mismatch.get_json()["error"]["code"] == "sha256_mismatch"
    for data in (big, text, other):
        sha = hashlib.sha256(data).hexdigest()
        assert not storage.exists(
            f"t/{tenant_a.tenant_id}/s/{tenant_a.site_id}/img/{sha[:2]}/{sha}.jpg"
        )
