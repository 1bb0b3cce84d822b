"""Standing inspection teams (督查组) and declared conflicts (回避申报).

A team persists across rounds: a name, a 组长 among its inspector members and a 带队领导 (a
leader account). A round may send teams instead of loose inspectors (services.rounds). A
declared conflict bars one inspector from a village, a township or an organization's projects;
at freeze the conflicts that touch the round's candidates become part of the hashed draw inputs
as candidate keys only (no kind, no note), so the public record says no more than "a member
declared a conflict".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import (
    CONFLICT_KINDS,
    CONFLICT_SCOPES,
    ConflictDeclaration,
    InspectionTeam,
    Organization,
    Project,
    Township,
    User,
    Village,
    utcnow,
)
from server.services import audit
from server.services.common import for_update, get_or_404, require_unique

MAX_MEMBERS = 10
MAX_NOTE = 200
SCOPE_MODELS = {"village": Village, "township": Township, "organization": Organization}


def _invalid(message: str, field: str) -> ApiError:
    return ApiError("validation_failed", message, {"field": field})


# ---- teams ----------------------------------------------------------------------------------


def list_teams(session: Session, *, active_only: bool = False) -> list[InspectionTeam]:
    """Every team by name (only the active ones when asked)."""
    stmt = select(InspectionTeam).order_by(InspectionTeam.name, InspectionTeam.id)
    if active_only:
        stmt = stmt.where(InspectionTeam.active.is_(True))
    return list(session.scalars(stmt))


def get_team(session: Session, team_id: int) -> InspectionTeam:
    """The team, or 404."""
    return get_or_404(session, InspectionTeam, team_id, "督查组")


def _people(session: Session, ids: list[int]) -> dict[int, User]:
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids or [-1])))}


def _clean_team(session: Session, data: dict[str, Any], team: InspectionTeam | None) -> dict[str, Any]:
    """The team's fields, checked: members are active inspectors, the 组长 one of them, the 带队领导 a leader."""
    out: dict[str, Any] = {}
    if team is None or "name" in data:
        name = str(data.get("name") or "").strip()
        if not name or len(name) > 64:
            raise _invalid("请填写督查组名称(不超过 64 字)", "name")
        require_unique(
            session, InspectionTeam, InspectionTeam.name, name, "督查组名称", team.id if team else None, per_county=True
        )
        out["name"] = name
    member_ids = (
        sorted({int(i) for i in data.get("member_ids") or []})
        if team is None or "member_ids" in data
        else [u.id for u in team.members]
    )
    if len(member_ids) < 2 or len(member_ids) > MAX_MEMBERS:
        raise _invalid(f"督查组应有 2 到 {MAX_MEMBERS} 名成员", "member_ids")
    people = _people(session, member_ids)
    bad = sorted(i for i in member_ids if not (i in people and people[i].active and people[i].has_role("inspector")))
    if bad:
        raise ApiError("validation_failed", "所选人员不是有效的督查人员", {"field": "member_ids", "inspector_ids": bad})
    out["members"] = [people[i] for i in member_ids]
    leader_id = data.get("leader_id") if team is None or "leader_id" in data else team.leader_id
    if leader_id not in member_ids:
        raise _invalid("组长须是本组成员", "leader_id")
    out["leader"] = people[leader_id]
    if team is None or "lead_official_id" in data:
        official_id = data.get("lead_official_id")
        official = session.get(User, official_id) if isinstance(official_id, int) else None
        if official_id is not None and (official is None or not official.active or not official.has_role("leader")):
            raise _invalid("带队领导须是有效的领导账号", "lead_official_id")
        out["lead_official"] = official
    if "active" in data:
        out["active"] = bool(data["active"])
    return out


def _team_audit(team: InspectionTeam) -> dict[str, Any]:
    return {
        "name": team.name,
        "leader_id": team.leader_id,
        "lead_official_id": team.lead_official_id,
        "member_ids": [u.id for u in team.members],
        "active": team.active,
    }


def create_team(session: Session, actor: User, data: dict[str, Any]) -> InspectionTeam:
    """A new standing team."""
    fields = _clean_team(session, data, None)
    team = InspectionTeam(**{"active": True, **fields}, created_by_id=actor.id)
    session.add(team)
    session.flush()
    audit.append(session, actor, "team.create", "team", team.id, _team_audit(team))
    session.commit()
    return team


def update_team(session: Session, actor: User, team_id: int, data: dict[str, Any]) -> InspectionTeam:
    """Change a team's name, members, 组长, 带队领导 or whether it is active (frozen rounds keep their copy)."""
    team = session.execute(for_update(select(InspectionTeam).where(InspectionTeam.id == team_id))).scalar()
    if team is None:
        raise ApiError("not_found", "找不到该督查组", {"id": team_id})
    for key, value in _clean_team(session, data, team).items():
        setattr(team, key, value)
    session.flush()
    audit.append(session, actor, "team.update", "team", team.id, {"fields": sorted(data), **_team_audit(team)})
    session.commit()
    return team


# ---- declared conflicts ---------------------------------------------------------------------


def list_conflicts(
    session: Session, *, user_id: int | None = None, include_withdrawn: bool = False
) -> list[ConflictDeclaration]:
    """Declared conflicts, newest first (one person's when `user_id` is given)."""
    stmt = select(ConflictDeclaration).order_by(ConflictDeclaration.id.desc())
    if user_id is not None:
        stmt = stmt.where(ConflictDeclaration.user_id == user_id)
    if not include_withdrawn:
        stmt = stmt.where(ConflictDeclaration.withdrawn_at.is_(None))
    return list(session.scalars(stmt))


def place_name(session: Session, c: ConflictDeclaration) -> str:
    """The name of the place a conflict concerns (a village with its township)."""
    if c.village_id is not None:
        v = session.get(Village, c.village_id)
        return f"{v.township.name}{v.name}"
    model = SCOPE_MODELS[c.scope]
    row = session.get(model, c.township_id if c.scope == "township" else c.organization_id)
    return row.name


def declare_conflict(session: Session, actor: User, data: dict[str, Any], *, own: bool = False) -> ConflictDeclaration:
    """Record a conflict: staff for any inspector, an inspector (`own`) for themselves."""
    user_id = actor.id if own else data.get("user_id")
    person = session.get(User, user_id) if isinstance(user_id, int) else None
    if person is None or not person.has_role("inspector"):
        raise _invalid("申报人须是督查人员", "user_id")
    kind = data.get("kind")
    if kind not in CONFLICT_KINDS:
        raise _invalid("请选择回避类型(亲属、曾任职或其他)", "kind")
    scope = data.get("scope")
    if scope not in CONFLICT_SCOPES:
        raise _invalid("请选择回避范围(村、乡镇或党组织)", "scope")
    place_id = data.get("place_id")
    place = session.get(SCOPE_MODELS[scope], place_id) if isinstance(place_id, int) else None
    if place is None:
        raise ApiError("not_found", f"找不到该{CONFLICT_SCOPES[scope]}", {"field": "place_id", "id": place_id})
    note = str(data.get("note") or "").strip()
    if len(note) > MAX_NOTE:
        raise _invalid(f"说明不超过 {MAX_NOTE} 字", "note")
    if kind == "other" and not note:
        raise _invalid("回避类型为「其他」时请写明说明", "note")
    c = ConflictDeclaration(
        user_id=person.id,
        kind=kind,
        note=note,
        declared_by_id=actor.id,
        **{f"{scope}_id": place.id},
    )
    session.add(c)
    session.flush()
    # The note may name relatives: the audit log keeps the fact, not the personal detail.
    audit.append(
        session,
        actor,
        "conflict.declare",
        "conflict",
        c.id,
        {"user_id": person.id, "kind": kind, "scope": scope, "place_id": place.id},
    )
    session.commit()
    return c


def withdraw_conflict(session: Session, actor: User, conflict_id: int, *, own: bool = False) -> ConflictDeclaration:
    """Withdraw a declaration (kept, marked withdrawn); an inspector (`own`) only their own."""
    c = session.execute(for_update(select(ConflictDeclaration).where(ConflictDeclaration.id == conflict_id))).scalar()
    if c is None or (own and c.user_id != actor.id):
        raise ApiError("not_found", "找不到该回避申报", {"id": conflict_id})
    if c.withdrawn_at is not None:
        raise ApiError("conflict", "该回避申报已撤回", {"reason": "withdrawn"})
    c.withdrawn_at, c.withdrawn_by_id = utcnow(), actor.id
    audit.append(session, actor, "conflict.withdraw", "conflict", c.id, {"user_id": c.user_id})
    session.commit()
    return c


def recusals_for(session: Session, candidates: list[dict[str, Any]], inspector_ids: list[int]) -> list[dict[str, Any]]:
    """The standing conflicts of these inspectors that bar some candidate, as the draw's `recusals`.

    A village bars its own sites, a township every site in it, an organization the places of its
    projects. Only the inspector, the scope and the barred candidate keys go into the inputs.
    """
    if not candidates or not inspector_ids:
        return []
    org_of = dict(
        session.execute(
            select(Project.id, Project.organization_id).where(Project.id.in_({c["project_id"] for c in candidates}))
        ).all()
    )
    out = []
    for c in list_conflicts(session):
        if c.user_id not in inspector_ids:
            continue
        if c.scope == "village":
            keys = [k["key"] for k in candidates if k["village_id"] == c.village_id]
        elif c.scope == "township":
            keys = [k["key"] for k in candidates if k["township_id"] == c.township_id]
        else:
            keys = [k["key"] for k in candidates if org_of.get(k["project_id"]) == c.organization_id]
        if keys:
            out.append({"inspector_id": c.user_id, "scope": c.scope, "keys": sorted(keys)})
    return sorted(out, key=lambda r: (r["inspector_id"], r["scope"], r["keys"]))


def team_inputs(session: Session, team_ids: list[int]) -> list[dict[str, Any]]:
    """The draw's `teams`: each team's id, name, 组长 and active inspector members, by id."""
    teams = session.scalars(select(InspectionTeam).where(InspectionTeam.id.in_(team_ids or [-1]))).all()
    return [
        {
            "id": t.id,
            "name": t.name,
            "leader_id": t.leader_id,
            "member_ids": sorted(u.id for u in t.members if u.active and u.has_role("inspector")),
        }
        for t in sorted(teams, key=lambda t: t.id)
    ]


def check_round_teams(session: Session, team_ids: list[int]) -> list[int]:
    """A round's team choice, checked: active teams, nobody in two of them."""
    ids = sorted({int(i) for i in team_ids})
    teams = {t.id: t for t in session.scalars(select(InspectionTeam).where(InspectionTeam.id.in_(ids or [-1])))}
    bad = [i for i in ids if i not in teams or not teams[i].active]
    if bad:
        raise ApiError("validation_failed", "所选督查组不存在或已停用", {"field": "team_ids", "team_ids": bad})
    seen: dict[int, str] = {}
    for i in ids:
        for u in teams[i].members:
            if u.id in seen:
                raise _invalid(
                    f"{u.name} 同时在「{seen[u.id]}」和「{teams[i].name}」,同一轮次每人只能在一个组", "team_ids"
                )
            seen[u.id] = teams[i].name
    return ids
