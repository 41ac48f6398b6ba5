"""Shared fixtures. Every database test runs on SQLite and on PostgreSQL (as the non-owner app
role, so RLS binds). Fixtures always build two tenants with overlapping natural keys."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from saas import migrate
from saas.app import create_app
from saas.auth.passwords import hash_password, use_fast_hashing_for_tests
from saas.db import get_database
from saas.models.identity import Role, User
from saas.settings import Settings
from saas.tenancy import system_context
from tenants.provisioning import TenantCreate, create_tenant
from tests import services

VALID_USCC = "91350100M000100Y43"
SHARED_SITE_NAME = "一号焦化厂"  # the same natural key in both tenants
PASSWORD = "Correct-Horse-9"

use_fast_hashing_for_tests()


@dataclass
class Backend:
    name: str
    app: Flask
    pg: services.PgDatabase | None = None


def _settings(
    tmp: Path, database_url: str, migration_url: str | None = None, **overrides: object
) -> Settings:
    return Settings.from_env(
        {
            "CLEANGATE_VAR_DIR": str(tmp),
            "DATABASE_URL": database_url,
            "MIGRATION_DATABASE_URL": migration_url or database_url,
            "LOGIN_IP_LIMIT_PER_MINUTE": "100000",
        },
        testing=True,
        **overrides,
    )


@pytest.fixture(scope="session")
def sqlite_backend(tmp_path_factory: pytest.TempPathFactory) -> Backend:
    tmp = tmp_path_factory.mktemp("sqlite")
    url = f"sqlite:///{tmp / 'test.db'}"
    migrate.upgrade(url)
    return Backend("sqlite", create_app(_settings(tmp, url)))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[services.PgDatabase]:
    db = services.create_pg_database()
    migrate.upgrade(db.owner_url, db.app_url)
    yield db
    services.drop_pg_database(db)


@pytest.fixture(scope="session")
def pg_backend(
    pg_database: services.PgDatabase, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    tmp = tmp_path_factory.mktemp("pg")
    app = create_app(_settings(tmp, pg_database.app_url, pg_database.owner_url))
    yield Backend("postgresql", app, pg_database)
    get_database(app).dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> Backend:
    name = "pg_backend" if request.param == "postgresql" else "sqlite_backend"
    return request.getfixturevalue(name)  # type: ignore[no-any-return]


@pytest.fixture
def app(backend: Backend) -> Flask:
    return backend.app


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@dataclass
class TenantFixture:
    tenant_id: uuid.UUID
    site_id: uuid.UUID
    admin_id: uuid.UUID
    admin_username: str
    slug: str


def make_tenant(app: Flask, label: str = "t") -> TenantFixture:
    slug = f"{label}-{uuid.uuid4().hex[:8]}"
    with get_database(app).sessionmaker() as session:
        result = create_tenant(
            session,
            TenantCreate(
                name=f"{label} 集团",
                slug=slug,
                site={
                    "name": SHARED_SITE_NAME,
                    "uscc": VALID_USCC,
                    "region_code": "130200",
                    "industry": "coking",
                    "rating": "B",
                },
            ),
        )
        with system_context("test: fixed password"):
            admin = session.get(User, result.admin_user_id)
            assert admin is not None
            admin.password_hash = hash_password(PASSWORD)
            admin.must_change_password = False
            session.commit()
    return TenantFixture(
        result.tenant_id, result.site_id, result.admin_user_id, result.admin_username, slug
    )


def make_user(
    app: Flask, role: Role, tenant_id: uuid.UUID | None, *, email: str | None = None
) -> User:
    with get_database(app).sessionmaker() as session, system_context("test: user"):
        user = User(
            tenant_id=tenant_id,
            username=f"{role.value}-{uuid.uuid4().hex[:8]}@x",
            display_name=f"{role.value} user",
            role=role,
            email=email,
            password_hash=hash_password(PASSWORD),
        )
        session.add(user)
        session.commit()
        return user


@pytest.fixture
def tenant_a(app: Flask) -> TenantFixture:
    return make_tenant(app, "a")


@pytest.fixture
def tenant_b(app: Flask) -> TenantFixture:
    return make_tenant(app, "b")


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(client: FlaskClient, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    match = _CSRF.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: FlaskClient, username: str, password: str = PASSWORD, **environ: str) -> int:
    token = csrf_from(client)
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        environ_base=environ,
    )
    return response.status_code


def api_csrf(client: FlaskClient) -> str:
    """The CSRF token a logged-in browser client sends as X-CSRFToken on unsafe API calls."""
    token = client.get("/api/v1/me").get_json()["csrf_token"]
    assert token
    return str(token)
