"""The department's official documents besides the round 通报: 整改通知书 with its 回执, 立项通知, grading 通报.

Each is built with documents.official in the 公文 form, numbered once by documents.numbers (a
second download prints the same 文号 and 成文日期), and every download is in the audit log.
Like the other exports they carry nothing from villagers' interviews.
"""

from __future__ import annotations

import io

from sqlalchemy import select
from sqlalchemy.orm import Session

from server import clock
from server.errors import ApiError
from server.models import (
    GRADES,
    PROJECT_LEVELS,
    PUBLIC_STATUSES,
    GradingEntry,
    GradingSession,
    Organization,
    Project,
    User,
    Visit,
    utcnow,
)
from server.services import audit, grading, rectification, units
from server.services.documents import numbers
from server.services.documents.official import OfficialDocument, document_date, issuer
from server.services.exports.workbook import Download

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
RECEIPT = "整改通知书回执"
ALL_UNITS = ["各乡镇党委", "县直各单位党组织"]


def _download(
    session: Session,
    user: User,
    doc: OfficialDocument,
    name: str,
    fallback: str,
    action: str,
    object_type: str,
    object_id: int,
    details: dict,
) -> Download:
    """The finished document as a download, with its audit entry committed."""
    body = io.BytesIO(doc.save())
    audit.append(session, user, action, object_type, object_id, details)
    session.commit()
    stamp = clock.china_time(utcnow(), "%Y%m%d")
    return Download(f"{name}-{stamp}.docx", f"{fallback}-{stamp}.docx", DOCX, body)


# ---- 整改通知书 and its 回执 ---------------------------------------------------------------------


def rectification_docx(session: Session, user: User, order_id: int) -> Download:
    """The 整改通知书 of an order the user may read, with the 回执 to sign and return."""
    order = rectification.order_for(session, user, order_id)
    project = session.get(Project, order.project_id)
    org = session.get(Organization, order.organization_id) if order.organization_id else None
    addressee = org.name if org else f"《{project.title}》项目党组织"
    number = numbers.number(session, user, "rectification", str(order.id))
    doc = OfficialDocument(
        issuer=issuer(),
        reference=number.reference,
        title=f"关于《{project.title}》限期整改的通知",
        recipients=[addressee],
    )
    visit = session.get(Visit, order.visit_id) if order.visit_id else None
    found = (
        f"{document_date(clock.local_date(visit.submitted_at or visit.started_at))},县委组织部督查组对你单位承担的"
        f"书记项目《{project.title}》开展随机暗访督查,发现以下问题:"
        if visit is not None
        else f"经督查,你单位承担的书记项目《{project.title}》存在以下问题:"
    )
    doc.line(found)
    for i, item in enumerate(order.items or [], 1):
        doc.line(f"{i}.{item}")
    doc.line(
        f"请你单位对照上述问题逐项整改,于{document_date(order.deadline)}前整改到位,并通过书记项目小程序或管理后台"
        "报送整改情况(附整改前后对比照片)。县委组织部将适时回访核查,逾期未整改或整改不到位的,将予以通报。"
    )
    doc.line("请于收到本通知书之日起3个工作日内签收,并将回执报送县委组织部。")
    doc.attachments_note([RECEIPT])
    doc.signature(number.issued_on)
    doc.annex(RECEIPT)
    doc.table(
        ["事项", "内容"],
        [
            ["通知书文号", number.reference],
            ["项目名称", project.title],
            ["承担党组织", addressee],
            ["整改事项", f"{len(order.items or [])} 项(见通知书)"],
            ["整改期限", document_date(order.deadline)],
            ["签收人(签字)", ""],
            ["签收日期", "    年    月    日"],
            ["整改责任人及联系电话", ""],
            ["备注", ""],
        ],
        size=14,
    )
    doc.blank(2)
    doc.right_line("(党组织盖章)")
    doc.print_record(issuer(), number.issued_on)
    return _download(
        session,
        user,
        doc,
        f"整改通知书-{project.title}",
        f"rectification-{order.id}",
        "export.rectification_notice",
        "rectification",
        order.id,
        {"reference": number.reference},
    )


# ---- 立项通知 to a 归口单位 -----------------------------------------------------------------------


def approved_projects(session: Session, unit_id: int, year: int) -> list[tuple[Project, Organization]]:
    """The year's approved (立项 and later) projects of the unit's organizations, by organization and title."""
    rows = session.execute(
        select(Project, Organization)
        .join(Organization, Organization.id == Project.organization_id)
        .where(Organization.unit_id == unit_id, Project.year == year, Project.status.in_(PUBLIC_STATUSES))
        .order_by(Organization.name, Project.title, Project.id)
    )
    return [(p, o) for p, o in rows.all()]


def approval_years(session: Session, unit_id: int) -> list[int]:
    """The years in which the unit's organizations have approved projects, latest first."""
    stmt = (
        select(Project.year)
        .join(Organization, Organization.id == Project.organization_id)
        .where(Organization.unit_id == unit_id, Project.status.in_(PUBLIC_STATUSES))
        .distinct()
        .order_by(Project.year.desc())
    )
    return list(session.scalars(stmt))


def approval_docx(session: Session, user: User, unit_id: int, year: int) -> Download:
    """The 立项通知 to one reporting unit: its organizations' approved projects of the year."""
    unit = units.get_unit(session, unit_id)
    projects = approved_projects(session, unit.id, year)
    if not projects:
        raise ApiError("conflict", f"{unit.name}所属党组织在{year}年度没有已立项的书记项目", {"year": year})
    number = numbers.number(session, user, "approval", f"{unit.id}:{year}")
    doc = OfficialDocument(
        issuer=issuer(),
        reference=number.reference,
        title=f"关于{year}年度书记项目立项的通知",
        recipients=[unit.name],
    )
    orgs = len({o.id for _, o in projects})
    doc.line(
        f"按照“一报二审三定”程序,经党组织申报、归口单位审核、县委组织部审定,你单位所属 {orgs} 个党组织的"
        f" {len(projects)} 个项目确定为{year}年度书记项目,现予立项。名单如下:"
    )
    doc.table(
        ["序号", "党组织", "项目名称", "层级", "类别"],
        [
            [i, o.name, p.title, PROJECT_LEVELS.get(p.level or "", "未定级"), f"{p.selection}·{p.category}"]
            for i, (p, o) in enumerate(projects, 1)
        ],
    )
    doc.heading1("有关要求")
    doc.line(
        "一、各项目要按照“四个一”要求,明确一名联系领导、一名责任书记、一名联系干部和一支工作专班,"
        "将实施步骤、目标、时限和责任人在公示栏和网上公示,接受群众监督。"
    )
    doc.line("二、各项目书记每月按时报送月报;县委组织部每季度开展调度、观摩和实地督导,并随机开展暗访抽查。")
    doc.line("三、请你单位加强指导督促,确保项目按期完成;年底组织专家评审,评审结果纳入年度考核。")
    doc.signature(number.issued_on)
    doc.print_record(issuer(), number.issued_on)
    return _download(
        session,
        user,
        doc,
        f"立项通知-{unit.name}-{year}",
        f"approval-unit-{unit.id}-{year}",
        "export.approval_notice",
        "reporting_unit",
        unit.id,
        {"year": year, "reference": number.reference, "projects": len(projects)},
    )


# ---- the year's grading 通报 ----------------------------------------------------------------------


def grading_docx(session: Session, user: User, session_id: int) -> Download:
    """The 通报 of a finalized grading: grades, the bottom 5% and the two-year deductions."""
    gs: GradingSession = grading.get_session(session, session_id)
    if gs.status != "finalized":
        raise ApiError("conflict", "定等后才能印发评审结果通报", {"status": gs.status})
    entries = list(
        session.scalars(select(GradingEntry).where(GradingEntry.session_id == gs.id).order_by(GradingEntry.rank))
    )
    org_ids = {e.organization_id for e in entries if e.organization_id}
    deductions = grading.deductions_of(session, gs.year)
    org_ids |= set(deductions)
    names = (
        {o.id: o.name for o in session.scalars(select(Organization).where(Organization.id.in_(org_ids)))}
        if org_ids
        else {}
    )
    number = numbers.number(session, user, "grading_notice", str(gs.id))
    doc = OfficialDocument(
        issuer=issuer(),
        reference=number.reference,
        title=f"关于{gs.year}年度书记项目评审结果的通报",
        recipients=ALL_UNITS,
    )
    counts = {g: sum(1 for e in entries if e.grade == g) for g in GRADES}
    ungraded = sum(1 for e in entries if not e.grade)
    doc.line(
        f"根据{gs.year}年度书记项目评审工作安排,县委组织部组织评审专家对 {len(entries)} 个书记项目进行了评审。"
        "经专家评分、集体研究,评出"
        + "、".join(f"{g} {n} 个" for g, n in counts.items())
        + (f",{ungraded} 个项目不列等次" if ungraded else "")
        + "。现将评审结果通报如下。"
    )
    doc.heading1("一、评审结果")
    doc.table(
        ["名次", "等次", "党组织", "项目名称", "得分"],
        [
            [
                e.rank or "",
                e.grade or "不列等次",
                names.get(e.organization_id, ""),
                e.project.title,
                grading.format_score(e.final_centi),
            ]
            for e in entries
        ],
    )
    doc.heading1("二、排名后5%的项目")
    bottom = [e for e in entries if e.bottom]
    for i, e in enumerate(bottom, 1):
        doc.line(f"{i}.{names.get(e.organization_id, '')}《{e.project.title}》")
    if not bottom:
        doc.line("无。")
    doc.line("排名后5%的项目所在党组织要认真查找原因,限期改进;连续两年位于后5%的党组织在年度考核中予以扣分。")
    doc.heading1("三、年度考核扣分")
    for i, d in enumerate(deductions.values(), 1):
        doc.line(f"{i}.{names.get(d.organization_id, '')}:扣 {d.points} 分({d.reason})。")
    if not deductions:
        doc.line("本年度无连续两年位于后5%而扣分的党组织。")
    doc.line("希望受到表扬的党组织再接再厉,各级党组织书记要以项目为抓手,切实解决基层党建难题。")
    doc.signature(number.issued_on)
    doc.print_record(issuer(), number.issued_on)
    return _download(
        session,
        user,
        doc,
        f"评审结果通报-{gs.year}",
        f"grading-{gs.year}-notice",
        "export.grading_notice",
        "grading_session",
        gs.id,
        {"reference": number.reference, "projects": len(entries)},
    )
