"""Excel templates and the all-or-nothing import: a round trip through the real template, and a
file with bad rows that reports every one and imports nothing."""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from saas.db import get_database
from saas.ledger import imports
from saas.models.ledger import Carrier, NonRoadMachinery, RegistryChange, TransportVehicle
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture, api_csrf, login

XLSX = imports.XLSX_MIME


def _admin(app: Flask, tenant: TenantFixture) -> tuple[FlaskClient, dict[str, str]]:
    client = app.test_client()
    assert login(client, tenant.admin_username) == 302
    return client, {"X-CSRFToken": api_csrf(client)}


def _count(app: Flask, tenant: TenantFixture, model: Any) -> int:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _fill(template: bytes, rows: list[dict[str, Any]]) -> bytes:
    """Fill the downloaded template by header name, as a person would in Excel."""
    wb = load_workbook(io.BytesIO(template))
    sheet = wb.worksheets[0]
    headers = [str(c.value).rstrip("*") for c in sheet[1]]
    for row in rows:
        sheet.append([row.get(h) for h in headers])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _upload(
    client: FlaskClient, headers: dict[str, str], path: str, site_id: Any, data: bytes
) -> Any:
    return client.post(
        f"/api/v1/{path}/import?site_id={site_id}",
        data=data,
        headers={**headers, "Content-Type": XLSX},
    )


def test_template_round_trip(app: Flask, tenant_a: TenantFixture) -> None:
    client, headers = _admin(app, tenant_a)
    response = client.get("/api/v1/transport-vehicles/import-template")
    assert response.status_code == 200
    assert response.mimetype == XLSX
    wb = load_workbook(io.BytesIO(response.data))
    assert wb.sheetnames == ["台账", "代码表"]
    header = [c.value for c in wb["台账"][1]]
    assert header[:4] == ["车牌号码*", "号牌颜色", "车辆类型", "车辆识别代码（VIN）"]
    codes = {(r[0], r[1]) for r in wb["代码表"].iter_rows(min_row=2, values_only=True)}
    assert ("排放标准", "cn6b") in codes
    assert ("车辆类型", "H11") in codes

    filled = _fill(
        response.data,
        [
            {
                "车牌号码": "冀B12345",
                "号牌颜色": "黄色",
                "车辆类型": "H11",
                "车辆识别代码（VIN）": "LSGPC52U6AF102554",
                "注册登记日期": datetime(2019, 3, 1),
                "燃料类型": "柴油",
                "排放标准": "国五",
                "使用性质": "货运",
                "车队名称": "顺达车队",
                "核定载质量（kg）": 31000,
                "发动机编号": 123456,
            },
            {
                "车牌号码": "冀BD12345",  # colour implied (green), stage inferred
                "燃料类型": "electric",
                "注册登记日期": "2023/05/06",
                "车队名称": "顺达车队",
            },
            {"车牌号码": "冀B54321", "号牌颜色": "blue", "注册登记日期": "2015-01-01"},
        ],
    )
    result = _upload(client, headers, "transport-vehicles", tenant_a.site_id, filled)
    assert result.status_code == 201, result.get_json()
    body = result.get_json()
    assert body["imported"] == 3
    assert body["carriers_created"] == ["顺达车队"]
    items = {i["plate"]: i for i in client.get("/api/v1/transport-vehicles").get_json()["items"]}
    assert set(items) == {"冀B12345", "冀BD12345", "冀B54321"}
    first = items["冀B12345"]
    assert (first["emission_stage"], first["stage_inferred"]) == ("cn5", False)
    assert first["engine_no"] == "123456"
    assert first["use_nature"] == "F"
    assert first["source"] == "import"
    assert first["carrier_id"] == items["冀BD12345"]["carrier_id"] is not None
    assert items["冀BD12345"]["plate_color"] == "green"
    assert items["冀B54321"]["stage_inferred"] is True
    history = client.get(f"/api/v1/transport-vehicles/{first['id']}/history").get_json()["items"]
    assert [h["action"] for h in history] == ["import"]
    # One change row per imported record, plus the carrier created on the way.
    assert _count(app, tenant_a, RegistryChange) == 4

    again = _upload(client, headers, "transport-vehicles", tenant_a.site_id, filled)
    assert again.status_code == 422  # every row now duplicates a registered vehicle
    assert {r["row"] for r in again.get_json()["error"]["details"]["rows"]} == {2, 3, 4}
    assert _count(app, tenant_a, TransportVehicle) == 3


def test_bad_rows_are_all_reported_and_nothing_is_imported(
    app: Flask, tenant_a: TenantFixture
) -> None:
    client, headers = _admin(app, tenant_a)
    template = client.get("/api/v1/transport-vehicles/import-template").data
    filled = _fill(
        template,
        [
            {"车牌号码": "冀B11111", "号牌颜色": "黄"},  # fine
            {"车牌号码": "XB12345", "号牌颜色": "黄"},  # row 3: bad province
            {"车牌号码": "冀B22222", "号牌颜色": "黄", "车辆识别代码（VIN）": "LSGPC52U7AF102554"},
            {"车牌号码": "冀B33333", "号牌颜色": "紫", "排放标准": "国九"},  # row 5: two cells
            {"车牌号码": "冀B11111", "号牌颜色": "黄"},  # row 6: duplicates row 2
            {"车牌号码": "冀B44444"},  # row 7: ordinary plate without a colour
            {"车牌号码": "冀B55555", "号牌颜色": "黄", "注册登记日期": "2099-01-01"},
        ],
    )
    response = _upload(client, headers, "transport-vehicles", tenant_a.site_id, filled)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed"
    rows = error["details"]["rows"]
    found = {(r["row"], r["column"]) for r in rows}
    assert found == {
        (3, "车牌号码"),
        (4, "车辆识别代码（VIN）"),
        (5, "号牌颜色"),
        (5, "排放标准"),
        (6, "车牌号码"),
        (7, "号牌颜色"),
        (8, "注册登记日期"),
    }
    reasons = {(r["row"], r["column"]): r["reason"] for r in rows}
    assert "bad_province" in reasons[(3, "车牌号码")]
    assert "bad_check_digit" in reasons[(4, "车辆识别代码（VIN）")]
    assert "第 2 行" in reasons[(6, "车牌号码")]
    assert _count(app, tenant_a, TransportVehicle) == 0
    assert _count(app, tenant_a, Carrier) == 0
    assert _count(app, tenant_a, RegistryChange) == 0


def test_file_checks(app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture) -> None:
    client, headers = _admin(app, tenant_a)
    template = client.get("/api/v1/nonroad-machinery/import-template").data
    good = _fill(template, [{"环保登记编码": "NR-1", "机械种类": "装载机"}])
    foreign = _upload(client, headers, "nonroad-machinery", tenant_b.site_id, good)
    assert foreign.status_code == 404
    assert _count(app, tenant_b, NonRoadMachinery) == 0
    assert _upload(client, headers, "nonroad-machinery", "nope", good).status_code == 422
    not_xlsx = _upload(client, headers, "nonroad-machinery", tenant_a.site_id, b"a,b\n1,2\n")
    assert not_xlsx.status_code == 422
    assert "file" in not_xlsx.get_json()["error"]["details"]["fields"]
    big = _upload(
        client, headers, "nonroad-machinery", tenant_a.site_id, bytes(imports.MAX_FILE_BYTES + 1)
    )
    assert big.status_code == 413

    wb = Workbook()
    sheet = wb.active
    assert sheet is not None
    sheet.append(["环保登记编码", "颜色"])  # unknown column, required 机械种类 missing
    sheet.append(["NR-2", "红"])
    out = io.BytesIO()
    wb.save(out)
    wrong = _upload(client, headers, "nonroad-machinery", tenant_a.site_id, out.getvalue())
    assert {(r["row"], r["column"]) for r in wrong.get_json()["error"]["details"]["rows"]} == {
        (1, "颜色"),
        (1, "机械种类"),
    }

    many = Workbook()
    sheet = many.active
    assert sheet is not None
    sheet.append(["环保登记编码", "机械种类"])
    for n in range(imports.MAX_ROWS + 1):
        sheet.append([f"NR-{n}", "叉车"])
    out = io.BytesIO()
    many.save(out)
    too_many = _upload(client, headers, "nonroad-machinery", tenant_a.site_id, out.getvalue())
    assert too_many.status_code == 422
    assert _count(app, tenant_a, NonRoadMachinery) == 0

    multipart = client.post(
        f"/api/v1/nonroad-machinery/import?site_id={tenant_a.site_id}",
        data={"file": (io.BytesIO(good), "machines.xlsx")},
        headers=headers,
        content_type="multipart/form-data",
    )
    assert multipart.status_code == 201, multipart.get_json()
    machine = client.get("/api/v1/nonroad-machinery").get_json()["items"][0]
    assert (machine["env_reg_code"], machine["source"]) == ("NR-1", "import")
