"""Assignments and the visits made for them, with check-ins, interviews, checklists and notes."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import (
    Base,
    CountyOwned,
    assignment_members,
    utcnow,
)

if TYPE_CHECKING:
    from server.models.people import User
    from server.models.places import Village
    from server.models.projects import Project


class Assignment(CountyOwned, Base):
    """An inspection job: one team of inspectors, one project at one village (or the unit's site)."""

    __tablename__ = "assignments"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id"), index=True)
    due_date: Mapped[date | None] = mapped_column(Date)
    check_items: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="open")
    # "manual" (sent by staff) or "drawn" (made by a round's draw: sealed items, team-only).
    origin: Mapped[str] = mapped_column(String(8), default="manual", server_default=text("'manual'"))
    round_id: Mapped[int | None] = mapped_column(ForeignKey("inspection_rounds.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the status becomes closed: late visits are measured against it (LATE_SYNC_DAYS).
    closed_at: Mapped[datetime | None] = mapped_column()
    # The evidence policy's overrides; None takes the round's (or the default) minimum.
    min_photos: Mapped[int | None] = mapped_column(Integer)
    min_interviews: Mapped[int | None] = mapped_column(Integer)

    project: Mapped[Project] = relationship(lazy="joined")
    village: Mapped[Village | None] = relationship(lazy="joined")
    members: Mapped[list[User]] = relationship(secondary=assignment_members, lazy="selectin")


class Visit(CountyOwned, Base):
    """One unannounced visit made for an assignment; submitted once, never edited after."""

    __tablename__ = "visits"
    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    # Copied from the assignment so that staff lists filter and scope without joins.
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    # active_history: the monthly stats (services.visit_stats) need the old value of a change.
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id"), active_history=True)
    township_id: Mapped[int | None] = mapped_column(ForeignKey("townships.id"), index=True, active_history=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="in_progress", active_history=True)
    started_at: Mapped[datetime] = mapped_column(active_history=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    submitted_at: Mapped[datetime | None] = mapped_column()
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Seconds after the assignment's close that the latest late record arrived (flag late_sync).
    late_sync_s: Mapped[int | None] = mapped_column(Integer)
    # What the inspector gave up at submit: [{kind, client_id, reason}].
    missing: Mapped[list[Any] | None] = mapped_column(JSON)
    # The short parts of the evidence policy: {"photos": {"required", "got"}, "interviews": {...}}.
    evidence_short: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    assignment: Mapped[Assignment] = relationship(lazy="joined")

    __table_args__ = (
        # The console's default order, and a reviewer's scoped list (township, submitted, newest);
        # submitted_at makes it cover a date range sorted by submission time (sorted in memory).
        Index("ix_visits_started", "started_at", "id", "submitted_at"),
        Index("ix_visits_scope", "township_id", "status", "started_at"),
        # One status (the few visits still in progress) in the default order.
        Index("ix_visits_status", "status", "started_at", "id"),
        # At a million visits: an admin's township filter in the default order, the
        # submitted-at sorts, and the dashboard's count of a year per township from the
        # index alone (no row reads).
        Index("ix_visits_township_started", "township_id", "started_at", "id"),
        Index("ix_visits_submitted", "submitted_at", "id"),
        # A village's or an inspector's (assignments') visits: counted, sorted and scoped from
        # the index alone, however many there are.
        Index("ix_visits_village_list", "village_id", "status", "township_id", "started_at", "submitted_at"),
        Index("ix_visits_assignment_list", "assignment_id", "status", "township_id", "started_at", "submitted_at"),
        # A township's visits (an admin's filter, a reviewer's scope) by submission time.
        Index("ix_visits_township_submitted", "township_id", "submitted_at", "id"),
        Index("ix_visits_period", "started_at", "township_id", "village_id", "status"),
    )


class VisitFlag(Base):
    """One integrity flag raised anywhere in a visit: lists filter and count flags by index."""

    __tablename__ = "visit_flags"
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id", ondelete="CASCADE"), primary_key=True)
    flag: Mapped[str] = mapped_column(String(32), primary_key=True)

    __table_args__ = (Index("ix_visit_flags_flag", "flag", "visit_id"),)


class CheckIn(Base):
    """A GPS check-in during a visit."""

    __tablename__ = "checkins"
    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    lat: Mapped[float] = mapped_column(Double)
    lng: Mapped[float] = mapped_column(Double)
    accuracy_m: Mapped[float] = mapped_column(Double)
    input_lat: Mapped[float] = mapped_column(Double)
    input_lng: Mapped[float] = mapped_column(Double)
    input_coord_type: Mapped[str] = mapped_column(String(8))
    client_time: Mapped[datetime] = mapped_column()
    sent_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    distance_m: Mapped[float] = mapped_column(Double)
    within_geofence: Mapped[bool] = mapped_column(Boolean)
    flags: Mapped[list[Any]] = mapped_column(JSON, default=list)

    __table_args__ = (Index("ix_checkins_user_time", "user_id", "client_time"),)


class Interview(Base):
    """A villager interview at home (到群众家中访实情); the household name is encrypted."""

    __tablename__ = "interviews"
    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    household_enc: Mapped[str] = mapped_column(Text)
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    satisfaction: Mapped[str] = mapped_column(String(8))
    notes: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChecklistResult(Base):
    """One version of a visit's checklist; a new PUT adds a version, the latest one counts."""

    __tablename__ = "checklist_results"
    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    items: Mapped[list[Any]] = mapped_column(JSON)
    sent_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class VisitNote(Base):
    """An append-only remark on a visit, allowed after submit too."""

    __tablename__ = "visit_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    text: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
