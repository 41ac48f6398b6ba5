"""The edge's store-and-forward outbox: every passage is committed here (SQLite, WAL,
``synchronous=FULL``) before anything else can forget it, and deleted only when the cloud has
acknowledged it after its own COMMIT.

Photos are files next to the database, written temp → fsync → rename → fsync(dir) *before* the
row that names them (shared/reference/reliability-performance.md §2.2), so a crash never leaves
a row pointing at a torn image.
"""

from __future__ import annotations

import hashlib
import json
import os
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
    state TEXT NOT NULL DEFAULT 'pending'   -- pending | conflict
);
CREATE TABLE IF NOT EXISTS images (
    sha256 TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    created_at REAL NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0
);
"""


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
        self.images_dir = directory / "images"
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(directory / "outbox.db", isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # --- writing -------------------------------------------------------------------------

    def put(self, event_id: str, body: dict[str, Any]) -> bool:
        """Commit one passage durably; False if the event id is already queued."""
        try:
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO outbox (event_id, created_at, body) VALUES (?, ?, ?)",
                (event_id, time.time(), json.dumps(body, ensure_ascii=False)),
            )
        except sqlite3.OperationalError as exc:
            if "full" in str(exc).lower():
                raise OutboxFull(str(exc)) from exc
            raise
        return cursor.rowcount == 1

    def put_image(self, data: bytes, content_type: str) -> str:
        """Store a photo by SHA-256 (durably, before any row names it); returns the hash."""
        sha = hashlib.sha256(data).hexdigest()
        final = self.images_dir / sha
        if not final.exists():
            tmp = self.images_dir / f".{sha}.{os.getpid()}.tmp"
            try:
                with open(tmp, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, final)
                dir_fd = os.open(self.images_dir, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                raise OutboxFull(str(exc)) from exc
        try:
            self.db.execute(
                "INSERT OR IGNORE INTO images (sha256, content_type, created_at) VALUES (?, ?, ?)",
                (sha, content_type, time.time()),
            )
        except sqlite3.OperationalError as exc:
            raise OutboxFull(str(exc)) from exc
        return sha

    # --- forwarding ----------------------------------------------------------------------

    def pending(self, limit: int = 500) -> list[Pending]:
        rows = self.db.execute(
            "SELECT n, event_id, body, attempts FROM outbox WHERE state = 'pending' "
            "ORDER BY n LIMIT ?",
            (limit,),
        ).fetchall()
        return [Pending(n, e, json.loads(b), a) for n, e, b, a in rows]

    def mark_attempt(self, event_ids: Iterable[str]) -> None:
        self.db.executemany(
            "UPDATE outbox SET attempts = attempts + 1 WHERE event_id = ?",
            [(e,) for e in event_ids],
        )

    def acknowledge(self, acks: Iterable[dict[str, Any]]) -> int:
        """Apply the cloud's acks: stored/duplicate → delete; conflict → keep aside."""
        done, conflicts = [], []
        for ack in acks:
            if ack.get("status") in {"stored", "duplicate"}:
                done.append((ack["event_id"],))
            elif ack.get("status") == "conflict":
                conflicts.append((ack["event_id"],))
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.executemany("DELETE FROM outbox WHERE event_id = ?", done)
            self.db.executemany(
                "UPDATE outbox SET state = 'conflict' WHERE event_id = ?", conflicts
            )
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
        return (self.images_dir / sha).read_bytes()

    def image_uploaded(self, sha: str) -> None:
        self.db.execute("UPDATE images SET uploaded = 1 WHERE sha256 = ?", (sha,))

    # --- health --------------------------------------------------------------------------

    def depth(self) -> int:
        return int(
            self.db.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0]
        )

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    def checkpoint(self) -> None:
        """Keep the WAL from growing without bound under long readers."""
        self.db.execute("PRAGMA wal_checkpoint(RESTART)")
