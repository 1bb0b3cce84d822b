"""Townships, villages and unit sites: create, edit, list, and import from XLSX/CSV."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server import geo
from server.errors import ApiError
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


# ---- import -----------------------------------------------------------------------------

IMPORT_COLUMNS = ("type", "code", "name", "township_code", "lat", "lng", "coord_type", "radius_m")
# The words a file's "type" column may hold, lower-cased, and the kind of place each means.
TYPE_WORDS = {
    "township": "township",
    "乡镇": "township",
    "街道": "township",
    "village": "village",
    "村": "village",
    "行政村": "village",
    "社区": "village",
    "site": "site",
    "单位": "site",
}
_HEADER_WORDS = {
    "类型": "type",
    "编码": "code",
    "代码": "code",
    "区划代码": "code",
    "名称": "name",
    "所属乡镇编码": "township_code",
    "乡镇编码": "township_code",
    "纬度": "lat",
    "经度": "lng",
    "坐标系": "coord_type",
    "半径": "radius_m",
    "半径米": "radius_m",
    "围栏半径": "radius_m",
}


# The columns' sizes: MariaDB refuses longer values, and the whole import would stop.
_NAME_MAX = {"township": 64, "village": 64, "site": 128}


def known_codes(session: Session) -> dict[str, set[str]]:
    """The codes already taken by each kind of place: an import row with one of them updates that place."""
    return {
        "township": set(session.scalars(select(Township.code))),
        "village": set(session.scalars(select(Village.code))),
        "site": set(session.scalars(select(Site.code).where(Site.code.is_not(None)))),
    }


@dataclass
class ImportReport:
    """What an import did, or would do, and the rows it refused."""

    townships: int = 0
    villages: int = 0
    sites: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


def read_rows(
    path: Path, header_words: dict[str, str] | None = None, required: tuple[str, ...] = ("type", "code", "name")
) -> list[dict[str, Any]]:
    """Rows of a CSV (UTF-8, with or without BOM; GBK tolerated) or XLSX file as dicts.

    Each dict also holds "_row", its line in the file, so that errors point where the user looks
    even when blank lines were skipped. `header_words` maps the header's Chinese column names to
    keys (the places file's by default), and `required` names the keys the header must have.
    """
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        rows = [["" if c is None else str(c).strip() for c in r] for r in wb.active.iter_rows(values_only=True)]
        wb.close()
    elif suffix == ".csv":
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("gbk")  # Excel on Chinese Windows saves CSV as GBK
        rows = [[c.strip() for c in r] for r in csv.reader(io.StringIO(text))]
    else:
        raise ApiError("validation_failed", "只支持 .xlsx 或 .csv 文件", {"field": "file"})
    numbered = [(n, r) for n, r in enumerate(rows, start=1) if any(r)]
    if not numbered:
        return []
    words = _HEADER_WORDS if header_words is None else header_words
    header = [words.get(h, h.lower()) for h in numbered[0][1]]
    missing = set(required) - set(header)
    if missing:
        raise ApiError("validation_failed", f"表头缺少列:{'、'.join(sorted(missing))}", {"columns": header})
    return [{**dict(zip(header, r + [""] * (len(header) - len(r)), strict=False)), "_row": n} for n, r in numbered[1:]]


def import_places(
    session: Session, actor: User | None, rows: list[dict[str, Any]], *, dry_run: bool = False
) -> ImportReport:
    """Create or update (by code) townships, villages and sites; all rows or none are written."""
    report = ImportReport()
    townships = {t.code: t for t in session.scalars(select(Township))}
    villages = {v.code: v for v in session.scalars(select(Village))}
    sites = {s.code: s for s in session.scalars(select(Site).where(Site.code.is_not(None)))}
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        try:
            _import_row(session, row, townships, villages, sites, report)
        except (ApiError, geo.InvalidCoordinate, ValueError) as exc:
            report.errors.append({"row": row.get("_row", number), "message": getattr(exc, "message", str(exc))})
    if report.errors or dry_run:
        session.rollback()
        return report
    audit.append(
        session,
        actor,
        "places.import",
        "places",
        "-",
        {"townships": report.townships, "villages": report.villages, "sites": report.sites},
    )
    session.commit()
    return report


def _import_row(session, row, townships, villages, sites, report: ImportReport) -> None:
    kind = TYPE_WORDS.get(row.get("type", "").strip().lower())
    code, name = row.get("code", "").strip(), row.get("name", "").strip()
    if kind is None:
        raise ValueError(f"类型“{row.get('type', '')}”无法识别,应为 乡镇/村/单位")
    if not name:
        raise ValueError("名称不能为空")
    if len(name) > _NAME_MAX[kind]:
        raise ValueError(f"名称最多 {_NAME_MAX[kind]} 个字")
    if kind == "site" and len(code) > 32:
        raise ValueError("单位编码最多 32 个字符")
    if kind in ("township", "village") and not (len(code) == 12 and code.isdigit()):
        raise ValueError(f"区划代码“{code}”应为 12 位数字")
    point = None
    if row.get("lat") or row.get("lng"):
        lat, lng = geo.validate_point(_num(row.get("lat"), "纬度"), _num(row.get("lng"), "经度"))
        point = geo.to_wgs84(lat, lng, (row.get("coord_type") or "gcj02").strip().lower())
    radius = int(_num(row["radius_m"], "半径")) if row.get("radius_m") else None
    if radius is not None and not 20 <= radius <= 20000:
        raise ValueError(f"半径“{row['radius_m']}”应在 20 到 20000 米之间")
    if kind == "township":
        t = townships.get(code) or Township(code=code)
        t.name = name
        if point:
            t.lat, t.lng = point
        if t.id is None:
            session.add(t)
            townships[code] = t
        report.townships += 1
        session.flush()
        return
    parent = townships.get(row.get("township_code", "").strip())
    if kind == "village" and parent is None:
        raise ValueError(f"找不到所属乡镇编码“{row.get('township_code', '')}”(乡镇需先于村列出)")
    if point is None:
        raise ValueError("缺少经纬度")
    if kind == "village":
        v = villages.get(code) or Village(code=code, radius_m=500)
        v.name, v.township, (v.lat, v.lng) = name, parent, point
        if radius:
            v.radius_m = radius
        if v.id is None:
            session.add(v)
            villages[code] = v
        report.villages += 1
    else:
        s = sites.get(code) if code else None
        s = s or Site(code=code or None, radius_m=300)
        s.name, (s.lat, s.lng) = name, point
        if parent is not None:
            s.township_id = parent.id
        if radius:
            s.radius_m = radius
        if s.id is None:
            session.add(s)
            if code:
                sites[code] = s
        report.sites += 1
    session.flush()


def _num(value: str | None, label: str) -> float:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        raise ValueError(f"{label}“{value}”不是数字") from None
    if not math.isfinite(number):  # "nan"/"inf" parse as floats, and int(inf) would crash the import
        raise ValueError(f"{label}“{value}”不是数字")
    return number
