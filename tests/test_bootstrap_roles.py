"""`cleangate db bootstrap-roles` on the real PostgreSQL, as an RDS-like master: a scratch admin
role with CREATEROLE (not superuser) owning a scratch database, and scratch owner and app role
names — never the shared cleangate_owner/cleangate_app of the other tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result
from sqlalchemy.engine import make_url

from saas import migrate_cli
from tests import services

CLEANGATE = Path(sys.executable).with_name("cleangate")
# URL-special characters on purpose: the URLs carry them percent-encoded.
ADMIN_PASSWORD = "adm-Secret:9/x"
OWNER_PASSWORD = "own@Secret 1%"
APP_PASSWORD = "app#Secret/2?"


@dataclass
class Scratch:
    database: str
    admin: str
    owner: str
    app: str

    def url(self, role: str, password: str | None, database: str | None = None) -> str:
        base = make_url(services.ADMIN_URL)
        return base.set(
            username=role, password=password, database=database or self.database
        ).render_as_string(hide_password=False)

    def env(self, **changes: str | None) -> dict[str, str | None]:
        env: dict[str, str | None] = {
            "MIGRATION_DATABASE_URL": self.url(self.owner, OWNER_PASSWORD),
            "DATABASE_URL": self.url(self.app, APP_PASSWORD),
            "DB_ADMIN_USER": self.admin,
            "DB_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
        env.update(changes)
        return env


def superuser(database: str | None = None) -> psycopg.Connection[Any]:
    url = make_url(services.ADMIN_URL)
    if database:
        url = url.set(database=database)
    return psycopg.connect(
        url.set(drivername="postgresql").render_as_string(hide_password=False),
        autocommit=True,
        connect_timeout=3,
    )


@pytest.fixture
def scratch() -> Iterator[Scratch]:
    tag = uuid.uuid4().hex[:10]
    found = Scratch(f"cgt_boot_{tag}", f"cgt_adm_{tag}", f"cgt_own_{tag}", f"cgt_app_{tag}")
    try:
        conn = superuser()
    except psycopg.Error as exc:
        services.unavailable("PostgreSQL", exc)
        raise
    with conn:
        # The RDS master: CREATEROLE and CREATEDB, not a superuser, owner of the database.
        conn.execute(
            f"CREATE ROLE {found.admin} LOGIN CREATEROLE CREATEDB NOSUPERUSER"
            f" PASSWORD '{ADMIN_PASSWORD}'"
        )
        conn.execute(f"CREATE DATABASE {found.database} OWNER {found.admin}")
    try:
        yield found
    finally:
        with superuser() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {found.database} WITH (FORCE)")
            for role in (found.owner, found.app, found.admin):
                conn.execute(f"DROP ROLE IF EXISTS {role}")


def bootstrap(env: dict[str, str | None], *args: str) -> Result:
    return CliRunner().invoke(migrate_cli.db_group, ["bootstrap-roles", *args], env=env)


def cleangate(
    tmp_path: Path, env: dict[str, str | None], *args: str
) -> subprocess.CompletedProcess[str]:
    """The real `cleangate` command, as the one-off migrate task runs it."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("DB_ADMIN_", "CLEANGATE_"))}
    full.pop("DATABASE_URL", None)
    full.pop("MIGRATION_DATABASE_URL", None)
    full["CLEANGATE_VAR_DIR"] = str(tmp_path)
    full.update({k: v for k, v in env.items() if v is not None})
    return subprocess.run(
        [str(CLEANGATE), *args], env=full, capture_output=True, text=True, timeout=120, check=False
    )


def verifies(role: str, password: str) -> bool:
    """Whether the stored SCRAM-SHA-256 verifier is that of ``password`` (RFC 5802/7677): the
    test server trusts every local login, so the catalogue is where a password shows."""
    with superuser() as conn:
        row = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,))
        (stored,) = row.fetchone() or (None,)
    if not stored:
        return False
    method, rest = stored.split("$", 1)
    assert method == "SCRAM-SHA-256"
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return (
        hashlib.sha256(client_key).digest() == stored_key
        and hmac.new(salted, b"Server Key", "sha256").digest() == server_key
    )


def state(s: Scratch) -> dict[str, Any]:
    """Everything bootstrap-roles may touch, as the superuser sees it (passwords aside)."""
    roles = (s.owner, s.app)
    with superuser() as conn:
        attributes = conn.execute(
            "SELECT rolname, rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, rolcanlogin,"
            " rolinherit, rolreplication FROM pg_roles WHERE rolname = ANY(%s) ORDER BY 1",
            (list(roles),),
        ).fetchall()
        members = conn.execute(
            "SELECT roleid::regrole::text, member::regrole::text FROM pg_auth_members"
            " WHERE roleid::regrole::text = ANY(%s) OR member::regrole::text = ANY(%s)"
            " ORDER BY 1, 2",
            (list(roles), list(roles)),
        ).fetchall()
        database = conn.execute(
            "SELECT datdba::regrole::text, datacl::text FROM pg_database WHERE datname = %s",
            (s.database,),
        ).fetchone()
    with superuser(s.database) as conn:
        schema = conn.execute(
            "SELECT nspowner::regrole::text, nspacl::text FROM pg_namespace"
            " WHERE nspname = 'public'"
        ).fetchone()
        tables = conn.execute(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
    return {
        "attributes": attributes,
        "members": members,
        "database": database,
        "schema": schema,
        "tables": tables,
    }


def no_secret_in(text: str) -> None:
    for secret in (ADMIN_PASSWORD, OWNER_PASSWORD, APP_PASSWORD, "SCRAM-SHA-256"):
        assert secret not in text


def test_first_run_creates_the_roles_then_upgrade_works_and_reruns_are_idempotent(
    scratch: Scratch, tmp_path: Path
) -> None:
    first = cleangate(tmp_path, scratch.env(), "db", "bootstrap-roles")
    assert first.returncode == 0, first.stderr
    no_secret_in(first.stdout + first.stderr)
    assert f"role {scratch.owner}: created" in first.stdout
    assert f"role {scratch.app}: created" in first.stdout
    assert verifies(scratch.owner, OWNER_PASSWORD)
    assert verifies(scratch.app, APP_PASSWORD)
    created = state(scratch)
    assert created["attributes"] == [
        # rolname, super, bypassrls, createdb, createrole, login, inherit, replication
        (scratch.app, False, False, False, False, True, True, False),
        (scratch.owner, False, False, False, False, True, True, False),
    ]
    assert created["members"] == []  # nobody is made a member of anybody
    assert created["database"][0] == scratch.admin  # the database stays the admin's
    assert f"{scratch.owner}=c/" in created["database"][1]
    assert f"{scratch.app}=c/" in created["database"][1]
    assert f"{scratch.owner}=UC/" in created["schema"][1]
    assert f"{scratch.app}=U/" in created["schema"][1]

    # `cleangate db upgrade` then works as the owner, and grants the app role.
    upgraded = cleangate(tmp_path, scratch.env(), "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "database at" in upgraded.stdout
    tables = state(scratch)["tables"]
    assert len(tables) > 20
    assert {owner for _table, owner in tables} == {scratch.owner}
    # The app role reads but does not own: no DDL on the tables, no new tables in public.
    with psycopg.connect(
        make_url(scratch.url(scratch.app, APP_PASSWORD))
        .set(drivername="postgresql")
        .render_as_string(hide_password=False),
        autocommit=True,
    ) as app:
        assert app.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
        for statement in (
            "ALTER TABLE tenants DISABLE ROW LEVEL SECURITY",
            "DROP TABLE alembic_version",
            "CREATE TABLE app_was_here (x int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(statement)

    # A second run changes nothing (the passwords are set again, to the same values).
    before = state(scratch)
    second = bootstrap(scratch.env())
    assert second.exit_code == 0, second.output
    no_secret_in(second.output)
    assert "created" not in second.output
    assert "granted" not in second.output
    assert f"role {scratch.owner}: exists, attributes as wanted" in second.output
    assert f"schema public: {scratch.owner} already has CREATE, USAGE" in second.output
    assert state(scratch) == before
    assert verifies(scratch.owner, OWNER_PASSWORD)
    assert verifies(scratch.app, APP_PASSWORD)

    # A changed password is applied (and only that).
    new_password = "app-Rotated/3"
    rotated = bootstrap(scratch.env(DATABASE_URL=scratch.url(scratch.app, new_password)))
    assert rotated.exit_code == 0, rotated.output
    assert new_password not in rotated.output
    assert verifies(scratch.app, new_password)
    assert not verifies(scratch.app, APP_PASSWORD)
    assert verifies(scratch.owner, OWNER_PASSWORD)
    assert state(scratch) == before


def test_a_role_that_drifted_is_put_back(scratch: Scratch) -> None:
    with superuser() as conn:
        conn.execute(f"CREATE ROLE {scratch.app} NOLOGIN CREATEDB")
    result = bootstrap(scratch.env())
    assert result.exit_code == 0, result.output
    assert f"role {scratch.app}: exists, set LOGIN NOCREATEDB and password (re)set" in (
        result.output
    )
    attributes = {row[0]: row[1:] for row in state(scratch)["attributes"]}
    assert attributes[scratch.app] == (False, False, False, False, True, True, False)
    assert verifies(scratch.app, APP_PASSWORD)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"MIGRATION_DATABASE_URL": None}, "MIGRATION_DATABASE_URL is not set"),
        ({"DATABASE_URL": ""}, "DATABASE_URL is not set"),
        ({"DATABASE_URL": "sqlite:///var/cleangate.db"}, "DATABASE_URL must name PostgreSQL"),
        ({"MIGRATION_DATABASE_URL": "mysql://u:p@h/db"}, "MIGRATION_DATABASE_URL must name"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL is not a database URL"),
        ({"DB_ADMIN_USER": None}, "DB_ADMIN_USER"),
        ({"DB_ADMIN_PASSWORD": None}, "DB_ADMIN_PASSWORD"),
    ],
)
def test_bad_environment_exits_2_naming_it_and_changes_nothing(
    scratch: Scratch, changes: dict[str, str | None], message: str
) -> None:
    before = state(scratch)
    result = bootstrap(scratch.env(**changes))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "nothing changed" in result.output
    no_secret_in(result.output)
    assert state(scratch) == before
    assert before["attributes"] == []  # the roles were never created


def test_urls_that_do_not_fit_together_exit_2_and_change_nothing(scratch: Scratch) -> None:
    before = state(scratch)
    other_host = make_url(scratch.url(scratch.app, APP_PASSWORD)).set(host="localhost")
    cases = [
        (
            {"DATABASE_URL": scratch.url(scratch.app, APP_PASSWORD, database="elsewhere")},
            "must name the same host, port and database",
        ),
        (
            {"DATABASE_URL": other_host.render_as_string(hide_password=False)},
            "must name the same host, port and database",
        ),
        (
            {"DATABASE_URL": scratch.url(scratch.owner, APP_PASSWORD)},
            f"name the same role '{scratch.owner}'",
        ),
        (
            {"DATABASE_URL": scratch.url(scratch.admin, APP_PASSWORD)},
            f"DATABASE_URL names the admin user '{scratch.admin}'",
        ),
        ({"DATABASE_URL": scratch.url(scratch.app, None)}, "DATABASE_URL has no password"),
        (
            {"MIGRATION_DATABASE_URL": scratch.url("pg_owner", OWNER_PASSWORD)},
            "MIGRATION_DATABASE_URL: 'pg_owner' cannot be a role name",
        ),
    ]
    for changes, message in cases:
        result = bootstrap(scratch.env(**changes))
        assert result.exit_code == 2, (changes, result.output)
        assert message in result.output, result.output
        no_secret_in(result.output)
    assert state(scratch) == before


def test_an_existing_role_that_passes_rls_is_refused_and_nothing_is_created(
    scratch: Scratch,
) -> None:
    with superuser() as conn:
        conn.execute(f"CREATE ROLE {scratch.app} LOGIN BYPASSRLS")
    before = state(scratch)
    result = bootstrap(scratch.env())
    assert result.exit_code == 2, result.output
    assert f"role '{scratch.app}' exists with BYPASSRLS" in result.output
    # One transaction: the owner role, created first, is rolled back with the rest.
    assert state(scratch) == before
    assert [row[0] for row in before["attributes"]] == [scratch.app]

    with superuser() as conn:
        conn.execute(f"ALTER ROLE {scratch.app} NOBYPASSRLS")
        conn.execute(f"CREATE ROLE {scratch.owner} LOGIN")
        conn.execute(f"GRANT {scratch.owner} TO {scratch.app}")
    result = bootstrap(scratch.env())
    assert result.exit_code == 2, result.output
    assert f"role '{scratch.app}' (DATABASE_URL) is a member of the owner" in result.output


def test_the_real_command_exits_2_on_a_missing_variable(scratch: Scratch, tmp_path: Path) -> None:
    result = cleangate(tmp_path, scratch.env(MIGRATION_DATABASE_URL=None), "db", "bootstrap-roles")
    assert result.returncode == 2, result.stderr
    assert "MIGRATION_DATABASE_URL is not set" in result.stderr
    no_secret_in(result.stdout + result.stderr)


def test_a_server_refusal_exits_1_with_its_message_and_no_secret(scratch: Scratch) -> None:
    result = bootstrap(scratch.env(DB_ADMIN_USER=f"{scratch.admin}_nobody"))
    assert result.exit_code == 1, result.output
    assert "bootstrap-roles failed, nothing changed:" in result.output
    assert f'role "{scratch.admin}_nobody" does not exist' in result.output
    no_secret_in(result.output)
    assert state(scratch)["attributes"] == []


def test_an_admin_that_cannot_grant_what_upgrade_needs_fails_and_changes_nothing(
    scratch: Scratch,
) -> None:
    """Not the database's owner, the admin has no grant option: CONNECT is still held through
    PUBLIC, but without CREATE on public (PostgreSQL 15+) the upgrade would fail — stop."""
    superuser_name = make_url(services.ADMIN_URL).username
    with superuser() as conn:
        conn.execute(f"ALTER DATABASE {scratch.database} OWNER TO {superuser_name}")
    before = state(scratch)
    result = bootstrap(scratch.env())
    assert result.exit_code == 1, result.output
    assert (
        f"CREATE on schema public could not be granted to {scratch.owner}: the admin needs the"
        " grant option there" in result.output
    )
    assert "nothing changed" in result.output
    no_secret_in(result.output)
    assert state(scratch) == before
    assert before["attributes"] == []
