"""观摩 events (季度观摩 / 月度观摩: a route of projects seen in one day, scored on site) and the
中期互评 rounds in which party organizations score each other's projects."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, Date, ForeignKey, SmallInteger, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, CountyOwned, utcnow

OBSERVATION_KINDS = {"quarterly": "季度观摩", "monthly": "月度观摩"}
OBSERVATION_EVENT_STATUSES = {"planned": "计划中", "under_way": "进行中", "closed": "已结束"}
PEER_REVIEW_STATUSES = {"open": "评分中", "closed": "已结束"}


class ObservationEvent(CountyOwned, Base):
    """One 观摩: a day, a route of projects that must be seen, who takes part, and its state."""

    __tablename__ = "observation_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))  # OBSERVATION_KINDS
    title: Mapped[str] = mapped_column(String(200))
    held_on: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(12), default="planned")  # OBSERVATION_EVENT_STATUSES
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class ObservationStop(Base):
    """A project on an event's route, in the order it is visited, with its planned time."""

    __tablename__ = "observation_stops"
    __table_args__ = (UniqueConstraint("event_id", "project_id", name="uq_observation_stops_project"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("observation_events.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(SmallInteger)  # 1, 2, … along the route
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    planned_at: Mapped[str] = mapped_column(String(5), default="")  # "09:30", China time; "" when open


class ObservationParticipant(Base):
    """Someone on the event: a staff account, or a named outside participant (e.g. a township secretary)."""

    __tablename__ = "observation_participants"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("observation_events.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    post: Mapped[str] = mapped_column(String(64), default="")  # 职务, for outside participants
    scoring: Mapped[bool] = mapped_column(default=True)


class ObservationScore(Base):
    """One scoring participant's on-site score (0–100) of one stop, with a remark."""

    __tablename__ = "observation_scores"
    __table_args__ = (UniqueConstraint("stop_id", "participant_id", name="uq_observation_scores"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    stop_id: Mapped[int] = mapped_column(ForeignKey("observation_stops.id", ondelete="CASCADE"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("observation_participants.id", ondelete="CASCADE"))
    score: Mapped[int] = mapped_column(SmallInteger)
    remark: Mapped[str] = mapped_column(Text, default="")
    entered_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))  # the participant, or an admin for outsiders
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


peer_review_members = Table(
    "peer_review_members",
    Base.metadata,
    Column("round_id", ForeignKey("peer_review_rounds.id", ondelete="CASCADE"), primary_key=True),
    Column("organization_id", ForeignKey("organizations.id", ondelete="RESTRICT"), primary_key=True),
)


class PeerReviewRound(CountyOwned, Base):
    """A 中期互评 round: the participating organizations score each other's projects of the year."""

    __tablename__ = "peer_review_rounds"
    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(200))
    criteria: Mapped[list[Any]] = mapped_column(JSON)  # names of the criteria, each scored 1–10
    status: Mapped[str] = mapped_column(String(8), default="open")  # PEER_REVIEW_STATUSES
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()


class PeerReviewScore(Base):
    """One organization's scores of another organization's project, given by its secretary."""

    __tablename__ = "peer_review_scores"
    __table_args__ = (UniqueConstraint("round_id", "project_id", "organization_id", name="uq_peer_review_scores"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("peer_review_rounds.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"))  # the scoring organization
    scorer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)  # criterion name -> 1..10
    comment: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
