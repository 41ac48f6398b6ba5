"""Issue 8's acceptance scenario, end to end through the public interfaces.

A driver logs in through the fake WeChat server, registers a vehicle with its documents at the
site, scans the site's QR code, registers cargo; the site's gate decides on the snapshot its hub
would send (``saas.edge_hub.snapshot.build`` → ``saas.compliance``: the edge's own logic) and
posts the passage through the device-signed ingest API; the passage in the ledger carries the
cargo, the chain verifies, and the driver sees the registration attached.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask import Flask

from saas.compliance import Direction, GateEvent, decide, vin_check_digit
from saas.compliance.decision import DecisionContext
from saas.compliance.snapshot import Site as SnapshotSite
from saas.db import get_database
from saas.edge_hub import snapshot
from saas.ledger.verify import verify_site
from saas.models.tenancy import Site
from saas.regulator import gates
from saas.tenancy import system_context, tenant_context
from tests.conftest import TenantFixture
from tests.conftest import login as portal_login
from tests.ledger.edge_helpers import make_device, post_batch
from tests.miniprogram.conftest import login
from tests.notify import fakes as f

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PLATE = "冀B·D8001"


def _vin() -> str:
    body = "LZZ1CLSB0NA000731"
    digit = vin_check_digit(body)
    assert digit is not None
    return body[:8] + digit + body[9:]


def _gate(app: Flask, tenant: TenantFixture) -> None:
    body = gates.GateCreate.model_validate(
        {"gate_code": "1", "lane_code": "01", "name": "东门", "longitude": 118.2, "latitude": 39.6}
    )
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        gates.create_gate(session, site, body, actor_id=None)


def _gate_decides(app: Flask, tenant: TenantFixture, plate_text: str) -> dict:  # type: ignore[type-arg]
    """What the site's bridge does with a camera read: decide on the snapshot, make the
    passage body (edge_bridge/lanes.py does the same with its synced snapshot)."""
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        body = snapshot.build(session, tenant.site_id)
    site = SnapshotSite(body)
    now = datetime.now(UTC)
    facts = site.facts("冀BD8001", now)
    assert facts is not None  # the driver's self-declared registration reached the snapshot
    decision = decide(
        GateEvent(plate_text=plate_text, time=now, color="yellow", direction=Direction.IN),
        facts,
        DecisionContext(policy=site.policy, time=now, alert_level=site.alert_level_at(now)),
    )
    entry = site.registry["冀BD8001"]
    return {
        "event_id": str(uuid.uuid4()),
        "captured_at": now.isoformat(),
        "gate": "1",
        "lane": "01",
        "direction": "in",
        "plate_text": plate_text,
        "plate_color": "yellow",
        "confidence": 0.97,
        "vehicle": {
            "registered": True,
            "vehicle_type": entry["vehicle_type"],
            "fuel_type": entry["fuel_type"],
            "emission_stage": entry["emission_stage"],
            "vin": entry["vin"],
            "category": entry["category"],
        },
        "decision": {
            "verdict": decision.verdict.value.upper(),
            "reasons": list(decision.reasons),
            "policy_version": decision.policy_version,
            "alert_level": decision.alert_level.value,
            "display": list(decision.display),
        },
    }


def test_driver_registers_vehicle_and_cargo_and_the_passage_carries_the_cargo(
    mp_app: Flask, wechat: f.FakeWeChat, tenant_a: TenantFixture
) -> None:
    _gate(mp_app, tenant_a)
    client = mp_app.test_client()
    driver = login(client, wechat)

    # 1. The vehicle, with its 行驶证 and 随车清单, registered at the site.
    created = driver.post(
        "/vehicles",
        json={
            "plate": PLATE,
            "plate_color": "黄",
            "vin": _vin(),
            "vehicle_type": "H11",
            "fuel_type": "柴油",
            "emission_stage": "国六b",
            "registration_date": "2022-05-01",
        },
    )
    assert created.status_code == 201, created.get_json()
    vehicle_id = created.get_json()["id"]
    for kind, data, mime in (("license", PNG, "image/png"), ("list", JPEG, "image/jpeg")):
        put = driver.put(f"/vehicles/{vehicle_id}/images/{kind}", data=data, content_type=mime)
        assert put.status_code == 200, put.get_json()
    registered = driver.post(
        f"/vehicles/{vehicle_id}/sites", json={"site_id": str(tenant_a.site_id)}
    )
    assert registered.status_code == 201, registered.get_json()

    # 2. The QR code on the gate board names the site and the gate.
    base = mp_app.config["CLEANGATE_SETTINGS"].base_url
    scanned = driver.post("/qr", json={"url": f"{base}/mp/cargo/{tenant_a.site_id}?gate=1"})
    assert scanned.status_code == 200
    assert scanned.get_json()["site"]["id"] == str(tenant_a.site_id)
    assert scanned.get_json()["gate"] == "1"

    # 3. Cargo registered for the plate at that site and gate.
    cargo = driver.post(
        "/cargo",
        json={
            "site_id": str(tenant_a.site_id),
            "gate": "1",
            "plate": "冀BD8001",
            "name": "焦煤",
            "quantity": 32.5,
            "unit": "t",
            "carrier": "唐山顺达运输有限公司",
            "origin": "山西吕梁",
        },
    )
    assert cargo.status_code == 201, cargo.get_json()
    registration_id = cargo.get_json()["id"]

    # 4. The truck arrives: the gate decides on the site's snapshot and reports the passage.
    item = _gate_decides(mp_app, tenant_a, "冀BD8001")
    assert item["decision"]["verdict"] == "ALLOW"
    assert item["vehicle"]["emission_stage"] == "cn6b"
    device = make_device(mp_app, tenant_a.tenant_id, tenant_a.site_id)
    ingested = post_batch(mp_app.test_client(), device, [item])
    assert ingested.status_code == 200, ingested.get_data(as_text=True)
    assert ingested.get_json()["acks"][0]["status"] == "stored"

    # 5. The passage in the ledger carries the cargo; the chain still verifies.
    portal = mp_app.test_client()
    assert portal_login(portal, tenant_a.admin_username) == 302
    detail = portal.get(f"/api/v1/passages/{item['event_id']}")
    assert detail.status_code == 200
    record = detail.get_json()["record"]
    assert record["cargo"]["name"] == "焦煤"
    assert record["cargo"]["quantity"] == 32.5
    assert record["cargo"]["unit"] == "t"
    assert record["cargo"]["origin"] == "山西吕梁"
    assert record["cargo"]["carrier"] == "唐山顺达运输有限公司"
    assert record["cargo"]["registration_id"] == registration_id
    assert record["plate"]["normalized"] == "冀BD8001"
    key = mp_app.extensions["cleangate.ledger_key"]
    with get_database(mp_app).sessionmaker() as session, system_context("test: verify"):
        assert verify_site(session, tenant_a.site_id, key.public_bytes).intact

    # 6. The driver sees the registration attached to that passage; the site's registry
    # shows the vehicle as self-declared from the mini-program, waiting for the document check.
    mine = driver.get("/cargo").get_json()["items"]
    assert [(c["id"], c["status"]) for c in mine] == [(registration_id, "attached")]
    assert mine[0]["passage"]["event_id"] == item["event_id"]
    sites = driver.get(f"/vehicles/{vehicle_id}/sites").get_json()["items"]
    assert sites[0]["verification"] == "self_declared"
