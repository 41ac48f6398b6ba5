"""The driver's garage, document photos and registration at a site's transport-vehicle registry."""

from __future__ import annotations

import hashlib
import io
import uuid
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from saas.db import get_database
from saas.ledger import registries
from saas.models.ledger import RegistryChange, TransportVehicle
from saas.models.miniprogram import MpVehicle, MpVehicleSite
from saas.models.regulator import RegulatorUpload
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture
from tests.conftest import login as portal_login
from tests.miniprogram.conftest import Driver, login
from tests.notify import fakes as f
from tests.regulator.conftest import make_config

JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(200)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
VIN = "LZZ5CLSB6KA123456"  # check digit 6 is right
VIN_BAD_CHECK = "LZZ5CLSB0KA123456"
TRUCK: dict[str, Any] = {
    "plate": "冀B·12345",
    "plate_color": "黄",
    "vin": VIN,
    "vehicle_type": "H11",
    "fuel_type": "柴油",
    "registration_date": "2019-03-01",
    "model": "解放牌 CA4250",
    "owner_name": "唐山运输有限公司",
}
REGISTRY = registries.TRANSPORT_VEHICLES


def _add(driver: Driver, **changes: Any) -> dict[str, Any]:
    response = driver.post("/vehicles", json={**TRUCK, **changes})
    assert response.status_code == 201, response.get_json()
    return response.get_json()  # type: ignore[no-any-return]


def _register(driver: Driver, vehicle_id: str, site_id: uuid.UUID, status: int = 201) -> Any:
    response = driver.post(f"/vehicles/{vehicle_id}/sites", json={"site_id": str(site_id)})
    assert response.status_code == status, response.get_json()
    return response.get_json()


def _records(app: Flask, tenant: TenantFixture, plate: str = "冀B12345") -> list[TransportVehicle]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return list(
            session.scalars(select(TransportVehicle).where(TransportVehicle.plate == plate))
        )


def _changes(app: Flask, tenant: TenantFixture, record_id: uuid.UUID) -> list[RegistryChange]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return list(
            session.scalars(
                select(RegistryChange)
                .where(RegistryChange.entity_id == record_id)
                .order_by(RegistryChange.id)
            )
        )


def _storage_root(app: Flask) -> Path:
    return app.extensions["cleangate.storage"].root  # type: ignore[no-any-return]


def _driver_files(app: Flask, driver: Driver) -> list[Path]:
    folder = _storage_root(app) / "mp" / "u" / driver.user_id
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def _portal(app: Flask, tenant: TenantFixture) -> FlaskClient:
    client = app.test_client()
    assert portal_login(client, tenant.admin_username) == 302
    return client


def _portal_record(app: Flask, tenant: TenantFixture, **extra: Any) -> uuid.UUID:
    data = registries.TransportVehicleIn.model_validate(
        {
            "site_id": str(tenant.site_id),
            "plate": "冀B12345",
            "plate_color": "yellow",
            "vehicle_type": "H11",
            "fuel_type": "diesel",
            "registration_date": "2019-03-01",
            "model": "企业录入型号",
            **extra,
        }
    )
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        record = registries.create_record(session, REGISTRY, data, user_id=tenant.admin_id)
        return record.id  # type: ignore[no-any-return]


def test_garage_photos_and_registration_reach_the_sites_registry(
    mp_app: Flask,
    driver: Driver,
    wechat: f.FakeWeChat,
    tenant_a: TenantFixture,
    tenant_b: TenantFixture,
) -> None:
    bound = driver.post("/me/phone", json={"code": wechat.phone_code("13812345678")})
    assert bound.status_code == 200, bound.get_json()
    config = make_config(mp_app, tenant_a, "http://127.0.0.1:9/a")

    vehicle = _add(driver)
    assert vehicle["plate"] == "冀B12345"
    assert vehicle["plate_color"] == "yellow"
    assert vehicle["fuel_type"] == "diesel"
    assert vehicle["emission_stage"] is None  # not declared …
    assert vehicle["emission_stage_estimate"] == "cn5"  # … a 2019 diesel truck: 国五
    assert vehicle["labels"]["plate_color"] == "黄色"
    assert vehicle["labels"]["emission_stage_estimate"] == "国五"
    assert vehicle["images"] == {"license": False, "list": False}
    vid = vehicle["id"]
    listed = driver.get("/vehicles").get_json()["items"]
    assert [v["id"] for v in listed] == [vid]

    # Photos: raw JPEG body for the 行驶证, multipart PNG for the 随车清单.
    raw = driver.put(f"/vehicles/{vid}/images/license", data=JPEG, content_type="image/jpeg")
    assert raw.status_code == 200, raw.get_json()
    assert raw.get_json()["sha256"] == hashlib.sha256(JPEG).hexdigest()
    assert raw.get_json()["sites"] == []
    form = driver.put(
        f"/vehicles/{vid}/images/list",
        data={"image": (io.BytesIO(PNG), "list.png")},
        content_type="multipart/form-data",
    )
    assert form.status_code == 200, form.get_json()
    assert driver.get(f"/vehicles/{vid}").get_json()["images"] == {"license": True, "list": True}
    own = driver.get(f"/vehicles/{vid}/images/license")
    assert own.status_code == 200
    assert own.data == JPEG
    assert own.mimetype == "image/jpeg"
    stored = {p.name for p in _driver_files(mp_app, driver)}
    assert stored == {
        f"{hashlib.sha256(JPEG).hexdigest()}.jpg",
        f"{hashlib.sha256(PNG).hexdigest()}.png",
    }

    # Registration at tenant A's site.
    reg = _register(driver, vid, tenant_a.site_id)
    assert reg["verification"] == "self_declared"
    assert reg["verification_label"] == "自行申报"
    assert reg["source"] == "miniprogram"
    assert reg["emission_stage"] == "cn5"
    assert reg["stage_inferred"] is True
    assert reg["site"]["id"] == str(tenant_a.site_id)
    assert reg["site"]["enterprise"] == "a 集团"
    [record] = _records(mp_app, tenant_a)
    assert str(record.id) == reg["registry_id"]
    assert record.source == "miniprogram"
    assert record.verification == "self_declared"
    assert record.vin == VIN
    assert record.owner_name == "唐山运输有限公司"
    assert record.owner_phone == "13812345678"
    prefix = f"t/{tenant_a.tenant_id}/s/{tenant_a.site_id}/docs/"
    assert record.license_image_key == f"{prefix}{hashlib.sha256(JPEG).hexdigest()}.jpg"
    assert record.list_image_key == f"{prefix}{hashlib.sha256(PNG).hexdigest()}.png"
    root = _storage_root(mp_app)
    assert (root / record.license_image_key).read_bytes() == JPEG
    assert (root / record.list_image_key).read_bytes() == PNG
    changes = _changes(mp_app, tenant_a, record.id)
    assert [c.action for c in changes] == ["create", "update", "update"]
    assert all(c.user_id is None for c in changes)  # not a portal user
    assert changes[0].changes["source"] == [None, "miniprogram"]
    # The registry changes reach the regulator outbox as a portal create does.
    with tenant_context(tenant_a.tenant_id), get_database(mp_app).sessionmaker() as session:
        uploads = list(
            session.scalars(
                select(RegulatorUpload)
                .where(RegulatorUpload.source_id == str(record.id))
                .order_by(RegulatorUpload.revision)
            )
        )
    assert [(u.kind, u.revision, u.config_id) for u in uploads] == [
        ("transport_vehicle", 1, config),
        ("transport_vehicle", 2, config),
        ("transport_vehicle", 3, config),
    ]

    sites = driver.get(f"/vehicles/{vid}/sites").get_json()["items"]
    assert [(s["site"]["id"], s["registry_id"], s["verification_label"]) for s in sites] == [
        (str(tenant_a.site_id), str(record.id), "自行申报")
    ]

    # A garage change reaches the site when the driver registers again (200: refreshed).
    patched = driver.patch(f"/vehicles/{vid}", json={"model": "解放牌 CA4250P66K24T1A3E5"})
    assert patched.status_code == 200, patched.get_json()
    again = _register(driver, vid, tenant_a.site_id, status=200)
    assert again["registry_id"] == str(record.id)
    [record] = _records(mp_app, tenant_a)
    assert record.model == "解放牌 CA4250P66K24T1A3E5"
    assert _changes(mp_app, tenant_a, record.id)[-1].changes["model"] == [
        "解放牌 CA4250",
        "解放牌 CA4250P66K24T1A3E5",
    ]
    # A new photo goes to the site's record at once.
    newer = JPEG + b"\x01"
    put = driver.put(f"/vehicles/{vid}/images/license", data=newer, content_type="image/jpeg")
    assert put.status_code == 200
    assert put.get_json()["sites"] == [
        {
            "site_id": str(tenant_a.site_id),
            "registry_id": str(record.id),
            "status": "updated",
            "message": "已更新站点台账中的图片",
        }
    ]
    [record] = _records(mp_app, tenant_a)
    assert record.license_image_key == f"{prefix}{hashlib.sha256(newer).hexdigest()}.jpg"

    # Tenant B sees nothing of it: not in its registry, not in its portal.
    assert _records(mp_app, tenant_b) == []
    with tenant_context(tenant_b.tenant_id), get_database(mp_app).sessionmaker() as session:
        mini = select(func.count()).select_from(TransportVehicle)
        assert session.scalar(mini.where(TransportVehicle.source == "miniprogram")) == 0
    b_page = _portal(mp_app, tenant_b).get("/portal/registries/transport-vehicles")
    assert b_page.status_code == 200
    assert "冀B12345" not in b_page.get_data(as_text=True)

    # Tenant A sees 自行申报 from the 小程序, found by the "pending, from mini-program" filter.
    portal = _portal(mp_app, tenant_a)
    page = portal.get(
        "/portal/registries/transport-vehicles?verification=self_declared&source=miniprogram"
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "冀B12345" in html
    assert "自行申报" in html
    assert 'value="miniprogram" selected' in html
    other = portal.get("/portal/registries/transport-vehicles?source=portal")
    assert "冀B12345" not in other.get_data(as_text=True)
    bad = portal.get("/portal/registries/transport-vehicles?source=nowhere")
    assert bad.status_code == 422
    detail = portal.get(f"/portal/registries/transport-vehicles/{record.id}")
    assert detail.status_code == 200
    text = detail.get_data(as_text=True)
    assert "小程序" in text
    assert "自行申报" in text
    assert "13812345678" in text


def test_invalid_plate_and_vin_are_422_with_reasons(mp_app: Flask, driver: Driver) -> None:
    bad_plate = driver.post("/vehicles", json={**TRUCK, "plate": "XB1234"})
    assert bad_plate.status_code == 422
    error = bad_plate.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert "plate" in error["details"]["fields"]
    codes = {(r["field"], r["code"]) for r in error["details"]["reasons"]}
    assert {("plate", "bad_province"), ("plate", "bad_length")} <= codes
    assert all(r["message"] for r in error["details"]["reasons"])
    assert "省份简称" in error["message"]

    bad_vin = driver.post("/vehicles", json={**TRUCK, "vin": VIN_BAD_CHECK})
    assert bad_vin.status_code == 422
    error = bad_vin.get_json()["error"]
    assert "vin" in error["details"]["fields"]
    assert [(r["field"], r["code"]) for r in error["details"]["reasons"]] == [
        ("vin", "bad_check_digit")
    ]
    assert "校验位" in error["details"]["reasons"][0]["message"]

    several = driver.post(
        "/vehicles",
        json={"plate": "冀B12345", "plate_color": "紫", "fuel_type": "煤", "vin": "LZZ5CLSB6KA12"},
    )
    assert several.status_code == 422
    codes = {(r["field"], r["code"]) for r in several.get_json()["error"]["details"]["reasons"]}
    assert codes == {
        ("plate_color", "plate_color_invalid"),
        ("fuel_type", "fuel_invalid"),
        ("vin", "bad_length"),
        ("vehicle_type", "required"),
    }

    no_color = driver.post("/vehicles", json={k: v for k, v in TRUCK.items() if k != "plate_color"})
    assert no_color.status_code == 422
    assert no_color.get_json()["error"]["details"]["reasons"][0]["code"] == "color_required"
    future = driver.post("/vehicles", json={**TRUCK, "registration_date": "2999-01-01"})
    assert future.status_code == 422
    assert future.get_json()["error"]["details"]["reasons"][0]["code"] == "date_in_future"
    not_json = driver.post("/vehicles", data="plate=1", content_type="text/plain")
    assert not_json.status_code == 400
    assert driver.get("/vehicles").get_json()["items"] == []  # nothing was written

    # A new-energy plate implies its colour; a stage given as a label is stored as its code.
    nev = _add(
        driver,
        plate="冀BD12345",
        plate_color=None,
        fuel_type="纯电动",
        emission_stage="国六b",
    )
    assert nev["plate_color"] == "green"
    assert nev["emission_stage"] == "cn6b"


def test_duplicate_plate_and_patch_rules(mp_app: Flask, driver: Driver) -> None:
    vehicle = _add(driver)
    duplicate = driver.post("/vehicles", json={**TRUCK, "plate": "冀B 12345"})
    assert duplicate.status_code == 409
    assert duplicate.get_json()["error"]["details"]["fields"] == {"plate": "duplicate"}
    vid = vehicle["id"]
    plate = driver.patch(f"/vehicles/{vid}", json={"plate": "冀B54321"})
    assert plate.status_code == 422
    assert plate.get_json()["error"]["details"]["reasons"][0]["code"] == "plate_immutable"
    cleared = driver.patch(f"/vehicles/{vid}", json={"vin": None})
    assert cleared.status_code == 422
    assert cleared.get_json()["error"]["details"]["reasons"][0]["code"] == "required"
    bad_vin = driver.patch(f"/vehicles/{vid}", json={"vin": VIN_BAD_CHECK})
    assert bad_vin.status_code == 422
    assert bad_vin.get_json()["error"]["details"]["reasons"][0]["code"] == "bad_check_digit"
    ok = driver.patch(f"/vehicles/{vid}", json={"emission_stage": "国六a", "model": None})
    assert ok.status_code == 200, ok.get_json()
    body = ok.get_json()
    assert body["emission_stage"] == "cn6a"
    assert body["emission_stage_estimate"] is None
    assert body["model"] is None
    assert body["vin"] == VIN
    # Newest first.
    second = _add(driver, plate="冀B54321")
    assert [v["id"] for v in driver.get("/vehicles").get_json()["items"]] == [second["id"], vid]


def test_oversized_and_non_image_uploads_change_nothing(
    mp_app: Flask, driver: Driver, tenant_a: TenantFixture
) -> None:
    vid = _add(driver)["id"]
    _register(driver, vid, tenant_a.site_id)
    [record] = _records(mp_app, tenant_a)
    history_before = len(_changes(mp_app, tenant_a, record.id))

    big = JPEG + bytes(5 * 1024 * 1024)
    raw = driver.put(f"/vehicles/{vid}/images/license", data=big, content_type="image/jpeg")
    assert raw.status_code == 413
    assert raw.get_json()["error"]["code"] == "payload_too_large"
    # The declared length is refused before the body is read.
    declared = driver.client.put(
        f"/mp/v1/vehicles/{vid}/images/license",
        data=JPEG,
        content_type="image/jpeg",
        headers=driver.headers,
        environ_overrides={"CONTENT_LENGTH": str(6 * 1024 * 1024)},
    )
    assert declared.status_code == 413
    form = driver.put(
        f"/vehicles/{vid}/images/list",
        data={"image": (io.BytesIO(big), "big.jpg")},
        content_type="multipart/form-data",
    )
    assert form.status_code == 413
    text = driver.put(
        f"/vehicles/{vid}/images/license", data=b"not an image at all", content_type="image/jpeg"
    )
    assert text.status_code == 415
    assert text.get_json()["error"]["code"] == "unsupported_media_type"
    text_form = driver.put(
        f"/vehicles/{vid}/images/list",
        data={"image": (io.BytesIO(b"%PDF-1.4 ..."), "doc.pdf")},
        content_type="multipart/form-data",
    )
    assert text_form.status_code == 415
    missing = driver.put(
        f"/vehicles/{vid}/images/list",
        data={"other": (io.BytesIO(JPEG), "x.jpg")},
        content_type="multipart/form-data",
    )
    assert missing.status_code == 422
    unknown = driver.put(f"/vehicles/{vid}/images/selfie", data=JPEG, content_type="image/jpeg")
    assert unknown.status_code == 404

    assert _driver_files(mp_app, driver) == []
    assert driver.get(f"/vehicles/{vid}").get_json()["images"] == {"license": False, "list": False}
    assert driver.get(f"/vehicles/{vid}/images/license").status_code == 404
    [after] = _records(mp_app, tenant_a)
    assert after.license_image_key is None
    assert after.list_image_key is None
    assert len(_changes(mp_app, tenant_a, record.id)) == history_before


def test_another_drivers_vehicle_is_404_on_every_route(
    mp_app: Flask, driver: Driver, wechat: f.FakeWeChat, tenant_a: TenantFixture
) -> None:
    vid = _add(driver)["id"]
    assert driver.put(f"/vehicles/{vid}/images/license", data=JPEG).status_code == 200
    _register(driver, vid, tenant_a.site_id)
    thief = login(mp_app.test_client(), wechat)
    site = str(tenant_a.site_id)
    calls = [
        thief.get(f"/vehicles/{vid}"),
        thief.patch(f"/vehicles/{vid}", json={"model": "改"}),
        thief.put(f"/vehicles/{vid}/images/license", data=PNG, content_type="image/png"),
        thief.get(f"/vehicles/{vid}/images/license"),
        thief.post(f"/vehicles/{vid}/sites", json={"site_id": site}),
        thief.get(f"/vehicles/{vid}/sites"),
        thief.delete(f"/vehicles/{vid}/sites/{site}"),
        thief.delete(f"/vehicles/{vid}"),
    ]
    assert [c.status_code for c in calls] == [404] * len(calls)
    assert all(c.get_json()["error"]["code"] == "not_found" for c in calls)
    assert thief.get("/vehicles").get_json()["items"] == []
    # Nothing changed for the owner or the site.
    mine = driver.get(f"/vehicles/{vid}").get_json()
    assert mine["model"] == TRUCK["model"]
    [record] = _records(mp_app, tenant_a)
    assert record.active
    assert record.license_image_key is not None
    assert record.license_image_key.endswith(".jpg")
    # The same plate is free in the other driver's own garage.
    assert thief.post("/vehicles", json=TRUCK).status_code == 201
    # Unknown vehicle and unknown site answer 404 too.
    assert driver.get(f"/vehicles/{uuid.uuid4()}").status_code == 404
    unknown_site = driver.post(f"/vehicles/{vid}/sites", json={"site_id": str(uuid.uuid4())})
    assert unknown_site.status_code == 404
    no_auth = mp_app.test_client().get(f"/mp/v1/vehicles/{vid}")
    assert no_auth.status_code == 401


def test_a_checked_record_is_not_overwritten(
    mp_app: Flask, driver: Driver, tenant_a: TenantFixture
) -> None:
    record_id = _portal_record(mp_app, tenant_a, verification="documents_checked")
    vid = _add(driver)["id"]
    assert driver.put(f"/vehicles/{vid}/images/license", data=JPEG).status_code == 200
    before = len(_changes(mp_app, tenant_a, record_id))
    conflict = driver.post(f"/vehicles/{vid}/sites", json={"site_id": str(tenant_a.site_id)})
    assert conflict.status_code == 409
    error = conflict.get_json()["error"]
    assert error["code"] == "registration_checked"
    assert "已核验" in error["message"]
    [record] = _records(mp_app, tenant_a)
    assert record.model == "企业录入型号"
    assert record.license_image_key is None
    assert len(_changes(mp_app, tenant_a, record_id)) == before
    assert driver.get(f"/vehicles/{vid}/sites").get_json()["items"] == []
    with get_database(mp_app).sessionmaker() as session:
        links = select(func.count()).select_from(MpVehicleSite)
        assert session.scalar(links.where(MpVehicleSite.vehicle_id == uuid.UUID(vid))) == 0


def test_a_self_declared_portal_record_is_refreshed_but_not_withdrawn(
    mp_app: Flask, driver: Driver, tenant_a: TenantFixture
) -> None:
    record_id = _portal_record(mp_app, tenant_a)
    vid = _add(driver)["id"]
    refreshed = _register(driver, vid, tenant_a.site_id, status=200)
    assert refreshed["registry_id"] == str(record_id)
    assert refreshed["source"] == "portal"  # the enterprise's record keeps its provenance
    [record] = _records(mp_app, tenant_a)
    assert record.model == TRUCK["model"]
    assert record.vin == VIN
    locked = driver.delete(f"/vehicles/{vid}/sites/{tenant_a.site_id}")
    assert locked.status_code == 409
    assert locked.get_json()["error"]["code"] == "registration_locked"
    assert _records(mp_app, tenant_a)[0].active
    # Once the enterprise has checked the documents, a new photo is not swapped in.
    with tenant_context(tenant_a.tenant_id), get_database(mp_app).sessionmaker() as session:
        row = registries.get_record(session, REGISTRY, record_id)
        patch = registries.TransportVehiclePatch.model_validate(
            {"verification": "documents_checked"}
        )
        registries.update_record(session, REGISTRY, row, patch, user_id=tenant_a.admin_id)
    put = driver.put(f"/vehicles/{vid}/images/list", data=PNG, content_type="image/png")
    assert put.status_code == 200
    assert [s["status"] for s in put.get_json()["sites"]] == ["checked"]
    assert _records(mp_app, tenant_a)[0].list_image_key is None
    listed = driver.get(f"/vehicles/{vid}/sites").get_json()["items"]
    assert [s["verification_label"] for s in listed] == ["已核对证件"]


def test_withdraw_and_register_again(
    mp_app: Flask, driver: Driver, tenant_a: TenantFixture
) -> None:
    vid = _add(driver)["id"]
    reg = _register(driver, vid, tenant_a.site_id)
    withdrawn = driver.delete(f"/vehicles/{vid}/sites/{tenant_a.site_id}")
    assert withdrawn.status_code == 204
    [record] = _records(mp_app, tenant_a)
    assert not record.active  # deactivated, never deleted
    assert _changes(mp_app, tenant_a, record.id)[-1].action == "deactivate"
    assert driver.get(f"/vehicles/{vid}/sites").get_json()["items"] == []
    again = driver.delete(f"/vehicles/{vid}/sites/{tenant_a.site_id}")
    assert again.status_code == 404
    # Registering again brings the same record back.
    back = _register(driver, vid, tenant_a.site_id, status=200)
    assert back["registry_id"] == reg["registry_id"]
    assert back["active"] is True
    # An enterprise's own deactivation is not undone by a driver.
    with tenant_context(tenant_a.tenant_id), get_database(mp_app).sessionmaker() as session:
        row = registries.get_record(session, REGISTRY, record.id)
        registries.deactivate_record(session, REGISTRY, row, user_id=tenant_a.admin_id)
    refused = driver.post(f"/vehicles/{vid}/sites", json={"site_id": str(tenant_a.site_id)})
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "registration_deactivated"
    assert not _records(mp_app, tenant_a)[0].active


def test_deleting_from_the_garage_leaves_the_sites_registration(
    mp_app: Flask, driver: Driver, tenant_a: TenantFixture
) -> None:
    vid = _add(driver)["id"]
    _register(driver, vid, tenant_a.site_id)
    deleted = driver.delete(f"/vehicles/{vid}")
    assert deleted.status_code == 204
    assert driver.get(f"/vehicles/{vid}").status_code == 404
    assert driver.get("/vehicles").get_json()["items"] == []
    with get_database(mp_app).sessionmaker() as session:
        assert session.get(MpVehicle, uuid.UUID(vid)) is None
        links = select(func.count()).select_from(MpVehicleSite)
        assert session.scalar(links.where(MpVehicleSite.vehicle_id == uuid.UUID(vid))) == 0
    [record] = _records(mp_app, tenant_a)
    assert record.active
    assert record.source == "miniprogram"
    # Added again later, the same truck refreshes the site's record instead of a second one.
    vid2 = _add(driver)["id"]
    _register(driver, vid2, tenant_a.site_id, status=200)
    assert len(_records(mp_app, tenant_a)) == 1


def test_openapi_documents_the_garage(mp_app: Flask) -> None:
    doc = mp_app.test_client().get("/mp/v1/openapi.json").get_json()
    paths = doc["paths"]
    assert (
        "multipart/form-data"
        in (paths["/mp/v1/vehicles/{vehicle_id}/images/{kind}"]["put"]["requestBody"]["content"])
    )
    create = paths["/mp/v1/vehicles"]["post"]
    assert "vin" in create["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert "201" in create["responses"]
    assert "不会撤销" in paths["/mp/v1/vehicles/{vehicle_id}"]["delete"]["summary"]
