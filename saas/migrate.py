"""Schema migrations (Alembic, one linear history) and the PostgreSQL application role grants.

Migrations run as the owner role (``MIGRATION_DATABASE_URL``); the app connects as a role that
is neither owner, superuser nor BYPASSRLS (``DATABASE_URL``), so row-level security binds it.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Tables the application may only read and append to (tamper evidence, audit).
APPEND_ONLY_TABLES = (
    "audit_events",
    "registry_changes",
    "passages",
    "ledger_events",
    "ledger_checkpoints",
)


def include_name(name: str | None, type_: str, _parent: object) -> bool:
    """Autogenerate ignores the monthly partitions of ``passages`` (managed at run time)."""
    from saas.ledger.partitions import is_partition_table

    return not (type_ == "table" and name is not None and is_partition_table(name))


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def upgrade(migration_url: str, app_url: str | None = None, revision: str = "head") -> None:
    """Apply migrations as the owner, then grant the app role what it needs (PostgreSQL)."""
    engine = create_engine(migration_url, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), revision)
            if connection.dialect.name == "postgresql":
                from datetime import UTC, datetime

                from saas.ledger import partitions

                role = app_role_of(migration_url, app_url) if app_url else None
                grant_app_role(connection, role)
                # 25 months back (late edge uploads) to 3 months ahead.
                now = datetime.now(UTC).date()
                partitions.ensure(connection, partitions.add_months(now, -25), 29, role)
    finally:
        engine.dispose()


def app_role_of(migration_url: str, app_url: str) -> str | None:
    owner = make_url(migration_url).username
    app = make_url(app_url).username
    return app if app and app != owner else None


def grant_app_role(connection: Connection, role: str | None) -> None:
    """Idempotent grants: DML on every table, except read+append on append-only tables."""
    if not role:
        return
    quoted = connection.dialect.identifier_preparer.quote(role)
    connection.execute(text(f"GRANT USAGE ON SCHEMA public TO {quoted}"))
    connection.execute(
        text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted}")
    )
    connection.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {quoted}"))
    for table in APPEND_ONLY_TABLES:
        connection.execute(text(f"REVOKE UPDATE, DELETE ON {table} FROM {quoted}"))
    connection.execute(text(f"REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM {quoted}"))
    # Partitions are reached through their parent only.
    for child in connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE c.relkind IN ('r', 'p')"
        )
    ).scalars():
        connection.execute(text(f"REVOKE ALL ON {child} FROM {quoted}"))


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
