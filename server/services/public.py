"""The public record of a project (公示) and the notice-board codes that lead villagers to it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server import clock
from server.errors import ApiError
from server.models import (
    FEEDBACK_STATUSES,
    PROJECT_STATUSES,
    PUBLIC_STATUSES,
    Feedback,
    FeedbackReply,
    Photo,
    Project,
    ProjectUpdate,
    Township,
    User,
    Village,
    Visit,
)
from server.services import audit, photos
from server.storage import StorageError

RESPONSIBLE_ROLES = ("主管领导", "牵头书记", "联系组工干部", "工作队伍")
# What a step's free-text status says when the step is finished (console "名称 | 日期 | 负责人 | 状态").
DONE_STEP_WORDS = ("已完成", "完成", "已办结", "办结", "done")
# The stages a villager follows on the public page: 立项 → 实施中 → 已验收.
STAGES = (("approved", "立项"), ("in_progress", "实施中"), ("accepted", "已验收"))
PUBLIC_REPLIES = 20


def public_project(session: Session, project_id: int, *, any_county: bool = False) -> Project:
    """A project whose commitments are public: approved (立项) or later; applications are a 404.

    `any_county`: a county's staff member scanning another county's notice board gives feedback as
    anyone does (without it, the caller's county limits the lookup as everywhere else).
    """
    project = session.get(Project, project_id, execution_options={"all_counties": any_county})
    if project is None or project.status not in PUBLIC_STATUSES:
        raise ApiError("not_found", "找不到该项目", {"id": project_id})
    return project


def public_record(session: Session, project_id: int) -> dict[str, Any]:
    """What anyone may read of a project: commitments, responsible people, progress, feedback counts.

    Built field by field from an allow-list: nothing about inspections, inspectors, flags or
    villagers' identities can slip in.
    """
    project = public_project(session, project_id)
    places = []
    for v in project.villages:
        township = session.get(Township, v.township_id)
        places.append({"kind": "village", "name": v.name, "township": township.name if township else ""})
    if project.site is not None:
        places.append({"kind": "site", "name": project.site.name, "township": ""})
    updates = list_updates(session, project.id, limit=50)
    counts = dict(
        session.execute(
            select(Feedback.rating, func.count())
            .where(Feedback.project_id == project.id, Feedback.status != "held")
            .group_by(Feedback.rating)
        ).all()
    )
    responsible = dict(project.responsible or {})
    if project.liaison_cadre_id is not None:
        # The linked account's current name, and nothing else of it (services/cadres.py).
        cadre = session.get(User, project.liaison_cadre_id)
        responsible["联系组工干部"] = cadre.name if cadre else ""
    return {
        "id": project.id,
        "title": project.title,
        "year": project.year,
        "domain": project.domain,
        "status": project.status,
        "status_label": PROJECT_STATUSES[project.status],
        "accepting_feedback": project.status != "closed",
        # The feedback page offers the album only when the department allows it (camera by default).
        "allow_album": project.allow_album,
        "organization": project.organization.name if project.organization else None,
        "places": places,
        "steps": [_public_step(s) for s in project.steps or []],
        "targets": [_text(t) for t in project.targets or []],
        "responsible": {role: _text(responsible.get(role)) for role in RESPONSIBLE_ROLES},
        "updates": [{"text": u.text, "date": clock.local_date(u.created_at).isoformat()} for u in updates],
        "feedback_counts": {r: counts.get(r, 0) for r in ("满意", "基本满意", "不满意")},
        "progress": step_progress(project),
        "stages": [
            {"status": code, "label": label, "reached": _reached(project.status, code)} for code, label in STAGES
        ],
        "public_replies": public_replies(session, project.id),
    }


def _reached(status: str, stage: str) -> bool:
    order = [code for code, _ in STAGES]
    return status in order and order.index(status) >= order.index(stage)


def step_progress(project: Project) -> dict[str, Any]:
    """Steps done of all, and the current step (the first not done); an accepted project has done them all."""
    steps = [_public_step(s) for s in project.steps or []]
    done = [project.status == "accepted" or s["status"].strip().lower() in DONE_STEP_WORDS for s in steps]
    current = next((s for s, finished in zip(steps, done, strict=True) if not finished), None)
    return {
        "done": sum(done),
        "total": len(steps),
        "current": {"name": current["name"], "deadline": current["deadline"]} if current else None,
    }


def public_replies(session: Session, project_id: int) -> list[dict[str, str]]:
    """The department's answers marked public (公开答复), newest first: the answer, its date, the
    feedback's category; never the villager, their words or their photos."""
    rows = session.execute(
        select(FeedbackReply.text, FeedbackReply.status, FeedbackReply.created_at, Feedback.category)
        .join(Feedback, Feedback.id == FeedbackReply.feedback_id)
        .where(
            Feedback.project_id == project_id,
            Feedback.status != "held",
            FeedbackReply.public.is_(True),
            FeedbackReply.text != "",
        )
        .order_by(FeedbackReply.id.desc())
        .limit(PUBLIC_REPLIES)
    ).all()
    return [
        {
            "text": text,
            "status_label": FEEDBACK_STATUSES[status],
            "category": category or "",
            "date": clock.local_date(created_at).isoformat(),
        }
        for text, status, created_at, category in rows
    ]


def _public_step(step: Any) -> dict[str, str]:
    if isinstance(step, dict):
        return {k: _text(step.get(k)) for k in ("name", "deadline", "responsible", "status")}
    return {"name": _text(step), "deadline": "", "responsible": "", "status": ""}


def _text(value: Any) -> str:
    """A free-form value staff entered, as plain text: of an object only its name or text.

    The admin API takes any JSON here; a {"name": …, "phone": …} must not publish the phone.
    """
    if isinstance(value, dict):
        value = value.get("name") or value.get("text")
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def list_updates(session: Session, project_id: int, *, limit: int) -> list[ProjectUpdate]:
    """A project's newest progress updates, newest first."""
    return list(
        session.scalars(
            select(ProjectUpdate)
            .where(ProjectUpdate.project_id == project_id)
            .order_by(ProjectUpdate.id.desc())
            .limit(limit)
        )
    )


def add_update(session: Session, actor: User, project_id: int, text: str) -> ProjectUpdate:
    """Publish a progress update on the project's public record."""
    project = public_project(session, project_id)
    if not text.strip():
        raise ApiError("validation_failed", "请填写进展内容", {"field": "text"})
    update = ProjectUpdate(project_id=project.id, author_id=actor.id, text=text.strip())
    session.add(update)
    session.flush()
    audit.append(session, actor, "project.update_published", "project", project.id, {"update_id": update.id})
    session.commit()
    return update


# ---- scene tokens: the short signed value inside a notice-board code ---------------------


def _scene_mac(payload: str) -> str:
    key = hashlib.sha256(("scene:" + current_app.config["SECRET_KEY"]).encode()).digest()
    mac = hmac.new(key, payload.encode(), hashlib.sha256).digest()[:6]
    return base64.b32encode(mac).decode().rstrip("=").lower()


def scene_for(project_id: int) -> str:
    """A ≤32-character token naming the project, signed so nobody can mint codes for others."""
    payload = f"p{project_id:x}"
    return f"{payload}.{_scene_mac(payload)}"


def resolve_scene(scene: str) -> int:
    """The project id in a scene token; 404 for anything forged or malformed."""
    payload, _, mac = scene.partition(".")
    # compare_digest raises TypeError on non-ASCII text: compare bytes.
    if not payload.startswith("p") or not hmac.compare_digest(mac.encode(), _scene_mac(payload).encode()):
        raise ApiError("not_found", "二维码无效或已失效", {"scene": scene[:40]})
    try:
        return int(payload[1:], 16)
    except ValueError:
        raise ApiError("not_found", "二维码无效或已失效") from None


# ---- photo verification (验真) -------------------------------------------------------------


def photo_by_code(session: Session, code: str) -> dict[str, Any] | None:
    """What the verification page may show of a photo: server time, place, project, and whether the
    sealed original, re-hashed now, still has its recorded hash (check: intact | altered | missing |
    unavailable when storage is down); nothing else."""
    normalized = "".join(ch for ch in code.upper() if ch.isalnum())
    if len(normalized) != 10:
        return None
    photo = session.scalar(select(Photo).where(Photo.verify_code == normalized, Photo.status == "ready"))
    if photo is None:
        return None
    place, project_title = "", ""
    if photo.owner_kind == "visit":
        visit = session.get(Visit, photo.owner_id)
        project_title = visit.assignment.project.title
        village = session.get(Village, visit.village_id) if visit.village_id else None
        township = session.get(Township, visit.township_id) if visit.township_id else None
        site = visit.assignment.project.site
        place = " ".join(
            x
            for x in (township.name if township else "", village.name if village else (site.name if site else ""))
            if x
        )
    elif photo.owner_kind == "feedback":
        fb = session.get(Feedback, photo.owner_id)
        project_title = session.get(Project, fb.project_id).title if fb else ""
    when = clock.china_time(photo.completed_at)
    try:
        check = photos.recheck(session, photo)
        session.commit()
    except StorageError:
        session.rollback()
        check = "unavailable"
    return {
        "code": photo.verify_code,
        "server_time": when,
        "place": place,
        "project": project_title,
        "sha256": photo.sha256,
        "upload_sha256": photo.upload_sha256,
        "preview_sha256": photo.preview_sha256,
        "check": check,
    }
