"""People and their roles."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import (
    Base,
    user_organizations,
    user_townships,
    utcnow,
)

if TYPE_CHECKING:
    from server.models.places import Organization, ReportingUnit, Township


class User(Base):
    """A person: staff with a password and/or WeChat, or a villager known only by openid."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(64), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    openid: Mapped[str | None] = mapped_column(String(64), unique=True)
    invite_code_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    invite_expires_at: Mapped[datetime | None] = mapped_column()
    home_township_id: Mapped[int | None] = mapped_column(ForeignKey("townships.id"))
    # The county whose staff the account is; None for villagers and for city or province
    # accounts, which read every county and write nothing (server/tenancy.py).
    county_id: Mapped[int | None] = mapped_column(ForeignKey("counties.id"), index=True)
    # A unit_reviewer's reporting unit: its organizations are in the account's scope.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("reporting_units.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    role_rows: Mapped[list[UserRole]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="UserRole.role"
    )
    townships: Mapped[list[Township]] = relationship(secondary=user_townships, lazy="selectin")
    organizations: Mapped[list[Organization]] = relationship(secondary=user_organizations, lazy="selectin")
    unit: Mapped[ReportingUnit | None] = relationship()

    @property
    def roles(self) -> list[str]:
        """The user's role names, sorted."""
        return sorted(r.role for r in self.role_rows)

    def has_role(self, *roles: str) -> bool:
        """True when the user holds any of the given roles."""
        return any(r.role in roles for r in self.role_rows)


class UserRole(Base):
    """One role held by one user."""

    __tablename__ = "user_roles"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)


class ConsoleSession(Base):
    """A console sign-in: the cookie carries a random id, this row its SHA-256.

    Deleting the row signs that browser out even if the signed cookie was copied elsewhere
    (logout deletes one, a new password or deactivation all of a user's).
    """

    __tablename__ = "console_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    sid_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
