"""Cargo registrations (运输货物登记) from the mini-program, and how they reach the ledger.

A driver scans the QR code on a site's board and registers the load: plate, goods, quantity
and unit, carrier, origin or destination. The registration waits (``waiting``) for that plate's
next passage at that site within a window (``MP_CARGO_WINDOW_MINUTES``); ``attach`` runs inside
the ingest transaction, before the batch is hashed, and fills the passage record's ``cargo`` —
so the cargo is part of the chained record, the ledger export and the regulator upload, exactly
as if the edge had sent it. The edge's own payload (and its digest, which detects replays) is
untouched: like ``plate.normalized``, the cargo is something the cloud adds to the record.

Rules:
- one truck carries one load at a time: a new registration of a plate at a site cancels the
  plate's previous waiting one there (whoever made it);
- a passage takes the earliest waiting registration of its (valid, normalised) plate at the
  site with ``created_at <= captured_at < expires_at``; one registration fills one passage and
  one passage takes one registration; inside a batch the earliest captured passage wins;
- a passage whose cargo came from the edge keeps it, and the registration goes on waiting;
- the plate number alone matches (the camera's colour report is not reliable enough to veto);
  the gate scanned is kept for the record, any gate of the site matches.

Expiry is computed on read (``effective_status``): the row stays ``waiting`` past
``expires_at`` and reads as ``expired``. So a passage captured inside the window but delivered
late (bridge offline) still finds its registration. A new registration of the same plate
writes ``expired`` on the plate's stale rows at the site (and ``cancelled`` on a live one).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from saas.compliance import parse_plate, plates
from saas.db import utcnow
from saas.errors import ApiError, NotFound
from saas.models.miniprogram import CargoRegistration
from saas.models.tenancy import Site

# 单位: the short list a driver picks from (HJ 1321-2023 leaves 运输量 units free; these cover
# bulk goods by weight or volume, piece goods and "whole truckloads").
UNITS: dict[str, str] = {"t": "吨", "kg": "千克", "m³": "立方米", "件": "件", "车": "车"}
UNIT_ALIASES = {"m3": "m³", "吨": "t", "千克": "kg", "公斤": "kg", "立方米": "m³", "方": "m³"}

STATUS_LABELS = {
    "waiting": "等待过车",
    "attached": "已关联过车记录",
    "expired": "已过期",
    "cancelled": "已取消",
}


class CargoData(BaseModel):
    """What a driver registers (the site comes from the QR code)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    gate: Annotated[str | None, Field(pattern=r"^[A-Za-z0-9_-]{1,20}$")] = None
    plate: Annotated[str, Field(min_length=1, max_length=16)]  # 车牌号码
    plate_color: Annotated[str | None, Field(max_length=16)] = None  # 号牌颜色
    name: Annotated[str, Field(min_length=1, max_length=100)]  # 运输货物名称
    quantity: Annotated[Decimal, Field(gt=0, max_digits=12, decimal_places=3)]  # 运输量
    unit: Annotated[str, Field(min_length=1, max_length=10)]  # 单位: one of UNITS
    carrier: Annotated[str | None, Field(max_length=200)] = None  # 承运单位
    origin: Annotated[str | None, Field(max_length=200)] = None  # 来源地
    destination: Annotated[str | None, Field(max_length=200)] = None  # 目的地


def _plate_error(codes: Sequence[str]) -> ApiError:
    reasons = plates.error_reasons(list(codes))
    return ApiError(
        422,
        "plate_invalid",
        "车牌号码无效",
        {
            "fields": {"plate": "；".join(r["message"] for r in reasons) or "车牌号码无效"},
            "reasons": reasons,
        },
    )


def check(data: CargoData) -> tuple[str, str | None, str]:
    """The normalised plate, its canonical colour and unit; 422 naming every bad field."""
    fields: dict[str, str] = {}
    unit = UNIT_ALIASES.get(data.unit, data.unit)
    if unit not in UNITS:
        fields["unit"] = "单位应为 " + "、".join(UNITS)
    if not data.origin and not data.destination:
        fields["origin"] = fields["destination"] = "来源地、目的地至少填写一项"
    plate = parse_plate(data.plate, data.plate_color)
    if data.plate_color and "unknown_color" in plate.warnings:
        fields["plate_color"] = "未知的号牌颜色"
    if not plate.valid or not plate.normalized:
        error = _plate_error(plate.errors or ("unreadable",))
        error.details["fields"].update(fields)
        raise error
    if fields:
        raise ApiError(422, "validation_failed", "输入有误", {"fields": fields})
    color = str(plate.color) if plate.color else None
    return plate.normalized, color, unit


def effective_status(row: CargoRegistration, now: datetime | None = None) -> str:
    """The status as shown: a waiting registration past its window reads ``expired``."""
    if row.status == "waiting" and row.expires_at <= (now or utcnow()):
        return "expired"
    return row.status


def register(
    session: Session,
    site: Site,
    user_id: uuid.UUID,
    data: CargoData,
    window: timedelta,
    *,
    now: datetime | None = None,
) -> tuple[CargoRegistration, list[CargoRegistration]]:
    """Store a registration (``waiting`` until ``now + window``) and commit. Returns it and the
    plate's registrations at the site it replaced (one load per truck). Bad input writes
    nothing."""
    plate, color, unit = check(data)
    now = now or utcnow()
    replaced = list(
        session.scalars(
            select(CargoRegistration)
            .where(
                CargoRegistration.site_id == site.id,
                CargoRegistration.plate == plate,
                CargoRegistration.status == "waiting",
            )
            .with_for_update()
        )
    )
    for old in replaced:
        old.status = "expired" if old.expires_at <= now else "cancelled"
    row = CargoRegistration(
        tenant_id=site.tenant_id,
        site_id=site.id,
        gate_code=data.gate,
        user_id=user_id,
        plate=plate,
        plate_color=color,
        name=data.name,
        quantity=data.quantity,
        unit=unit,
        carrier=data.carrier or None,
        origin=data.origin or None,
        destination=data.destination or None,
        status="waiting",
        created_at=now,
        expires_at=now + window,
    )
    session.add(row)
    session.commit()
    return row, replaced


def cancel(
    session: Session,
    site: Site,
    user_id: uuid.UUID,
    registration_id: uuid.UUID,
    *,
    now: datetime | None = None,
) -> CargoRegistration:
    """The driver withdraws a waiting registration (commits). Another driver's, or one at
    another site, is 404; one no longer waiting is 409."""
    row = session.scalars(
        select(CargoRegistration)
        .where(
            CargoRegistration.id == registration_id,
            CargoRegistration.site_id == site.id,
            CargoRegistration.user_id == user_id,
        )
        .with_for_update()
    ).one_or_none()
    if row is None:
        raise NotFound("货物登记")
    status = effective_status(row, now)
    if status != "waiting":
        raise ApiError(
            409,
            "cargo_not_waiting",
            f"该登记{STATUS_LABELS[status]}，不能取消",
            {"status": status},
        )
    row.status = "cancelled"
    session.commit()
    return row


def ledger_cargo(row: CargoRegistration) -> dict[str, Any]:
    """The passage record's ``cargo``: the keys of the edge's ``CargoIn`` (quantity a JSON
    number, as the edge sends it) plus the carrier and the registration it came from."""
    return {
        "name": row.name,
        "quantity": float(row.quantity),
        "unit": row.unit,
        "origin": row.origin,
        "destination": row.destination,
        "carrier": row.carrier,
        "registration_id": str(row.id),
    }


@dataclass(slots=True)
class _Fresh:
    """A fresh passage that has no cargo of its own."""

    captured_at: datetime
    index: int  # position in the batch: the tie-break between equal capture times
    event_id: uuid.UUID
    record: dict[str, Any]


def _plate_in(session: Session, plates: list[str]) -> ColumnElement[bool]:
    """``plate IN (…)``; on PostgreSQL one array parameter (``= ANY``), which spares compiling
    and planning a list of hundreds of parameters on every batch."""
    if session.get_bind().dialect.name == "postgresql":
        return CargoRegistration.plate == any_(bindparam("cargo_plates", plates, ARRAY(String)))
    return CargoRegistration.plate.in_(plates)


def attach(
    session: Session,
    site: Site,
    fresh: Sequence[tuple[Any, dict[str, Any]]],
    *,
    now: datetime | None = None,
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Fill the cargo of fresh passage records (``(PassageIn, record)`` pairs, before they are
    hashed) from waiting registrations, in the caller's transaction. Returns the (event id,
    registration id) pairs attached.

    Costs one indexed query (site, plate, status) for the batch's plates that lack cargo, and
    nothing at all when no passage of the batch lacks cargo."""
    wanted: dict[str, list[int]] = {}  # plate → positions in the batch of its passages
    for index, (_item, record) in enumerate(fresh):
        plate = record["plate"]
        if record["cargo"] is None and plate["valid"] and plate["normalized"]:
            wanted.setdefault(plate["normalized"], []).append(index)
    if not wanted:
        return []
    times = [fresh[i][0].captured_at for group in wanted.values() for i in group]
    rows = session.scalars(
        select(CargoRegistration)
        .where(
            CargoRegistration.site_id == site.id,
            _plate_in(session, list(wanted)),
            CargoRegistration.status == "waiting",
            CargoRegistration.created_at <= max(times),
            CargoRegistration.expires_at > min(times),
        )
        .order_by(CargoRegistration.created_at, CargoRegistration.id)
        .with_for_update()
    ).all()
    if not rows:
        return []
    waiting: dict[str, list[CargoRegistration]] = {}
    for row in rows:
        waiting.setdefault(row.plate, []).append(row)
    attached_at = now or utcnow()
    done: list[tuple[uuid.UUID, uuid.UUID]] = []
    for plate, candidates in waiting.items():
        passages = sorted(
            (
                _Fresh(fresh[i][0].captured_at, i, fresh[i][0].event_id, fresh[i][1])
                for i in wanted[plate]
            ),
            key=lambda p: (p.captured_at, p.index),
        )
        for passage in passages:
            match = next(
                (r for r in candidates if r.created_at <= passage.captured_at < r.expires_at),
                None,
            )
            if match is None:
                continue
            candidates.remove(match)
            passage.record["cargo"] = ledger_cargo(match)
            match.status = "attached"
            match.passage_event_id = passage.event_id
            match.attached_at = attached_at
            done.append((passage.event_id, match.id))
            if not candidates:
                break
    return done
