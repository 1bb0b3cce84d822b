"""书记项目 and their public progress updates."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import (
    Base,
    CountyOwned,
    project_villages,
    utcnow,
)

if TYPE_CHECKING:
    from server.models.places import Organization, Site, Village


SELECTIONS = ("必选", "自选")
CATEGORIES = ("常规性", "重点性", "创新性")
# 县、镇、村三级书记项目, and the projects the county Party secretary leads in person (县委书记领办).
PROJECT_LEVELS = {"county": "县级", "township": "镇级", "village": "村级", "county_secretary": "县委书记领办"}
# status -> label; the transitions between them live in server/services/lifecycle.py
PROJECT_STATUSES = {
    "draft": "草稿",
    "submitted": "待归口单位审核",
    "unit_reviewed": "待组织部审定",
    "approved": "已立项",
    "rejected": "未立项",
    "in_progress": "实施中",
    "accepted": "已验收",
    "closed": "已终止",
}
# Statuses whose commitments are on the public record (公示) and open to villagers' feedback.
PUBLIC_STATUSES = ("approved", "in_progress", "accepted", "closed")


class Project(CountyOwned, Base):
    """A 书记项目 of one year, placed at villages or at a unit's own site."""

    __tablename__ = "projects"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    year: Mapped[int] = mapped_column(Integer, index=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    # 四个一: the one secretary in charge, who answers rectification orders.
    secretary_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    domain: Mapped[str] = mapped_column(String(16), default="农村")
    # One of PROJECT_LEVELS; None for the projects registered before levels existed (未定级).
    level: Mapped[str | None] = mapped_column(String(16), index=True)
    # Registered directly by the department: under way; applied for by a secretary: "draft".
    status: Mapped[str] = mapped_column(String(16), default="in_progress", index=True)
    # 申报表 fields: 必选/自选, 常规性/重点性/创新性, the problem the project solves.
    selection: Mapped[str] = mapped_column(String(8), default="自选")
    category: Mapped[str] = mapped_column(String(8), default="常规性")
    problem: Mapped[str] = mapped_column(Text, default="")
    applicant_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    submitted_at: Mapped[datetime | None] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column()
    started_at: Mapped[datetime | None] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    steps: Mapped[list[Any]] = mapped_column(JSON, default=list)
    targets: Mapped[list[Any]] = mapped_column(JSON, default=list)
    responsible: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # 联系组工干部 as an account (services/cadres.py); responsible["联系组工干部"] keeps the name shown
    # publicly, and the free text of projects not linked yet.
    liaison_cadre_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # Report, rectification and feedback photos come from the camera only, as on a visit: a picture
    # from the album proves nothing about time and place. The department may allow the album here.
    allow_album: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    villages: Mapped[list[Village]] = relationship(secondary=project_villages, lazy="selectin")
    site: Mapped[Site | None] = relationship(lazy="joined")
    organization: Mapped[Organization | None] = relationship(lazy="joined")


class ProjectUpdate(Base):
    """A progress update on a project's public record (公示), written by staff."""

    __tablename__ = "project_updates"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
