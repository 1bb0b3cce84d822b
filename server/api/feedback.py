"""The staff's feedback inbox: list, moderate held items, reply."""

from __future__ import annotations

from server.api import endpoint, serialize
from server.api.schemas import PAGE_QUERY, obj, page_of
from server.db import db
from server.models import FEEDBACK_STATUSES
from server.services import feedback

STAFF = ("admin", "leader", "reviewer")
HANDLERS = ("admin", "reviewer")  # leaders read, they do not answer
# Not read from services.feedback at import time: importing that module first would be circular.
REPLY_STATUSES = ("accepted", "processing", "resolved", "declined")


@endpoint(
    "/feedback",
    "GET",
    summary="Feedback in the caller's scope (overdue=1 lists replies past due)",
    tag="feedback",
    roles=STAFF,
    query={
        **PAGE_QUERY,
        "status": {"type": "string", "enum": list(FEEDBACK_STATUSES)},
        "project_id": {"type": "integer", "minimum": 1},
        "overdue": {"type": "integer", "enum": [0, 1], "default": 0},
    },
    response=page_of(),
    errors=(400, 401, 403),
)
def list_feedback(user, query):
    items, total = feedback.list_for_staff(db.session, user, query)
    ids = [f.id for f in items]
    replies, pics = feedback.replies_of(db.session, ids), feedback.photos_of(db.session, ids)
    return {
        "items": [serialize.feedback_for_staff(f, user, replies[f.id], pics[f.id]) for f in items],
        "page": query["page"],
        "per_page": query["per_page"],
        "total": total,
    }


@endpoint(
    "/feedback/<int:feedback_id>",
    "GET",
    summary="One feedback item",
    tag="feedback",
    roles=STAFF,
    errors=(401, 403, 404),
)
def get_feedback(user, feedback_id):
    fb = feedback.feedback_for_staff(db.session, user, feedback_id)
    return serialize.feedback_for_staff(
        fb, user, feedback.replies_of(db.session, [fb.id])[fb.id], feedback.photos_of(db.session, [fb.id])[fb.id]
    )


@endpoint(
    "/feedback/<int:feedback_id>/replies",
    "POST",
    summary="Reply and set the status (accepted/processing/resolved/declined with reason)",
    tag="feedback",
    roles=HANDLERS,
    body=obj(
        {
            "text": {"type": "string", "minLength": 1, "maxLength": 2000},
            "status": {"type": "string", "enum": list(REPLY_STATUSES)},
            "reason": {"type": "string", "maxLength": 1000},
            "public": {"type": "boolean", "default": False},
        },
        ("text", "status"),
    ),
    status=201,
    errors=(400, 401, 403, 404, 409),
)
def reply(user, body, feedback_id):
    r = feedback.reply(db.session, user, feedback_id, body)
    return serialize.feedback_reply(r), 201


@endpoint(
    "/feedback/<int:feedback_id>/moderation",
    "POST",
    summary="Release feedback held by the content check, or decline it with a reason",
    tag="feedback",
    roles=HANDLERS,
    body=obj(
        {
            "decision": {"type": "string", "enum": ["release", "decline"]},
            "reason": {"type": "string", "maxLength": 1000},
        },
        ("decision",),
    ),
    errors=(400, 401, 403, 404, 409),
)
def moderate(user, body, feedback_id):
    fb = feedback.moderate(db.session, user, feedback_id, body)
    return {"id": fb.id, "status": fb.status, "status_label": FEEDBACK_STATUSES[fb.status]}
