"""What villagers reach from a notice board: the public record, feedback, their own feedback."""

from __future__ import annotations

from flask import current_app, request

from server.api import endpoint, serialize
from server.api.photos import ticket_answer
from server.api.schemas import CLIENT_ID, ID, PAGE_QUERY, SENT_AT, obj, page_of, photo_ticket
from server.db import db
from server.errors import ApiError
from server.models import FEEDBACK_CATEGORIES, FEEDBACK_RATINGS, FEEDBACK_STATUSES
from server.services import feedback, public, rounds

ANY_USER: tuple[str, ...] = ()


@endpoint(
    "/public/projects/<int:project_id>",
    "GET",
    summary="A project's public record (公示): commitments, responsible people, progress",
    tag="public",
    auth=False,
    errors=(404,),
)
def public_project(project_id):
    return public.public_record(db.session, project_id)


@endpoint(
    "/public/scene/<scene>",
    "GET",
    summary="Resolve a notice-board code's scene to its project",
    tag="public",
    auth=False,
    errors=(404,),
    response=obj({"project_id": {"type": "integer"}, "page": {"type": "string"}}),
)
def resolve_scene(scene):
    project_id = public.resolve_scene(scene)
    public.public_record(db.session, project_id)  # 404 if the project is gone
    return {"project_id": project_id, "page": current_app.config["MINIPROGRAM_PROJECT_PAGE"]}


@endpoint(
    "/feedback/photos",
    "POST",
    summary="Ticket for a photo to attach to feedback (same pipeline as visits)",
    tag="public",
    roles=ANY_USER,
    body=photo_ticket(capture=False),
    status=201,
    errors=(400, 401, 409, 413, 429),
)
def feedback_photo(user, body):
    photo, created = feedback.request_photo(db.session, user, body)
    return ticket_answer(photo, created)


FEEDBACK_BODY = obj(
    {
        "client_id": CLIENT_ID,
        "sent_at": SENT_AT,
        "rating": {"type": "string", "enum": list(FEEDBACK_RATINGS)},
        "category": {"type": "string", "enum": list(FEEDBACK_CATEGORIES)},
        "text": {"type": "string", "minLength": 1, "maxLength": 500},
        "photo_ids": {"type": "array", "items": ID, "maxItems": 6, "uniqueItems": True},
        "contact_phone": {"type": ["string", "null"], "maxLength": 20},
        "anonymous": {"type": "boolean"},
        "notify": {"type": "boolean", "description": "the villager accepted wx.requestSubscribeMessage"},
    },
    ("client_id", "sent_at", "rating", "category", "text"),
)


@endpoint(
    "/public/projects/<int:project_id>/feedback",
    "POST",
    summary="Leave feedback on a project; answers the receipt number and status",
    tag="public",
    roles=ANY_USER,
    body=FEEDBACK_BODY,
    status=201,
    response=obj(
        {
            "id": {"type": "integer"},
            "receipt_no": {"type": "string"},
            "status": {"type": "string"},
            "status_label": {"type": "string"},
            "due_at": {"type": "string"},
        }
    ),
    errors=(400, 401, 404, 409, 422, 429),
)
def submit_feedback(user, body, project_id):
    fb, created = feedback.submit(db.session, user, project_id, body, request.remote_addr or "-")
    status = feedback.status_for_author(fb)
    return {
        "id": fb.id,
        "receipt_no": fb.receipt_no,
        "status": status,
        "status_label": FEEDBACK_STATUSES[status],
        "due_at": fb.due_at.isoformat(),
    }, 201 if created else 200


@endpoint(
    "/feedback/mine",
    "GET",
    summary="The caller's feedback with replies, status and due date",
    tag="public",
    roles=ANY_USER,
    query=PAGE_QUERY,
    response=page_of(),
    errors=(401,),
)
def my_feedback(user, query):
    items, total = feedback.mine(db.session, user, query["page"], query["per_page"])
    ids = [f.id for f in items]
    replies, pics = feedback.replies_of(db.session, ids), feedback.photos_of(db.session, ids)
    return {
        "items": [serialize.feedback_for_author(f, replies[f.id], pics[f.id]) for f in items],
        "page": query["page"],
        "per_page": query["per_page"],
        "total": total,
    }


# ---- random inspection rounds (双随机) -------------------------------------------------------

ROUND_SUMMARY = obj(
    {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "status": {"type": "string"},
        "status_label": {"type": "string"},
        "input_hash": {"type": ["string", "null"]},
        "frozen_at": {"type": ["string", "null"]},
        "drawn_at": {"type": ["string", "null"]},
        "closed_at": {"type": ["string", "null"]},
        "counts": {"type": "object"},
        "public_value_source": {
            "type": ["object", "null"],
            "description": "{description, date}: where the public value comes from and the day it "
            "is published, fixed (and hashed) at freeze; null for older rounds",
        },
        "public_value": {"type": ["string", "null"]},
        "record": {"type": ["object", "null"], "description": "the full record, only once the round is closed"},
        "recusals": {
            "type": ["array", "null"],
            "items": {"type": "object"},
            "description": "once closed: the declared conflicts the draw applied, as {team, scope, sites, text}; "
            "no person, relative or note is named",
        },
    }
)


@endpoint(
    "/public/rounds",
    "GET",
    summary="Published random inspection rounds: input hashes and counts",
    tag="public",
    auth=False,
    response=obj({"items": {"type": "array", "items": ROUND_SUMMARY}}),
)
def public_rounds():
    return {"items": [{**rounds.public_summary(r), "record": None} for r in rounds.public_rounds(db.session)]}


@endpoint(
    "/public/rounds/<int:round_id>",
    "GET",
    summary="A round's input hash published before the draw; no villages named until it closes",
    tag="public",
    auth=False,
    response=ROUND_SUMMARY,
    errors=(404,),
)
def public_round(round_id):
    return rounds.public_summary(rounds.public_round(db.session, round_id))


@endpoint(
    "/public/rounds/<int:round_id>/record",
    "GET",
    summary="A closed round's full draw record, to replay with scripts/verify_draw.py",
    tag="public",
    auth=False,
    errors=(404, 409),
    response=obj(
        {
            "format": {"type": "string"},
            "inputs": {"type": "object"},
            "input_hash": {"type": "string"},
            "public_value": {"type": "string"},
            "seed": {"type": "string"},
            "result": {"type": "object"},
        }
    ),
)
def public_round_record(round_id):
    r = rounds.public_round(db.session, round_id)
    if r.status != "closed":
        raise ApiError("conflict", "该轮次尚未结束,完整抽取记录在结束后公布", {"status": r.status})
    return rounds.record(r)
