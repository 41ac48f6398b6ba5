"""Operational metrics for CloudWatch alarms, as Embedded Metric Format (EMF) log lines.

On ECS a container's stdout goes to CloudWatch Logs; a JSON line there in EMF becomes
CloudWatch metrics by itself — no agent, no API call, no AWS credentials in the app. ``emit``
prints one such line when ``METRICS_EMF`` is on (production) and logs the values at DEBUG when
it is off (development, tests), so nothing else in the code cares where metrics go.

The built-in scheduler job ``metrics`` (every 60 s, docs/scheduler.md) measures, across all
tenants — a look past tenant scoping for counts only, no row's content is read:

* ``HubConnectedBridges`` (Count): bridges a hub currently holds, from the presence hashes in
  Redis (``saas/edge_hub/bus.py``; a dead hub's entries expire within two minutes);
* ``RegulatorUploadsDue`` (Count): regulator upload rows the relay would claim now (pending and
  due, or ``sent`` with a lapsed lease) — the outbox depth; it grows when the relay or a
  platform is down;
* ``RegulatorReportRateMin`` (Percent): the lowest report rate (上报率) of the previous Beijing
  day among the gates, lanes and active platform configurations that captured anything
  (``saas/regulator/report_rate.py``); left out when nothing was captured, so an alarm on it
  treats missing data as its operator decides. Recomputed at most every
  ``REPORT_RATE_CACHE_SECONDS`` (the day is over; only late edge uploads still move it).
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import Flask, current_app
from sqlalchemy import func, select

if TYPE_CHECKING:
    import redis

    from saas.settings import Settings

log = logging.getLogger(__name__)

NAMESPACE = "CleanGate"
DIMENSION = "Environment"
# CloudWatch's units (MetricDatum.Unit); "None" is CloudWatch's own word for unitless.
UNITS = frozenset(
    {
        "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes",
        "Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits",
        "Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second",
        "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second",
        "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
    }
)  # fmt: skip
MAX_METRICS = 100  # per EMF directive
REPORT_RATE_CACHE_SECONDS = 600
_RATE_KEY = "metrics:report-rate-min:"  # + Beijing day: {"percent": float | null}
BEIJING = timedelta(hours=8)  # no DST since 1991


def emit(
    metrics: Mapping[str, float],
    unit: Mapping[str, str] | None = None,
    *,
    settings: Settings | None = None,
) -> None:
    """One EMF line with ``metrics`` (name → value; ``unit``: name → CloudWatch unit, default
    ``None``) and the ``Environment`` dimension, to stdout when ``METRICS_EMF`` is on; else the
    values at DEBUG. Raises ValueError naming a bad name, value or unit (before printing)."""
    units = dict(unit or {})
    for name in units:
        if name not in metrics:
            raise ValueError(f"unit given for {name!r}, which is not among the metrics")
    for name, value in metrics.items():
        if not name or name in ("_aws", DIMENSION) or len(name) > 255:
            raise ValueError(f"metric name {name!r} is empty, reserved or too long")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"metric {name}: value must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"metric {name}: value must be finite, got {value!r}")
        if units.get(name, "None") not in UNITS:
            raise ValueError(f"metric {name}: unknown CloudWatch unit {units[name]!r}")
    if len(metrics) > MAX_METRICS:
        raise ValueError(f"at most {MAX_METRICS} metrics per line, got {len(metrics)}")
    if not metrics:
        return
    if settings is None:
        settings = current_app.config["CLEANGATE_SETTINGS"]
    if not settings.metrics_emf:
        log.debug("metrics (METRICS_EMF off): %s", dict(metrics))
        return
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[DIMENSION]],
                    "Metrics": [
                        {"Name": name, "Unit": units.get(name, "None")} for name in metrics
                    ],
                }
            ],
        },
        DIMENSION: settings.metrics_environment,
        **metrics,
    }
    line = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # sys.stdout looked up now, not bound at import: the worker's (or a test's) current stream.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# --- the `metrics` job ------------------------------------------------------------------------


def run(app: Flask, slot: datetime) -> dict[str, float]:
    """The scheduler's ``metrics`` job: measure, emit, return the values (the RQ result). A
    measurement that fails is logged and left out (its alarm sees missing data); the others
    are still emitted."""
    values: dict[str, float] = {}
    units: dict[str, str] = {}
    for name, unit_name, measure in (
        (
            "HubConnectedBridges",
            "Count",
            lambda: connected_bridges(app.extensions["cleangate.redis"]),
        ),
        ("RegulatorUploadsDue", "Count", lambda: regulator_uploads_due(app)),
        ("RegulatorReportRateMin", "Percent", lambda: report_rate_min(app, slot)),
    ):
        try:
            value = measure()
        except Exception:
            log.exception("metrics: %s could not be measured", name)
            continue
        if value is not None:
            values[name], units[name] = value, unit_name
    emit(values, units, settings=app.config["CLEANGATE_SETTINGS"])
    return values


def connected_bridges(client: redis.Redis) -> int:
    """Presence hashes with ``online = 1``, found with SCAN (never KEYS: it blocks Redis for
    the whole keyspace) and read in pipelined batches."""
    from saas.edge_hub import bus

    count = 0
    batch: list[Any] = []

    def flush() -> int:
        pipe = client.pipeline(transaction=False)
        for key in batch:
            pipe.hget(key, "online")
        online = sum(1 for value in pipe.execute() if value == b"1")
        batch.clear()
        return online

    for key in client.scan_iter(match=bus.presence_key("*"), count=1000):
        batch.append(key)
        if len(batch) >= 500:
            count += flush()
    if batch:
        count += flush()
    return count


def regulator_uploads_due(app: Flask, now: datetime | None = None) -> int:
    """Rows the relay would claim now, with the relay's own predicate."""
    from saas.db import get_database, utcnow
    from saas.models.regulator import RegulatorUpload
    from saas.regulator import relay
    from saas.tenancy import system_context

    with (
        get_database(app).sessionmaker() as session,
        system_context("metrics: regulator uploads due across tenants (a count)"),
    ):
        # The relay's own definition of due, so the metric cannot drift from what it claims.
        due = relay.due_clause(now or utcnow())
        query = select(func.count()).select_from(RegulatorUpload).where(due)
        return int(session.scalar(query) or 0)


def report_rate_min(app: Flask, slot: datetime) -> float | None:
    """The lowest report rate, in percent, of the Beijing day before the slot's (cached in
    Redis for ``REPORT_RATE_CACHE_SECONDS``); None when no gate captured anything."""
    day = (slot.astimezone(UTC) + BEIJING).date() - timedelta(days=1)
    client: redis.Redis = app.extensions["cleangate.redis"]
    key = _RATE_KEY + day.isoformat()
    cached = client.get(key)
    if cached is not None:
        percent: float | None = json.loads(cached)["percent"]
        return percent
    percent = _lowest_rate(app, day)
    client.set(key, json.dumps({"percent": percent}), ex=REPORT_RATE_CACHE_SECONDS)
    return percent


def _lowest_rate(app: Flask, day: Any) -> float | None:
    from saas.db import get_database
    from saas.models.regulator import RegulatorConfig
    from saas.regulator.report_rate import report_rates
    from saas.tenancy import system_context

    lowest = None
    with (
        get_database(app).sessionmaker() as session,
        system_context("metrics: lowest report rate across tenants (counts only)"),
    ):
        configs = session.execute(
            select(RegulatorConfig.id, RegulatorConfig.site_id).where(
                RegulatorConfig.active.is_(True)
            )
        ).all()
        for config_id, site_id in configs:
            for gate in report_rates(session, site_id, day, day, config_id=config_id):
                rate = gate.rate
                if rate is not None and (lowest is None or rate < lowest):
                    lowest = rate
    return None if lowest is None else float(lowest * 100)
