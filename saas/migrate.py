"""Schema migrations (Alembic, one linear history) and the PostgreSQL application role grants.

Migrations run as the owner role (``MIGRATION_DATABASE_URL``); the app connects as a role that
is neither owner, superuser nor BYPASSRLS (``DATABASE_URL``), so row-level security binds it.
On a managed server (RDS) ``cleangate db bootstrap-roles`` creates both roles first, as the
server's admin (``bootstrap_roles``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
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


# --- `cleangate db bootstrap-roles`: the two roles on a managed PostgreSQL (RDS) ---------------

ROLE_ATTRIBUTES = "LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE"
RESERVED_ROLE_NAMES = {"public", "none", "current_user", "session_user", "current_role"}


class BootstrapRefused(ValueError):
    """The environment or the server's roles do not allow a safe bootstrap (nothing changed)."""


class BootstrapFailed(RuntimeError):
    """The admin could not do what the roles need (nothing changed)."""


@dataclass(frozen=True)
class RolesPlan:
    """Who gets created where: read from the two URLs, checked before any connection."""

    host: str | None
    port: int | None
    database: str
    query: dict[str, str]
    owner: str
    owner_password: str = field(repr=False)
    app: str
    app_password: str = field(repr=False)


def plan_roles(migration_url: str | None, app_url: str | None, admin_user: str | None) -> RolesPlan:
    """Check the owner's and the app's URLs and the admin user name; raise
    ``BootstrapRefused`` naming the variable at fault. URLs are never echoed (passwords)."""
    owner_url = _pg_url("MIGRATION_DATABASE_URL", migration_url)
    app_url_ = _pg_url("DATABASE_URL", app_url)
    if _where(owner_url) != _where(app_url_):
        raise BootstrapRefused(
            "MIGRATION_DATABASE_URL and DATABASE_URL must name the same host, port and database;"
            f" got {_where(owner_url)} and {_where(app_url_)}"
        )
    owner, app = owner_url.username or "", app_url_.username or ""
    if owner == app:
        raise BootstrapRefused(
            f"MIGRATION_DATABASE_URL and DATABASE_URL name the same role {owner!r}: the app role"
            " must not be the owner (row-level security would not bind it)"
        )
    if not admin_user:
        raise BootstrapRefused("--admin-user (or DB_ADMIN_USER) is not set")
    for variable, role in (("MIGRATION_DATABASE_URL", owner), ("DATABASE_URL", app)):
        if role == admin_user:
            raise BootstrapRefused(
                f"{variable} names the admin user {role!r}: the owner and app roles must be"
                " their own roles, without the admin's powers"
            )
    query = {k: v if isinstance(v, str) else v[-1] for k, v in owner_url.query.items()}
    return RolesPlan(
        host=owner_url.host,
        port=owner_url.port,
        database=owner_url.database or "",
        query=query,
        owner=owner,
        owner_password=owner_url.password or "",  # type: ignore[arg-type]
        app=app,
        app_password=app_url_.password or "",  # type: ignore[arg-type]
    )


def _pg_url(variable: str, raw: str | None) -> URL:
    if not raw or not raw.strip():
        raise BootstrapRefused(f"{variable} is not set")
    from saas.settings import normalize_database_url

    try:
        url = make_url(normalize_database_url(raw.strip()))
    except ArgumentError:
        raise BootstrapRefused(f"{variable} is not a database URL") from None
    if url.get_backend_name() != "postgresql":
        raise BootstrapRefused(
            f"{variable} must name PostgreSQL (postgresql://…), not {url.get_backend_name()!r}"
        )
    if not url.database:
        raise BootstrapRefused(f"{variable} names no database")
    role = url.username or ""
    if not role:
        raise BootstrapRefused(f"{variable} names no user (the role to create)")
    if len(role.encode()) > 63 or role.lower() in RESERVED_ROLE_NAMES or role.startswith("pg_"):
        raise BootstrapRefused(
            f"{variable}: {role!r} cannot be a role name (at most 63 bytes, not reserved)"
        )
    if not url.password:
        raise BootstrapRefused(f"{variable} has no password for role {role!r}")
    return url


def _where(url: URL) -> str:
    return f"{(url.host or '(local socket)').lower()}:{url.port or 5432}/{url.database}"


def bootstrap_roles(plan: RolesPlan, admin_user: str, admin_password: str) -> list[str]:
    """Create (or align) the owner and the app role as the admin, in one transaction (a refusal
    or an error changes nothing), and return what was done, one line each.

    The admin is the RDS master user: CREATEROLE and the database's owner, not a superuser —
    everything here stays within that (creating and altering non-superuser roles; granting on
    the database and on its ``public`` schema, which belongs to ``pg_database_owner``). The
    owner gets USAGE and CREATE on ``public`` (PostgreSQL 15 no longer lets PUBLIC create there)
    and owns whatever it creates; the schema and the database stay the admin's.

    Idempotent: a role that exists keeps its identity and gets the attributes and the password
    of the plan; grants are made only where the role's own ACL entry lacks them. Passwords are
    sent as the verifier libpq computes (SCRAM-SHA-256, or md5 if the server is set so), never
    as plain text, so a server that logs DDL (``log_statement``), ``pg_stat_statements`` or an
    error report never holds one."""
    if not admin_password:
        raise BootstrapRefused("--admin-password (or DB_ADMIN_PASSWORD) is not set")
    import psycopg

    params: dict[str, Any] = {"connect_timeout": "10", **plan.query}  # sslmode=… carries over
    params.update(
        host=plan.host,
        port=plan.port,
        dbname=plan.database,
        user=admin_user,
        password=admin_password,
        application_name="cleangate db bootstrap-roles",
    )
    done: list[str] = []
    with psycopg.connect(**{k: v for k, v in params.items() if v is not None}) as conn:
        if conn.execute("SELECT current_setting('is_superuser')").fetchone() == ("on",):
            # Only a superuser may; the verifiers keep passwords out of the log anyway.
            conn.execute("SET LOCAL log_statement = 'none'")
        done.append(_ensure_role(conn, plan.owner, plan.owner_password))
        done.append(_ensure_role(conn, plan.app, plan.app_password))
        member = conn.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", (plan.app, plan.owner))
        if member.fetchone() == (True,):
            raise BootstrapRefused(
                f"role {plan.app!r} (DATABASE_URL) is a member of the owner {plan.owner!r}: it"
                " would act as the tables' owner and pass row-level security; revoke that"
                " membership first"
            )
        done.append(_grant(conn, "database", plan.database, plan.owner, {"CONNECT"}))
        done.append(_grant(conn, "database", plan.database, plan.app, {"CONNECT"}))
        done.append(_grant(conn, "schema", "public", plan.owner, {"USAGE", "CREATE"}))
        done.append(_grant(conn, "schema", "public", plan.app, {"USAGE"}))
    return done


def _ensure_role(conn: Any, role: str, password: str) -> str:
    from psycopg import sql

    found = conn.execute(
        "SELECT rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, rolcanlogin"
        " FROM pg_roles WHERE rolname = %s",
        (role,),
    ).fetchone()
    verifier = sql.Literal(conn.pgconn.encrypt_password(password.encode(), role.encode()).decode())
    if found is None:
        conn.execute(
            sql.SQL("CREATE ROLE {} " + ROLE_ATTRIBUTES + " PASSWORD {}").format(
                sql.Identifier(role), verifier
            )
        )
        return f"role {role}: created ({ROLE_ATTRIBUTES}) with its password"
    superuser, bypassrls, createdb, createrole, login = found
    if superuser or bypassrls:
        raise BootstrapRefused(
            f"role {role!r} exists with {'SUPERUSER' if superuser else 'BYPASSRLS'}: row-level"
            " security would not bind it; a superuser must remove that attribute first"
        )
    # NOSUPERUSER/NOBYPASSRLS are not restated: naming them at all needs a superuser.
    fixes = [
        flag
        for flag, wrong in (
            ("LOGIN", not login),
            ("NOCREATEDB", createdb),
            ("NOCREATEROLE", createrole),
        )
        if wrong
    ]
    conn.execute(
        sql.SQL("ALTER ROLE {} " + " ".join(fixes) + " PASSWORD {}").format(
            sql.Identifier(role), verifier
        )
    )
    changed = f"set {' '.join(fixes)} and" if fixes else "attributes as wanted,"
    return f"role {role}: exists, {changed} password (re)set"


_HELD = {  # the privileges in a role's own ACL entry of a database / schema
    "database": "SELECT a.privilege_type FROM pg_database AS o, aclexplode(o.datacl) AS a,"
    " pg_roles AS r WHERE o.datname = %s AND r.rolname = %s AND a.grantee = r.oid",
    "schema": "SELECT a.privilege_type FROM pg_namespace AS o, aclexplode(o.nspacl) AS a,"
    " pg_roles AS r WHERE o.nspname = %s AND r.rolname = %s AND a.grantee = r.oid",
}


_HAS = {  # effective privileges, PUBLIC's included
    "database": "SELECT has_database_privilege(%s, %s, %s)",
    "schema": "SELECT has_schema_privilege(%s, %s, %s)",
}


def _grant(conn: Any, kind: str, name: str, role: str, wanted: set[str]) -> str:
    """Grant what the role's own ACL entry lacks. Privileges held through PUBLIC do not count:
    a hardened server revokes them, and the grant is then what keeps the role working."""
    from psycopg import sql

    held = {privilege for (privilege,) in conn.execute(_HELD[kind], (name, role))}
    missing = sorted(wanted - held)
    if not missing:
        return f"{kind} {name}: {role} already has {', '.join(sorted(wanted))}"
    conn.execute(
        sql.SQL("GRANT {} ON {} {} TO {}").format(
            sql.SQL(", ").join(sql.SQL(p) for p in missing),
            sql.SQL(kind.upper()),
            sql.Identifier(name),
            sql.Identifier(role),
        )
    )
    # Without the grant option PostgreSQL only warns (an admin that does not own the database;
    # ``public`` on PostgreSQL <= 14, which the bootstrap superuser owns and PUBLIC may create
    # in): fine if the role holds the privilege anyway, else the upgrade would fail — stop here.
    still = sorted(wanted - {p for (p,) in conn.execute(_HELD[kind], (name, role))})
    if not still:
        return f"{kind} {name}: granted {', '.join(missing)} to {role}"
    lacking = [
        privilege
        for privilege in still
        if not conn.execute(_HAS[kind], (role, name, privilege)).fetchone()[0]
    ]
    if lacking:
        raise BootstrapFailed(
            f"{', '.join(lacking)} on {kind} {name} could not be granted to {role}: the admin"
            f" needs the grant option there (own the {kind}, or ask its owner)"
        )
    return f"{kind} {name}: {role} holds {', '.join(still)} through PUBLIC only (not granted)"
