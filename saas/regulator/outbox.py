"""Writing regulator upload rows in the transaction of their cause (docs/regulator.md).

One ``regulator_uploads`` row per record per active platform configuration of the site:

* ``enqueue_passages`` — from ``ingest_passages``, for the passages a batch newly stored
  (``passage:<event_id>``; amendments are not uploaded);
* ``enqueue_registry`` — from ``registries.record_change``: every change of a transport, in-plant
  or non-road record is a new revision (``<kind>:<id>:r<n>``), sent as the row is when relayed;
* ``enqueue_gates`` — gate and lane registration (``gate:<gate>:<lane>:r<n>``);
* ``enqueue_daily_counts`` — per gate and lane, the passages of one Beijing day
  (``daily:<day>:<gate>:<lane>``).

Rows are inserted with ``ON CONFLICT (config_id, key) DO NOTHING``: the key is the idempotency
key the platform dedupes on, so a replayed cause writes nothing new and never fails the
caller's transaction. A site without an active configuration costs one indexed query
(``regulator_configs.site_id``). After COMMIT a relay job is enqueued for each tenant that got
rows; a rollback drops rows and trigger together.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from flask import Flask, current_app, has_app_context
from sqlalchemy import event, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, SessionTransaction

from saas.db import utcnow
from saas.models.ledger import Passage
from saas.models.regulator import RegulatorConfig, RegulatorUpload, SiteGate
from saas.models.tenancy import Site

log = logging.getLogger(__name__)

REGISTRY_KINDS = ("transport_vehicle", "inplant_vehicle", "nonroad_machinery")
BEIJING_OFFSET = timedelta(hours=8)  # Asia/Shanghai has had no DST since 1991

_PENDING = "cleangate.regulator.pending"  # session.info: {tenant_id, …}
_APP = "cleangate.regulator.app"
_HOOKED = "cleangate.regulator.hooked"


class StoredPassage(Protocol):
    """What ``enqueue_passages`` needs of a stored passage (``ingest.PassageIn`` has it)."""

    @property
    def event_id(self) -> uuid.UUID: ...
    @property
    def captured_at(self) -> datetime: ...
    @property
    def gate(self) -> str: ...
    @property
    def lane(self) -> str: ...


def active_config_ids(session: Session, site_id: uuid.UUID) -> list[uuid.UUID]:
    """The active platform configurations of a site (one indexed query, tenant-scoped)."""
    return list(
        session.scalars(
            select(RegulatorConfig.id).where(
                RegulatorConfig.site_id == site_id, RegulatorConfig.active.is_(True)
            )
        )
    )


def beijing_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC instants a Beijing calendar day starts and ends at (end exclusive)."""
    start = datetime.combine(day, time(0), tzinfo=UTC) - BEIJING_OFFSET
    return start, start + timedelta(days=1)


def _row(
    tenant_id: uuid.UUID,
    site_id: uuid.UUID,
    config_id: uuid.UUID,
    now: datetime,
    *,
    kind: str,
    source_id: str,
    key: str,
    captured_at: datetime,
    revision: int = 1,
    gate_code: str | None = None,
    lane_code: str | None = None,
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "site_id": site_id,
        "config_id": config_id,
        "kind": kind,
        "source_id": source_id,
        "revision": revision,
        "key": key,
        "gate_code": gate_code,
        "lane_code": lane_code,
        "captured_at": captured_at,
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


def _insert(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert rows whose (config, key) is new; return how many were written."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(RegulatorUpload)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["config_id", "key"])
        .returning(RegulatorUpload.tenant_id)
    )
    written = session.execute(statement).scalars().all()
    if written:
        _remember(session, written[0])
    return len(written)


def enqueue_passages(session: Session, site: Site, stored: Iterable[StoredPassage]) -> int:
    """Rows for passages newly stored by this transaction (kind ``passage`` only)."""
    items = list(stored)
    if not items:
        return 0
    configs = active_config_ids(session, site.id)
    if not configs:
        return 0
    now = utcnow()
    rows = [
        _row(
            site.tenant_id,
            site.id,
            config_id,
            now,
            kind="passage",
            source_id=str(item.event_id),
            key=f"passage:{item.event_id}",
            captured_at=item.captured_at,
            gate_code=item.gate,
            lane_code=item.lane,
        )
        for config_id in configs
        for item in items
    ]
    return _insert(session, rows)


def _next_revisions(
    session: Session, configs: Sequence[uuid.UUID], kind: str, source_id: str
) -> dict[uuid.UUID, int]:
    latest = dict(
        session.execute(
            select(RegulatorUpload.config_id, func.max(RegulatorUpload.revision))
            .where(
                RegulatorUpload.config_id.in_(configs),
                RegulatorUpload.kind == kind,
                RegulatorUpload.source_id == source_id,
            )
            .group_by(RegulatorUpload.config_id)
        ).all()
    )
    return {c: int(latest.get(c) or 0) + 1 for c in configs}


def enqueue_registry(
    session: Session,
    kind: str,
    record_id: uuid.UUID,
    site_id: uuid.UUID,
    changed_at: datetime,
) -> int:
    """A new revision of a registry record for every active configuration of its site. Kinds
    the platforms do not take (carriers, black/white lists) are ignored."""
    if kind not in REGISTRY_KINDS:
        return 0
    configs = active_config_ids(session, site_id)
    if not configs:
        return 0
    tenant_id = _tenant_of_site(session, site_id)
    now = utcnow()
    revisions = _next_revisions(session, configs, kind, str(record_id))
    rows = [
        _row(
            tenant_id,
            site_id,
            config_id,
            now,
            kind=kind,
            source_id=str(record_id),
            key=f"{kind}:{record_id}:r{revisions[config_id]}",
            captured_at=changed_at,
            revision=revisions[config_id],
        )
        for config_id in configs
    ]
    return _insert(session, rows)


def _tenant_of_site(session: Session, site_id: uuid.UUID) -> uuid.UUID:
    site = session.get(Site, site_id)
    if site is None:
        raise LookupError("site not found")
    return site.tenant_id


def known_gates(session: Session, site_id: uuid.UUID) -> list[tuple[str, str]]:
    """Gate and lane codes the site's ledger has seen (the fallback for a site without
    ``site_gates`` rows)."""
    rows = session.execute(
        select(Passage.gate_code, Passage.lane_code)
        .where(
            Passage.site_id == site_id,
            Passage.gate_code.is_not(None),
            Passage.lane_code.is_not(None),
        )
        .distinct()
    ).all()
    return sorted((str(g), str(lane)) for g, lane in rows)


def registered_gates(session: Session, site_id: uuid.UUID) -> list[SiteGate]:
    """The site's gate rows (``site_gates``), active or not, in code order."""
    return list(
        session.scalars(
            select(SiteGate)
            .where(SiteGate.site_id == site_id)
            .order_by(SiteGate.gate_code, SiteGate.lane_code)
        )
    )


def enqueue_gates(
    session: Session,
    site: Site,
    gates: Iterable[tuple[str, str] | SiteGate] | None = None,
    *,
    changed: bool = False,
) -> int:
    """Gate/lane registration: one row per gate and lane not yet registered with a platform
    (``changed=True``: a new revision for every one, e.g. after the coordinates changed).
    ``gates`` are ``SiteGate`` rows or (gate, lane) codes; they default to the site's
    ``site_gates`` rows, or — when the site has none — the codes its ledger has seen."""
    configs = active_config_ids(session, site.id)
    if not configs:
        return 0
    if gates is None:
        rows_of_site = registered_gates(session, site.id)
        gates = rows_of_site if rows_of_site else known_gates(session, site.id)
    pairs = sorted(
        {(g.gate_code, g.lane_code) if isinstance(g, SiteGate) else (g[0], g[1]) for g in gates}
    )
    now = utcnow()
    rows = []
    for gate, lane in pairs:
        source_id = f"{gate}:{lane}"
        revisions = _next_revisions(session, configs, "gate", source_id)
        for config_id in configs:
            revision = revisions[config_id]
            if revision > 1 and not changed:
                continue
            rows.append(
                _row(
                    site.tenant_id,
                    site.id,
                    config_id,
                    now,
                    kind="gate",
                    source_id=source_id,
                    key=f"gate:{gate}:{lane}:r{revision}",
                    captured_at=now,
                    revision=revision,
                    gate_code=gate,
                    lane_code=lane,
                )
            )
    return _insert(session, rows)


def daily_counts(session: Session, site_id: uuid.UUID, day: date) -> dict[tuple[str, str], int]:
    """Passages (kind ``passage``) captured on Beijing day ``day``, per gate and lane."""
    start, end = beijing_day_bounds(day)
    rows = session.execute(
        select(Passage.gate_code, Passage.lane_code, func.count())
        .where(
            Passage.site_id == site_id,
            Passage.kind == "passage",
            Passage.captured_at >= start,
            Passage.captured_at < end,
        )
        .group_by(Passage.gate_code, Passage.lane_code)
    ).all()
    return {(str(g or ""), str(lane or "")): int(n) for g, lane, n in rows}


def enqueue_daily_counts(session: Session, site: Site, day: date) -> int:
    """One row per gate and lane with passages on Beijing day ``day`` (the count itself is
    read when the row is sent, so passages that arrive late before then are included)."""
    configs = active_config_ids(session, site.id)
    if not configs:
        return 0
    start, _end = beijing_day_bounds(day)
    now = utcnow()
    rows = [
        _row(
            site.tenant_id,
            site.id,
            config_id,
            now,
            kind="daily_count",
            source_id=f"{day.isoformat()}:{gate}:{lane}",
            key=f"daily:{day.isoformat()}:{gate}:{lane}",
            captured_at=start,
            gate_code=gate,
            lane_code=lane,
        )
        for config_id in configs
        for gate, lane in sorted(daily_counts(session, site.id, day))
    ]
    return _insert(session, rows)


# --- the trigger after COMMIT ------------------------------------------------------------------


def _remember(session: Session, tenant_id: uuid.UUID) -> None:
    session.info.setdefault(_PENDING, set()).add(tenant_id)
    if has_app_context():
        session.info[_APP] = current_app._get_current_object()  # type: ignore[attr-defined]
    if not session.info.get(_HOOKED):
        event.listen(session, "after_commit", _after_commit)
        event.listen(session, "after_soft_rollback", _after_rollback)
        session.info[_HOOKED] = True


def remember_trigger(session: Session, tenant_id: uuid.UUID) -> None:
    """Enqueue a relay job for ``tenant_id`` once ``session`` commits (re-send uses it)."""
    _remember(session, tenant_id)


def _after_commit(session: Session) -> None:
    pending: set[uuid.UUID] | None = session.info.pop(_PENDING, None)
    app: Flask | None = session.info.get(_APP)
    if not pending:
        return
    if app is None:
        log.info("regulator uploads queued outside an app: the relay sweep will send them")
        return
    from saas.regulator import jobs as regulator_jobs

    for tenant_id in sorted(pending):
        regulator_jobs.trigger_relay(app, tenant_id)


def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    if not previous.nested:
        session.info.pop(_PENDING, None)
