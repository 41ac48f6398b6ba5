"""Upload rows are written in the transaction of their cause: passages at ingest, registry
changes as revisions, gates and daily counts; none without an active configuration, none on
rollback, none twice for a replay; the trigger after COMMIT enqueues a relay job."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from flask import Flask
from rq import SimpleWorker
from sqlalchemy import func, select

from saas import jobs
from saas.db import get_database
from saas.ledger import registries
from saas.ledger.ingest import PassageBatch, _ingest_once
from saas.models.ledger import Passage
from saas.models.regulator import RegulatorUpload
from saas.models.tenancy import Site
from saas.regulator import outbox
from saas.tenancy import tenant_context
from tests.conftest import TenantFixture
from tests.regulator.conftest import Receiver, ingest, make_config, passage_body, uploads


def test_ingest_writes_one_row_per_passage_and_active_config(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    first = make_config(app, tenant_a, "http://127.0.0.1:9/a", name="市平台")
    second = make_config(app, tenant_a, "http://127.0.0.1:9/b", name="开发区平台")
    make_config(app, tenant_a, "http://127.0.0.1:9/c", name="停用平台", active=False)
    at = datetime(2026, 3, 1, 1, 2, 3, tzinfo=UTC)
    ids = ingest(app, tenant_a, [passage_body(captured_at=at, gate="2", lane="03")] * 1)
    rows = uploads(app, tenant_a)
    assert sorted(r.config_id for r in rows) == sorted([first, second])
    for row in rows:
        assert (row.kind, row.key, row.source_id) == ("passage", f"passage:{ids[0]}", ids[0])
        assert (row.gate_code, row.lane_code, row.captured_at) == ("2", "03", at)
        assert (row.status, row.attempts, row.revision) == ("pending", 0, 1)
        assert row.tenant_id == tenant_a.tenant_id
    assert uploads(app, tenant_b) == []  # tenant scoping: B sees none of A's rows


def test_site_without_config_gets_no_rows(app: Flask, tenant_a: TenantFixture) -> None:
    ingest(app, tenant_a, [passage_body(), passage_body()])
    assert uploads(app, tenant_a) == []


def test_replayed_passage_writes_no_second_row(app: Flask, tenant_a: TenantFixture) -> None:
    make_config(app, tenant_a, "http://127.0.0.1:9/a")
    body = passage_body()
    ingest(app, tenant_a, [body])
    ingest(app, tenant_a, [body, body])  # a replay, and a repeat inside the batch
    assert [r.key for r in uploads(app, tenant_a)] == [f"passage:{body['event_id']}"]


def test_rollback_of_the_ingest_transaction_leaves_no_row(
    app: Flask, tenant_a: TenantFixture
) -> None:
    make_config(app, tenant_a, "http://127.0.0.1:9/a")
    batch = PassageBatch.model_validate({"passages": [passage_body()]})
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant_a.site_id)
        assert site is not None
        _ingest_once(session, site, batch, None)
        written = session.scalar(select(func.count()).select_from(RegulatorUpload))
        assert written == 1  # inside the transaction the row is there …
        session.rollback()
    assert uploads(app, tenant_a) == []  # … and it goes with the rollback


def test_registry_changes_are_new_revisions(app: Flask, tenant_a: TenantFixture) -> None:
    config = make_config(app, tenant_a, "http://127.0.0.1:9/a")
    data = registries.TransportVehicleIn.model_validate(
        {
            "site_id": str(tenant_a.site_id),
            "plate": "冀B·54321",
            "plate_color": "黄",
            "vehicle_type": "H11",
            "registration_date": "2019-03-01",
            "fuel_type": "柴油",
        }
    )
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        record = registries.create_record(
            session, registries.TRANSPORT_VEHICLES, data, user_id=None
        )
        record_id = record.id
        registries.deactivate_record(session, registries.TRANSPORT_VEHICLES, record, user_id=None)
        # a carrier is not uploaded
        registries.create_record(
            session,
            registries.CARRIERS,
            registries.CarrierIn.model_validate(
                {"site_id": str(tenant_a.site_id), "name": "唐山运输公司"}
            ),
            user_id=None,
        )
    rows = uploads(app, tenant_a)
    assert [(r.kind, r.revision, r.key) for r in rows] == [
        ("transport_vehicle", 1, f"transport_vehicle:{record_id}:r1"),
        ("transport_vehicle", 2, f"transport_vehicle:{record_id}:r2"),
    ]
    assert {r.config_id for r in rows} == {config}
    assert all(r.source_id == str(record_id) for r in rows)


def test_gates_once_unless_changed_and_daily_counts_per_beijing_day(
    app: Flask, tenant_a: TenantFixture
) -> None:
    make_config(app, tenant_a, "http://127.0.0.1:9/a")
    # Beijing 2026-03-02 runs from 03-01 16:00 UTC to 03-02 16:00 UTC
    inside = [
        datetime(2026, 3, 1, 16, 0, tzinfo=UTC),
        datetime(2026, 3, 2, 15, 59, tzinfo=UTC),
        datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
    ]
    outside = [datetime(2026, 3, 1, 15, 59, tzinfo=UTC), datetime(2026, 3, 2, 16, 0, tzinfo=UTC)]
    bodies = [passage_body(captured_at=t, gate="1", lane="01") for t in inside[:2]]
    bodies.append(passage_body(captured_at=inside[2], gate="2", lane="01"))
    bodies += [passage_body(captured_at=t, gate="1", lane="01") for t in outside]
    ingest(app, tenant_a, bodies)
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        site = session.get(Site, tenant_a.site_id)
        assert site is not None
        assert outbox.daily_counts(session, site.id, date(2026, 3, 2)) == {
            ("1", "01"): 2,
            ("2", "01"): 1,
        }
        assert outbox.enqueue_daily_counts(session, site, date(2026, 3, 2)) == 2
        assert outbox.enqueue_daily_counts(session, site, date(2026, 3, 2)) == 0  # same keys
        assert outbox.enqueue_gates(session, site) == 2
        assert outbox.enqueue_gates(session, site) == 0  # registered already
        assert outbox.enqueue_gates(session, site, [("1", "01")], changed=True) == 1
        session.commit()
    keys = [r.key for r in uploads(app, tenant_a) if r.kind != "passage"]
    assert keys == [
        "daily:2026-03-02:1:01",
        "daily:2026-03-02:2:01",
        "gate:1:01:r1",
        "gate:1:01:r2",
        "gate:2:01:r1",
    ]


def test_commit_enqueues_a_relay_job_that_delivers(
    app: Flask, tenant_a: TenantFixture, receiver: Receiver
) -> None:
    make_config(app, tenant_a, receiver.url)
    queue = jobs.queue("default", app)
    queue.empty()
    ids = ingest(app, tenant_a, [passage_body(), passage_body()], app_context=True)
    job_ids = queue.get_job_ids()
    assert f"regulator-{tenant_a.tenant_id.hex}" in job_ids
    with app.app_context():
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert sorted(receiver.accepted) == sorted(f"passage:{i}" for i in ids)
    assert {r.status for r in uploads(app, tenant_a)} == {"accepted"}
    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Passage)) == 2


def test_no_trigger_after_rollback(app: Flask, tenant_a: TenantFixture) -> None:
    make_config(app, tenant_a, "http://127.0.0.1:9/a")
    queue = jobs.queue("default", app)
    queue.empty()
    batch = PassageBatch.model_validate({"passages": [passage_body()]})
    with (
        app.app_context(),
        tenant_context(tenant_a.tenant_id),
        get_database(app).sessionmaker() as session,
    ):
        site = session.get(Site, tenant_a.site_id)
        assert site is not None
        _ingest_once(session, site, batch, None)
        session.rollback()
        session.commit()  # an empty commit afterwards triggers nothing
    assert queue.get_job_ids() == []
    assert uuid.UUID(str(tenant_a.tenant_id))  # the tenant exists; nothing was queued for it
