"""Billing periods: calendar months in Beijing time (Asia/Shanghai), as ``YYYY-MM``.

A month's usage is everything whose timestamp falls in ``[first day 00:00, next month's first
day 00:00)`` Beijing time; stored times are UTC, so each period has a UTC range too. Pure.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


class BadPeriod(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        match = _PERIOD.match(text.strip()) if isinstance(text, str) else None
        if match is None or not 2000 <= int(match.group(1)) <= 2999:
            raise BadPeriod(f"period must be YYYY-MM, got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> Period:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def days(self) -> int:
        return calendar.monthrange(self.year, self.month)[1]

    @property
    def start(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def end(self) -> date:
        """The last day (inclusive)."""
        return date(self.year, self.month, self.days)

    def next(self) -> Period:
        return Period(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Period:
        return Period(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def utc_range(self) -> tuple[datetime, datetime]:
        """``[start, end)`` in UTC of the Beijing month."""
        return beijing_midnight_utc(self.start), beijing_midnight_utc(self.next().start)


def beijing_midnight_utc(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=BEIJING).astimezone(UTC)


def beijing_date(moment: datetime) -> date:
    """The Beijing calendar day of an aware timestamp."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(BEIJING).date()


def beijing_today(now: datetime | None = None) -> date:
    return beijing_date(now or datetime.now(UTC))


def add_years(day: date, years: int) -> date:
    """The same day ``years`` later; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def term_end(start: date) -> date:
    """The last day of a 12-month term starting on ``start`` (inclusive)."""
    return add_years(start, 1) - timedelta(days=1)
