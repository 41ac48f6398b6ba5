"""Registries over the REST API: validation with saas.compliance, history, deactivation, lists,
document images, and tenant isolation (every list/detail has a foreign-tenant negative case)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from saas.db import get_database
from saas.ledger import registries as reg
from saas.models.identity import Role
from saas.models.ledger import RegistryChange, TransportVehicle, VehicleListEntry
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture, api_csrf, login, make_user

VIN_CN = "LSGPC52U6AF102554"  # check digit 6 is right (domain.md §3.2)
VIN_CN_BAD = "LSGPC52U7AF102554"
VIN_FOREIGN_BAD_CHECK = "WDB12345678901234"  # check digit wrong, but not an L WMI: a warning
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(64)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64)

Client = tuple[FlaskClient, dict[str, str]]


def _client(app: Flask, username: str) -> Client:
    client = app.test_client()
    assert login(client, username) == 302
    return client, {"X-CSRFToken": api_csrf(client)}


def _admin(app: Flask, tenant: TenantFixture) -> Client:
    return _client(app, tenant.admin_username)


def _truck(site_id: uuid.UUID, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "site_id": str(site_id),
        "plate": "冀b·12345",
        "plate_color": "黄",
        "vehicle_type": "H11",
        "vin": VIN_CN,
        "registration_date": "2019-03-01",
        "fuel_type": "柴油",
        "use_nature": "F",
        "owner_name": "唐山运输公司",
        "rated_load_kg": 31000,
    }
    body.update(extra)
    return body


def _count(app: Flask, tenant: TenantFixture, model: Any) -> int:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_create_patch_deactivate_and_history(app: Flask, tenant_a: TenantFixture) -> None:
    client, headers = _admin(app, tenant_a)
    created = client.post(
        "/api/v1/transport-vehicles", json=_truck(tenant_a.site_id), headers=headers
    )
    assert created.status_code == 201, created.get_json()
    truck = created.get_json()
    assert truck["plate"] == "冀B12345"  # normalized
    assert truck["plate_color"] == "yellow"  # canonical
    assert truck["fuel_type"] == "diesel"
    assert truck["source"] == "portal"
    assert truck["verification"] == "self_declared"
    assert truck["active"] is True
    url = f"/api/v1/transport-vehicles/{truck['id']}"

    patched = client.patch(url, json={"owner_name": "新车主", "engine_no": "E123"}, headers=headers)
    assert patched.status_code == 200
    assert patched.get_json()["owner_name"] == "新车主"
    unchanged = client.patch(url, json={"owner_name": "新车主"}, headers=headers)
    assert unchanged.status_code == 200
    assert client.patch(url, json={"plate": None}, headers=headers).status_code == 422
    assert client.patch(url, json={"source": "lookup"}, headers=headers).status_code == 422
    assert (
        client.patch(url, json={"verification": "regulator_verified"}, headers=headers).status_code
        == 422
    )

    off = client.post(f"{url}/deactivate", headers=headers)
    assert off.status_code == 200
    assert off.get_json()["active"] is False
    assert client.post(f"{url}/deactivate", headers=headers).status_code == 200  # idempotent
    assert client.get(url).get_json()["active"] is False  # deactivated, never deleted

    history = client.get(f"{url}/history").get_json()["items"]
    assert [h["action"] for h in history] == ["deactivate", "update", "create"]
    me = client.get("/api/v1/me").get_json()
    assert {h["user_id"] for h in history} == {me["user_id"]}
    assert history[1]["changes"] == {
        "owner_name": ["唐山运输公司", "新车主"],
        "engine_no": [None, "E123"],
    }
    assert history[0]["changes"] == {"active": [True, False]}
    assert history[2]["changes"]["plate"] == [None, "冀B12345"]

    page = client.get(f"{url}/history?limit=1").get_json()
    assert len(page["items"]) == 1
    assert page["next_cursor"]
    rest = client.get(f"{url}/history?limit=5&cursor={page['next_cursor']}").get_json()
    assert [h["action"] for h in rest["items"]] == ["update", "create"]

    back = client.post(f"{url}/reactivate", headers=headers)
    assert back.get_json()["active"] is True


def test_invalid_plate_and_vin_answer_422_with_compliance_codes(
    app: Flask, tenant_a: TenantFixture
) -> None:
    client, headers = _admin(app, tenant_a)
    before = _count(app, tenant_a, TransportVehicle)
    bad_plate = client.post(
        "/api/v1/transport-vehicles",
        json=_truck(tenant_a.site_id, plate="XB12345"),
        headers=headers,
    )
    assert bad_plate.status_code == 422
    error = bad_plate.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert error["details"]["fields"]["plate"] == "车牌无效 (bad_province)"

    bad_vin = client.post(
        "/api/v1/transport-vehicles", json=_truck(tenant_a.site_id, vin=VIN_CN_BAD), headers=headers
    )
    assert bad_vin.status_code == 422
    assert bad_vin.get_json()["error"]["details"]["fields"] == {
        "vin": "车辆识别代号无效 (bad_check_digit)"
    }
    short_vin = client.post(
        "/api/v1/transport-vehicles", json=_truck(tenant_a.site_id, vin="LSG123"), headers=headers
    )
    assert "bad_length" in short_vin.get_json()["error"]["details"]["fields"]["vin"]
    no_color = client.post(
        "/api/v1/transport-vehicles",
        json=_truck(tenant_a.site_id, plate_color=None),
        headers=headers,
    )
    assert no_color.status_code == 422
    assert "color_required" in no_color.get_json()["error"]["details"]["fields"]["plate_color"]
    assert _count(app, tenant_a, TransportVehicle) == before  # nothing written

    foreign = client.post(
        "/api/v1/transport-vehicles",
        json=_truck(tenant_a.site_id, vin=VIN_FOREIGN_BAD_CHECK),
        headers=headers,
    )
    assert foreign.status_code == 201  # a foreign WMI's check digit is only a warning
    nev = client.post(
        "/api/v1/transport-vehicles",
        json=_truck(tenant_a.site_id, plate="冀BD12345", plate_color=None, vin=None),
        headers=headers,
    )
    assert nev.status_code == 201
    assert nev.get_json()["plate_color"] == "green"  # implied by the new-energy format


def test_duplicate_plate_in_one_site_is_409(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    client, headers = _admin(app, tenant_a)
    body = _truck(tenant_a.site_id)
    assert client.post("/api/v1/transport-vehicles", json=body, headers=headers).status_code == 201
    same = client.post(
        "/api/v1/transport-vehicles", json=dict(body, plate="冀B 12345"), headers=headers
    )
    assert same.status_code == 409
    assert same.get_json()["error"]["code"] == "conflict"
    # Tenant B registers the same plate at its own site (overlapping natural keys).
    b_client, b_headers = _admin(app, tenant_b)
    other = b_client.post(
        "/api/v1/transport-vehicles", json=_truck(tenant_b.site_id), headers=b_headers
    )
    assert other.status_code == 201
    # A patch onto an existing plate is a conflict too.
    second = client.post(
        "/api/v1/transport-vehicles", json=dict(body, plate="冀B54321"), headers=headers
    ).get_json()
    clash = client.patch(
        f"/api/v1/transport-vehicles/{second['id']}", json={"plate": "冀B12345"}, headers=headers
    )
    assert clash.status_code == 409


def test_missing_stage_is_inferred_and_marked(app: Flask, tenant_a: TenantFixture) -> None:
    client, headers = _admin(app, tenant_a)
    # The VIN's model-year code may only lower a guess; without one the date decides.
    capped = client.post(
        "/api/v1/transport-vehicles",
        json=_truck(tenant_a.site_id, plate="冀B33333"),
        headers=headers,
    ).get_json()
    assert capped["emission_stage"] == "cn3"
    assert "vin_model_year_cap" in capped["stage_basis"]
    truck = client.post(
        "/api/v1/transport-vehicles", json=_truck(tenant_a.site_id, vin=None), headers=headers
    ).get_json()
    assert truck["emission_stage"] == "cn5"
    assert truck["stage_inferred"] is True
    assert "registration_date" in truck["stage_basis"]
    assert "table:heavy_diesel" in truck["stage_basis"]
    url = f"/api/v1/transport-vehicles/{truck['id']}"
    # A changed input re-infers an inferred stage …
    moved = client.patch(url, json={"registration_date": "2022-01-10"}, headers=headers)
    assert moved.get_json()["emission_stage"] == "cn6a"
    assert moved.get_json()["stage_inferred"] is True
    # … an explicit stage replaces the guess and is never overwritten by one.
    explicit = client.patch(url, json={"emission_stage": "国六b"}, headers=headers).get_json()
    assert (explicit["emission_stage"], explicit["stage_inferred"]) == ("cn6b", False)
    assert explicit["stage_basis"] is None
    again = client.patch(url, json={"registration_date": "2010-01-10"}, headers=headers).get_json()
    assert again["emission_stage"] == "cn6b"

    given = client.post(
        "/api/v1/transport-vehicles",
        json=_truck(tenant_a.site_id, plate="冀B22222", emission_stage="cn4"),
        headers=headers,
    ).get_json()
    assert (given["emission_stage"], given["stage_inferred"]) == ("cn4", False)

    inplant = client.post(
        "/api/v1/inplant-vehicles",
        json={
            "site_id": str(tenant_a.site_id),
            "env_reg_code": "厂内-001",
            "production_date": "2019-03-01",
            "fuel_type": "diesel",
        },
        headers=headers,
    )
    assert inplant.status_code == 201, inplant.get_json()
    assert inplant.get_json()["stage_inferred"] is True
    assert "production_date_as_registration" in inplant.get_json()["stage_basis"]

    machine = client.post(
        "/api/v1/nonroad-machinery",
        json={
            "site_id": str(tenant_a.site_id),
            "env_reg_code": "冀B-NR-0001",
            "machine_type": "装载机",
            "production_date": "2023-03-01",
            "pin": "PIN0001",
            "engine_power_kw": "92.5",
        },
        headers=headers,
    )
    assert machine.status_code == 201, machine.get_json()
    body = machine.get_json()
    assert (body["nonroad_stage"], body["stage_inferred"]) == ("nr4", True)
    history = client.get(f"/api/v1/nonroad-machinery/{body['id']}/history").get_json()["items"]
    assert history[0]["changes"]["stage_basis"][1].startswith("high")
    dup_pin = client.post(
        "/api/v1/nonroad-machinery",
        json={
            "site_id": str(tenant_a.site_id),
            "env_reg_code": "冀B-NR-0002",
            "machine_type": "叉车",
            "pin": "PIN0001",
        },
        headers=headers,
    )
    assert dup_pin.status_code == 409
    bad_stage = client.post(
        "/api/v1/nonroad-machinery",
        json={
            "site_id": str(tenant_a.site_id),
            "env_reg_code": "x",
            "machine_type": "叉车",
            "nonroad_stage": "国五",
        },
        headers=headers,
    )
    assert bad_stage.status_code == 422
    assert "nonroad_stage" in bad_stage.get_json()["error"]["details"]["fields"]


def test_foreign_site_in_body_is_404_and_writes_nothing(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    client, headers = _admin(app, tenant_a)
    before = _count(app, tenant_a, TransportVehicle), _count(app, tenant_b, TransportVehicle)
    response = client.post(
        "/api/v1/transport-vehicles", json=_truck(tenant_b.site_id), headers=headers
    )
    assert response.status_code == 404
    assert response.get_json()["error"]["message"] == "站点不存在"
    for path, body in (
        ("/api/v1/carriers", {"site_id": str(tenant_b.site_id), "name": "车队"}),
        (
            "/api/v1/vehicle-lists",
            {
                "site_id": str(tenant_b.site_id),
                "plate": "冀B12345",
                "list_kind": "black",
                "reason": "x",
            },
        ),
    ):
        assert client.post(path, json=body, headers=headers).status_code == 404
    assert (_count(app, tenant_a, TransportVehicle), _count(app, tenant_b, TransportVehicle)) == (
        before
    )
    assert _count(app, tenant_a, RegistryChange) == 0


def _one_of_each(
    client: FlaskClient, headers: dict[str, str], site_id: uuid.UUID
) -> dict[str, str]:
    site = str(site_id)
    carrier = client.post(
        "/api/v1/carriers", json={"site_id": site, "name": "顺达车队"}, headers=headers
    ).get_json()
    truck = client.post(
        "/api/v1/transport-vehicles",
        json=_truck(site_id, carrier_id=carrier["id"]),
        headers=headers,
    ).get_json()
    inplant = client.post(
        "/api/v1/inplant-vehicles",
        json={"site_id": site, "env_reg_code": "N-001", "plate": "冀B12345"},
        headers=headers,
    ).get_json()
    machine = client.post(
        "/api/v1/nonroad-machinery",
        json={"site_id": site, "env_reg_code": "NR-001", "machine_type": "叉车"},
        headers=headers,
    ).get_json()
    entry = client.post(
        "/api/v1/vehicle-lists",
        json={"site_id": site, "plate": "冀B12345", "list_kind": "black", "reason": "超标"},
        headers=headers,
    ).get_json()
    return {
        "carriers": carrier["id"],
        "transport-vehicles": truck["id"],
        "inplant-vehicles": inplant["id"],
        "nonroad-machinery": machine["id"],
        "vehicle-lists": entry["id"],
    }


def test_other_tenants_records_answer_404_and_never_list(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    a_client, a_headers = _admin(app, tenant_a)
    b_client, b_headers = _admin(app, tenant_b)
    a_ids = _one_of_each(a_client, a_headers, tenant_a.site_id)
    b_ids = _one_of_each(b_client, b_headers, tenant_b.site_id)
    for path, a_id in a_ids.items():
        own = a_client.get(f"/api/v1/{path}")
        assert [i["id"] for i in own.get_json()["items"]] == [a_id], path
        assert a_client.get(f"/api/v1/{path}/{a_id}").status_code == 200
        # Tenant B: A's records are absent from lists and answer 404 like a missing id.
        listed = b_client.get(f"/api/v1/{path}").get_data(as_text=True)
        assert a_id not in listed, path
        assert b_ids[path] in listed, path
        assert a_id not in b_client.get(f"/api/v1/{path}?site_id={tenant_a.site_id}").get_data(
            as_text=True
        )
        missing = b_client.get(f"/api/v1/{path}/{uuid.uuid4()}").get_json()
        foreign = b_client.get(f"/api/v1/{path}/{a_id}")
        assert foreign.status_code == 404
        assert foreign.get_json() == missing
        assert b_client.get(f"/api/v1/{path}/{a_id}/history").status_code == 404
        assert (
            b_client.patch(f"/api/v1/{path}/{a_id}", json={}, headers=b_headers).status_code == 404
        )
    for path in ("transport-vehicles", "inplant-vehicles", "nonroad-machinery"):
        assert (
            b_client.post(f"/api/v1/{path}/{a_ids[path]}/deactivate", headers=b_headers).status_code
            == 404
        )
        assert a_client.get(f"/api/v1/{path}/{a_ids[path]}").get_json()["active"] is True
    assert (
        b_client.post(f"/api/v1/vehicle-lists/{a_ids['vehicle-lists']}/revoke", headers=b_headers)
    ).status_code == 404
    # Tenant B cannot attach A's carrier to its own truck.
    stolen = b_client.post(
        "/api/v1/transport-vehicles",
        json=_truck(tenant_b.site_id, plate="冀B99999", carrier_id=a_ids["carriers"]),
        headers=b_headers,
    )
    assert stolen.status_code == 404


def test_filters_and_paging(app: Flask, tenant_a: TenantFixture) -> None:
    client, headers = _admin(app, tenant_a)
    for plate, stage in (("冀B10001", "cn5"), ("冀B10002", "cn6a"), ("京A10003", "cn5")):
        assert (
            client.post(
                "/api/v1/transport-vehicles",
                json=_truck(tenant_a.site_id, plate=plate, emission_stage=stage),
                headers=headers,
            ).status_code
            == 201
        )

    def plates(query: str) -> list[str]:
        response = client.get(f"/api/v1/transport-vehicles?{query}")
        assert response.status_code == 200, response.get_json()
        return sorted(i["plate"] for i in response.get_json()["items"])

    assert plates("plate=冀b1") == ["冀B10001", "冀B10002"]
    assert plates("stage=国五") == ["京A10003", "冀B10001"]
    assert plates(f"site_id={tenant_a.site_id}&stage=cn6a") == ["冀B10002"]
    first = client.get("/api/v1/transport-vehicles?limit=2").get_json()
    second = client.get(f"/api/v1/transport-vehicles?limit=2&cursor={first['next_cursor']}")
    assert len(first["items"]) + len(second.get_json()["items"]) == 3
    victim = first["items"][0]["id"]
    client.post(f"/api/v1/transport-vehicles/{victim}/deactivate", headers=headers)
    assert len(client.get("/api/v1/transport-vehicles?active=true").get_json()["items"]) == 2
    assert [
        i["id"] for i in client.get("/api/v1/transport-vehicles?active=0").get_json()["items"]
    ] == [victim]
    for bad in ("site_id=nope", "active=maybe", "stage=cn9", "plate=%25&stage=x"):
        assert client.get(f"/api/v1/transport-vehicles?{bad}").status_code == 422, bad
    assert plates("plate=%25") == []  # LIKE wildcards are escaped


def test_carrier_must_belong_to_the_vehicles_site(app: Flask, tenant_a: TenantFixture) -> None:
    client, headers = _admin(app, tenant_a)
    carrier = client.post(
        "/api/v1/carriers",
        json={"site_id": str(tenant_a.site_id), "name": "顺达车队", "uscc": "91350100M000100Y43"},
        headers=headers,
    )
    assert carrier.status_code == 201
    dup = client.post(
        "/api/v1/carriers",
        json={"site_id": str(tenant_a.site_id), "name": "顺达车队"},
        headers=headers,
    )
    assert dup.status_code == 409
    bad_uscc = client.post(
        "/api/v1/carriers",
        json={"site_id": str(tenant_a.site_id), "name": "别的车队", "uscc": "91350100M000100Y44"},
        headers=headers,
    )
    assert "uscc" in bad_uscc.get_json()["error"]["details"]["fields"]
    truck = client.post(
        "/api/v1/transport-vehicles",
        json=_truck(tenant_a.site_id, carrier_id=carrier.get_json()["id"]),
        headers=headers,
    )
    assert truck.get_json()["carrier_id"] == carrier.get_json()["id"]
    # Carriers have no active column (yet): there is no deactivate route for them.
    no_route = client.post(
        f"/api/v1/carriers/{carrier.get_json()['id']}/deactivate", headers=headers
    )
    assert no_route.status_code == 404


def test_read_roles_read_and_cannot_write(app: Flask, tenant_a: TenantFixture) -> None:
    admin, headers = _admin(app, tenant_a)
    truck = admin.post(
        "/api/v1/transport-vehicles", json=_truck(tenant_a.site_id), headers=headers
    ).get_json()
    for role in (Role.VIEWER, Role.GUARD):
        user = make_user(app, role, tenant_a.tenant_id)
        client, user_headers = _client(app, user.username)
        assert client.get(f"/api/v1/transport-vehicles/{truck['id']}").status_code == 200
        assert (
            client.patch(
                f"/api/v1/transport-vehicles/{truck['id']}",
                json={"model": "x"},
                headers=user_headers,
            ).status_code
            == 403
        )
    manager = make_user(app, Role.ENV_MANAGER, tenant_a.tenant_id)
    client, manager_headers = _client(app, manager.username)
    assert (
        client.patch(
            f"/api/v1/transport-vehicles/{truck['id']}",
            json={"model": "x"},
            headers=manager_headers,
        ).status_code
        == 200
    )


# --- document images -------------------------------------------------------------------------


def _put(client: FlaskClient, headers: dict[str, str], url: str, data: bytes, ctype: str) -> Any:
    return client.put(url, data=data, headers={**headers, "Content-Type": ctype})


def test_document_images_are_checked_by_their_bytes(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    client, headers = _admin(app, tenant_a)
    storage = app.extensions["cleangate.storage"]
    truck = client.post(
        "/api/v1/transport-vehicles", json=_truck(tenant_a.site_id), headers=headers
    ).get_json()
    url = f"/api/v1/transport-vehicles/{truck['id']}/images"

    png = _put(client, headers, f"{url}/list", PNG, "image/png")
    assert png.status_code == 200, png.get_json()
    key = png.get_json()["key"]
    assert key.startswith(f"t/{tenant_a.tenant_id}/s/{tenant_a.site_id}/docs/")
    assert key.endswith(".png")
    assert storage.get(key) == PNG
    jpeg = _put(client, headers, f"{url}/license", JPEG, "application/octet-stream")
    assert jpeg.status_code == 200
    assert jpeg.get_json()["key"].endswith(".jpg")
    detail = client.get(f"/api/v1/transport-vehicles/{truck['id']}").get_json()
    assert (detail["list_image_key"], detail["license_image_key"]) == (key, jpeg.get_json()["key"])

    text = b"just some text, not an image at all"
    lying = _put(client, headers, f"{url}/list", text, "image/png")  # the header lies
    assert lying.status_code == 415
    assert lying.get_json()["error"]["code"] == "unsupported_media_type"
    huge = PNG + bytes(5 * 1024 * 1024)
    too_big = _put(client, headers, f"{url}/license", huge, "image/png")
    assert too_big.status_code == 413
    assert _put(client, headers, f"{url}/nameplate", PNG, "image/png").status_code == 404
    after = client.get(f"/api/v1/transport-vehicles/{truck['id']}").get_json()
    assert (after["list_image_key"], after["license_image_key"]) == (key, jpeg.get_json()["key"])
    import hashlib

    for body in (text, huge):
        digest = hashlib.sha256(body).hexdigest()
        for ext in ("png", "jpg"):
            assert not storage.exists(
                f"t/{tenant_a.tenant_id}/s/{tenant_a.site_id}/docs/{digest}.{ext}"
            )

    machine = client.post(
        "/api/v1/nonroad-machinery",
        json={"site_id": str(tenant_a.site_id), "env_reg_code": "NR-9", "machine_type": "挖掘机"},
        headers=headers,
    ).get_json()
    murl = f"/api/v1/nonroad-machinery/{machine['id']}/images"
    for kind in ("nameplate", "engine_nameplate", "env_label"):
        assert _put(client, headers, f"{murl}/{kind}", JPEG, "image/jpeg").status_code == 200
    assert _put(client, headers, f"{murl}/list", JPEG, "image/jpeg").status_code == 404
    history = client.get(f"/api/v1/nonroad-machinery/{machine['id']}/history").get_json()["items"]
    assert [h["action"] for h in history] == ["update", "update", "update", "create"]

    b_client, b_headers = _admin(app, tenant_b)
    assert _put(b_client, b_headers, f"{url}/list", JPEG, "image/jpeg").status_code == 404
    assert (
        client.get(f"/api/v1/transport-vehicles/{truck['id']}").get_json()["list_image_key"] == key
    )


# --- black and white lists -------------------------------------------------------------------


def _entry(site_id: uuid.UUID, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "site_id": str(site_id),
        "plate": "冀B12345",
        "list_kind": "white",
        "reason": "民生保障车辆",
        "exemption": "livelihood",
    }
    body.update(extra)
    return body


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def test_black_and_white_list_validity(app: Flask, tenant_a: TenantFixture) -> None:
    client, headers = _admin(app, tenant_a)
    now = datetime.now(UTC)
    white = client.post(
        "/api/v1/vehicle-lists",
        json=_entry(tenant_a.site_id, valid_to=_iso(now + timedelta(days=30))),
        headers=headers,
    )
    assert white.status_code == 201, white.get_json()
    entry = white.get_json()
    assert entry["effective"] is True
    assert entry["exemption"] == "livelihood"
    # On both lists at once, or twice on one, the gate could not tell which applies.
    black_now = client.post(
        "/api/v1/vehicle-lists",
        json=_entry(tenant_a.site_id, list_kind="black", exemption=None, reason="排放超标"),
        headers=headers,
    )
    assert black_now.status_code == 409
    later = client.post(
        "/api/v1/vehicle-lists",
        json=_entry(
            tenant_a.site_id,
            list_kind="black",
            exemption=None,
            reason="排放超标",
            valid_from=_iso(now + timedelta(days=31)),
        ),
        headers=headers,
    )
    assert later.status_code == 201
    assert later.get_json()["effective"] is False  # not yet in force

    black_exempt = client.post(
        "/api/v1/vehicle-lists",
        json=_entry(tenant_a.site_id, plate="冀B77777", list_kind="black"),
        headers=headers,
    )
    assert black_exempt.status_code == 422
    assert "exemption" in black_exempt.get_json()["error"]["details"]["fields"]
    backwards = client.post(
        "/api/v1/vehicle-lists",
        json=_entry(
            tenant_a.site_id,
            plate="冀B77777",
            valid_from=_iso(now),
            valid_to=_iso(now - timedelta(days=1)),
        ),
        headers=headers,
    )
    assert "valid_to" in backwards.get_json()["error"]["details"]["fields"]
    naive = client.post(
        "/api/v1/vehicle-lists",
        json=_entry(tenant_a.site_id, plate="冀B77777", valid_from="2024-01-01T00:00:00"),
        headers=headers,
    )
    assert naive.status_code == 422  # times carry a zone
    expired = client.post(
        "/api/v1/vehicle-lists",
        json=_entry(
            tenant_a.site_id,
            plate="冀B66666",
            valid_from=_iso(now - timedelta(days=10)),
            valid_to=_iso(now - timedelta(days=1)),
        ),
        headers=headers,
    ).get_json()
    assert expired["effective"] is False

    effective = client.get("/api/v1/vehicle-lists?active=true").get_json()["items"]
    assert [e["id"] for e in effective] == [entry["id"]]
    assert len(client.get("/api/v1/vehicle-lists?list_kind=black").get_json()["items"]) == 1

    revoked = client.post(f"/api/v1/vehicle-lists/{entry['id']}/revoke", headers=headers)
    assert revoked.status_code == 200
    assert revoked.get_json()["revoked_at"] is not None
    assert revoked.get_json()["effective"] is False
    assert client.get(f"/api/v1/vehicle-lists/{entry['id']}").status_code == 200  # kept
    assert client.get("/api/v1/vehicle-lists?active=true").get_json()["items"] == []
    assert (
        client.patch(
            f"/api/v1/vehicle-lists/{entry['id']}", json={"reason": "x"}, headers=headers
        ).status_code
        == 409
    )
    history = client.get(f"/api/v1/vehicle-lists/{entry['id']}/history").get_json()["items"]
    assert [h["action"] for h in history] == ["revoke", "create"]

    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        assert reg.list_status(session, tenant_a.site_id, "冀B12345") is None
        future = reg.list_status(session, tenant_a.site_id, "冀B12345", now + timedelta(days=40))
        assert future is not None
        assert future.list_kind == "black"
        row = session.get(VehicleListEntry, uuid.UUID(expired["id"]))
        assert row is not None
        assert reg.is_effective(row, now - timedelta(days=5))
        assert not reg.is_effective(row, now - timedelta(days=1))  # valid_to is exclusive


@pytest.mark.parametrize("path", ["/api/v1/transport-vehicles", "/api/v1/vehicle-lists"])
def test_unauthenticated_is_401(app: Flask, path: str) -> None:
    assert app.test_client().get(path).status_code == 401
