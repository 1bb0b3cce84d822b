"""Villagers' feedback and the staff replies to it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import (
    Base,
    CountyOwned,
    utcnow,
)

FEEDBACK_RATINGS = ("满意", "基本满意", "不满意")
FEEDBACK_CATEGORIES = ("表扬", "建议", "投诉", "问题反映")
# status code -> what the villager reads
FEEDBACK_STATUSES = {
    "held": "待审核",
    "received": "待受理",
    "accepted": "已受理",
    "processing": "处理中",
    "resolved": "已办结",
    "declined": "不予受理",
}


class Feedback(CountyOwned, Base):
    """A villager's opinion or complaint about a project, left from the notice-board QR code."""

    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    township_id: Mapped[int | None] = mapped_column(ForeignKey("townships.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    receipt_no: Mapped[str] = mapped_column(String(20), unique=True)
    rating: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    notify: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), index=True)
    moderation_label: Mapped[int | None] = mapped_column(Integer)
    # msgSecCheck's verdict ("pass" | "review" | "risky"); None when it could not be asked.
    # Risky text is held for county staff only, and never reaches the project's secretary.
    moderation_suggest: Mapped[str | None] = mapped_column(String(8))
    due_at: Mapped[datetime] = mapped_column(index=True)
    sent_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    closed_at: Mapped[datetime | None] = mapped_column()


class FeedbackReply(Base):
    """Staff's answer to feedback, with the status it set."""

    __tablename__ = "feedback_replies"
    id: Mapped[int] = mapped_column(primary_key=True)
    feedback_id: Mapped[int] = mapped_column(ForeignKey("feedback.id"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    notified: Mapped[bool] = mapped_column(Boolean, default=False)
    # Shown on the project's public page (公开答复); replies are private unless staff say so.
    public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sql_text("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
