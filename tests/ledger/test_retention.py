"""Retention drops whole expired partitions, never anything younger than 24 months, honours a
tenant's longer retention, and leaves a chain that still verifies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from flask import Flask
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.pool import NullPool

from saas.db import get_database
from saas.ledger import partitions
from saas.ledger.retention import months_before
from saas.models.ledger import Passage
from saas.models.tenancy import Tenant
from saas.tenancy import system_context
from tests.conftest import Backend, make_tenant
from tests.ledger.edge_helpers import make_device, passage, post_batch

NOW = datetime.now(UTC)


def _ages(app: Flask, site_id: object) -> list[int]:
    with get_database(app).sessionmaker() as session, system_context("test"):
        rows = session.scalars(select(Passage.captured_at).where(Passage.site_id == site_id))
        return sorted((NOW - moment).days // 30 for moment in rows)


def _seed(backend: Backend, months_ago: list[int]) -> object:
    app = backend.app
    if backend.pg is not None:
        engine = create_engine(backend.pg.owner_url, poolclass=NullPool)
        with engine.begin() as conn:
            partitions.ensure(conn, partitions.add_months(NOW.date(), -40), 42, "cleangate_app")
        engine.dispose()
    tenant = make_tenant(app, "ret")
    device = make_device(app, tenant.tenant_id, tenant.site_id)
    items = [passage(captured_at=(NOW - timedelta(days=31 * m)).isoformat()) for m in months_ago]
    assert post_batch(app.test_client(), device, items).status_code == 200
    return tenant


def _run(app: Flask) -> dict[str, object]:
    result = app.test_cli_runner().invoke(args=["ledger", "retention"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_expired_records_go_and_the_chain_still_verifies(backend: Backend) -> None:
    app = backend.app
    with get_database(app).sessionmaker() as session, system_context("test"):
        longest = session.scalar(select(func.max(Tenant.ledger_retention_months)))
    assert longest is None  # this test relies on no other tenant keeping longer
    tenant = _seed(backend, [30, 27, 23, 1, 0])
    report = _run(app)
    ages = _ages(app, tenant.site_id)
    assert len(ages) == 3  # 30 and 27 months gone, 23 months and younger kept
    if backend.pg is not None:
        assert report["dropped_partitions"]
    verify = app.test_cli_runner().invoke(args=["ledger", "verify", "--site", str(tenant.site_id)])
    assert verify.exit_code == 0, verify.output


def test_longer_tenant_retention_keeps_records(backend: Backend) -> None:
    app = backend.app
    tenant = _seed(backend, [30, 1])
    with get_database(app).sessionmaker() as session, system_context("test"):
        row = session.get(Tenant, tenant.tenant_id)
        assert row is not None
        row.ledger_retention_months = 36
        session.commit()
    try:
        _run(app)
        assert len(_ages(app, tenant.site_id)) == 2
    finally:
        with get_database(app).sessionmaker() as session, system_context("test"):
            row = session.get(Tenant, tenant.tenant_id)
            assert row is not None
            row.ledger_retention_months = None
            session.commit()


def test_retention_shorter_than_the_law_is_refused(app: Flask) -> None:
    import pytest
    from sqlalchemy.exc import IntegrityError

    tenant = make_tenant(app, "short")
    with get_database(app).sessionmaker() as session, system_context("test"):
        row = session.get(Tenant, tenant.tenant_id)
        assert row is not None
        row.ledger_retention_months = 12
        with pytest.raises(IntegrityError):
            session.commit()
    assert months_before(NOW, 24) < NOW - timedelta(days=700)


def test_app_role_cannot_run_retention_deletes(pg_backend: Backend) -> None:
    assert pg_backend.pg is not None
    engine = create_engine(pg_backend.pg.app_url, poolclass=NullPool)
    with engine.connect() as conn:
        conn.execute(text("SELECT set_config('cleangate.retention', 'on', false)"))
        conn.execute(text("SELECT set_config('app.system', 'on', false)"))
        import pytest

        with pytest.raises(Exception, match="permission denied"):
            conn.execute(text("DELETE FROM passages"))
    engine.dispose()
