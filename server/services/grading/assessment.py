"""The annual assessment table: a finalized session's results with each organization's penalties."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.models import (
    WARNING_STATUSES,
    GradingSession,
    Organization,
    PublicNotice,
    User,
    WeakOrgWarning,
)
from server.services.grading.panels import user_names
from server.services.grading.penalties import is_warning_overdue
from server.services.grading.results import deductions_of
from server.services.grading.rules import NOTICE_DEDUCTION_YUAN, conflict, format_score
from server.services.grading.sessions import entries_of

ASSESSMENT_COLUMNS = [
    ("排名", 6),
    ("项目", 30),
    ("党组织", 24),
    ("项目书记", 10),
    ("有效评分专家数", 8),
    ("最终得分", 9),
    ("等次", 8),
    ("后5%", 6),
    ("连续两年后5%扣分", 10),
    ("通报次数", 8),
    ("扣除绩效(元)", 10),
    ("软弱涣散预警", 16),
]


def assessment_rows(session: Session, gs: GradingSession) -> list[list[Any]]:
    """One row per graded project of a finalized session, with its organization's penalties of the year."""
    entries = entries_of(session, gs)
    deductions = deductions_of(session, gs.year)
    org_ids = {e.organization_id for e in entries if e.organization_id}
    notices: dict[int, list[int]] = defaultdict(list)
    warnings: dict[int, WeakOrgWarning] = {}
    if org_ids:
        for n in session.scalars(
            select(PublicNotice).where(PublicNotice.year == gs.year, PublicNotice.organization_id.in_(org_ids))
        ):
            notices[n.organization_id].append(n.deduction_yuan)
        # The latest warning of each organization counts.
        for w in session.scalars(
            select(WeakOrgWarning).where(WeakOrgWarning.organization_id.in_(org_ids)).order_by(WeakOrgWarning.id)
        ):
            warnings[w.organization_id] = w
    secretaries = user_names(session, {e.project.secretary_id for e in entries if e.project.secretary_id})
    orgs = (
        {o.id: o.name for o in session.scalars(select(Organization).where(Organization.id.in_(org_ids)))}
        if org_ids
        else {}
    )
    rows = []
    for e in entries:
        org = e.organization_id
        warning = warnings.get(org) if org else None
        warning_text = ""
        if warning is not None:
            warning_text = WARNING_STATUSES[warning.status]
            if warning.status == "rectifying":
                warning_text += f"(期限 {warning.deadline.isoformat()}"
                warning_text += ",已逾期)" if is_warning_overdue(warning) else ")"
        rows.append(
            [
                e.rank,
                e.project.title,
                orgs.get(org, ""),
                secretaries.get(e.project.secretary_id, ""),
                e.expert_count,
                format_score(e.final_centi),
                e.grade or "不列等次",
                "是" if e.bottom else "",
                deductions[org].points if org in deductions else "",
                len(notices.get(org, [])) if org else "",
                sum(notices.get(org, [])) if org else "",
                warning_text,
            ]
        )
    return rows


def assessment_workbook(session: Session, user: User, gs: GradingSession):
    """The annual assessment table of a finalized session as XLSX (audited like every export)."""
    # Imported here: services.exports.workbook loads the console package, whose pages import this module.
    from server.services.exports.workbook import Sheet, finish_workbook, new_workbook, xlsx_download

    if gs.status != "finalized":
        raise conflict("评分定等后才能导出年度考核表", status=gs.status)
    wb = new_workbook()
    sheet = Sheet(wb, f"{gs.year}年度考核", ASSESSMENT_COLUMNS)
    for row in assessment_rows(session, gs):
        sheet.add(row)
    note = (
        f"最终得分为各专家加权总分的平均分{'(去掉一个最高分和一个最低分)' if gs.drop_extremes else ''};"
        f"通报每次扣除绩效 {NOTICE_DEDUCTION_YUAN} 元;通报次数与扣除绩效按党组织统计。"
    )
    body = finish_workbook(
        session, user, wb, f"{gs.year} 年度书记项目考核表", {"年度": gs.year}, sheet.rows, "export.grading", note
    )
    return xlsx_download(f"{gs.year}年度书记项目考核表", f"assessment-{gs.year}", body)
