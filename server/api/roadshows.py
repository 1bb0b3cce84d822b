"""路演评审 over JSON: the roadshows a caller may see, an expert's live sheets, the results, the host's moves.

The same service as the console's pages (services.grading.roadshow): an expert sees only the
roadshows they sit on (others are 404) and only their own sheets; results show a speaker's
score once every expert has finalized or the host has closed the speaker.
"""

from __future__ import annotations

from typing import Any

from server.api import endpoint
from server.api.schemas import TIMESTAMP, obj
from server.db import db
from server.models import ROADSHOW_STATUSES, SPEAKER_STATUSES, Roadshow, RoadshowSheet, User
from server.services import grading
from server.services.grading import roadshow

VIEWERS = ("admin", "leader", "expert")
HOST = ("admin",)
EXPERT = ("expert",)
TAG = "roadshow"

NULLABLE_SCORE = {"type": ["string", "null"], "description": "two decimals, e.g. 86.20"}
SPEAKER_RESULT = obj(
    {
        "id": {"type": "integer"},
        "position": {"type": "integer"},
        "project_id": {"type": "integer"},
        "title": {"type": "string"},
        "status": {"type": "string", "enum": list(SPEAKER_STATUSES)},
        "status_label": {"type": "string"},
        "panel": {"type": "integer", "description": "experts on the panel"},
        "finalized": {"type": "integer", "description": "experts who have finalized their sheet"},
        "shown": {"type": "boolean", "description": "every expert finalized, or the host closed the speaker"},
        "score": {
            **NULLABLE_SCORE,
            "description": "the session's rule on the finalized sheets (drop-high-low when the session says so); "
            "null until shown or with too few sheets",
        },
        "expert_totals": {"type": "array", "items": {"type": "string"}, "description": "best first, no names"},
        "rank": {"type": ["integer", "null"]},
    }
)
RESULTS = obj(
    {
        "id": {"type": "integer"},
        "title": {"type": "string"},
        "status": {"type": "string", "enum": list(ROADSHOW_STATUSES)},
        "current_speaker_id": {"type": ["integer", "null"]},
        "speakers": {"type": "array", "items": SPEAKER_RESULT},
        "ranking": {"type": "array", "items": SPEAKER_RESULT, "description": "shown scores, best first"},
    }
)
SUMMARY = {
    "id": {"type": "integer"},
    "session_id": {"type": "integer"},
    "title": {"type": "string"},
    "held_on": {"type": "string", "format": "date"},
    "venue": {"type": "string"},
    "status": {"type": "string", "enum": list(ROADSHOW_STATUSES)},
    "current_speaker_id": {"type": ["integer", "null"]},
}
SHEET = obj(
    {
        "id": {"type": "integer"},
        "speaker_id": {"type": "integer"},
        "scores": {
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "criterion key → score",
        },
        "comment": {"type": "string"},
        "saved_at": TIMESTAMP,
        "finalized_at": {"type": ["string", "null"], "format": "date-time"},
        "total": {**NULLABLE_SCORE, "description": "weighted total once every criterion is scored"},
    }
)
DETAIL = obj(
    {
        **SUMMARY,
        "criteria": {
            "type": "array",
            "items": obj({"key": {"type": "string"}, "name": {"type": "string"}, "weight": {"type": "integer"}}),
        },
        "drop_extremes": {"type": "boolean"},
        "speakers": {
            "type": "array",
            "items": obj(
                {
                    "id": {"type": "integer"},
                    "position": {"type": "integer"},
                    "project_id": {"type": "integer"},
                    "title": {"type": "string"},
                    "status": {"type": "string", "enum": list(SPEAKER_STATUSES)},
                }
            ),
        },
        "my_sheets": {"type": "array", "items": SHEET, "description": "the caller's own sheets (experts)"},
    }
)
SCORE_VALUE = {
    "type": ["string", "number", "null"],
    "maxLength": 16,
    "description": "0–100, at most one decimal; empty: unscored",
}
SHEET_BODY = obj(
    {
        "scores": {"type": "object", "additionalProperties": SCORE_VALUE, "maxProperties": 12},
        "comment": {"type": "string", "maxLength": 2000},
    },
    ("scores",),
)


def summary_json(rs: Roadshow) -> dict[str, Any]:
    """A roadshow as listed."""
    return {
        "id": rs.id,
        "session_id": rs.session_id,
        "title": rs.title,
        "held_on": rs.held_on.isoformat(),
        "venue": rs.venue,
        "status": rs.status,
        "current_speaker_id": rs.current_speaker_id,
    }


def sheet_json(sheet: RoadshowSheet, criteria: list[dict[str, Any]]) -> dict[str, Any]:
    """An expert's own sheet; scores as typed (one decimal at most)."""
    complete = all(c["key"] in sheet.scores for c in criteria)
    return {
        "id": sheet.id,
        "speaker_id": sheet.speaker_id,
        "scores": {k: f"{v / 10:g}" for k, v in sheet.scores.items()},
        "comment": sheet.comment,
        "saved_at": sheet.saved_at.isoformat(),
        "finalized_at": sheet.finalized_at.isoformat() if sheet.finalized_at else None,
        "total": grading.format_score(grading.expert_total_milli(sheet.scores, criteria), 1000) if complete else None,
    }


@endpoint(
    "/roadshows",
    "GET",
    summary="Roadshows the caller may see: all for admins and leaders, the panels an expert sits on",
    tag=TAG,
    roles=VIEWERS,
    response=obj({"items": {"type": "array", "items": obj(SUMMARY)}}),
    errors=(401, 403),
)
def list_roadshows(user: User):
    return {"items": [summary_json(rs) for rs in roadshow.list_roadshows(db.session, user)]}


@endpoint(
    "/roadshows/<int:roadshow_id>",
    "GET",
    summary="One roadshow: criteria, order of speakers, who is up, and the caller's own sheets",
    tag=TAG,
    roles=VIEWERS,
    response=DETAIL,
    errors=(401, 403, 404),
)
def get_roadshow(user: User, roadshow_id: int):
    rs = roadshow.get_roadshow(db.session, user, roadshow_id)
    gs = grading.get_session(db.session, rs.session_id)
    speakers = roadshow.speakers_of(db.session, rs)
    entries = roadshow.entries_by_id(db.session, speakers)
    mine = [sh for s in speakers if (sh := roadshow.own_sheet(db.session, user, s)) is not None]
    return {
        **summary_json(rs),
        "criteria": gs.criteria,
        "drop_extremes": gs.drop_extremes,
        "speakers": [
            {
                "id": s.id,
                "position": s.position,
                "project_id": entries[s.entry_id].project_id,
                "title": entries[s.entry_id].project.title,
                "status": s.status,
            }
            for s in speakers
        ],
        "my_sheets": [sheet_json(sh, gs.criteria) for sh in mine],
    }


@endpoint(
    "/roadshows/<int:roadshow_id>/results",
    "GET",
    summary="The hall screen's results: each speaker's score once finalized, and the ranking so far",
    tag=TAG,
    roles=VIEWERS,
    response=RESULTS,
    errors=(401, 403, 404),
)
def roadshow_results(user: User, roadshow_id: int):
    rs = roadshow.get_roadshow(db.session, user, roadshow_id)
    return roadshow.results_payload(db.session, rs)


def _sheet_answer(sheet: RoadshowSheet, roadshow_id: int, user: User) -> dict[str, Any]:
    rs = roadshow.get_roadshow(db.session, user, roadshow_id)
    return sheet_json(sheet, grading.get_session(db.session, rs.session_id).criteria)


@endpoint(
    "/roadshows/<int:roadshow_id>/speakers/<int:speaker_id>/sheet",
    "PUT",
    summary="Save the expert's scores of the speaker who is up (blank ones stay unscored); 409 once finalized",
    tag=TAG,
    roles=EXPERT,
    body=SHEET_BODY,
    response=SHEET,
    errors=(400, 401, 403, 404, 409),
)
def save_sheet(user: User, body: dict[str, Any], roadshow_id: int, speaker_id: int):
    sheet = roadshow.save_sheet(db.session, user, roadshow_id, speaker_id, body["scores"], body.get("comment", ""))
    return _sheet_answer(sheet, roadshow_id, user)


@endpoint(
    "/roadshows/<int:roadshow_id>/speakers/<int:speaker_id>/sheet/finalize",
    "POST",
    summary="Score every criterion and lock the sheet: it counts in the result and can no longer change",
    tag=TAG,
    roles=EXPERT,
    body=SHEET_BODY,
    response=SHEET,
    errors=(400, 401, 403, 404, 409),
)
def finalize_sheet(user: User, body: dict[str, Any], roadshow_id: int, speaker_id: int):
    sheet = roadshow.finalize_sheet(db.session, user, roadshow_id, speaker_id, body["scores"], body.get("comment", ""))
    return _sheet_answer(sheet, roadshow_id, user)


@endpoint(
    "/roadshows/<int:roadshow_id>/advance",
    "POST",
    summary="The host puts the next speaker up (the one before stays open until closed)",
    tag=TAG,
    roles=HOST,
    response=RESULTS,
    errors=(401, 403, 404, 409),
)
def advance(user: User, roadshow_id: int):
    roadshow.advance(db.session, user, roadshow_id)
    return roadshow.results_payload(db.session, roadshow.get_roadshow(db.session, user, roadshow_id))


@endpoint(
    "/roadshows/<int:roadshow_id>/speakers/<int:speaker_id>/close",
    "POST",
    summary="The host closes a speaker's scoring: its result shows with the sheets finalized so far",
    tag=TAG,
    roles=HOST,
    response=RESULTS,
    errors=(401, 403, 404, 409),
)
def close_speaker(user: User, roadshow_id: int, speaker_id: int):
    roadshow.close_speaker(db.session, user, roadshow_id, speaker_id)
    return roadshow.results_payload(db.session, roadshow.get_roadshow(db.session, user, roadshow_id))


@endpoint(
    "/roadshows/<int:roadshow_id>/end",
    "POST",
    summary="The host ends the roadshow: every speaker still open is closed",
    tag=TAG,
    roles=HOST,
    response=RESULTS,
    errors=(401, 403, 404, 409),
)
def end_roadshow(user: User, roadshow_id: int):
    roadshow.end(db.session, user, roadshow_id)
    return roadshow.results_payload(db.session, roadshow.get_roadshow(db.session, user, roadshow_id))


@endpoint(
    "/roadshows/<int:roadshow_id>/copy-to-grading",
    "POST",
    summary="Copy an ended roadshow's finalized sheets into its grading session's panels (idempotent)",
    tag=TAG,
    roles=HOST,
    response=obj(
        {
            "projects": {"type": "integer", "description": "speakers with a score, copied"},
            "seats_created": {"type": "integer"},
            "seats_changed": {"type": "integer", "description": "0 when run again with nothing new"},
            "skipped": {"type": "array", "items": {"type": "string"}, "description": "speakers without a score"},
        }
    ),
    errors=(401, 403, 404, 409),
)
def copy_to_grading(user: User, roadshow_id: int):
    report = roadshow.copy_to_grading(db.session, user, roadshow_id)
    return {
        "projects": report.projects,
        "seats_created": report.seats_created,
        "seats_changed": report.seats_changed,
        "skipped": report.skipped,
    }
