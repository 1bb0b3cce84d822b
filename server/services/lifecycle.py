"""A project's life: application (申报), 二审三定 review, start, acceptance (验收) — who may see what.

Status machine (every move is a `ProjectReview` row and an audit entry; anything else is a 409):

    draft --submit--> submitted --unit_approve--> unit_reviewed --approve--> approved --start--> in_progress
      ^   <-withdraw--    |                             |        --reject--> rejected             |
      +------return-------+-----------return------------+                                        accept (验收)
                                             approved / in_progress --close--> closed          accepted
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Select, false, or_, select
from sqlalchemy.orm import Session

from server import clock
from server.errors import ApiError
from server.models import (
    ACCEPTANCE_RATINGS,
    OBSERVATION_RATINGS,
    PROJECT_STATUSES,
    Organization,
    Project,
    ProjectAcceptance,
    ProjectObservation,
    ProjectReview,
    Site,
    User,
    Village,
    project_villages,
    utcnow,
)
from server.services import audit, cadres, idempotency
from server.services.common import claim, for_update
from server.services.projects import _place_project, _secretary

RESPONSIBLE_ROLES = ("主管领导", "牵头书记", "联系组工干部", "工作队伍")
APPLICATION_FIELDS = (
    "title",
    "year",
    "domain",
    "selection",
    "category",
    "problem",
    "targets",
    "steps",
    "responsible",
    "organization_id",
)


@dataclass(frozen=True)
class Move:
    """One allowed transition: from which statuses, to which, and who may make it."""

    sources: tuple[str, ...]
    target: str
    actors: tuple[str, ...]  # "applicant", "unit" (the organization's unit_reviewer), "admin", "secretary"
    opinion_required: bool = False


MOVES: dict[str, Move] = {
    "submit": Move(("draft",), "submitted", ("applicant", "admin")),
    "withdraw": Move(("submitted",), "draft", ("applicant",)),
    "unit_approve": Move(("submitted",), "unit_reviewed", ("unit", "admin")),
    "return": Move(("submitted", "unit_reviewed"), "draft", ("unit", "admin"), opinion_required=True),
    "approve": Move(("unit_reviewed",), "approved", ("admin",)),
    "reject": Move(("unit_reviewed",), "rejected", ("admin",), opinion_required=True),
    "start": Move(("approved",), "in_progress", ("secretary", "admin")),
    "close": Move(("approved", "in_progress"), "closed", ("admin",), opinion_required=True),
}
ACTION_LABELS = {
    "submit": "提交申报",
    "withdraw": "撤回申报",
    "unit_approve": "归口单位审核通过",
    "return": "退回修改",
    "approve": "审定立项",
    "reject": "不予立项",
    "start": "开始实施",
    "close": "终止项目",
    "accept": "验收通过",
    "accept_failed": "验收未通过",
}


# ---- who may see which projects ---------------------------------------------------------------


def organization_ids(user: User) -> list[int]:
    """The party organizations the user belongs to (secretary) or reviews for (unit_reviewer).

    A unit reviewer reviews for every organization of their reporting unit, including one filed
    under it after the account was made, plus the organizations linked to the account itself.
    """
    ids = {o.id for o in user.organizations}
    if user.unit is not None and user.has_role("unit_reviewer"):
        ids.update(o.id for o in user.unit.organizations)
    return sorted(ids)


def _township_clause(township_ids: list[int]):
    """Projects placed in these townships: by village, by the unit's site, or by organization."""
    ids = township_ids or [-1]
    by_village = (
        select(project_villages.c.project_id)
        .join(Village, Village.id == project_villages.c.village_id)
        .where(Village.township_id.in_(ids))
    )
    by_site = select(Site.id).where(Site.township_id.in_(ids))
    by_org = select(Organization.id).where(Organization.township_id.in_(ids))
    return or_(Project.id.in_(by_village), Project.site_id.in_(by_site), Project.organization_id.in_(by_org))


def visible_projects(user: User) -> Select:
    """Projects the user may read, applications included.

    Admins and leaders: all. Reviewers: projects in their townships once past the application.
    Unit reviewers: every project of their organizations except unsent drafts of others.
    Secretaries: projects they applied for or are secretary of.
    """
    stmt = select(Project)
    if user.has_role("admin", "leader"):
        return stmt
    clauses = []
    if user.has_role("reviewer"):
        clauses.append(
            _township_clause([t.id for t in user.townships])
            & Project.status.notin_(("draft", "submitted", "unit_reviewed", "rejected"))
        )
    if user.has_role("unit_reviewer"):
        clauses.append(
            Project.organization_id.in_(organization_ids(user) or [-1])
            & ((Project.status != "draft") | (Project.applicant_id == user.id))
        )
    if user.has_role("secretary"):
        clauses.append((Project.secretary_id == user.id) | (Project.applicant_id == user.id))
    return stmt.where(or_(*clauses) if clauses else false())


def project_for(session: Session, user: User, project_id: int, *, lock: bool = False) -> Project:
    """A project the user may read, or a 404 (existence is not revealed)."""
    stmt = visible_projects(user).where(Project.id == project_id)
    if lock:
        claim(session, "project", project_id)
        stmt = for_update(stmt)
    project = session.scalars(stmt).unique().first()
    if project is None:
        raise ApiError("not_found", "找不到该项目", {"id": project_id})
    return project


def _roles_for(user: User, project: Project) -> set[str]:
    """The parts the user plays on this project, as named in `Move.actors`."""
    parts = set()
    if user.has_role("admin"):
        parts.add("admin")
    if project.applicant_id == user.id:
        parts.add("applicant")
    # The secretary in charge, not whoever once applied: a reassigned project leaves its applicant.
    if user.has_role("secretary") and user.id == project.secretary_id:
        parts.add("secretary")
    if user.has_role("unit_reviewer") and project.organization_id in organization_ids(user):
        parts.add("unit")
    return parts


def allowed_actions(user: User, project: Project) -> list[str]:
    """The transitions this user may make now (for buttons in the console and the mini-program)."""
    parts = _roles_for(user, project)
    return [name for name, move in MOVES.items() if project.status in move.sources and parts & set(move.actors)]


def review_queue(session: Session, user: User) -> list[Project]:
    """Applications waiting for this user: unit review for a reporting unit, the decision for admins."""
    waiting = []
    if user.has_role("unit_reviewer"):
        waiting.append(Project.organization_id.in_(organization_ids(user) or [-1]) & (Project.status == "submitted"))
    if user.has_role("admin"):
        waiting.append(Project.status.in_(("submitted", "unit_reviewed")))
    if not waiting:
        return []
    return list(session.scalars(select(Project).where(or_(*waiting)).order_by(Project.submitted_at, Project.id)))


# ---- applications -----------------------------------------------------------------------------


def _check_organization(user: User, org_id: int | None, session: Session) -> None:
    if org_id is None:
        return
    if session.get(Organization, org_id) is None:
        raise ApiError("not_found", "找不到该党组织", {"field": "organization_id", "id": org_id})
    if not user.has_role("admin") and org_id not in organization_ids(user):
        raise ApiError("validation_failed", "只能以本人所在党组织的名义申报", {"field": "organization_id"})


def _check_place(session: Session, user: User, data: dict[str, Any]) -> None:
    """A secretary places a project only in the townships of their own organizations."""
    if user.has_role("admin"):
        return
    townships = {o.township_id for o in user.organizations if o.township_id is not None}
    if not townships:
        return
    if data.get("village_ids"):
        outside = [
            v.id
            for v in session.scalars(select(Village).where(Village.id.in_(data["village_ids"])))
            if v.township_id not in townships
        ]
        if outside:
            raise ApiError(
                "validation_failed", "只能选择本党组织所在乡镇的村", {"field": "village_ids", "village_ids": outside}
            )
    site_id = (data.get("site") or {}).get("id")
    if site_id is not None:
        site = session.get(Site, site_id)
        if site is not None and site.township_id not in townships:
            raise ApiError("validation_failed", "只能选择本党组织所在乡镇的单位地点", {"field": "site"})


def _apply_fields(session: Session, user: User, project: Project, data: dict[str, Any]) -> None:
    _check_organization(user, data.get("organization_id"), session)
    for key in APPLICATION_FIELDS:
        if key in data:
            setattr(project, key, data[key])
    if "responsible" in data:
        project.responsible = {role: str(data["responsible"].get(role, "")).strip() for role in RESPONSIBLE_ROLES}
        # A liaison the department already linked to an account keeps its name over the form's text.
        cadres.apply_liaison(session, project, {})
    if "village_ids" in data or "site" in data:
        _check_place(session, user, data)
        _place_project(session, user, project, data)


def create_application(session: Session, user: User, body: dict[str, Any]) -> tuple[Project, bool]:
    """A new application (申报表) saved as a draft; once per client_id."""

    def create() -> Project:
        project = Project(
            title=body["title"].strip(),
            year=body["year"],
            status="draft",
            applicant_id=user.id,
            secretary_id=_secretary(session, user.id) if user.has_role("secretary") else None,
            steps=[],
            targets=[],
            responsible={},
        )
        session.add(project)
        _apply_fields(session, user, project, {k: v for k, v in body.items() if k not in ("client_id", "sent_at")})
        session.flush()
        audit.append(session, user, "project.apply", "project", project.id, {"title": project.title})
        return project

    return idempotency.run(
        session,
        user=user,
        kind="project.apply",
        target="project",
        body=body,
        create=create,
        load=lambda i: session.get(Project, i),
    )


def update_application(session: Session, user: User, project_id: int, data: dict[str, Any]) -> Project:
    """Edit an application while it is a draft (its applicant, or an admin)."""
    project = project_for(session, user, project_id, lock=True)
    if project.applicant_id != user.id and not user.has_role("admin"):
        raise ApiError("forbidden", "只有申报人可以修改申报表")
    if project.status != "draft":
        raise ApiError(
            "illegal_transition", f"项目{PROJECT_STATUSES[project.status]},申报表不能再修改", {"status": project.status}
        )
    _apply_fields(session, user, project, data)
    audit.append(session, user, "project.edit_application", "project", project.id, {"fields": sorted(data)})
    session.commit()
    return project


def missing_for_submit(project: Project) -> list[dict[str, str]]:
    """What an application still lacks before it can be submitted, as (field, message) pairs."""
    missing = []
    if not (project.title or "").strip():
        missing.append({"field": "title", "message": "请填写项目名称"})
    if project.organization_id is None:
        missing.append({"field": "organization_id", "message": "请选择申报的党组织"})
    if not (project.problem or "").strip():
        missing.append({"field": "problem", "message": "请说明项目要解决的问题"})
    if not [t for t in project.targets or [] if str(t).strip()]:
        missing.append({"field": "targets", "message": "请至少填写一项目标"})
    steps = [s for s in project.steps or [] if isinstance(s, dict) and s.get("name")]
    if not steps:
        missing.append({"field": "steps", "message": "请至少填写一个实施步骤"})
    elif any(not s.get("deadline") for s in steps):
        missing.append({"field": "steps", "message": "每个实施步骤都要有完成时限"})
    responsible = project.responsible or {}
    lacking = [role for role in RESPONSIBLE_ROLES if not str(responsible.get(role, "")).strip()]
    if lacking:
        missing.append({"field": "responsible", "message": "请填写" + "、".join(lacking)})
    if not project.villages and project.site_id is None:
        missing.append({"field": "village_ids", "message": "请选择项目实施的村或单位地点"})
    return missing


# ---- transitions ------------------------------------------------------------------------------


def _record(
    session: Session, user: User, project: Project, action: str, target: str, opinion: str, score: int | None = None
) -> ProjectReview:
    review = ProjectReview(
        project_id=project.id,
        action=action,
        from_status=project.status,
        to_status=target,
        actor_id=user.id,
        opinion=opinion,
        score=score,
    )
    session.add(review)
    audit.append(
        session,
        user,
        f"project.{action}",
        "project",
        project.id,
        {"from": project.status, "to": target, "opinion": opinion or None, "score": score},
    )
    project.status = target
    return review


def _move(session: Session, user: User, project_id: int, action: str, body: dict[str, Any]) -> Project:
    move = MOVES.get(action)
    if move is None:
        raise ApiError("validation_failed", "未知的操作", {"field": "action"})
    project = project_for(session, user, project_id, lock=True)
    if project.status not in move.sources:
        raise ApiError(
            "illegal_transition",
            f"项目当前为“{PROJECT_STATUSES[project.status]}”,不能执行“{ACTION_LABELS[action]}”",
            {"status": project.status, "action": action},
        )
    if not _roles_for(user, project) & set(move.actors):
        raise ApiError("forbidden", f"您不能对该项目执行“{ACTION_LABELS[action]}”")
    opinion = (body.get("opinion") or "").strip()
    if move.opinion_required and not opinion:
        raise ApiError("validation_failed", "请填写理由或意见", {"field": "opinion"})
    if action == "submit":
        missing = missing_for_submit(project)
        if missing:
            raise ApiError(
                "application_incomplete",
                "申报表还不完整:" + ";".join(m["message"] for m in missing),
                {"missing": missing},
            )
        project.submitted_at = utcnow()
    now = utcnow()
    if action in ("approve", "reject"):
        project.decided_at = now
    if action == "start":
        project.started_at = now
    _record(session, user, project, action, move.target, opinion, body.get("score") if action == "approve" else None)
    return project


def transition(
    session: Session, user: User, project_id: int, action: str, body: dict[str, Any]
) -> tuple[Project, bool]:
    """Move a project along the status machine; with a client_id a retried request answers the same."""
    if body.get("client_id"):
        return idempotency.run(
            session,
            user=user,
            kind=f"project.{action}",
            target=project_id,
            body=body,
            create=lambda: _move(session, user, project_id, action, body),
            load=lambda i: session.get(Project, i),
        )
    project = _move(session, user, project_id, action, body)
    session.commit()
    return project, True


def reviews_of(session: Session, project_id: int) -> list[ProjectReview]:
    """The project's review history, oldest first."""
    return list(
        session.scalars(select(ProjectReview).where(ProjectReview.project_id == project_id).order_by(ProjectReview.id))
    )


# ---- observation and acceptance ---------------------------------------------------------------


def quarter_of(day: date) -> str:
    """'2026Q4' for a day in October to December 2026."""
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def add_observation(session: Session, staff: User, project_id: int, data: dict[str, Any]) -> ProjectObservation:
    """Record a quarterly observation (观摩) of a running project (admins and reviewers in scope)."""
    project = project_for(session, staff, project_id)
    if not staff.has_role("admin", "reviewer"):
        raise ApiError("forbidden", "只有组织部工作人员可以记录观摩")
    if project.status not in ("approved", "in_progress", "accepted"):
        raise ApiError(
            "illegal_transition", f"项目“{PROJECT_STATUSES[project.status]}”,不能记录观摩", {"status": project.status}
        )
    if data["rating"] not in OBSERVATION_RATINGS:
        raise ApiError("validation_failed", "观摩评价只能是:" + "、".join(OBSERVATION_RATINGS), {"field": "rating"})
    observed_on = data["observed_on"]
    if observed_on > clock.today():
        raise ApiError("validation_failed", "观摩日期不能晚于今天", {"field": "observed_on"})
    obs = ProjectObservation(
        project_id=project.id,
        observed_on=observed_on,
        quarter=quarter_of(observed_on),
        observers=data.get("observers", "").strip(),
        rating=data["rating"],
        notes=data.get("notes", "").strip(),
        author_id=staff.id,
    )
    session.add(obs)
    session.flush()
    audit.append(
        session,
        staff,
        "project.observe",
        "project",
        project.id,
        {"observation_id": obs.id, "quarter": obs.quarter, "rating": obs.rating},
    )
    session.commit()
    return obs


def observations_of(session: Session, project_id: int) -> list[ProjectObservation]:
    """The project's observations, newest first."""
    return list(
        session.scalars(
            select(ProjectObservation)
            .where(ProjectObservation.project_id == project_id)
            .order_by(ProjectObservation.observed_on.desc(), ProjectObservation.id.desc())
        )
    )


def record_acceptance(session: Session, admin: User, project_id: int, data: dict[str, Any]) -> ProjectAcceptance:
    """The acceptance (验收) of a running project; a pass moves it to accepted, a fail leaves it running."""
    project = project_for(session, admin, project_id, lock=True)
    if not admin.has_role("admin"):
        raise ApiError("forbidden", "只有组织部管理员可以组织验收")
    if project.status != "in_progress":
        raise ApiError(
            "illegal_transition", f"项目当前为“{PROJECT_STATUSES[project.status]}”,不能验收", {"status": project.status}
        )
    if data["rating"] not in ACCEPTANCE_RATINGS:
        raise ApiError("validation_failed", "验收等次只能是:" + "、".join(ACCEPTANCE_RATINGS), {"field": "rating"})
    if not data.get("opinion", "").strip():
        raise ApiError("validation_failed", "请填写验收意见", {"field": "opinion"})
    passed = data["rating"] != "不合格"
    record = ProjectAcceptance(
        project_id=project.id,
        accepted_on=data["accepted_on"],
        rating=data["rating"],
        passed=passed,
        members=data.get("members", "").strip(),
        opinion=data["opinion"].strip(),
        outcomes=data.get("outcomes", "").strip(),
        author_id=admin.id,
    )
    session.add(record)
    session.flush()
    if passed:
        project.accepted_at = utcnow()
        _record(session, admin, project, "accept", "accepted", record.opinion)
    else:
        _record(session, admin, project, "accept_failed", "in_progress", record.opinion)
    session.commit()
    return record


def acceptances_of(session: Session, project_id: int) -> list[ProjectAcceptance]:
    """The project's acceptance records, newest first."""
    return list(
        session.scalars(
            select(ProjectAcceptance)
            .where(ProjectAcceptance.project_id == project_id)
            .order_by(ProjectAcceptance.id.desc())
        )
    )
