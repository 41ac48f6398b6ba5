"""Signed checkpoints of each site's chain head (Ed25519, the platform's key).

A checkpoint is a small signed note (after the C2SP checkpoint format):

    cleangate.ledger/<site id>
    <seq>
    <base64 head hash>
    <signed at, UTC>

stored with its signature and exportable, so a copy kept outside the database (by the
tenant, the regulator, or an object-lock bucket) makes rewriting history detectable even for
someone who controls the database. ``archive`` keeps that copy: every checkpoint is written
once, as JSON with the public key that verifies it, to ``CHECKPOINT_STORAGE_URL``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from saas.db import utcnow
from saas.ledger.chain import iso
from saas.models.ledger import Checkpoint, LedgerHead
from saas.storage import Storage

ORIGIN = "cleangate.ledger"
# How far back each run looks for checkpoints an earlier run signed but could not archive
# (store unreachable, process stopped between COMMIT and the write).
ARCHIVE_LOOKBACK = timedelta(days=7)
# How far before the newest checkpoint a complete run's watermark is set: two runs at once (the
# scheduler's and an operator's) may commit out of signing order within that.
ARCHIVE_OVERLAP = timedelta(minutes=15)

log = logging.getLogger(__name__)


def public_key_id(public: bytes) -> str:
    return hashlib.sha256(public).hexdigest()[:16]


def verification_keys(current: SigningKey, previous: str) -> dict[str, bytes]:
    """key id → Ed25519 public key: the current signing key's and each retired one's
    (``LEDGER_PREVIOUS_PUBLIC_KEYS``, base64 of the 32 raw bytes, comma-separated)."""
    keys = {current.key_id: current.public_bytes}
    for n, item in enumerate(part.strip() for part in previous.split(",")):
        if not item:
            continue
        try:
            raw = base64.b64decode(item, validate=True)
            Ed25519PublicKey.from_public_bytes(raw)
        except ValueError:
            raise ValueError(
                f"LEDGER_PREVIOUS_PUBLIC_KEYS[{n}]: not a base64 Ed25519 public key (32 bytes)"
            ) from None
        keys.setdefault(public_key_id(raw), raw)
    return keys


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public_bytes(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return public_key_id(self.public_bytes)

    @classmethod
    def from_seed_b64(cls, value: str) -> SigningKey:
        seed = base64.b64decode(value, validate=True)
        if len(seed) != 32:
            raise ValueError("LEDGER_SIGNING_KEY must be 32 bytes, base64")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def load_or_create(cls, path: Path) -> SigningKey:
        """Development only: a key generated once into var/."""
        if path.exists():
            return cls.from_seed_b64(path.read_text().strip())
        path.parent.mkdir(parents=True, exist_ok=True)
        seed = os.urandom(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(seed).decode())
        return cls(Ed25519PrivateKey.from_private_bytes(seed))


def note_text(site_id: uuid.UUID, seq: int, head: bytes, signed_at: str) -> str:
    return f"{ORIGIN}/{site_id}\n{seq}\n{base64.b64encode(head).decode()}\n{signed_at}\n"


def make_checkpoint(session: Session, key: SigningKey, head: LedgerHead) -> Checkpoint | None:
    """Sign the site's current head unless it is already signed. Caller commits."""
    last = session.scalar(
        select(func.max(Checkpoint.seq)).where(Checkpoint.site_id == head.site_id)
    )
    if head.seq == 0 or (last is not None and last >= head.seq):
        return None
    now = utcnow()  # one instant: the row's signed_at is the one inside the signed note
    note = note_text(head.site_id, head.seq, head.head, iso(now))
    checkpoint = Checkpoint(
        tenant_id=head.tenant_id,
        site_id=head.site_id,
        seq=head.seq,
        head=head.head,
        signed_at=now,
        key_id=key.key_id,
        note=note,
        signature=key.private.sign(note.encode()),
    )
    session.add(checkpoint)
    return checkpoint


def verify_signature(public_key: bytes, checkpoint: Checkpoint) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            checkpoint.signature, checkpoint.note.encode()
        )
    except (InvalidSignature, ValueError):
        return False
    expected = note_text(
        checkpoint.site_id,
        checkpoint.seq,
        checkpoint.head,
        checkpoint.note.splitlines()[3] if checkpoint.note.count("\n") >= 4 else "",
    )
    return expected == checkpoint.note


def export(checkpoint: Checkpoint, public_key: bytes) -> dict[str, object]:
    return {
        "site_id": str(checkpoint.site_id),
        "seq": checkpoint.seq,
        "note": checkpoint.note,
        "signature": base64.b64encode(checkpoint.signature).decode(),
        "key_id": checkpoint.key_id,
        "public_key": base64.b64encode(public_key).decode(),
    }


# --- the write-once archive (CHECKPOINT_STORAGE_URL) ----------------------------------------


def archive_key(checkpoint: Checkpoint) -> str:
    """Zero-padded seq, so a listing of a site's prefix is in chain order."""
    return f"checkpoints/t/{checkpoint.tenant_id}/s/{checkpoint.site_id}/{checkpoint.seq:012d}.json"


def archive_document(checkpoint: Checkpoint, public_key: bytes) -> bytes:
    """Everything an auditor needs to check the checkpoint without our database: the signed
    note, its fields, the signature and the Ed25519 public key that verifies it."""
    document = {
        "site_id": str(checkpoint.site_id),
        "seq": checkpoint.seq,
        "head": base64.b64encode(checkpoint.head).decode(),
        "signed_at": iso(checkpoint.signed_at),
        "key_id": checkpoint.key_id,
        "note": checkpoint.note,
        "signature": base64.b64encode(checkpoint.signature).decode(),
        "public_key": base64.b64encode(public_key).decode(),
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8") + b"\n"


@dataclass
class ArchiveReport:
    written: list[str] = field(default_factory=list)
    already_there: int = 0  # signed by this run, yet an object exists: not rewritten
    other_key: int = 0  # signed with a key other than the current one: its public key is unknown
    error: str | None = None  # the failure that stopped this run's archiving
    # Every checkpoint signed before this moment is in the archive (None: not known), so the
    # next run need not look further back (``since``).
    through: datetime | None = None

    def summary(self) -> str:
        text = f"{len(self.written)} checkpoints archived"
        if self.already_there:
            text += f", {self.already_there} already in the archive"
        if self.other_key:
            text += f", {self.other_key} skipped (signed with another key)"
        if self.error:
            text += f"; archiving stopped: {self.error}"
        return text


def archive(
    session: Session,
    store: Storage,
    keys: Mapping[str, bytes],
    created: Sequence[Checkpoint],
    now: datetime,
    since: datetime | None = None,
) -> ArchiveReport:
    """Write to the archive every checkpoint of the last ``ARCHIVE_LOOKBACK`` whose object does
    not exist yet: this run's new ones, and any an earlier run could not write. Call after the
    checkpoints are committed, so the archive never holds one the database lost.

    An object is never written twice: the production bucket is Object Lock (COMPLIANCE), where
    a rewrite would only add a version. A failing store stops the archiving at the first error
    (logged); the checkpoints stay in the database and the next run writes them. ``keys`` is
    key id → public key (``verification_keys``): a checkpoint of a key not in it is skipped.

    ``since`` (the previous complete run's ``report.through``) bounds the look-back, so a run
    checks only what was signed since — not every checkpoint of the last week, one existence
    check each, which at thousands of sites would outlast the job's time limit."""
    report = ArchiveReport()
    new_ids = {checkpoint.id for checkpoint in created}
    start = now - ARCHIVE_LOOKBACK
    if since is not None and since > start:
        start = since
    recent = session.scalars(
        select(Checkpoint)
        .where(Checkpoint.signed_at >= start)
        .order_by(Checkpoint.signed_at, Checkpoint.seq)
    )
    latest = start
    for checkpoint in recent:
        latest = max(latest, _utc(checkpoint.signed_at))
        public = keys.get(checkpoint.key_id)
        if public is None:
            report.other_key += 1
            continue
        target = archive_key(checkpoint)
        try:
            if store.exists(target):
                if checkpoint.id in new_ids:
                    # A seq signed again: the database was restored behind the archive.
                    log.warning("checkpoint archive already holds %s; not rewritten", target)
                    report.already_there += 1
                continue
            store.put(target, archive_document(checkpoint, public), "application/json")
        except Exception as exc:  # any failure of the store: the next run retries
            report.error = f"{type(exc).__name__} writing {target}"
            log.error("checkpoint archive: %s: %s", report.error, exc)
            return report
        report.written.append(target)
    # The last ARCHIVE_OVERLAP is looked at again next time; a checkpoint of a key this run
    # does not know keeps the look-back open until LEDGER_PREVIOUS_PUBLIC_KEYS names it.
    report.through = None if report.other_key else latest - ARCHIVE_OVERLAP
    return report


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
