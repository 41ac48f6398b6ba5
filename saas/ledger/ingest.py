"""``ingest_passages``: the one way passages enter the ledger (HTTP endpoint now, the websocket
hub later). One transaction per batch; acknowledgements only after COMMIT; idempotent on the
edge-chosen event id."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from saas.compliance import parse_plate
from saas.db import utcnow
from saas.ledger import cargo, chain
from saas.models.ledger import LedgerEvent, Passage
from saas.models.tenancy import Site
from saas.regulator import outbox as regulator_outbox

MAX_BATCH = 1000
SHA256_HEX = r"^[0-9a-f]{64}$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class VehicleSnapshot(Strict):
    """What the registry knew at decision time (kept with the passage, never re-derived)."""

    registered: bool = False
    vehicle_type: Annotated[str | None, Field(max_length=8)] = None
    fuel_type: Annotated[str | None, Field(max_length=20)] = None
    emission_stage: Annotated[str | None, Field(max_length=10)] = None
    registration_date: date | None = None
    vin: Annotated[str | None, Field(max_length=17)] = None
    category: Annotated[str | None, Field(max_length=20)] = None
    carrier: Annotated[str | None, Field(max_length=200)] = None
    listed: Literal["black", "white"] | None = None
    booking_id: Annotated[str | None, Field(max_length=64)] = None


class DecisionIn(Strict):
    verdict: Literal["ALLOW", "DENY", "REVIEW"]
    reasons: Annotated[list[Annotated[str, Field(max_length=40)]], Field(max_length=20)] = []
    matched_rules: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=50)] = []
    policy_version: Annotated[str | None, Field(max_length=64)] = None
    alert_level: Literal["none", "yellow", "orange", "red"] = "none"
    display: Annotated[list[Annotated[str, Field(max_length=40)]], Field(max_length=6)] = []
    barrier_opened: bool | None = None


class ImageRef(Strict):
    kind: Literal["plate", "vehicle", "scene"]
    sha256: Annotated[str, Field(pattern=SHA256_HEX)]
    content_type: Literal["image/jpeg", "image/png"]
    size: Annotated[int, Field(gt=0, le=5 * 1024 * 1024)]


class CargoIn(Strict):
    name: Annotated[str, Field(min_length=1, max_length=100)]  # 运输货物名称
    quantity: Annotated[float, Field(ge=0)]  # 运输量
    unit: Annotated[str, Field(min_length=1, max_length=10)] = "t"
    origin: Annotated[str | None, Field(max_length=200)] = None
    destination: Annotated[str | None, Field(max_length=200)] = None


class ManualIn(Strict):
    """A guard's hand on the passage: opened it (with a reason), typed the plate the camera
    could not read, or a release ordered from the portal and carried out by the bridge."""

    action: Literal["release", "typed", "remote_release"]
    operator: Annotated[str, Field(min_length=1, max_length=100)]
    reason: Annotated[str | None, Field(max_length=300)] = None
    amends_event_id: uuid.UUID | None = None


class PassageIn(Strict):
    event_id: uuid.UUID
    captured_at: AwareDatetime
    gate: Annotated[str, Field(min_length=1, max_length=20)]  # 出入口编号
    lane: Annotated[str, Field(pattern=r"^[0-9]{2}$")]  # 道闸编号
    direction: Literal["in", "out"]
    plate_text: Annotated[str, Field(max_length=32)] = ""
    plate_color: Annotated[str | None, Field(max_length=16)] = None
    confidence: Annotated[float | None, Field(ge=0, le=1)] = None
    vehicle: VehicleSnapshot = VehicleSnapshot()
    decision: DecisionIn
    images: Annotated[list[ImageRef], Field(max_length=4)] = []
    video_ref: Annotated[str | None, Field(max_length=300)] = None
    cargo: CargoIn | None = None
    manual: ManualIn | None = None


class PassageBatch(Strict):
    passages: Annotated[list[PassageIn], Field(min_length=1, max_length=MAX_BATCH)]


@dataclass(frozen=True)
class Ack:
    event_id: uuid.UUID
    status: str  # stored | duplicate | conflict
    seq: int | None
    hash: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "event_id": str(self.event_id),
            "status": self.status,
            "seq": self.seq,
            "hash": self.hash,
        }


def payload_json(item: PassageIn) -> str:
    """pydantic's JSON of the validated model: fields in declaration order, so equal content
    gives equal text. Computed once per passage; it identifies the payload for replay
    detection and is the source of the record's nested parts."""
    # ``manual`` joined the model later: left out when absent, so the digest of an event
    # stored before it existed is unchanged and its replay still reads as a duplicate.
    return item.model_dump_json(exclude={"manual"} if item.manual is None else None)


def payload_digest(item: PassageIn) -> bytes:
    return hashlib.sha256(payload_json(item).encode()).digest()


def record_columns(
    record: dict[str, Any], item: PassageIn, received_at: datetime
) -> dict[str, Any]:
    """The query columns of a fresh passage record, from values already in hand (equal to
    ``chain.query_columns(record)``, without re-parsing its timestamps)."""
    return {
        "event_id": item.event_id,
        "kind": "passage",
        "amends_event_id": None,
        "captured_at": item.captured_at,
        "received_at": received_at,
        "gate_code": item.gate,
        "lane_code": item.lane,
        "direction": item.direction,
        "plate": record["plate"]["normalized"],
        "plate_color": record["plate"]["color"],
        "verdict": item.decision.verdict,
        "emission_stage": item.vehicle.emission_stage,
        "fuel_type": item.vehicle.fuel_type,
    }


def passage_record(
    site: Site,
    item: PassageIn,
    received_at: datetime,
    device_id: uuid.UUID | None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ledger record: the edge's facts plus what the cloud adds (receive time, the
    normalised plate with its compliance codes). Everything here is hashed. ``payload`` is
    ``json.loads(payload_json(item))`` when the caller has it already."""
    if payload is None:
        payload = json.loads(payload_json(item))
    plate = parse_plate(item.plate_text, item.plate_color)
    return {
        "v": 1,
        "kind": "passage",
        "event_id": str(item.event_id),
        "amends_event_id": None,
        "site_id": str(site.id),
        "device_id": str(device_id) if device_id else None,
        "captured_at": chain.iso(item.captured_at),
        "received_at": chain.iso(received_at),
        "gate": item.gate,
        "lane": item.lane,
        "direction": item.direction,
        "plate": {
            "raw": item.plate_text,
            "normalized": plate.normalized or None,
            "color": str(plate.color) if plate.color else item.plate_color,
            "valid": plate.valid,
            "errors": list(plate.errors),
            "confidence": item.confidence,
        },
        "vehicle": payload["vehicle"],
        "decision": payload["decision"],
        "images": payload["images"],
        "video_ref": item.video_ref,
        "cargo": payload["cargo"],
        **({"manual": payload["manual"]} if item.manual is not None else {}),
    }


def ingest_passages(
    session: Session,
    site: Site,
    batch: PassageBatch,
    device_id: uuid.UUID | None = None,
    *,
    attempts: int = 3,
) -> list[Ack]:
    """Store a batch in one transaction and return one ack per passage, after COMMIT.

    A replay (same event id, same content) is acknowledged with the original seq and hash and
    writes nothing; the same event id with different content is a ``conflict`` and is not
    stored. Concurrent batches racing on one event id retry from the dedupe check."""
    for attempt in range(attempts):
        try:
            acks = _ingest_once(session, site, batch, device_id)
            session.commit()
            return acks
        except IntegrityError:
            session.rollback()
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _ingest_once(
    session: Session, site: Site, batch: PassageBatch, device_id: uuid.UUID | None
) -> list[Ack]:
    ids = [p.event_id for p in batch.passages]
    known = {
        e.event_id: e
        for e in session.scalars(select(LedgerEvent).where(LedgerEvent.event_id.in_(ids)))
    }
    received_at = utcnow()
    fresh: list[tuple[PassageIn, bytes, str]] = []
    fresh_ids: set[uuid.UUID] = set()
    decided: dict[uuid.UUID, Ack] = {}
    for item in batch.passages:
        if item.event_id in decided or item.event_id in fresh_ids:
            continue  # repeated inside the batch: acknowledged like the first occurrence
        raw = payload_json(item)
        digest = hashlib.sha256(raw.encode()).digest()
        existing = known.get(item.event_id)
        if existing is None:
            fresh.append((item, digest, raw))
            fresh_ids.add(item.event_id)
        elif existing.payload_digest == digest:
            decided[item.event_id] = Ack(
                item.event_id, "duplicate", existing.seq, existing.hash.hex()
            )
        else:
            decided[item.event_id] = Ack(item.event_id, "conflict", None, None)
    if fresh:
        head = chain.lock_head(session, site.tenant_id, site.id)
        records = [
            passage_record(site, item, received_at, device_id, json.loads(raw))
            for item, _, raw in fresh
        ]
        # Waiting cargo registrations fill the cargo of passages that carry none, before the
        # records are hashed (the edge's payload and its digest stay as they were).
        cargo.attach(
            session,
            site,
            [(item, r) for (item, _, _), r in zip(fresh, records, strict=True)],
            now=received_at,
        )
        columns = [
            record_columns(r, item, received_at)
            for r, (item, _, _) in zip(records, fresh, strict=True)
        ]
        appended = chain.append(session, head, records, columns)
        events = []
        for (item, digest, _), (_record, done) in zip(fresh, appended, strict=True):
            events.append(
                {
                    "tenant_id": site.tenant_id,
                    "event_id": done.event_id,
                    "site_id": site.id,
                    "seq": done.seq,
                    "captured_at": item.captured_at,
                    "hash": done.hash,
                    "payload_digest": digest,
                }
            )
            decided[done.event_id] = Ack(done.event_id, "stored", done.seq, done.hash.hex())
        session.execute(LedgerEvent.__table__.insert(), events)
        regulator_outbox.enqueue_passages(session, site, [item for item, _, _ in fresh])
    return [decided[p.event_id] for p in batch.passages]


def append_amendment(
    session: Session,
    site: Site,
    amends: uuid.UUID,
    kind: str,
    body: dict[str, Any],
    actor: dict[str, Any],
) -> Ack:
    """A manual release, cargo fill or correction: a new chained record pointing to the
    original passage, never an edit of it. Commits."""
    original = session.scalars(
        select(LedgerEvent).where(LedgerEvent.event_id == amends)
    ).one_or_none()
    if original is None or original.site_id != site.id:
        raise LookupError("original passage not found")
    base = session.scalars(
        select(Passage).where(Passage.site_id == site.id, Passage.seq == original.seq)
    ).one()
    now = utcnow()
    source = json.loads(base.record)
    record = {
        "v": 1,
        "kind": kind,
        "event_id": str(uuid.uuid4()),
        "amends_event_id": str(amends),
        "site_id": str(site.id),
        "device_id": None,
        "captured_at": chain.iso(now),
        "received_at": chain.iso(now),
        "gate": source.get("gate"),
        "lane": source.get("lane"),
        "direction": source.get("direction"),
        "plate": source.get("plate"),
        "vehicle": source.get("vehicle"),
        "decision": source.get("decision"),
        "amendment": body,
        "actor": actor,
        "images": [],
        "video_ref": None,
        "cargo": None,
    }
    head = chain.lock_head(session, site.tenant_id, site.id)
    ((_rec, done),) = chain.append(session, head, [record])
    session.execute(
        LedgerEvent.__table__.insert(),
        [
            {
                "tenant_id": site.tenant_id,
                "event_id": done.event_id,
                "site_id": site.id,
                "seq": done.seq,
                "captured_at": now,
                "hash": done.hash,
                "payload_digest": hashlib.sha256(chain.canonical_bytes(record)).digest(),
            }
        ],
    )
    session.commit()
    return Ack(done.event_id, "stored", done.seq, done.hash.hex())


RETENTION_MINIMUM = timedelta(days=731)  # ≥ 24 months for passages (HJ 1321-2023, seed 003)
