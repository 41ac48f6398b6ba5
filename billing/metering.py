"""Metering from real events, per tenant per Beijing month (docs/billing.md, "Metering").

What is counted, for the month ``[1st 00:00, next 1st 00:00)`` Asia/Shanghai:

* ``sites`` — the tenant's sites that exist at the end of the month; each is billable from
  the day it was created (or the 1st), so ``site_days`` sums the days each was billable.
* ``lanes`` — distinct (site, 出入口, 道闸) with at least one passage in the month, from the
  ``passages`` ledger (real traffic, not configuration: a lane that carries no truck costs
  nothing). A lane without passages in the previous month counts from the day of its first
  passage in this month (``lane_days``); one that carried traffic last month counts from the
  1st.
* ``passages`` — ledger records of kind ``passage`` captured in the month (amendments such as
  manual releases and cargo are not extra passages).
* ``sms`` — SMS actually delivered: notification outbox rows on channel ``sms`` with status
  ``sent`` and ``sent_at`` in the month.
* ``storage_gb`` — what the tenant keeps stored at the end of the month, in GB (2^30 bytes)
  rounded up to 0.001: the passage photos (each stored once per site, content-addressed by
  SHA-256, sized as the edge declared them in the chained record) of every passage captured
  before the month's end, plus the finished ledger exports. Registry document photos
  (行驶证, 随车清单) are not counted.

Every figure is written as a ``UsageRecord`` (upsert on tenant, period, metric). Each tenant is
read in its own tenant context; nothing here is read by the gate, ingest or the relays.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction
from typing import Any

from sqlalchemy import bindparam, func, select, text
from sqlalchemy import insert as generic_insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.types import Uuid

from billing.periods import Period, beijing_date
from saas.auth import audit
from saas.db import Database, UTCDateTime, utcnow
from saas.models.billing import UsageRecord
from saas.models.ledger import Export, Passage
from saas.models.outbox import OutboxMessage
from saas.models.tenancy import Site
from saas.tenancy import tenant_context

GIB = 2**30
METRICS = ("sites", "site_days", "lanes", "lane_days", "passages", "sms", "storage_gb")


@dataclass(frozen=True)
class Usage:
    """One tenant's month. ``site_since``/``lane_since``: for each billable site or lane, the
    first day of the month it is billed for (the 1st, or the day it appeared)."""

    period: Period
    site_since: tuple[date, ...]
    lane_since: tuple[date, ...]
    passages: int
    sms: int
    storage_bytes: int

    @property
    def sites(self) -> int:
        return len(self.site_since)

    @property
    def lanes(self) -> int:
        return len(self.lane_since)

    def _days(self, since: tuple[date, ...]) -> int:
        return sum((self.period.end - day).days + 1 for day in since)

    @property
    def site_days(self) -> int:
        return self._days(self.site_since)

    @property
    def lane_days(self) -> int:
        return self._days(self.lane_since)

    @property
    def storage_gb(self) -> Decimal:
        """GB (2^30 bytes), rounded up to 0.001 (never below what is stored)."""
        thousandths = math.ceil(Fraction(self.storage_bytes * 1000, GIB))
        return (Decimal(thousandths) / 1000).quantize(Decimal("0.001"), rounding=ROUND_CEILING)

    def metrics(self) -> dict[str, Decimal]:
        return {
            "sites": Decimal(self.sites),
            "site_days": Decimal(self.site_days),
            "lanes": Decimal(self.lanes),
            "lane_days": Decimal(self.lane_days),
            "passages": Decimal(self.passages),
            "sms": Decimal(self.sms),
            "storage_gb": self.storage_gb,
        }


_STORAGE_SQL = {
    "postgresql": """
        SELECT COALESCE(SUM(size), 0) FROM (
          SELECT p.site_id, img ->> 'sha256' AS sha, MAX((img ->> 'size')::bigint) AS size
          FROM passages p
          CROSS JOIN LATERAL jsonb_array_elements(
            COALESCE(p.record::jsonb -> 'images', '[]'::jsonb)) AS img
          WHERE p.tenant_id = :tenant AND p.captured_at < :end AND p.kind = 'passage'
          GROUP BY p.site_id, img ->> 'sha256'
        ) AS stored""",
    "sqlite": """
        SELECT COALESCE(SUM(size), 0) FROM (
          SELECT p.site_id, json_extract(img.value, '$.sha256') AS sha,
                 MAX(CAST(json_extract(img.value, '$.size') AS INTEGER)) AS size
          FROM passages p, json_each(p.record, '$.images') AS img
          WHERE p.tenant_id = :tenant AND p.captured_at < :end AND p.kind = 'passage'
          GROUP BY p.site_id, sha
        ) AS stored""",
}


def _photo_bytes(session: Session, tenant_id: uuid.UUID, end: datetime) -> int:
    """Distinct photos (per site and SHA-256, as stored) of the passages before ``end``.
    Raw SQL (JSON functions differ per dialect) carries its own tenant filter; PostgreSQL's
    row-level security applies as well."""
    dialect = session.get_bind().dialect.name
    stmt = text(_STORAGE_SQL[dialect]).bindparams(
        bindparam("tenant", type_=Uuid()), bindparam("end", type_=UTCDateTime())
    )
    return int(session.execute(stmt, {"tenant": tenant_id, "end": end}).scalar() or 0)


def measure(session: Session, tenant_id: uuid.UUID, period: Period) -> Usage:
    """Read the month's figures for one tenant (in that tenant's context); writes nothing."""
    start, end = period.utc_range()
    previous_start, _ = period.previous().utc_range()
    with tenant_context(tenant_id):
        site_since = tuple(
            sorted(
                max(period.start, beijing_date(created))
                for created in session.scalars(select(Site.created_at).where(Site.created_at < end))
            )
        )
        lane_rows = session.execute(
            select(
                Passage.site_id,
                Passage.gate_code,
                Passage.lane_code,
                func.min(Passage.captured_at),
                func.max(Passage.captured_at),
            )
            .where(
                Passage.kind == "passage",
                Passage.captured_at >= previous_start,
                Passage.captured_at < end,
                Passage.gate_code.is_not(None),
                Passage.lane_code.is_not(None),
            )
            .group_by(Passage.site_id, Passage.gate_code, Passage.lane_code)
        ).all()
        lane_since = tuple(
            sorted(
                period.start if first < start else beijing_date(first)
                for _site, _gate, _lane, first, last in (
                    (r[0], r[1], r[2], _aware(r[3]), _aware(r[4])) for r in lane_rows
                )
                if last >= start
            )
        )
        passages = session.scalar(
            select(func.count())
            .select_from(Passage)
            .where(
                Passage.kind == "passage", Passage.captured_at >= start, Passage.captured_at < end
            )
        )
        sms = session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(
                OutboxMessage.channel == "sms",
                OutboxMessage.status == "sent",
                OutboxMessage.sent_at >= start,
                OutboxMessage.sent_at < end,
            )
        )
        exports = session.scalar(
            select(func.coalesce(func.sum(Export.size_bytes), 0)).where(
                Export.status == "done", Export.created_at < end
            )
        )
        photos = _photo_bytes(session, tenant_id, end)
    return Usage(
        period=period,
        site_since=site_since,
        lane_since=lane_since,
        passages=int(passages or 0),
        sms=int(sms or 0),
        storage_bytes=photos + int(exports or 0),
    )


def _aware(value: Any) -> datetime:
    """min()/max() over a UTC column come back as stored (naive text on SQLite)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value  # type: ignore[no-any-return]


def record_usage(session: Session, tenant_id: uuid.UUID, usage: Usage) -> None:
    """Upsert the month's ``UsageRecord`` rows (one per metric)."""
    dialect = session.get_bind().dialect.name
    insert: Any = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(
        dialect, generic_insert
    )
    now = utcnow()
    with tenant_context(tenant_id):
        for metric, quantity in usage.metrics().items():
            stmt = insert(UsageRecord).values(
                id=uuid.uuid4(),
                tenant_id=tenant_id,
                period=str(usage.period),
                metric=metric,
                quantity=quantity,
                computed_at=now,
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["tenant_id", "period", "metric"],
                set_={"quantity": quantity, "computed_at": now},
            )
            session.execute(stmt)


def meter_tenant(
    session: Session, tenant_id: uuid.UUID, period: Period, *, actor_label: str = "billing"
) -> Usage:
    """Measure and record one tenant's month (audited). Does not commit."""
    usage = measure(session, tenant_id, period)
    record_usage(session, tenant_id, usage)
    with tenant_context(tenant_id):
        audit.record(
            session,
            "billing.usage_metered",
            tenant_id=tenant_id,
            actor_label=actor_label,
            details={"period": str(period)} | {k: str(v) for k, v in usage.metrics().items()},
        )
        session.flush()
    return usage


def meter_all(
    database: Database, period: Period, tenant_ids: list[uuid.UUID], *, actor_label: str
) -> list[tuple[uuid.UUID, Usage | Exception]]:
    """Meter each tenant in its own transaction; one tenant's failure is reported in its
    place and the others go on."""
    results: list[tuple[uuid.UUID, Usage | Exception]] = []
    for tenant_id in tenant_ids:
        with database.sessionmaker() as session, tenant_context(tenant_id):
            try:
                usage = meter_tenant(session, tenant_id, period, actor_label=actor_label)
                session.commit()
            except Exception as exc:  # reported per tenant by the caller
                session.rollback()
                results.append((tenant_id, exc))
                continue
        results.append((tenant_id, usage))
    return results


def recorded(session: Session, tenant_id: uuid.UUID, period: Period) -> dict[str, Decimal]:
    """The stored figures of one month (as last metered)."""
    with tenant_context(tenant_id):
        rows = session.execute(
            select(UsageRecord.metric, UsageRecord.quantity).where(
                UsageRecord.period == str(period)
            )
        ).all()
    return {metric: quantity for metric, quantity in rows}
