"""Pre-check: the driver's "will I get in?" is the gate's own decision over the site's snapshot."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from flask import Flask

from saas.db import get_database
from saas.ledger import registries
from saas.policy import alerts
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture
from tests.miniprogram.conftest import Driver


def _register(app: Flask, tenant: TenantFixture, plate: str, stage: str) -> None:
    data = registries.TransportVehicleIn.model_validate(
        {
            "site_id": str(tenant.site_id),
            "plate": plate,
            "plate_color": "黄",
            "vehicle_type": "H11",
            "registration_date": "2022-03-01",
            "fuel_type": "柴油",
            "emission_stage": stage,
        }
    )
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        registries.create_record(session, registries.TRANSPORT_VEHICLES, data, user_id=None)


def _check(driver: Driver, tenant: TenantFixture, plate: str, **extra: object) -> dict:  # type: ignore[type-arg]
    response = driver.post(
        "/precheck", json={"site_id": str(tenant.site_id), "plate": plate, **extra}
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def test_precheck_answers_as_the_gate_would(
    mp_app: Flask, driver: Driver, tenant_a: TenantFixture
) -> None:
    _register(mp_app, tenant_a, "冀B·60001", "国六b")
    _register(mp_app, tenant_a, "冀B·50001", "国五")
    clean = _check(driver, tenant_a, "冀B60001")
    assert clean["verdict"] == "allow"
    assert clean["verdict_text"] == "可以进入"
    assert clean["registered"] is True
    assert clean["plate"] == "冀B60001"
    old = _check(driver, tenant_a, "冀B50001")
    # The coking plant's ultra-low-emission policy admits 国六 or new energy only.
    assert old["verdict"] == "deny"
    assert "stage_below_minimum" in {r["code"] for r in old["reasons"]}
    assert all(r["message"] for r in old["reasons"])
    assert old["display"][0] == "冀B50001"
    unknown = _check(driver, tenant_a, "冀B77777")
    assert unknown["registered"] is False
    assert "unregistered_vehicle" in {r["code"] for r in unknown["reasons"]}


def test_precheck_uses_the_alert_in_force_at_the_planned_time(
    mp_app: Flask, driver: Driver, tenant_a: TenantFixture
) -> None:
    _register(mp_app, tenant_a, "冀B·60002", "国六b")
    start = datetime.now(UTC) + timedelta(hours=2)
    with get_database(mp_app).sessionmaker() as session:
        alerts.issue(
            session,
            level="red",
            starts_at=start,
            ends_at=start + timedelta(hours=24),
            site_id=tenant_a.site_id,
            source="import:test",
            external_id=uuid.uuid4().hex,
            actor_label="test",
        )
        session.commit()
    now = _check(driver, tenant_a, "冀B60002")
    assert now["alert_level"] == "none"
    later = _check(driver, tenant_a, "冀B60002", at=(start + timedelta(hours=1)).isoformat())
    assert later["alert_level"] == "red"
    assert later["alert_level_text"]
    assert later["verdict"] == "allow"  # 国六 still enters under red in the coking plan


def test_precheck_bad_input(driver: Driver, tenant_a: TenantFixture) -> None:
    bad = driver.post("/precheck", json={"site_id": str(tenant_a.site_id), "plate": "ABC"})
    assert bad.status_code == 422
    error = bad.get_json()["error"]
    assert "plate" in error["details"]["fields"]
    assert error["details"]["reasons"]
    far = driver.post(
        "/precheck",
        json={
            "site_id": str(tenant_a.site_id),
            "plate": "冀B60001",
            "at": (datetime.now(UTC) + timedelta(days=5)).isoformat(),
        },
    )
    assert far.status_code == 422
    assert "at" in far.get_json()["error"]["details"]["fields"]
    missing = driver.post("/precheck", json={"site_id": str(uuid.uuid4()), "plate": "冀B60001"})
    assert missing.status_code == 404
    anonymous = driver.client.post(
        "/mp/v1/precheck", json={"site_id": str(tenant_a.site_id), "plate": "冀B60001"}
    )
    assert anonymous.status_code == 401
