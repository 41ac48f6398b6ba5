"""Driver isolation, walking the mini-program's URL map so new routes are covered too.

Driver B calls every ``/mp/v1`` route that names an object with driver A's ids, by every
method: the answer is 404 and none of A's rows change; B's lists show none of A's ids. A route
whose URL parameter is not classified below fails the test. A site id alone is no secret from
a driver (it is printed in the board's QR code), so routes naming only a site are left out.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Flask
from sqlalchemy import select

from saas.compliance import vin_check_digit
from saas.db import get_database
from saas.models.miniprogram import CargoRegistration, MpVehicle, MpVehicleSite, VisitorBooking
from saas.tenancy import system_context
from tests.conftest import TenantFixture
from tests.miniprogram.conftest import Driver, login
from tests.notify import fakes as f

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
SITE_ONLY = {"mp.get_site", "mp_landing.cargo_landing"}  # the QR code's site id: public


def _a_world(driver: Driver, tenant: TenantFixture) -> dict[str, str]:
    vin = "LZZ1CLSB0NA000732"
    vin = vin[:8] + (vin_check_digit(vin) or "0") + vin[9:]
    vehicle = driver.post(
        "/vehicles",
        json={
            "plate": "冀B·A0001",
            "plate_color": "黄",
            "vin": vin,
            "vehicle_type": "H11",
            "fuel_type": "柴油",
            "emission_stage": "国六b",
        },
    )
    assert vehicle.status_code == 201, vehicle.get_json()
    vehicle_id = vehicle.get_json()["id"]
    assert (
        driver.put(
            f"/vehicles/{vehicle_id}/images/license", data=PNG, content_type="image/png"
        ).status_code
        == 200
    )
    site = {"site_id": str(tenant.site_id)}
    assert driver.post(f"/vehicles/{vehicle_id}/sites", json=site).status_code == 201
    cargo = driver.post(
        "/cargo",
        json={
            **site,
            "plate": "冀BA0001",
            "name": "焦炭",
            "quantity": 30,
            "unit": "t",
            "destination": "天津港",
        },
    )
    assert cargo.status_code == 201, cargo.get_json()
    start = datetime.now(UTC) + timedelta(hours=3)
    booking = driver.post(
        "/bookings",
        json={
            **site,
            "visitor_name": "甲",
            "phone": "13800138000",
            "plate": "冀BA0002",
            "purpose": "商务",
            "host": "张三",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(),
        },
    )
    assert booking.status_code == 201, booking.get_json()
    return {
        "vehicle_id": vehicle_id,
        "registration_id": cargo.get_json()["id"],
        "booking_id": booking.get_json()["id"],
        "site_id": str(tenant.site_id),
        "kind": "license",
        "user_id": driver.user_id,
    }


def _rows(app: Flask) -> str:
    with get_database(app).sessionmaker() as session, system_context("test: snapshot"):
        out = []
        for model in (MpVehicle, MpVehicleSite, CargoRegistration, VisitorBooking):
            for row in session.scalars(select(model).order_by(model.id)):
                out.append({c.key: str(getattr(row, c.key)) for c in row.__mapper__.column_attrs})
        return json.dumps(out, sort_keys=True)


BODIES: dict[str, dict[str, Any]] = {
    "mp.register_at_site": {"site_id": "{site_id}"},
    "mp.patch_vehicle": {"model": "probe"},
}


def test_another_drivers_objects_answer_404(
    mp_app: Flask, wechat: f.FakeWeChat, tenant_a: TenantFixture
) -> None:
    client = mp_app.test_client()
    a, b = login(client, wechat), login(client, wechat)
    ids = _a_world(a, tenant_a)
    before = _rows(mp_app)
    problems: list[str] = []
    probed = 0
    for rule in mp_app.url_map.iter_rules():
        if not rule.rule.startswith("/mp/") or rule.endpoint in SITE_ONLY:
            continue
        params = sorted(rule.arguments)
        unknown = [p for p in params if p not in ids]
        if unknown:
            problems.append(f"{rule.rule}: unclassified parameter(s) {unknown}")
            continue
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        if params:
            url = rule.rule
            for p in params:
                url = url.replace(f"<uuid:{p}>", ids[p]).replace(f"<{p}>", ids[p])
            for method in methods:
                body = json.loads(
                    json.dumps(BODIES.get(rule.endpoint, {})).replace("{site_id}", ids["site_id"])
                )
                response = client.open(url, method=method, json=body, headers=b.headers)
                if response.status_code != 404:
                    problems.append(f"{method} {url} as driver B → {response.status_code}")
                probed += 1
        elif "GET" in methods and rule.endpoint != "mp.openapi_document":
            text = client.get(rule.rule, headers=b.headers).get_data(as_text=True)
            leaked = [k for k, v in ids.items() if k != "site_id" and k != "kind" and v in text]
            if leaked:
                problems.append(f"GET {rule.rule} as driver B shows A's {leaked}")
    assert not problems, "\n".join(problems)
    assert probed >= 10
    assert _rows(mp_app) == before, "driver A's rows changed"
    # A's own view still works (the probe ids were real).
    assert a.get(f"/vehicles/{ids['vehicle_id']}").status_code == 200
    assert a.get(f"/bookings/{ids['booking_id']}").status_code == 200


def test_another_tenants_site_is_invisible_in_its_portal(
    mp_app: Flask, wechat: f.FakeWeChat, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    """What a driver sends to tenant A's site never shows in tenant B's portal or API."""
    from tests.conftest import login as portal_login

    driver = login(mp_app.test_client(), wechat)
    ids = _a_world(driver, tenant_a)
    portal = mp_app.test_client()
    assert portal_login(portal, tenant_b.admin_username) == 302
    for path in (
        "/api/v1/transport-vehicles",
        f"/api/v1/sites/{tenant_b.site_id}/bookings",
        "/portal/cargo",
        "/portal/bookings",
        "/portal/registries/transport-vehicles",
    ):
        response = portal.get(path)
        text = response.get_data(as_text=True)
        assert response.status_code == 200, (path, response.status_code)
        for key in ("registration_id", "booking_id"):
            assert ids[key] not in text, (path, key)
        assert "冀BA0001" not in text, path
        assert "冀BA0002" not in text, path
    assert portal.get(f"/api/v1/sites/{tenant_a.site_id}/bookings").status_code == 404
    decline = portal.post(
        f"/api/v1/sites/{tenant_a.site_id}/bookings/{ids['booking_id']}/decline",
        json={"note": "probe"},
        headers={"X-CSRFToken": "x"},
    )
    assert decline.status_code in {400, 404}
