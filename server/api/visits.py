"""The visit: start, check in, photos, interviews, checklist, notes, submit, read, list."""

from __future__ import annotations

from server.api import endpoint, serialize
from server.api.photos import ticket_answer
from server.api.schemas import (
    CLIENT_ID,
    COORD_TYPE,
    FIX_OR_NO_FIX,
    ID,
    LAT,
    LNG,
    PAGE_QUERY,
    SENT_AT,
    TIMESTAMP,
    obj,
    page_of,
    photo_ticket,
)
from server.db import db
from server.models import CHECK_RESULTS, SATISFACTION
from server.services import visits
from server.services.visit_view import visit_view

INSPECTOR = ("inspector",)
STAFF = ("admin", "leader", "reviewer")
WRITE_ERRORS = (400, 401, 403, 404, 409)


def _created(payload, created: bool):
    return payload, 201 if created else 200


@endpoint(
    "/visits",
    "POST",
    summary="Start a visit for one of the caller's assignments",
    tag="visits",
    roles=INSPECTOR,
    body=obj(
        {"client_id": CLIENT_ID, "sent_at": SENT_AT, "assignment_id": ID, "started_at": TIMESTAMP},
        ("client_id", "assignment_id", "started_at"),
    ),
    status=201,
    errors=WRITE_ERRORS,
)
def start_visit(user, body):
    visit, created = visits.start_visit(db.session, user, body)
    return _created(serialize.visit_summary(visit), created)


@endpoint(
    "/visits/<int:visit_id>/checkins",
    "POST",
    summary="GPS check-in: stored in WGS-84 with distance_m, within_geofence and flags",
    tag="visits",
    roles=INSPECTOR,
    body=obj(
        {
            "client_id": CLIENT_ID,
            "sent_at": SENT_AT,
            "lat": LAT,
            "lng": LNG,
            "accuracy_m": {"type": "number", "minimum": 0, "maximum": 100000},
            "coord_type": COORD_TYPE,
            "client_time": TIMESTAMP,
        },
        ("client_id", "sent_at", "lat", "lng", "accuracy_m", "client_time"),
    ),
    status=201,
    errors=WRITE_ERRORS,
)
def add_checkin(user, body, visit_id):
    checkin, created = visits.add_checkin(db.session, user, visit_id, body)
    return _created(serialize.checkin(checkin), created)


PHOTO_TICKET = photo_ticket(capture=True, required=("client_id", "content_type", "size", "taken_at"), **FIX_OR_NO_FIX)
MISSING_KINDS = ("photo", "interview", "checkin", "checklist", "note")


@endpoint(
    "/visits/<int:visit_id>/photos",
    "POST",
    summary="Ticket for uploading one photo straight to storage (presigned POST, field `file`)",
    tag="photos",
    roles=INSPECTOR,
    body=PHOTO_TICKET,
    status=201,
    errors=(*WRITE_ERRORS, 413),
)
def request_photo(user, body, visit_id):
    photo, created = visits.request_photo(db.session, user, visit_id, body)
    return ticket_answer(photo, created)


@endpoint(
    "/visits/<int:visit_id>/interviews",
    "POST",
    summary="A villager interview at home",
    tag="visits",
    roles=INSPECTOR,
    body=obj(
        {
            "client_id": CLIENT_ID,
            "sent_at": SENT_AT,
            "household": {"type": "string", "minLength": 1, "maxLength": 100},
            "answers": {
                "type": "object",
                "maxProperties": 50,
                "additionalProperties": {"type": ["string", "number", "boolean"], "maxLength": 2000},
            },
            "satisfaction": {"type": "string", "enum": list(SATISFACTION)},
            "notes": {"type": "string", "maxLength": 5000},
        },
        ("client_id", "sent_at", "household", "satisfaction"),
    ),
    status=201,
    errors=WRITE_ERRORS,
)
def add_interview(user, body, visit_id):
    interview, created = visits.add_interview(db.session, user, visit_id, body)
    return _created(serialize.interview(interview, visits.household_of(interview)), created)


@endpoint(
    "/visits/<int:visit_id>/checklist",
    "PUT",
    summary="The checklist (a new version; earlier versions are kept)",
    tag="visits",
    roles=INSPECTOR,
    body=obj(
        {
            "client_id": CLIENT_ID,
            "sent_at": SENT_AT,
            "items": {
                "type": "array",
                "minItems": 1,
                "maxItems": 50,
                "items": obj(
                    {
                        "item": {"type": "string", "minLength": 1, "maxLength": 200},
                        "result": {"type": "string", "enum": list(CHECK_RESULTS)},
                        "note": {"type": "string", "maxLength": 2000},
                    },
                    ("item", "result"),
                ),
            },
        },
        ("client_id", "sent_at", "items"),
    ),
    status=201,
    errors=WRITE_ERRORS,
)
def put_checklist(user, body, visit_id):
    result, created = visits.put_checklist(db.session, user, visit_id, body)
    return _created(serialize.checklist(result), created)


@endpoint(
    "/visits/<int:visit_id>/notes",
    "POST",
    summary="Append a remark (also after submit)",
    tag="visits",
    roles=INSPECTOR,
    body=obj(
        {"client_id": CLIENT_ID, "sent_at": SENT_AT, "text": {"type": "string", "minLength": 1, "maxLength": 5000}},
        ("client_id", "sent_at", "text"),
    ),
    status=201,
    errors=WRITE_ERRORS,
)
def add_note(user, body, visit_id):
    note, created = visits.add_note(db.session, user, visit_id, body)
    return _created(serialize.note(note), created)


@endpoint(
    "/visits/<int:visit_id>/submit",
    "POST",
    summary="Submit the visit; afterwards it is read-only. `missing` lists what the inspector gave up; "
    "photos still uploading do not hold it; evidence_short says what the evidence policy misses",
    tag="visits",
    roles=INSPECTOR,
    body=obj(
        {
            "client_id": CLIENT_ID,
            "sent_at": SENT_AT,
            "missing": {
                "type": "array",
                "maxItems": 100,
                "items": obj(
                    {
                        "kind": {"type": "string", "enum": list(MISSING_KINDS)},
                        "client_id": {"type": "string", "minLength": 1, "maxLength": 64},
                        "reason": {"type": "string", "maxLength": 500},
                    },
                    ("kind", "client_id"),
                ),
            },
        },
        ("client_id",),
    ),
    errors=WRITE_ERRORS,
)
def submit_visit(user, body, visit_id):
    visit = visits.submit_visit(db.session, user, visit_id, body)
    return serialize.visit_summary(visit)


@endpoint(
    "/visits/<int:visit_id>",
    "GET",
    summary="Everything of a visit, photo URLs valid 10 minutes, photos still waiting for upload",
    tag="visits",
    roles=(*INSPECTOR, *STAFF),
    errors=(401, 403, 404),
)
def get_visit(user, visit_id):
    view = visit_view(db.session, user, visit_id)
    return {
        **serialize.visit_summary(view.visit, view.flags),
        "assignment": serialize.assignment(
            view.visit.assignment, view.place, sealed=view.sealed, plan=view.plan, policy=view.policy
        ),
        "checkins": [serialize.checkin(c) for c in view.checkins],
        "photos": [serialize.photo(p, urls) for p, urls in view.photos],
        "photos_waiting": [{"id": p.id, "client_id": p.client_id} for p in view.waiting],
        "interviews": [serialize.interview(i, household) for i, household in view.interviews],
        "checklist": serialize.checklist(view.checklist) if view.checklist else None,
        "checklist_versions": view.checklist_versions,
        "notes": [serialize.note(n) for n in view.notes],
        # Who reviewed stays with the staff: the team sees what was questioned, not by whom.
        "decisions": [
            {
                "target_kind": d.target_kind,
                "target_id": d.target_id,
                "decision": d.decision,
                "reason": d.reason,
                "created_at": d.created_at.isoformat(),
            }
            for d in view.decisions
        ],
    }


@endpoint(
    "/visits",
    "GET",
    summary="Visits for staff, filtered; reviewers see submitted visits in scope",
    tag="visits",
    roles=STAFF,
    query={
        **PAGE_QUERY,
        "village_id": {"type": "integer", "minimum": 1},
        "project_id": {"type": "integer", "minimum": 1},
        "township_id": {"type": "integer", "minimum": 1},
        "status": {"type": "string", "enum": ["in_progress", "submitted"]},
        "flag": {"type": "string"},
    },
    response=page_of(),
    errors=(400, 401, 403),
)
def list_visits(user, query):
    items, total = visits.list_visits(db.session, user, query)
    flags = visits.flags_by_visit(db.session, [v.id for v in items])
    return {
        "items": [serialize.visit_summary(v, flags[v.id]) for v in items],
        "page": query["page"],
        "per_page": query["per_page"],
        "total": total,
    }
