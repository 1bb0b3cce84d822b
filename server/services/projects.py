"""Projects (书记项目), their party organizations, and where they take place."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import (
    PROJECT_LEVELS,
    Assignment,
    Organization,
    Project,
    ReportingUnit,
    Site,
    Township,
    User,
    Village,
    Visit,
    utcnow,
)
from server.services import audit, cadres, places
from server.services.common import Page, get_or_404, paginate, search

# The orders projects are listed in: creation (the admin API), newest year first (the console's
# list), and by year then title (the console's pickers).
_PROJECT_ORDERS = {
    "id": (Project.id,),
    "newest": (Project.year.desc(), Project.id.desc()),
    "year_title": (Project.year.desc(), Project.title),
}


def list_projects(
    session: Session,
    *,
    year: int | None = None,
    domain: str | None = None,
    level: str | None = None,
    q: str | None = None,
    order: Literal["id", "newest", "year_title"] = "id",
    page: int = 1,
    per_page: int | None = None,
) -> Page[Project]:
    """Projects of a year, domain and level (when given) whose title contains `q`."""
    stmt = select(Project)
    if year:
        stmt = stmt.where(Project.year == year)
    if domain:
        stmt = stmt.where(Project.domain == domain)
    if level:
        stmt = stmt.where(Project.level == level)
    stmt = search(stmt, q, Project.title)
    return paginate(session, stmt.order_by(*_PROJECT_ORDERS[order]), page, per_page)


def get_project(session: Session, project_id: int) -> Project:
    """The project with this id, or ApiError(not_found)."""
    return get_or_404(session, Project, project_id)


def list_organizations(
    session: Session,
    *,
    q: str | None = None,
    order: Literal["id", "name"] = "name",
    page: int = 1,
    per_page: int | None = None,
    unit_id: int | None = None,
    township_ids: list[int] | None = None,
) -> Page[Organization]:
    """Party organizations whose name contains `q` (of one reporting unit, in some townships, when given)."""
    stmt = search(select(Organization), q, Organization.name)
    if unit_id is not None:
        stmt = stmt.where(Organization.unit_id == unit_id)
    if township_ids is not None:
        stmt = stmt.where(Organization.township_id.in_(township_ids or [-1]))
    return paginate(session, stmt.order_by(Organization.name if order == "name" else Organization.id), page, per_page)


@dataclass(frozen=True)
class Place:
    """Where an inspection happens: a village, or a unit's own site."""

    kind: str  # "village" | "site"
    id: int
    name: str
    township_id: int | None
    township_name: str
    lat: float
    lng: float
    radius_m: int
    boundary: dict | None

    @property
    def label(self) -> str:
        """'Township village' as printed on watermarks and lists."""
        return f"{self.township_name} {self.name}".strip()


def place_of(session: Session, assignment: Assignment) -> Place:
    """The place an assignment sends its team to."""
    if assignment.village is not None:
        return _village_place(assignment.village)
    if assignment.project.site is None:
        raise ApiError("conflict", "该项目没有设置地点")
    return _site_place(session, assignment.project.site)


def project_place(session: Session, project: Project) -> Place | None:
    """Where a project's own work is to be seen: its first village, else its unit site."""
    if project.villages:
        return _village_place(project.villages[0])
    if project.site is not None:
        return _site_place(session, project.site)
    return None


def _village_place(v: Village) -> Place:
    return Place("village", v.id, v.name, v.township_id, v.township.name, v.lat, v.lng, v.radius_m, v.boundary)


def _site_place(session: Session, site: Site) -> Place:
    township = session.get(Township, site.township_id) if site.township_id else None
    name = township.name if township else ""
    return Place("site", site.id, site.name, site.township_id, name, site.lat, site.lng, site.radius_m, site.boundary)


def get_organization(session: Session, org_id: int) -> Organization:
    """The party organization with this id, or ApiError(not_found)."""
    return get_or_404(session, Organization, org_id, "党组织")


_ORG_REFERENCES = (("township_id", Township), ("village_id", Village), ("unit_id", ReportingUnit))


def create_organization(session: Session, actor: User, data: dict[str, Any]) -> Organization:
    """Add a party organization."""
    for key, model in _ORG_REFERENCES:
        if data.get(key) is not None:
            get_or_404(session, model, data[key])
    org = Organization(
        name=data["name"],
        domain=data.get("domain", "农村"),
        township_id=data.get("township_id"),
        village_id=data.get("village_id"),
        unit_id=data.get("unit_id"),
    )
    session.add(org)
    session.flush()
    audit.append(session, actor, "organization.create", "organization", org.id, {"name": org.name})
    session.commit()
    return org


def update_organization(session: Session, actor: User, org_id: int, data: dict[str, Any]) -> Organization:
    """Edit a party organization."""
    org = get_or_404(session, Organization, org_id, "党组织")
    for key, model in _ORG_REFERENCES:
        if data.get(key) is not None:
            get_or_404(session, model, data[key])
    for key in ("name", "domain", "township_id", "village_id", "unit_id"):
        if key in data:
            setattr(org, key, data[key])
    audit.append(session, actor, "organization.update", "organization", org.id, {"fields": sorted(data)})
    session.commit()
    return org


def _secretary(session: Session, user_id: int | None) -> int | None:
    """The project's secretary in charge: an active user holding the secretary role."""
    if user_id is None:
        return None
    user = session.get(User, user_id)
    if user is None or not user.active or not user.has_role("secretary"):
        raise ApiError("validation_failed", "所选人员不是有效的项目书记", {"field": "secretary_id"})
    return user.id


def _level(value: Any) -> str | None:
    """A project's level: one of PROJECT_LEVELS, or None (未定级)."""
    if value is not None and value not in PROJECT_LEVELS:
        raise ApiError("validation_failed", "项目层级应为 县级/镇级/村级/县委书记领办 之一", {"field": "level"})
    return value


def _villages(session: Session, ids: list[int]) -> list[Village]:
    found = session.scalars(select(Village).where(Village.id.in_(ids))).all()
    missing = sorted(set(ids) - {v.id for v in found})
    if missing:
        raise ApiError("not_found", "找不到指定的村", {"village_ids": missing})
    return list(found)


def _moves(project: Project, data: dict[str, Any]) -> bool:
    """True when `data` places the project somewhere other than where it is."""
    if "village_ids" in data:
        return project.site_id is not None or set(data["village_ids"]) != {v.id for v in project.villages}
    if "site" in data:
        return bool(project.villages) or data["site"].get("id") != project.site_id
    return False


def _place_project(session: Session, actor: User, project: Project, data: dict[str, Any]) -> None:
    if "village_ids" in data and "site" in data:
        raise ApiError("validation_failed", "项目地点只能是村(village_ids)或单位地点(site)之一", {"field": "site"})
    if (
        project.id is not None
        and _moves(project, data)
        and session.scalar(select(Visit.id).where(Visit.project_id == project.id).limit(1)) is not None
    ):
        raise ApiError(
            "conflict",
            "该项目已有暗访记录,实施地点不能再修改",
            {"field": "village_ids" if "village_ids" in data else "site"},
        )
    if "village_ids" in data:
        if not data["village_ids"]:
            raise ApiError("validation_failed", "至少选择一个村", {"field": "village_ids"})
        project.villages = _villages(session, data["village_ids"])
        project.site_id = None
    elif "site" in data:
        site_data = data["site"]
        if site_data.get("id") is not None:
            project.site_id = get_or_404(session, Site, site_data["id"], "单位地点").id
        else:
            project.site_id = places.create_site(session, actor, site_data, commit=False).id
        project.villages = []


def create_project(session: Session, actor: User, data: dict[str, Any]) -> Project:
    """Add a project placed at villages (village_ids) or at a unit's site (site)."""
    if "village_ids" not in data and "site" not in data:
        raise ApiError("validation_failed", "请指定项目所在的村(village_ids)或单位地点(site)", {"field": "village_ids"})
    if data.get("organization_id") is not None:
        get_or_404(session, Organization, data["organization_id"], "党组织")
    project = Project(
        title=data["title"],
        year=data["year"],
        organization_id=data.get("organization_id"),
        secretary_id=_secretary(session, data.get("secretary_id")),
        domain=data.get("domain", "农村"),
        level=_level(data.get("level")),
        steps=data.get("steps", []),
        targets=data.get("targets", []),
        responsible=data.get("responsible", {}),
        allow_album=data.get("allow_album", False),
        # Registered directly by the department: already under way, so monthly reports start now.
        started_at=utcnow(),
    )
    session.add(project)
    cadres.apply_liaison(session, project, data)
    _place_project(session, actor, project, data)
    session.flush()
    audit.append(
        session,
        actor,
        "project.create",
        "project",
        project.id,
        {"title": project.title, "allow_album": project.allow_album, "level": project.level},
    )
    session.commit()
    return project


def update_project(session: Session, actor: User, project_id: int, data: dict[str, Any]) -> Project:
    """Edit a project; its place may change only while no visit was made for it."""
    project = get_or_404(session, Project, project_id, "项目")
    if data.get("organization_id") is not None:
        get_or_404(session, Organization, data["organization_id"], "党组织")
    if "secretary_id" in data:
        project.secretary_id = _secretary(session, data["secretary_id"])
    if "level" in data:
        project.level = _level(data["level"])
    liaison_text = str((project.responsible or {}).get(cadres.LIAISON) or "")
    # The status moves only through server/services/lifecycle.py, never by editing.
    for key in ("title", "year", "organization_id", "domain", "steps", "targets", "responsible", "allow_album"):
        if key in data:
            setattr(project, key, data[key])
    cadres.apply_liaison(session, project, data, liaison_text)
    _place_project(session, actor, project, data)
    detail: dict[str, Any] = {"fields": sorted(data)}
    if "allow_album" in data:
        # The evidence rule itself changed (or was restated): keep the value it now has.
        detail["allow_album"] = project.allow_album
    audit.append(session, actor, "project.update", "project", project.id, detail)
    session.commit()
    return project
