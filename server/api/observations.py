"""观摩 events (route, participants, on-site scores, ranking, photos per stop, close into observations)
and 中期互评 rounds between party organizations."""

from __future__ import annotations

from datetime import date
from typing import Any

from server.api import endpoint
from server.api.photos import ticket_answer
from server.api.schemas import DATE, ID, IDS, obj, photo_ticket
from server.db import db
from server.errors import ApiError
from server.models import OBSERVATION_KINDS, ObservationEvent, PeerReviewRound, User
from server.services import observations, peer_review

STAFF = ("admin", "leader", "reviewer")
ADMIN = ("admin",)
STOP = obj(
    {
        "project_id": ID,
        "planned_at": {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "description": "09:30"},
    },
    ("project_id",),
)
OUTSIDER = obj(
    {
        "name": {"type": "string", "minLength": 1, "maxLength": 64},
        "post": {"type": "string", "maxLength": 64, "description": "职务, e.g. 乡镇党委书记"},
        "scoring": {"type": "boolean", "default": True},
    },
    ("name",),
)
EVENT_BODY = obj(
    {
        "kind": {
            "type": "string",
            "enum": list(OBSERVATION_KINDS),
            "description": "quarterly 季度观摩, monthly 月度观摩",
        },
        "title": {"type": "string", "minLength": 1, "maxLength": 200},
        "held_on": DATE,
        "stops": {"type": "array", "items": STOP, "minItems": 1, "maxItems": observations.MAX_STOPS},
        "participant_ids": {**IDS, "description": "staff accounts taking part (each scores)"},
        "outside": {"type": "array", "items": OUTSIDER, "maxItems": observations.MAX_PARTICIPANTS},
    },
    ("kind", "title", "held_on", "stops"),
)
EVENT = {"type": "object", "description": "an event with its route, participants and (once scored) ranking"}


def _event_input(body: dict[str, Any]) -> dict[str, Any]:
    try:
        held_on = date.fromisoformat(body["held_on"])
    except ValueError:
        raise ApiError("validation_failed", "日期格式应为 2026-05-31", {"field": "held_on"}) from None
    return {**body, "held_on": held_on}


def event_json(user: User, event: ObservationEvent, *, detail: bool = False) -> dict[str, Any]:
    """An event as the API answers it; with detail its route, participants, scores and ranking."""
    out: dict[str, Any] = {
        "id": event.id,
        "kind": event.kind,
        "kind_label": OBSERVATION_KINDS[event.kind],
        "title": event.title,
        "held_on": event.held_on.isoformat(),
        "status": event.status,
    }
    if not detail:
        return out
    s = db.session
    placings = {p.stop.id: p for p in observations.ranking(s, event)}
    pics = observations.photos_by_stop(s, event.id)
    out["stops"] = [
        {
            "id": st.id,
            "position": st.position,
            "project_id": st.project_id,
            "project_title": placings[st.id].project.title,
            "planned_at": st.planned_at,
            "photo_ids": [p.id for p in pics[st.id]],
        }
        for st in observations.stops_of(s, event.id)
    ]
    out["participants"] = [
        {"id": p.id, "user_id": p.user_id, "name": p.name, "post": p.post, "scoring": p.scoring}
        for p in observations.participants_of(s, event.id)
    ]
    sheets = {p.id for p in observations.sheets_for(s, user, event)}
    out["my_sheets"] = sorted(sheets)
    out["scores"] = [
        {"stop_id": sc.stop_id, "participant_id": sc.participant_id, "score": sc.score, "remark": sc.remark}
        for sc in observations.scores_of(s, event.id)
        # Everyone sees their own sheet; the others' scores once the event is closed, or by staff who run it.
        if sc.participant_id in sheets or event.status == "closed" or user.has_role("admin", "leader")
    ]
    out["ranking"] = ranking_json(s, event)
    out["observation_ids"] = [o.id for o in observations.observations_from(s, event.id)]
    return out


def ranking_json(session, event: ObservationEvent) -> dict[str, Any]:
    """The ranking with the rule that broke ties and, per stop, why it stands where it does."""
    return {
        "tie_rule": observations.TIE_RULE,
        "items": [
            {
                "rank": p.rank,
                "stop_id": p.stop.id,
                "project_id": p.project.id,
                "project_title": p.project.title,
                "mean": p.mean_text if p.scores else None,
                "lowest": p.lowest,
                "scores": len(p.scores),
                "rating": observations.rating_for(p.mean) if p.scores else None,
                "tie_note": p.tie_note,
            }
            for p in observations.ranking(session, event)
        ],
    }


@endpoint(
    "/observation-events",
    "GET",
    summary="观摩 events the caller may see (staff; a reviewer those touching their townships)",
    tag="observations",
    roles=STAFF,
    response=obj({"items": {"type": "array", "items": EVENT}}),
    errors=(401, 403),
)
def list_events(user):
    return {"items": [event_json(user, e) for e in observations.list_events(db.session, user)]}


@endpoint(
    "/observation-events",
    "POST",
    summary="Plan a 观摩 event: kind, title, day, route (projects in order with planned times), participants",
    tag="observations",
    roles=ADMIN,
    body=EVENT_BODY,
    status=201,
    response=EVENT,
    errors=(400, 401, 403, 404),
)
def create_event(user, body):
    event = observations.create_event(db.session, user, _event_input(body))
    return event_json(user, event, detail=True), 201


@endpoint(
    "/observation-events/<int:event_id>",
    "GET",
    summary="One 观摩 event: route, participants, scores the caller may see, ranking, observations",
    tag="observations",
    roles=STAFF,
    response=EVENT,
    errors=(401, 403, 404),
)
def get_event(user, event_id):
    return event_json(user, observations.get_event(db.session, user, event_id), detail=True)


@endpoint(
    "/observation-events/<int:event_id>",
    "PUT",
    summary="Change a planned event (route and participants included)",
    tag="observations",
    roles=ADMIN,
    body=EVENT_BODY,
    response=EVENT,
    errors=(400, 401, 403, 404, 409),
)
def update_event(user, body, event_id):
    event = observations.update_event(db.session, user, event_id, _event_input(body))
    return event_json(user, event, detail=True)


@endpoint(
    "/observation-events/<int:event_id>/start",
    "POST",
    summary="The event is under way: scores and photos may be entered",
    tag="observations",
    roles=ADMIN,
    response=EVENT,
    errors=(401, 403, 404, 409),
)
def start_event(user, event_id):
    return event_json(user, observations.start_event(db.session, user, event_id), detail=True)


@endpoint(
    "/observation-events/<int:event_id>/close",
    "POST",
    summary="Close the event: scores locked, one observation per scored project (idempotent)",
    tag="observations",
    roles=ADMIN,
    response=EVENT,
    errors=(401, 403, 404, 409),
)
def close_event(user, event_id):
    return event_json(user, observations.close_event(db.session, user, event_id), detail=True)


@endpoint(
    "/observation-events/<int:event_id>/scores",
    "PUT",
    summary="Enter or change scores (0–100 and a remark) of stops: the caller's own sheet, or an outside "
    "participant's (admins)",
    tag="observations",
    roles=STAFF,
    body=obj(
        {
            "participant_id": {**ID, "description": "omit for the caller's own sheet"},
            "scores": {
                "type": "array",
                "maxItems": observations.MAX_STOPS,
                "items": obj(
                    {
                        "stop_id": ID,
                        "score": {"type": ["integer", "null"], "minimum": 0, "maximum": 100},
                        "remark": {"type": "string", "maxLength": 2000},
                    },
                    ("stop_id", "score"),
                ),
            },
        },
        ("scores",),
    ),
    response=EVENT,
    errors=(400, 401, 403, 404, 409),
)
def save_scores(user, body, event_id):
    observations.save_scores(db.session, user, event_id, body.get("participant_id"), body["scores"])
    return event_json(user, observations.get_event(db.session, user, event_id), detail=True)


@endpoint(
    "/observation-events/<int:event_id>/ranking",
    "GET",
    summary="The ranking by mean score, with how ties were broken",
    tag="observations",
    roles=STAFF,
    response=obj({"tie_rule": {"type": "string"}, "items": {"type": "array"}}),
    errors=(401, 403, 404),
)
def event_ranking(user, event_id):
    return ranking_json(db.session, observations.get_event(db.session, user, event_id))


@endpoint(
    "/observation-events/<int:event_id>/stops/<int:stop_id>/photos",
    "POST",
    summary="Ticket for a photo of a stop (same pipeline as visits), by a participant while under way",
    tag="observations",
    roles=STAFF,
    body=photo_ticket(capture=True, dependentRequired={"lat": ["lng"], "lng": ["lat"]}),
    status=201,
    errors=(400, 401, 403, 404, 409, 413),
)
def stop_photo(user, body, event_id, stop_id):
    photo, created = observations.request_photo(db.session, user, event_id, stop_id, body)
    return ticket_answer(photo, created)


# ---- 中期互评 ------------------------------------------------------------------------------------

PEER = ("admin", "leader", "secretary")


def round_json(
    user: User, rnd: PeerReviewRound, *, detail: bool = False, organization_id: int | None = None
) -> dict[str, Any]:
    """A round; with detail the results and reminders (staff) or the secretary's own sheet."""
    s = db.session
    out: dict[str, Any] = {
        "id": rnd.id,
        "year": rnd.year,
        "title": rnd.title,
        "criteria": rnd.criteria,
        "status": rnd.status,
        "organization_ids": peer_review.member_ids(s, rnd.id),
    }
    if not detail:
        return out
    if user.has_role("admin", "leader"):
        out["tie_rule"] = peer_review.TIE_RULE
        out["results"] = [
            {
                "rank": r.rank,
                "project_id": r.project.id,
                "title": r.project.title,
                "mean": r.mean_text,
                "scores": len(r.totals),
            }
            for r in peer_review.results(s, rnd)
        ]
        out["pending"] = [
            {
                "organization_id": p.organization.id,
                "organization": p.organization.name,
                "missing_project_ids": [m.id for m in p.missing],
                "secretaries": [u.name for u in p.secretaries],
            }
            for p in peer_review.reminders(s, rnd)
        ]
    else:
        out["sheet"] = [
            {
                "project_id": row["project"].id,
                "title": row["project"].title,
                "scores": row["score"].scores if row["score"] else None,
                "comment": row["score"].comment if row["score"] else "",
            }
            for row in peer_review.sheet(s, user, rnd, organization_id)
        ]
    return out


@endpoint(
    "/peer-reviews",
    "GET",
    summary="中期互评 rounds the caller may see (a secretary: those of their organizations)",
    tag="peer_review",
    roles=PEER,
    response=obj({"items": {"type": "array"}}),
    errors=(401, 403),
)
def list_peer_reviews(user):
    return {"items": [round_json(user, r) for r in peer_review.list_rounds(db.session, user)]}


@endpoint(
    "/peer-reviews",
    "POST",
    summary="Open a 中期互评 round for a year with the participating organizations and criteria (1–10 each)",
    tag="peer_review",
    roles=ADMIN,
    body=obj(
        {
            "year": {"type": "integer", "minimum": 2000, "maximum": 2100},
            "title": {"type": "string", "maxLength": 200},
            "organization_ids": {**IDS, "minItems": 2},
            "criteria": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 20}, "maxItems": 8},
        },
        ("year", "organization_ids"),
    ),
    status=201,
    errors=(400, 401, 403, 404),
)
def create_peer_review(user, body):
    return round_json(user, peer_review.create_round(db.session, user, body), detail=True), 201


@endpoint(
    "/peer-reviews/<int:review_id>",
    "GET",
    summary="One round: results, ranking and who has not scored (staff), or the secretary's own sheet",
    tag="peer_review",
    roles=PEER,
    query={"organization_id": {**ID, "description": "the organization a secretary of several scores for"}},
    errors=(400, 401, 403, 404),
)
def get_peer_review(user, query, review_id):
    rnd = peer_review.get_round(db.session, user, review_id)
    return round_json(user, rnd, detail=True, organization_id=query.get("organization_id"))


@endpoint(
    "/peer-reviews/<int:review_id>/projects/<int:project_id>/score",
    "PUT",
    summary="The secretary's organization scores another organization's project (never its own)",
    tag="peer_review",
    roles=("secretary",),
    body=obj(
        {
            "organization_id": {**ID, "description": "needed only by a secretary of several participants"},
            "scores": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 1, "maximum": 10},
                "maxProperties": 8,
            },
            "comment": {"type": "string", "maxLength": 2000},
        },
        ("scores",),
    ),
    errors=(400, 401, 403, 404, 409),
)
def score_peer_project(user, body, review_id, project_id):
    row = peer_review.save_score(db.session, user, review_id, project_id, body)
    return {
        "project_id": row.project_id,
        "organization_id": row.organization_id,
        "scores": row.scores,
        "comment": row.comment,
    }


@endpoint(
    "/peer-reviews/<int:review_id>/close",
    "POST",
    summary="Close the round: scores locked (idempotent)",
    tag="peer_review",
    roles=ADMIN,
    errors=(401, 403, 404),
)
def close_peer_review(user, review_id):
    return round_json(user, peer_review.close_round(db.session, user, review_id), detail=True)
