"""PostgreSQL row-level security, checked directly in the database (PostgreSQL only)."""

from __future__ import annotations

import uuid

import pytest
from flask import Flask
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import QueuePool

from saas.db import Base, Database
from saas.tenancy import tenant_context
from tests.conftest import Backend, TenantFixture, make_tenant


@pytest.fixture
def pg(pg_backend: Backend) -> Backend:
    return pg_backend


@pytest.fixture
def app(pg_backend: Backend) -> Flask:
    """This module is PostgreSQL only: tenant fixtures are created there."""
    return pg_backend.app


def _tenant_tables() -> dict[str, str]:
    import saas.models  # noqa: F401

    tables = {}
    for table in Base.metadata.sorted_tables:
        if "tenant_id" in table.c:
            tables[table.name] = "tenant_id"
    tables["tenants"] = "id"
    return tables


def test_app_role_is_not_owner_superuser_or_bypassrls(pg: Backend) -> None:
    assert pg.pg is not None
    engine = create_engine(pg.pg.app_url)
    with engine.connect() as conn:
        role = conn.execute(
            text(
                "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
            )
        ).one()
        assert role.rolsuper is False
        assert role.rolbypassrls is False
        owned = (
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = current_user"
                )
            )
            .scalars()
            .all()
        )
        assert owned == []
    engine.dispose()


def test_every_tenant_table_forces_rls(pg: Backend) -> None:
    assert pg.pg is not None
    engine = create_engine(pg.pg.owner_url)
    with engine.connect() as conn:
        flags = {
            row.relname: (row.relrowsecurity, row.relforcerowsecurity)
            for row in conn.execute(
                text(
                    "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')"
                )
            )
        }
        # any table in the database with a tenant_id column, partitions included
        with_tenant_column = set(
            conn.execute(
                text(
                    "SELECT table_name FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND column_name = 'tenant_id'"
                )
            ).scalars()
        )
    engine.dispose()
    expected = set(_tenant_tables()) | with_tenant_column
    missing = {t for t in expected if flags.get(t) != (True, True)}
    assert not missing, f"tables without FORCE ROW LEVEL SECURITY: {sorted(missing)}"


def _visible_sites(conn: object, tenant: uuid.UUID | None) -> set[uuid.UUID]:
    if tenant is not None:
        conn.execute(
            text("SELECT set_config('app.tenant_id', :t, true)"),  # type: ignore[attr-defined]
            {"t": str(tenant)},
        )
    rows = conn.execute(text("SELECT id FROM sites")).scalars()  # type: ignore[attr-defined]
    return set(rows)


def test_raw_sql_as_app_role_is_isolated(
    pg: Backend, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    assert pg.pg is not None
    engine = create_engine(pg.pg.app_url)
    with engine.begin() as conn:
        assert _visible_sites(conn, None) == set()  # fails closed
    with engine.begin() as conn:
        seen = _visible_sites(conn, tenant_a.tenant_id)
        assert tenant_a.site_id in seen
        assert tenant_b.site_id not in seen
    with engine.begin() as conn:
        conn.execute(
            text("SELECT set_config('app.tenant_id', :t, true)"), {"t": str(tenant_a.tenant_id)}
        )
        with pytest.raises(Exception, match="row-level security"):
            conn.execute(
                text(
                    "INSERT INTO sites (id, tenant_id, name, uscc, region_code, industry, rating,"
                    " created_at) VALUES (:id, :t, 'x', 'x', '130200', 'coking', 'B', now())"
                ),
                {"id": uuid.uuid4(), "t": tenant_b.tenant_id},
            )
    engine.dispose()


def test_no_tenant_setting_survives_a_pooled_transaction(
    pg: Backend, tenant_a: TenantFixture
) -> None:
    """One pooled connection: tenant A's transaction, then a transaction with no context."""
    assert pg.pg is not None
    database = Database(pg.pg.app_url)
    database.engine.dispose()
    database.engine = create_engine(pg.pg.app_url, poolclass=QueuePool, pool_size=1, max_overflow=0)
    database.sessionmaker.configure(bind=database.engine)
    with tenant_context(tenant_a.tenant_id), database.sessionmaker() as session:
        pid_a = session.execute(text("SELECT pg_backend_pid()")).scalar()
        assert tenant_a.site_id in set(session.execute(text("SELECT id FROM sites")).scalars())
        session.commit()
    with database.sessionmaker() as session:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
        assert pid == pid_a, "the test must reuse the same pooled connection"
        assert session.execute(text("SELECT current_setting('app.tenant_id', true)")).scalar() in (
            "",
            None,
        )
        assert session.execute(text("SELECT count(*) FROM sites")).scalar() == 0
    # a session-level SET would leak; make sure that is what the pool would have shown
    with database.engine.connect() as conn:
        conn.execute(
            text("SELECT set_config('app.tenant_id', :t, false)"), {"t": str(tenant_a.tenant_id)}
        )
        conn.commit()
        assert conn.execute(text("SELECT count(*) FROM sites")).scalar() >= 1  # the leak
        conn.execute(text("RESET app.tenant_id"))
        conn.commit()
    database.dispose()


def test_partition_children_would_be_checked(pg: Backend) -> None:
    """Guard against tables the models do not know: every table with tenant_id is classified."""
    assert pg.pg is not None
    engine = create_engine(pg.pg.owner_url)
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    assert set(_tenant_tables()) <= names


def test_new_tenant_creation_as_app_role(pg: Backend) -> None:
    """Provisioning works through RLS with the system context (WITH CHECK passes)."""
    fixture = make_tenant(pg.app, "rls")
    assert isinstance(fixture.tenant_id, uuid.UUID)


def test_rows_are_written_under_the_context_in_force_at_flush(
    app: Flask, tenant_a: TenantFixture, tenant_b: TenantFixture
) -> None:
    """A read sets the database's tenant setting; a later flush in another context must not
    inherit it (RLS WITH CHECK judges the insert by the context that writes it)."""
    from sqlalchemy import select

    from saas.auth import audit
    from saas.db import get_database
    from saas.models.identity import AuditEvent
    from saas.models.tenancy import Site
    from saas.tenancy import system_context

    with tenant_context(tenant_a.tenant_id), get_database(app).sessionmaker() as session:
        assert session.scalars(select(Site.id)).all() == [tenant_a.site_id]  # tenant A's read
        with system_context("test: provider event"):
            audit.record(session, "test.provider_event", tenant_id=None)  # a provider row
            session.flush()
        session.commit()
    with system_context("test"), get_database(app).sessionmaker() as session:
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.event == "test.provider_event")
        )
        assert [e.tenant_id for e in events] == [None]
        assert session.scalars(select(Site.id)).all()  # a system read in the same transaction
        with tenant_context(tenant_b.tenant_id):
            audit.record(session, "test.b_event", tenant_id=tenant_a.tenant_id)
            # Tenant B may not write tenant A's row, whatever the last read's setting was.
            with pytest.raises(Exception, match=r"row-level security|belongs to another"):
                session.flush()
