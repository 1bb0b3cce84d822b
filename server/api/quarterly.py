"""The quarterly cycle (每季度调度一次、实地督导一次、反馈通报一次): the year's schedule, edits and completion (staff)."""

from __future__ import annotations

from server import clock
from server.api import endpoint, serialize
from server.api.schemas import DATE, ID, obj
from server.db import db
from server.models import STAFF_ROLES
from server.services import quarterly

ERRORS = (400, 401, 403, 404, 409)
YEAR = {"type": "integer", "minimum": 2015, "maximum": 2100}
TASK = obj(
    {
        "id": ID,
        "year": {"type": "integer"},
        "quarter": {"type": "integer", "minimum": 1, "maximum": 4},
        "kind": {"type": "string", "enum": ["dispatch", "supervision", "bulletin"]},
        "label": {"type": "string"},
        "due_date": DATE,
        "owner_id": {"type": ["integer", "null"]},
        "notes": {"type": "string"},
        "state": {"type": "string", "enum": ["due", "overdue", "done"]},
        "done_at": {"type": ["string", "null"], "format": "date-time"},
        "done_by_id": {"type": ["integer", "null"]},
        "round_id": {"type": ["integer", "null"]},
        "evidence_note": {"type": "string"},
        "evidence_document": {"type": "string"},
    }
)
YEAR_LIST = obj(
    {"year": {"type": "integer"}, "created": {"type": "integer"}, "items": {"type": "array", "items": TASK}}
)


def _year(tasks, year: int, created: int = 0) -> dict:
    today = clock.today()
    return {"year": year, "created": created, "items": [serialize.quarterly_task(t, today) for t in tasks]}


@endpoint(
    "/quarterly",
    "GET",
    summary="The year's quarterly tasks the caller may see (admins and leaders: all; reviewers: their own)",
    tag="quarterly",
    roles=STAFF_ROLES,
    query={"year": YEAR},
    response=YEAR_LIST,
    errors=ERRORS,
)
def list_tasks(user, query):
    year = query.get("year") or clock.today().year
    return _year(quarterly.list_year(db.session, user, year), year)


@endpoint(
    "/quarterly/generate",
    "POST",
    summary="Create the year's missing tasks with default due days (admins); `created` counts them, a repeat creates none",
    tag="quarterly",
    roles=STAFF_ROLES,
    body=obj({"year": YEAR}, ("year",)),
    response=YEAR_LIST,
    errors=ERRORS,
)
def generate(user, body):
    tasks, created = quarterly.generate_year(db.session, user, body["year"])
    return _year(tasks, body["year"], created)


@endpoint(
    "/quarterly/tasks/<int:task_id>",
    "GET",
    summary="One quarterly task",
    tag="quarterly",
    roles=STAFF_ROLES,
    response=TASK,
    errors=ERRORS,
)
def get_task(user, task_id):
    return serialize.quarterly_task(quarterly.get_task(db.session, user, task_id), clock.today())


@endpoint(
    "/quarterly/tasks/<int:task_id>",
    "PATCH",
    summary="Change a task's due day, owner or plan (admins)",
    tag="quarterly",
    roles=STAFF_ROLES,
    body=obj(
        {
            "due_date": DATE,
            "owner_id": {"type": ["integer", "null"], "minimum": 1},
            "notes": {"type": "string", "maxLength": quarterly.MAX_NOTE},
        }
    ),
    response=TASK,
    errors=ERRORS,
)
def update_task(user, body, task_id):
    return serialize.quarterly_task(quarterly.update_task(db.session, user, task_id, body), clock.today())


@endpoint(
    "/quarterly/tasks/<int:task_id>/done",
    "POST",
    summary="Mark a task done with its evidence: a round of the quarter, a note and/or a document's name "
    "(admins, or the task's owner)",
    tag="quarterly",
    roles=STAFF_ROLES,
    body=obj(
        {
            "round_id": {"type": ["integer", "null"], "minimum": 1},
            "note": {"type": "string", "maxLength": quarterly.MAX_NOTE},
            "document": {"type": "string", "maxLength": quarterly.MAX_DOCUMENT},
        }
    ),
    response=TASK,
    errors=ERRORS,
)
def complete_task(user, body, task_id):
    return serialize.quarterly_task(quarterly.complete_task(db.session, user, task_id, body), clock.today())


@endpoint(
    "/quarterly/tasks/<int:task_id>/reopen",
    "POST",
    summary="Undo a task's completion (admins)",
    tag="quarterly",
    roles=STAFF_ROLES,
    response=TASK,
    errors=ERRORS,
)
def reopen_task(user, task_id):
    return serialize.quarterly_task(quarterly.reopen_task(db.session, user, task_id), clock.today())
