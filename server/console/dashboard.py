"""The dashboard page: how far this year's inspections reached, and what they found."""

from __future__ import annotations

from flask import current_app, g, render_template, request

from server import clock
from server.console import charts, console_bp
from server.console.auth import staff_required
from server.db import db
from server.models import FEEDBACK_RATINGS
from server.services import dashboard as stats
from server.services import quarterly

SATISFACTION_COLOURS = {"满意": "#1a7f37", "基本满意": "#d4a72c", "不满意": "#b3261e"}
FIRST_YEAR = 2015  # 书记项目 started around then; earlier years hold nothing


@console_bp.get("/dashboard")
@staff_required()
def dashboard():
    """Per-township figures and charts for one year (this year unless ?year= says otherwise)."""
    today = clock.today()
    year = request.args.get("year", type=int)
    if year is None or not FIRST_YEAR <= year <= today.year:
        year = today.year
    data = stats.build(db.session, g.staff, year, today)
    coverage = charts.progress_bars(
        f"{year} 年各乡镇已暗访村数 / 行政村总数",
        [(r.name, r.villages_visited, r.villages) for r in data.rows if r.id is not None],
        unit="村",
    )
    satisfaction = charts.stacked_bars(
        f"{year} 年各乡镇群众反馈满意度",
        [(r.name, r.ratings) for r in data.rows],
        [(name, SATISFACTION_COLOURS[name]) for name in FEEDBACK_RATINGS],
    )
    return render_template(
        "console/dashboard.html",
        d=data,
        coverage=coverage,
        satisfaction=satisfaction,
        ratings=FEEDBACK_RATINGS,
        years=range(today.year, FIRST_YEAR - 1, -1),
        period=stats.year_filters(year),
        has_page=lambda endpoint: endpoint in current_app.view_functions,
        quarterly_tile=quarterly.tile(db.session, g.staff, today),
    )
