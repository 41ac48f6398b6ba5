"""The edge's store-and-forward outbox: every passage is committed here (SQLite, WAL,
``synchronous=FULL``) before anything else can forget it, and deleted only when the cloud has
acknowledged it after its own COMMIT.

A passage and its photos are written in one transaction — one fsync at the gate instead of one
per file plus one per directory (shared/reference/reliability-performance.md §2.2), and a crash
can never leave a row naming a torn or missing photo. Uploaded photos stay a week for the guard
console, then ``prune`` removes them.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending'   -- pending | conflict | invalid
);
CREATE TABLE IF NOT EXISTS images (
    sha256 TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    created_at REAL NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0,
    data BLOB
);
"""
KEEP_UPLOADED_IMAGES_SECONDS = 7 * 24 * 3600


class OutboxFull(RuntimeError):
    """The disk is full: keep deciding at the gate, raise the alarm, lose nothing written."""


@dataclass(frozen=True)
class Pending:
    n: int
    event_id: str
    body: dict[str, Any]
    attempts: int


class Outbox:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(directory / "outbox.db", isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # --- writing -------------------------------------------------------------------------

    def put(
        self,
        event_id: str,
        body: dict[str, Any],
        images: Iterable[tuple[bytes, str]] = (),
    ) -> bool:
        """Commit one passage and its photos ``(data, content_type)`` durably, in one
        transaction; False if the event id was already queued (its photos are kept anyway)."""
        now = time.time()
        rows = [(hashlib.sha256(d).hexdigest(), c, now, d) for d, c in images]
        try:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self.db.executemany(
                    "INSERT OR IGNORE INTO images (sha256, content_type, created_at, data) "
                    "VALUES (?, ?, ?, ?)",
                    rows,
                )
                cursor = self.db.execute(
                    "INSERT OR IGNORE INTO outbox (event_id, created_at, body) VALUES (?, ?, ?)",
                    (event_id, now, json.dumps(body, ensure_ascii=False)),
                )
                self.db.execute("COMMIT")
            except BaseException:
                if self.db.in_transaction:  # SQLite may have rolled back already (disk full)
                    self.db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            if "full" in str(exc).lower() or "disk" in str(exc).lower():
                raise OutboxFull(str(exc)) from exc
            raise
        return cursor.rowcount == 1

    def put_image(self, data: bytes, content_type: str) -> str:
        """Store one photo on its own (committed); returns its SHA-256."""
        sha = hashlib.sha256(data).hexdigest()
        try:
            self.db.execute(
                "INSERT OR IGNORE INTO images (sha256, content_type, created_at, data) "
                "VALUES (?, ?, ?, ?)",
                (sha, content_type, time.time(), data),
            )
        except sqlite3.OperationalError as exc:
            raise OutboxFull(str(exc)) from exc
        return sha

    # --- forwarding ----------------------------------------------------------------------

    def pending(self, limit: int = 500, after: int = 0) -> list[Pending]:
        """The oldest unacknowledged passages with row number above ``after``."""
        rows = self.db.execute(
            "SELECT n, event_id, body, attempts FROM outbox WHERE state = 'pending' AND n > ? "
            "ORDER BY n LIMIT ?",
            (after, limit),
        ).fetchall()
        return [Pending(n, e, json.loads(b), a) for n, e, b, a in rows]

    def mark_attempt(self, event_ids: Iterable[str]) -> None:
        self.db.executemany(
            "UPDATE outbox SET attempts = attempts + 1 WHERE event_id = ?",
            [(e,) for e in event_ids],
        )

    def acknowledge(self, acks: Iterable[dict[str, Any]]) -> int:
        """Apply the cloud's acks: stored/duplicate → delete; conflict (same event id, other
        content) or invalid (the cloud refused the record) → kept aside for a person, never
        deleted and never resent."""
        done, aside = [], []
        for ack in acks:
            if ack.get("status") in {"stored", "duplicate"}:
                done.append((ack["event_id"],))
            elif ack.get("status") in {"conflict", "invalid"} and ack.get("event_id"):
                aside.append((ack["status"], ack["event_id"]))
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany("DELETE FROM outbox WHERE event_id = ?", done)
            self.db.executemany("UPDATE outbox SET state = ? WHERE event_id = ?", aside)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        return len(done)

    def pending_images(self, limit: int = 50) -> list[tuple[str, str]]:
        return self.db.execute(
            "SELECT sha256, content_type FROM images WHERE uploaded = 0 "
            "ORDER BY created_at LIMIT ?",
            (limit,),
        ).fetchall()

    def image_bytes(self, sha: str) -> bytes:
        row = self.db.execute("SELECT data FROM images WHERE sha256 = ?", (sha,)).fetchone()
        if row is None or row[0] is None:
            raise FileNotFoundError(sha)
        return bytes(row[0])

    def image_uploaded(self, sha: str) -> None:
        self.db.execute("UPDATE images SET uploaded = 1 WHERE sha256 = ?", (sha,))

    # --- health --------------------------------------------------------------------------

    def depth(self) -> int:
        return int(
            self.db.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
        )

    def set_aside(self) -> int:
        """Records the cloud refused (conflict/invalid): shown as an alarm, kept for a person."""
        return int(
            self.db.execute("SELECT count(*) FROM outbox WHERE state != 'pending'").fetchone()[0]
        )

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def prune(self, now: float | None = None) -> int:
        """Forget uploaded photos older than a week (the cloud has them)."""
        cutoff = (time.time() if now is None else now) - KEEP_UPLOADED_IMAGES_SECONDS
        cursor = self.db.execute(
            "DELETE FROM images WHERE uploaded = 1 AND created_at < ?", (cutoff,)
        )
        return cursor.rowcount

    def checkpoint(self) -> None:
        """Keep the WAL from growing without bound under long readers."""
        self.db.execute("PRAGMA wal_checkpoint(RESTART)")
