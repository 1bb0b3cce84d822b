"""The quarterly cycle (每季度调度一次、实地督导一次、反馈通报一次): one task per quarter and kind, and its reminders."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, CountyOwned, utcnow

# The three things the department does every quarter, in the order it does them.
QUARTERLY_KINDS = {"dispatch": "调度", "supervision": "实地督导", "bulletin": "反馈通报"}


class QuarterlyTask(CountyOwned, Base):
    """One of a quarter's three tasks: when it is due, who owns it, and (once done) by whom, when, on what evidence."""

    __tablename__ = "quarterly_tasks"
    # One task per year, quarter and kind: generating a year twice, or on two nodes at once, adds nothing.
    __table_args__ = (UniqueConstraint("county_id", "year", "quarter", "kind", name="uq_quarterly_tasks_county"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(SmallInteger)
    quarter: Mapped[int] = mapped_column(SmallInteger)  # 1..4
    kind: Mapped[str] = mapped_column(String(16))  # a key of QUARTERLY_KINDS
    due_date: Mapped[date] = mapped_column(Date, index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    notes: Mapped[str] = mapped_column(Text, default="")  # the plan: place, participants, focus
    done_at: Mapped[datetime | None] = mapped_column()
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The evidence of a done task: a linked inspection round (实地督导's field work, 反馈通报's
    # notice), a note (the meeting's minutes) and/or the name of the document issued.
    round_id: Mapped[int | None] = mapped_column(ForeignKey("inspection_rounds.id"))
    evidence_note: Mapped[str] = mapped_column(Text, default="")
    evidence_document: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def done(self) -> bool:
        """True once the task is marked done."""
        return self.done_at is not None

    def overdue(self, today: date) -> bool:
        """Not done, and its due day (China calendar) has passed."""
        return self.done_at is None and self.due_date < today

    def state(self, today: date) -> str:
        """done | overdue | due (still open, on time), as of `today` (China calendar)."""
        if self.done_at is not None:
            return "done"
        return "overdue" if self.overdue(today) else "due"

    @property
    def label(self) -> str:
        """'2026 年第二季度调度' — how staff name the task."""
        return f"{self.year} 年第{'一二三四'[self.quarter - 1]}季度{QUARTERLY_KINDS[self.kind]}"


class QuarterlyReminder(Base):
    """A reminder about one task to one person: sent at most once per kind; unsent ones are tried again.

    channel "console": a notice the owner sees in the console; "wechat": a subscribe message to a
    secretary whose project a 调度 concerns.
    """

    __tablename__ = "quarterly_reminders"
    __table_args__ = (UniqueConstraint("task_id", "kind", "user_id", name="uq_quarterly_reminders"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("quarterly_tasks.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # "due" (before the day) | "overdue"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))  # console | wechat
    outcome: Mapped[str] = mapped_column(String(16))  # pending | sent | no_consent | failed | not_configured
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
