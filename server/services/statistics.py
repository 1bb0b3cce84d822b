"""The year's figures reported upward (向上报送的统计数据): one service for the console page, the XLSX and the API.

Every figure is counted over the projects of one year (Project.year) under the filters (township,
domain, level, category) and the caller's scope, and comes from a GROUP BY query per kind of
figure, so the cost is a dozen statements however many projects, reports or visits there are:

- the funnel 申报 → 立项 → 实施 → 验收 (every stage counts the projects that reached it);
- 月报: the months owed whose deadline has passed, handed in on time, late or missing;
- 观摩 coverage per quarter (a typed-in observation, or a stop on a 观摩 under way or closed) and
  督导 coverage (projects with a submitted unannounced visit), both of the projects under way;
- rectification orders open, overdue, verified and closed; feedback satisfaction;
- grade distribution of the year's finalized grading, the 软弱涣散 list and the point deductions.

A project counts in one township: its first village's, else its unit site's, else its party
organization's. Admins and leaders see the county; a township reviewer sees only their townships'
figures (aggregates of applications too: counting them names nobody).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Select, and_, case, distinct, func, literal, or_, select, union, union_all
from sqlalchemy.orm import Session

from server import clock
from server.clock import CHINA
from server.models import (
    CATEGORIES,
    DOMAINS,
    FEEDBACK_RATINGS,
    GRADES,
    PROJECT_LEVELS,
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
    Site,
    Township,
    User,
    Village,
    Visit,
    WeakOrgWarning,
    project_villages,
)
from server.models.base import UTCDateTime
from server.services import rectification, reports
from server.services.dashboard import UNRELEASED_FEEDBACK, RatingShares, township_scope

FIRST_YEAR = 2015
# Funnel stages: a project counts in every stage it has reached.
APPLIED_STATUSES = ("submitted", "unit_reviewed", "approved", "rejected", "in_progress", "accepted", "closed")
APPROVED_STATUSES = ("approved", "in_progress", "accepted", "closed")
# The projects that owe observation and supervision: approved and not terminated.
UNDER_WAY_STATUSES = ("approved", "in_progress", "accepted")
REPORTING_STATUSES = ("in_progress", "accepted")
OBSERVED_EVENT_STATUSES = ("under_way", "closed")
UNPLACED = "未归属乡镇"


@dataclass(frozen=True)
class Filters:
    """What the figures are narrowed to: a year, and optionally a township, domain, level and category."""

    year: int
    township_id: int | None = None
    domain: str | None = None
    level: str | None = None
    category: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The filters that are set, by name (for URLs, the API and the workbook's cover)."""
        return {k: v for k, v in self.__dict__.items() if v is not None}


def parse_filters(args: Any, today: date | None = None) -> Filters:
    """Filters from a query string; bad values are dropped (a console URL is typed by hand)."""
    today = today or clock.today()
    year = today.year
    with contextlib.suppress(TypeError, ValueError):
        asked = int(str(args.get("year") or "").strip())
        if FIRST_YEAR <= asked <= today.year + 1:
            year = asked
    township = str(args.get("township_id") or "").strip()
    picked = {k: str(args.get(k) or "").strip() for k in ("domain", "level", "category")}
    return Filters(
        year=year,
        # Ids fit a 64-bit integer; a longer string of digits is a typo (and would overflow SQLite).
        township_id=int(township) if township.isdigit() and len(township) <= 18 else None,
        domain=picked["domain"] if picked["domain"] in DOMAINS else None,
        level=picked["level"] if picked["level"] in PROJECT_LEVELS else None,
        category=picked["category"] if picked["category"] in CATEGORIES else None,
    )


# ---- the figures ----------------------------------------------------------------------------------


@dataclass
class Row(RatingShares):
    """One township's figures (id None: projects placed in no township; or the total)."""

    id: int | None
    name: str
    # funnel
    applied: int = 0
    approved: int = 0
    running: int = 0
    accepted: int = 0
    rejected: int = 0
    closed: int = 0
    # 月报
    reports_due: int = 0
    reports_on_time: int = 0
    reports_late: int = 0
    # coverage of the projects under way
    under_way: int = 0
    observed: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    observed_every_quarter: int = 0
    inspected: int = 0
    visits: int = 0
    # rectification orders
    orders: int = 0
    orders_open: int = 0
    orders_overdue: int = 0
    orders_verified: int = 0
    orders_closed: int = 0
    # feedback and grades
    ratings: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FEEDBACK_RATINGS, 0))
    grades: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GRADES, 0))
    graded: int = 0
    bottom: int = 0

    COUNTS = [
        "applied",
        "approved",
        "running",
        "accepted",
        "rejected",
        "closed",
        "reports_due",
        "reports_on_time",
        "reports_late",
        "under_way",
        "observed_every_quarter",
        "inspected",
        "visits",
        "orders",
        "orders_open",
        "orders_overdue",
        "orders_verified",
        "orders_closed",
        "graded",
        "bottom",
    ]

    @property
    def reports_missing(self) -> int:
        """Owed reports past their deadline that were never handed in."""
        return self.reports_due - self.reports_on_time - self.reports_late

    @property
    def on_time_rate(self) -> float | None:
        """Share of the reports due that came in by the deadline, or None when none was due."""
        return self.reports_on_time / self.reports_due if self.reports_due else None

    @property
    def inspected_rate(self) -> float | None:
        """Share of the projects under way visited at least once, or None without any."""
        return self.inspected / self.under_way if self.under_way else None

    @property
    def empty(self) -> bool:
        """True when no project of the year is counted here."""
        return not (self.applied or self.approved or self.under_way)

    def add(self, other: Row) -> None:
        """Add another row's counts into this one (for the total)."""
        for name in self.COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.observed = [a + b for a, b in zip(self.observed, other.observed, strict=True)]
        for bucket in ("ratings", "grades"):
            mine = getattr(self, bucket)
            for key, n in getattr(other, bucket).items():
                mine[key] += n


@dataclass(frozen=True)
class WeakListing:
    """A 软弱涣散 listing of the year."""

    organization: str
    township: str
    reason: str
    listed_on: date
    deadline: date
    status: str
    overdue: bool


@dataclass(frozen=True)
class Deduction:
    """A point deduction of the year (bottom 5% two years running)."""

    organization: str
    township: str
    points: int
    reason: str


@dataclass
class Statistics:
    """The year's figures: a row per township in scope, their total, and the organization lists."""

    filters: Filters
    today: date
    quarters_done: int  # quarters of the year already over (observed_every_quarter is counted over them)
    grading_finalized: bool
    rows: list[Row]
    total: Row
    warnings: list[WeakListing]
    deductions: list[Deduction]

    @property
    def deduction_points(self) -> int:
        """Points deducted in all."""
        return sum(d.points for d in self.deductions)

    def summary(self) -> str:
        """The funnel in the words of a report: 申报 135 个,立项 64 个,实施 60 个,验收 43 个."""
        t = self.total
        return f"申报 {t.applied} 个,立项 {t.approved} 个,实施 {t.running} 个,验收 {t.accepted} 个"


def _projects(user: User, f: Filters):
    """The year's projects under the filters and the caller's scope, with their township, as a subquery.

    The township is joined, not looked up per row: the first village's (one grouped pass over the
    year's project_villages), else the unit site's, else the party organization's.
    """
    first_village = (
        select(project_villages.c.project_id.label("project_id"), func.min(Village.township_id).label("township_id"))
        .join(Village, Village.id == project_villages.c.village_id)
        .join(Project, Project.id == project_villages.c.project_id)
        .where(Project.year == f.year)
        .group_by(project_villages.c.project_id)
        .subquery("first_village")
    )
    township = func.coalesce(first_village.c.township_id, Site.township_id, Organization.township_id)
    stmt = (
        select(
            Project.id.label("id"),
            township.label("township_id"),
            Project.status.label("status"),
            Project.started_at.label("started_at"),
            Project.accepted_at.label("accepted_at"),
            Project.submitted_at.label("submitted_at"),
        )
        .select_from(Project)
        .outerjoin(first_village, first_village.c.project_id == Project.id)
        .outerjoin(Site, Site.id == Project.site_id)
        .outerjoin(Organization, Organization.id == Project.organization_id)
        .where(Project.year == f.year)
    )
    for value, column in ((f.domain, Project.domain), (f.level, Project.level), (f.category, Project.category)):
        if value is not None:
            stmt = stmt.where(column == value)
    scope = township_scope(user)
    if scope is not None:
        stmt = stmt.where(township.in_(scope or [-1]))
    if f.township_id is not None:
        stmt = stmt.where(township == f.township_id)
    # Computed once per statement: SQLite would otherwise fold it into each join and regroup the
    # villages for every row (seconds at a few thousand projects). MariaDB materializes it unasked.
    return stmt.cte("p").prefix_with("MATERIALIZED", dialect="sqlite")


def _count(condition) -> Any:
    return func.sum(case((condition, 1), else_=0))


def _funnel(session: Session, p, row) -> None:
    stmt = select(
        p.c.township_id,
        # A draft returned for revision was applied for all the same.
        _count(p.c.status.in_(APPLIED_STATUSES) | p.c.submitted_at.is_not(None)),
        _count(p.c.status.in_(APPROVED_STATUSES)),
        # A project terminated after it started was under way: it counts as started, not accepted.
        _count(p.c.status.in_(REPORTING_STATUSES) | ((p.c.status == "closed") & p.c.started_at.is_not(None))),
        _count(p.c.status == "accepted"),
        _count(p.c.status == "rejected"),
        _count(p.c.status == "closed"),
        _count(p.c.status.in_(UNDER_WAY_STATUSES)),
    ).group_by(p.c.township_id)
    for tid, *counts in session.execute(stmt):
        if r := row(tid):
            r.applied, r.approved, r.running, r.accepted, r.rejected, r.closed, r.under_way = (
                int(n or 0) for n in counts
            )


def _china_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, CHINA)


def _reports(session: Session, p, row, year: int, today: date) -> None:
    """Owed 月报 of the year's months whose deadline has passed: on time, late (the rest are missing)."""
    months = []
    for mon in range(1, 13):
        month = f"{year:04d}-{mon:02d}"
        due = reports.due_date(month)
        if due >= today:
            break
        following = reports.next_month(month)
        months.append(
            select(
                literal(month).label("month"),
                literal(_china_midnight(date(year, mon, 1)), UTCDateTime()).label("begins"),
                literal(_china_midnight(date(int(following[:4]), int(following[5:]), 1)), UTCDateTime()).label("ends"),
                literal(_china_midnight(date.fromordinal(due.toordinal() + 1)), UTCDateTime()).label("deadline"),
            )
        )
    if not months:
        return
    m = union_all(*months).subquery("m")
    r = ProjectReport
    handed_in = r.status == "submitted"
    # A project owes the month it started in and every month up to the one it was accepted in.
    owes = and_(
        p.c.status.in_(REPORTING_STATUSES),
        p.c.started_at < m.c.ends,
        or_(p.c.accepted_at.is_(None), p.c.accepted_at >= m.c.begins),
    )
    stmt = (
        select(
            p.c.township_id,
            func.count(),
            _count(handed_in & (r.submitted_at < m.c.deadline)),
            _count(handed_in & (r.submitted_at >= m.c.deadline)),
        )
        .select_from(p.join(m, owes).outerjoin(r, (r.project_id == p.c.id) & (r.month == m.c.month)))
        .group_by(p.c.township_id)
    )
    for tid, due, on_time, late in session.execute(stmt):
        if rr := row(tid):
            rr.reports_due, rr.reports_on_time, rr.reports_late = int(due), int(on_time or 0), int(late or 0)


def quarters_done(year: int, today: date) -> int:
    """How many quarters of `year` are over on `today`."""
    if year < today.year:
        return 4
    if year > today.year:
        return 0
    return (today.month - 1) // 3


def _observations(session: Session, p, row, year: int, today: date) -> None:
    """Projects under way observed in each quarter, and in every quarter already over."""
    typed = select(
        ProjectObservation.project_id.label("project_id"),
        case(*((ProjectObservation.quarter == f"{year}Q{q}", q) for q in range(1, 5))).label("q"),
    ).where(ProjectObservation.quarter.in_([f"{year}Q{q}" for q in range(1, 5)]))
    bounds = [(date(year, 3 * q - 2, 1), date(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1)) for q in range(1, 5)]
    on_route = (
        select(
            ObservationStop.project_id.label("project_id"),
            case(
                *(
                    ((ObservationEvent.held_on >= a) & (ObservationEvent.held_on < b), q)
                    for q, (a, b) in enumerate(bounds, 1)
                )
            ).label("q"),
        )
        .join(ObservationEvent, ObservationEvent.id == ObservationStop.event_id)
        .where(
            ObservationEvent.status.in_(OBSERVED_EVENT_STATUSES),
            ObservationEvent.held_on >= bounds[0][0],
            ObservationEvent.held_on < bounds[3][1],
        )
    )
    seen = union(typed, on_route).subquery("seen")  # UNION: one row per project and quarter
    under_way = p.c.status.in_(UNDER_WAY_STATUSES)
    per_quarter = (
        select(p.c.township_id, seen.c.q, func.count(distinct(p.c.id)))
        .join(seen, seen.c.project_id == p.c.id)
        .where(under_way)
        .group_by(p.c.township_id, seen.c.q)
    )
    for tid, q, n in session.execute(per_quarter):
        if r := row(tid):
            r.observed[int(q) - 1] = int(n)
    done = quarters_done(year, today)
    if not done:
        return
    every = (
        select(p.c.id, p.c.township_id)
        .join(seen, seen.c.project_id == p.c.id)
        .where(under_way, seen.c.q <= done)
        .group_by(p.c.id, p.c.township_id)
        .having(func.count(distinct(seen.c.q)) == done)
        .subquery("every")
    )
    for tid, n in session.execute(select(every.c.township_id, func.count()).group_by(every.c.township_id)):
        if r := row(tid):
            r.observed_every_quarter = int(n)


def _inspections(session: Session, p, row) -> None:
    """Projects under way with at least one submitted unannounced visit, and the visits."""
    stmt = (
        select(p.c.township_id, func.count(distinct(p.c.id)), func.count(Visit.id))
        .join(Visit, Visit.project_id == p.c.id)
        .where(p.c.status.in_(UNDER_WAY_STATUSES), Visit.status == "submitted")
        .group_by(p.c.township_id)
    )
    for tid, projects, visits in session.execute(stmt):
        if r := row(tid):
            r.inspected, r.visits = int(projects), int(visits)


def _rectifications(session: Session, p, row, today: date) -> None:
    o = RectificationOrder
    is_open = o.status.in_(rectification.OPEN_STATUSES)
    stmt = (
        select(
            p.c.township_id,
            func.count(o.id),
            _count(is_open),
            _count(is_open & (o.deadline < today)),
            _count(o.status == "verified"),
            _count(o.status == "closed"),
        )
        .join(o, o.project_id == p.c.id)
        .group_by(p.c.township_id)
    )
    for tid, *counts in session.execute(stmt):
        if r := row(tid):
            r.orders, r.orders_open, r.orders_overdue, r.orders_verified, r.orders_closed = (
                int(n or 0) for n in counts
            )


def _feedback(session: Session, p, row) -> None:
    stmt = (
        select(p.c.township_id, Feedback.rating, func.count(Feedback.id))
        .join(Feedback, Feedback.project_id == p.c.id)
        .where(Feedback.status.not_in(UNRELEASED_FEEDBACK))
        .group_by(p.c.township_id, Feedback.rating)
    )
    for tid, rating, n in session.execute(stmt):
        if (r := row(tid)) and rating in r.ratings:
            r.ratings[rating] = int(n)


def _grades(session: Session, p, row, year: int) -> bool:
    """The finalized grading of the year per grade and the bottom 5%; False when there is none."""
    gs = session.scalar(
        select(GradingSession.id).where(GradingSession.year == year, GradingSession.status == "finalized")
    )
    if gs is None:
        return False
    e = GradingEntry
    stmt = (
        select(p.c.township_id, e.grade, e.bottom, func.count(e.id))
        .join(e, e.project_id == p.c.id)
        .where(e.session_id == gs)
        .group_by(p.c.township_id, e.grade, e.bottom)
    )
    for tid, grade, bottom, n in session.execute(stmt):
        if r := row(tid):
            r.graded += int(n)
            if grade in r.grades:
                r.grades[grade] += int(n)
            if bottom:
                r.bottom += int(n)
    return True


def _organizations(user: User, f: Filters) -> Select:
    """Organizations under the filters and scope: by their own township and domain; a level or category
    keeps those with a project of the year of that level or category."""
    stmt = select(Organization.id)
    scope = township_scope(user)
    if scope is not None:
        stmt = stmt.where(Organization.township_id.in_(scope or [-1]))
    if f.township_id is not None:
        stmt = stmt.where(Organization.township_id == f.township_id)
    if f.domain is not None:
        stmt = stmt.where(Organization.domain == f.domain)
    if f.level is not None or f.category is not None:
        projects = select(Project.organization_id).where(Project.year == f.year)
        if f.level is not None:
            projects = projects.where(Project.level == f.level)
        if f.category is not None:
            projects = projects.where(Project.category == f.category)
        stmt = stmt.where(Organization.id.in_(projects))
    return stmt


def _warnings(session: Session, user: User, f: Filters, today: date) -> list[WeakListing]:
    """The organizations put on the 软弱涣散 list during the year (the list is short: tens, not thousands)."""
    stmt = (
        select(WeakOrgWarning, Organization.name, Township.name)
        .join(Organization, Organization.id == WeakOrgWarning.organization_id)
        .outerjoin(Township, Township.id == Organization.township_id)
        .where(
            WeakOrgWarning.listed_on >= date(f.year, 1, 1),
            WeakOrgWarning.listed_on < date(f.year + 1, 1, 1),
            WeakOrgWarning.organization_id.in_(_organizations(user, f)),
        )
        .order_by(WeakOrgWarning.listed_on, WeakOrgWarning.id)
    )
    return [
        WeakListing(
            org,
            township or "",
            w.reason,
            w.listed_on,
            w.deadline,
            w.status,
            w.status == "rectifying" and w.deadline < today,
        )
        for w, org, township in session.execute(stmt)
    ]


def _deductions(session: Session, user: User, f: Filters) -> list[Deduction]:
    stmt = (
        select(PointDeduction.points, PointDeduction.reason, Organization.name, Township.name)
        .join(Organization, Organization.id == PointDeduction.organization_id)
        .outerjoin(Township, Township.id == Organization.township_id)
        .where(PointDeduction.year == f.year, PointDeduction.organization_id.in_(_organizations(user, f)))
        .order_by(Township.name, Organization.name)
    )
    return [Deduction(org, township or "", points, reason) for points, reason, org, township in session.execute(stmt)]


def build(session: Session, user: User, f: Filters, today: date | None = None) -> Statistics:
    """The year's figures under the filters within the caller's scope."""
    today = today or clock.today()
    scope = township_scope(user)
    rows: dict[int | None, Row] = {}
    townships = select(Township.id, Township.name).order_by(Township.code, Township.id)
    if scope is not None:
        townships = townships.where(Township.id.in_(scope or [-1]))
    if f.township_id is not None:
        townships = townships.where(Township.id == f.township_id)
    for tid, name in session.execute(townships):
        rows[tid] = Row(tid, name)

    def row(tid: int | None) -> Row | None:
        # Projects placed in no township are the county's own; reviewers and a township filter never see them.
        if tid is None and scope is None and f.township_id is None and None not in rows:
            rows[None] = Row(None, UNPLACED)
        return rows.get(tid)

    p = _projects(user, f)
    _funnel(session, p, row)
    _reports(session, p, row, f.year, today)
    _observations(session, p, row, f.year, today)
    _inspections(session, p, row)
    _rectifications(session, p, row, today)
    _feedback(session, p, row)
    finalized = _grades(session, p, row, f.year)

    out = [r for tid, r in rows.items() if tid is not None or not r.empty]
    total = Row(None, "合计")
    for r in out:
        total.add(r)
    return Statistics(
        filters=f,
        today=today,
        quarters_done=quarters_done(f.year, today),
        grading_finalized=finalized,
        rows=out,
        total=total,
        warnings=_warnings(session, user, f, today),
        deductions=_deductions(session, user, f),
    )


def to_json(stats: Statistics) -> dict[str, Any]:
    """The figures as the API answers them."""

    def rate(value: float | None) -> float | None:
        return None if value is None else round(value, 4)

    def one(r: Row) -> dict[str, Any]:
        return {
            "township_id": r.id,
            "name": r.name,
            "funnel": {
                "applied": r.applied,
                "approved": r.approved,
                "running": r.running,
                "accepted": r.accepted,
                "rejected": r.rejected,
                "closed": r.closed,
            },
            "reports": {
                "due": r.reports_due,
                "on_time": r.reports_on_time,
                "late": r.reports_late,
                "missing": r.reports_missing,
                "on_time_rate": rate(r.on_time_rate),
            },
            "observation": {
                "under_way": r.under_way,
                "per_quarter": list(r.observed),
                "every_quarter": r.observed_every_quarter,
            },
            "inspection": {
                "under_way": r.under_way,
                "inspected": r.inspected,
                "visits": r.visits,
                "rate": rate(r.inspected_rate),
            },
            "rectification": {
                "issued": r.orders,
                "open": r.orders_open,
                "overdue": r.orders_overdue,
                "verified": r.orders_verified,
                "closed": r.orders_closed,
            },
            "feedback": {
                "total": r.feedback,
                "ratings": dict(r.ratings),
                "satisfied_rate": rate(r.satisfied),
            },
            "grades": {"graded": r.graded, "by_grade": dict(r.grades), "bottom": r.bottom},
        }

    return {
        "filters": stats.filters.as_dict(),
        "today": stats.today.isoformat(),
        "quarters_done": stats.quarters_done,
        "grading_finalized": stats.grading_finalized,
        "summary": stats.summary(),
        "townships": [one(r) for r in stats.rows],
        "total": one(stats.total),
        "weak_organizations": [
            {
                "organization": w.organization,
                "township": w.township,
                "reason": w.reason,
                "listed_on": w.listed_on.isoformat(),
                "deadline": w.deadline.isoformat(),
                "status": w.status,
                "overdue": w.overdue,
            }
            for w in stats.warnings
        ],
        "deductions": [
            {"organization": d.organization, "township": d.township, "points": d.points, "reason": d.reason}
            for d in stats.deductions
        ],
    }


def township_options(session: Session, user: User) -> list[tuple[int, str]]:
    """The townships the caller may filter by, in code order."""
    stmt = select(Township.id, Township.name).order_by(Township.code, Township.id)
    scope = township_scope(user)
    if scope is not None:
        stmt = stmt.where(Township.id.in_(scope or [-1]))
    return [(tid, name) for tid, name in session.execute(stmt)]
