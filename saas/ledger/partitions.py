"""Monthly partitions of ``passages`` on PostgreSQL (run as the owner role).

Partitions are created ahead of time (``ensure``) by ``cleangate db upgrade`` and the scheduler,
so the default partition only catches records far outside the window (edge clocks gone wrong).
Each partition gets the same FORCEd row-level security as its parent and no direct grant to the
application role (shared/reference/reliability-performance.md §1.1: a query naming a partition
directly is checked against the partition's own policies only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import text
from sqlalchemy.engine import Connection

from saas.tenancy import rls_statements

PARENT = "passages"
PARTITION_NAME = re.compile(r"^passages_(?:y(\d{4})m(\d{2})|default)$")


def month_start(moment: date) -> date:
    return date(moment.year, moment.month, 1)


def add_months(moment: date, months: int) -> date:
    index = moment.year * 12 + moment.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def partition_name(month: date) -> str:
    return f"{PARENT}_y{month.year:04d}m{month.month:02d}"


def is_partition_table(name: str) -> bool:
    return bool(PARTITION_NAME.match(name))


def _secure(conn: Connection, table: str, app_role: str | None) -> None:
    for statement in rls_statements(table):
        conn.execute(text(statement))
    if app_role:
        conn.execute(text(f'REVOKE ALL ON {table} FROM "{app_role}"'))


def ensure(conn: Connection, start: date, months: int, app_role: str | None = None) -> list[str]:
    """Create the default partition and ``months`` monthly partitions from ``start``;
    returns the names created. Idempotent."""
    existing = set(
        conn.execute(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :parent"
            ),
            {"parent": PARENT},
        ).scalars()
    )
    created = []
    if f"{PARENT}_default" not in existing:
        conn.execute(text(f"CREATE TABLE {PARENT}_default PARTITION OF {PARENT} DEFAULT"))
        _secure(conn, f"{PARENT}_default", app_role)
        created.append(f"{PARENT}_default")
    month = month_start(start)
    for _ in range(months):
        name = partition_name(month)
        if name not in existing:
            upper = add_months(month, 1)
            conn.execute(
                text(
                    f"CREATE TABLE {name} PARTITION OF {PARENT} "
                    f"FOR VALUES FROM ('{month.isoformat()} 00:00:00+00') "
                    f"TO ('{upper.isoformat()} 00:00:00+00')"
                )
            )
            _secure(conn, name, app_role)
            created.append(name)
        month = add_months(month, 1)
    return created


@dataclass(frozen=True)
class Partition:
    name: str
    start: date | None  # None for the default partition


def list_partitions(conn: Connection) -> list[Partition]:
    names = conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = :parent ORDER BY 1"
        ),
        {"parent": PARENT},
    ).scalars()
    out = []
    for name in names:
        match = PARTITION_NAME.match(name)
        if match and match.group(1):
            out.append(Partition(name, date(int(match.group(1)), int(match.group(2)), 1)))
        else:
            out.append(Partition(name, None))
    return out


def drop_expired(conn: Connection, keep_since: datetime) -> list[str]:
    """Detach and drop every monthly partition whose whole month ends before ``keep_since``.
    The caller computes ``keep_since`` from the legal minimum and the longest tenant
    retention; nothing younger is ever touched."""
    dropped = []
    cutoff = keep_since.astimezone(UTC).date()
    for part in list_partitions(conn):
        if part.start is None or add_months(part.start, 1) > cutoff:
            continue
        conn.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {part.name}"))
        conn.execute(text(f"DROP TABLE {part.name}"))
        dropped.append(part.name)
    return dropped
