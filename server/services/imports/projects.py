"""The approved project list (立项名单): each row a project of the year with its party organization,
level, domain, 必选/自选, category, secretary and places.

A row names its organization by name, its secretary by username and its places by village codes
or one unit-site code. A project already on the list — the same year, organization and title — is
updated (the preview shows old → new), never added twice, so the same file can be imported again.
Imported projects are 已立项 (approved): the department's list is its decision. Only admins import.
"""

from __future__ import annotations

from dataclasses import dataclass
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
from server.services.imports import Column, Importer, ImportReport, RowError, RowPlan, cell, split_list

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
TITLE_MAX = 200


@dataclass
class ProjectListReport(ImportReport):
    """The 立项名单 import's report: projects created and updated."""

    @property
    def created(self) -> int:
        """Projects the file adds."""
        return self.counts.get("created", 0)

    @property
    def updated(self) -> int:
        """Projects already on the list that the file updates."""
        return self.counts.get("updated", 0)


class ProjectListImporter(Importer):
    """The year's approved projects, matched by year, organization and title."""

    kind = "projects"
    label = "立项名单"
    columns = (
        Column("year", "年度", "必填,如 2026", required=True),
        Column(
            "title",
            "项目名称",
            "必填;年度、党组织和项目名称都相同的视为同一项目,再次导入时更新它。导入的项目状态为“已立项”",
            required=True,
        ),
        Column(
            "organization",
            "党组织",
            "必填,按名称匹配系统中已有的党组织(可先导入党组织)",
            ("党组织名称",),
            required=True,
        ),
        Column("level", "层级", f"必填:{' / '.join(PROJECT_LEVELS.values())}", ("项目层级",), required=True),
        Column("domain", "领域", f"{'、'.join(DOMAINS)} 之一;不填为党组织的领域"),
        Column("selection", "必选/自选", "不填为 自选", ("必选自选",)),
        Column("category", "类别", f"{'、'.join(CATEGORIES)} 之一;不填为 常规性", ("项目类别",)),
        Column("secretary", "项目书记", "项目书记账号的用户名,可不填", ("项目书记用户名",)),
        Column("village_codes", "村编码", "12 位区划代码,多个村用顿号或逗号隔开", ("所在村编码",)),
        Column("site_code", "单位地点编码", "不在村里的项目填单位地点编码;与村编码二选一"),
    )
    template_rows = [
        [
            "2026",
            "“一领办三参与”蜜柚产业项目",
            "江南村党支部",
            "村级",
            "农村",
            "自选",
            "重点性",
            "jiangnan",
            "360821100201",
            "",
        ],
        ["2026", "党建引领四服务一提升", "县财政局机关党委", "县级", "机关", "必选", "常规性", "", "", "GX-001"],
    ]

    def new_report(self) -> ProjectListReport:
        """A report with created and updated counts."""
        return ProjectListReport()

    def authorize(self, actor: User | None) -> None:
        """The list is the department's decision: only its admins import it."""
        if actor is None or not actor.has_role("admin"):
            raise ApiError("forbidden", "只有组织部管理员可以导入立项名单")

    def prepare(self, session: Session) -> None:
        """Organizations by name, secretaries by username, places by code, listed projects, visited ones."""
        self.organizations: dict[str, list[Organization]] = {}
        for org in session.scalars(select(Organization)):
            self.organizations.setdefault(org.name.strip(), []).append(org)
        self.secretaries = {
            u.username: u
            for u in session.scalars(select(User).where(User.username.is_not(None)))
            if u.active and u.has_role("secretary")
        }
        self.villages = {v.code: v for v in session.scalars(select(Village))}
        self.sites = {s.code: s for s in session.scalars(select(Site).where(Site.code.is_not(None)))}
        self.projects = {
            (p.year, p.organization_id, p.title): p
            for p in session.scalars(select(Project).where(Project.organization_id.is_not(None)))
        }
        self.visited = set(session.scalars(select(Visit.project_id).distinct()))
        self.seen: dict[tuple[int, int, str], int] = {}

    def summary(self, report: ImportReport) -> str:
        """New and updated projects."""
        return f"新增项目 {report.counts.get('created', 0)} 个,更新 {report.counts.get('updated', 0)} 个"

    def apply(self, session: Session, actor: User | None, row: dict[str, Any], plan: RowPlan) -> None:
        """Create or update one approved project."""
        title = cell(row, "title")
        if not title:
            raise RowError("项目名称不能为空", "项目名称")
        if len(title) > TITLE_MAX:
            raise RowError(f"项目名称最多 {TITLE_MAX} 个字", "项目名称")
        year_text = cell(row, "year")
        if not (year_text.isdigit() and 2000 <= int(year_text) <= 2100):
            raise RowError(f"年度“{year_text}”应为 2000–2100 之间的年份", "年度")
        year = int(year_text)
        org = self._organization(cell(row, "organization"))
        level = LEVEL_WORDS.get(cell(row, "level"))
        if level is None:
            raise RowError(f"层级“{cell(row, 'level')}”无法识别,应为 县级/镇级/村级/县委书记领办", "层级")
        domain = cell(row, "domain") or org.domain
        if domain not in DOMAINS:
            raise RowError(f"领域“{domain}”无法识别,应为 {'/'.join(DOMAINS)}", "领域")
        selection = cell(row, "selection") or "自选"
        if selection not in SELECTIONS:
            raise RowError(f"必选/自选“{selection}”无法识别", "必选/自选")
        category = cell(row, "category") or "常规性"
        if category not in CATEGORIES:
            raise RowError(f"类别“{category}”无法识别,应为 {'/'.join(CATEGORIES)}", "类别")
        username = cell(row, "secretary")
        secretary = self.secretaries.get(username) if username else None
        if username and secretary is None:
            raise RowError(f"找不到用户名为“{username}”的项目书记账号", "项目书记")
        villages, site = self._places(split_list(cell(row, "village_codes")), cell(row, "site_code"))

        key = (year, org.id, title)
        if key in self.seen:
            raise RowError(f"与第 {self.seen[key]} 行是同一个项目(年度、党组织和项目名称相同)")
        self.seen[key] = plan.row
        project = self.projects.get(key)
        if project is None:
            project = Project(
                title=title,
                year=year,
                organization_id=org.id,
                status="approved",
                decided_at=utcnow(),
                level=level,
                domain=domain,
                selection=selection,
                category=category,
                secretary_id=secretary.id if secretary else None,
                villages=villages,
                site_id=site.id if site else None,
            )
            session.add(project)
            session.flush()
            plan.action, plan.counted = "新增项目", "created"
            audit.append(session, actor, "project.create", "project", project.id, {"title": title, "import": True})
            return
        if project.status not in UPDATABLE:
            raise RowError(
                f"该项目已在系统中,状态为“{PROJECT_STATUSES[project.status]}”,请在申报审核中办理,不能由名单导入改变"
            )
        if project.id in self.visited and (
            {v.id for v in villages} != {v.id for v in project.villages}
            or (site.id if site else None) != project.site_id
        ):
            raise RowError("该项目已有暗访记录,实施地点不能再修改")
        plan.action, plan.counted = "更新项目", "updated"
        self._update(
            session,
            project,
            plan,
            {
                "level": level,
                "domain": domain,
                "selection": selection,
                "category": category,
                "secretary": secretary,
                "villages": villages,
                "site": site,
            },
        )
        if plan.changes:
            session.flush()
            audit.append(
                session,
                actor,
                "project.update",
                "project",
                project.id,
                {"fields": [c[0] for c in plan.changes], "import": True},
            )
        else:
            plan.action = "无变化"

    def _organization(self, name: str) -> Organization:
        orgs = self.organizations.get(name, [])
        if not orgs:
            raise RowError(f"找不到党组织“{name}”(请先添加或导入党组织)", "党组织")
        if len(orgs) > 1:
            raise RowError(f"有 {len(orgs)} 个党组织都叫“{name}”,无法确定是哪一个", "党组织")
        return orgs[0]

    def _places(self, village_codes: list[str], site_code: str) -> tuple[list[Village], Site | None]:
        if village_codes and site_code:
            raise RowError("实施地点只能是村编码或单位地点编码之一", "村编码")
        if not village_codes and not site_code:
            raise RowError("请填写村编码或单位地点编码", "村编码")
        missing = [c for c in village_codes if c not in self.villages]
        if missing:
            raise RowError(f"找不到村编码“{'、'.join(missing)}”", "村编码")
        if site_code and site_code not in self.sites:
            raise RowError(f"找不到单位地点编码“{site_code}”", "单位地点编码")
        return [self.villages[c] for c in village_codes], self.sites.get(site_code) if site_code else None

    @staticmethod
    def _update(session: Session, project: Project, plan: RowPlan, new: dict[str, Any]) -> None:
        """Apply the row to a project on the list, noting old → new for each field it changes."""
        if project.level != new["level"]:
            plan.changes.append(("层级", PROJECT_LEVELS.get(project.level, "未定级"), PROJECT_LEVELS[new["level"]]))
            project.level = new["level"]
        for label, attr in (("领域", "domain"), ("必选/自选", "selection"), ("类别", "category")):
            if getattr(project, attr) != new[attr]:
                plan.changes.append((label, getattr(project, attr) or "(空)", new[attr]))
                setattr(project, attr, new[attr])
        secretary = new["secretary"]
        if secretary is not None and project.secretary_id != secretary.id:
            old = session.get(User, project.secretary_id) if project.secretary_id else None
            plan.changes.append(("项目书记", _account(old), _account(secretary)))
            project.secretary_id = secretary.id
        villages, site = new["villages"], new["site"]
        if {v.id for v in villages} != {v.id for v in project.villages}:
            plan.changes.append(("村", _names(project.villages), _names(villages)))
            project.villages = villages
        if project.site_id != (site.id if site else None):
            plan.changes.append(("单位地点", _names([project.site]), _names([site])))
            project.site_id = site.id if site else None


def _names(places: list[Village] | list[Site | None]) -> str:
    return "、".join(p.name for p in places if p is not None) or "(无)"


def _account(user: User | None) -> str:
    return f"{user.name}({user.username})" if user else "(无)"
