"""联系组工干部: the "1+1 蹲点" routine's logged contacts and the reminders sent about it.

A project's liaison cadre is `Project.liaison_cadre_id` (a staff account); each contact is logged
per cadre × project, and each reminder is kept so it is sent once per item and period.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base, CountyOwned, utcnow

# kind -> label; the routine's rhythm (每周电话、每月调研、每季汇报) lives in server/services/cadres.py
CONTACT_KINDS = {"phone": "电话", "visit": "调研", "report": "汇报"}


class LiaisonContact(CountyOwned, Base):
    """One contact of a liaison cadre with a project: a phone call, a site visit or a report."""

    __tablename__ = "liaison_contacts"
    __table_args__ = (Index("ix_liaison_contacts_project_day", "project_id", "contact_on"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    cadre_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    contact_on: Mapped[date] = mapped_column(Date)  # China calendar day
    summary: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CadreReminder(Base):
    """A reminder about one routine item of one period ("2026-W49", "2026-12", "2026Q4"): at most one each."""

    __tablename__ = "cadre_reminders"
    __table_args__ = (UniqueConstraint("project_id", "kind", "period", name="uq_cadre_reminders"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    kind: Mapped[str] = mapped_column(String(8))
    period: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(8))  # "due" | "overdue": what the reminder said
    cadre_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # notice (console only) | sent (also WeChat) | pending | no_consent | failed
    outcome: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
