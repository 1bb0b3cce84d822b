"""Places: counties at the top, their townships, villages, organizations and unit sites."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Double,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.models.base import (
    Base,
    CountyOwned,
    utcnow,
)


class County(Base):
    """A county (县、区、县级市): the top of the place tree and the boundary of data.

    A city or province runs one deployment for all its counties. Each county's staff see only its
    rows (server/tenancy.py); its draws, grading, 文号 and audit chain are its own.
    """

    __tablename__ = "counties"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(6), unique=True)  # 6-digit division code, e.g. 360821
    name: Mapped[str] = mapped_column(String(64))  # 吉安县
    # The issuing department printed on documents (中共吉安县委组织部); DEPARTMENT_NAME when empty.
    department_name: Mapped[str] = mapped_column(String(64), default="")
    # The 发文字号's 代字 (吉县组字); DOC_NUMBER_PREFIX when empty.
    doc_prefix: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Township(CountyOwned, Base):
    """A township (乡镇) or sub-district of a county; the unit of staff scope and of recusal."""

    __tablename__ = "townships"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)  # 12-digit division code
    name: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float | None] = mapped_column(Double)
    lng: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    villages: Mapped[list[Village]] = relationship(back_populates="township")


class Village(CountyOwned, Base):
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


class ReportingUnit(CountyOwned, Base):
    """A reporting unit (归口单位): reviews the applications of the party organizations filed under it.

    A township's Party committee for its villages, a 机关工委 or 教育工委 for its offices and
    schools: its `unit_reviewer` accounts see the projects of every organization of the unit.
    """

    __tablename__ = "reporting_units"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), default="")  # 乡镇党委, 机关工委, 教育工委 …
    township_id: Mapped[int | None] = mapped_column(ForeignKey("townships.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    organizations: Mapped[list[Organization]] = relationship(back_populates="unit", order_by="Organization.name")

    __table_args__ = (UniqueConstraint("county_id", "name", name="uq_reporting_units_county_name"),)


class Organization(CountyOwned, Base):
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


class Site(CountyOwned, Base):
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
