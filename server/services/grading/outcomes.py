"""What grades turn into: 年度考核加分 points per organization and 奖补资金 per project.

Each session carries two optional tables set by the department, {grade: number}: the points a
grade adds to the organization's annual Party-building assessment, and the reward money (yuan) a
graded project receives. They may be set at any stage (the policy is often fixed after the
results) and apply to the finalized grades. An organization with several graded projects gets the
points of its best grade (one bonus per organization and year) and the sum of its projects' money.
Projects without a grade (不列等次) get nothing; projects without an organization are listed for
the money but cannot carry points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import GRADES, GradingEntry, GradingSession, Organization, User
from server.services import audit
from server.services.grading.rules import conflict, format_score, invalid
from server.services.grading.sessions import entries_of, locked_session, require_admin

MAX_POINTS = Decimal(100)
MAX_YUAN = 10_000_000


def _points(raw: Any, grade: str) -> float | int | None:
    """Points for `grade`: empty is none; otherwise 0–100 with at most one decimal."""
    text = str(raw if raw is not None else "").strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise invalid(f"{grade}加分“{text}”不是数字", f"points_{grade}") from None
    if not (0 <= value <= MAX_POINTS) or value.as_tuple().exponent < -1:
        raise invalid(f"{grade}加分应为 0 到 100 的数,最多一位小数", f"points_{grade}")
    return int(value) if value == value.to_integral_value() else float(value)


def _yuan(raw: Any, grade: str) -> int | None:
    """Reward money for `grade` in whole yuan; empty is none."""
    text = str(raw if raw is not None else "").strip().replace(",", "")
    if not text:
        return None
    if not text.isdigit() or int(text) > MAX_YUAN:
        raise invalid(f"{grade}奖补资金应为 0 到 {MAX_YUAN} 的整数(元)", f"amount_{grade}")
    return int(text)


def _table(values: dict[str, Any], parse) -> dict[str, Any] | None:
    """{grade: number} for the grades filled in; None when the table is left empty (not used)."""
    table = {g: v for g in GRADES if (v := parse(values.get(g), g)) is not None}
    return table or None


def set_outcome_tables(session: Session, actor: User, session_id: int, data: dict[str, Any]) -> GradingSession:
    """Set (or clear) a session's points and money per grade; admins only, audited."""
    require_admin(actor)
    gs = locked_session(session, session_id)
    points = _table(data.get("points") or {}, _points)
    amounts = _table(data.get("amounts") or {}, _yuan)
    gs.grade_points, gs.grade_amounts = points, amounts
    audit.append(session, actor, "grading.outcomes", "grading_session", gs.id, {"points": points, "amounts": amounts})
    session.commit()
    return gs


@dataclass
class OrgOutcome:
    """One organization's outcome of a finalized session."""

    organization_id: int | None
    name: str
    grades: list[str] = field(default_factory=list)  # its projects' grades, best first
    points: float | int | None = None  # the points of its best grade
    yuan: int = 0  # the money of all its projects


@dataclass
class ProjectOutcome:
    """One graded project's reward money."""

    entry: GradingEntry
    organization: str
    yuan: int | None


@dataclass
class Outcomes:
    """Per organization and per project, with the totals."""

    organizations: list[OrgOutcome]
    projects: list[ProjectOutcome]

    @property
    def total_yuan(self) -> int:
        """The money handed out in all."""
        return sum(p.yuan or 0 for p in self.projects)


def outcomes(session: Session, gs: GradingSession) -> Outcomes:
    """The points and money the finalized grades of `gs` earn, by the session's tables."""
    if gs.status != "finalized":
        return Outcomes([], [])
    points, amounts = gs.grade_points or {}, gs.grade_amounts or {}
    entries = [e for e in entries_of(session, gs) if e.grade]
    org_ids = {e.organization_id for e in entries if e.organization_id}
    names = (
        dict(session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(org_ids))).all())
        if org_ids
        else {}
    )
    by_org: dict[int, OrgOutcome] = {}
    projects = []
    for e in sorted(entries, key=lambda e: (GRADES.index(e.grade), e.rank or 0)):
        yuan = amounts.get(e.grade)
        projects.append(ProjectOutcome(e, names.get(e.organization_id, ""), yuan))
        if e.organization_id is None:
            continue
        org = by_org.setdefault(e.organization_id, OrgOutcome(e.organization_id, names.get(e.organization_id, "")))
        if not org.grades:
            org.points = points.get(e.grade)  # entries come best grade first
        org.grades.append(e.grade)
        org.yuan += yuan or 0
    orgs = sorted(by_org.values(), key=lambda o: (GRADES.index(o.grades[0]), o.name))
    return Outcomes(orgs, projects)


ORG_COLUMNS = [("党组织", 28), ("项目等次", 20), ("年度考核加分", 12), ("奖补资金(元)", 14)]
PROJECT_COLUMNS = [("排名", 6), ("项目", 32), ("党组织", 26), ("最终得分", 9), ("等次", 8), ("奖补资金(元)", 14)]


def outcomes_workbook(session: Session, user: User, gs: GradingSession):
    """年度考核加分 and 奖补资金 of a finalized session as XLSX (audited like every export)."""
    # Imported here: services.exports.workbook loads the console package, whose pages import this module.
    from server.services.exports.workbook import Sheet, finish_workbook, new_workbook, xlsx_download

    if gs.status != "finalized":
        raise conflict("评分定等后才能导出考核加分与奖补资金", status=gs.status)
    if not gs.grade_points and not gs.grade_amounts:
        raise conflict("请先设置各等次的考核加分或奖补资金", status=gs.status)
    result = outcomes(session, gs)
    wb = new_workbook()
    sheet = Sheet(wb, "年度考核加分", ORG_COLUMNS)
    for o in result.organizations:
        sheet.add([o.name, "、".join(o.grades), o.points if o.points is not None else "", o.yuan])
    rows = sheet.rows
    if gs.grade_amounts:
        sheet = Sheet(wb, "奖补资金", PROJECT_COLUMNS)
        for p in result.projects:
            e = p.entry
            sheet.add([e.rank, e.project.title, p.organization, format_score(e.final_centi), e.grade, p.yuan or 0])
        sheet.add(["", "合计", "", "", "", result.total_yuan])
        rows += sheet.rows
    table = ";".join(
        f"{g}:{(gs.grade_points or {}).get(g, '—')} 分 / {(gs.grade_amounts or {}).get(g, '—')} 元" for g in GRADES
    )
    note = f"各等次加分与奖补资金:{table}。党组织有多个项目时,加分取最好等次,奖补资金按项目合计;不列等次的项目不加分、不奖补。"
    body = finish_workbook(
        session,
        user,
        wb,
        f"{gs.year} 年度书记项目考核加分与奖补资金",
        {"年度": gs.year},
        rows,
        "export.grading_outcomes",
        note,
    )
    return xlsx_download(f"{gs.year}年度考核加分与奖补资金", f"outcomes-{gs.year}", body)
