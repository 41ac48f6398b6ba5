"""Retention of the passage ledger.

Passages are kept at least 24 months (HJ 1321-2023; seed 003 appendix 5); a tenant may keep
longer (``tenants.ledger_retention_months``), never shorter. On PostgreSQL whole monthly
partitions are detached and dropped once they are older than the longest retention of any
tenant (shared/reference/reliability-performance.md §6.2: DETACH+DROP writes kilobytes of WAL
where DELETE writes hundreds of megabytes); rows that landed in the default partition are
deleted one by one. Each affected chain records where it now starts, so ``ledger verify``
checks the remaining records from their stored link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from saas.ledger import partitions

LEGAL_MINIMUM_MONTHS = 24


def months_before(moment: datetime, months: int) -> datetime:
    start = partitions.add_months(moment.astimezone(UTC).date().replace(day=1), -months)
    day = min(moment.day, 28)
    return datetime(start.year, start.month, day, tzinfo=UTC)


@dataclass(frozen=True)
class RetentionReport:
    cutoff: datetime
    dropped_partitions: list[str]
    deleted_rows: int


def _cutoff(conn: Connection, now: datetime) -> datetime:
    longest = conn.execute(text("SELECT max(ledger_retention_months) FROM tenants")).scalar()
    months = max(LEGAL_MINIMUM_MONTHS, int(longest or 0))
    cutoff = months_before(now, months)
    assert cutoff <= months_before(now, LEGAL_MINIMUM_MONTHS)  # never younger than the law
    return cutoff


def _restart_chains(conn: Connection) -> None:
    """Point each chain head at its oldest remaining record."""
    conn.execute(
        text("""
        UPDATE ledger_heads h SET retained_from_seq = first.seq,
                                  retained_prev_hash = first.prev_hash
        FROM (SELECT DISTINCT ON (site_id) site_id, seq, prev_hash FROM passages
              ORDER BY site_id, seq) AS first
        WHERE h.site_id = first.site_id AND first.seq > h.retained_from_seq
    """)
        if conn.dialect.name == "postgresql"
        else text("""
        UPDATE ledger_heads SET
          retained_from_seq = (SELECT min(seq) FROM passages p
                               WHERE p.site_id = ledger_heads.site_id),
          retained_prev_hash = (SELECT prev_hash FROM passages p
                                WHERE p.site_id = ledger_heads.site_id ORDER BY seq LIMIT 1)
        WHERE (SELECT min(seq) FROM passages p WHERE p.site_id = ledger_heads.site_id)
              > retained_from_seq
    """)
    )


def run(owner_url: str, now: datetime | None = None) -> RetentionReport:
    """Apply retention as the owner role (the app role may not delete ledger rows)."""
    now = now or datetime.now(UTC)
    engine = create_engine(owner_url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                conn.execute(text("SELECT set_config('app.system', 'on', true)"))
                conn.execute(text("SELECT set_config('cleangate.retention', 'on', true)"))
            cutoff = _cutoff(conn, now)
            dropped = partitions.drop_expired(conn, cutoff) if postgres else []
            deleted = (
                conn.execute(
                    text("DELETE FROM passages WHERE captured_at < :c"),
                    {"c": cutoff if postgres else cutoff.replace(tzinfo=None)},
                ).rowcount
                or 0
            )
            conn.execute(
                text("DELETE FROM ledger_events WHERE captured_at < :c"),
                {"c": cutoff if postgres else cutoff.replace(tzinfo=None)},
            )
            _restart_chains(conn)
    finally:
        engine.dispose()
    return RetentionReport(cutoff, dropped, deleted)
