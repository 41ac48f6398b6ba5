"""The report rate (上报率) per gate per Beijing day and month (docs/regulator.md).

    rate = passages accepted by the platform within 1 hour of capture ÷ passages captured

*captured*: ledger records of kind ``passage`` (amendments excluded) of the site, grouped by the
Beijing calendar day (or month) of ``captured_at`` and by gate (出入口编号) and lane (道闸编号).
*on time*: that platform's ``regulator_uploads`` rows of those passages with ``status =
accepted`` and ``accepted_at <= captured_at + 1 hour``. Computed per platform configuration:
a site reporting to two platforms has two rates. Below 99 % raises the alarm flag (the legal
floor quoted by vendors is 95 %, domain.md §1.4; we warn earlier).

Two GROUP BY queries (ledger and uploads) per call, tenant-scoped by the ORM and RLS.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from sqlalchemy import func, literal_column, select
from sqlalchemy.orm import Session

from saas.models.ledger import Passage
from saas.models.regulator import RegulatorConfig, RegulatorUpload
from saas.regulator.outbox import BEIJING_OFFSET

ON_TIME = timedelta(hours=1)
ALARM_BELOW = Decimal("0.99")
Period = Literal["day", "month"]


@dataclass(frozen=True)
class GateRate:
    config_id: uuid.UUID
    period: str  # YYYY-MM-DD (Beijing day) or YYYY-MM (Beijing month)
    gate_code: str
    lane_code: str
    captured: int
    on_time: int

    @property
    def rate(self) -> Decimal | None:
        """on_time ÷ captured, 4 decimals (None when nothing was captured)."""
        if self.captured == 0:
            return None
        return (Decimal(self.on_time) / Decimal(self.captured)).quantize(
            Decimal("0.0001"), rounding=ROUND_HALF_UP
        )

    @property
    def alarm(self) -> bool:
        rate = self.rate
        return rate is not None and rate < ALARM_BELOW

    def as_dict(self) -> dict[str, Any]:
        rate = self.rate
        return {
            "config_id": str(self.config_id),
            "period": self.period,
            "gate_code": self.gate_code,
            "lane_code": self.lane_code,
            "captured": self.captured,
            "on_time": self.on_time,
            "rate": str(rate) if rate is not None else None,
            "alarm": self.alarm,
        }


def _bucket(session: Session, column: Any, period: Period) -> Any:
    """The Beijing day or month of a UTC timestamp column, as text, in SQL."""
    if session.get_bind().dialect.name == "postgresql":
        fmt = "YYYY-MM-DD" if period == "day" else "YYYY-MM"
        return func.to_char(column.op("AT TIME ZONE")(literal_column("'Asia/Shanghai'")), fmt)
    fmt = "%Y-%m-%d" if period == "day" else "%Y-%m"
    return func.strftime(fmt, column, "+8 hours")


def _on_time(session: Session) -> Any:
    up = RegulatorUpload
    if session.get_bind().dialect.name == "postgresql":
        return up.accepted_at <= up.captured_at + literal_column("interval '1 hour'")
    seconds = (func.julianday(up.accepted_at) - func.julianday(up.captured_at)) * 86400
    return seconds <= ON_TIME.total_seconds()


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """UTC instants of Beijing ``start`` 00:00 and the day after ``end`` 00:00."""
    lo = datetime.combine(start, time(0), tzinfo=UTC) - BEIJING_OFFSET
    hi = datetime.combine(end + timedelta(days=1), time(0), tzinfo=UTC) - BEIJING_OFFSET
    return lo, hi


def report_rates(
    session: Session,
    site_id: uuid.UUID,
    start: date,
    end: date,
    *,
    period: Period = "day",
    config_id: uuid.UUID | None = None,
) -> list[GateRate]:
    """Rates of Beijing days ``start``..``end`` (inclusive) per configuration of the site (or
    only ``config_id``), gate, lane and day or month, sorted. Raises ValueError naming the
    argument on bad input."""
    if period not in ("day", "month"):
        raise ValueError("period: day or month")
    if end < start:
        raise ValueError("end: must not be before start")
    if (end - start).days > 400:
        raise ValueError("end: at most 400 days per query")
    lo, hi = _bounds(start, end)

    config_query = select(RegulatorConfig.id).where(RegulatorConfig.site_id == site_id)
    if config_id is not None:
        config_query = config_query.where(RegulatorConfig.id == config_id)
    configs = list(session.scalars(config_query))
    if not configs:
        return []

    bucket = _bucket(session, Passage.captured_at, period)
    captured = {
        (str(b), str(g or ""), str(ln or "")): int(n)
        for b, g, ln, n in session.execute(
            select(bucket, Passage.gate_code, Passage.lane_code, func.count())
            .where(
                Passage.site_id == site_id,
                Passage.kind == "passage",
                Passage.captured_at >= lo,
                Passage.captured_at < hi,
            )
            .group_by(bucket, Passage.gate_code, Passage.lane_code)
        )
    }
    up = RegulatorUpload
    up_bucket = _bucket(session, up.captured_at, period)
    on_time: dict[tuple[uuid.UUID, str, str, str], int] = {
        (c, str(b), str(g or ""), str(ln or "")): int(n)
        for c, b, g, ln, n in session.execute(
            select(up.config_id, up_bucket, up.gate_code, up.lane_code, func.count())
            .where(
                up.site_id == site_id,
                up.config_id.in_(configs),
                up.kind == "passage",
                up.status == "accepted",
                up.captured_at >= lo,
                up.captured_at < hi,
                _on_time(session),
            )
            .group_by(up.config_id, up_bucket, up.gate_code, up.lane_code)
        )
    }
    rows = [
        GateRate(c, b, g, ln, n, on_time.get((c, b, g, ln), 0))
        for c in configs
        for (b, g, ln), n in captured.items()
    ]
    return sorted(rows, key=lambda r: (str(r.config_id), r.period, r.gate_code, r.lane_code))


def month_bounds(year: int, month: int) -> tuple[date, date]:
    """First and last Beijing day of a month."""
    if not 1 <= month <= 12:
        raise ValueError("month: 1..12")
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return first, following - timedelta(days=1)
