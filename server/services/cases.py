"""案例集: the selected best projects as one Word document — story, figures and best photos.

Only running or accepted projects the staff member may read can be selected. Photos are the
watermarked previews (the derivative that carries the verification code) of ready, unflagged
photos, read through the Storage interface: a document never depends on a URL that expires.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from PIL import Image
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server import clock
from server.errors import ApiError
from server.models import (
    ACCEPTANCE_RATINGS,
    DOMAINS,
    FEEDBACK_RATINGS,
    PROJECT_STATUSES,
    Feedback,
    Photo,
    Project,
    ProjectAcceptance,
    ProjectReport,
    RectificationOrder,
    User,
    Visit,
)
from server.services import audit, lifecycle, review
from server.services.dashboard import UNRELEASED_FEEDBACK
from server.services.documents.official import department_name
from server.services.photos import storage
from server.services.reports import OWNER_KIND as REPORT_PHOTO
from server.storage import ObjectMissing, StorageError

log = logging.getLogger(__name__)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SELECTABLE_STATUSES = ("in_progress", "accepted")
MAX_PROJECTS = 50
MAX_TITLE = 100
DEFAULT_TITLE = "书记项目优秀案例集"
REPORT_EXCERPTS = 3
EXCERPT_CHARS = 300
BEST_PHOTOS = 3
PHOTO_WIDTH = Cm(14)
PORTRAIT_HEIGHT = Cm(13)
BODY_FONT, HEADING_FONT, LATIN_FONT = "宋体", "黑体", "Times New Roman"
SECTIONS = ("背景与问题", "主要做法", "取得成效", "数据一览", "现场照片")
_DIGITS = "零一二三四五六七八九"


# ---- choosing projects ----------------------------------------------------------------------


def parse_filters(args: Any) -> dict[str, Any]:
    """List filters from a query string: year, domain, rating (验收等次), status."""
    out: dict[str, Any] = {}
    year = (args.get("year") or "").strip()
    if year.isdigit():
        out["year"] = int(year)
    for key, allowed in (("domain", DOMAINS), ("rating", ACCEPTANCE_RATINGS), ("status", SELECTABLE_STATUSES)):
        if args.get(key) in allowed:
            out[key] = args[key]
    return out


def _passing_acceptance() -> Any:
    return select(ProjectAcceptance.project_id, ProjectAcceptance.rating).where(ProjectAcceptance.passed.is_(True))


def selectable_projects(session: Session, staff: User, filters: dict[str, Any]) -> list[Project]:
    """Running and accepted projects in the staff member's scope under the filters, newest year first."""
    stmt = lifecycle.visible_projects(staff).where(Project.status.in_(SELECTABLE_STATUSES))
    if "year" in filters:
        stmt = stmt.where(Project.year == filters["year"])
    if "domain" in filters:
        stmt = stmt.where(Project.domain == filters["domain"])
    if "status" in filters:
        stmt = stmt.where(Project.status == filters["status"])
    if "rating" in filters:
        rated = _passing_acceptance().where(ProjectAcceptance.rating == filters["rating"]).subquery()
        stmt = stmt.where(Project.id.in_(select(rated.c.project_id)))
    return list(session.scalars(stmt.order_by(Project.year.desc(), Project.id)).unique())


def years_of(session: Session, staff: User) -> list[int]:
    """The years of selectable projects in scope, newest first (for the year filter)."""
    visible = lifecycle.visible_projects(staff).where(Project.status.in_(SELECTABLE_STATUSES)).subquery()
    return list(session.scalars(select(visible.c.year).distinct().order_by(visible.c.year.desc())))


def ratings_of(session: Session, project_ids: list[int]) -> dict[int, str]:
    """The passing acceptance rating (验收等次) per project id, where there is one."""
    if not project_ids:
        return {}
    rows = session.execute(
        _passing_acceptance().where(ProjectAcceptance.project_id.in_(project_ids)).order_by(ProjectAcceptance.id)
    )
    return dict(rows.all())


# ---- what a chapter says ---------------------------------------------------------------------


@dataclass
class Figures:
    """A project's numbers in the 数据一览 table."""

    reports: int = 0
    visits: int = 0
    visits_submitted: int = 0
    photos: int = 0
    feedback: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FEEDBACK_RATINGS, 0))
    orders_issued: int = 0
    orders_closed: int = 0

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) rows as printed."""
        return [
            ("提交月报(份)", str(self.reports)),
            ("开展暗访(次)", str(self.visits)),
            ("其中已提交暗访(次)", str(self.visits_submitted)),
            ("照片佐证(张)", str(self.photos)),
            *((f"群众反馈·{rating}(条)", str(n)) for rating, n in self.feedback.items()),
            ("下发整改通知(份)", str(self.orders_issued)),
            ("其中已销号(份)", str(self.orders_closed)),
        ]


def figures_of(session: Session, project_ids: list[int]) -> dict[int, Figures]:
    """Figures per project id, counted with one grouped query per table."""
    out = {pid: Figures() for pid in project_ids}
    ids = project_ids or [-1]
    for pid, n in session.execute(
        select(ProjectReport.project_id, func.count(ProjectReport.id))
        .where(ProjectReport.project_id.in_(ids), ProjectReport.status == "submitted")
        .group_by(ProjectReport.project_id)
    ):
        out[pid].reports = n
    for pid, status, n in session.execute(
        select(Visit.project_id, Visit.status, func.count(Visit.id))
        .where(Visit.project_id.in_(ids))
        .group_by(Visit.project_id, Visit.status)
    ):
        out[pid].visits += n
        if status == "submitted":
            out[pid].visits_submitted += n
    # Evidence is what was handed in: photos of submitted visits and of submitted monthly reports.
    visit_photos = (
        select(Visit.project_id, func.count(Photo.id))
        .join(Visit, Photo.visit_id == Visit.id)
        .where(
            Visit.project_id.in_(ids), Visit.status == "submitted", Photo.owner_kind == "visit", Photo.status == "ready"
        )
        .group_by(Visit.project_id)
    )
    report_photos = (
        select(ProjectReport.project_id, func.count(Photo.id))
        .join(ProjectReport, (Photo.owner_kind == REPORT_PHOTO) & (Photo.owner_id == ProjectReport.id))
        .where(ProjectReport.project_id.in_(ids), ProjectReport.status == "submitted", Photo.status == "ready")
        .group_by(ProjectReport.project_id)
    )
    for stmt in (visit_photos, report_photos):
        for pid, n in session.execute(stmt):
            out[pid].photos += n
    # Held feedback may be spam: it counts once released, as on the dashboard.
    for pid, rating, n in session.execute(
        select(Feedback.project_id, Feedback.rating, func.count(Feedback.id))
        .where(Feedback.project_id.in_(ids), Feedback.status.not_in(UNRELEASED_FEEDBACK))
        .group_by(Feedback.project_id, Feedback.rating)
    ):
        if rating in out[pid].feedback:
            out[pid].feedback[rating] = n
    for pid, status, n in session.execute(
        select(RectificationOrder.project_id, RectificationOrder.status, func.count(RectificationOrder.id))
        .where(RectificationOrder.project_id.in_(ids))
        .group_by(RectificationOrder.project_id, RectificationOrder.status)
    ):
        out[pid].orders_issued += n
        if status == "closed":
            out[pid].orders_closed += n
    return out


def latest_reports(session: Session, project_id: int, limit: int = REPORT_EXCERPTS) -> list[ProjectReport]:
    """The project's most recent submitted monthly reports, newest first."""
    return list(
        session.scalars(
            select(ProjectReport)
            .where(ProjectReport.project_id == project_id, ProjectReport.status == "submitted")
            .order_by(ProjectReport.month.desc())
            .limit(limit)
        )
    )


@dataclass(frozen=True)
class BestPhoto:
    """A photo chosen for a chapter: its row, where it comes from, and its preview's bytes."""

    photo: Photo
    source: str
    data: bytes


def _local_day(value: datetime | None) -> str:
    return clock.china_time(value, "%Y-%m-%d")


def photo_candidates(session: Session, project_id: int) -> list[tuple[Photo, str]]:
    """Ready, unflagged, unquestioned photos with their source: monthly reports first, then visits, newest first."""
    report_rows = session.execute(
        select(Photo, ProjectReport.month)
        .join(ProjectReport, (Photo.owner_kind == REPORT_PHOTO) & (Photo.owner_id == ProjectReport.id))
        .where(ProjectReport.project_id == project_id, ProjectReport.status == "submitted", Photo.status == "ready")
        .order_by(ProjectReport.month.desc(), Photo.id.desc())
    ).all()
    visit_rows = session.execute(
        select(Photo, Visit.submitted_at)
        .join(Visit, Photo.visit_id == Visit.id)
        .where(
            Visit.project_id == project_id,
            Visit.status == "submitted",
            Photo.owner_kind == "visit",
            Photo.status == "ready",
        )
        .order_by(Visit.submitted_at.desc(), Photo.id.desc())
    ).all()
    # A reviewer's latest word on a visit photo counts: a questioned one is no showcase.
    decisions = review.latest_decisions_of(session, sorted({p.visit_id for p, _ in visit_rows}), "photo")
    out = [(p, f"{month[:4]}年{int(month[5:])}月月报照片") for p, month in report_rows]
    out += [
        (p, f"暗访现场照片({_local_day(submitted)})")
        for p, submitted in visit_rows
        if getattr(decisions.get(("photo", p.id)), "decision", None) != "questioned"
    ]
    return [(p, source) for p, source in out if not p.flags and p.preview_key]


def best_photos(session: Session, project_id: int, limit: int = BEST_PHOTOS) -> list[BestPhoto]:
    """Up to `limit` candidates whose preview could be read; a preview gone missing is skipped."""
    chosen: list[BestPhoto] = []
    for photo, source in photo_candidates(session, project_id):
        if len(chosen) == limit:
            break
        try:
            with storage().open(photo.preview_key) as stream:
                data = stream.read()
        except ObjectMissing:
            log.warning("preview of photo %s is missing; left out of the case collection", photo.id)
            continue
        except StorageError as exc:
            raise ApiError(
                "storage_unavailable", "照片存储暂时不可用,请稍后再导出案例集", {"photo_id": photo.id}
            ) from exc
        chosen.append(BestPhoto(photo, source, data))
    return chosen


# ---- the document ----------------------------------------------------------------------------


def chinese_number(n: int) -> str:
    """1 → 一, 10 → 十, 23 → 二十三 (chapter numbers up to 99)."""
    tens, ones = divmod(n, 10)
    if tens == 0:
        return _DIGITS[ones]
    return f"{_DIGITS[tens] if tens > 1 else ''}十{_DIGITS[ones] if ones else ''}"


def _fonts(rpr: Any, east_asia: str, latin: str = LATIN_FONT) -> None:
    """Set the fonts of a run or style; the East Asian one is what Word and WPS use for Chinese."""
    fonts = rpr.get_or_add_rFonts()
    for theme in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        # A theme font overrides the named one: drop it, or headings render in the theme's face.
        fonts.attrib.pop(qn(theme), None)
    for attr, value in (("w:ascii", latin), ("w:hAnsi", latin), ("w:eastAsia", east_asia), ("w:cs", latin)):
        fonts.set(qn(attr), value)


def _setup(doc: Any) -> None:
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.top_margin = section.bottom_margin = Cm(2.54)
    section.left_margin = section.right_margin = Cm(2.8)
    normal = doc.styles["Normal"]
    _fonts(normal.element.get_or_add_rPr(), BODY_FONT)
    normal.font.size = Pt(12)
    normal.paragraph_format.line_spacing = 1.5
    for name, size in (("Title", 26), ("Heading 1", 18), ("Heading 2", 14), ("Caption", 10.5)):
        style = doc.styles[name]
        _fonts(style.element.get_or_add_rPr(), BODY_FONT if name == "Caption" else HEADING_FONT)
        style.font.size = Pt(size)
        style.font.color.rgb = RGBColor(0, 0, 0)
        style.font.bold = name != "Caption"
    _page_numbers(section)


def _page_numbers(section: Any) -> None:
    """A centred PAGE field in the footer."""
    paragraph = section.footer.paragraphs[0]
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = paragraph.add_run()
    for kind, text in (("begin", None), (None, "PAGE"), ("end", None)):
        if kind:
            element = OxmlElement("w:fldChar")
            element.set(qn("w:fldCharType"), kind)
        else:
            element = OxmlElement("w:instrText")
            element.set(qn("xml:space"), "preserve")
            element.text = text
        run._r.append(element)


def _centered(
    doc: Any, text: str, size: float, *, font: str = BODY_FONT, bold: bool = False, space_before: float = 0
) -> None:
    paragraph = doc.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    paragraph.paragraph_format.space_before = Pt(space_before)
    run = paragraph.add_run(text)
    _fonts(run._r.get_or_add_rPr(), font)
    run.font.size, run.font.bold = Pt(size), bold


def _label_line(doc: Any, label: str, text: str) -> None:
    paragraph = doc.add_paragraph()
    paragraph.add_run(f"{label}:").bold = True
    paragraph.add_run(text)


def _text_block(doc: Any, text: str) -> None:
    for line in filter(None, (line.strip() for line in (text or "").splitlines())):
        doc.add_paragraph(line).paragraph_format.first_line_indent = Pt(24)


def _table(doc: Any, rows: list[tuple[str, str]], widths: tuple[float, float] = (5, 10.4)) -> None:
    table = doc.add_table(rows=0, cols=2)
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = Cm(width)  # the grid: what WPS and LibreOffice lay out by
    for label, value in rows:
        cells = table.add_row().cells
        cells[0].text, cells[1].text = label, value
        cells[0].paragraphs[0].runs[0].bold = True
        for cell, width in zip(cells, widths, strict=True):
            cell.width = Cm(width)
            cell.paragraphs[0].paragraph_format.line_spacing = 1.2


def place_text(project: Project) -> str:
    """Where the project takes place: 'township village' for each village, else the unit's site."""
    if project.villages:
        return "、".join(f"{v.township.name}{v.name}" for v in project.villages)
    return project.site.name if project.site else ""


def _trim(text: str, limit: int = EXCERPT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit].rstrip() + "……"


def _chapter(
    doc: Any,
    number: int,
    project: Project,
    *,
    acceptance: ProjectAcceptance | None,
    reports: list[ProjectReport],
    figures: Figures,
    photos: list[BestPhoto],
) -> None:
    doc.add_heading(f"{chinese_number(number)}、{project.title}", level=1).paragraph_format.page_break_before = True
    responsible = project.responsible or {}
    _table(
        doc,
        [
            ("实施党组织", project.organization.name if project.organization else ""),
            ("实施地点", place_text(project)),
            ("项目年度", f"{project.year}年"),
            ("领域与类型", f"{project.domain} · {project.selection} · {project.category}"),
            ("项目状态", PROJECT_STATUSES[project.status] + (f"(验收等次:{acceptance.rating})" if acceptance else "")),
            *((role, responsible[role]) for role in lifecycle.RESPONSIBLE_ROLES if responsible.get(role)),
        ],
    )
    heading = iter(f"({chinese_number(i)}){name}" for i, name in enumerate(SECTIONS, 1))

    doc.add_heading(next(heading), level=2)
    _text_block(doc, project.problem or "(未填写)")

    doc.add_heading(next(heading), level=2)
    steps = [s for s in project.steps or [] if isinstance(s, dict) and s.get("name")]
    for i, step in enumerate(steps, 1):
        extra = [
            f"完成时限:{step['deadline']}" if step.get("deadline") else "",
            f"责任人:{step['responsible']}" if step.get("responsible") else "",
            f"进展:{step['status']}" if step.get("status") else "",
        ]
        details = ";".join(filter(None, extra))
        doc.add_paragraph(f"{i}. {step['name']}" + (f"({details})" if details else ""))
    if reports:
        doc.add_paragraph().add_run("月报摘录").bold = True
        for r in reports:
            _label_line(doc, f"{r.month[:4]}年{int(r.month[5:])}月", _trim(r.text))

    doc.add_heading(next(heading), level=2)
    if acceptance is not None:
        _label_line(
            doc,
            "验收情况",
            f"{acceptance.accepted_on.year}年{acceptance.accepted_on.month}月"
            f"{acceptance.accepted_on.day}日通过验收,等次为“{acceptance.rating}”",
        )
        if acceptance.outcomes:
            _label_line(doc, "主要成效", acceptance.outcomes)
        _label_line(doc, "验收意见", acceptance.opinion)
    else:
        doc.add_paragraph("项目正在实施,尚未验收。")
    targets = [str(t).strip() for t in project.targets or [] if str(t).strip()]
    if targets:
        doc.add_paragraph().add_run("项目目标").bold = True
        for i, target in enumerate(targets, 1):
            doc.add_paragraph(f"{i}. {target}")

    doc.add_heading(next(heading), level=2)
    _table(doc, figures.rows())

    doc.add_heading(next(heading), level=2)
    if not photos:
        doc.add_paragraph("暂无可用的现场照片。")
    for i, best in enumerate(photos, 1):
        picture = doc.add_paragraph()
        picture.alignment = WD_ALIGN_PARAGRAPH.CENTER
        with Image.open(io.BytesIO(best.data)) as image:
            portrait = image.height > image.width
        # A portrait photo at full width would push its caption to the next page.
        size = {"height": PORTRAIT_HEIGHT} if portrait else {"width": PHOTO_WIDTH}
        picture.add_run().add_picture(io.BytesIO(best.data), **size)
        taken = _local_day(best.photo.taken_at or best.photo.completed_at)
        caption = doc.add_paragraph(
            f"图{i} {best.source}" + (f",拍摄于 {taken}" if taken else "") + f",核验码 {best.photo.verify_code}",
            style="Caption",
        )
        caption.alignment = WD_ALIGN_PARAGRAPH.CENTER


def render(
    title: str,
    department: str,
    projects: list[Project],
    *,
    acceptances: dict[int, ProjectAcceptance],
    reports: dict[int, list[ProjectReport]],
    figures: dict[int, Figures],
    photos: dict[int, list[BestPhoto]],
) -> bytes:
    """The DOCX bytes: cover, contents, then one chapter per project on its own pages."""
    doc = Document()
    _setup(doc)
    today = clock.today()
    doc.core_properties.title = title
    doc.core_properties.author = department or ""
    _centered(doc, title, 26, font=HEADING_FONT, bold=True, space_before=180)
    if department:
        _centered(doc, department, 16, space_before=160)
    _centered(doc, f"{today.year}年{today.month}月", 16, space_before=0 if department else 160)
    doc.add_heading("目录", level=1).paragraph_format.page_break_before = True
    for i, project in enumerate(projects, 1):
        org = project.organization.name if project.organization else ""
        doc.add_paragraph(f"{chinese_number(i)}、{project.title}" + (f"({org})" if org else ""))
    for i, project in enumerate(projects, 1):
        _chapter(
            doc,
            i,
            project,
            acceptance=acceptances.get(project.id),
            reports=reports[project.id],
            figures=figures[project.id],
            photos=photos[project.id],
        )
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


# ---- the export ------------------------------------------------------------------------------


def _chosen(session: Session, staff: User, project_ids: list[int]) -> list[Project]:
    """The selected projects in listing order; 404 for any out of scope, 409 for any not selectable."""
    ids = list(dict.fromkeys(project_ids))
    if not ids:
        raise ApiError("validation_failed", "请至少选择一个项目", {"field": "project_ids"})
    if len(ids) > MAX_PROJECTS:
        raise ApiError("validation_failed", f"一次最多导出 {MAX_PROJECTS} 个项目", {"field": "project_ids"})
    found = {p.id: p for p in session.scalars(lifecycle.visible_projects(staff).where(Project.id.in_(ids))).unique()}
    missing = [i for i in ids if i not in found]
    if missing:
        raise ApiError("not_found", "找不到所选的部分项目", {"ids": missing})
    refused = [found[i] for i in ids if found[i].status not in SELECTABLE_STATUSES]
    if refused:
        names = "、".join(f"《{p.title}》({PROJECT_STATUSES[p.status]})" for p in refused)
        raise ApiError(
            "conflict",
            f"只有实施中或已验收的项目可以编入案例集,以下项目不符合:{names}",
            {"ids": [p.id for p in refused]},
        )
    return sorted(found.values(), key=lambda p: (-p.year, p.id))


def case_collection(session: Session, staff: User, project_ids: list[int], *, title: str) -> bytes:
    """The 案例集 of the selected projects as DOCX bytes; logged with the project ids."""
    title = " ".join((title or "").split()) or DEFAULT_TITLE
    if len(title) > MAX_TITLE:
        raise ApiError("validation_failed", f"标题不能超过 {MAX_TITLE} 字", {"field": "title"})
    projects = _chosen(session, staff, project_ids)
    ids = [p.id for p in projects]
    acceptances: dict[int, ProjectAcceptance] = {}
    for record in session.scalars(
        select(ProjectAcceptance)
        .where(ProjectAcceptance.project_id.in_(ids), ProjectAcceptance.passed.is_(True))
        .order_by(ProjectAcceptance.id)
    ):
        acceptances[record.project_id] = record
    chosen_photos = {pid: best_photos(session, pid) for pid in ids}
    body = render(
        title,
        department_name(),
        projects,
        acceptances=acceptances,
        reports={pid: latest_reports(session, pid) for pid in ids},
        figures=figures_of(session, ids),
        photos=chosen_photos,
    )
    audit.append(
        session,
        staff,
        "project.case_export",
        "export",
        "cases",
        {
            "project_ids": ids,
            "title": title,
            "photo_ids": {str(pid): [b.photo.id for b in chosen] for pid, chosen in chosen_photos.items()},
        },
    )
    session.commit()
    return body
