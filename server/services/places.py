"""Townships, villages and unit sites: create, edit, list (services/imports/places.py imports them)."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import Site, Township, User, Village
from server.services import audit
from server.services.common import (
    Page,
    boundary_or_none,
    get_or_404,
    paginate,
    require_unique,
    search,
    wgs84_point,
)

# ---- lists and lookups ------------------------------------------------------------------
# The admin API pages through rows in creation order; the console lists and pickers show
# townships and villages by division code and pick sites by name: `order` says which.


def list_townships(
    session: Session,
    *,
    q: str | None = None,
    order: Literal["id", "code"] = "code",
    page: int = 1,
    per_page: int | None = None,
) -> Page[Township]:
    """Townships whose name or code contains `q`; every one when `per_page` is None."""
    stmt = search(select(Township), q, Township.name, Township.code)
    return paginate(session, stmt.order_by(Township.code if order == "code" else Township.id), page, per_page)


def list_villages(
    session: Session,
    *,
    township_id: int | None = None,
    q: str | None = None,
    order: Literal["id", "code"] = "code",
    page: int = 1,
    per_page: int | None = None,
) -> Page[Village]:
    """Villages (of one township when given) whose name or code contains `q`."""
    stmt = select(Village)
    if township_id:
        stmt = stmt.where(Village.township_id == township_id)
    stmt = search(stmt, q, Village.name, Village.code)
    return paginate(session, stmt.order_by(Village.code if order == "code" else Village.id), page, per_page)


def list_sites(
    session: Session,
    *,
    township_id: int | None = None,
    q: str | None = None,
    q_matches_code: bool = True,
    order: Literal["id", "name"] = "id",
    page: int = 1,
    per_page: int | None = None,
) -> Page[Site]:
    """Unit sites (of one township when given) whose name, or code when `q_matches_code`, contains `q`."""
    stmt = select(Site)
    if township_id:
        stmt = stmt.where(Site.township_id == township_id)
    stmt = search(stmt, q, Site.name, *((Site.code,) if q_matches_code else ()))
    return paginate(session, stmt.order_by(Site.name if order == "name" else Site.id), page, per_page)


def village_counts(session: Session) -> dict[int, int]:
    """How many villages each township has, by township id."""
    return dict(session.execute(select(Village.township_id, func.count()).group_by(Village.township_id)).all())


def get_township(session: Session, township_id: int) -> Township:
    """The township with this id, or ApiError(not_found)."""
    return get_or_404(session, Township, township_id)


def get_village(session: Session, village_id: int) -> Village:
    """The village with this id, or ApiError(not_found)."""
    return get_or_404(session, Village, village_id)


def get_site(session: Session, site_id: int) -> Site:
    """The unit site with this id, or ApiError(not_found)."""
    return get_or_404(session, Site, site_id)


# ---- writes -----------------------------------------------------------------------------


def _apply_point(obj, data: dict[str, Any]) -> None:
    if "lat" in data or "lng" in data:
        obj.lat, obj.lng = wgs84_point(data)


def create_township(session: Session, actor: User, data: dict[str, Any]) -> Township:
    """Add a township (code is the 12-digit division code)."""
    require_unique(session, Township, Township.code, data["code"], "code")
    t = Township(code=data["code"], name=data["name"])
    _apply_point(t, data)
    session.add(t)
    session.flush()
    audit.append(session, actor, "township.create", "township", t.id, {"code": t.code, "name": t.name})
    session.commit()
    return t


def update_township(session: Session, actor: User, township_id: int, data: dict[str, Any]) -> Township:
    """Edit a township's name, code or centre."""
    t = get_or_404(session, Township, township_id, "乡镇")
    if "code" in data:
        require_unique(session, Township, Township.code, data["code"], "code", exclude_id=t.id)
        t.code = data["code"]
    if "name" in data:
        t.name = data["name"]
    _apply_point(t, data)
    audit.append(session, actor, "township.update", "township", t.id, _changes(data))
    session.commit()
    return t


def create_village(session: Session, actor: User, data: dict[str, Any]) -> Village:
    """Add a village with its centre (converted to WGS-84), geofence radius and boundary."""
    get_or_404(session, Township, data["township_id"], "乡镇")
    require_unique(session, Village, Village.code, data["code"], "code")
    lat, lng = wgs84_point(data)
    v = Village(
        township_id=data["township_id"],
        code=data["code"],
        name=data["name"],
        lat=lat,
        lng=lng,
        radius_m=data.get("radius_m", 500),
        boundary=boundary_or_none(data.get("boundary")),
    )
    session.add(v)
    session.flush()
    audit.append(session, actor, "village.create", "village", v.id, {"code": v.code, "name": v.name})
    session.commit()
    return v


def update_village(session: Session, actor: User, village_id: int, data: dict[str, Any]) -> Village:
    """Edit a village; coordinates given in GCJ-02 are converted."""
    v = get_or_404(session, Village, village_id, "村")
    if "township_id" in data:
        get_or_404(session, Township, data["township_id"], "乡镇")
        v.township_id = data["township_id"]
    if "code" in data:
        require_unique(session, Village, Village.code, data["code"], "code", exclude_id=v.id)
        v.code = data["code"]
    for key in ("name", "radius_m"):
        if key in data:
            setattr(v, key, data[key])
    if "boundary" in data:
        v.boundary = boundary_or_none(data["boundary"])
    _apply_point(v, data)
    audit.append(session, actor, "village.update", "village", v.id, _changes(data))
    session.commit()
    return v


def create_site(session: Session, actor: User, data: dict[str, Any], *, commit: bool = True) -> Site:
    """Add a unit's own site (point and radius)."""
    if data.get("township_id") is not None:
        get_or_404(session, Township, data["township_id"], "乡镇")
    if data.get("code"):
        require_unique(session, Site, Site.code, data["code"], "code")
    lat, lng = wgs84_point(data)
    s = Site(
        name=data["name"],
        code=data.get("code") or None,
        township_id=data.get("township_id"),
        lat=lat,
        lng=lng,
        radius_m=data.get("radius_m", 300),
        boundary=boundary_or_none(data.get("boundary")),
    )
    session.add(s)
    session.flush()
    audit.append(session, actor, "site.create", "site", s.id, {"name": s.name})
    if commit:
        session.commit()
    return s


def update_site(session: Session, actor: User, site_id: int, data: dict[str, Any]) -> Site:
    """Edit a unit site."""
    s = get_or_404(session, Site, site_id, "单位地点")
    if "township_id" in data and data["township_id"] is not None:
        get_or_404(session, Township, data["township_id"], "乡镇")
    if data.get("code"):
        require_unique(session, Site, Site.code, data["code"], "code", exclude_id=s.id)
    if "code" in data:
        s.code = data["code"] or None  # "" clears it; two "" codes would break the unique index
    for key in ("name", "township_id", "radius_m"):
        if key in data:
            setattr(s, key, data[key])
    if "boundary" in data:
        s.boundary = boundary_or_none(data["boundary"])
    _apply_point(s, data)
    audit.append(session, actor, "site.update", "site", s.id, _changes(data))
    session.commit()
    return s


def _changes(data: dict[str, Any]) -> dict[str, Any]:
    return {"fields": sorted(data)}
