"""Gap-free invoice numbers: ``CG2026-000001``, one sequence per calendar year.

The number is taken inside the transaction that writes the invoice, by one atomic upsert of
the year's ``invoice_counters`` row (``INSERT … ON CONFLICT (year) DO UPDATE SET last = last
+ 1 RETURNING last``). On PostgreSQL the upsert takes the row lock exactly as ``SELECT … FOR
UPDATE`` would, so a concurrent issuer waits for COMMIT or ROLLBACK and then reads the value
that won; on SQLite the statement takes the database write lock, which serialises writers.
Either way a rolled-back invoice gives its number back: no gaps, no duplicates. Take it as
late as possible in the transaction — the lock is held until commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert as generic_insert
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from saas.models.billing import InvoiceCounter

PREFIX = "CG"


def format_number(year: int, sequence: int) -> str:
    return f"{PREFIX}{year:04d}-{sequence:06d}"


def next_number(session: Session, year: int) -> str:
    """Reserve the next number of ``year`` in the caller's transaction."""
    dialect = session.get_bind().dialect.name
    insert: Any = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if insert is None:  # pragma: no cover - CleanGate runs on PostgreSQL or SQLite only
        return _next_number_generic(session, year)
    stmt = (
        insert(InvoiceCounter)
        .values(year=year, last=1)
        .on_conflict_do_update(
            index_elements=[InvoiceCounter.year], set_={"last": InvoiceCounter.last + 1}
        )
        .returning(InvoiceCounter.last)
    )
    sequence = session.execute(stmt).scalar_one()
    return format_number(year, int(sequence))


def _next_number_generic(session: Session, year: int) -> str:  # pragma: no cover
    row = session.execute(
        select(InvoiceCounter).where(InvoiceCounter.year == year).with_for_update()
    ).scalar_one_or_none()
    if row is None:
        session.execute(generic_insert(InvoiceCounter).values(year=year, last=1))
        return format_number(year, 1)
    row.last += 1
    session.flush()
    return format_number(year, row.last)


def last_number(session: Session, year: int) -> int:
    return int(session.scalar(select(InvoiceCounter.last).where(InvoiceCounter.year == year)) or 0)
