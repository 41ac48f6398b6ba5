"""The console's rating services: versioned rectification-plan and emergency-measures documents
per site (PDF/DOCX/XLSX judged by their bytes, ≤ 20 MB, stored under the tenant's prefix,
uploads and status changes audited, downloads byte-exact), and the transport indicators of
``saas.compliance.rating`` computed from a site's passages and registries over a period — for
provider staff (experts and admins write, everyone with console.view reads), escaped, with a
second tenant holding the same site name."""

from __future__ import annotations

import hashlib
import io
import re
import uuid
import zipfile
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import Workbook
from sqlalchemy import func, select

from saas.api.regulator import beijing_today
from saas.compliance.codes import EmissionStage
from saas.compliance.rating import TransportMode
from saas.console import rating_inputs
from saas.db import get_database
from saas.models.identity import AuditEvent, Role
from saas.models.ledger import InPlantVehicle, NonRoadMachinery
from saas.models.rating import RatingDocument
from saas.models.tenancy import Site
from saas.regulator.outbox import BEIJING_OFFSET
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture, csrf_from, login, make_user
from tests.ledger.edge_helpers import make_device, post_batch
from tests.policy.test_execution import api_client, release_from_portal

XSS = "<script>alert(1)</script>"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _docx(text: str = "整改方案") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", f"<w:document><w:t>{text}</w:t></w:document>")
    return buffer.getvalue()


def _xlsx() -> bytes:
    book = Workbook()
    book.active.append(["措施", "减排比例"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _staff(app: Flask, role: Role = Role.PROVIDER_EXPERT) -> FlaskClient:
    client = app.test_client()
    assert login(client, make_user(app, role, None).username) == 302
    return client


def _name_site(app: Flask, tenant: TenantFixture, name: str, **fields: str) -> None:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        site.name = name
        for key, value in fields.items():
            setattr(site, key, value)
        session.commit()


def _upload(
    client: FlaskClient,
    site_id: uuid.UUID,
    data: bytes,
    *,
    filename: str = "方案.pdf",
    kind: str = "rectification_plan",
    title: str = "整改方案",
    note: str = "",
) -> Any:
    return client.post(
        f"/console/rating/{site_id}/documents",
        data={
            "csrf_token": csrf_from(client, "/console/rating"),
            "kind": kind,
            "title": title,
            "note": note,
            "file": (io.BytesIO(data), filename),
        },
        content_type="multipart/form-data",
    )


def _set_status(
    client: FlaskClient, site_id: uuid.UUID, doc_id: uuid.UUID, status: str, from_status: str = ""
) -> Any:
    return client.post(
        f"/console/rating/{site_id}/documents/{doc_id}/status",
        data={
            "csrf_token": csrf_from(client, "/console/rating"),
            "status": status,
            "from_status": from_status,
        },
    )


def _documents(app: Flask, tenant: TenantFixture) -> list[RatingDocument]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return list(
            session.scalars(
                select(RatingDocument).order_by(RatingDocument.kind, RatingDocument.version)
            )
        )


def _audit(app: Flask, tenant: TenantFixture, event: str) -> list[AuditEvent]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        return list(
            session.scalars(
                select(AuditEvent).where(AuditEvent.event == event).order_by(AuditEvent.id)
            )
        )


# --- documents ----------------------------------------------------------------------------------


def test_versions_status_and_download_are_stored_per_tenant_and_audited(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    site_name = f"甲焦化 {XSS} {uuid.uuid4().hex[:6]}"
    _name_site(app, tenant_a, site_name)
    expert = _staff(app)

    index = expert.get("/console/rating?q=" + site_name[-6:])
    assert index.status_code == 200
    page = index.get_data(as_text=True)
    assert XSS not in page
    assert "&lt;script&gt;" in page
    row = re.search(rf'<tr data-site="{tenant_a.site_id}">(.*?)</tr>', page, re.S)
    assert row is not None
    assert row.group(1).count("未上传") == 2
    assert f'data-site="{tenant_b.site_id}"' not in page  # the filter keeps A's site only

    # v1 (PDF) and v2 (DOCX) of the rectification plan, v1 (XLSX) of the emergency measures
    first = _upload(expert, tenant_a.site_id, PDF, filename="../../整改方案 v1.pdf",
                    title=f"整改方案 {XSS}", note=f"第一稿 {XSS}")  # fmt: skip
    assert first.status_code == 302, first.get_data(as_text=True)
    docx = _docx()
    second = _upload(expert, tenant_a.site_id, docx, filename="整改方案.doc", title="整改方案二稿")
    assert second.status_code == 302
    xlsx = _xlsx()
    third = _upload(expert, tenant_a.site_id, xlsx, filename="措施清单.xlsx",
                    kind="emergency_measures", title="应急减排措施")  # fmt: skip
    assert third.status_code == 302
    docs = _documents(app, tenant_a)
    assert [(d.kind, d.version, d.status) for d in docs] == [
        ("emergency_measures", 1, "draft"),
        ("rectification_plan", 1, "draft"),
        ("rectification_plan", 2, "draft"),
    ]
    measures, plan_v1, plan_v2 = docs
    storage = app.extensions["cleangate.storage"]
    for doc, data, ext in (
        (plan_v1, PDF, "pdf"),
        (plan_v2, docx, "docx"),
        (measures, xlsx, "xlsx"),
    ):
        sha = hashlib.sha256(data).hexdigest()
        assert doc.storage_key == f"t/{tenant_a.tenant_id}/s/{tenant_a.site_id}/rating/{sha}.{ext}"
        assert (doc.sha256, doc.size) == (sha, len(data))
        assert storage.get(doc.storage_key) == data
    assert plan_v1.filename == "整改方案 v1.pdf"  # no path; the extension of what it is
    assert plan_v2.filename == "整改方案.docx"
    assert plan_v2.content_type.endswith("wordprocessingml.document")
    uploads = _audit(app, tenant_a, "rating.document_upload")
    assert [(e.details["kind"], e.details["version"]) for e in uploads] == [
        ("rectification_plan", 1), ("rectification_plan", 2), ("emergency_measures", 1),
    ]  # fmt: skip
    assert uploads[0].details["document_id"] == str(plan_v1.id)
    assert uploads[0].actor_label
    assert uploads[0].actor_label.startswith("provider_expert")
    assert _documents(app, tenant_b) == []
    assert _audit(app, tenant_b, "rating.document_upload") == []

    # the same content again is no new version
    again = _upload(expert, tenant_a.site_id, docx, title="重复")
    assert again.status_code == 409
    assert "内容相同" in again.get_data(as_text=True)
    assert len(_documents(app, tenant_a)) == 3

    # status: draft → with customer → submitted; back from submitted is refused
    assert (
        _set_status(expert, tenant_a.site_id, plan_v2.id, "with_customer", "draft").status_code
        == 302
    )
    assert _set_status(expert, tenant_a.site_id, plan_v2.id, "submitted").status_code == 302
    refused = _set_status(expert, tenant_a.site_id, plan_v2.id, "draft", "submitted")
    assert refused.status_code == 409
    assert "不能从“已提交”改为“草稿”" in refused.get_data(as_text=True)
    stale = _set_status(expert, tenant_a.site_id, plan_v1.id, "with_customer", "with_customer")
    assert stale.status_code == 409
    unknown = _set_status(expert, tenant_a.site_id, plan_v1.id, "approved", "draft")
    assert unknown.status_code == 422
    assert "请选择草稿、客户确认中或已提交" in unknown.get_data(as_text=True)
    statuses = {(d.kind, d.version): d.status for d in _documents(app, tenant_a)}
    assert statuses[("rectification_plan", 2)] == "submitted"
    assert statuses[("rectification_plan", 1)] == "draft"
    moves = _audit(app, tenant_a, "rating.document_status")
    assert [(e.details["from"], e.details["to"]) for e in moves] == [
        ("draft", "with_customer"), ("with_customer", "submitted"),
    ]  # fmt: skip

    # the site page: versions, statuses, escaped titles and notes, the history
    page = expert.get(f"/console/rating/{tenant_a.site_id}").get_data(as_text=True)
    assert XSS not in page
    assert "整改方案 &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "第一稿 &lt;script&gt;alert(1)&lt;/script&gt;" in page
    v2_row = re.search(rf'data-document="{plan_v2.id}">(.*?)</tr>', page, re.S)
    assert v2_row is not None
    assert 'data-status="submitted"' in v2_row.group(1)
    assert "<button" not in v2_row.group(1)  # a submitted version has no further move
    history = re.search(r'<section class="card" id="history">(.*?)</section>', page, re.S)
    assert history is not None
    assert history.group(1).count("<tr><td>") == 5
    assert "provider_expert user" in page  # the uploader's display name

    # download: the exact bytes, the right type, the name as uploaded
    got = expert.get(f"/console/rating/{tenant_a.site_id}/documents/{plan_v2.id}/download")
    assert got.status_code == 200
    assert got.data == docx
    assert got.mimetype == plan_v2.content_type
    assert "filename*=UTF-8''" in got.headers["Content-Disposition"]
    assert got.headers["X-Content-SHA256"] == plan_v2.sha256
    # A's document under B's site answers like a missing one
    assert (
        expert.get(
            f"/console/rating/{tenant_b.site_id}/documents/{plan_v2.id}/download"
        ).status_code
        == 404
    )
    assert _set_status(expert, tenant_b.site_id, plan_v1.id, "with_customer").status_code == 404
    assert expert.get(f"/console/rating/{uuid.uuid4()}").status_code == 404

    index = expert.get("/console/rating?q=" + site_name[-6:]).get_data(as_text=True)
    row = re.search(rf'<tr data-site="{tenant_a.site_id}">(.*?)</tr>', index, re.S)
    assert row is not None
    assert re.search(r'doc-rectification_plan">第 2 版 · 已提交', row.group(1))
    assert re.search(r'doc-emergency_measures">第 1 版 · 草稿', row.group(1))


def test_uploads_too_large_or_of_another_type_are_refused_and_nothing_is_written(
    app: Flask, tenant_a: TenantFixture
) -> None:
    expert = _staff(app, Role.PROVIDER_ADMIN)
    too_large = _upload(expert, tenant_a.site_id, PDF + b"0" * (20 * 1024 * 1024 + 1 - len(PDF)))
    assert too_large.status_code == 413
    assert "文件超过 20 MB" in too_large.get_data(as_text=True)
    just_fits = PDF + b"0" * (20 * 1024 * 1024 - len(PDF))
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as archive:
        archive.writestr("readme.txt", "not office")
    for data, name in (
        (b"\x89PNG\r\n\x1a\n" + b"0" * 100, "scan.pdf"),  # the name does not decide
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"0" * 100, "old.doc"),  # Word 97-2003
        (plain_zip.getvalue(), "x.docx"),
        (b"PK\x03\x04 broken", "broken.xlsx"),
        (b"hello", "a.txt"),
    ):
        response = _upload(expert, tenant_a.site_id, data, filename=name)
        assert response.status_code == 415, name
        assert "只接受 PDF、Word（DOCX）或 Excel（XLSX）文件" in response.get_data(as_text=True)
    missing = _upload(expert, tenant_a.site_id, PDF, title="", kind="plan")
    assert missing.status_code == 422
    text = missing.get_data(as_text=True)
    assert "请填写标题" in text
    assert "请选择整改方案或应急减排措施" in text
    assert _documents(app, tenant_a) == []
    assert _audit(app, tenant_a, "rating.document_upload") == []
    prefix = f"t/{tenant_a.tenant_id}/s/{tenant_a.site_id}/rating/"
    storage = app.extensions["cleangate.storage"]
    for data in (PDF + b"0" * (20 * 1024 * 1024 + 1 - len(PDF)), b"hello"):
        for ext in ("pdf", "docx", "xlsx"):
            assert not storage.exists(prefix + f"{hashlib.sha256(data).hexdigest()}.{ext}")
    assert _upload(expert, tenant_a.site_id, just_fits).status_code == 302  # exactly 20 MB
    assert [d.size for d in _documents(app, tenant_a)] == [20 * 1024 * 1024]


def test_only_experts_and_admins_write_and_tenants_see_nothing(
    app: Flask, tenant_a: TenantFixture
) -> None:
    ops = _staff(app, Role.PROVIDER_OPS)
    page = ops.get(f"/console/rating/{tenant_a.site_id}")
    assert page.status_code == 200
    assert 'id="upload"' not in page.get_data(as_text=True)
    assert _upload(ops, tenant_a.site_id, PDF).status_code == 403
    expert = _staff(app)
    assert _upload(expert, tenant_a.site_id, PDF).status_code == 302
    (doc,) = _documents(app, tenant_a)
    assert _set_status(ops, tenant_a.site_id, doc.id, "with_customer").status_code == 403
    download = f"/console/rating/{tenant_a.site_id}/documents/{doc.id}/download"
    assert ops.get(download).status_code == 200  # reading needs console.view only
    admin = app.test_client()
    assert login(admin, tenant_a.admin_username) == 302
    for url in ("/console/rating", f"/console/rating/{tenant_a.site_id}", download):
        assert admin.get(url).status_code == 403


# --- indicators -----------------------------------------------------------------------------


def _at(day: date, hour: int = 10) -> datetime:
    """Beijing ``hour`` o'clock of ``day``, as UTC."""
    return datetime.combine(day, time(hour), tzinfo=UTC) - BEIJING_OFFSET


def _entry(
    at: datetime,
    *,
    vtype: str | None = "H11",
    stage: str | None = "cn5",
    fuel: str = "diesel",
    verdict: str = "ALLOW",
    color: str = "yellow",
    direction: str = "in",
    cargo: tuple[float, str] | None = None,
    category: str | None = None,
) -> dict[str, Any]:
    vehicle: dict[str, Any] = {"registered": vtype is not None, "vehicle_type": vtype,
                               "fuel_type": fuel, "emission_stage": stage}  # fmt: skip
    if category:
        vehicle["category"] = category
    body: dict[str, Any] = {
        "event_id": str(uuid.uuid4()),
        "captured_at": at.isoformat(),
        "gate": "1",
        "lane": "01",
        "direction": direction,
        "plate_text": f"冀B{uuid.uuid4().int % 100000:05d}",
        "plate_color": color,
        "vehicle": vehicle,
        "decision": {
            "verdict": verdict,
            "reasons": [] if verdict == "ALLOW" else ["stage_below_minimum"],
        },
    }
    if cargo is not None:
        body["cargo"] = {"name": "焦煤", "quantity": cargo[0], "unit": cargo[1]}
    return body


def _registries(app: Flask, tenant: TenantFixture) -> None:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        for n, (stage, fuel) in enumerate(
            [("cn5", "diesel"), ("cn5", "diesel"), ("cn4", "diesel"), ("unknown", "electric")]
        ):
            session.add(InPlantVehicle(site_id=tenant.site_id, env_reg_code=f"NB{n}",
                                       emission_stage=stage, fuel_type=fuel))  # fmt: skip
        for n, (stage, fuel) in enumerate(
            [("nr3", "diesel"), ("nr4", "diesel"), ("nr2", "diesel"), ("unknown", "electric")]
        ):
            session.add(NonRoadMachinery(site_id=tenant.site_id, env_reg_code=f"FD{n}",
                                         machine_type="装载机", nonroad_stage=stage,
                                         fuel_type=fuel))  # fmt: skip
        session.add(InPlantVehicle(site_id=tenant.site_id, env_reg_code="OLD", emission_stage="cn3",
                                   fuel_type="diesel", active=False))  # fmt: skip
        session.commit()


def test_indicators_over_a_period_come_from_passages_and_registries(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    _name_site(app, tenant_a, f"焦化-{uuid.uuid4().hex[:8]}", industry="coking")
    today = beijing_today()
    day, start, end = (
        today - timedelta(days=3),
        today - timedelta(days=5),
        today - timedelta(days=1),
    )
    released = _entry(_at(day, 11), stage="cn4", verdict="DENY")
    bodies = [
        _entry(_at(day), stage="cn5", cargo=(30, "t")),
        _entry(_at(day), stage="cn6a", cargo=(31000, "kg")),
        _entry(_at(day), stage="cn4"),
        _entry(_at(day), stage=None, fuel="electric", color="yellow_green", cargo=(20, "吨")),
        _entry(_at(day), stage="cn3", verdict="DENY", cargo=(40, "t")),  # refused: not counted
        released,  # refused, then released from the portal: counted
        _entry(_at(day), vtype="K33", stage="cn6a", fuel="gasoline", color="blue"),  # a car
        _entry(_at(day), vtype=None, stage=None),  # unknown type, yellow plate: a heavy truck
        _entry(_at(day), vtype="Q11", stage="cn4", category="in_plant"),  # not haulage
        _entry(_at(day, 15), stage="cn5", direction="out", cargo=(10, "t")),  # tonnage only
        _entry(_at(day), stage="cn6a", cargo=(5, "方")),  # counted; a volume is no tonnage
        _entry(_at(start - timedelta(days=3)), stage="cn3", cargo=(99, "t")),  # before
        _entry(_at(today, 0) + timedelta(seconds=1), stage="cn3"),  # after the period
    ]
    response = post_batch(app.test_client(), make_device(app, tenant_a.tenant_id,
                                                          tenant_a.site_id), bodies)  # fmt: skip
    assert response.status_code == 200, response.get_json()
    client, headers = api_client(app, tenant_a.admin_username)
    release_from_portal(client, headers, released["event_id"], "人工核验")
    _registries(app, tenant_a)
    # tenant B: same site name, its own (dirty) ledger must not count for A
    post_batch(app.test_client(), make_device(app, tenant_b.tenant_id, tenant_b.site_id),
               [_entry(_at(day), stage="cn3") for _ in range(3)])  # fmt: skip

    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant_a.site_id)
        assert site is not None
        counted = rating_inputs.gather(
            session, site, start, end, {TransportMode.RAIL: Decimal("364")}
        )
        assert counted.heavy_truck_passages == {
            EmissionStage.CN5: 1,
            EmissionStage.CN6A: 2,
            EmissionStage.CN4: 2,
            EmissionStage.UNKNOWN: 1,
        }
        assert (counted.heavy_truck_nev_passages, counted.other_entries) == (1, 2)
        assert counted.in_plant_vehicles == {EmissionStage.CN5: 2, EmissionStage.CN4: 1}
        assert (counted.in_plant_nev, counted.non_road_nev, counted.cargo_other_units) == (1, 1, 1)
        assert counted.tonnage_by_mode == {
            TransportMode.RAIL: Decimal("364"),
            TransportMode.ROAD: Decimal("71.000"),
            TransportMode.NEV_TRUCK: Decimal("20.000"),
        }
        view = rating_inputs.evaluate(site, counted)
        values = view.values
        assert values.heavy_truck_clean_share == Fraction(4, 7)
        assert values.heavy_truck_cn4_share == Fraction(6, 7)
        assert values.heavy_truck_cn6_share == Fraction(3, 7)
        assert values.in_plant_clean_share == Fraction(3, 4)
        assert values.in_plant_cn4_share == Fraction(1)
        assert values.non_road_clean_share == Fraction(3, 4)
        assert values.clean_transport_ratio == Fraction(4, 5)  # exactly 80 %: 364 / 455
        assert view.assessment.table == "coking"
        assert view.assessment.level is None
        level_a = view.levels[0]
        assert [c.met for c in level_a.clauses] == [False, False, False, True]
        with pytest.raises(ValueError, match="to: at most 400 days"):
            rating_inputs.gather(session, site, start - timedelta(days=400), end)

    expert = _staff(app)
    url = f"/console/rating/{tenant_a.site_id}?from={start}&to={end}&rail=364"
    page = expert.get(url).get_data(as_text=True)
    assert re.search(r'id="heavy-total">7<', page)
    assert re.search(
        r'data-indicator="heavy_truck_clean_share"><td>[^<]+</td><td class="value">57.14%', page
    )
    assert re.search(
        r'data-indicator="clean_transport_ratio"><td>[^<]+</td><td class="value">80.00%', page
    )
    level_a_html = re.search(r'<table class="thresholds" data-level="A">(.*?)</table>', page, re.S)
    assert level_a_html is not None
    assert re.search(
        r'class="clause-met" data-indicator="clean_transport_ratio"', level_a_html.group(1)
    )
    assert re.search(
        r'class="clause-unmet" data-indicator="heavy_truck_clean_share"', level_a_html.group(1)
    )
    assert "均未达到" in page
    # without the rail tonnage the ratio is 0: road haulage only
    bare = expert.get(f"/console/rating/{tenant_a.site_id}?from={start}&to={end}").get_data(
        as_text=True
    )
    assert re.search(
        r'data-indicator="clean_transport_ratio"><td>[^<]+</td><td class="value">0.00%', bare
    )
    bad = expert.get(f"/console/rating/{tenant_a.site_id}?from=2025-13-01&rail=-5")
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "from：应为日期 YYYY-MM-DD" in text
    assert "rail：应为不小于 0 的吨数" in text
    backwards = expert.get(f"/console/rating/{tenant_a.site_id}?from={end}&to={start}")
    assert backwards.status_code == 422
    assert "结束日期不能早于开始日期" in backwards.get_data(as_text=True)


def test_a_period_without_data_shows_no_data_not_full_marks(
    app: Flask, tenant_a: TenantFixture
) -> None:
    expert = _staff(app)
    page = expert.get(f"/console/rating/{tenant_a.site_id}?from=2024-01-01&to=2024-01-31")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert re.search(r'id="heavy-total">0<', html)
    assert re.search(
        r'data-indicator="heavy_truck_clean_share"><td>[^<]+</td><td class="value">无数据', html
    )
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(RatingDocument)) == 0
