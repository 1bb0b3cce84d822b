"""A project's life after its application: reviews, monthly reports, observations, acceptance.

Also who belongs to which party organization (secretaries apply for their own; a reporting
unit's reviewers see theirs) and the subscribe-message consents that pay for reminders.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, utcnow

REPORT_STATUSES = {"draft": "草稿", "submitted": "已提交"}
OBSERVATION_RATINGS = ("好", "较好", "一般", "差")
ACCEPTANCE_RATINGS = ("优秀", "良好", "合格", "不合格")


class ProjectReview(Base):
    """One step of 二审三定 or later: who moved the project from which status to which, and why."""

    __tablename__ = "project_reviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    opinion: Mapped[str] = mapped_column(Text, default="")
    score: Mapped[int | None] = mapped_column(SmallInteger)  # the department's pre-evaluation, 0-100
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProjectReport(Base):
    """The secretary's monthly progress report (月报): text and photos, one per project and month."""

    __tablename__ = "project_reports"
    __table_args__ = (UniqueConstraint("project_id", "month", name="uq_project_reports_month"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    month: Mapped[str] = mapped_column(String(7))  # "2026-11"
    text: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ReportReminder(Base):
    """A reminder about one month's report: sent at most once per kind; unsent ones are tried again."""

    __tablename__ = "report_reminders"
    __table_args__ = (UniqueConstraint("project_id", "month", "kind", name="uq_report_reminders"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    month: Mapped[str] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(String(8))  # "due" (before the deadline) | "overdue"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    outcome: Mapped[str] = mapped_column(String(16))  # pending | sent | no_consent | failed | not_configured
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SubscribeCredit(Base):
    """How many subscribe messages of one template a user has consented to and not yet received."""

    __tablename__ = "subscribe_credits"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    template: Mapped[str] = mapped_column(String(32), primary_key=True)
    credits: Mapped[int] = mapped_column(Integer, default=0)


class ProjectObservation(Base):
    """A quarterly observation (观摩) of a project by department staff, typed in or out of a closed event."""

    __tablename__ = "project_observations"
    # One observation per project per event, however often the event's close is retried.
    __table_args__ = (Index("uq_project_observations_event", "event_id", "project_id", unique=True),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    observed_on: Mapped[date] = mapped_column(Date)
    quarter: Mapped[str] = mapped_column(String(7))  # "2026Q4", derived from observed_on
    observers: Mapped[str] = mapped_column(String(500), default="")
    rating: Mapped[str] = mapped_column(String(8))
    notes: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    event_id: Mapped[int | None] = mapped_column(ForeignKey("observation_events.id"))  # the 观摩 it came out of
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProjectAcceptance(Base):
    """The acceptance (验收) record; a passing one moves the project to accepted."""

    __tablename__ = "project_acceptances"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    accepted_on: Mapped[date] = mapped_column(Date)
    rating: Mapped[str] = mapped_column(String(8))
    passed: Mapped[bool] = mapped_column(default=False)
    members: Mapped[str] = mapped_column(String(500), default="")
    opinion: Mapped[str] = mapped_column(Text, default="")
    outcomes: Mapped[str] = mapped_column(Text, default="")  # what the project achieved, for case collections
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
