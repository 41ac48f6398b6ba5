"""Registry pages of the portal: list with filters, form create/edit, deactivate with CSRF,
history, image upload, Excel import report; escaping; another tenant's record is 404."""

from __future__ import annotations

import io
import re

from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook

from tests.conftest import TenantFixture, csrf_from, login

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


def _portal(app: Flask, tenant: TenantFixture) -> FlaskClient:
    client = app.test_client()
    assert login(client, tenant.admin_username) == 302
    return client


def _create_truck(
    client: FlaskClient, site_id: object, plate: str = "冀B12345", **extra: str
) -> str:
    form = {
        "csrf_token": csrf_from(client, "/portal/registries/transport-vehicles/new"),
        "site_id": str(site_id),
        "plate": plate,
        "plate_color": "yellow",
        "vehicle_type": "H11",
        "fuel_type": "diesel",
        "registration_date": "2019-03-01",
        "network_status": "unknown",
        "verification": "self_declared",
    }
    form.update(extra)
    response = client.post("/portal/registries/transport-vehicles/new", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)
    match = re.search(r"/transport-vehicles/([0-9a-f-]{36})$", response.headers["Location"])
    assert match
    return match.group(1)


def test_create_edit_deactivate_and_history(app: Flask, tenant_a: TenantFixture) -> None:
    client = _portal(app, tenant_a)
    assert "车辆台账" in client.get("/portal/").get_data(as_text=True)
    assert client.get("/portal/registries").status_code == 200
    vehicle_id = _create_truck(client, tenant_a.site_id, owner_name="<script>alert(1)</script>")
    detail = client.get(f"/portal/registries/transport-vehicles/{vehicle_id}")
    html = detail.get_data(as_text=True)
    assert detail.status_code == 200
    assert "冀B12345" in html
    assert "国五" in html
    assert "推断" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html

    edit_url = f"/portal/registries/transport-vehicles/{vehicle_id}/edit"
    form_html = client.get(edit_url).get_data(as_text=True)
    assert 'value="冀B12345"' in form_html
    form = {
        "csrf_token": csrf_from(client, edit_url),
        "plate": "冀B12345",
        "plate_color": "yellow",
        "vehicle_type": "H11",
        "fuel_type": "diesel",
        "registration_date": "2019-03-01",
        "network_status": "unknown",
        "verification": "documents_checked",
        "owner_name": "唐山运输",
    }
    assert client.post(edit_url, data=form).status_code == 302
    html = client.get(f"/portal/registries/transport-vehicles/{vehicle_id}").get_data(as_text=True)
    assert "已核对证件" in html
    assert "唐山运输" in html
    assert "推断" in html

    bad = client.post(edit_url, data=dict(form, plate="XB12345"))
    assert bad.status_code == 422
    assert "bad_province" in bad.get_data(as_text=True)

    deactivate = f"/portal/registries/transport-vehicles/{vehicle_id}/deactivate"
    assert client.post(deactivate).status_code == 400  # no CSRF token
    token = csrf_from(client, f"/portal/registries/transport-vehicles/{vehicle_id}")
    assert client.post(deactivate, data={"csrf_token": token}).status_code == 302
    html = client.get(f"/portal/registries/transport-vehicles/{vehicle_id}").get_data(as_text=True)
    assert "已停用" in html
    assert html.count("<td>deactivate</td>") == 1
    assert "<td>create</td>" in html

    listing = client.get("/portal/registries/transport-vehicles?active=false&plate=冀B")
    assert "冀B12345" in listing.get_data(as_text=True)
    assert "冀B12345" not in client.get(
        "/portal/registries/transport-vehicles?active=true"
    ).get_data(as_text=True)
    assert client.get("/portal/registries/transport-vehicles?site_id=bad").status_code == 422


def test_duplicate_and_image_upload(app: Flask, tenant_a: TenantFixture) -> None:
    client = _portal(app, tenant_a)
    vehicle_id = _create_truck(client, tenant_a.site_id)
    token = csrf_from(client, "/portal/registries/transport-vehicles/new")
    dup = client.post(
        "/portal/registries/transport-vehicles/new",
        data={
            "csrf_token": token,
            "site_id": str(tenant_a.site_id),
            "plate": "冀B12345",
            "plate_color": "yellow",
            "network_status": "unknown",
            "verification": "self_declared",
        },
    )
    assert dup.status_code == 422
    assert "已有相同" in dup.get_data(as_text=True)

    url = f"/portal/registries/transport-vehicles/{vehicle_id}/images/list"
    text = client.post(
        url,
        data={"csrf_token": token, "image": (io.BytesIO(b"hello"), "x.png", "image/png")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "只接受 JPEG 或 PNG 图片" in text.get_data(as_text=True)
    ok = client.post(
        url,
        data={"csrf_token": token, "image": (io.BytesIO(PNG), "x.png", "image/png")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "图片已上传" in ok.get_data(as_text=True)


def test_import_report_and_template(app: Flask, tenant_a: TenantFixture) -> None:
    client = _portal(app, tenant_a)
    template = client.get("/portal/registries/inplant-vehicles/template.xlsx")
    assert template.status_code == 200
    wb = load_workbook(io.BytesIO(template.data))
    sheet = wb.worksheets[0]
    sheet.append(["厂内-1"])
    sheet.append([None, "LSGPC52U7AF102554"])  # no 环保登记编码, bad VIN
    out = io.BytesIO()
    wb.save(out)
    token = csrf_from(client, "/portal/registries/inplant-vehicles/import")
    response = client.post(
        "/portal/registries/inplant-vehicles/import",
        data={
            "csrf_token": token,
            "site_id": str(tenant_a.site_id),
            "file": (io.BytesIO(out.getvalue()), "x.xlsx"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<td>3</td><td>环保登记编码</td>" in html
    assert "bad_check_digit" in html
    assert "厂内-1" not in client.get("/portal/registries/inplant-vehicles").get_data(as_text=True)

    wb = load_workbook(io.BytesIO(template.data))
    wb.worksheets[0].append(["厂内-1", None, None, "冀B12345"])
    out = io.BytesIO()
    wb.save(out)
    done = client.post(
        "/portal/registries/inplant-vehicles/import",
        data={
            "csrf_token": token,
            "site_id": str(tenant_a.site_id),
            "file": (io.BytesIO(out.getvalue()), "x.xlsx"),
        },
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "已导入 1 条记录" in done.get_data(as_text=True)
    assert "厂内-1" in done.get_data(as_text=True)


def test_other_tenants_record_is_404(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    vehicle_id = _create_truck(_portal(app, tenant_a), tenant_a.site_id)
    b = _portal(app, tenant_b)
    assert b.get(f"/portal/registries/transport-vehicles/{vehicle_id}").status_code == 404
    assert b.get(f"/portal/registries/transport-vehicles/{vehicle_id}/edit").status_code == 404
    assert vehicle_id not in b.get("/portal/registries/transport-vehicles").get_data(as_text=True)
    token = csrf_from(b, "/portal/registries/transport-vehicles/new")
    assert (
        b.post(
            f"/portal/registries/transport-vehicles/{vehicle_id}/deactivate",
            data={"csrf_token": token},
        ).status_code
        == 404
    )
    # A form naming A's site writes nothing.
    response = b.post(
        "/portal/registries/transport-vehicles/new",
        data={
            "csrf_token": token,
            "site_id": str(tenant_a.site_id),
            "plate": "冀B77777",
            "plate_color": "yellow",
            "network_status": "unknown",
            "verification": "self_declared",
        },
    )
    assert response.status_code == 404
