"""Pre-aggregated counts that the console reads instead of scanning millions of rows."""

from __future__ import annotations

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.models.base import Base


class VisitMonthStat(Base):
    """Visits and their ready photos per China calendar month, village and visit status.

    Kept current by server.services.visit_stats on every flush that touches a visit or a
    visit photo; `flask --app server rebuild-stats` recomputes it from the rows. A missing
    township or village is stored as 0 (a primary key column cannot be NULL).
    """

    __tablename__ = "visit_month_stats"
    month: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # yyyymm
    township_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    village_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    visits: Mapped[int] = mapped_column(Integer, default=0)
    photos: Mapped[int] = mapped_column(Integer, default=0)
    flagged_photos: Mapped[int] = mapped_column(Integer, default=0)


class VisitListCount(Base):
    """Visits per China calendar month, township and status, in all and per integrity flag.

    `flag` "" counts every visit; any other value counts the visits carrying that flag. The
    visit list reads its totals and flag counts here for whole months (a few thousand rows for
    three years, where counting the visits read a million). Kept by services.visit_stats.
    """

    __tablename__ = "visit_list_counts"
    month: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # yyyymm
    township_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    flag: Mapped[str] = mapped_column(String(32), primary_key=True)
    visits: Mapped[int] = mapped_column(Integer, default=0)
