"""server/clock.py: China time, calendar months and how times and durations read; one definition of the zone."""

from __future__ import annotations

import ast
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from server import clock

SERVER = Path(__file__).resolve().parent.parent / "server"


def test_add_months_clamps_to_month_end():
    """30 November plus three months is the last day of February."""
    assert clock.add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert clock.add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
    assert clock.add_months(date(2026, 3, 15), 3) == date(2026, 6, 15)


def test_month_and_day_are_counted_in_china():
    """16:30 UTC on 31 December is already 1 January in China: its day and its month."""
    moment = datetime(2025, 12, 31, 16, 30, tzinfo=UTC)
    assert clock.local_date(moment) == date(2026, 1, 1)
    assert clock.month_of(clock.local_date(moment)) == "2026-01"


def test_china_time_writes_wall_clock_text():
    """A stored UTC moment reads as China wall-clock time in the pattern asked for; none reads as nothing."""
    moment = datetime(2026, 3, 1, 2, 0, 5, tzinfo=UTC)
    assert clock.china_time(moment) == "2026-03-01 10:00"
    assert clock.china_time(moment, clock.SECONDS) == "2026-03-01 10:00:05"
    assert clock.china_time(None) == ""


def test_duration_over_a_day_reads_as_whole_days():
    """Beyond a day only the days count: '2027 天', never '2027 天 23 小时 5 分'; within a day every unit shows."""
    assert clock.duration(timedelta(days=2027, hours=23, minutes=5).total_seconds()) == "2027 天"
    assert clock.duration(3 * 3600 + 20 * 60 + 5) == "3 小时 20 分 5 秒"
    assert clock.duration(0) == ""
    phone = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
    assert clock.time_gap(phone - timedelta(days=2027, hours=23), phone) == "早 2027 天"
    assert clock.time_gap(phone, phone) == "相同"


def _eight_hour_offsets(path: Path) -> list[int]:
    """Lines of a module that build an eight-hour offset (timedelta(hours=8))."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        called = getattr(node, "func", None)
        if (
            isinstance(node, ast.Call)
            and getattr(called, "id", getattr(called, "attr", None)) == "timedelta"
            and any(k.arg == "hours" and getattr(k.value, "value", None) == 8 for k in node.keywords)
        ):
            lines.append(node.lineno)
    return lines


def test_china_is_defined_once():
    """Only server/clock.py builds the UTC+8 offset; every other module imports clock.CHINA."""
    found = {
        str(p.relative_to(SERVER.parent)): lines
        for p in sorted(SERVER.rglob("*.py"))
        if (lines := _eight_hour_offsets(p))
    }
    assert found == {"server/clock.py": [12]}
