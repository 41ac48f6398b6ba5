"""The hub's protocol against a raw websocket client: authentication, refusals (audited), site
checks, acks after COMMIT, images, snapshots and deltas, presence and commands."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from sqlalchemy import select
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from edge_bridge import protocol
from saas.compliance import snapshot as snap
from saas.db import get_database
from saas.edge_hub import bus
from saas.edge_hub.server import auth_message
from saas.models.identity import AuditEvent
from saas.models.ledger import EdgeDevice, TransportVehicle, VehicleListEntry
from saas.tenancy import system_context, tenant_context
from tests.conftest import TenantFixture
from tests.edge_hub.harness import HubThread, ledger_count, ledger_event_ids
from tests.ledger.edge_helpers import Device, make_device, passage


@pytest.fixture
def hub(app: Flask) -> Iterator[HubThread]:
    with HubThread(app, presence_interval=0.2) as running:
        yield running


def recv(ws: ClientConnection, kind: str | None = None, timeout: float = 10) -> dict[str, Any]:
    """The next frame (of ``kind``, skipping others)."""
    deadline = time.monotonic() + timeout
    while True:
        message: dict[str, Any] = json.loads(
            ws.recv(timeout=max(0.01, deadline - time.monotonic()))
        )
        if kind is None or message["type"] == kind:
            return message


def authenticate(
    hub: HubThread, device: Device, key: Ed25519PrivateKey | None = None, **hello: Any
) -> tuple[ClientConnection, dict[str, Any]]:
    ws = open_ws(hub.url)
    challenge = recv(ws, "challenge")
    timestamp = datetime.now(UTC).isoformat()
    signature = (key or device.key).sign(
        auth_message(str(device.id), challenge["nonce"], timestamp)
    )
    ws.send(
        json.dumps(
            {
                "type": "auth",
                "device_id": str(device.id),
                "nonce": challenge["nonce"],
                "timestamp": timestamp,
                "signature": base64.b64encode(signature).decode(),
            }
        )
    )
    ws.send(
        json.dumps(
            {
                "type": "hello",
                "protocol": 1,
                "software_version": "test",
                "snapshot_version": None,
                "outbox_depth": 0,
                "clock": datetime.now(UTC).isoformat(),
                **hello,
            }
        )
    )
    return ws, recv(ws)


def audits(app: Flask, event: str) -> list[AuditEvent]:
    with system_context("test"), get_database(app).sessionmaker() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.event == event)))


def closed_with(ws: ClientConnection) -> int | None:
    """The close code the hub sent (frames before it are drained)."""
    try:
        for _ in range(10):
            ws.recv(timeout=10)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
    raise AssertionError("the hub kept the connection open")


def open_ws(url: str) -> ClientConnection:
    """A client connection the test closes itself (``with ws:``)."""
    return connect(url, max_size=2**26).__enter__()


def test_auth_message_is_the_same_on_both_ends() -> None:
    assert auth_message("d", "n", "t") == protocol.auth_message("d", "n", "t")


def test_a_bridge_authenticates_gets_welcome_and_its_snapshot(
    app: Flask, hub: HubThread, tenant_a: TenantFixture
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    ws, welcome = authenticate(hub, device)
    with ws:
        assert welcome["type"] == "welcome"
        assert welcome["site_id"] == str(tenant_a.site_id)
        assert abs(welcome["clock_skew_ms"]) < 5000
        snapshot = recv(ws, "snapshot")
        assert snap.version(snapshot["body"]) == snapshot["version"] == welcome["snapshot_version"]
        assert snapshot["body"]["policy"]["id"]  # a real policy the edge can compile
        snap.Site(snapshot["body"])
        presence = {}
        for _ in range(50):
            presence = bus.presence(app.extensions["cleangate.redis"], [device.id])[str(device.id)]
            if presence["online"]:
                break
            time.sleep(0.05)
        assert presence["online"] is True
    for _ in range(100):
        if not bus.presence(app.extensions["cleangate.redis"], [device.id])[str(device.id)][
            "online"
        ]:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("presence still online after the bridge left")


def test_unknown_device_is_refused_and_audited(app: Flask, hub: HubThread) -> None:
    stranger = Device(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), Ed25519PrivateKey.generate())
    before = len(audits(app, "device.auth_failure"))
    ws, refusal = authenticate(hub, stranger)
    assert refusal == {"type": "error", "code": "unknown_device", "message": "设备认证失败"}
    assert closed_with(ws) == protocol.CLOSE_AUTH
    rows = audits(app, "device.auth_failure")
    assert len(rows) == before + 1
    assert rows[-1].details["reason"] == "unknown_device"


def test_bad_signature_is_refused_audited_and_writes_nothing(
    app: Flask, hub: HubThread, tenant_a: TenantFixture
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    ws, refusal = authenticate(hub, device, key=Ed25519PrivateKey.generate())
    assert refusal["code"] == "bad_signature"
    assert closed_with(ws) == protocol.CLOSE_AUTH
    row = audits(app, "device.auth_failure")[-1]
    assert (row.tenant_id, row.details["reason"]) == (tenant_a.tenant_id, "bad_signature")
    assert ledger_count(app, tenant_a.tenant_id, tenant_a.site_id) == 0


def test_an_answer_to_another_challenge_is_refused(
    app: Flask, hub: HubThread, tenant_a: TenantFixture
) -> None:
    """A recorded answer can't be replayed: the nonce is the hub's, fresh per connection."""
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    ws = open_ws(hub.url)
    recv(ws, "challenge")
    old_nonce = base64.b64encode(b"x" * 32).decode()
    timestamp = datetime.now(UTC).isoformat()
    ws.send(
        json.dumps(
            {
                "type": "auth",
                "device_id": str(device.id),
                "nonce": old_nonce,
                "timestamp": timestamp,
                "signature": base64.b64encode(
                    device.key.sign(auth_message(str(device.id), old_nonce, timestamp))
                ).decode(),
            }
        )
    )
    assert recv(ws)["code"] == "malformed_auth"
    assert closed_with(ws) == protocol.CLOSE_AUTH


def test_a_revoked_bridge_is_refused(app: Flask, hub: HubThread, tenant_a: TenantFixture) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        row = session.get(EdgeDevice, device.id)
        assert row is not None
        row.status = "revoked"
        session.commit()
    ws, refusal = authenticate(hub, device)
    assert refusal["code"] == "revoked_device"
    assert closed_with(ws) == protocol.CLOSE_REVOKED


def test_passages_are_acked_after_commit_and_replays_are_duplicates(
    app: Flask, hub: HubThread, tenant_a: TenantFixture
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    items = [passage(f"冀B1234{n}") for n in range(5)]
    ws, _ = authenticate(hub, device)
    with ws:
        ws.send(json.dumps({"type": "passages", "batch": 1, "items": items}))
        ack = recv(ws, "ack")
        assert ack["batch"] == 1
        assert [a["status"] for a in ack["acks"]] == ["stored"] * 5
        # Already committed when the ack arrived:
        stored = ledger_event_ids(app, tenant_a.tenant_id, tenant_a.site_id)
        assert {str(e) for e in stored} == {i["event_id"] for i in items}
        ws.send(json.dumps({"type": "passages", "batch": 2, "items": items[:2]}))
        assert [a["status"] for a in recv(ws, "ack")["acks"]] == ["duplicate"] * 2
    assert ledger_count(app, tenant_a.tenant_id, tenant_a.site_id) == 5


def test_another_sites_records_are_rejected_whole_and_audited(
    app: Flask, hub: HubThread, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    good = passage("冀B00001")
    foreign = {**passage("冀B00002"), "site_id": str(tenant_b.site_id)}
    ws, _ = authenticate(hub, device)
    with ws:
        ws.send(json.dumps({"type": "passages", "batch": 7, "items": [good, foreign]}))
        error = recv(ws, "error")
        assert (error["code"], error["batch"]) == ("wrong_site", 7)
        ws.send(
            json.dumps(
                {"type": "passages", "batch": 8, "site_id": str(tenant_b.site_id), "items": [good]}
            )
        )
        assert recv(ws, "error")["code"] == "wrong_site"
    assert ledger_count(app, tenant_a.tenant_id, tenant_a.site_id) == 0
    assert ledger_count(app, tenant_b.tenant_id, tenant_b.site_id) == 0
    row = audits(app, "device.wrong_site")[-1]
    assert row.tenant_id == tenant_a.tenant_id
    assert row.details["site_ids"] == [str(tenant_b.site_id)]


def test_invalid_records_are_answered_one_by_one_and_the_rest_stored(
    app: Flask, hub: HubThread, tenant_a: TenantFixture
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    good = passage("冀B00003")
    bad = {**passage("冀B00004"), "lane": "lane one"}
    ws, _ = authenticate(hub, device)
    with ws:
        ws.send(json.dumps({"type": "passages", "batch": 1, "items": [good, bad]}))
        acks = {a["event_id"]: a for a in recv(ws, "ack")["acks"]}
        assert acks[good["event_id"]]["status"] == "stored"
        assert acks[bad["event_id"]]["status"] == "invalid"
        assert acks[bad["event_id"]]["errors"][0]["field"] == "lane"
        ws.send(json.dumps({"type": "passages", "batch": 2, "items": []}))
        assert recv(ws, "error")["code"] == "invalid_batch"
        ws.send(json.dumps({"type": "no-such-thing"}))
        assert recv(ws, "error")["code"] == "unknown_type"
        ws.send("not json")
        assert recv(ws, "error")["code"] == "malformed_frame"
        assert closed_with(ws) == protocol.CLOSE_PROTOCOL
    assert ledger_count(app, tenant_a.tenant_id, tenant_a.site_id) == 1


def test_images_are_stored_by_hash_and_bad_ones_refused(
    app: Flask, hub: HubThread, tenant_a: TenantFixture
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    jpeg = b"\xff\xd8\xff" + b"photo" * 100
    sha = hashlib.sha256(jpeg).hexdigest()
    ws, _ = authenticate(hub, device)
    with ws:
        frame = {"type": "image", "sha256": sha, "content_type": "image/jpeg"}
        ws.send(json.dumps({**frame, "data": base64.b64encode(jpeg).decode()}))
        ack = recv(ws, "image_ack")
        assert ack["status"] == "stored"
        assert app.extensions["cleangate.storage"].get(ack["key"]) == jpeg
        ws.send(json.dumps({**frame, "data": base64.b64encode(jpeg + b"x").decode()}))
        assert recv(ws, "image_ack")["code"] == "sha256_mismatch"
        text = b"not an image"
        ws.send(
            json.dumps(
                {
                    **frame,
                    "sha256": hashlib.sha256(text).hexdigest(),
                    "data": base64.b64encode(text).decode(),
                }
            )
        )
        assert recv(ws, "image_ack")["code"] == "unsupported_media_type"


def test_a_registry_change_is_pushed_as_a_delta(
    app: Flask, hub: HubThread, tenant_a: TenantFixture
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    ws, welcome = authenticate(hub, device)
    with ws:
        first = recv(ws, "snapshot")
        ws.send(json.dumps({"type": "synced", "version": first["version"]}))
        time.sleep(0.1)
        with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
            session.add(
                TransportVehicle(
                    site_id=tenant_a.site_id,
                    plate="冀B77777",
                    plate_color="yellow",
                    vehicle_type="H11",
                    fuel_type="diesel",
                    emission_stage="cn6b",
                )
            )
            session.add(
                VehicleListEntry(
                    site_id=tenant_a.site_id,
                    plate="冀B66666",
                    list_kind="black",
                    reason="超标排放",
                    valid_from=datetime(2026, 1, 1, tzinfo=UTC),
                )
            )
            session.commit()
        delta = recv(ws, "delta", timeout=10)
        assert delta["base_version"] == first["version"]
        assert delta["changes"]["registry"]["set"]["冀B77777"]["emission_stage"] == "cn6b"
        assert "冀B66666" in delta["changes"]["black"]["set"]
        body = snap.apply(first["body"], delta["changes"])
        assert snap.version(body) == delta["version"]
        assert welcome["snapshot_version"] == first["version"] != delta["version"]


def test_a_rolled_back_change_pushes_nothing(
    app: Flask, hub: HubThread, tenant_a: TenantFixture
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    ws, _ = authenticate(hub, device)
    with ws:
        first = recv(ws, "snapshot")
        ws.send(json.dumps({"type": "synced", "version": first["version"]}))
        with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
            session.add(
                TransportVehicle(site_id=tenant_a.site_id, plate="冀B55555", plate_color="blue")
            )
            session.flush()
            session.rollback()
        with pytest.raises(TimeoutError):
            recv(ws, "delta", timeout=1.0)


def test_commands_reach_the_bridge_and_results_come_back(
    app: Flask, hub: HubThread, tenant_a: TenantFixture
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    redis = app.extensions["cleangate.redis"]
    with pytest.raises(bus.BridgeOffline):
        bus.issue_command(redis, device.id, action="open_barrier", issued_by="x", reason="r")
    ws, _ = authenticate(hub, device)
    with ws:
        for _ in range(100):
            if bus.presence(redis, [device.id])[str(device.id)]["online"]:
                break
            time.sleep(0.05)
        command = bus.issue_command(
            redis,
            device.id,
            action="open_barrier",
            issued_by="admin@a",
            gate="1",
            lane="01",
            reason="消防车通行",
        )
        frame = recv(ws, "command")
        assert (frame["command_id"], frame["reason"], frame["lane"]) == (
            command["command_id"],
            "消防车通行",
            "01",
        )
        ws.send(
            json.dumps(
                {
                    "type": "command_result",
                    "command_id": frame["command_id"],
                    "ok": True,
                    "detail": "opened",
                }
            )
        )
        for _ in range(100):
            status = bus.command_status(redis, command["command_id"])
            if status and status["state"] != "sent":
                break
            time.sleep(0.05)
        assert status is not None
        assert (status["state"], status["detail"]) == ("ok", "opened")


def test_a_second_connection_supersedes_the_first(
    app: Flask, hub: HubThread, tenant_a: TenantFixture
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    first, _ = authenticate(hub, device)
    second, welcome = authenticate(hub, device)
    with second:
        assert welcome["type"] == "welcome"
        assert closed_with(first) == protocol.CLOSE_SUPERSEDED


def test_revoking_drops_the_open_connection(
    app: Flask, hub: HubThread, tenant_a: TenantFixture
) -> None:
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    ws, _ = authenticate(hub, device)
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        row = session.get(EdgeDevice, device.id)
        assert row is not None
        row.status = "revoked"
        session.commit()
    bus.notify_device_changed(app.extensions["cleangate.redis"], device.id)
    assert closed_with(ws) == protocol.CLOSE_REVOKED
    again, refusal = authenticate(hub, device)
    assert refusal["code"] == "revoked_device"
    again.close()


def test_the_lean_hub_app_serves_bridges(app: Flask, tenant_a: TenantFixture) -> None:
    """`cleangate hub` runs on ``hub_app`` (no API, portal or console): the whole path still
    works — auth, snapshot, ingest, audit."""
    from saas.edge_hub import hub_app

    lean = hub_app(app.config["CLEANGATE_SETTINGS"])
    assert "api" not in lean.blueprints
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    with HubThread(lean) as running:
        ws, welcome = authenticate(running, device)
        with ws:
            assert welcome["type"] == "welcome"
            recv(ws, "snapshot")
            ws.send(json.dumps({"type": "passages", "batch": 1, "items": [passage()]}))
            assert recv(ws, "ack")["acks"][0]["status"] == "stored"
        stranger = Device(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), Ed25519PrivateKey.generate())
        ws, refusal = authenticate(running, stranger)
        assert refusal["code"] == "unknown_device"
        ws.close()
    assert ledger_count(app, tenant_a.tenant_id, tenant_a.site_id) == 1


def test_board_viewers_get_passages_live_with_a_valid_token_only(
    app: Flask, hub: HubThread, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    from saas.edge_hub.feeds import check_feed_token, feed_token

    secret = app.config["CLEANGATE_SETTINGS"].secret_key
    token = feed_token(secret, tenant_a.site_id)
    assert check_feed_token(secret, tenant_a.site_id, token)
    assert not check_feed_token(secret, tenant_b.site_id, token)  # bound to its site
    assert not check_feed_token(secret, tenant_a.site_id, feed_token(secret, tenant_a.site_id, -1))

    refused = open_ws(f"{hub.url}feed/{tenant_b.site_id}?token={token}")
    assert closed_with(refused) == protocol.CLOSE_AUTH
    viewer = open_ws(f"{hub.url}feed/{tenant_a.site_id}?token={token}")
    with viewer:
        assert recv(viewer, "hello")["site_id"] == str(tenant_a.site_id)
        device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
        ws, _ = authenticate(hub, device)
        with ws:
            item = passage("冀B24680")
            ws.send(json.dumps({"type": "passages", "batch": 1, "items": [item]}))
            recv(ws, "ack")
            live = recv(viewer, "passages")
        assert [p["event_id"] for p in live["passages"]] == [item["event_id"]]
        assert live["passages"][0]["plate"] == "冀B24680"
