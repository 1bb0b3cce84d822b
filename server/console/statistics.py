"""统计报表 under 考核: the year's figures reported upward, as tables, SVG charts and an XLSX of the same numbers.

Admins and leaders see the county; a township reviewer sees only their townships' figures
(services/statistics.py counts and scopes every figure).
"""

from __future__ import annotations

from flask import g, render_template, request

from server import clock
from server.console import charts, console_bp
from server.console.auth import staff_required
from server.console.dashboard import SATISFACTION_COLOURS
from server.console.exports import send_download
from server.db import db
from server.models import CATEGORIES, DOMAINS, FEEDBACK_RATINGS, GRADES, PROJECT_LEVELS, WARNING_STATUSES
from server.services import statistics
from server.services.exports.statistics import statistics_workbook


def _charts(stats: statistics.Statistics) -> dict:
    """The page's charts: the funnel, the rates per township and the grade distribution."""
    t, year = stats.total, stats.filters.year
    townships = [r for r in stats.rows if r.id is not None]
    quarters = [f"第{q}季度" for q in range(1, 5)]
    return {
        "funnel": charts.count_bars(
            f"{year} 年书记项目申报、立项、实施、验收",
            [("申报", t.applied), ("立项", t.approved), ("实施", t.running), ("验收", t.accepted)],
            unit="个",
        ),
        "reports": charts.progress_bars(
            f"{year} 年各乡镇月报按时报送", [(r.name, r.reports_on_time, r.reports_due) for r in townships], unit="份"
        ),
        "observed": charts.progress_bars(
            f"{year} 年各季度观摩覆盖的在建项目",
            [(q, n, t.under_way) for q, n in zip(quarters, t.observed, strict=True)],
            unit="个",
        ),
        "inspected": charts.progress_bars(
            f"{year} 年各乡镇已督导的在建项目", [(r.name, r.inspected, r.under_way) for r in townships], unit="个"
        ),
        "satisfaction": charts.stacked_bars(
            f"{year} 年各乡镇群众反馈满意度",
            [(r.name, r.ratings) for r in stats.rows],
            [(name, SATISFACTION_COLOURS[name]) for name in FEEDBACK_RATINGS],
        ),
        "grades": charts.count_bars(
            f"{year} 年评分等次分布", [*((g, t.grades[g]) for g in GRADES), ("后5%", t.bottom)], unit="个"
        ),
    }


@console_bp.get("/statistics")
@staff_required()
def statistics_page():
    """The year's figures under the query string's filters (year, township, domain, level, category)."""
    today = clock.today()
    f = statistics.parse_filters(request.args, today)
    stats = statistics.build(db.session, g.staff, f, today)
    return render_template(
        "console/statistics.html",
        s=stats,
        f=f,
        charts=_charts(stats),
        years=range(today.year + 1, statistics.FIRST_YEAR - 1, -1),
        townships=statistics.township_options(db.session, g.staff),
        domains=DOMAINS,
        levels=PROJECT_LEVELS,
        categories=CATEGORIES,
        ratings=FEEDBACK_RATINGS,
        grades=GRADES,
        warning_statuses=WARNING_STATUSES,
    )


@console_bp.get("/statistics.xlsx")
@staff_required()
def statistics_xlsx():
    """The same figures as XLSX (audited as an export)."""
    today = clock.today()
    f = statistics.parse_filters(request.args, today)
    return send_download(statistics_workbook(db.session, g.staff, f, today))
