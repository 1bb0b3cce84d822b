"""Standing inspection teams (督查组) and the conflicts inspectors declare (回避申报)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Boolean, Column, ForeignKey, Index, String, Table, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import Base, CountyOwned, utcnow

if TYPE_CHECKING:
    from server.models.people import User

# What a declared conflict is: relatives living in a village, a former post in a township or an
# organization, or anything else the inspector names in the note.
CONFLICT_KINDS = {"relative": "亲属", "former_post": "曾任职", "other": "其他"}
# Which places a conflict bars: a village (its own sites), a township (every site in it) or an
# organization (the places of its projects).
CONFLICT_SCOPES = {"village": "村", "township": "乡镇", "organization": "党组织"}

inspection_team_members = Table(
    "inspection_team_members",
    Base.metadata,
    Column("team_id", ForeignKey("inspection_teams.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True),
    Index("ix_inspection_team_members_user", "user_id"),
)


class InspectionTeam(CountyOwned, Base):
    """A named working group (e.g. 第一督查组) that persists across rounds."""

    __tablename__ = "inspection_teams"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    # 组长: one of the members, shown as responsible for the team's assignments.
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # 带队领导: the department leader (a leader account) who leads the team in the field.
    lead_official_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    members: Mapped[list[User]] = relationship(secondary=inspection_team_members, lazy="selectin", order_by="User.id")
    leader: Mapped[User | None] = relationship(foreign_keys=[leader_id], lazy="joined")
    lead_official: Mapped[User | None] = relationship(foreign_keys=[lead_official_id], lazy="joined")

    __table_args__ = (UniqueConstraint("county_id", "name", name="uq_inspection_teams_county_name"),)


class ConflictDeclaration(CountyOwned, Base):
    """One declared conflict of an inspector: the draw never sends them (or their team) there."""

    __tablename__ = "conflict_declarations"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    # Exactly one of the three is set (the scope).
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id"))
    township_id: Mapped[int | None] = mapped_column(ForeignKey("townships.id"))
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"))
    # Personal detail (e.g. whose relative): staff see it, the public record never does.
    note: Mapped[str] = mapped_column(String(200), default="")
    declared_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    declared_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    withdrawn_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")
    declared_by: Mapped[User | None] = relationship(foreign_keys=[declared_by_id], lazy="joined")

    @property
    def scope(self) -> str:
        """village, township or organization: which of the place columns is set."""
        if self.village_id is not None:
            return "village"
        return "township" if self.township_id is not None else "organization"
