"""The per-site hash chain (documented in docs/ledger-chain.md).

    h_0 = 32 zero bytes
    h_n = SHA-256( h_{n-1} || seq_n as 8-byte big-endian || record_n )

``record_n`` is the canonical UTF-8 JSON of the ledger record (sorted keys, no insignificant
whitespace, non-ASCII kept as is), stored verbatim in ``passages.record``: hashing re-serialised
JSON would not reproduce the bytes (shared/reference/reliability-performance.md §3.3).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from saas.models.ledger import LedgerHead, Passage

GENESIS = bytes(32)

# Columns copied out of the record for querying, and where they live in it.
QUERY_COLUMNS: dict[str, tuple[str, ...]] = {
    "event_id": ("event_id",),
    "kind": ("kind",),
    "amends_event_id": ("amends_event_id",),
    "captured_at": ("captured_at",),
    "received_at": ("received_at",),
    "gate_code": ("gate",),
    "lane_code": ("lane",),
    "direction": ("direction",),
    "plate": ("plate", "normalized"),
    "plate_color": ("plate", "color"),
    "verdict": ("decision", "verdict"),
    "emission_stage": ("vehicle", "emission_stage"),
    "fuel_type": ("vehicle", "fuel_type"),
}


def canonical_bytes(record: dict[str, Any]) -> bytes:
    return json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def link_hash(prev: bytes, seq: int, record: bytes) -> bytes:
    return hashlib.sha256(prev + seq.to_bytes(8, "big") + record).digest()


def iso(moment: datetime) -> str:
    """The one timestamp form inside records: UTC, microseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _dig(record: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def query_columns(record: dict[str, Any]) -> dict[str, Any]:
    out = {name: _dig(record, path) for name, path in QUERY_COLUMNS.items()}
    out["event_id"] = uuid.UUID(out["event_id"])
    if out["amends_event_id"]:
        out["amends_event_id"] = uuid.UUID(out["amends_event_id"])
    out["captured_at"] = parse_iso(out["captured_at"])
    out["received_at"] = parse_iso(out["received_at"])
    return out


@dataclass(frozen=True)
class Appended:
    event_id: uuid.UUID
    seq: int
    hash: bytes


def lock_head(session: Session, tenant_id: uuid.UUID, site_id: uuid.UUID) -> LedgerHead:
    """The site's chain head, locked until the transaction ends (appends serialise per site)."""
    head = session.scalars(
        select(LedgerHead).where(LedgerHead.site_id == site_id).with_for_update()
    ).one_or_none()
    if head is None:
        head = LedgerHead(tenant_id=tenant_id, site_id=site_id, seq=0, head=GENESIS)
        session.add(head)
        session.flush()
        head = session.scalars(
            select(LedgerHead).where(LedgerHead.site_id == site_id).with_for_update()
        ).one()
    return head


def append(
    session: Session,
    head: LedgerHead,
    records: Iterable[dict[str, Any]],
    known_columns: Iterable[dict[str, Any]] | None = None,
) -> list[tuple[dict[str, Any], Appended]]:
    """Chain ``records`` after ``head`` (locked by the caller) and stage their rows.
    ``known_columns`` may give the query columns the caller already holds (they must equal
    ``query_columns(record)`` — ``ledger verify`` checks it), to save re-parsing each record."""
    rows: list[dict[str, Any]] = []
    out: list[tuple[dict[str, Any], Appended]] = []
    prev, seq = head.head, head.seq
    given = iter(known_columns) if known_columns is not None else None
    for record in records:
        seq += 1
        data = canonical_bytes(record)
        digest = link_hash(prev, seq, data)
        columns = next(given) if given is not None else query_columns(record)
        rows.append(
            {
                "tenant_id": head.tenant_id,
                "site_id": head.site_id,
                "seq": seq,
                "prev_hash": prev,
                "hash": digest,
                "record": data.decode("utf-8"),
                **columns,
            }
        )
        out.append((record, Appended(columns["event_id"], seq, digest)))
        prev = digest
    if rows:
        session.execute(Passage.__table__.insert(), rows)
        head.seq, head.head = seq, prev
    return out


# --- verification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    seq: int
    problem: str  # edited | missing | reordered | column_mismatch | head_mismatch
    detail: str

    def describe(self) -> str:
        return f"seq {self.seq}: {self.problem} — {self.detail}"


def verify_rows(
    rows: Iterator[Passage],
    *,
    start_seq: int = 1,
    start_prev: bytes = GENESIS,
    expected_head: tuple[int, bytes] | None = None,
) -> tuple[int, Break | None]:
    """Walk rows in ``seq`` order; return (records checked, first break or None)."""
    expected_seq, prev = start_seq, start_prev
    checked = 0
    for row in rows:
        if row.seq != expected_seq:
            if row.seq > expected_seq:
                return checked, Break(
                    expected_seq, "missing", f"records {expected_seq}..{row.seq - 1} are absent"
                )
            return checked, Break(row.seq, "reordered", f"seq {row.seq} appears again or late")
        if row.prev_hash != prev:
            return checked, Break(
                row.seq, "reordered", "prev_hash does not link to the previous record"
            )
        data = row.record.encode("utf-8")
        if link_hash(prev, row.seq, data) != row.hash:
            return checked, Break(
                row.seq, "edited", "record bytes or hash differ from what was chained"
            )
        try:
            expected = query_columns(json.loads(data))
        except (ValueError, KeyError, TypeError) as exc:
            return checked, Break(row.seq, "edited", f"record is not a ledger record: {exc}")
        for name, value in expected.items():
            if getattr(row, name) != value:
                return checked, Break(
                    row.seq,
                    "column_mismatch",
                    f"column {name} = {getattr(row, name)!r}, record says {value!r}",
                )
        prev = row.hash
        expected_seq += 1
        checked += 1
    if expected_head is not None:
        head_seq, head_hash = expected_head
        if head_seq != expected_seq - 1 or (head_seq and head_hash != prev):
            return checked, Break(
                expected_seq,
                "missing" if head_seq >= expected_seq else "head_mismatch",
                f"chain head says seq {head_seq}, records end at {expected_seq - 1}",
            )
    return checked, None
