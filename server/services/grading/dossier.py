"""The dossier an expert scores with: the project's application, its 月报, what unannounced visits
found, photos, and the villagers' feedback in figures.

Only for a project the expert is seated on (`seat_for_expert`: anything else is a 404). Built from
an allow-list like the public record: nothing that names or reaches a villager — no interviews, no
feedback text, contact or photo, no feedback author — and no inspector names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import (
    FEEDBACK_RATINGS,
    PROJECT_LEVELS,
    ChecklistResult,
    Feedback,
    Photo,
    Project,
    ProjectReport,
    User,
    Visit,
    VisitFlag,
)
from server.services import photos, reports
from server.services.grading.panels import seat_for_expert

REPORTS = 6  # the newest submitted reports shown
EXCERPT = 300  # characters of each report
VISITS = 10
PHOTOS = 8  # thumbnails per report or visit
CHECK_LABELS = {"pass": "符合", "fail": "不符合", "na": "不适用"}


@dataclass(frozen=True)
class Thumb:
    """A ready photo's presigned thumbnail and preview."""

    id: int
    thumb_url: str | None
    preview_url: str | None


@dataclass(frozen=True)
class ReportExcerpt:
    """One handed-in 月报, shortened."""

    month: str
    text: str
    shortened: bool
    photos: list[Thumb]


@dataclass(frozen=True)
class VisitFindings:
    """What one submitted visit found: its day, place name, integrity flags and checklist."""

    date: Any
    flags: list[str]
    checklist: list[dict[str, str]]  # item, result label, note
    photos: list[Thumb]


@dataclass(frozen=True)
class Dossier:
    """Everything beside the scoring form."""

    project: Project
    application: dict[str, Any]
    reports: list[ReportExcerpt]
    reports_submitted: int
    visits: list[VisitFindings]
    feedback: dict[str, int]  # rating -> count, plus "合计"


def _thumbs(session: Session, owner_kind: str, owner_id: int) -> list[Thumb]:
    rows = session.scalars(
        select(Photo)
        .where(Photo.owner_kind == owner_kind, Photo.owner_id == owner_id, Photo.status == "ready")
        .order_by(Photo.id)
        .limit(PHOTOS)
    )
    out = []
    for p in rows:
        urls = photos.urls(p)
        out.append(Thumb(p.id, urls["thumb_url"], urls["preview_url"]))
    return out


def _application(project: Project) -> dict[str, Any]:
    """The 申报表 fields, as plain text."""

    def plain(value: Any) -> str:
        if isinstance(value, dict):
            value = value.get("name") or value.get("text")
        return "" if value is None or isinstance(value, dict | list) else str(value)

    steps = []
    for s in project.steps or []:
        s = s if isinstance(s, dict) else {"name": s}
        steps.append({k: plain(s.get(k)) for k in ("name", "deadline", "responsible", "status")})
    return {
        "organization": project.organization.name if project.organization else "",
        "domain": project.domain,
        "selection": project.selection,
        "category": project.category,
        "level": PROJECT_LEVELS.get(project.level or "", "未定级"),
        "problem": project.problem or "",
        "targets": [plain(t) for t in project.targets or []],
        "steps": steps,
        "responsible": {role: plain(name) for role, name in (project.responsible or {}).items()},
    }


def dossier_for_expert(session: Session, expert: User, seat_id: int) -> Dossier:
    """The dossier of the project on the expert's own seat `seat_id`; not_found for any other seat."""
    _, entry, _ = seat_for_expert(session, expert, seat_id)
    project = session.get(Project, entry.project_id)
    submitted = list(
        session.scalars(
            select(ProjectReport)
            .where(ProjectReport.project_id == project.id, ProjectReport.status == "submitted")
            .order_by(ProjectReport.month.desc())
        )
    )
    excerpts = [
        ReportExcerpt(r.month, r.text[:EXCERPT], len(r.text) > EXCERPT, _thumbs(session, reports.OWNER_KIND, r.id))
        for r in submitted[:REPORTS]
    ]
    visits = []
    for v in session.scalars(
        select(Visit)
        .where(Visit.project_id == project.id, Visit.status == "submitted")
        .order_by(Visit.started_at.desc())
        .limit(VISITS)
    ):
        flags = sorted(session.scalars(select(VisitFlag.flag).where(VisitFlag.visit_id == v.id)))
        latest = session.scalars(
            select(ChecklistResult).where(ChecklistResult.visit_id == v.id).order_by(ChecklistResult.id.desc()).limit(1)
        ).first()
        checklist = [
            {
                "item": str(i.get("item", "")),
                "result": CHECK_LABELS.get(i.get("result"), ""),
                "note": str(i.get("note") or ""),
            }
            for i in (latest.items if latest else [])
        ]
        visits.append(VisitFindings(v.submitted_at or v.started_at, flags, checklist, _thumbs(session, "visit", v.id)))
    counts = dict(
        session.execute(
            select(Feedback.rating, func.count())
            .where(Feedback.project_id == project.id, Feedback.status != "held")
            .group_by(Feedback.rating)
        ).all()
    )
    figures = {r: counts.get(r, 0) for r in FEEDBACK_RATINGS}
    figures["合计"] = sum(figures.values())
    return Dossier(project, _application(project), excerpts, len(submitted), visits, figures)
