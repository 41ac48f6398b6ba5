"""The site snapshot: everything a gate decides on, as one JSON document the cloud builds and the
edge keeps (docs/edge-protocol.md §Sync).

Body sections::

    policy    Policy.to_dict() of the policy in force
    plan      what the public board prints (saas/compliance/board.py): enterprise, district,
              legal representative, industry, rating, responsible person (phones masked),
              remarks, ``measures`` per level, ``cargo_url`` for the QR code
    alert     {"level": "none"|"yellow"|"orange"|"red", "since": iso|None, "id": str|None,
               "windows": [{"level", "starts_at", "ends_at"|None, "id"}]} — the level in force
               at any moment is the highest window covering it (so an alert that starts or
               ends while the bridge is offline still switches on time), else ``level``
    registry  {normalised plate: {vehicle_type, fuel_type, emission_stage, registration_date,
               vin, category, carrier}}
    black     {normalised plate: {reason, valid_from, valid_to}}
    white     {normalised plate: {reason, exemption, valid_from, valid_to}}
    bookings  [{id, plate, start, end}] (today's)

The version is the digest of the content, so it is the same on every hub process and a delta
applied wrongly is caught (the digest after applying must equal the delta's version). Pure:
the edge imports this, the hub builds bodies with it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from saas.compliance.codes import (
    AlertLevel,
    EmissionStage,
    ExemptionCategory,
    FuelType,
    VehicleCategory,
    VehicleType,
)
from saas.compliance.decision import Booking, VehicleFacts
from saas.compliance.policy import Policy

KEYED_SECTIONS = ("registry", "black", "white")
WHOLE_SECTIONS = ("policy", "plan", "alert", "bookings")
SECTIONS = WHOLE_SECTIONS + KEYED_SECTIONS

E = TypeVar("E", bound=StrEnum)
_LEVEL_ORDER = [AlertLevel.NONE, AlertLevel.YELLOW, AlertLevel.ORANGE, AlertLevel.RED]


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def version(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()[:32]


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The changes turning body ``old`` into ``new``: whole sections are replaced, keyed ones
    change entry by entry."""
    changes: dict[str, Any] = {}
    for section in WHOLE_SECTIONS:
        if old.get(section) != new.get(section):
            changes[section] = {"replace": new.get(section)}
    for section in KEYED_SECTIONS:
        before, after = old.get(section) or {}, new.get(section) or {}
        upsert = {k: v for k, v in after.items() if before.get(k) != v}
        remove = sorted(k for k in before if k not in after)
        if upsert or remove:
            changes[section] = {"set": upsert, "remove": remove}
    return changes


def apply(body: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """A new body with ``changes`` applied; the input is not modified."""
    out = dict(body)
    for section, change in changes.items():
        if section in WHOLE_SECTIONS:
            out[section] = change["replace"]
        elif section in KEYED_SECTIONS:
            entries = dict(out.get(section) or {})
            for key in change.get("remove", []):
                entries.pop(key, None)
            entries.update(change.get("set", {}))
            out[section] = entries
        else:
            raise ValueError(f"unknown snapshot section {section!r}")
    return out


def _enum(kind: type[E], value: object) -> E | None:
    try:
        return kind(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _date(value: object) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _active(entry: Mapping[str, Any], at: datetime) -> bool:
    start, end = entry.get("valid_from"), entry.get("valid_to")
    try:
        if isinstance(start, str) and at < datetime.fromisoformat(start):
            return False
        return not (isinstance(end, str) and at >= datetime.fromisoformat(end))
    except (TypeError, ValueError):
        return False  # an unreadable window never grants (or bars) anything


class Site:
    """A parsed snapshot ready for ``decide``: the policy compiled once, look-ups by plate."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.version = version(body)
        self.policy = Policy.from_dict(body["policy"])
        alert = body.get("alert") or {}
        self.alert_level = _enum(AlertLevel, alert.get("level")) or AlertLevel.NONE
        self.alert_windows: list[tuple[datetime, datetime | None, AlertLevel]] = []
        for window in alert.get("windows") or []:
            try:
                start = datetime.fromisoformat(window["starts_at"])
                end = datetime.fromisoformat(window["ends_at"]) if window.get("ends_at") else None
            except (KeyError, TypeError, ValueError):
                continue
            level = _enum(AlertLevel, window.get("level"))
            if level is not None:
                self.alert_windows.append((start, end, level))
        self.registry: Mapping[str, Mapping[str, Any]] = body.get("registry") or {}
        self.black: Mapping[str, Mapping[str, Any]] = body.get("black") or {}
        self.white: Mapping[str, Mapping[str, Any]] = body.get("white") or {}
        self.bookings: dict[str, list[Booking]] = {}
        for item in body.get("bookings") or []:
            try:
                booking = Booking(
                    start=datetime.fromisoformat(item["start"]),
                    end=datetime.fromisoformat(item["end"]),
                )
            except (KeyError, TypeError, ValueError):
                continue
            self.bookings.setdefault(str(item.get("plate", "")), []).append(booking)

    def alert_level_at(self, at: datetime) -> AlertLevel:
        """The alert level in force at ``at``: the highest window covering it; without
        windows, the snapshot's single ``level``."""
        if not self.alert_windows:
            return self.alert_level
        covering = [
            level
            for start, end, level in self.alert_windows
            if start <= at and (end is None or at < end)
        ]
        return max(covering, key=_LEVEL_ORDER.index, default=AlertLevel.NONE)

    def facts(self, plate: str, at: datetime) -> VehicleFacts | None:
        """What the snapshot knows about ``plate`` (normalised) at ``at``; None if nothing."""
        entry = self.registry.get(plate)
        black = self.black.get(plate)
        white = self.white.get(plate)
        blacklisted = black is not None and _active(black, at)
        whitelisted = white is not None and _active(white, at)
        bookings = tuple(self.bookings.get(plate, ()))
        if entry is None and not (blacklisted or whitelisted or bookings):
            return None
        entry = entry or {}
        category = _enum(VehicleCategory, entry.get("category"))
        if category is None:
            category = VehicleCategory.VISITOR if bookings else VehicleCategory.TRANSPORT
        return VehicleFacts(
            vehicle_type=_enum(VehicleType, entry.get("vehicle_type")),
            fuel=_enum(FuelType, entry.get("fuel_type")),
            stage=_enum(EmissionStage, entry.get("emission_stage")),
            registration_date=_date(entry.get("registration_date")),
            vin=entry.get("vin") if isinstance(entry.get("vin"), str) else None,
            category=category,
            exemption=_enum(ExemptionCategory, (white or {}).get("exemption"))
            if whitelisted
            else None,
            blacklisted=blacklisted,
            whitelisted=whitelisted,
            bookings=bookings,
        )
