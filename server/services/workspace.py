"""The project secretary's workspace: my projects at a glance, and villagers' feedback about them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from server import clock
from server.errors import ApiError
from server.models import (
    FEEDBACK_STATUSES,
    Feedback,
    Project,
    RectificationOrder,
    Site,
    User,
    Village,
)
from server.services import feedback, lifecycle, rectification, reports
from server.services.common import paginate

OPEN_FEEDBACK = ("received", "accepted", "processing")
# What msgSecCheck called risky never reaches the project's secretary, even once released.
NOT_RISKY = (or_(Feedback.moderation_suggest.is_(None), Feedback.moderation_suggest != "risky"),)


def my_projects(session: Session, user: User) -> list[Project]:
    """Projects the user applied for or is secretary of, newest first (drafts included)."""
    stmt = select(Project).where((Project.secretary_id == user.id) | (Project.applicant_id == user.id))
    return list(session.scalars(stmt.order_by(Project.year.desc(), Project.id.desc())))


def application_options(session: Session, user: User) -> dict[str, Any]:
    """What an application form may name: the caller's party organizations and the villages and unit
    sites of their townships."""
    orgs = sorted(user.organizations, key=lambda o: o.id)
    townships = sorted({o.township_id for o in orgs if o.township_id is not None}) or [-1]
    villages = session.scalars(
        select(Village).where(Village.township_id.in_(townships)).order_by(Village.township_id, Village.code)
    )
    sites = session.scalars(select(Site).where(Site.township_id.in_(townships)).order_by(Site.name, Site.id))
    return {
        "organizations": [
            {"id": o.id, "name": o.name, "domain": o.domain, "township_id": o.township_id, "village_id": o.village_id}
            for o in orgs
        ],
        "villages": [{"id": v.id, "name": v.name, "township_id": v.township_id} for v in villages],
        "sites": [{"id": s.id, "name": s.name, "township_id": s.township_id} for s in sites],
    }


def summaries(session: Session, user: User, projects: list[Project]) -> dict[int, dict[str, Any]]:
    """Per project: this month's report, open rectification orders and unanswered feedback."""
    ids = [p.id for p in projects] or [-1]
    today = clock.today()
    orders: dict[int, list[RectificationOrder]] = {}
    for order in session.scalars(
        select(RectificationOrder).where(RectificationOrder.project_id.in_(ids), RectificationOrder.status == "issued")
    ):
        orders.setdefault(order.project_id, []).append(order)
    waiting = dict(
        session.execute(
            select(Feedback.project_id, func.count())
            .where(Feedback.project_id.in_(ids), Feedback.status.in_(OPEN_FEEDBACK), *NOT_RISKY)
            .group_by(Feedback.project_id)
        ).all()
    )
    out = {}
    for p in projects:
        state = reports.report_state(session, p, today)
        open_orders = orders.get(p.id, [])
        out[p.id] = {
            "report": {
                "month": state.current_month,
                "status": state.current_status,
                "due": state.current_due.isoformat() if state.current_due else None,
                "overdue_months": state.overdue_months,
            },
            "rectifications": {
                "open": len(open_orders),
                "overdue": sum(1 for o in open_orders if rectification.is_overdue(o, today)),
                "next_deadline": min((o.deadline for o in open_orders), default=None),
            },
            "feedback_waiting": int(waiting.get(p.id, 0)),
            "actions": lifecycle.allowed_actions(user, p),
        }
        if out[p.id]["rectifications"]["next_deadline"] is not None:
            out[p.id]["rectifications"]["next_deadline"] = out[p.id]["rectifications"]["next_deadline"].isoformat()
    return out


def feedback_about(
    session: Session, user: User, project_id: int | None, page: int, per_page: int
) -> tuple[list[Feedback], int]:
    """Villagers' feedback about the secretary's own projects (not what is still held for review,
    and never what msgSecCheck called risky: that may be about the secretary, for county staff only)."""
    own = [p.id for p in my_projects(session, user) if user.id == p.secretary_id]
    if project_id is not None:
        if project_id not in own:
            raise ApiError("not_found", "找不到该项目", {"id": project_id})
        own = [project_id]
    stmt = (
        select(Feedback)
        .where(Feedback.project_id.in_(own or [-1]), Feedback.status != "held", *NOT_RISKY)
        .order_by(Feedback.id.desc())
    )
    return paginate(session, stmt, page, per_page)


def feedback_json(viewer: User, fb: Feedback, replies, photo_rows, project_titles: dict[int, str]) -> dict[str, Any]:
    """One feedback item as its project's secretary reads it: no identity of anonymous authors, no phone."""
    anonymous = not feedback.author_visible(viewer, fb)
    return {
        "id": fb.id,
        "receipt_no": fb.receipt_no,
        "project": {"id": fb.project_id, "title": project_titles.get(fb.project_id, "")},
        "rating": fb.rating,
        "category": fb.category,
        "text": fb.text,
        "status": fb.status,
        "status_label": FEEDBACK_STATUSES[fb.status],
        "anonymous": anonymous,
        "created_at": fb.created_at.isoformat(),
        "due_at": fb.due_at.isoformat(),
        "replies": [
            {
                "text": r.text,
                "status": r.status,
                "status_label": FEEDBACK_STATUSES[r.status],
                "created_at": r.created_at.isoformat(),
            }
            for r in replies
        ],
        "photo_count": len(photo_rows),
    }
