"""The regulator upload relay: deliver due ``regulator_uploads`` rows at least once, in batches
per platform configuration, with retries, a per-endpoint circuit breaker and per-record
verdicts (docs/regulator.md).

A round per configuration is three short transactions, never one held across the network:

1. **claim** — due rows (``pending`` and due, or ``sent`` with a lapsed lease: a relay died)
   of one configuration, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (SQLite has one writer), set
   to ``sent`` with ``attempts + 1`` and a lease;
2. **send** — ``adapter.build`` per record (a record that cannot be built is rejected alone)
   and ``adapter.send`` of the batch, outside any transaction;
3. **mark** — per record ``accepted`` / ``rejected`` (the platform's code and message, 平台信息)
   / back to ``pending`` after an exponential backoff with jitter / ``dead`` after
   ``max_attempts``, each conditional on the claim still being ours (same attempt, ``sent``).

A relay killed between 2 and 3 leaves its rows ``sent``; they are claimed again when the lease
runs out and sent under the same idempotency key, which the platform dedupes on.

A ``TransportError`` (no per-record answer) retries the whole batch and counts against the
endpoint's circuit breaker (Redis, shared by every relay process and tenant): after
``breaker_failures`` consecutive failures it opens for ``breaker_cooldown_seconds``, during
which nothing is claimed for that endpoint (rows stay ``pending``); then one relay sends one
probe batch; success closes the breaker, failure opens it again.

``relay`` works in the caller's tenant context; ``relay_all`` (the CLI sweep) asks in a system
context which tenants have due rows — nothing else — and relays each in its own context.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from typing import Any

import redis
import requests
from flask import Flask, current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from saas.auth import audit
from saas.db import get_database, utcnow
from saas.models.ledger import LedgerEvent, Passage
from saas.models.regulator import RegulatorConfig, RegulatorUpload, SiteGate
from saas.models.tenancy import Site
from saas.notify.relay import RetryPolicy
from saas.regulator import outbox
from saas.regulator.base import (
    Adapter,
    ConfigError,
    Credentials,
    Endpoint,
    Item,
    ItemResult,
    TransportError,
    get_adapter,
)
from saas.settings import RegulatorRelaySettings
from saas.tenancy import current_context, system_context, tenant_context

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
RESENDABLE = ("rejected", "dead", "accepted")


# --- policy and counts -------------------------------------------------------------------------


@dataclass(frozen=True)
class RelayPolicy:
    retry: RetryPolicy = field(
        default_factory=lambda: RetryPolicy(max_attempts=96, base_seconds=30, max_seconds=3600)
    )
    breaker_failures: int = 5
    breaker_cooldown_seconds: float = 60

    @classmethod
    def from_settings(cls, settings: RegulatorRelaySettings) -> RelayPolicy:
        return cls(
            retry=RetryPolicy(
                max_attempts=settings.max_attempts,
                base_seconds=settings.retry_base_seconds,
                max_seconds=settings.retry_max_seconds,
                lease_seconds=settings.lease_seconds,
            ),
            breaker_failures=settings.breaker_failures,
            breaker_cooldown_seconds=settings.breaker_cooldown_seconds,
        )


@dataclass
class RelayCounts:
    claimed: int = 0
    accepted: int = 0
    rejected: int = 0
    retried: int = 0
    dead: int = 0
    lost: int = 0  # the claim ran out and another relay took the row over
    skipped_open: int = 0  # configurations passed over because their breaker is open

    def add(self, other: RelayCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# --- the circuit breaker -----------------------------------------------------------------------


class Breaker:
    """Per-endpoint breaker state in Redis (``cleangate:regulator:breaker:<sha1(url)>``):
    ``failures`` (consecutive) and ``open_until`` (epoch seconds of the relay's clock). A
    half-open endpoint admits one probe batch at a time (``…:probe``, SET NX with the lease)."""

    def __init__(self, connection: redis.Redis, policy: RelayPolicy, lease_seconds: float):
        self.redis = connection
        self.policy = policy
        self.lease = max(1, int(lease_seconds))

    @staticmethod
    def key(endpoint_url: str) -> str:
        digest = hashlib.sha1(endpoint_url.rstrip("/").encode(), usedforsecurity=False)
        return f"cleangate:regulator:breaker:{digest.hexdigest()}"

    def state(self, endpoint_url: str, now: datetime) -> str:
        raw = self.redis.hget(self.key(endpoint_url), "open_until")
        if raw is None:
            return "closed"
        return "open" if now.timestamp() < float(raw) else "half_open"

    def admit(self, endpoint_url: str, now: datetime) -> str | None:
        """``closed`` (send freely), ``probe`` (send one batch), or None (send nothing)."""
        state = self.state(endpoint_url, now)
        if state == "closed":
            return "closed"
        if state == "open":
            return None
        taken = self.redis.set(self.key(endpoint_url) + ":probe", "1", nx=True, ex=self.lease)
        return "probe" if taken else None

    def success(self, endpoint_url: str) -> None:
        self.redis.delete(self.key(endpoint_url), self.key(endpoint_url) + ":probe")

    def failure(self, endpoint_url: str, now: datetime) -> bool:
        """Count one transport failure; True when the breaker is (re)opened by it."""
        key = self.key(endpoint_url)
        failures = int(self.redis.hincrby(key, "failures", 1))
        probing = self.redis.hget(key, "open_until") is not None
        self.redis.delete(key + ":probe")
        if probing or failures >= self.policy.breaker_failures:
            until = now.timestamp() + self.policy.breaker_cooldown_seconds
            self.redis.hset(key, "open_until", repr(until))
            return True
        return False


# --- credentials and endpoint -------------------------------------------------------------------


def credentials_for(config: RegulatorConfig, app: Flask | None = None) -> Credentials:
    """The decrypted secrets of a configuration: ``saas.regulator.envelope.open_box`` with the
    app's keyring (``REGULATOR_MASTER_KEYS``), the box holding a JSON object of
    ``Credentials`` fields. Never logged."""
    from saas.regulator import envelope

    settings = (app or current_app).config["CLEANGATE_SETTINGS"]
    opened = json.loads(envelope.open_box(config.secret_box, settings.regulator_keyring))
    if not isinstance(opened, dict):
        raise ConfigError("secret_box", "credentials are not a JSON object")
    known = {f.name for f in fields(Credentials)}
    return Credentials(**{k: str(v) for k, v in opened.items() if k in known and v is not None})


def endpoint_for(config: RegulatorConfig, credentials: Credentials) -> Endpoint:
    return Endpoint(
        config_id=str(config.id),
        endpoint=config.endpoint,
        client_id=config.client_id,
        enterprise_code=config.enterprise_code,
        uscc=config.uscc,
        permit_no=config.permit_no,
        signer=config.signer,
        credentials=credentials,
    )


# --- claim ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    kind: str
    source_id: str
    key: str
    site_id: uuid.UUID
    gate_code: str | None
    lane_code: str | None
    attempt: int


def due_clause(now: datetime) -> Any:
    """Rows the relay should send now: pending and due, or sent with an expired lease (also the
    outbox depth the `metrics` job reports)."""
    return or_(
        and_(RegulatorUpload.status == "pending", RegulatorUpload.next_attempt_at <= now),
        and_(RegulatorUpload.status == "sent", RegulatorUpload.lease_until < now),
    )


def _scoped(statement: Any) -> Any:
    ctx = current_context()
    if ctx is not None and ctx.tenant_id is not None:
        return statement.where(RegulatorUpload.tenant_id == ctx.tenant_id)
    return statement


def due_configs(factory: sessionmaker[Session], now: datetime) -> list[uuid.UUID]:
    with factory() as session:
        return list(
            session.scalars(
                _scoped(select(RegulatorUpload.config_id).where(due_clause(now))).group_by(
                    RegulatorUpload.config_id
                )
            )
        )


def _claim(
    factory: sessionmaker[Session],
    config_id: uuid.UUID,
    limit: int,
    lease_seconds: float,
    now: datetime,
) -> list[Claimed]:
    with factory() as session, session.begin():
        # Two index range scans (config_id, status, next_attempt_at) rather than one OR that
        # sorts every due row of a big backlog: expired leases first (oldest work), then pending.
        lapsed = select(RegulatorUpload.id).where(
            RegulatorUpload.config_id == config_id,
            RegulatorUpload.status == "sent",
            RegulatorUpload.lease_until < now,
        )
        pending = (
            select(RegulatorUpload.id)
            .where(
                RegulatorUpload.config_id == config_id,
                RegulatorUpload.status == "pending",
                RegulatorUpload.next_attempt_at <= now,
            )
            .order_by(RegulatorUpload.next_attempt_at, RegulatorUpload.id)
        )
        locking = session.get_bind().dialect.name == "postgresql"
        ids: list[uuid.UUID] = []
        for query in (lapsed, pending):
            query = _scoped(query.limit(limit - len(ids)))
            if locking:
                query = query.with_for_update(skip_locked=True)
            ids += list(session.scalars(query))
            if len(ids) >= limit:
                break
        if not ids:
            return []
        claimed = session.execute(
            update(RegulatorUpload)
            .where(RegulatorUpload.id.in_(ids), due_clause(now))
            .values(
                status="sent",
                attempts=RegulatorUpload.attempts + 1,
                lease_until=now + timedelta(seconds=lease_seconds),
                sent_at=now,
            )
            .returning(
                RegulatorUpload.id,
                RegulatorUpload.kind,
                RegulatorUpload.source_id,
                RegulatorUpload.key,
                RegulatorUpload.site_id,
                RegulatorUpload.gate_code,
                RegulatorUpload.lane_code,
                RegulatorUpload.attempts,
            )
            .execution_options(synchronize_session=False)
        ).all()
        return sorted((Claimed(*tuple(row)) for row in claimed), key=lambda c: c.key)


# --- sources ------------------------------------------------------------------------------------


def gate_source(gate: SiteGate) -> dict[str, Any]:
    """A ``site_gates`` row as the adapters' gate source (coordinates as decimal strings)."""
    return {
        "gate_code": gate.gate_code,
        "lane_code": gate.lane_code,
        "name": gate.name,
        "direction": gate.direction,
        "address": gate.address,
        "longitude": str(gate.longitude),
        "latitude": str(gate.latitude),
        "manager_name": gate.manager_name,
        "manager_phone": gate.manager_phone,
        "maintainer": gate.maintainer,
        "maintainer_contact": gate.maintainer_contact,
        "maintainer_phone": gate.maintainer_phone,
        "active": gate.active,
    }


def load_sources(session: Session, rows: Sequence[Claimed]) -> dict[uuid.UUID, dict[str, Any]]:
    """The record each row stands for, as the adapter gets it (``saas.regulator.base``). A row
    whose source cannot be found is missing from the answer."""
    from saas.ledger.registries import REGISTRIES, to_out

    out: dict[uuid.UUID, dict[str, Any]] = {}
    by_kind: dict[str, list[Claimed]] = defaultdict(list)
    for row in rows:
        by_kind[row.kind].append(row)

    passages = by_kind.pop("passage", [])
    if passages:
        ids = [uuid.UUID(r.source_id) for r in passages]
        found = session.execute(
            select(LedgerEvent.event_id, Passage.record, Passage.gate_code, Passage.lane_code)
            .join(
                Passage,
                and_(
                    Passage.site_id == LedgerEvent.site_id,
                    Passage.seq == LedgerEvent.seq,
                    Passage.captured_at == LedgerEvent.captured_at,
                ),
            )
            .where(LedgerEvent.event_id.in_(ids))
        ).all()
        records = {
            str(e): {**json.loads(rec), "gate_code": g, "lane_code": ln} for e, rec, g, ln in found
        }
        for r in passages:
            if r.source_id in records:
                out[r.id] = records[r.source_id]

    for kind in [k for k in by_kind if k in outbox.REGISTRY_KINDS]:
        registry = REGISTRIES[kind]
        group = by_kind.pop(kind)
        model = registry.model
        objects = {
            str(o.id): o
            for o in session.scalars(
                select(model).where(model.id.in_([uuid.UUID(r.source_id) for r in group]))
            )
        }
        for r in group:
            if r.source_id in objects:
                out[r.id] = to_out(registry, objects[r.source_id]).model_dump(mode="json")

    sites: dict[uuid.UUID, Site | None] = {}
    gate_rows = by_kind.pop("gate", [])
    registered = {
        (g.site_id, g.gate_code, g.lane_code): g
        for g in (
            session.scalars(
                select(SiteGate).where(SiteGate.site_id.in_({r.site_id for r in gate_rows}))
            )
            if gate_rows
            else []
        )
    }
    for r in gate_rows:
        gate = registered.get((r.site_id, r.gate_code or "", r.lane_code or ""))
        if gate is not None:  # the site's gate row, as it is when sent
            out[r.id] = gate_source(gate)
            continue
        site = sites.setdefault(r.site_id, session.get(Site, r.site_id))
        if site is not None:
            out[r.id] = {
                "gate_code": r.gate_code,
                "lane_code": r.lane_code,
                "site_name": site.name,
                "address": site.address,
                "longitude": str(site.longitude) if site.longitude is not None else None,
                "latitude": str(site.latitude) if site.latitude is not None else None,
            }

    counts: dict[tuple[uuid.UUID, date], dict[tuple[str, str], int]] = {}
    for r in by_kind.pop("daily_count", []):
        day = date.fromisoformat(r.source_id.split(":", 1)[0])
        if (r.site_id, day) not in counts:
            counts[(r.site_id, day)] = outbox.daily_counts(session, r.site_id, day)
        per_gate = counts[(r.site_id, day)]
        out[r.id] = {
            "date": day.isoformat(),
            "gate_code": r.gate_code,
            "lane_code": r.lane_code,
            "count": per_gate.get((r.gate_code or "", r.lane_code or ""), 0),
        }
    return out


# --- mark ---------------------------------------------------------------------------------------


def _mark(session: Session, row: Claimed, **values: Any) -> bool:
    result = session.execute(
        update(RegulatorUpload)
        .where(
            RegulatorUpload.id == row.id,
            RegulatorUpload.status == "sent",
            RegulatorUpload.attempts == row.attempt,
        )
        .values(lease_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def _retry_values(row: Claimed, policy: RetryPolicy, now: datetime, error: str) -> dict[str, Any]:
    if row.attempt >= policy.max_attempts:
        return {"status": "dead", "last_error": error[:500]}
    return {
        "status": "pending",
        "last_error": error[:500],
        "next_attempt_at": now + policy.delay(row.attempt),
    }


def _mark_all(
    factory: sessionmaker[Session],
    rows: Sequence[Claimed],
    outcomes: dict[uuid.UUID, dict[str, Any]],
    counts: RelayCounts,
) -> None:
    """Write every row's outcome in one transaction (accepted rows of one attempt in one
    UPDATE: the common case stays cheap)."""
    with factory() as session, session.begin():
        accepted: dict[tuple[int, str | None, str | None, datetime], list[uuid.UUID]] = defaultdict(
            list
        )
        for row in rows:
            values = outcomes[row.id]
            if values["status"] == "accepted":
                group = (
                    row.attempt,
                    values.get("platform_code"),
                    values.get("platform_message"),
                    values["accepted_at"],
                )
                accepted[group].append(row.id)
                continue
            if _mark(session, row, **values):
                name = {"pending": "retried"}.get(values["status"], values["status"])
                setattr(counts, name, getattr(counts, name) + 1)
            else:
                counts.lost += 1
        for (attempt, code, message, at), ids in accepted.items():
            result = session.execute(
                update(RegulatorUpload)
                .where(
                    RegulatorUpload.id.in_(ids),
                    RegulatorUpload.status == "sent",
                    RegulatorUpload.attempts == attempt,
                )
                .values(
                    status="accepted",
                    accepted_at=at,
                    lease_until=None,
                    last_error=None,
                    platform_code=code,
                    platform_message=message,
                )
                .execution_options(synchronize_session=False)
            )
            done = int(result.rowcount)  # type: ignore[attr-defined]
            counts.accepted += done
            counts.lost += len(ids) - done


# --- one configuration --------------------------------------------------------------------------


def _send_batch(
    factory: sessionmaker[Session],
    adapter: Adapter,
    endpoint: Endpoint,
    http: requests.Session,
    rows: Sequence[Claimed],
    policy: RelayPolicy,
    breaker: Breaker,
    clock: Clock,
    counts: RelayCounts,
) -> bool:
    """Build, send and mark one claimed batch; False when the transport failed."""
    with factory() as session:
        sources = load_sources(session, rows)
    outcomes: dict[uuid.UUID, dict[str, Any]] = {}
    items: list[Item] = []
    by_key: dict[str, Claimed] = {}
    for row in rows:
        source = sources.get(row.id)
        if source is None:
            outcomes[row.id] = {
                "status": "rejected",
                "platform_code": "source_missing",
                "platform_message": f"记录不存在: {row.kind} {row.source_id}"[:500],
            }
            continue
        try:
            payload = adapter.build(row.kind, source, endpoint)
        except Exception as exc:  # one unmappable record is rejected alone, with the reason
            outcomes[row.id] = {
                "status": "rejected",
                "platform_code": "build_error",
                "platform_message": f"无法生成上报数据: {exc}"[:500],
            }
            continue
        items.append(Item(key=row.key, kind=row.kind, payload=payload))
        by_key[row.key] = row
    ok = True
    if items:
        try:
            results: list[ItemResult] = adapter.send(http, endpoint, items)
        except TransportError as exc:
            ok = False
            now = clock()
            if breaker.failure(endpoint.endpoint, now):
                log.warning("regulator: breaker opened for config %s", endpoint.config_id)
            error = f"transport: {exc}"
            for row in by_key.values():
                outcomes[row.id] = _retry_values(row, policy.retry, now, error)
        else:
            breaker.success(endpoint.endpoint)
            now = clock()
            answered = {r.key: r for r in results if r.key in by_key}
            for key, row in by_key.items():
                result = answered.get(key)
                if result is None or result.outcome == "retry":
                    why = (result.message if result else "") or "no answer for this record"
                    outcomes[row.id] = _retry_values(row, policy.retry, now, f"platform: {why}")
                    if result is not None:
                        outcomes[row.id]["platform_code"] = result.code[:40] or None
                        outcomes[row.id]["platform_message"] = result.message[:500] or None
                elif result.outcome == "accepted":
                    outcomes[row.id] = {
                        "status": "accepted",
                        "accepted_at": now,
                        "platform_code": result.code[:40] or None,
                        "platform_message": result.message[:500] or None,
                    }
                else:
                    outcomes[row.id] = {
                        "status": "rejected",
                        "platform_code": result.code[:40] or None,
                        "platform_message": result.message[:500] or "rejected",
                        "last_error": None,
                    }
    _mark_all(factory, rows, outcomes, counts)
    return ok


def _relay_config(
    factory: sessionmaker[Session],
    config_id: uuid.UUID,
    budget: int,
    policy: RelayPolicy,
    breaker: Breaker,
    http: requests.Session,
    clock: Clock,
    counts: RelayCounts,
    app: Flask | None,
) -> None:
    with factory() as session:
        config = session.get(RegulatorConfig, config_id)
        if config is None:
            return
        session.expunge(config)
    if not config.active:
        return  # a deactivated platform: its rows wait (re-activation sends them)
    try:
        adapter = get_adapter(config.adapter)
        endpoint = endpoint_for(config, credentials_for(config, app))
    except (ConfigError, ValueError, KeyError, TypeError) as exc:
        log.error("regulator: config %s cannot be used: %s", config_id, type(exc).__name__)
        return  # nothing to send with; the rows stay pending for the operator to fix
    sent = 0
    while sent < budget:
        admission = breaker.admit(config.endpoint, clock())
        if admission is None:
            counts.skipped_open += 1
            return
        size = min(max(1, adapter.max_batch), budget - sent)
        rows = _claim(factory, config_id, size, policy.retry.lease_seconds, clock())
        if not rows:
            if admission == "probe":
                breaker.redis.delete(Breaker.key(config.endpoint) + ":probe")
            return
        counts.claimed += len(rows)
        sent += len(rows)
        ok = _send_batch(factory, adapter, endpoint, http, rows, policy, breaker, clock, counts)
        if not ok:
            return  # the endpoint is failing: leave the rest for after the backoff


def relay(
    factory: sessionmaker[Session],
    connection: redis.Redis,
    *,
    policy: RelayPolicy | None = None,
    batch: int = 1000,
    clock: Clock = utcnow,
    http: requests.Session | None = None,
    app: Flask | None = None,
) -> RelayCounts:
    """Deliver up to ``batch`` due rows per configuration of the current context."""
    policy = policy or RelayPolicy()
    breaker = Breaker(connection, policy, policy.retry.lease_seconds)
    counts = RelayCounts()
    own_http = http is None
    http = http or requests.Session()
    try:
        for config_id in due_configs(factory, clock()):
            _relay_config(factory, config_id, batch, policy, breaker, http, clock, counts, app)
    finally:
        if own_http:
            http.close()
    return counts


# --- with an app --------------------------------------------------------------------------------


def relay_app(app: Flask, *, batch: int = 1000, clock: Clock = utcnow) -> RelayCounts:
    settings = app.config["CLEANGATE_SETTINGS"].regulator_relay
    return relay(
        get_database(app).sessionmaker,
        app.extensions["cleangate.redis"],
        policy=RelayPolicy.from_settings(settings),
        batch=batch,
        clock=clock,
        app=app,
    )


def due_tenants(app: Flask, *, clock: Clock = utcnow) -> list[uuid.UUID]:
    """Tenants with due rows. The one look past tenant scoping here: which tenants, not what
    their rows say."""
    with (
        get_database(app).sessionmaker() as session,
        system_context("regulator relay: which tenants have due uploads"),
    ):
        return list(
            session.scalars(
                select(RegulatorUpload.tenant_id)
                .where(due_clause(clock()))
                .group_by(RegulatorUpload.tenant_id)
            )
        )


def daily_count_sites(
    app: Flask, site_id: uuid.UUID | None = None
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """(tenant, site) of every site with an active platform configuration, for
    ``cleangate regulator daily-counts``. The one look past tenant scoping: which sites, not
    what their rows say."""
    query = (
        select(RegulatorConfig.tenant_id, RegulatorConfig.site_id)
        .where(RegulatorConfig.active.is_(True))
        .group_by(RegulatorConfig.tenant_id, RegulatorConfig.site_id)
        .order_by(RegulatorConfig.tenant_id, RegulatorConfig.site_id)
    )
    if site_id is not None:
        query = query.where(RegulatorConfig.site_id == site_id)
    with (
        get_database(app).sessionmaker() as session,
        system_context("regulator daily counts: which sites report to a platform"),
    ):
        return [(t, s) for t, s in session.execute(query).all()]


def relay_all(app: Flask, *, batch: int = 1000, clock: Clock = utcnow) -> RelayCounts:
    """Sweep every tenant with due rows, each in its own tenant context."""
    total = RelayCounts()
    for tenant_id in due_tenants(app, clock=clock):
        with tenant_context(tenant_id):
            total.add(relay_app(app, batch=batch, clock=clock))
    return total


def run_loop(
    app: Flask,
    *,
    interval: float,
    stop: threading.Event,
    tenant_id: uuid.UUID | None = None,
    batch: int = 1000,
    report: Callable[[dict[str, int]], None] | None = None,
) -> None:
    """Sweep until ``stop`` is set (``cleangate regulator relay --loop``)."""
    while not stop.is_set():
        if tenant_id is not None:
            with tenant_context(tenant_id):
                counts = relay_app(app, batch=batch)
        else:
            counts = relay_all(app, batch=batch)
        if report is not None and counts.claimed:
            report(counts.as_dict())
        if counts.claimed < batch:
            stop.wait(interval)


def next_due(factory: sessionmaker[Session]) -> datetime | None:
    """When the earliest pending row of the current context is due (or a lease lapses)."""
    with factory() as session:
        pending = session.scalar(
            _scoped(
                select(func.min(RegulatorUpload.next_attempt_at)).where(
                    RegulatorUpload.status == "pending"
                )
            )
        )
        leased = session.scalar(
            _scoped(
                select(func.min(RegulatorUpload.lease_until)).where(
                    RegulatorUpload.status == "sent"
                )
            )
        )
    found = [t for t in (pending, leased) if t is not None]
    return min(found) if found else None


# --- 补传 (re-send) -----------------------------------------------------------------------------


def resend(
    session: Session,
    upload_ids: Iterable[uuid.UUID] | None = None,
    *,
    site_id: uuid.UUID | None = None,
    status: Sequence[str] = ("rejected", "dead"),
    since: datetime | None = None,
    actor_id: uuid.UUID | None = None,
) -> int:
    """Put rows of the current tenant back to ``pending`` (attempts reset) — one, a list, or
    every row of ``status`` (at a site, captured since ``since``) — and record an audit event.
    Flushes; the caller commits (the relay is triggered after COMMIT). Returns the count."""
    tenant_id = _current_tenant()
    statuses = tuple(status)
    if not statuses or any(s not in RESENDABLE for s in statuses):
        raise ValueError(f"status: only {', '.join(RESENDABLE)} can be re-sent")
    if since is not None and since.tzinfo is None:
        raise ValueError("since: a timezone-aware time is required")
    ids = None if upload_ids is None else list(upload_ids)
    if ids is not None and not all(isinstance(i, uuid.UUID) for i in ids):
        raise ValueError("upload_ids: UUIDs expected")
    if ids == []:
        return 0
    stmt = select(RegulatorUpload.id).where(
        RegulatorUpload.tenant_id == tenant_id, RegulatorUpload.status.in_(statuses)
    )
    if ids is not None:
        stmt = stmt.where(RegulatorUpload.id.in_(ids))
    if site_id is not None:
        stmt = stmt.where(RegulatorUpload.site_id == site_id)
    if since is not None:
        stmt = stmt.where(RegulatorUpload.captured_at >= since)
    chosen = list(session.scalars(stmt))
    if not chosen:
        return 0
    now = utcnow()
    for chunk in range(0, len(chosen), 1000):
        session.execute(
            update(RegulatorUpload)
            .where(
                RegulatorUpload.id.in_(chosen[chunk : chunk + 1000]),
                RegulatorUpload.status.in_(statuses),
            )
            .values(
                status="pending",
                attempts=0,
                next_attempt_at=now,
                lease_until=None,
                last_error=None,
                accepted_at=None,
            )
            .execution_options(synchronize_session=False)
        )
    audit.record(
        session,
        "regulator.resend",
        tenant_id=tenant_id,
        actor_user_id=actor_id,
        details={
            "count": len(chosen),
            "ids": [str(i) for i in chosen[:50]],
            "site_id": str(site_id) if site_id else None,
            "status": list(statuses),
            "since": since.isoformat() if since else None,
        },
    )
    session.flush()
    outbox.remember_trigger(session, tenant_id)
    return len(chosen)


def _current_tenant() -> uuid.UUID:
    from saas.tenancy import current_tenant_id

    return current_tenant_id()
