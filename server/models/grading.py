"""Annual grading of projects by expert panels, and the rewards and penalties that follow.

Scores are stored as whole numbers of tenths of a point and final scores as hundredths, so
every sum, mean and rank is exact integer arithmetic on every backend (SQLite has no decimal
type and would round through floats).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import (
    Base,
    CountyOwned,
    utcnow,
)

if TYPE_CHECKING:
    from server.models.projects import Project

# Grades from best to worst, as the department names them (特等 is above 一等).
GRADES = ("特等", "一等", "二等", "三等")
GRADING_STATUSES = {"draft": "配置中", "scoring": "评分中", "finalized": "已定等"}
QUOTA_MODES = {"percent": "按比例", "count": "按名额"}
WARNING_STATUSES = {"rectifying": "整顿中", "lifted": "已销号"}


class GradingSession(CountyOwned, Base):
    """One year's grading: criteria and weights, the drop-high-low rule, grade quotas, and its state."""

    __tablename__ = "grading_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(100))
    # [{"key": "c1", "name": "破解党建难题成效", "weight": 30}, ...]; weights sum to 100.
    criteria: Mapped[list[Any]] = mapped_column(JSON)
    drop_extremes: Mapped[bool] = mapped_column(Boolean, default=False)
    quota_mode: Mapped[str] = mapped_column(String(8), default="percent")
    quotas: Mapped[dict[str, Any]] = mapped_column(JSON)  # grade -> count or percentage
    deduction_points: Mapped[int] = mapped_column(Integer, default=2)
    # Outcomes of a grade: 年度考核加分 points and 奖补资金 yuan, {grade: number}; None when not used.
    grade_points: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    grade_amounts: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default="draft")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    opened_at: Mapped[datetime | None] = mapped_column()
    finalized_at: Mapped[datetime | None] = mapped_column()
    finalized_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    # One grading a year in each county.
    __table_args__ = (UniqueConstraint("county_id", "year", name="uq_grading_sessions_county_year"),)


class GradingEntry(Base):
    """A project taken into a session when it opened, and its result once the session is finalized."""

    __tablename__ = "grading_entries"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("grading_sessions.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    # The organization at the time of grading: later edits to the project do not move a result.
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    expert_count: Mapped[int | None] = mapped_column(Integer)
    final_centi: Mapped[int | None] = mapped_column(Integer)  # final score in hundredths
    rank: Mapped[int | None] = mapped_column(Integer)
    grade: Mapped[str | None] = mapped_column(String(8))
    bottom: Mapped[bool] = mapped_column(Boolean, default=False)

    project: Mapped[Project] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("session_id", "project_id", name="uq_grading_entry_project"),)

    @property
    def final_score(self) -> Decimal | None:
        """The final score with two decimals, or None before finalization."""
        return None if self.final_centi is None else Decimal(self.final_centi) / 100


class PanelSeat(Base):
    """One expert on one project's panel, with the expert's comment on it."""

    __tablename__ = "grading_panel_seats"
    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("grading_entries.id"), index=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    assigned_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    scored_at: Mapped[datetime | None] = mapped_column()

    scores: Mapped[list[GradingScore]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    __table_args__ = (UniqueConstraint("entry_id", "expert_id", name="uq_panel_seat_expert"),)


class GradingScore(Base):
    """One expert's score of one criterion for one project, in tenths of a point (0–1000)."""

    __tablename__ = "grading_scores"
    seat_id: Mapped[int] = mapped_column(ForeignKey("grading_panel_seats.id", ondelete="CASCADE"), primary_key=True)
    criterion: Mapped[str] = mapped_column(String(16), primary_key=True)
    tenths: Mapped[int] = mapped_column(Integer)


class PointDeduction(Base):
    """A deduction in an organization's 党建工作考核 for being in the bottom 5% two years running."""

    __tablename__ = "point_deductions"
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("grading_sessions.id"), index=True)
    points: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("organization_id", "year", name="uq_point_deduction_year"),)


class WeakOrgWarning(CountyOwned, Base):
    """软弱涣散 warning: an organization listed for rectification within three months."""

    __tablename__ = "weak_org_warnings"
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    listed_on: Mapped[date] = mapped_column(Date)
    deadline: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(12), default="rectifying", index=True)
    listed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    lifted_at: Mapped[datetime | None] = mapped_column()
    lifted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    lift_note: Mapped[str | None] = mapped_column(Text)


class PublicNotice(CountyOwned, Base):
    """通报批评 of an organization and its secretary; each one costs the secretary performance pay."""

    __tablename__ = "public_notices"
    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    secretary_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    year: Mapped[int] = mapped_column(Integer, index=True)
    issued_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    # Kept per notice so a later change of the amount does not rewrite past deductions.
    deduction_yuan: Mapped[int] = mapped_column(Integer)
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
