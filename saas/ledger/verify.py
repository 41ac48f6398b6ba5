"""Recompute a site's chain and check its signed checkpoints (``cleangate ledger verify``)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from saas.ledger import chain
from saas.ledger.checkpoints import verify_signature
from saas.models.ledger import Checkpoint, LedgerHead, Passage


@dataclass(frozen=True)
class Report:
    site_id: uuid.UUID
    checked: int
    checkpoints: int
    first_break: chain.Break | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def verify_site(
    session: Session,
    site_id: uuid.UUID,
    public_key: bytes | Mapping[str, bytes],
    since: datetime | None = None,
    until: datetime | None = None,
) -> Report:
    """Walk the chain in seq order (optionally only the records captured in a window, starting
    from the stored link of the first one) and check every checkpoint against it. ``public_key``
    is the signing key's public half, or key id → public key of every key ever used (rotation):
    a checkpoint is checked with the key its ``key_id`` names."""
    head = session.get(LedgerHead, site_id)
    first_seq, last_seq = (head.retained_from_seq, head.seq) if head else (1, 0)
    if since is not None or until is not None:
        window = select(func.min(Passage.seq), func.max(Passage.seq)).where(
            Passage.site_id == site_id
        )
        if since is not None:
            window = window.where(Passage.captured_at >= since)
        if until is not None:
            window = window.where(Passage.captured_at < until)
        low, high = session.execute(window).one()
        if low is None:
            return Report(site_id, 0, 0, None)
        first_seq, last_seq = low, high
    start_prev = chain.GENESIS
    if head is not None and first_seq == head.retained_from_seq and head.retained_prev_hash:
        start_prev = head.retained_prev_hash  # the chain was shortened by retention
    elif first_seq > 1:
        first = session.scalars(
            select(Passage).where(Passage.site_id == site_id, Passage.seq == first_seq)
        ).first()
        start_prev = first.prev_hash if first is not None else chain.GENESIS
    rows = session.scalars(
        select(Passage)
        .where(Passage.site_id == site_id, Passage.seq >= first_seq, Passage.seq <= last_seq)
        .order_by(Passage.seq, Passage.captured_at)
        .execution_options(yield_per=2000)
    )
    whole = since is None and until is None
    checked, broken = chain.verify_rows(
        iter(rows),
        start_seq=first_seq,
        start_prev=start_prev,
        expected_head=(head.seq, head.head) if whole and head else None,
    )
    if broken is not None:
        return Report(site_id, checked, 0, broken)
    hashes = dict(
        session.execute(
            select(Passage.seq, Passage.hash).where(
                Passage.site_id == site_id, Passage.seq >= first_seq, Passage.seq <= last_seq
            )
        ).all()
    )
    count = 0
    for checkpoint in session.scalars(
        select(Checkpoint).where(Checkpoint.site_id == site_id).order_by(Checkpoint.seq)
    ):
        key = public_key.get(checkpoint.key_id) if isinstance(public_key, Mapping) else public_key
        if key is None:  # not tampering: a retired key missing from LEDGER_PREVIOUS_PUBLIC_KEYS
            return Report(
                site_id,
                checked,
                count,
                chain.Break(
                    checkpoint.seq,
                    "checkpoint_unknown_key",
                    f"signed with key {checkpoint.key_id}, which is neither LEDGER_SIGNING_KEY "
                    "nor in LEDGER_PREVIOUS_PUBLIC_KEYS",
                ),
            )
        if not verify_signature(key, checkpoint):
            return Report(
                site_id,
                checked,
                count,
                chain.Break(checkpoint.seq, "checkpoint_forged", "signature does not verify"),
            )
        if checkpoint.seq < first_seq:
            count += 1  # its records were removed by retention; the signature still holds
            continue
        if checkpoint.seq in hashes and hashes[checkpoint.seq] != checkpoint.head:
            return Report(
                site_id,
                checked,
                count,
                chain.Break(
                    checkpoint.seq, "rewritten", "the signed checkpoint names another hash"
                ),
            )
        if whole and checkpoint.seq > last_seq:
            return Report(
                site_id,
                checked,
                count,
                chain.Break(checkpoint.seq, "missing", "records after the chain end were signed"),
            )
        count += 1
    return Report(site_id, checked, count, None)
