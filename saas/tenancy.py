"""Tenant context and enforced scoping.

Every tenant-owned row carries ``tenant_id``. The current tenant lives in a contextvar, set once
per request from the authenticated principal (or explicitly by CLI commands and jobs). Scoping is
enforced, not remembered, at two layers:

* the ORM: every SELECT/UPDATE/DELETE touching a tenant-owned model gets
  ``tenant_id = :current`` added (``with_loader_criteria``); without a tenant context such a
  query raises ``NoTenantContext`` instead of returning everything; new rows are stamped with
  the current tenant and a row of another tenant cannot be written;
* PostgreSQL: row-level security (FORCE, non-owner application role), fed per transaction by
  ``set_config('app.tenant_id', …, true)`` — transaction-local, so nothing survives into the
  next borrower of a pooled connection (shared/reference/reliability-performance.md §1).

``system_context(reason)`` is the one explicit door past scoping, for authentication look-ups,
provisioning and provider-side jobs; its uses are kept to an allow-list by a test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ForeignKey, event, text
from sqlalchemy.orm import (
    Mapped,
    ORMExecuteState,
    Session,
    declared_attr,
    mapped_column,
    sessionmaker,
    with_loader_criteria,
)
from sqlalchemy.sql.util import find_tables


class NoTenantContext(RuntimeError):
    """A tenant-owned table was queried without a tenant context."""


class CrossTenantWrite(RuntimeError):
    """An attempt to write a row that belongs to another tenant."""


@dataclass(frozen=True)
class TenantContext:
    tenant_id: uuid.UUID | None = None
    system_reason: str | None = None

    @property
    def system(self) -> bool:
        return self.system_reason is not None


_current: ContextVar[TenantContext | None] = ContextVar("cleangate_tenant", default=None)


def current_context() -> TenantContext | None:
    return _current.get()


def current_tenant_id() -> uuid.UUID:
    ctx = _current.get()
    if ctx is None or ctx.tenant_id is None:
        raise NoTenantContext("no tenant context is set")
    return ctx.tenant_id


@contextmanager
def tenant_context(tenant_id: uuid.UUID) -> Iterator[TenantContext]:
    if not isinstance(tenant_id, uuid.UUID):
        raise TypeError("tenant_id must be a UUID")
    ctx = TenantContext(tenant_id=tenant_id)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


@contextmanager
def system_context(reason: str) -> Iterator[TenantContext]:
    """Past tenant scoping, for a stated reason (authentication, provisioning, provider jobs)."""
    if not reason:
        raise ValueError("system_context needs a reason")
    ctx = TenantContext(system_reason=reason)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)


def set_context(ctx: TenantContext | None) -> Any:
    """Low-level: set the context and return the token for ``reset_context`` (request hooks)."""
    return _current.set(ctx)


def reset_context(token: Any) -> None:
    _current.reset(token)


class TenantOwned:
    """Mixin for mapped classes whose rows belong to one tenant: an indexed ``tenant_id``
    column referencing ``tenants.id`` (``Tenant`` itself overrides it with a synonym of ``id``).
    The scoping criteria are declared once against this mixin."""

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:  # noqa: N805
        return mapped_column(
            ForeignKey("tenants.id", ondelete="RESTRICT"),
            index=cls.__tenant_index__,
            nullable=cls.__tenant_nullable__,
        )

    __tenant_nullable__ = False  # provider-staff rows (users, audit) have no tenant
    __tenant_root__ = False  # the Tenant row itself: created only in a system context
    __tenant_index__ = True  # False where an index led by tenant_id exists already (the PK)


def install_scoping(factory: sessionmaker[Session]) -> None:
    event.listen(factory, "do_orm_execute", _scope_statement)
    event.listen(factory, "before_flush", _check_writes)
    event.listen(factory, "after_begin", _apply_pg_setting)


_TENANT_TABLES: tuple[int, frozenset[str]] = (0, frozenset())


def _tenant_table_names() -> frozenset[str]:
    """Names of the tables mapped by TenantOwned classes (recomputed when classes are added)."""
    global _TENANT_TABLES
    classes: list[type] = []
    stack: list[type] = [TenantOwned]
    while stack:
        cls = stack.pop()
        classes.append(cls)
        stack.extend(cls.__subclasses__())
    if _TENANT_TABLES[0] != len(classes):
        names = frozenset(
            table.name for cls in classes if (table := getattr(cls, "__table__", None)) is not None
        )
        _TENANT_TABLES = (len(classes), names)
    return _TENANT_TABLES[1]


def _touches_tenant_rows(state: ORMExecuteState) -> bool:
    if any(issubclass(m.class_, TenantOwned) for m in state.all_mappers):
        return True
    names = _tenant_table_names()
    tables = find_tables(
        state.statement,
        include_aliases=True,
        include_joins=True,
        include_selects=True,
        check_columns=True,
    )
    return any(getattr(t, "name", None) in names for t in tables)


def _scope_statement(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    ctx = _current.get()
    if state.session.get_bind().dialect.name == "postgresql":
        _ensure_pg_setting(state.session, ctx)
    if ctx is not None and ctx.system:
        return
    if ctx is None or ctx.tenant_id is None:
        if _touches_tenant_rows(state):
            raise NoTenantContext("query on a tenant-owned table without a tenant context")
        return
    tenant_id = ctx.tenant_id
    state.statement = state.statement.options(
        with_loader_criteria(
            TenantOwned,
            lambda cls: cls.tenant_id == tenant_id,
            include_aliases=True,
        )
    )


def _check_writes(session: Session, _flush_context: Any, _instances: Any) -> None:
    ctx = _current.get()
    if session.get_bind().dialect.name == "postgresql":
        # The rows are written under the context in force now, not the one of the last read.
        _ensure_pg_setting(session, ctx)
    for obj in session.new:
        if not isinstance(obj, TenantOwned):
            continue
        if obj.__tenant_root__:
            if ctx is None or not ctx.system:
                raise CrossTenantWrite("tenants are created only in a system context")
            continue
        if ctx is None:
            raise NoTenantContext(f"cannot insert {type(obj).__name__} without a tenant context")
        if ctx.system:
            if obj.tenant_id is None and not obj.__tenant_nullable__:  # type: ignore[attr-defined]
                raise CrossTenantWrite(f"{type(obj).__name__} needs a tenant_id")
            continue
        if obj.tenant_id is None:  # type: ignore[attr-defined]
            obj.tenant_id = ctx.tenant_id  # type: ignore[attr-defined]
        elif obj.tenant_id != ctx.tenant_id:  # type: ignore[attr-defined]
            raise CrossTenantWrite(f"{type(obj).__name__} belongs to another tenant")
    for obj in list(session.dirty) + list(session.deleted):
        if not isinstance(obj, TenantOwned) or (ctx is not None and ctx.system):
            continue
        if ctx is None or ctx.tenant_id is None:
            raise NoTenantContext(f"cannot change {type(obj).__name__} without a tenant context")
        if obj.tenant_id != ctx.tenant_id:  # type: ignore[attr-defined]
            raise CrossTenantWrite(f"{type(obj).__name__} belongs to another tenant")
        history = _attribute_history(obj, "tenant_id")
        if history:
            raise CrossTenantWrite("tenant_id of a row cannot change")


def _attribute_history(obj: object, name: str) -> bool:
    from sqlalchemy import inspect

    state = inspect(obj)
    if name not in state.attrs:
        return False
    hist = state.attrs[name].history
    return bool(hist.deleted) and hist.has_changes()


_SET_SQL = text(
    "SELECT set_config('app.tenant_id', :tenant, true), set_config('app.system', :system, true)"
)


def _pg_values(ctx: TenantContext | None) -> dict[str, str]:
    return {
        "tenant": str(ctx.tenant_id) if ctx is not None and ctx.tenant_id is not None else "",
        "system": "on" if ctx is not None and ctx.system else "",
    }


def _apply_pg_setting(session: Session, _transaction: Any, connection: Any) -> None:
    if connection.dialect.name != "postgresql":
        return
    ctx = _current.get()
    connection.execute(_SET_SQL, _pg_values(ctx))
    session.info["pg_tenant_ctx"] = ctx


def _ensure_pg_setting(session: Session, ctx: TenantContext | None) -> None:
    """Re-apply the setting when the context changed inside an open transaction."""
    if session.in_transaction() and session.info.get("pg_tenant_ctx", ctx) != ctx:
        session.connection().execute(_SET_SQL, _pg_values(ctx))
        session.info["pg_tenant_ctx"] = ctx


# --- PostgreSQL row-level security DDL (used by migrations) -----------------------------------

RLS_PREDICATE = (
    "({column} = NULLIF(current_setting('app.tenant_id', true), '')::uuid"
    " OR current_setting('app.system', true) = 'on')"
)


def rls_statements(table: str, column: str = "tenant_id") -> list[str]:
    """DDL that turns on FORCEd row-level security with the tenant policy for ``table``."""
    predicate = RLS_PREDICATE.format(column=column)
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} USING {predicate} WITH CHECK {predicate}",
    ]
