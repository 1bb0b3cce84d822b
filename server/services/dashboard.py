"""The dashboard: per-township coverage, findings, rectifications and satisfaction of one year.

Every figure comes from a GROUP BY query, so the page costs the same handful of statements
however many visits there are. Visits and photos are summed from the monthly counts kept by
services.visit_stats, with the visit list's scope, so a number here is still the number of
rows the visit list shows for that township and year.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

from sqlalchemy import case, distinct, func, select
from sqlalchemy.orm import Session

from server import clock, tenancy
from server.clock import CHINA
from server.models import (
    FEEDBACK_RATINGS,
    Feedback,
    RectificationOrder,
    Township,
    User,
    Village,
    VisitMonthStat,
)
from server.services import rectification
from server.services.visit_stats import month_range

# Feedback held for moderation may be spam; it counts once a person has released it.
UNRELEASED_FEEDBACK = ("held",)
# Ratings a satisfaction rate (群众满意率) counts as satisfied.
SATISFIED = ("满意", "基本满意")


def year_filters(year: int) -> dict[str, date]:
    """Visit-list filters selecting one calendar year (China dates)."""
    return {"date_from": date(year, 1, 1), "date_to": date(year, 12, 31)}


def _sees_unplaced(session: Session) -> bool:
    """Records of no township are counted by whom they cannot belong to another county's."""
    return tenancy.scope_of(session) is None or tenancy.only_county(session) is not None


def township_scope(user: User) -> list[int] | None:
    """The township ids a staff member is limited to; None means the whole county."""
    if user.has_role("admin", "leader"):
        return None
    return [t.id for t in user.townships] if user.has_role("reviewer") else []


class RatingShares:
    """Feedback satisfaction read off a `ratings` count per rating (the dashboard's and 统计报表's rows)."""

    @property
    def feedback(self) -> int:
        """Feedback items counted for satisfaction."""
        return sum(self.ratings.values())

    def share(self, rating: str) -> float | None:
        """Share of feedback with this rating, or None without feedback."""
        return self.ratings[rating] / self.feedback if self.feedback else None

    @property
    def satisfied(self) -> float | None:
        """Share rated 满意 or 基本满意 (the satisfaction rate), or None without feedback."""
        return sum(self.ratings[r] for r in SATISFIED) / self.feedback if self.feedback else None


@dataclass
class TownshipStats(RatingShares):
    """One township's figures (id None: records not tied to any township)."""

    id: int | None
    name: str
    villages: int = 0
    villages_visited: int = 0
    visits: int = 0
    photos: int = 0
    flagged_photos: int = 0
    rectifications_open: int = 0
    rectifications_overdue: int = 0
    ratings: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FEEDBACK_RATINGS, 0))

    @property
    def coverage(self) -> float | None:
        """Share of the township's villages visited, or None without villages."""
        return self.villages_visited / self.villages if self.villages else None

    @property
    def empty(self) -> bool:
        """True when nothing at all is counted here."""
        return not (self.villages or self.visits or self.photos or self.rectifications_open or self.feedback)

    def add(self, other: TownshipStats) -> None:
        """Add another township's counts into this one (for the county total)."""
        for name in (
            "villages",
            "villages_visited",
            "visits",
            "photos",
            "flagged_photos",
            "rectifications_open",
            "rectifications_overdue",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for rating, n in other.ratings.items():
            self.ratings[rating] += n


@dataclass
class Dashboard:
    """The figures of one year: a row per township in scope and their total."""

    year: int
    today: date
    rows: list[TownshipStats]
    total: TownshipStats


def build(session: Session, user: User, year: int, today: date | None = None) -> Dashboard:
    """Per-township figures for `year` within the user's scope, in six aggregate queries."""
    today = today or clock.today()
    scope = township_scope(user)
    rows: dict[int | None, TownshipStats] = {}

    townships = select(Township.id, Township.name).order_by(Township.code, Township.id)
    if scope is not None:
        townships = townships.where(Township.id.in_(scope or [-1]))
    for tid, name in session.execute(townships):
        rows[tid] = TownshipStats(tid, name)

    def row(tid: int | None) -> TownshipStats | None:
        # Records without a township are the county's own; reviewers never see them.
        if tid is None and scope is None and None not in rows and _sees_unplaced(session):
            rows[None] = TownshipStats(None, "未归属乡镇")
        return rows.get(tid)

    villages = (
        select(Village.township_id, func.count(Village.id))
        .where(Village.township_id.in_(list(rows) or [-1]))
        .group_by(Village.township_id)
    )
    for tid, n in session.execute(villages):
        rows[tid].villages = n

    # Visits and photos come from the monthly counts (services.visit_stats): summing a year
    # of them reads a few thousand rows where counting the photos read millions. The scope
    # is the visit list's: reviewers count their townships' submitted visits only.
    first, last = month_range(year)
    stats = (
        select(
            VisitMonthStat.township_id,
            func.sum(VisitMonthStat.visits),
            # Visits at a unit site (village 0) do not count towards village coverage.
            func.count(
                distinct(
                    case(((VisitMonthStat.visits > 0) & (VisitMonthStat.village_id != 0), VisitMonthStat.village_id))
                )
            ),
            func.sum(VisitMonthStat.photos),
            func.sum(VisitMonthStat.flagged_photos),
        )
        .where(VisitMonthStat.month.between(first, last))
        .group_by(VisitMonthStat.township_id)
    )
    if scope is not None:
        stats = stats.where(VisitMonthStat.township_id.in_(scope or [-1]), VisitMonthStat.status == "submitted")
    for tid, n, visited, photos, flagged in session.execute(stats):
        if r := row(tid or None):
            r.visits, r.villages_visited = int(n or 0), visited
            r.photos, r.flagged_photos = int(photos or 0), int(flagged or 0)

    # Open orders are a state of today, not of the year they were issued in.
    orders = (
        rectification.scoped_orders(user).where(RectificationOrder.status.in_(rectification.OPEN_STATUSES)).subquery()
    )
    overdue = case((orders.c.deadline < today, 1), else_=0)
    for tid, n, late in session.execute(
        select(orders.c.township_id, func.count(orders.c.id), func.sum(overdue)).group_by(orders.c.township_id)
    ):
        if r := row(tid):
            r.rectifications_open, r.rectifications_overdue = n, int(late or 0)

    start = datetime.combine(date(year, 1, 1), time.min, CHINA)
    end = datetime.combine(date(year + 1, 1, 1), time.min, CHINA)
    ratings = (
        select(Feedback.township_id, Feedback.rating, func.count(Feedback.id))
        .where(Feedback.created_at >= start, Feedback.created_at < end, Feedback.status.not_in(UNRELEASED_FEEDBACK))
        .group_by(Feedback.township_id, Feedback.rating)
    )
    if scope is not None:
        ratings = ratings.where(Feedback.township_id.in_(scope or [-1]))
    for tid, rating, n in session.execute(ratings):
        if (r := row(tid)) and rating in r.ratings:
            r.ratings[rating] = n

    out = [r for tid, r in rows.items() if tid is not None or not r.empty]
    total = TownshipStats(None, "合计")
    for r in out:
        total.add(r)
    return Dashboard(year=year, today=today, rows=out, total=total)
