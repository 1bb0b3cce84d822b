"""Assignments: a team of inspectors sent to one project at one place."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import (
    Assignment,
    CheckIn,
    InspectionRound,
    Project,
    Site,
    User,
    Village,
    Visit,
    assignment_members,
    utcnow,
)
from server.services import audit
from server.services.common import Page, get_or_404, paginate
from server.services.projects import place_of

# Who may read the plan (teams, due dates, drawn check items) of work that is not done yet.
PLAN_READERS = ("admin", "leader")


def _in_townships(township_ids: list[int]):
    """Assignments whose village, or whose project's unit site, lies in one of these townships."""
    township_ids = township_ids or [-1]
    return or_(
        Assignment.village_id.in_(select(Village.id).where(Village.township_id.in_(township_ids))),
        and_(
            Assignment.village_id.is_(None),
            Assignment.project_id.in_(
                select(Project.id).join(Site, Project.site_id == Site.id).where(Site.township_id.in_(township_ids))
            ),
        ),
    )


def list_assignments(
    session: Session,
    viewer: User,
    *,
    project_id: int | None = None,
    status: str | None = None,
    page: int = 1,
    per_page: int | None = None,
) -> Page[Assignment]:
    """The assignments `viewer` may see (of one project, in one status, when given), newest first.

    Open assignments name the village a team will turn up in unannounced. Reviewers may work in
    that township, so (as with visits, services/review.py) they see only closed assignments in
    their townships; plan readers (admins, leaders) see the whole plan.
    """
    stmt = select(Assignment).order_by(Assignment.id.desc())
    if not viewer.has_role(*PLAN_READERS):
        stmt = stmt.where(
            Assignment.status == "closed",
            _in_townships([t.id for t in viewer.townships]),
            # A drawn assignment stays hidden until its whole round is closed and published.
            or_(
                Assignment.round_id.is_(None),
                Assignment.round_id.in_(select(InspectionRound.id).where(InspectionRound.status == "closed")),
            ),
        )
    if project_id:
        stmt = stmt.where(Assignment.project_id == project_id)
    if status:
        stmt = stmt.where(Assignment.status == status)
    return paginate(session, stmt, page, per_page)


def get_assignment(session: Session, assignment_id: int) -> Assignment:
    """The assignment with this id, or ApiError(not_found)."""
    return get_or_404(session, Assignment, assignment_id)


def visits_of(session: Session, assignment_ids: list[int]) -> dict[int, list[Visit]]:
    """The visits made for each of these assignments, oldest first."""
    found: dict[int, list[Visit]] = {i: [] for i in assignment_ids}
    if assignment_ids:
        for v in session.scalars(select(Visit).where(Visit.assignment_id.in_(assignment_ids)).order_by(Visit.id)):
            found[v.assignment_id].append(v)
    return found


def _inspectors(session: Session, ids: list[int]) -> list[User]:
    users = session.scalars(select(User).where(User.id.in_(ids))).all()
    missing = sorted(set(ids) - {u.id for u in users})
    if missing:
        raise ApiError("not_found", "找不到指定的督查人员", {"inspector_ids": missing})
    not_inspectors = sorted(u.id for u in users if not u.active or not u.has_role("inspector"))
    if not_inspectors:
        raise ApiError("validation_failed", "所选人员不是有效的督查人员", {"inspector_ids": not_inspectors})
    return list(users)


def _check_recusal(session: Session, assignment: Assignment) -> None:
    township_id = place_of(session, assignment).township_id
    own = sorted(u.id for u in assignment.members if township_id and u.home_township_id == township_id)
    if own:
        raise ApiError("conflict", "督查人员不能督查本人所在乡镇(回避)", {"inspector_ids": own, "reason": "recusal"})


def _check_items(items: list[str]) -> list[str]:
    cleaned = [i.strip() for i in items if i.strip()]
    if len(set(cleaned)) != len(cleaned):
        raise ApiError("validation_failed", "督查事项有重复", {"field": "check_items"})
    return cleaned


def create_assignment(session: Session, actor: User, data: dict[str, Any]) -> Assignment:
    """Send a team to a project's village (or the unit's site when the project has no villages)."""
    project = get_or_404(session, Project, data["project_id"], "项目")
    village = None
    if data.get("village_id") is not None:
        village = get_or_404(session, Village, data["village_id"], "村")
        if village.id not in {v.id for v in project.villages}:
            raise ApiError("validation_failed", "该村不在项目的实施范围内", {"field": "village_id"})
    elif project.villages:
        if len(project.villages) > 1:
            raise ApiError("validation_failed", "该项目涉及多个村,请指定 village_id", {"field": "village_id"})
        village = project.villages[0]
    a = Assignment(
        project=project,
        village=village,
        check_items=_check_items(data.get("check_items", [])),
        due_date=date.fromisoformat(data["due_date"]) if data.get("due_date") else None,
        min_photos=data.get("min_photos"),
        min_interviews=data.get("min_interviews"),
        created_by_id=actor.id,
    )
    a.members = _inspectors(session, data["inspector_ids"])
    place_of(session, a)  # a project without villages must have a site
    _check_recusal(session, a)
    session.add(a)
    session.flush()
    audit.append(
        session,
        actor,
        "assignment.create",
        "assignment",
        a.id,
        {"project_id": project.id, "village_id": a.village_id, "inspector_ids": [u.id for u in a.members]},
    )
    session.commit()
    return a


def update_assignment(session: Session, actor: User, assignment_id: int, data: dict[str, Any]) -> Assignment:
    """Edit the team, items, due date or status; items are fixed once a visit has started."""
    a = get_or_404(session, Assignment, assignment_id, "督查任务")
    if a.origin == "drawn" and ("check_items" in data or "inspector_ids" in data):
        # The published draw fixed the team and the items; changing them would falsify the record.
        raise ApiError(
            "conflict", "抽签产生的督查任务不能修改督查组成员或督查事项", {"reason": "drawn", "round_id": a.round_id}
        )
    started = session.scalar(select(Visit.id).where(Visit.assignment_id == a.id).limit(1)) is not None
    if "check_items" in data:
        if started:
            raise ApiError("conflict", "暗访已开始,督查事项不能再修改", {"field": "check_items"})
        a.check_items = _check_items(data["check_items"])
    if "inspector_ids" in data:
        a.members = _inspectors(session, data["inspector_ids"])
        _check_recusal(session, a)
    if "due_date" in data:
        a.due_date = date.fromisoformat(data["due_date"]) if data["due_date"] else None
    for key in ("min_photos", "min_interviews"):
        if key in data:
            setattr(a, key, data[key])
    if "status" in data and data["status"] != a.status:
        set_status(a, data["status"])
    audit.append(session, actor, "assignment.update", "assignment", a.id, {"fields": sorted(data)})
    session.commit()
    return a


def set_status(a: Assignment, status: str) -> None:
    """Open or close an assignment; closing keeps the time, from which late visits are measured."""
    a.status = status
    a.closed_at = utcnow() if status == "closed" else None


def open_assignments_for(session: Session, user: User) -> list[Assignment]:
    """The open assignments of every team the user is on."""
    stmt = (
        select(Assignment)
        .join(assignment_members, assignment_members.c.assignment_id == Assignment.id)
        .where(assignment_members.c.user_id == user.id, Assignment.status == "open")
        .order_by(Assignment.due_date.is_(None), Assignment.due_date, Assignment.id)
    )
    return list(session.scalars(stmt).unique())


def is_member(assignment: Assignment, user: User) -> bool:
    """True when the user is on the assignment's team."""
    return any(m.id == user.id for m in assignment.members)


def unsealed_visit_ids(session: Session, visit_ids: list[int]) -> set[int]:
    """The visits with a stored check-in inside the geofence: there sealed items are opened."""
    if not visit_ids:
        return set()
    return set(
        session.scalars(
            select(CheckIn.visit_id)
            .where(CheckIn.visit_id.in_(visit_ids), CheckIn.within_geofence.is_(True))
            .distinct()
        )
    )


def unsealed_assignment_ids(session: Session, assignment_ids: list[int]) -> set[int]:
    """The assignments one of whose visits has a check-in inside the geofence."""
    if not assignment_ids:
        return set()
    return set(
        session.scalars(
            select(Visit.assignment_id)
            .join(CheckIn, CheckIn.visit_id == Visit.id)
            .where(Visit.assignment_id.in_(assignment_ids), CheckIn.within_geofence.is_(True))
            .distinct()
        )
    )


def is_sealed(assignment: Assignment, opened: bool) -> bool:
    """Drawn assignments keep their check items sealed (暗访) until an in-geofence check-in."""
    return assignment.origin == "drawn" and not opened


def plan_visible(session: Session, assignment: Assignment, viewer: User) -> bool:
    """Whether the viewer may read an assignment's plan: its origin, round, team, due date and items.

    Upcoming unannounced work is for admins, leaders and the team itself; others (reviewers)
    read it only once the assignment is closed and, if it was drawn, its whole round is closed
    and published — the rule of the console's assignment list.
    """
    if viewer.has_role(*PLAN_READERS) or is_member(assignment, viewer):
        return True
    if assignment.status != "closed":
        return False
    return (
        assignment.round_id is None
        or session.scalar(select(InspectionRound.status).where(InspectionRound.id == assignment.round_id)) == "closed"
    )
