"""Cargo registrations attach to the plate's next passage at ingest (saas/ledger/cargo.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, select

from saas.db import get_database
from saas.errors import ApiError
from saas.ledger import cargo
from saas.ledger.exports import passage_cells, passage_statement
from saas.ledger.ingest import Ack, PassageBatch, ingest_passages, payload_digest
from saas.ledger.verify import verify_site
from saas.models.ledger import LedgerEvent, Passage
from saas.models.miniprogram import CargoRegistration, MpUser
from saas.models.tenancy import Site
from saas.regulator.adapters.hj1321_json import build_passage
from saas.tenancy import system_context, tenant_context
from tests.conftest import TenantFixture, login
from tests.ledger.edge_helpers import make_device, passage, post_batch

HOUR = timedelta(hours=1)


def _user(app: Flask) -> uuid.UUID:
    with get_database(app).sessionmaker() as session:
        user = MpUser(openid="o" + uuid.uuid4().hex[:27])
        session.add(user)
        session.commit()
        return user.id


def _data(plate: str = "冀B12345", **over: Any) -> cargo.CargoData:
    fields: dict[str, Any] = {
        "plate": plate,
        "name": "焦炭",
        "quantity": "32.5",
        "unit": "t",
        "carrier": "顺达物流",
        "origin": "唐山港",
        "destination": "一号焦化厂",
    }
    return cargo.CargoData.model_validate(fields | over)


def _register(
    app: Flask,
    tenant: TenantFixture,
    user_id: uuid.UUID,
    plate: str = "冀B12345",
    *,
    created: datetime,
    window: timedelta = 2 * HOUR,
    **over: Any,
) -> uuid.UUID:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        row, _ = cargo.register(session, site, user_id, _data(plate, **over), window, now=created)
        return row.id


def _at(moment: datetime, plate: str = "冀B12345", **extra: Any) -> dict[str, Any]:
    return passage(plate, captured_at=moment.isoformat(), **extra)


def _ingest(app: Flask, tenant: TenantFixture, items: list[dict[str, Any]]) -> list[Ack]:
    batch = PassageBatch.model_validate({"passages": items})
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant.site_id)
        assert site is not None
        return ingest_passages(session, site, batch)


def _record(app: Flask, tenant: TenantFixture, event_id: str) -> dict[str, Any]:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        text = session.scalars(
            select(Passage.record).where(Passage.event_id == uuid.UUID(event_id))
        ).one()
        return json.loads(text)  # type: ignore[no-any-return]


def _registration(app: Flask, tenant: TenantFixture, reg_id: uuid.UUID) -> CargoRegistration:
    with tenant_context(tenant.tenant_id), get_database(app).sessionmaker() as session:
        row = session.get(CargoRegistration, reg_id)
        assert row is not None
        session.expunge(row)
        return row


def _verify(app: Flask, site_id: uuid.UUID) -> bool:
    key = app.extensions["cleangate.ledger_key"]
    with get_database(app).sessionmaker() as session, system_context("test verify"):
        return verify_site(session, site_id, key.public_bytes).intact


@contextmanager
def _statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements sent while the block runs."""
    seen: list[str] = []
    engine = get_database(app).engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_window_edges(app: Flask, tenant_a: TenantFixture) -> None:
    user = _user(app)
    created = datetime.now(UTC).replace(microsecond=0) - 3 * HOUR
    reg = _register(app, tenant_a, user, created=created, window=HOUR)
    before = _at(created - timedelta(seconds=1))
    at_expiry = _at(created + HOUR)
    other_plate = _at(created + timedelta(minutes=5), "冀B54321")
    acks = _ingest(app, tenant_a, [before, at_expiry, other_plate])
    assert [a.status for a in acks] == ["stored"] * 3
    for item in (before, at_expiry, other_plate):
        assert _record(app, tenant_a, item["event_id"])["cargo"] is None
    row = _registration(app, tenant_a, reg)
    assert row.status == "waiting"
    assert cargo.effective_status(row) == "expired"  # past its window, computed on read
    # Captured at the very moment of registration: inside (created_at <= captured_at).
    first = _at(created)
    _ingest(app, tenant_a, [first])
    record = _record(app, tenant_a, first["event_id"])
    assert record["cargo"] == {
        "name": "焦炭",
        "quantity": 32.5,
        "unit": "t",
        "origin": "唐山港",
        "destination": "一号焦化厂",
        "carrier": "顺达物流",
        "registration_id": str(reg),
    }
    row = _registration(app, tenant_a, reg)
    assert row.status == "attached"
    assert row.passage_event_id == uuid.UUID(first["event_id"])
    assert row.attached_at is not None
    # One registration fills one passage: the next one gets nothing.
    later = _at(created + timedelta(minutes=10))
    _ingest(app, tenant_a, [later])
    assert _record(app, tenant_a, later["event_id"])["cargo"] is None
    # The last instant before expiry is inside.
    reg2 = _register(app, tenant_a, user, created=created + 2 * HOUR, window=HOUR)
    edge = _at(created + 3 * HOUR - timedelta(microseconds=1))
    _ingest(app, tenant_a, [edge])
    assert _record(app, tenant_a, edge["event_id"])["cargo"]["registration_id"] == str(reg2)
    assert _verify(app, tenant_a.site_id)


def test_earliest_passage_takes_the_earliest_registration(
    app: Flask, tenant_a: TenantFixture
) -> None:
    user = _user(app)
    start = datetime.now(UTC) - 2 * HOUR
    # Two waiting registrations of one plate can only coexist when written directly (a new
    # registration cancels the previous one); attach still takes them oldest first.
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        ids = []
        for minutes, name in ((0, "焦炭"), (5, "洗精煤")):
            row = CargoRegistration(
                site_id=tenant_a.site_id,
                user_id=user,
                plate="冀B12345",
                name=name,
                quantity=Decimal("30"),
                unit="t",
                origin="唐山港",
                created_at=start + timedelta(minutes=minutes),
                expires_at=start + 3 * HOUR,
            )
            session.add(row)
            session.flush()
            ids.append(row.id)
        session.commit()
    late = _at(start + 40 * timedelta(minutes=1))
    early = _at(start + 20 * timedelta(minutes=1))
    latest = _at(start + 60 * timedelta(minutes=1))
    _ingest(app, tenant_a, [late, latest, early])  # batch order is not capture order
    assert _record(app, tenant_a, early["event_id"])["cargo"]["name"] == "焦炭"
    assert _record(app, tenant_a, late["event_id"])["cargo"]["name"] == "洗精煤"
    assert _record(app, tenant_a, latest["event_id"])["cargo"] is None
    assert _registration(app, tenant_a, ids[0]).passage_event_id == uuid.UUID(early["event_id"])
    assert _registration(app, tenant_a, ids[1]).passage_event_id == uuid.UUID(late["event_id"])
    assert _verify(app, tenant_a.site_id)


def test_equal_capture_times_keep_batch_order(app: Flask, tenant_a: TenantFixture) -> None:
    user = _user(app)
    created = datetime.now(UTC) - HOUR
    _register(app, tenant_a, user, created=created)
    moment = created + timedelta(minutes=1)
    first, second = _at(moment), _at(moment, lane="02")
    _ingest(app, tenant_a, [first, second])
    assert _record(app, tenant_a, first["event_id"])["cargo"] is not None
    assert _record(app, tenant_a, second["event_id"])["cargo"] is None


def test_new_registration_supersedes_the_waiting_one(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    user, other_driver = _user(app), _user(app)
    now = datetime.now(UTC)
    stale = _register(app, tenant_a, user, created=now - 5 * HOUR, window=HOUR)
    first = _register(app, tenant_a, user, created=now - 30 * timedelta(minutes=1))
    other_plate = _register(app, tenant_a, user, "冀B54321", created=now - HOUR)
    foreign = _register(app, tenant_b, user, created=now - HOUR)  # same plate, tenant B
    assert _registration(app, tenant_a, stale).status == "expired"  # written by the sweep
    second = _register(
        app, tenant_a, other_driver, created=now - 20 * timedelta(minutes=1), name="洗精煤"
    )
    assert _registration(app, tenant_a, first).status == "cancelled"
    assert _registration(app, tenant_a, second).status == "waiting"
    assert _registration(app, tenant_a, other_plate).status == "waiting"
    assert _registration(app, tenant_b, foreign).status == "waiting"
    item = _at(now - 10 * timedelta(minutes=1))
    _ingest(app, tenant_a, [item])
    assert _record(app, tenant_a, item["event_id"])["cargo"]["registration_id"] == str(second)
    assert _registration(app, tenant_a, first).passage_event_id is None
    # Tenant B's registration of the same plate never fills tenant A's passages.
    assert _registration(app, tenant_b, foreign).status == "waiting"


def test_edge_cargo_is_kept_and_the_registration_waits(app: Flask, tenant_a: TenantFixture) -> None:
    user = _user(app)
    created = datetime.now(UTC) - HOUR
    reg = _register(app, tenant_a, user, created=created)
    edge_cargo = {"name": "石灰石", "quantity": 20.0, "unit": "t", "origin": "本地矿山"}
    carried = _at(created + timedelta(minutes=1), cargo=edge_cargo)
    unreadable = _at(created + timedelta(minutes=2), "_无_", verdict="REVIEW")
    bare = _at(created + timedelta(minutes=3))
    _ingest(app, tenant_a, [carried, unreadable])
    assert _record(app, tenant_a, carried["event_id"])["cargo"] == edge_cargo | {
        "destination": None
    }
    assert _record(app, tenant_a, unreadable["event_id"])["cargo"] is None
    assert _registration(app, tenant_a, reg).status == "waiting"
    _ingest(app, tenant_a, [bare])
    assert _record(app, tenant_a, bare["event_id"])["cargo"]["registration_id"] == str(reg)


def test_replay_is_a_duplicate_with_the_edge_digest(app: Flask, tenant_a: TenantFixture) -> None:
    user = _user(app)
    created = datetime.now(UTC) - HOUR
    reg = _register(app, tenant_a, user, created=created)
    item = _at(created + timedelta(minutes=5))
    stored = _ingest(app, tenant_a, [item])
    assert _record(app, tenant_a, item["event_id"])["cargo"]["registration_id"] == str(reg)
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        digest = session.scalars(
            select(LedgerEvent.payload_digest).where(
                LedgerEvent.event_id == uuid.UUID(item["event_id"])
            )
        ).one()
    # The digest is the edge payload's, without the cargo the cloud added to the record.
    assert digest == payload_digest(PassageBatch.model_validate({"passages": [item]}).passages[0])
    fresh = _register(app, tenant_a, user, created=datetime.now(UTC) - timedelta(minutes=1))
    again = _ingest(app, tenant_a, [item])
    assert again[0].status == "duplicate"
    assert (again[0].seq, again[0].hash) == (stored[0].seq, stored[0].hash)
    assert _registration(app, tenant_a, fresh).status == "waiting"  # a replay attaches nothing
    # The same event id with edited content is still a conflict, not a duplicate.
    forged = dict(item, plate_text="冀B99999")
    assert _ingest(app, tenant_a, [forged])[0].status == "conflict"
    assert _verify(app, tenant_a.site_id)


def test_one_query_per_batch_and_none_without_cargo_less_passages(
    app: Flask, tenant_a: TenantFixture
) -> None:
    now = datetime.now(UTC)
    edge_cargo = {"name": "焦炭", "quantity": 30.0, "unit": "t", "origin": "唐山"}
    carried = [_at(now - timedelta(seconds=i), f"冀B1000{i}", cargo=edge_cargo) for i in range(5)]
    with _statements(app) as seen:
        _ingest(app, tenant_a, carried)
    assert not [s for s in seen if "cargo_registrations" in s]
    bare = [_at(now - timedelta(seconds=i), f"冀B2000{i}") for i in range(20)]
    with _statements(app) as seen:
        _ingest(app, tenant_a, bare)
    lookups = [s for s in seen if "cargo_registrations" in s]
    assert len(lookups) == 1
    assert lookups[0].lstrip().upper().startswith("SELECT")


def test_register_refuses_bad_input_and_writes_nothing(app: Flask, tenant_a: TenantFixture) -> None:
    user = _user(app)
    now = datetime.now(UTC)
    with pytest.raises(ApiError) as bad_plate:
        _register(app, tenant_a, user, "冀I1234", created=now)
    assert bad_plate.value.status == 422
    details = bad_plate.value.details
    assert "plate" in details["fields"]
    assert {r["code"] for r in details["reasons"]} >= {"forbidden_letter", "bad_length"}
    assert all(r["message"] for r in details["reasons"])
    with pytest.raises(ApiError) as nowhere:
        _register(app, tenant_a, user, created=now, origin=None, destination="")
    assert set(nowhere.value.details["fields"]) == {"origin", "destination"}
    with pytest.raises(ApiError) as unit:
        _register(app, tenant_a, user, created=now, unit="桶")
    assert set(unit.value.details["fields"]) == {"unit"}
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        assert session.scalars(select(CargoRegistration)).all() == []
    # Unit aliases are stored canonically.
    reg = _register(app, tenant_a, user, created=now, unit="m3", quantity="12.250")
    row = _registration(app, tenant_a, reg)
    assert (row.unit, row.quantity) == ("m³", Decimal("12.250"))


def test_attached_cargo_reaches_export_regulator_and_passage_api(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    user = _user(app)
    created = datetime.now(UTC) - HOUR
    reg = _register(app, tenant_a, user, created=created)
    _register(app, tenant_b, user, created=created, name="B 的货")
    device = make_device(app, tenant_a.tenant_id, tenant_a.site_id)
    item = passage(
        "冀B12345",
        minutes_ago=5,
        vehicle={
            "registered": True,
            "vehicle_type": "Q11",
            "fuel_type": "diesel",
            "emission_stage": "cn6a",
        },
    )
    response = post_batch(app.test_client(), device, [item])
    assert response.status_code == 200, response.get_data(as_text=True)
    client = app.test_client()
    assert login(client, tenant_a.admin_username) == 302
    detail = client.get(f"/api/v1/passages/{item['event_id']}")
    assert detail.status_code == 200
    got = detail.get_json()["record"]["cargo"]
    assert got["name"] == "焦炭"
    assert got["quantity"] == 32.5
    assert got["registration_id"] == str(reg)
    listed = client.get("/api/v1/passages").get_json()["items"]
    assert [p["event_id"] for p in listed] == [item["event_id"]]
    # The ledger export's cells and the regulator's record read the same cargo.
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        row = session.execute(passage_statement({})).one()
        cells = passage_cells(1, row, {tenant_a.site_id: "一号焦化厂"})
        assert {"焦炭", 32.5, "t", "唐山港", "一号焦化厂"} <= set(cells)
        record = json.loads(row.record)
    wire = build_passage(record, endpoint=None)  # type: ignore[arg-type]
    assert wire["cargoName"] == "焦炭"
    assert wire["cargoQuantity"] == "32.5"
    assert wire["cargoOrigin"] == "唐山港"
    # Tenant B's registration of the same plate was not touched by A's passage.
    with tenant_context(tenant_b.tenant_id), get_database(app).sessionmaker() as session:
        assert session.scalars(select(CargoRegistration.status)).all() == ["waiting"]
