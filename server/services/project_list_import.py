"""The approved project list (立项名单) from an XLSX or CSV file: each row a project of the year with
its party organization, level, domain, 必选/自选, category, secretary and places.

Rows are read (places.read_rows with this file's columns), checked and applied in one
transaction: all rows or none. A row names its organization by name, its secretary by username
and its places by village codes or one unit-site code. A project already on the list — the same
year, organization and title — is updated, never added twice, so the same file can be imported
again. Imported projects are 已立项 (approved): the department's list is its decision.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import (
    CATEGORIES,
    DOMAINS,
    PROJECT_LEVELS,
    PROJECT_STATUSES,
    SELECTIONS,
    Organization,
    Project,
    Site,
    User,
    Village,
    Visit,
    utcnow,
)
from server.services import audit

HEADER_WORDS = {
    "年度": "year",
    "项目名称": "title",
    "党组织": "organization",
    "党组织名称": "organization",
    "层级": "level",
    "项目层级": "level",
    "领域": "domain",
    "必选/自选": "selection",
    "必选自选": "selection",
    "类别": "category",
    "项目类别": "category",
    "项目书记": "secretary",
    "项目书记用户名": "secretary",
    "村编码": "village_codes",
    "所在村编码": "village_codes",
    "单位地点编码": "site_code",
}
REQUIRED_COLUMNS = ("year", "title", "organization", "level")
# What a department writes in the level column, besides the labels themselves.
LEVEL_WORDS = {
    **{label: key for key, label in PROJECT_LEVELS.items()},
    **{key: key for key in PROJECT_LEVELS},
    "县": "county",
    "镇": "township",
    "乡镇级": "township",
    "乡级": "township",
    "村": "village",
    "县委书记": "county_secretary",
}
# Projects the list may update: on the list already, or under way since. One still in its
# application (or refused, or stopped) is the lifecycle's business, not the list's.
UPDATABLE = ("approved", "in_progress", "accepted")
_CODE_SPLIT = re.compile(r"[\s,，、;；]+")


@dataclass
class ProjectListReport:
    """What an import did, or would do, and the rows it refused (the places import's shape)."""

    created: int = 0
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    # (row, "新增" | "更新", project title) for the preview
    actions: dict[int, str] = field(default_factory=dict)


@dataclass
class _Known:
    """Everything a row is checked against, read once before the rows."""

    organizations: dict[str, list[Organization]]
    secretaries: dict[str, User]
    villages: dict[str, Village]
    sites: dict[str, Site]
    projects: dict[tuple[int, int, str], Project]
    visited: set[int]


def _known(session: Session) -> _Known:
    organizations: dict[str, list[Organization]] = {}
    for org in session.scalars(select(Organization)):
        organizations.setdefault(org.name.strip(), []).append(org)
    secretaries = {
        u.username: u
        for u in session.scalars(select(User).where(User.username.is_not(None)))
        if u.active and u.has_role("secretary")
    }
    return _Known(
        organizations=organizations,
        secretaries=secretaries,
        villages={v.code: v for v in session.scalars(select(Village))},
        sites={s.code: s for s in session.scalars(select(Site).where(Site.code.is_not(None)))},
        projects={
            (p.year, p.organization_id, p.title): p
            for p in session.scalars(select(Project).where(Project.organization_id.is_not(None)))
        },
        visited=set(session.scalars(select(Visit.project_id).distinct())),
    )


def import_project_list(
    session: Session, actor: User, rows: list[dict[str, Any]], *, dry_run: bool = False
) -> ProjectListReport:
    """Create or update (by year, organization and title) the approved projects of the rows; all or none."""
    if not actor.has_role("admin"):
        raise ApiError("forbidden", "只有组织部管理员可以导入立项名单")
    report = ProjectListReport()
    known = _known(session)
    seen: dict[tuple[int, int, str], int] = {}
    touched: list[Project] = []
    for number, row in enumerate(rows, start=2):  # row 1 is the header
        line = row.get("_row", number)
        try:
            project, created = _apply_row(session, row, known, seen, line)
        except ValueError as exc:
            report.errors.append({"row": line, "message": str(exc)})
            continue
        touched.append(project)
        report.actions[line] = "新增" if created else "更新"
        if created:
            report.created += 1
        else:
            report.updated += 1
    if report.errors or dry_run:
        session.rollback()
        return report
    session.flush()
    audit.append(
        session,
        actor,
        "projects.import",
        "projects",
        "-",
        {"created": report.created, "updated": report.updated, "project_ids": sorted(p.id for p in touched)},
    )
    session.commit()
    return report


def _apply_row(
    session: Session, row: dict[str, Any], known: _Known, seen: dict[tuple[int, int, str], int], line: int
) -> tuple[Project, bool]:
    """The row's project, created or updated in the session; ValueError saying what is wrong with it."""
    title = row.get("title", "").strip()
    if not title:
        raise ValueError("项目名称不能为空")
    if len(title) > 200:
        raise ValueError("项目名称最多 200 个字")
    year_text = row.get("year", "").strip()
    if not (year_text.isdigit() and 2000 <= int(year_text) <= 2100):
        raise ValueError(f"年度“{year_text}”应为 2000–2100 之间的年份")
    year = int(year_text)
    org_name = row.get("organization", "").strip()
    orgs = known.organizations.get(org_name, [])
    if not orgs:
        raise ValueError(f"找不到党组织“{org_name}”(请先添加或导入党组织)")
    if len(orgs) > 1:
        raise ValueError(f"有 {len(orgs)} 个党组织都叫“{org_name}”,无法确定是哪一个")
    org = orgs[0]
    level = LEVEL_WORDS.get(row.get("level", "").strip())
    if level is None:
        raise ValueError(f"层级“{row.get('level', '')}”无法识别,应为 县级/镇级/村级/县委书记领办")
    domain = row.get("domain", "").strip() or org.domain
    if domain not in DOMAINS:
        raise ValueError(f"领域“{domain}”无法识别,应为 {'/'.join(DOMAINS)}")
    selection = row.get("selection", "").strip() or "自选"
    if selection not in SELECTIONS:
        raise ValueError(f"必选/自选“{selection}”无法识别")
    category = row.get("category", "").strip() or "常规性"
    if category not in CATEGORIES:
        raise ValueError(f"类别“{category}”无法识别,应为 {'/'.join(CATEGORIES)}")
    username = row.get("secretary", "").strip()
    secretary = known.secretaries.get(username) if username else None
    if username and secretary is None:
        raise ValueError(f"找不到用户名为“{username}”的项目书记账号")
    village_codes = [c for c in _CODE_SPLIT.split(row.get("village_codes", "").strip()) if c]
    site_code = row.get("site_code", "").strip()
    if village_codes and site_code:
        raise ValueError("实施地点只能是村编码或单位地点编码之一")
    if not village_codes and not site_code:
        raise ValueError("请填写村编码或单位地点编码")
    missing = [c for c in village_codes if c not in known.villages]
    if missing:
        raise ValueError(f"找不到村编码“{'、'.join(missing)}”")
    if site_code and site_code not in known.sites:
        raise ValueError(f"找不到单位地点编码“{site_code}”")

    key = (year, org.id, title)
    if key in seen:
        raise ValueError(f"与第 {seen[key]} 行是同一个项目(年度、党组织和项目名称相同)")
    seen[key] = line
    villages = [known.villages[c] for c in dict.fromkeys(village_codes)]
    site = known.sites.get(site_code) if site_code else None
    project = known.projects.get(key)
    created = project is None
    if project is None:
        project = Project(title=title, year=year, organization_id=org.id, status="approved", decided_at=utcnow())
        session.add(project)
    elif project.status not in UPDATABLE:
        raise ValueError(
            f"该项目已在系统中,状态为“{PROJECT_STATUSES[project.status]}”,请在申报审核中办理,不能由名单导入改变"
        )
    elif project.id in known.visited and (
        {v.id for v in villages} != {v.id for v in project.villages} or (site.id if site else None) != project.site_id
    ):
        raise ValueError("该项目已有暗访记录,实施地点不能再修改")
    project.level, project.domain, project.selection, project.category = level, domain, selection, category
    project.secretary_id = secretary.id if secretary else project.secretary_id
    project.villages = villages
    project.site_id = site.id if site else None
    return project, created
