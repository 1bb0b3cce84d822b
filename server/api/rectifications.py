"""The secretary's side of rectification orders: read own orders, upload photos, respond."""

from __future__ import annotations

from typing import Any

from server.api import endpoint, serialize
from server.api.photos import ticket_answer
from server.api.schemas import (
    CLIENT_ID,
    ID,
    PAGE_QUERY,
    SENT_AT,
    TIMESTAMP,
    obj,
    page_of,
    photo_ticket,
)
from server.db import db
from server.models import RECTIFICATION_STATUSES, RectificationOrder
from server.services import photos, rectification

SECRETARY = ("secretary",)


def order_json(order: RectificationOrder, context: dict[str, dict[int, Any]], photo_rows=None) -> dict[str, Any]:
    """An order as its secretary reads it: findings, deadline, status, reply; no visit, no interviews."""
    project = context["projects"].get(order.project_id)
    township = context["townships"].get(order.township_id)
    out = {
        "id": order.id,
        "items": order.items,
        "deadline": order.deadline.isoformat(),
        "status": order.status,
        "status_label": RECTIFICATION_STATUSES[order.status],
        "overdue": rectification.is_overdue(order),
        "days_overdue": rectification.days_overdue(order),
        # allow_album: the reply's photos may come from the album (the project's policy; camera by default).
        "project": (
            {"id": project.id, "title": project.title, "allow_album": project.allow_album} if project else None
        ),
        "organization": (
            {"id": project.organization.id, "name": project.organization.name}
            if project and project.organization
            else None
        ),
        "township": township.name if township else None,
        "issued_at": order.issued_at.isoformat(),
        "response": None,
        "verified_at": order.verified_at.isoformat() if order.verified_at else None,
        "closed_at": order.closed_at.isoformat() if order.closed_at else None,
        "note": order.note,
    }
    if order.responded_at is not None:
        out["response"] = {
            "text": order.response_text,
            "responded_at": order.responded_at.isoformat(),
            "photos": None
            if photo_rows is None
            else [{"id": p.id, **{k: serialize.absolute(v) for k, v in photos.urls(p).items()}} for p in photo_rows],
        }
    return out


ORDER = obj(
    {
        "id": {"type": "integer"},
        "items": {"type": "array", "items": {"type": "string"}},
        "deadline": {"type": "string", "format": "date"},
        "status": {"type": "string", "enum": list(RECTIFICATION_STATUSES)},
        "status_label": {"type": "string"},
        "overdue": {"type": "boolean"},
        "days_overdue": {"type": "integer"},
        "project": {
            "type": ["object", "null"],
            "properties": {
                "id": {"type": "integer"},
                "title": {"type": "string"},
                "allow_album": {
                    "type": "boolean",
                    "description": "the reply's photos may come from the album; false: the camera only",
                },
            },
        },
        "organization": {"type": ["object", "null"]},
        "township": {"type": ["string", "null"]},
        "issued_at": TIMESTAMP,
        "response": {"type": ["object", "null"]},
        "verified_at": {"type": ["string", "null"]},
        "closed_at": {"type": ["string", "null"]},
        "note": {"type": ["string", "null"]},
    }
)


@endpoint(
    "/rectifications",
    "GET",
    summary="Rectification orders of the projects the caller is secretary of",
    tag="rectification",
    roles=SECRETARY,
    query={
        **PAGE_QUERY,
        "status": {"type": "string", "enum": list(RECTIFICATION_STATUSES)},
        "overdue": {"type": "integer", "enum": [0, 1], "default": 0},
    },
    response={
        **page_of(ORDER),
        "properties": {
            **page_of(ORDER)["properties"],
            "counts": {
                "type": "object",
                "description": "orders per status, overdue ones and the total, in the caller's scope",
                "additionalProperties": {"type": "integer"},
            },
        },
    },
    errors=(400, 401, 403),
)
def list_rectifications(user, query):
    filters = {k: query[k] for k in ("status", "overdue") if query.get(k)}
    orders, total = rectification.list_orders(db.session, user, filters, query["page"], query["per_page"])
    context = rectification.context_of(db.session, orders)
    return {
        "items": [order_json(o, context) for o in orders],
        "page": query["page"],
        "per_page": query["per_page"],
        "total": total,
        "counts": rectification.counts(db.session, user),
    }


@endpoint(
    "/rectifications/<int:order_id>",
    "GET",
    summary="One rectification order with the reply and its photos",
    tag="rectification",
    roles=SECRETARY,
    response=ORDER,
    errors=(401, 403, 404),
)
def get_rectification(user, order_id):
    order = rectification.order_for(db.session, user, order_id)
    return order_json(
        order, rectification.context_of(db.session, [order]), rectification.photos_of(db.session, order.id)
    )


@endpoint(
    "/rectifications/photos",
    "POST",
    summary="Ticket for a photo to attach to a rectification reply (same pipeline as visits)",
    tag="rectification",
    roles=SECRETARY,
    body=photo_ticket(capture=True, dependentRequired={"lat": ["lng"], "lng": ["lat"]}),
    status=201,
    errors=(400, 401, 403, 409, 413),
)
def rectification_photo(user, body):
    photo, created = rectification.request_photo(db.session, user, body)
    return ticket_answer(photo, created)


@endpoint(
    "/rectifications/<int:order_id>/response",
    "POST",
    summary="The secretary's reply: what was done, with photos; once per client_id",
    tag="rectification",
    roles=SECRETARY,
    body=obj(
        {
            "client_id": CLIENT_ID,
            "sent_at": SENT_AT,
            "text": {"type": "string", "minLength": 1, "maxLength": 5000},
            "photo_ids": {"type": "array", "items": ID, "maxItems": 9, "uniqueItems": True},
        },
        ("client_id", "sent_at", "text"),
    ),
    status=201,
    response=ORDER,
    errors=(400, 401, 403, 404, 409, 422),
)
def respond_rectification(user, body, order_id):
    order, created = rectification.respond(db.session, user, order_id, body)
    return order_json(
        order, rectification.context_of(db.session, [order]), rectification.photos_of(db.session, order.id)
    ), 201 if created else 200
