"""The declarative base, the UTC datetime type, shared vocabularies and association tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Table,
    TypeDecorator,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    """The current time, tz-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC with microseconds on every backend; returns tz-aware UTC."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; pass a tz-aware one")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    """Declarative base of every table."""

    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class CountyOwned:
    """Rows that belong to one county: a county's staff see only their own (server/tenancy.py).

    A new row takes its county from a parent row it points at, else from the session's county.
    """

    county_id: Mapped[int | None] = mapped_column(ForeignKey("counties.id"), index=True)


ROLES = (
    "admin",
    "leader",
    "reviewer",
    "unit_reviewer",
    "expert",
    "inspector",
    "secretary",
    "villager",
    # 组工干部 who liaise with projects (1+1 蹲点) without reviewing visits: they see only their projects.
    "cadre",
)
# The organization department's own staff: every console page is theirs.
STAFF_ROLES = ("admin", "leader", "reviewer")
# Who may sign in to the console at all: reporting units (归口单位), expert panels and project
# secretaries (applying, following their projects) see only their own pages.
CONSOLE_ROLES = (*STAFF_ROLES, "unit_reviewer", "expert", "secretary", "cadre")
DOMAINS = ("农村", "城市社区", "机关", "国企", "中小学校", "公立医院", "非公企业")
SATISFACTION = ("满意", "基本满意", "不满意")
CHECK_RESULTS = ("pass", "fail", "na")


user_townships = Table(
    "user_townships",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("township_id", ForeignKey("townships.id", ondelete="CASCADE"), primary_key=True),
)

project_villages = Table(
    "project_villages",
    Base.metadata,
    Column("project_id", ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    Column("village_id", ForeignKey("villages.id", ondelete="RESTRICT"), primary_key=True),
)

assignment_members = Table(
    "assignment_members",
    Base.metadata,
    Column("assignment_id", ForeignKey("assignments.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True),
    # When the inspector joined the team: a late visit is taken only from those on it before the close.
    Column("added_at", UTCDateTime, default=utcnow),
    Index("ix_assignment_members_user", "user_id"),
)

# Members of a party organization (its secretaries) and the reporting unit (归口单位) reviewers
# responsible for it.
user_organizations = Table(
    "user_organizations",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("organization_id", ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_user_organizations_org", "organization_id"),
)
