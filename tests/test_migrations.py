"""One linear Alembic history that runs on SQLite and PostgreSQL and matches the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

import saas.models  # noqa: F401
from saas import migrate
from saas.db import Base
from tests import services
from tests.conftest import Backend


def test_one_linear_history() -> None:
    script = migrate.script_directory()
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1
    for revision in script.walk_revisions():
        assert not isinstance(revision.down_revision, tuple), "no merge revisions"


def _diff(url: str) -> list[object]:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": migrate.include_name}
        )
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    return diff


def test_models_match_migrations(backend: Backend) -> None:
    if backend.pg is not None:
        url = backend.pg.owner_url
    else:
        url = backend.app.config["CLEANGATE_SETTINGS"].database_url
    assert _diff(url) == []


def test_sqlite_downgrade_and_upgrade_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    migrate.upgrade(url)
    from alembic import command

    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        command.downgrade(migrate.alembic_config(conn), "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    migrate.upgrade(url)
    assert migrate.current_revision(url) == migrate.script_directory().get_current_head()


def test_postgres_upgrade_is_idempotent(pg_database: services.PgDatabase) -> None:
    migrate.upgrade(pg_database.owner_url, pg_database.app_url)
    assert migrate.current_revision(pg_database.owner_url) == (
        migrate.script_directory().get_current_head()
    )
