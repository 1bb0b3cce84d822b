"""Staff review decisions on visits and the rectification orders they issue."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import (
    Base,
    CountyOwned,
    utcnow,
)


class ReviewDecision(Base):
    """A reviewer's verdict on a photo or a whole visit; append-only, the latest one counts."""

    __tablename__ = "review_decisions"
    id: Mapped[int] = mapped_column(primary_key=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), index=True)
    target_kind: Mapped[str] = mapped_column(String(8))  # "photo" | "visit"
    target_id: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(12))  # "accepted" | "questioned"
    reason: Mapped[str] = mapped_column(Text, default="")
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_review_target", "target_kind", "target_id"),)


RECTIFICATION_STATUSES = {
    "issued": "已下发",
    "responded": "已反馈",
    "verified": "已复核",
    "closed": "已销号",
}


class RectificationOrder(CountyOwned, Base):
    """整改通知: findings sent to a project's organization/secretary with a deadline."""

    __tablename__ = "rectification_orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"), index=True)
    township_id: Mapped[int | None] = mapped_column(ForeignKey("townships.id"), index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    items: Mapped[list[Any]] = mapped_column(JSON)
    deadline: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(12), default="issued", index=True)
    issued_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    response_text: Mapped[str | None] = mapped_column(Text)
    responded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    responded_at: Mapped[datetime | None] = mapped_column()
    verified_visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id"))
    verified_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    note: Mapped[str | None] = mapped_column(Text)
