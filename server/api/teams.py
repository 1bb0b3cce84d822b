"""Standing inspection teams (admin) and declared conflicts (admin for anyone, inspectors for themselves)."""

from __future__ import annotations

from server.api import endpoint, serialize
from server.api.schemas import ID, IDS, obj
from server.db import db
from server.models import CONFLICT_KINDS, CONFLICT_SCOPES
from server.services import teams

ADMIN = ("admin",)
ERRORS = (400, 401, 403, 404, 409)
LIST = obj({"items": {"type": "array", "items": {"type": "object"}}})

TEAM = {
    "name": {"type": "string", "minLength": 1, "maxLength": 64},
    "member_ids": {**IDS, "minItems": 2, "maxItems": teams.MAX_MEMBERS, "description": "inspector accounts"},
    "leader_id": {**ID, "description": "组长: one of the members"},
    "lead_official_id": {"type": ["integer", "null"], "minimum": 1, "description": "带队领导: a leader account"},
    "active": {"type": "boolean"},
}
CONFLICT = {
    "kind": {
        "type": "string",
        "enum": list(CONFLICT_KINDS),
        "description": "relative 亲属, former_post 曾任职, other 其他",
    },
    "scope": {
        "type": "string",
        "enum": list(CONFLICT_SCOPES),
        "description": "village: its sites; township: every site in it; organization: its projects",
    },
    "place_id": {**ID, "description": "the village, township or organization"},
    "note": {"type": "string", "maxLength": teams.MAX_NOTE, "description": "required for other; never published"},
}


def _conflict(c):
    return serialize.conflict(c, teams.place_name(db.session, c))


@endpoint(
    "/admin/teams", "GET", summary="List inspection teams", tag="admin", roles=ADMIN, response=LIST, errors=ERRORS
)
def list_teams(user):
    return {"items": [serialize.team(t) for t in teams.list_teams(db.session)]}


@endpoint(
    "/admin/teams",
    "POST",
    summary="Create a standing inspection team (工作组) with its 组长 and 带队领导",
    tag="admin",
    roles=ADMIN,
    body=obj(TEAM, ("name", "member_ids", "leader_id")),
    status=201,
    errors=ERRORS,
)
def create_team(user, body):
    return serialize.team(teams.create_team(db.session, user, body)), 201


@endpoint(
    "/admin/teams/<int:team_id>",
    "PATCH",
    summary="Edit a team (rounds already frozen keep the team as it was)",
    tag="admin",
    roles=ADMIN,
    body=obj(TEAM),
    errors=ERRORS,
)
def update_team(user, body, team_id):
    return serialize.team(teams.update_team(db.session, user, team_id, body))


@endpoint(
    "/admin/conflicts",
    "GET",
    summary="List declared conflicts (回避申报) in force",
    tag="admin",
    roles=ADMIN,
    query={"user_id": ID},
    response=LIST,
    errors=ERRORS,
)
def list_conflicts(user, query):
    return {"items": [_conflict(c) for c in teams.list_conflicts(db.session, user_id=query.get("user_id"))]}


@endpoint(
    "/admin/conflicts",
    "POST",
    summary="Declare a conflict for an inspector: the draw never sends them or their team there",
    tag="admin",
    roles=ADMIN,
    body=obj({"user_id": ID, **CONFLICT}, ("user_id", "kind", "scope", "place_id")),
    status=201,
    errors=ERRORS,
)
def declare_conflict(user, body):
    return _conflict(teams.declare_conflict(db.session, user, body)), 201


@endpoint(
    "/admin/conflicts/<int:conflict_id>/withdraw",
    "POST",
    summary="Withdraw a declared conflict (kept in the history)",
    tag="admin",
    roles=ADMIN,
    errors=ERRORS,
)
def withdraw_conflict(user, conflict_id):
    return _conflict(teams.withdraw_conflict(db.session, user, conflict_id))


@endpoint(
    "/me/conflicts",
    "GET",
    summary="The caller's own declared conflicts in force",
    tag="visits",
    roles=("inspector",),
    response=LIST,
    errors=(401, 403),
)
def my_conflicts(user):
    return {"items": [_conflict(c) for c in teams.list_conflicts(db.session, user_id=user.id)]}


@endpoint(
    "/me/conflicts",
    "POST",
    summary="Declare one of the caller's own conflicts (relatives in a village, a former post)",
    tag="visits",
    roles=("inspector",),
    body=obj(CONFLICT, ("kind", "scope", "place_id")),
    status=201,
    errors=ERRORS,
)
def declare_my_conflict(user, body):
    return _conflict(teams.declare_conflict(db.session, user, body, own=True)), 201


@endpoint(
    "/me/conflicts/<int:conflict_id>/withdraw",
    "POST",
    summary="Withdraw one of the caller's own declared conflicts",
    tag="visits",
    roles=("inspector",),
    errors=ERRORS,
)
def withdraw_my_conflict(user, conflict_id):
    return _conflict(teams.withdraw_conflict(db.session, user, conflict_id, own=True))
