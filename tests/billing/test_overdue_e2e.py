"""Issue 9 acceptance: billing never stops a gate. A tenant whose invoice is unpaid well past the
grace period — marked overdue and reminded by the daily dunning run — still has its edge
snapshot built and its gate deciding on it, its passages ingested through the signed edge
endpoint into a hash chain that verifies, uploaded to the regulator's reference receiver
(``hj1321-json``, RSA2, over real HTTP) and shown on its public board. Only the convenience
features are refused, with the overdue invoice named: a passage export over 30 days and
inviting a user. A bank transfer recorded in the console brings them back."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from billing import dunning
from billing.payments import china_today
from saas.compliance import DecisionContext, Direction, GateEvent, decide
from saas.compliance.snapshot import Site as SnapshotSite
from saas.db import get_database
from saas.edge_hub import snapshot
from saas.ledger.verify import verify_site
from saas.models.identity import Role
from saas.regulator.base import Credentials
from saas.regulator.relay import Breaker
from saas.regulator.signing import generate_private_key, public_material
from saas.regulator.sim import RegulatorSim, SimClient
from saas.tenancy import system_context, tenant_context
from tests.billing.payment_helpers import (
    form_post,
    invoice_of,
    logged_in,
    make_invoice,
    outbox,
    subscribe,
)
from tests.board.helpers import board_token, register_truck, seed_site
from tests.conftest import TenantFixture, api_csrf, make_user
from tests.ledger.edge_helpers import Device, make_device, post_batch
from tests.regulator.conftest import (
    breaker_redis,  # noqa: F401  (fixture)
    run_relay,
    stored_hj1321_config,
    uploads,
)

pytestmark = pytest.mark.timeout(120)

CLIENT_ID, CLIENT_SECRET, ENT_CODE = (
    "ent-overdue-0001",
    "overdue-client-secret-4b1e",
    "TS130200000777",
)
TODAY = china_today()


@pytest.fixture(scope="module")
def rsa_key() -> str:
    return generate_private_key("rsa2")


@pytest.fixture
def sim(rsa_key: str, breaker_redis: redis.Redis) -> Iterator[RegulatorSim]:  # noqa: F811
    material = public_material("rsa2", Credentials(private_key=rsa_key))
    assert material is not None
    with RegulatorSim([SimClient(CLIENT_ID, CLIENT_SECRET, "rsa2", material, ENT_CODE)]) as running:
        key = Breaker.key(running.url)
        breaker_redis.delete(key, key + ":probe")
        yield running


def _gate(app: Flask, tenant: TenantFixture, plate: str) -> dict[str, Any]:
    """What the site's bridge does with a camera read: decide on the snapshot the cloud built
    for it and report the passage (edge_bridge/lanes.py does the same)."""
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        body = snapshot.build(session, tenant.site_id, base_url="https://cg.example")
    site = SnapshotSite(body)
    now = datetime.now(UTC)
    facts = site.facts(plate, now)
    assert facts is not None, "the registered truck is in the snapshot"
    decision = decide(
        GateEvent(plate_text=plate, time=now, color="yellow", direction=Direction.IN),
        facts,
        DecisionContext(policy=site.policy, time=now, alert_level=site.alert_level_at(now)),
    )
    entry = site.registry[plate]
    return {
        "event_id": str(uuid.uuid4()),
        "captured_at": now.isoformat(),
        "gate": "1",
        "lane": "01",
        "direction": "in",
        "plate_text": plate,
        "plate_color": "yellow",
        "confidence": 0.97,
        "vehicle": {
            "registered": True,
            "vehicle_type": entry["vehicle_type"],
            "fuel_type": entry["fuel_type"],
            "emission_stage": entry["emission_stage"],
        },
        "decision": {
            "verdict": decision.verdict.value.upper(),
            "reasons": list(decision.reasons),
            "policy_version": decision.policy_version,
            "alert_level": decision.alert_level.value,
            "display": list(decision.display),
        },
    }


def _gate_ledger_upload_board(
    app: Flask,
    tenant: TenantFixture,
    device: Device,
    token: str,
    plate: str,
    connection: redis.Redis,
    sim: RegulatorSim,
) -> None:
    item = _gate(app, tenant, plate)
    assert item["decision"]["verdict"] == "ALLOW"
    ingested = post_batch(app.test_client(), device, [item])
    assert ingested.status_code == 200, ingested.get_data(as_text=True)
    assert [a["status"] for a in ingested.get_json()["acks"]] == ["stored"]
    key = app.extensions["cleangate.ledger_key"]
    with get_database(app).sessionmaker() as session, system_context("test: verify"):
        report = verify_site(session, tenant.site_id, key.public_bytes)
    assert report.intact
    counts = run_relay(app, tenant, connection)
    assert counts.accepted >= 1, [
        (u.platform_code, u.platform_message, u.last_error) for u in uploads(app, tenant)
    ]
    mine = f"passage:{item['event_id']}"
    assert mine in {r["key"] for r in sim.receipts("passage")}
    assert [u.status for u in uploads(app, tenant, key=mine)] == ["accepted"]
    board = app.test_client().get(f"/board/{token}")
    assert board.status_code == 200
    assert f'<p id="b-plate" class="b-plate">{plate}</p>' in board.get_data(as_text=True)


def _convenience(client: FlaskClient, headers: dict[str, str]) -> tuple[Any, Any]:
    until = datetime.now(UTC).replace(microsecond=0)
    export = client.post(
        "/api/v1/exports",
        json={
            "kind": "passages",
            "format": "csv",
            "filter": {
                "since": (until - timedelta(days=45)).isoformat(),
                "until": until.isoformat(),
            },
        },
        headers=headers,
    )
    invite = client.post(
        "/api/v1/users",
        json={"username": f"n{uuid.uuid4().hex[:8]}@a", "display_name": "新同事", "role": "guard"},
        headers=headers,
    )
    return export, invite


def test_an_overdue_tenant_keeps_gate_ledger_upload_and_board(
    app: Flask,
    tenant_a: TenantFixture,
    sim: RegulatorSim,
    rsa_key: str,
    breaker_redis: redis.Redis,  # noqa: F811
) -> None:
    # a site in service: approved plan, a registered truck, a bridge, the board, the platform
    seed_site(app, tenant_a)
    register_truck(app, tenant_a, "冀B6E001", "cn6b")
    register_truck(app, tenant_a, "冀B6E002", "cn6b")
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    token = board_token(app, tenant_a)
    stored_hj1321_config(
        app, tenant_a, sim.url, rsa_key, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        ent_code=ENT_CODE, name="唐山市重点用车单位管控平台",
    )  # fmt: skip

    # the bill: 40 days past due, grace 15 days; the daily run has marked and reminded it
    subscribe(app, tenant_a, grace_days=15)
    invoice_id = make_invoice(app, tenant_a, total="3180.00", due_on=TODAY - timedelta(days=40))
    settings = app.config["CLEANGATE_SETTINGS"]
    with app.app_context():
        dunning.run(
            get_database(app).sessionmaker,
            settings=settings.billing,
            notify=settings.notify,
            base_url=settings.base_url,
            tenant_ids={tenant_a.tenant_id},
        )
    invoice = invoice_of(app, tenant_a, invoice_id)
    assert invoice.status == "overdue"
    assert invoice.reminders_sent == 1
    assert {m.channel for m in outbox(app, tenant_a)} == {"email", "wechat"}
    with app.app_context(), get_database(app).sessionmaker() as session:
        assert dunning.is_degraded(session, tenant_a.tenant_id)

    # the legal duties go on: gate, ledger, regulator upload, board
    _gate_ledger_upload_board(app, tenant_a, device, token, "冀B6E001", breaker_redis, sim)

    # the conveniences stop, naming the invoice
    admin = logged_in(app, tenant_a.admin_username)
    headers = {"X-CSRFToken": api_csrf(admin)}
    export, invite = _convenience(admin, headers)
    assert (export.status_code, invite.status_code) == (402, 402)
    for refused in (export, invite):
        assert invoice.number in refused.get_json()["error"]["message"]
        assert (
            "门禁放行、电子台账、监管平台上报和公示大屏不受影响"
            in refused.get_json()["error"]["message"]
        )

    # provider billing records the customer's bank transfer: everything is back
    staff = logged_in(app, make_user(app, Role.PROVIDER_BILLING, None).username)
    paid = form_post(
        staff,
        f"/console/billing/payments/invoices/{invoice_id}",
        {
            "amount": "3180.00",
            "payer_name": "唐山某某焦化有限公司",
            "bank_reference": f"ICBC{uuid.uuid4().hex[:12]}",
            "received_on": TODAY.isoformat(),
        },
    )
    assert paid.status_code == 303
    assert invoice_of(app, tenant_a, invoice_id).status == "paid"
    export, invite = _convenience(admin, headers)
    assert (export.status_code, invite.status_code) == (202, 201)
    assert re.fullmatch(r"[0-9a-f-]{36}", export.get_json()["export_id"])
    _gate_ledger_upload_board(app, tenant_a, device, token, "冀B6E002", breaker_redis, sim)
