"""路演评审: a roadshow of a grading session, where secretaries present in turn and experts score live.

A roadshow uses its session's criteria and drop-high-low rule; its scores are kept apart from
the session's panels (an expert's sheet here is locked once finalized) until the host copies
them into PanelSeat / GradingScore, where the session's own finalization grades them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, CountyOwned, utcnow

ROADSHOW_STATUSES = {"draft": "筹备中", "live": "进行中", "ended": "已结束"}
SPEAKER_STATUSES = {"waiting": "待路演", "up": "路演中", "closed": "已结束"}


class Roadshow(CountyOwned, Base):
    """One roadshow session: date, venue, its order of speakers, its panel and the current speaker."""

    __tablename__ = "roadshows"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("grading_sessions.id"), index=True)
    title: Mapped[str] = mapped_column(String(100))
    held_on: Mapped[date] = mapped_column(Date)
    venue: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(8), default="draft")
    # No foreign key: roadshows and roadshow_speakers would point at each other (a cycle MariaDB and
    # SQLite create only in two steps); the service sets it only to a speaker of this roadshow.
    current_speaker_id: Mapped[int | None] = mapped_column(Integer)
    # The seed of the last draw of the order, kept so the audit entry can be replayed.
    draw_seed: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    copied_at: Mapped[datetime | None] = mapped_column()


class RoadshowSpeaker(Base):
    """A project presenting at a roadshow, at its place in the order."""

    __tablename__ = "roadshow_speakers"
    id: Mapped[int] = mapped_column(primary_key=True)
    roadshow_id: Mapped[int] = mapped_column(ForeignKey("roadshows.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("grading_entries.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(8), default="waiting")
    up_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (UniqueConstraint("roadshow_id", "entry_id", name="uq_roadshow_speaker_entry"),)


class RoadshowExpert(Base):
    """An expert on the roadshow's panel (the same panel scores every speaker)."""

    __tablename__ = "roadshow_experts"
    roadshow_id: Mapped[int] = mapped_column(ForeignKey("roadshows.id", ondelete="CASCADE"), primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)
    added_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class RoadshowSheet(Base):
    """One expert's score sheet for one speaker: tenths per criterion, locked once finalized."""

    __tablename__ = "roadshow_sheets"
    id: Mapped[int] = mapped_column(primary_key=True)
    speaker_id: Mapped[int] = mapped_column(ForeignKey("roadshow_speakers.id", ondelete="CASCADE"), index=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)  # criterion key -> tenths
    comment: Mapped[str] = mapped_column(Text, default="")
    saved_at: Mapped[datetime] = mapped_column(default=utcnow)
    finalized_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (UniqueConstraint("speaker_id", "expert_id", name="uq_roadshow_sheet_expert"),)
