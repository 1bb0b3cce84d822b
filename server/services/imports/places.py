"""The places import: townships, villages and unit sites, created or updated by code.

A row that renames a place, moves it or changes its geofence shows old → new in the preview;
renaming a place that already has visits or a drawn round also warns, since those records will
read the new name (the place is one row, not a copy per visit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from server import geo
from server.models import Assignment, InspectionRound, Project, Site, Township, User, Village, Visit
from server.services.imports import Column, Importer, ImportReport, RowPlan, cell

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
KIND_LABELS = {"township": "乡镇", "village": "村", "site": "单位地点"}
# The columns' sizes: MariaDB refuses longer values, and the whole import would stop.
_NAME_MAX = {"township": 64, "village": 64, "site": 128}
# Rounds whose draw is done: their assignments name the place.
_DRAWN = ("drawn", "closed")


def known_codes(session: Session) -> dict[str, set[str]]:
    """The codes already taken by each kind of place: an import row with one of them updates that place."""
    return {
        "township": set(session.scalars(select(Township.code))),
        "village": set(session.scalars(select(Village.code))),
        "site": set(session.scalars(select(Site.code).where(Site.code.is_not(None)))),
    }


@dataclass
class PlacesReport(ImportReport):
    """The places import's report, with its counts by kind."""

    @property
    def townships(self) -> int:
        """Township rows."""
        return self.counts.get("townships", 0)

    @property
    def villages(self) -> int:
        """Village rows."""
        return self.counts.get("villages", 0)

    @property
    def sites(self) -> int:
        """Unit site rows."""
        return self.counts.get("sites", 0)


class PlacesImporter(Importer):
    """Townships, villages and unit sites by code (GCJ-02 converted to WGS-84)."""

    kind = "places"
    label = "乡镇与村"
    columns = (
        Column("type", "类型", "乡镇 / 村 / 单位(也可写 街道、行政村、社区)", required=True),
        Column(
            "code",
            "编码",
            "乡镇和村为 12 位区划代码;单位可不填。已有编码的记录会被更新",
            ("代码", "区划代码"),
            required=True,
        ),
        Column("name", "名称", "必填", required=True),
        Column("township_code", "所属乡镇编码", "村必填;乡镇需在同一文件中先于村列出或已在系统中", ("乡镇编码",)),
        Column("lat", "纬度", "村和单位必填,乡镇可不填"),
        Column("lng", "经度", "村和单位必填,乡镇可不填"),
        Column("coord_type", "坐标系", "gcj02(默认,腾讯、高德地图上读取的坐标)或 wgs84(GPS 原始坐标)"),
        Column("radius_m", "半径", "地理围栏半径,20–20000 米;村默认 500,单位默认 300", ("半径米", "围栏半径")),
    )
    template_rows = [
        ["乡镇", "360821100000", "永阳镇", "", "27.0161", "114.8803", "gcj02", ""],
        ["村", "360821100201", "江南村", "360821100000", "27.0200", "114.8800", "gcj02", "500"],
        ["单位", "GX-001", "高新区党群服务中心", "360821100000", "27.0300", "114.9200", "wgs84", "300"],
    ]

    def new_report(self) -> PlacesReport:
        """A report with counts by kind."""
        return PlacesReport()

    def prepare(self, session: Session) -> None:
        """Every place with a code, by code."""
        self.townships = {t.code: t for t in session.scalars(select(Township))}
        self.villages = {v.code: v for v in session.scalars(select(Village))}
        self.sites = {s.code: s for s in session.scalars(select(Site).where(Site.code.is_not(None)))}
        # Codes are unique in the whole deployment: another county's is refused by name, not at commit.
        everyone = {"all_counties": True}
        self.elsewhere = (
            set(session.scalars(select(Township.code).execution_options(**everyone))) - set(self.townships),
            set(session.scalars(select(Village.code).execution_options(**everyone))) - set(self.villages),
            set(session.scalars(select(Site.code).where(Site.code.is_not(None)).execution_options(**everyone)))
            - set(self.sites),
        )

    def summary(self, report: ImportReport) -> str:
        """Rows by kind."""
        c = report.counts
        return f"乡镇 {c.get('townships', 0)} 条,村 {c.get('villages', 0)} 条,单位地点 {c.get('sites', 0)} 条"

    def apply(self, session: Session, actor: User | None, row: dict[str, Any], plan: RowPlan) -> None:
        """Create or update one place by its code."""
        kind = TYPE_WORDS.get(cell(row, "type").lower())
        code, name = cell(row, "code"), cell(row, "name")
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
        if code and code in self.elsewhere[("township", "village", "site").index(kind)]:
            raise ValueError(f"编码“{code}”已属于其他县(区)")
        point = None
        if row.get("lat") or row.get("lng"):
            lat, lng = geo.validate_point(_num(row.get("lat"), "纬度"), _num(row.get("lng"), "经度"))
            point = geo.to_wgs84(lat, lng, (row.get("coord_type") or "gcj02").strip().lower())
        radius = int(_num(row["radius_m"], "半径")) if row.get("radius_m") else None
        if radius is not None and not 20 <= radius <= 20000:
            raise ValueError(f"半径“{row['radius_m']}”应在 20 到 20000 米之间")
        if kind == "township":
            t = self.townships.get(code) or Township(code=code)
            self._describe(session, plan, kind, t, name=name, point=point)
            t.name = name
            if point:
                t.lat, t.lng = point
            if t.id is None:
                session.add(t)
                self.townships[code] = t
            plan.counted = "townships"
            session.flush()
            return
        parent = self.townships.get(cell(row, "township_code"))
        if kind == "village" and parent is None:
            raise ValueError(f"找不到所属乡镇编码“{row.get('township_code', '')}”(乡镇需先于村列出)")
        if point is None:
            raise ValueError("缺少经纬度")
        if kind == "village":
            v = self.villages.get(code) or Village(code=code, radius_m=500)
            self._describe(session, plan, kind, v, name=name, point=point, radius=radius, township=parent)
            v.name, v.township, (v.lat, v.lng) = name, parent, point
            if radius:
                v.radius_m = radius
            if v.id is None:
                session.add(v)
                self.villages[code] = v
            plan.counted = "villages"
        else:
            s = self.sites.get(code) if code else None
            s = s or Site(code=code or None, radius_m=300)
            self._describe(session, plan, kind, s, name=name, point=point, radius=radius, township=parent)
            s.name, (s.lat, s.lng) = name, point
            if parent is not None:
                s.township_id = parent.id
            if radius:
                s.radius_m = radius
            if s.id is None:
                session.add(s)
                if code:
                    self.sites[code] = s
            plan.counted = "sites"
        session.flush()

    def _describe(self, session: Session, plan: RowPlan, kind: str, place, **new: Any) -> None:
        """The row's action, its old → new changes, and the warning a renamed place in use deserves."""
        label = KIND_LABELS[kind]
        if place.id is None:
            plan.action = f"新增{label}"
            return
        plan.action = f"更新{label}"
        if place.name != new["name"]:
            plan.changes.append(("名称", place.name, new["name"]))
        township = new.get("township")
        old_township_id = getattr(place, "township_id", None)
        if township is not None and old_township_id not in (None, township.id):
            old = session.get(Township, old_township_id)
            plan.changes.append(("所属乡镇", old.name if old else "", township.name))
        if new.get("point") and place.lat is not None and _moved(place.lat, place.lng, new["point"]):
            plan.changes.append(("位置", f"{place.lat:.6f}, {place.lng:.6f}", "{:.6f}, {:.6f}".format(*new["point"])))
        if new.get("radius") and getattr(place, "radius_m", None) not in (None, new["radius"]):
            plan.changes.append(("半径", f"{place.radius_m} 米", f"{new['radius']} 米"))
        if place.name != new["name"]:
            visits, rounds = _usage(session, kind, place.id)
            if visits or rounds:
                plan.warnings.append(
                    f"{label}“{place.name}”已有 {visits} 条暗访记录、{rounds} 个已抽取的督查批次,"
                    f"改名后这些记录都将显示为“{new['name']}”"
                )


def _moved(lat: float, lng: float, point: tuple[float, float]) -> bool:
    """Whether the point differs by more than rounding (about 0.1 m)."""
    return abs(lat - point[0]) > 1e-6 or abs(lng - point[1]) > 1e-6


def _usage(session: Session, kind: str, place_id: int) -> tuple[int, int]:
    """How many visits, and how many drawn rounds, name this place."""
    if kind == "township":
        villages = select(Village.id).where(Village.township_id == place_id)
        projects = select(Project.id).where(Project.site_id.in_(select(Site.id).where(Site.township_id == place_id)))
        visit_where = Visit.township_id == place_id
        assignment_where = or_(
            Assignment.village_id.in_(villages), Assignment.village_id.is_(None) & Assignment.project_id.in_(projects)
        )
    elif kind == "village":
        visit_where = Visit.village_id == place_id
        assignment_where = Assignment.village_id == place_id
    else:
        projects = select(Project.id).where(Project.site_id == place_id)
        visit_where = Visit.village_id.is_(None) & Visit.project_id.in_(projects)
        assignment_where = Assignment.village_id.is_(None) & Assignment.project_id.in_(projects)
    visits = session.scalar(select(func.count()).select_from(Visit).where(visit_where))
    rounds = session.scalar(
        select(func.count(func.distinct(Assignment.round_id)))
        .join(InspectionRound, InspectionRound.id == Assignment.round_id)
        .where(assignment_where, InspectionRound.status.in_(_DRAWN))
    )
    return visits or 0, rounds or 0


def _num(value: str | None, label: str) -> float:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        raise ValueError(f"{label}“{value}”不是数字") from None
    if not math.isfinite(number):  # "nan"/"inf" parse as floats, and int(inf) would crash the import
        raise ValueError(f"{label}“{value}”不是数字")
    return number
