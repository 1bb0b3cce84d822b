"""Random inspection rounds (双随机): frozen inputs, the published hash, the draw and its result."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Integer,
    String,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import (
    Base,
    CountyOwned,
    utcnow,
)

# The evidence policy when a round (or a manual assignment) says nothing else.
DEFAULT_MIN_PHOTOS = 2
DEFAULT_MIN_INTERVIEWS = 1

# draft -> frozen (input hash published) -> drawn (assignments created) -> closed (record published)
ROUND_STATUSES = {"draft": "草稿", "frozen": "已冻结", "drawn": "已抽取", "closed": "已结束"}


class InspectionRound(CountyOwned, Base):
    """One round of random inspections: who may be drawn, by whom, checking what."""

    __tablename__ = "inspection_rounds"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(8), default="draft", index=True)
    # Which projects are candidates: {"township_ids": [...], "year": int|None, "domain": str|None}.
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    groups: Mapped[int] = mapped_column(Integer)
    sites_per_group: Mapped[int] = mapped_column(Integer)
    team_size: Mapped[int] = mapped_column(Integer, default=2)
    items_per_visit: Mapped[int] = mapped_column(Integer)
    check_items: Mapped[list[Any]] = mapped_column(JSON, default=list)
    inspector_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Standing teams sent instead of loose inspectors (empty or None: draw from inspector_ids).
    team_ids: Mapped[list[Any] | None] = mapped_column(JSON)
    due_date: Mapped[date | None] = mapped_column(Date)
    # The evidence policy of the round's visits (each assignment may override it).
    min_photos: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_MIN_PHOTOS, server_default=text(str(DEFAULT_MIN_PHOTOS))
    )
    min_interviews: Mapped[int] = mapped_column(
        Integer, default=DEFAULT_MIN_INTERVIEWS, server_default=text(str(DEFAULT_MIN_INTERVIEWS))
    )
    # Set when frozen: the canonical inputs of server/draw.py and their SHA-256.
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    input_hash: Mapped[str | None] = mapped_column(String(64))
    # Set when drawn.
    public_value: Mapped[str | None] = mapped_column(String(64))
    seed: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    frozen_at: Mapped[datetime | None] = mapped_column()
    drawn_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
