"""Exports of the passage ledger and the registries: API + RQ job + download on both backends,
foreign-tenant negatives, header order, Chinese labels, formula injection, flat memory."""

from __future__ import annotations

import csv
import io
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from rq import SimpleWorker

from saas import jobs
from saas.db import get_database
from saas.ledger import exports
from saas.ledger.ingest import PassageBatch, ingest_passages
from saas.models.tenancy import Site
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture, api_csrf, login

PASSAGE_HEADERS = [
    "序号",
    "出入口编号",
    "道闸编号",
    "进出方向",
    "通行时间",
    "车牌号码",
    "号牌颜色",
    "车辆类型",
    "车辆识别代号(VIN)",
    "燃料类型",
    "排放阶段",
    "通行结果",
    "原因",
    "政策版本",
    "预警级别",
    "运输货物名称",
    "运输量",
    "图片SHA-256",
    "记录哈希",
]
# seed 003 附表5 电子台账主要参数, in its order (our extras follow).
TRANSPORT_HEADERS = [
    "车牌号码",
    "号牌颜色",
    "车辆类型",
    "车辆识别代码（VIN）",
    "注册登记日期",
    "车辆型号",
    "发动机型号",
    "发动机生产厂",
    "发动机编号",
    "燃料类型",
    "排放标准",
    "使用性质",
    "联网状态",
    "随车清单",
    "行驶证",
    "车队名称",
]
INPLANT_HEADERS = [
    "环保登记编码",
    "车辆识别代码（VIN）",
    "生产日期",
    "车牌号码",
    "注册登记日期",
    "车辆型号",
    "发动机型号",
    "发动机生产厂",
    "发动机编号",
    "燃料类型",
    "排放标准",
    "随车清单",
    "行驶证",
    "车辆所有人（单位）",
]
NONROAD_HEADERS = [
    "环保登记编码",
    "机械生产日期",
    "车牌号码",
    "排放标准",
    "燃料类型",
    "机械种类",
    "机械环保代码/产品识别码（PIN）",
    "机械型号",
    "发动机型号",
    "发动机生产厂",
    "发动机编号",
    "整车（机）铭牌",
    "发动机铭牌",
    "机械环保标签",
    "所属人（单位）",
]


def passage_item(
    plate: str, captured: datetime, *, verdict: str = "ALLOW", **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "captured_at": captured.isoformat(),
        "gate": "1",
        "lane": "01",
        "direction": "in",
        "plate_text": plate,
        "plate_color": "yellow",
        "confidence": 0.96,
        "vehicle": {
            "registered": True,
            "vehicle_type": "Q11",
            "fuel_type": "diesel",
            "emission_stage": "CN6A",
            "vin": "LFV2A21K6A3000001",
        },
        "decision": {
            "verdict": verdict,
            "reasons": ["stage_below_minimum"] if verdict == "DENY" else [],
            "policy_version": "p-1",
            "alert_level": "orange",
        },
        "cargo": {"name": "焦炭", "quantity": 32.5, "unit": "t"},
    }
    body.update(extra)
    return body


def seed(app: Flask, tenant: TenantFixture, items: list[dict[str, Any]]) -> None:
    """Straight through ``ingest_passages`` (chained, batched), as the edge endpoint does."""
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        for start in range(0, len(items), 1000):
            batch = PassageBatch.model_validate({"passages": items[start : start + 1000]})
            ingest_passages(session, site, batch)


def seed_many(app: Flask, tenant: TenantFixture, count: int, newest: datetime) -> None:
    seed(
        app,
        tenant,
        [
            passage_item(f"冀B{n % 100000:05d}", newest - timedelta(seconds=count - n))
            for n in range(count)
        ],
    )


@pytest.fixture
def clean_queues(app: Flask) -> None:
    """The embedded Redis is one per process, shared by the SQLite and PostgreSQL apps."""
    for name in jobs.QUEUE_NAMES:
        jobs.queue(name, app).empty()


def work(app: Flask) -> None:
    with app.app_context():
        queue = jobs.queue("exports", app)
        SimpleWorker([queue], connection=jobs.redis_connection(app)).work(burst=True)


def _client(app: Flask, username: str) -> tuple[FlaskClient, dict[str, str]]:
    client = app.test_client()
    assert login(client, username) == 302
    return client, {"X-CSRFToken": api_csrf(client)}


def _xlsx_rows(data: bytes) -> list[list[Any]]:
    book = load_workbook(io.BytesIO(data), read_only=True)
    rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    book.close()
    return rows


def _csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "CSV must start with a UTF-8 BOM for Excel"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_passage_export_via_api_job_and_download(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture, clean_queues: None
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    seed(
        app,
        tenant_a,
        [
            passage_item("冀B10001", now - timedelta(minutes=50)),
            passage_item("冀B10002", now - timedelta(minutes=40), verdict="DENY", direction="out"),
            passage_item("冀B10003", now - timedelta(hours=30)),  # outside the 24 h default
        ],
    )
    seed(app, tenant_b, [passage_item("冀B10001", now - timedelta(minutes=45))])  # same plate
    client, headers = _client(app, tenant_a.admin_username)
    response = client.post(
        "/api/v1/exports", json={"kind": "passages", "format": "xlsx"}, headers=headers
    )
    assert response.status_code == 202, response.get_json()
    export_id = response.get_json()["export_id"]
    assert response.headers["Location"].endswith(f"/api/v1/exports/{export_id}")
    queued = client.get(f"/api/v1/exports/{export_id}").get_json()
    assert queued["status"] == "queued"
    assert queued["download_url"] is None
    assert client.get(f"/api/v1/exports/{export_id}/file").status_code == 404  # not yet

    work(app)

    status = client.get(f"/api/v1/exports/{export_id}").get_json()
    assert status["status"] == "done", status
    assert (status["rows_done"], status["rows_total"], status["progress"]) == (2, 2, 1.0)
    download = client.get(status["download_url"])
    assert download.status_code == 200
    assert download.mimetype == exports.XLSX_MIME
    assert "filename*=UTF-8''" in download.headers["Content-Disposition"]
    assert download.headers["X-Content-SHA256"] == status["sha256"]
    rows = _xlsx_rows(download.data)
    assert rows[0][: len(PASSAGE_HEADERS)] == PASSAGE_HEADERS
    header = rows[0]
    body = [dict(zip(header, r, strict=True)) for r in rows[1:]]
    assert [r["车牌号码"] for r in body] == ["冀B10001", "冀B10002"]  # oldest first, A only
    first, second = body
    assert first["序号"] == 1
    assert first["进出方向"] == "进厂"
    assert second["进出方向"] == "出厂"
    assert first["号牌颜色"] == "黄色"
    assert first["车辆类型"] == "重型半挂牵引车"
    assert first["燃料类型"] == "柴油"
    assert first["排放阶段"] == "国六a"
    assert first["通行结果"] == "准许进入"
    assert second["通行结果"] == "禁止进入"
    assert second["原因"] == "排放阶段低于要求"
    assert first["预警级别"] == "橙色预警"
    assert first["运输货物名称"] == "焦炭"
    assert first["运输量"] == 32.5
    assert first["车辆识别代号(VIN)"] == "LFV2A21K6A3000001"
    assert len(first["记录哈希"]) == 64
    # Beijing wall time in the file (storage is UTC).
    expected = (now - timedelta(minutes=50)).astimezone(exports.DISPLAY_TZ).replace(tzinfo=None)
    assert first["通行时间"] == expected

    # Tenant B: A's export is not found, its file neither, and B's list does not show it.
    other, _ = _client(app, tenant_b.admin_username)
    assert other.get(f"/api/v1/exports/{export_id}").status_code == 404
    assert other.get(f"/api/v1/exports/{export_id}/file").status_code == 404
    assert other.get(f"/portal/exports/{export_id}").status_code == 404
    assert other.get(f"/portal/exports/{export_id}/file").status_code == 404
    assert export_id not in other.get("/api/v1/exports").get_data(as_text=True)
    mine = client.get("/api/v1/exports").get_json()["items"]
    assert [e["export_id"] for e in mine] == [export_id]


def test_csv_export_escapes_formulas_and_shows_chinese(
    app: Flask, tenant_a: TenantFixture, clean_queues: None
) -> None:
    now = datetime.now(UTC)
    seed(
        app,
        tenant_a,
        [
            passage_item(
                "=1+2",
                now - timedelta(minutes=5),
                gate="@SUM(A1)",
                cargo={"name": '=HYPERLINK("http://evil.example","点我")', "quantity": 1},
            ),
            passage_item(
                "冀B20001", now - timedelta(minutes=4), cargo={"name": "-2+3", "quantity": 2}
            ),
            passage_item(
                "冀B20002", now - timedelta(minutes=3), cargo={"name": "+SUM(1)", "quantity": 3}
            ),
        ],
    )
    client, headers = _client(app, tenant_a.admin_username)
    for fmt in ("csv", "xlsx"):
        created = client.post(
            "/api/v1/exports",
            json={"kind": "passages", "format": fmt, "filter": {"plate": ""}},
            headers=headers,
        )
        assert created.status_code == 202, created.get_json()
        work(app)
        status = client.get(created.get_json()["status_url"]).get_json()
        assert status["status"] == "done"
        data = client.get(status["download_url"]).data
        rows = _csv_rows(data) if fmt == "csv" else _xlsx_rows(data)
        header = rows[0]
        assert header[: len(PASSAGE_HEADERS)] == PASSAGE_HEADERS
        body = [dict(zip(header, r, strict=True)) for r in rows[1:]]
        assert body[0]["车牌号码"] == "'=1+2"
        assert body[0]["出入口编号"] == "'@SUM(A1)"
        assert body[0]["运输货物名称"] == '\'=HYPERLINK("http://evil.example","点我")'
        assert body[1]["运输货物名称"] == "'-2+3"
        assert body[2]["运输货物名称"] == "'+SUM(1)"
        assert body[1]["号牌颜色"] == "黄色"
        if fmt == "csv":
            assert body[1]["通行时间"] == (now - timedelta(minutes=4)).astimezone(
                exports.DISPLAY_TZ
            ).strftime("%Y-%m-%d %H:%M:%S")
            assert body[1]["运输量"] == "2.0"


def test_filters_reach_the_export_and_are_validated(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture, clean_queues: None
) -> None:
    now = datetime.now(UTC)
    seed(
        app,
        tenant_a,
        [
            passage_item("冀B30001", now - timedelta(minutes=9)),
            passage_item("冀B30002", now - timedelta(minutes=8), verdict="DENY"),
        ],
    )
    client, headers = _client(app, tenant_a.admin_username)
    bad = client.post(
        "/api/v1/exports",
        json={"kind": "passages", "filter": {"verdict": "MAYBE", "lane": "1"}},
        headers=headers,
    )
    assert bad.status_code == 422
    assert set(bad.get_json()["error"]["details"]["fields"]) == {"filter.verdict", "filter.lane"}
    assert (
        client.post(
            "/api/v1/exports", json={"kind": "passages", "format": "pdf"}, headers=headers
        ).status_code
        == 422
    )
    foreign_site = client.post(
        "/api/v1/exports",
        json={"kind": "passages", "filter": {"site_id": str(tenant_b.site_id)}},
        headers=headers,
    )
    assert foreign_site.status_code == 422  # another tenant's site is not a site of A
    denied = client.post(
        "/api/v1/exports",
        json={"kind": "passages", "format": "csv", "filter": {"verdict": "DENY"}},
        headers=headers,
    )
    work(app)
    status = client.get(denied.get_json()["status_url"]).get_json()
    assert status["filter"]["verdict"] == "DENY"
    assert status["filter"]["since"]  # the window is pinned at request time
    assert status["filter"]["until"]
    rows = _csv_rows(client.get(status["download_url"]).data)
    assert [r[5] for r in rows[1:]] == ["冀B30002"]


def _registries(app: Flask, tenant: TenantFixture) -> None:
    from saas.ledger import registries as reg

    site = str(tenant.site_id)
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        carrier = reg.create_record(
            session,
            reg.CARRIERS,
            reg.CARRIERS.create.model_validate({"site_id": site, "name": "顺达车队"}),
            user_id=None,
        )
        for registry, body in (
            (
                reg.TRANSPORT_VEHICLES,
                {
                    "site_id": site,
                    "plate": "冀B12345",
                    "plate_color": "yellow",
                    "vehicle_type": "Q11",
                    "fuel_type": "diesel",
                    "emission_stage": "cn6a",
                    "use_nature": "F",
                    "carrier_id": str(carrier.id),
                    "owner_name": "=cmd|' /C calc'!A0",
                },
            ),
            (
                reg.INPLANT_VEHICLES,
                {"site_id": site, "env_reg_code": "NB-001", "fuel_type": "electric"},
            ),
            (
                reg.NONROAD_MACHINERY,
                {
                    "site_id": site,
                    "env_reg_code": "FD-001",
                    "machine_type": "装载机",
                    "nonroad_stage": "nr4",
                    "fuel_type": "diesel",
                },
            ),
        ):
            reg.create_record(session, registry, registry.create.model_validate(body), user_id=None)


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_registry_exports(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture, clean_queues: None, fmt: str
) -> None:
    _registries(app, tenant_a)
    _registries(app, tenant_b)  # the same plate and codes in B: never in A's files
    client, headers = _client(app, tenant_a.admin_username)
    urls = {}
    for kind in ("transport_vehicles", "inplant_vehicles", "nonroad_machinery"):
        created = client.post(
            "/api/v1/exports", json={"kind": kind, "format": fmt}, headers=headers
        )
        assert created.status_code == 202, created.get_json()
        urls[kind] = created.get_json()["status_url"]
    work(app)
    files = {}
    for kind, url in urls.items():
        status = client.get(url).get_json()
        assert status["status"] == "done", status
        data = client.get(status["download_url"]).data
        rows = _csv_rows(data) if fmt == "csv" else _xlsx_rows(data)
        assert len(rows) == 2, f"{kind}: one record of A, none of B"
        files[kind] = dict(zip(rows[0], rows[1], strict=True))
        assert rows[0][0] == "序号"
    expected = {
        "transport_vehicles": TRANSPORT_HEADERS,
        "inplant_vehicles": INPLANT_HEADERS,
        "nonroad_machinery": NONROAD_HEADERS,
    }
    for kind, headers_expected in expected.items():
        assert list(files[kind])[1 : 1 + len(headers_expected)] == headers_expected
    truck = files["transport_vehicles"]
    assert truck["车牌号码"] == "冀B12345"
    assert truck["号牌颜色"] == "黄色"
    assert truck["车辆类型"] == "重型半挂牵引车"
    assert truck["排放标准"] == "国六a"
    assert truck["使用性质"] == "货运"
    assert truck["车队名称"] == "顺达车队"
    assert truck["随车清单"] == "未上传"
    assert truck["车辆所有人（单位）"] == "'=cmd|' /C calc'!A0"
    assert files["inplant_vehicles"]["燃料类型"] == "纯电动"
    assert files["nonroad_machinery"]["排放标准"] == "国四"
    assert files["nonroad_machinery"]["机械种类"] == "装载机"


def test_job_runs_only_in_the_tenant_it_carries(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture, clean_queues: None
) -> None:
    """An export job enqueued with the wrong tenant finds nothing to do (scoping binds)."""
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        row = exports.create_export(
            session, exports.ExportIn(kind="passages", format="csv"), requested_by=None
        )
    with app.app_context():
        job = jobs.enqueue(
            "exports",
            "saas.jobs.exports.run_export",
            tenant_id=tenant_b.tenant_id,
            export_id=str(row.id),
        )
    work(app)
    job.refresh()
    assert job.return_value() == {"export_id": str(row.id), "status": "missing"}
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        assert session.get(exports.Export, row.id).status == "queued"  # type: ignore[union-attr]


def test_portal_form_and_progress_page(
    app: Flask, tenant_a: TenantFixture, clean_queues: None
) -> None:
    from tests.conftest import csrf_from

    seed(app, tenant_a, [passage_item("冀B40001", datetime.now(UTC) - timedelta(minutes=3))])
    client = app.test_client()
    assert login(client, tenant_a.admin_username) == 302
    page = client.get("/portal/exports?export_kind=passages&verdict=DENY")
    assert page.status_code == 200
    token = csrf_from(client, "/portal/exports")
    bad = client.post(
        "/portal/exports",
        data={"csrf_token": token, "export_kind": "passages", "since": "2020-01-01T00:00"},
    )
    assert bad.status_code == 422  # a window longer than 400 days
    since = (datetime.now(exports.DISPLAY_TZ) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    started = client.post(
        "/portal/exports",
        data={"csrf_token": token, "export_kind": "passages", "format": "csv", "since": since},
    )
    assert started.status_code == 302
    detail_url = started.headers["Location"]
    waiting = client.get(detail_url)
    assert waiting.status_code == 200
    assert waiting.headers["Refresh"] == "2"
    assert "script" not in waiting.get_data(as_text=True)
    work(app)
    done = client.get(detail_url)
    assert "Refresh" not in done.headers
    html = done.get_data(as_text=True)
    assert "/file" in html
    data = client.get(detail_url + "/file").data
    assert "冀B40001" in data.decode("utf-8-sig")
    assert "/portal/exports/" in client.get("/portal/exports").get_data(as_text=True)


def test_export_memory_is_flat_in_the_row_count(
    app: Flask, tenant_a: TenantFixture, tmp_path: Path
) -> None:
    """Peak Python memory of a 20 000-row export ≈ that of a 5 000-row one (constant memory:
    streamed rows, xlsxwriter constant_memory, file copied to storage in chunks). xlsx only:
    csv shares the streaming reader and writes each row straight to the file."""
    fmt = "xlsx"
    newest = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    seed_many(app, tenant_a, 20_000, newest)
    peaks = {}
    for rows in (5_000, 20_000):
        params = exports.resolve_params(
            "passages",
            {"since": (newest - timedelta(seconds=rows)).isoformat(), "until": datetime.now(UTC)},
        )
        seen: list[int] = []
        path = tmp_path / f"{rows}.{fmt}"
        with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
            tracemalloc.start()
            count = exports.export_to_file(
                session, "passages", fmt, params, path, progress=seen.append
            )
            exports.store_file(
                app.extensions["cleangate.storage"], f"t/x/exports/{rows}.{fmt}", path, "x"
            )
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert count == rows
        assert seen[-1] == rows - rows % exports.PROGRESS_EVERY
        peaks[rows] = peak
    growth = peaks[20_000] - peaks[5_000]
    assert growth < 3 * 1024 * 1024, f"peak grew by {growth / 1e6:.1f} MB: {peaks}"


def test_escape_formula_covers_owasp_triggers() -> None:
    for text in ("=1", "+1", "-1", "@a", "\tx", "\rx"):
        assert exports.escape_formula(text) == "'" + text
    for text in ("冀B12345", "1-2", "a=b", "", "'quoted"):
        assert exports.escape_formula(text) == text


def test_every_reason_code_has_a_label() -> None:
    from saas.compliance import REASON_CODES

    assert set(REASON_CODES) <= set(exports.REASON_LABELS)
