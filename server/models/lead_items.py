"""书记领办事项: matters a Party secretary leads in person, a second track beside the projects.

An item runs for years rather than one: what counts is whether it shows visible results
(明显成效). Two years without one make it a candidate for the 软弱涣散 list
(server/services/lead_items.py); the department decides, and the decision is kept here.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, CountyOwned, utcnow

if TYPE_CHECKING:
    from server.models.places import Organization

LEAD_ITEM_STATUSES = {"in_progress": "推进中", "done": "已办结", "stopped": "已终止"}
SUGGESTION_DECISIONS = {"confirmed": "已列入软弱涣散名单", "dismissed": "不列入"}


class LeadItem(CountyOwned, Base):
    """One 书记领办事项: the problem, who leads it, since when, its milestones and its state."""

    __tablename__ = "lead_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    year: Mapped[int] = mapped_column(Integer, index=True)  # the year it started
    started_on: Mapped[date] = mapped_column(Date)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    # The leading secretary: an account when there is one, else just a name (a county leader).
    secretary_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    leader_name: Mapped[str] = mapped_column(String(64), default="")
    level: Mapped[str] = mapped_column(String(16), index=True)  # one of PROJECT_LEVELS
    problem: Mapped[str] = mapped_column(Text, default="")
    # [{"name": ..., "deadline": "2026-06-30", "responsible": ..., "status": ...}], as a project's steps.
    milestones: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(12), default="in_progress", index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    organization: Mapped[Organization] = relationship(lazy="joined")


class LeadItemProgress(Base):
    """A dated progress note on an item; `visible_result` marks one the department counts as 明显成效."""

    __tablename__ = "lead_item_progress"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("lead_items.id"), index=True)
    noted_on: Mapped[date] = mapped_column(Date)
    text: Mapped[str] = mapped_column(Text)
    visible_result: Mapped[bool] = mapped_column(Boolean, default=False)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LeadItemDecision(Base):
    """An admin's answer to a 软弱涣散 suggestion: confirmed (with the warning it created) or dismissed."""

    __tablename__ = "lead_item_decisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("lead_items.id"), index=True)
    decision: Mapped[str] = mapped_column(String(12))  # one of SUGGESTION_DECISIONS
    decided_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    warning_id: Mapped[int | None] = mapped_column(ForeignKey("weak_org_warnings.id"))
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
