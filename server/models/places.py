"""Places: townships, villages, organizations and their unit sites."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Double,
    ForeignKey,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import (
    Base,
    utcnow,
)


class Township(Base):
    """A township (乡镇) or sub-district; the unit of staff scope and of recusal."""

    __tablename__ = "townships"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)  # 12-digit division code
    name: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float | None] = mapped_column(Double)
    lng: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    villages: Mapped[list[Village]] = relationship(back_populates="township")


class Village(Base):
    """An administrative village (行政村) with its centre point, geofence and optional boundary."""

    __tablename__ = "villages"
    id: Mapped[int] = mapped_column(primary_key=True)
    township_id: Mapped[int] = mapped_column(ForeignKey("townships.id"), index=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Double)
    lng: Mapped[float] = mapped_column(Double)
    radius_m: Mapped[int] = mapped_column(Integer, default=500)
    boundary: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # GeoJSON Polygon, WGS-84
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    township: Mapped[Township] = relationship(back_populates="villages")


class ReportingUnit(Base):
    """A reporting unit (归口单位): reviews the applications of the party organizations filed under it.

    A township's Party committee for its villages, a 机关工委 or 教育工委 for its offices and
    schools: its `unit_reviewer` accounts see the projects of every organization of the unit.
    """

    __tablename__ = "reporting_units"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="")  # 乡镇党委, 机关工委, 教育工委 …
    township_id: Mapped[int | None] = mapped_column(ForeignKey("townships.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organizations: Mapped[list[Organization]] = relationship(back_populates="unit", order_by="Organization.name")


class Organization(Base):
    """A party organization (党组织) that runs projects; placed in a township and maybe a village."""

    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    domain: Mapped[str] = mapped_column(String(16), default="农村")
    township_id: Mapped[int | None] = mapped_column(ForeignKey("townships.id"), index=True)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id"))
    # The reporting unit it applies through (归口单位); None until the department files it under one.
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("reporting_units.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    unit: Mapped[ReportingUnit | None] = relationship(back_populates="organizations")


class Site(Base):
    """The own site of a unit outside villages (机关, 国企, 学校, 医院, 非公企业)."""

    __tablename__ = "sites"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    code: Mapped[str | None] = mapped_column(String(32), unique=True)
    township_id: Mapped[int | None] = mapped_column(ForeignKey("townships.id"), index=True)
    lat: Mapped[float] = mapped_column(Double)
    lng: Mapped[float] = mapped_column(Double)
    radius_m: Mapped[int] = mapped_column(Integer, default=300)
    boundary: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
