"""Console: the fleet — every active edge bridge of every tenant with its live state from the
hubs (online, last seen, software version, outbox depth, clock skew, device faults), sorted by
urgency, with filters "offline longer than …", "outbox growing" and a tenant/site search
(docs/console.md).

Urgency, most urgent first: offline for more than 10 minutes (longest first), outbox growing
(deepest first), clock skew beyond 2 s (largest first), device faults, then the rest; a bridge
offline for less than 10 minutes ranks after faults (a reconnect is usually a blip).

"Growing" compares the depth a bridge reports now with an earlier sample this page keeps in
Redis (``console:fleet:outbox:<device id>``, two samples at least a minute apart, kept a day):
deeper than then, and at least ``MIN_GROWING_DEPTH`` records. Growth therefore shows from the
second look at the page onwards. Bridges,
sites and tenants are read in a system context (read-only, ``console.view``).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis
from flask import current_app, render_template, request
from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from saas.api.devices import device_view
from saas.auth.permissions import Permission, require
from saas.console import bp
from saas.db import get_session, utcnow
from saas.edge_hub import bus
from saas.models.ledger import EdgeDevice
from saas.models.tenancy import Site, Tenant
from saas.tenancy import system_context

log = logging.getLogger(__name__)

OFFLINE_ALERT = timedelta(minutes=10)
SKEW_ALERT_MS = 2000
SAMPLE_SPACING_SECONDS = 60  # the older sample is replaced at most once a minute
SAMPLE_TTL_SECONDS = 24 * 3600
MIN_GROWING_DEPTH = 5  # one or two records waiting for their ack are normal traffic
MAX_SHOWN = 1000
MAX_FAULT_TEXT = 120
_DURATION = re.compile(r"^([1-9][0-9]{0,4})([mh])$")

# urgency ranks (lower is more urgent)
OFFLINE_LONG, GROWING, SKEWED, FAULTY, OFFLINE_SHORT, FINE = range(6)


def sample_key(device_id: uuid.UUID | str) -> str:
    return f"console:fleet:outbox:{device_id}"


def outbox_growing(client: redis.Redis, depths: dict[str, int], now: float) -> dict[str, bool]:
    """For each bridge's current outbox depth: deeper than at the earlier sample? Stores the
    samples as it goes (the older one is replaced once it is a minute old). Redis down →
    nothing is known to grow."""
    if not depths:
        return {}
    ids = list(depths)
    try:
        stored = client.mget([sample_key(i) for i in ids])
    except redis.RedisError:
        log.exception("fleet: outbox samples unavailable")
        return {}
    growing: dict[str, bool] = {}
    pipe = client.pipeline()
    for device_id, raw in zip(ids, stored, strict=True):
        depth = depths[device_id]
        samples = _samples(raw)
        if samples is None:
            samples = {"old": None, "new": [depth, now]}
            growing[device_id] = False
        else:
            # the latest sample at least a minute old, else the older one (or the only one)
            settled = now - samples["new"][1] >= SAMPLE_SPACING_SECONDS
            reference = samples["new"] if settled else (samples["old"] or samples["new"])
            growing[device_id] = depth > reference[0] and depth >= MIN_GROWING_DEPTH
            if settled:
                samples = {"old": samples["new"], "new": [depth, now]}
            else:
                continue  # nothing to store
        pipe.set(sample_key(device_id), json.dumps(samples), ex=SAMPLE_TTL_SECONDS)
    try:
        pipe.execute()
    except redis.RedisError:
        log.exception("fleet: could not store outbox samples")
    return growing


def _samples(raw: bytes | str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
        new = value["new"]
        old = value.get("old")
        if not (isinstance(new, list) and len(new) == 2):
            return None
        return {"old": old if isinstance(old, list) and len(old) == 2 else None, "new": new}
    except (ValueError, KeyError, TypeError):
        return None


@dataclass
class FleetRow:
    device_id: uuid.UUID
    tenant_id: uuid.UUID
    tenant: str
    site: str
    name: str
    online: bool
    last_seen: datetime | None
    offline_for: timedelta | None
    software_version: str | None
    outbox_depth: int | None
    growing: bool
    clock_skew_ms: int | None
    faults: list[str] = field(default_factory=list)
    rank: int = FINE

    @property
    def skewed(self) -> bool:
        return self.clock_skew_ms is not None and abs(self.clock_skew_ms) > SKEW_ALERT_MS

    @property
    def offline_long(self) -> bool:
        return self.offline_for is not None and self.offline_for > OFFLINE_ALERT

    def sort_key(self) -> tuple[Any, ...]:
        second: float = 0
        if self.rank == OFFLINE_LONG and self.offline_for is not None:
            second = -self.offline_for.total_seconds()
        elif self.rank == GROWING:
            second = -(self.outbox_depth or 0)
        elif self.rank == SKEWED:
            second = -abs(self.clock_skew_ms or 0)
        elif self.rank == FAULTY:
            second = -len(self.faults)
        return (self.rank, second, self.tenant, self.site, self.name)


def _faults(devices: object) -> list[str]:
    """Devices behind the bridge (camera, barrier, …) that failed, as the hub last heard."""
    out = []
    for entry in devices if isinstance(devices, list) else []:
        if not isinstance(entry, dict):
            continue
        state, error = str(entry.get("state", "")), str(entry.get("last_error") or "")
        if state == "failed" or error:
            text = f"{entry.get('id', '?')}: {state}" + (f" ({error})" if error else "")
            out.append(text[:MAX_FAULT_TEXT])
    return out


def _rank(row: FleetRow) -> int:
    if not row.online:
        return OFFLINE_LONG if row.offline_long else OFFLINE_SHORT
    if row.growing:
        return GROWING
    if row.skewed:
        return SKEWED
    if row.faults:
        return FAULTY
    return FINE


def fleet_rows(q: str = "") -> list[FleetRow]:
    """Every active bridge (optionally of tenants/sites/bridges matching ``q``), most urgent
    first."""
    stmt = (
        select(EdgeDevice, Site.name, Tenant.name)
        .join(Site, Site.id == EdgeDevice.site_id)
        .join(Tenant, Tenant.id == EdgeDevice.tenant_id)
        .where(EdgeDevice.status == "active")
    )
    if q:
        like = f"%{q.lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Tenant.name).like(like),
                Tenant.slug.like(like),
                func.lower(Site.name).like(like),
                func.lower(EdgeDevice.name).like(like),
            )
        )
    with system_context("console: the fleet of edge bridges across tenants (read-only)"):
        found = get_session().execute(stmt).all()
    client = current_app.extensions["cleangate.redis"]
    live = bus.presence(client, [device.id for device, _s, _t in found])
    now = utcnow()
    depths = {
        str(device.id): int(state["outbox_depth"])
        for device, _s, _t in found
        if (state := live.get(str(device.id))) and state.get("online")
        and state.get("outbox_depth") is not None
    }  # fmt: skip
    growing = outbox_growing(client, depths, time.time())
    rows = []
    for device, site_name, tenant_name in found:
        state = live.get(str(device.id), {})
        view = device_view(device, state)
        offline_for = None
        if not view.online:
            since = view.last_seen or device.paired_at or device.created_at
            offline_for = max(now - since, timedelta(0))
        row = FleetRow(
            device_id=device.id,
            tenant_id=device.tenant_id,
            tenant=tenant_name,
            site=site_name,
            name=device.name,
            online=view.online,
            last_seen=view.last_seen,
            offline_for=offline_for,
            software_version=view.software_version,
            outbox_depth=view.outbox_depth,
            growing=growing.get(str(device.id), False),
            clock_skew_ms=view.clock_skew_ms,
            faults=_faults(state.get("devices")) if view.online else [],
        )
        row.rank = _rank(row)
        rows.append(row)
    rows.sort(key=FleetRow.sort_key)
    return rows


def parse_offline(value: str) -> timedelta | None:
    """``10m``, ``2h`` … → the duration; ValueError on anything else."""
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(value)
    number, unit = int(match.group(1)), match.group(2)
    return timedelta(minutes=number) if unit == "m" else timedelta(hours=number)


def duration_label(value: timedelta | None) -> str:
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    if minutes < 60:
        return str(_("%(n)s 分钟", n=minutes))
    if minutes < 48 * 60:
        return str(_("%(h)s 小时 %(m)s 分钟", h=minutes // 60, m=minutes % 60))
    return str(_("%(n)s 天", n=minutes // (24 * 60)))


@bp.get("/fleet", endpoint="fleet")
@require(Permission.CONSOLE_VIEW)
def fleet() -> tuple[str, int]:
    args = {k: v.strip() for k, v in request.args.items() if v.strip()}
    errors: dict[str, str] = {}
    offline_over = None
    if args.get("offline"):
        try:
            offline_over = parse_offline(args["offline"])
        except ValueError:
            errors["offline"] = _("请填写如 10m（分钟）或 2h（小时）")
    if args.get("growing") not in (None, "1"):
        errors["growing"] = _("只能为 1")
    if len(args.get("q", "")) > 200:
        errors["q"] = _("至多 %(n)s 个字符", n=200)
    rows = [] if errors else fleet_rows(args.get("q", ""))
    summary = {
        "total": len(rows),
        "online": sum(r.online for r in rows),
        "offline_long": sum(r.offline_long and not r.online for r in rows),
        "growing": sum(r.growing for r in rows),
        "skewed": sum(r.skewed for r in rows),
        "faulty": sum(bool(r.faults) for r in rows),
    }
    if offline_over is not None:
        rows = [r for r in rows if r.offline_for is not None and r.offline_for > offline_over]
    if args.get("growing") == "1":
        rows = [r for r in rows if r.growing]
    return render_template(
        "console/fleet.html",
        rows=rows[:MAX_SHOWN],
        truncated=len(rows) > MAX_SHOWN,
        matching=len(rows),
        summary=summary,
        args=args,
        errors=errors,
        duration_label=duration_label,
        skew_alert_ms=SKEW_ALERT_MS,
    ), (422 if errors else 200)
