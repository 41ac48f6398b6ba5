"""What the end-to-end run must show, as checks over what was observed: each returns the
problems it found (an empty list: the invariant holds). Kept apart from the run so that
``test_each_invariant_catches_its_breach`` can break each one on purpose and see it fail.

* every passage a camera was answered for is in the ledger exactly once, and nothing is in the
  ledger that no camera sent;
* ``cleangate ledger verify`` passes for every site;
* the regulator's receiver holds every ledger passage exactly once, under a signature that
  verifies with the site's registered public key, with the ledger's plate and release result;
* no heavy truck of 国四 or below entered while the alert was in force unless a guard's manual
  release with operator and reason is on record.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from saas.compliance import EmissionStage, VehicleType
from saas.regulator.signing import canonical, make_verifier

RELEASE = {"ALLOW": "1", "DENY": "0", "REVIEW": "2"}
MANUAL = {"release", "remote_release"}
ALERT_LEVELS = {"orange", "red"}  # the levels whose measures stop 国四 heavy trucks here


@dataclass
class SiteObserved:
    answered: set[uuid.UUID]  # event ids the cameras got a decision for
    built: set[uuid.UUID]  # every push built (answered or still in flight at the end)
    ledger: list[dict[str, Any]]  # chained records, in sequence order
    verify_exit: int
    verify_output: str
    client_id: str
    public_key: str
    signer: str = "rsa2"


@dataclass
class Observed:
    sites: dict[str, SiteObserved]
    receipts: list[dict[str, Any]]  # the receiver's, every kind
    envelopes: dict[str, bytes]
    alerts: list[tuple[str, datetime, datetime | None]] = field(default_factory=list)


def problems(seen: Observed) -> list[str]:
    return [
        *ledger_exactly_once(seen),
        *ledger_verifies(seen),
        *receiver_exactly_once(seen),
        *receipts_signed(seen),
        *no_cn4_heavy_in_during_alert(seen),
    ]


def ledger_exactly_once(seen: Observed) -> list[str]:
    found = []
    for key, site in seen.sites.items():
        ids = [uuid.UUID(r["event_id"]) for r in site.ledger if r.get("kind") == "passage"]
        twice = [i for i, n in Counter(ids).items() if n > 1]
        if twice:
            found.append(f"{key}: {len(twice)} passages stored more than once, e.g. {twice[0]}")
        missing = site.answered - set(ids)
        if missing:
            found.append(f"{key}: {len(missing)} answered passages not in the ledger")
        # manual records have event ids of their own; camera reads must come from our pushes
        strangers = {
            uuid.UUID(r["event_id"])
            for r in site.ledger
            if r.get("kind") == "passage" and not r.get("manual")
        } - site.built
        if strangers:
            found.append(f"{key}: {len(strangers)} ledger passages no camera sent")
    return found


def ledger_verifies(seen: Observed) -> list[str]:
    return [
        f"{key}: cleangate ledger verify exited {site.verify_exit}: {site.verify_output.strip()}"
        for key, site in seen.sites.items()
        if site.verify_exit != 0
    ]


def _passage_receipts(seen: Observed, client_id: str) -> list[dict[str, Any]]:
    return [r for r in seen.receipts if r["kind"] == "passage" and r["client_id"] == client_id]


def receiver_exactly_once(seen: Observed) -> list[str]:
    found = []
    for key, site in seen.sites.items():
        receipts = _passage_receipts(seen, site.client_id)
        record_ids = Counter(str(r["record"].get("recordId")) for r in receipts)
        twice = [i for i, n in record_ids.items() if n > 1]
        if twice:
            found.append(f"{key}: the receiver holds {len(twice)} passages twice, e.g. {twice[0]}")
        ledger = {r["event_id"]: r for r in site.ledger if r.get("kind") == "passage"}
        missing = set(ledger) - set(record_ids)
        if missing:
            found.append(f"{key}: {len(missing)} ledger passages never reached the receiver")
        extra = set(record_ids) - set(ledger)
        if extra:
            found.append(f"{key}: the receiver holds {len(extra)} passages the ledger has not")
        for receipt in receipts:
            record = receipt["record"]
            source = ledger.get(str(record.get("recordId")))
            if source is None:
                continue
            plate = source["plate"].get("normalized") or source["plate"].get("raw") or "未识别"
            release = RELEASE[source["decision"]["verdict"]]
            if (source.get("manual") or {}).get("action") in MANUAL:
                release = "3"
            if (record.get("plateNo"), record.get("releaseResult")) != (plate, release):
                found.append(
                    f"{key}: receipt {record.get('recordId')} says "
                    f"{record.get('plateNo')}/{record.get('releaseResult')}, "
                    f"the ledger {plate}/{release}"
                )
    return found


def receipts_signed(seen: Observed) -> list[str]:
    """Every passage receipt came in a request whose signature verifies with the site's key
    and whose signed data holds that very record."""
    found = []
    verified: dict[str, Any] = {}
    for key, site in seen.sites.items():
        verifier = make_verifier(site.signer, site.public_key)
        for receipt in _passage_receipts(seen, site.client_id):
            digest = receipt.get("envelope")
            raw = seen.envelopes.get(digest or "")
            if raw is None:
                found.append(f"{key}: receipt {receipt['key']} names no request on record")
                continue
            if digest not in verified:
                body = json.loads(raw)
                ok = body.get("appId") == site.client_id and verifier.verify(
                    canonical(body), str(body.get("sign"))
                )
                verified[digest] = body if ok else None
            body = verified[digest]
            if body is None:
                found.append(f"{key}: receipt {receipt['key']} came with a bad signature")
            elif receipt["record"] not in body.get("data", []):
                found.append(f"{key}: receipt {receipt['key']} is not in its signed request")
    return found


def _heavy(vehicle: Mapping[str, Any]) -> bool:
    try:
        return VehicleType(str(vehicle.get("vehicle_type"))).heavy_duty
    except ValueError:
        return False


def _cn4_or_below(vehicle: Mapping[str, Any]) -> bool:
    stage = str(vehicle.get("emission_stage") or "").lower()
    try:
        value = EmissionStage(stage)
    except ValueError:
        return False
    return value is not EmissionStage.UNKNOWN and value <= EmissionStage.CN4


def _in_alert(seen: Observed, at: datetime) -> bool:
    return any(
        level in ALERT_LEVELS and starts <= at and (ends is None or at < ends)
        for level, starts, ends in seen.alerts
    )


def cn4_heavy_entries_during_alert(seen: Observed) -> list[tuple[str, dict[str, Any]]]:
    """(site, record) of every entry attempt by a 国四-or-below heavy truck under the alert."""
    found = []
    for key, site in seen.sites.items():
        for record in site.ledger:
            vehicle = record.get("vehicle") or {}
            if (
                record.get("kind") == "passage"
                and record.get("direction") == "in"
                and _heavy(vehicle)
                and _cn4_or_below(vehicle)
                and _in_alert(seen, datetime.fromisoformat(record["captured_at"]))
            ):
                found.append((key, record))
    return found


def no_cn4_heavy_in_during_alert(seen: Observed) -> list[str]:
    found = []
    for key, record in cn4_heavy_entries_during_alert(seen):
        if record["decision"]["verdict"] != "ALLOW":
            continue
        manual = record.get("manual") or {}
        if manual.get("action") in MANUAL and manual.get("operator") and manual.get("reason"):
            continue
        plate = record["plate"].get("normalized") or record["plate"].get("raw")
        found.append(
            f"{key}: {plate} ({record['vehicle'].get('emission_stage')}, "
            f"{record['vehicle'].get('vehicle_type')}) was let in at {record['captured_at']} "
            f"under the alert without a manual release"
        )
    return found
