"""Access to the real PostgreSQL and Redis services for tests.

Without them the suite falls back to SQLite and the embedded Redis substitute and skips only
what truly needs the real service; with CLEANGATE_REQUIRE_SERVICES=1 (CI) such a skip is a
failure instead.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from saas.settings import normalize_database_url

REQUIRE = os.environ.get("CLEANGATE_REQUIRE_SERVICES", "") == "1"
ADMIN_URL = normalize_database_url(
    os.environ.get("CLEANGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
)
REDIS_URL = os.environ.get("CLEANGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

OWNER_ROLE = "cleangate_owner"
APP_ROLE = "cleangate_app"


def unavailable(what: str, why: object) -> None:
    message = f"{what} is not available: {why}"
    if REQUIRE:
        pytest.fail(message + " (CLEANGATE_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


@dataclass(frozen=True)
class PgDatabase:
    name: str
    owner_url: str
    app_url: str
    admin_url: str


def create_pg_database() -> PgDatabase:
    """A scratch database owned by a non-superuser owner role, plus a separate app role that is
    neither owner, superuser nor BYPASSRLS — the production arrangement."""
    admin = create_engine(
        ADMIN_URL,
        poolclass=NullPool,
        isolation_level="AUTOCOMMIT",
        connect_args={"connect_timeout": 3},
    )
    try:
        with admin.connect() as conn:
            for role in (OWNER_ROLE, APP_ROLE):
                exists = conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
                if not exists:
                    conn.execute(
                        text(
                            f"CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS"
                            " NOCREATEDB NOCREATEROLE"
                        )
                    )
            name = f"cleangate_test_{uuid.uuid4().hex[:12]}"
            conn.execute(text(f"CREATE DATABASE {name} OWNER {OWNER_ROLE}"))
    except Exception as exc:
        admin.dispose()
        unavailable("PostgreSQL", exc)
        raise
    admin.dispose()
    base = make_url(ADMIN_URL).set(database=name)
    return PgDatabase(
        name=name,
        owner_url=base.set(username=OWNER_ROLE, password=None).render_as_string(False),
        app_url=base.set(username=APP_ROLE, password=None).render_as_string(False),
        admin_url=base.render_as_string(False),
    )


def drop_pg_database(db: PgDatabase) -> None:
    admin = create_engine(ADMIN_URL, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
            {"d": db.name},
        )
        conn.execute(text(f"DROP DATABASE IF EXISTS {db.name}"))
    admin.dispose()


def real_redis():  # type: ignore[no-untyped-def]
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except Exception as exc:
        unavailable("Redis", exc)
    return client
