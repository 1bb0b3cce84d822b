"""书记领办事项 for the department (admins write, leaders read): the items, their progress entries,
and the suggestions of the two-year rule, which an admin confirms or dismisses."""

from __future__ import annotations

from typing import Any

from server.api import endpoint
from server.api.schemas import DATE, ID, PAGE_QUERY, obj, page_of
from server.api.serialize import iso
from server.db import db
from server.models import LEAD_ITEM_STATUSES, PROJECT_LEVELS, SUGGESTION_DECISIONS, LeadItem
from server.services import lead_items

ERRORS = (400, 401, 403, 404, 409)
MILESTONE = obj(
    {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "deadline": DATE,
        "responsible": {"type": "string", "maxLength": 200},
        "status": {"type": "string", "maxLength": 50},
    },
    ("name",),
)
FIELDS = {
    "title": {"type": "string", "minLength": 1, "maxLength": 200},
    "started_on": {**DATE, "description": "the day the item started; its year is the item's year"},
    "organization_id": ID,
    "level": {"type": "string", "enum": list(PROJECT_LEVELS)},
    "status": {"type": "string", "enum": list(LEAD_ITEM_STATUSES)},
    "secretary_id": {**ID, "type": ["integer", "null"], "description": "the leading secretary's account, if any"},
    "leader_name": {"type": "string", "maxLength": 64, "description": "the leading secretary's name (no account)"},
    "problem": {"type": "string", "maxLength": 5000},
    "milestones": {"type": "array", "items": MILESTONE, "maxItems": 50},
}
CLOCK = obj(
    {
        "since": DATE,
        "last_result": {**DATE, "type": ["string", "null"]},
        "due": {**DATE, "description": "from this day on, with no visible result, the item is suggested"},
        "suggested": {"type": "boolean"},
    }
)
ITEM = obj(
    {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "status": {"type": "string", "enum": list(LEAD_ITEM_STATUSES)},
        "level": {"type": "string", "enum": list(PROJECT_LEVELS)},
        "rule": CLOCK,
    },
    additionalProperties=True,
)


def item_json(item: LeadItem, *, detail: bool = False) -> dict[str, Any]:
    """An item with where it stands against the two-year rule (and, in detail, its progress and decisions)."""
    clock = lead_items.result_clock(db.session, item)
    out: dict[str, Any] = {
        "id": item.id,
        "title": item.title,
        "year": item.year,
        "started_on": item.started_on.isoformat(),
        "organization": {"id": item.organization.id, "name": item.organization.name},
        "secretary_id": item.secretary_id,
        "leader_name": item.leader_name,
        "level": item.level,
        "level_label": PROJECT_LEVELS[item.level],
        "status": item.status,
        "status_label": LEAD_ITEM_STATUSES[item.status],
        "problem": item.problem,
        "milestones": item.milestones or [],
        "rule": {
            "since": clock.since.isoformat(),
            "last_result": clock.last_result.isoformat() if clock.last_result else None,
            "due": clock.due.isoformat(),
            "suggested": lead_items.is_suggested(db.session, item),
        },
    }
    if detail:
        out["progress"] = [
            {
                "id": p.id,
                "noted_on": p.noted_on.isoformat(),
                "text": p.text,
                "visible_result": p.visible_result,
                "created_at": iso(p.created_at),
            }
            for p in lead_items.progress_of(db.session, item.id)
        ]
        out["decisions"] = [
            {
                "id": d.id,
                "decision": d.decision,
                "decision_label": SUGGESTION_DECISIONS[d.decision],
                "decided_on": d.decided_on.isoformat(),
                "reason": d.reason,
                "warning_id": d.warning_id,
            }
            for d in lead_items.decisions_of(db.session, item.id)
        ]
    return out


@endpoint(
    "/lead-items",
    "GET",
    summary="书记领办事项 by start year, level, status and title, newest first",
    tag="lead_items",
    roles=lead_items.READERS,
    query={
        **PAGE_QUERY,
        "q": {"type": "string"},
        "year": {"type": "integer", "minimum": 2000, "maximum": 2100},
        "level": {"type": "string", "enum": list(PROJECT_LEVELS)},
        "status": {"type": "string", "enum": list(LEAD_ITEM_STATUSES)},
    },
    response=page_of(ITEM),
    errors=ERRORS,
)
def list_items(user, query):
    found = lead_items.list_items(
        db.session,
        user,
        year=query.get("year"),
        level=query.get("level"),
        status=query.get("status"),
        q=query.get("q"),
        page=query["page"],
        per_page=query["per_page"],
    )
    return {
        "items": [item_json(i) for i in found.items],
        "page": query["page"],
        "per_page": query["per_page"],
        "total": found.total,
    }


@endpoint(
    "/lead-items",
    "POST",
    summary="Register a 书记领办事项",
    tag="lead_items",
    roles=("admin",),
    body=obj(FIELDS, ("title", "started_on", "organization_id", "level")),
    status=201,
    response=ITEM,
    errors=ERRORS,
)
def create_item(user, body):
    return item_json(lead_items.create_item(db.session, user, body), detail=True), 201


@endpoint(
    "/lead-items/suggestions",
    "GET",
    summary="Items two years without a visible result, suggested for the 软弱涣散 list (nothing is listed "
    "until an admin confirms)",
    tag="lead_items",
    roles=lead_items.READERS,
    response=obj({"items": {"type": "array", "items": ITEM}}),
    errors=ERRORS,
)
def list_suggestions(user):
    return {"items": [item_json(s.item) for s in lead_items.suggestions(db.session, user)]}


@endpoint(
    "/lead-items/<int:item_id>",
    "GET",
    summary="One item with its progress entries and the decisions on its suggestions",
    tag="lead_items",
    roles=lead_items.READERS,
    response=ITEM,
    errors=ERRORS,
)
def get_item(user, item_id):
    return item_json(lead_items.get_item(db.session, user, item_id), detail=True)


@endpoint(
    "/lead-items/<int:item_id>",
    "PATCH",
    summary="Edit an item: its fields, milestones or status",
    tag="lead_items",
    roles=("admin",),
    body=obj(FIELDS),
    response=ITEM,
    errors=ERRORS,
)
def update_item(user, body, item_id):
    return item_json(lead_items.update_item(db.session, user, item_id, body), detail=True)


@endpoint(
    "/lead-items/<int:item_id>/progress",
    "POST",
    summary="Record a progress entry; visible_result marks a visible result (明显成效) and restarts the two years",
    tag="lead_items",
    roles=("admin",),
    body=obj(
        {
            "noted_on": {**DATE, "description": "default today; not before the item started, not in the future"},
            "text": {"type": "string", "minLength": 1, "maxLength": 5000},
            "visible_result": {"type": "boolean", "default": False},
        },
        ("text",),
    ),
    status=201,
    response=ITEM,
    errors=ERRORS,
)
def add_progress(user, body, item_id):
    lead_items.add_progress(db.session, user, item_id, body)
    return item_json(lead_items.get_item(db.session, user, item_id), detail=True), 201


@endpoint(
    "/lead-items/<int:item_id>/suggestion",
    "POST",
    summary="Decide a suggestion: confirm (lists the organization as 软弱涣散, 3 months to rectify) or dismiss "
    "with a reason; 409 when the item is not suggested (anymore)",
    tag="lead_items",
    roles=("admin",),
    body=obj(
        {
            "decision": {"type": "string", "enum": ["confirm", "dismiss"]},
            "reason": {"type": "string", "maxLength": 1000, "description": "required to dismiss; a note to confirm"},
        },
        ("decision",),
    ),
    response=ITEM,
    errors=ERRORS,
)
def decide_suggestion(user, body, item_id):
    if body["decision"] == "confirm":
        lead_items.confirm_suggestion(db.session, user, item_id, body.get("reason", ""))
    else:
        lead_items.dismiss_suggestion(db.session, user, item_id, body.get("reason", ""))
    return item_json(lead_items.get_item(db.session, user, item_id), detail=True)
