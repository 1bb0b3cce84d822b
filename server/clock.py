"""China time in one place: the zone, today's date, month arithmetic and how times and durations read.

Times are stored in UTC; people read them, and deadlines, filters and monthly counts are
counted, in China Standard Time (UTC+8, no daylight saving).
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8))
# How staff read a moment unless a page needs less (a date) or more (seconds).
MINUTES = "%Y-%m-%d %H:%M"
SECONDS = "%Y-%m-%d %H:%M:%S"
DAY = 86400


def now() -> datetime:
    """The current moment on China's wall clock (aware)."""
    return datetime.now(CHINA)


def today() -> date:
    """Today's calendar date in China, the day deadlines are counted in."""
    return now().date()


def local_date(moment: datetime) -> date:
    """The China calendar day of an aware moment."""
    return moment.astimezone(CHINA).date()


def add_months(day: date, months: int) -> date:
    """The same day `months` later, clamped to the month's end (30 Nov + 3 months = 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def month_of(day: date) -> str:
    """'2026-11' for any day of November 2026."""
    return f"{day.year:04d}-{day.month:02d}"


def china_time(value: datetime | None, pattern: str = MINUTES) -> str:
    """An aware (stored UTC) moment as China wall-clock text; empty for none. The console's `china_time` filter."""
    return value.astimezone(CHINA).strftime(pattern) if value else ""


def duration(seconds: float) -> str:
    """A length of time in words: '3 小时 20 分 5 秒' within a day, whole days beyond ('2027 天'); empty for none.

    Beside a phone's or camera's time, hours and seconds of a gap of years are noise: a
    reader needs the number of days.
    """
    seconds = round(abs(seconds))
    if seconds >= DAY:
        return f"{seconds // DAY} 天"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return " ".join(f"{n} {unit}" for n, unit in ((hours, "小时"), (minutes, "分"), (secs, "秒")) if n)


def time_gap(later: datetime | None, earlier: datetime | None) -> str:
    """'晚 3 分 20 秒' / '早 5 秒' / '晚 2027 天': how far one time is from another, for comparing clocks."""
    if later is None or earlier is None:
        return ""
    seconds = round((later - earlier).total_seconds())
    text = duration(seconds)
    return f"{'晚' if seconds >= 0 else '早'} {text}" if text else "相同"
