"""Signed checkpoints of each site's chain head (Ed25519, the platform's key).

A checkpoint is a small signed note (after the C2SP checkpoint format):

    cleangate.ledger/<site id>
    <seq>
    <base64 head hash>
    <signed at, UTC>

stored with its signature and exportable, so a copy kept outside the database (by the
tenant, the regulator, or an object-lock bucket) makes rewriting history detectable even for
someone who controls the database.
"""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from dataclasses import dataclass
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

ORIGIN = "cleangate.ledger"


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey

    @property
    def public_bytes(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.public_bytes).hexdigest()[:16]

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
    signed_at = iso(utcnow())
    note = note_text(head.site_id, head.seq, head.head, signed_at)
    checkpoint = Checkpoint(
        tenant_id=head.tenant_id,
        site_id=head.site_id,
        seq=head.seq,
        head=head.head,
        signed_at=utcnow(),
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
