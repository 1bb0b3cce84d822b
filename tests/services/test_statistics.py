"""The year's figures (services/statistics.py) against a hand-built year whose answers are known."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest

from server.clock import CHINA
from server.db import db
from server.models import (
    Assignment,
    Feedback,
    GradingEntry,
    GradingSession,
    ObservationEvent,
    ObservationStop,
    Organization,
    PointDeduction,
    Project,
    ProjectObservation,
    ProjectReport,
    RectificationOrder,
    User,
    Village,
    Visit,
    WeakOrgWarning,
)
from server.services import statistics
from server.services.statistics import Filters
from tests.factories import uid

# GROUP BY over subqueries, UNIONs and CASE: both databases must count alike.
pytestmark = pytest.mark.both_databases

YEAR = 2025
TODAY = date(2025, 7, 20)  # June's reports were due on 5 July; two quarters are over


def china(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    """A China wall-clock moment as tz-aware UTC."""
    return datetime(y, m, d, hh, mm, tzinfo=CHINA).astimezone(UTC)


def build_year(world) -> SimpleNamespace:
    """Projects of 2025 in both townships (and one placed nowhere) with reports, observations, visits,
    orders, feedback, grades, a 软弱涣散 listing and a deduction."""
    s = db.session
    admin = world.ids["admin"]
    v1, v2 = s.get(Village, world.v1), s.get(Village, world.v2)
    org1 = Organization(name="江南村党支部", township_id=world.t1)
    org2 = Organization(name="大栗村党支部", township_id=world.t2)
    s.add_all([org1, org2])
    s.flush()

    def project(title, village, status, **extra):
        p = Project(title=title, year=extra.pop("year", YEAR), status=status, **extra)
        if village is not None:
            p.villages = [village]
        s.add(p)
        s.flush()
        return p

    a = project("蜜柚产业", v1, "in_progress", level="county", category="重点性", started_at=china(2025, 3, 10))
    b = project(
        "道路硬化", v1, "accepted", level="village", started_at=china(2025, 2, 1), accepted_at=china(2025, 4, 15)
    )
    c = project("旱厕改造", v2, "approved", level="county")
    project("光伏发电", v2, "rejected", submitted_at=china(2025, 1, 5))
    project("机关党建", v1, "submitted", domain="机关", submitted_at=china(2025, 1, 6))
    project("退回的申报", v2, "draft", submitted_at=china(2025, 1, 7))
    project("未提交的草稿", v2, "draft")
    h = project("已终止", v2, "closed", started_at=china(2025, 3, 1))
    project("去年的项目", v1, "in_progress", year=2024, started_at=china(2024, 3, 1))
    k = project("党群服务", None, "in_progress", level="county", organization_id=org2.id, started_at=china(2025, 6, 1))
    project("未定地点", None, "in_progress")

    def report(p, month, status, submitted=None):
        s.add(ProjectReport(project_id=p.id, month=month, status=status, author_id=admin, submitted_at=submitted))

    report(a, "2025-03", "submitted", china(2025, 4, 3))
    report(a, "2025-04", "submitted", china(2025, 5, 9))  # late
    report(a, "2025-05", "draft")  # missing
    report(a, "2025-07", "submitted", china(2025, 7, 2))  # not due yet: not counted
    report(b, "2025-02", "submitted", china(2025, 3, 5, 23, 30))  # the last half hour of the due day
    report(b, "2025-03", "submitted", china(2025, 4, 1))
    report(k, "2025-06", "submitted", china(2025, 7, 6, 0, 30))  # half an hour late

    def observed(p, quarter, event=None):
        s.add(
            ProjectObservation(
                project_id=p.id,
                observed_on=date(2025, 1, 1),
                quarter=quarter,
                rating="好",
                author_id=admin,
                event_id=event,
            )
        )

    def event(held_on, status, *ps):
        e = ObservationEvent(kind="quarterly", title="观摩", held_on=held_on, status=status, created_by_id=admin)
        s.add(e)
        s.flush()
        for i, p in enumerate(ps, 1):
            s.add(ObservationStop(event_id=e.id, position=i, project_id=p.id))
        return e

    observed(a, "2025Q1")
    observed(a, "2025Q2")
    closed_event = event(date(2025, 2, 10), "closed", b)
    observed(b, "2025Q1", closed_event.id)  # the same observation twice: counted once
    event(date(2025, 5, 5), "under_way", b)
    event(date(2025, 5, 20), "planned", c)  # not held yet
    observed(k, "2025Q2")
    observed(h, "2025Q1")  # terminated: not under way
    observed(a, "2024Q4")  # another year

    def visits(p, *statuses):
        asg = Assignment(project_id=p.id, created_by_id=admin)
        s.add(asg)
        s.flush()
        for status in statuses:
            s.add(
                Visit(
                    assignment_id=asg.id,
                    project_id=p.id,
                    township_id=None,
                    client_id=uid(),
                    status=status,
                    started_at=china(2025, 5, 1),
                    created_by_id=world.ids["insp_a"],
                    submitted_at=china(2025, 5, 1, 12) if status == "submitted" else None,
                )
            )

    visits(a, "submitted", "submitted", "in_progress")
    visits(c, "in_progress")
    visits(k, "submitted")
    visits(h, "submitted")

    def order(p, status, deadline):
        s.add(
            RectificationOrder(
                project_id=p.id, items=["公示栏未更新"], deadline=deadline, status=status, issued_by_id=admin
            )
        )

    order(a, "issued", date(2025, 7, 1))  # overdue
    order(a, "responded", date(2025, 8, 1))
    order(a, "closed", date(2025, 5, 1))
    order(k, "verified", date(2025, 6, 1))

    def feedback(p, rating, status="received"):
        now = china(2025, 5, 1)
        s.add(
            Feedback(
                project_id=p.id,
                user_id=world.ids["villager"],
                client_id=uid(),
                receipt_no=f"FK{secrets.token_hex(6)}",
                rating=rating,
                category="建议",
                text="路灯还没装好",
                status=status,
                due_at=now + timedelta(days=5),
                sent_at=now,
                created_at=now,
            )
        )

    feedback(a, "满意")
    feedback(a, "满意")
    feedback(a, "不满意")
    feedback(a, "满意", status="held")  # not released: not counted
    feedback(k, "基本满意")

    gs = GradingSession(
        year=YEAR, title="2025 年度评审", criteria=[], quotas={}, status="finalized", created_by_id=admin
    )
    s.add(gs)
    s.flush()
    for p, grade, bottom in ((a, "特等", False), (b, "一等", False), (c, "三等", True), (k, "二等", False)):
        s.add(GradingEntry(session_id=gs.id, project_id=p.id, grade=grade, bottom=bottom))
    s.add(
        WeakOrgWarning(
            organization_id=org2.id,
            reason="项目推进不力",
            listed_on=date(2025, 3, 1),
            deadline=date(2025, 6, 1),
            listed_by_id=admin,
        )
    )
    s.add(
        WeakOrgWarning(
            organization_id=org1.id,
            reason="去年的",
            listed_on=date(2024, 12, 1),
            deadline=date(2025, 3, 1),
            listed_by_id=admin,
        )
    )
    s.add(PointDeduction(organization_id=org2.id, year=YEAR, session_id=gs.id, points=2, reason="连续两年位于后 5%"))
    s.commit()
    return SimpleNamespace(org1=org1.id, org2=org2.id)


@pytest.fixture
def year(app, world):
    """The hand-built 2025."""
    with app.app_context():
        yield build_year(world)


def figures(world, username: str, **filters) -> statistics.Statistics:
    """The statistics as `username` sees them under `filters`."""
    user = db.session.get(User, world.ids[username])
    return statistics.build(db.session, user, Filters(YEAR, **filters), TODAY)


def by_name(stats: statistics.Statistics) -> dict[str, statistics.Row]:
    """Rows keyed by township name."""
    return {r.name: r for r in stats.rows}


def test_funnel_counts_every_stage_reached(world, year):
    """申报 counts returned drafts but not unsent ones; 实施 counts a project terminated after it started."""
    stats = figures(world, "admin")
    t = stats.total
    assert (t.applied, t.approved, t.running, t.accepted, t.rejected, t.closed) == (9, 6, 5, 1, 1, 1)
    rows = by_name(stats)
    assert [r.name for r in stats.rows] == ["永阳镇", "桐坪镇", "未归属乡镇"]
    assert (rows["永阳镇"].applied, rows["永阳镇"].approved, rows["永阳镇"].running, rows["永阳镇"].accepted) == (
        3,
        2,
        2,
        1,
    )
    # The organization-only project counts in its organization's township.
    assert (rows["桐坪镇"].applied, rows["桐坪镇"].approved, rows["桐坪镇"].running) == (5, 3, 2)
    assert rows["未归属乡镇"].applied == 1
    assert stats.summary() == "申报 9 个,立项 6 个,实施 5 个,验收 1 个"


def test_monthly_reports_on_time_late_and_missing(world, year):
    """Months whose deadline passed: handed in by the end of the due day, after it, or never."""
    rows = by_name(figures(world, "admin"))
    t1, t2 = rows["永阳镇"], rows["桐坪镇"]
    assert (t1.reports_due, t1.reports_on_time, t1.reports_late, t1.reports_missing) == (7, 3, 1, 3)
    assert (t2.reports_due, t2.reports_on_time, t2.reports_late, t2.reports_missing) == (1, 0, 1, 0)
    assert t1.on_time_rate == pytest.approx(3 / 7)
    assert rows["未归属乡镇"].reports_due == 0  # never started: owes nothing


def test_observation_and_inspection_coverage(world, year):
    """Per quarter (typed in, or on a 观摩 under way or closed) and every quarter over; visited when submitted."""
    stats = figures(world, "admin")
    assert stats.quarters_done == 2
    rows = by_name(stats)
    t1, t2 = rows["永阳镇"], rows["桐坪镇"]
    assert t1.observed == [2, 2, 0, 0] and t1.observed_every_quarter == 2
    assert t2.observed == [0, 1, 0, 0] and t2.observed_every_quarter == 0
    assert (t1.under_way, t1.inspected, t1.visits) == (2, 1, 2)
    assert (t2.under_way, t2.inspected, t2.visits) == (2, 1, 1)
    assert stats.total.inspected_rate == pytest.approx(2 / 5)


def test_rectification_feedback_and_grades(world, year):
    """Orders open/overdue/verified/closed, released feedback by rating, the finalized grades and bottom 5%."""
    stats = figures(world, "admin")
    rows = by_name(stats)
    t1, t2 = rows["永阳镇"], rows["桐坪镇"]
    assert (t1.orders, t1.orders_open, t1.orders_overdue, t1.orders_verified, t1.orders_closed) == (3, 2, 1, 0, 1)
    assert (t2.orders, t2.orders_verified) == (1, 1)
    assert t1.ratings == {"满意": 2, "基本满意": 0, "不满意": 1}
    assert t1.satisfied == pytest.approx(2 / 3)
    assert t2.ratings["基本满意"] == 1
    assert stats.grading_finalized
    assert stats.total.grades == {"特等": 1, "一等": 1, "二等": 1, "三等": 1}
    assert (t2.graded, t2.bottom, t1.bottom) == (2, 1, 0)


def test_weak_list_and_deductions_of_the_year(world, year):
    """Listings made during the year (overdue when still rectifying past the deadline) and its deductions."""
    stats = figures(world, "admin")
    assert [(w.organization, w.township, w.overdue) for w in stats.warnings] == [("大栗村党支部", "桐坪镇", True)]
    assert [(d.organization, d.points) for d in stats.deductions] == [("大栗村党支部", 2)]
    assert stats.deduction_points == 2


def test_filters_narrow_every_figure(world, year):
    """Township, domain, level and category filters apply to the projects and to the organization lists."""
    t1 = figures(world, "admin", township_id=world.t1)
    assert [r.name for r in t1.rows] == ["永阳镇"] and t1.total.applied == 3 and not t1.warnings
    assert figures(world, "admin", domain="农村").total.applied == 8
    county = figures(world, "admin", level="county")
    assert (county.total.applied, county.total.approved, county.total.reports_due) == (3, 3, 5)
    assert len(county.warnings) == 1  # 大栗村党支部 runs a county-level project
    key = figures(world, "admin", category="重点性")
    assert (key.total.applied, key.total.orders, key.total.feedback) == (1, 3, 3)
    assert key.warnings == [] and key.deductions == []
    assert figures(world, "admin", domain="国企").total.applied == 0


def test_township_reviewer_sees_only_their_townships(world, year):
    """A reviewer's rows, totals and lists are their townships' alone; no 未归属乡镇 row."""
    r1 = figures(world, "reviewer1")
    assert [r.name for r in r1.rows] == ["永阳镇"]
    assert r1.total.applied == 3 and r1.total.visits == 2
    assert r1.warnings == [] and r1.deductions == []
    r2 = figures(world, "reviewer2")
    assert [r.name for r in r2.rows] == ["桐坪镇"] and r2.total.applied == 5 and len(r2.warnings) == 1
    # Asking for another township gives nothing, not that township's figures.
    other = figures(world, "reviewer1", township_id=world.t2)
    assert other.rows == [] and other.total.applied == 0


def test_query_count_does_not_grow_with_the_data(app, world, year):
    """The same number of statements for one project or a hundred more."""
    from sqlalchemy import event

    def count() -> int:
        seen = []
        listener = lambda *args: seen.append(1)  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            figures(world, "admin")
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    before = count()
    v1 = db.session.get(Village, world.v1)
    for i in range(100):
        db.session.add(
            Project(title=f"项目{i}", year=YEAR, status="in_progress", villages=[v1], started_at=china(2025, 1, 2))
        )
    db.session.commit()
    db.session.expire_all()
    assert count() == before
    assert figures(world, "admin").total.reports_due == 8 + 600
