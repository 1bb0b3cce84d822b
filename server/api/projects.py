"""Project lifecycle for phones and the console alike: applications, review moves, monthly reports,
observations, acceptance, and the secretary's workspace (my projects, feedback about them)."""

from __future__ import annotations

from datetime import date
from typing import Any

from server import clock
from server.api import endpoint, serialize
from server.api.photos import ticket_answer
from server.api.schemas import (
    CLIENT_ID,
    DATE,
    ID,
    IDS,
    PAGE_QUERY,
    SENT_AT,
    obj,
    page_of,
    photo_ticket,
)
from server.db import db
from server.errors import ApiError
from server.models import (
    ACCEPTANCE_RATINGS,
    CATEGORIES,
    DOMAINS,
    OBSERVATION_RATINGS,
    PROJECT_LEVELS,
    PROJECT_STATUSES,
    REPORT_STATUSES,
    SELECTIONS,
    Project,
    ProjectReport,
    User,
)
from server.services import feedback, lifecycle, photos, reports, users, workspace

READERS = ("admin", "leader", "reviewer", "unit_reviewer", "secretary")
SECRETARY = ("secretary",)
STEP = obj(
    {
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "deadline": DATE,
        "responsible": {"type": "string", "maxLength": 200},
        "status": {"type": "string", "maxLength": 50},
    },
    ("name",),
)
APPLICATION = {
    "title": {"type": "string", "minLength": 1, "maxLength": 200},
    "year": {"type": "integer", "minimum": 2000, "maximum": 2100},
    "organization_id": {"type": ["integer", "null"], "minimum": 1},
    "domain": {"type": "string", "enum": list(DOMAINS)},
    "selection": {"type": "string", "enum": list(SELECTIONS), "description": "必选 or 自选"},
    "category": {"type": "string", "enum": list(CATEGORIES), "description": "常规性, 重点性 or 创新性"},
    "problem": {"type": "string", "maxLength": 5000, "description": "the problem the project solves"},
    "targets": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 500}, "maxItems": 50},
    "steps": {"type": "array", "items": STEP, "maxItems": 50, "description": "steps and milestones with dates"},
    "responsible": obj(
        {role: {"type": "string", "maxLength": 200} for role in lifecycle.RESPONSIBLE_ROLES},
        description="四个一: 主管领导, 牵头书记, 联系组工干部, 工作队伍",
    ),
    "village_ids": {**IDS, "minItems": 1},
    "site": obj({"id": ID}, ("id",)),
}
ALLOW_ALBUM = {
    "type": "boolean",
    "description": "the project's photos (report, rectification, feedback) may "
    "come from the album; false: the camera only",
}
PROJECT = obj(
    {
        "id": {"type": "integer"},
        "status": {"type": "string", "enum": list(PROJECT_STATUSES)},
        "status_label": {"type": "string"},
        "allow_album": ALLOW_ALBUM,
        "actions": {"type": "array", "items": {"type": "string"}},
    },
    additionalProperties=True,
)
REPORT = obj(
    {
        "id": {"type": "integer"},
        "month": {"type": "string"},
        "status": {"type": "string"},
        "text": {"type": "string"},
        "photos": {"type": "array"},
    },
    additionalProperties=True,
)


# ---- serializers ------------------------------------------------------------------------------


def _date(value: date | None) -> str | None:
    return value.isoformat() if value else None


def project_json(user: User, p: Project, *, detail: bool = False, summary: dict | None = None) -> dict[str, Any]:
    """A project as the lifecycle shows it: application fields, status and the moves the caller may make."""
    out: dict[str, Any] = {
        "id": p.id,
        "title": p.title,
        "year": p.year,
        "domain": p.domain,
        "selection": p.selection,
        "category": p.category,
        "level": p.level,
        "level_label": PROJECT_LEVELS.get(p.level or "", "未定级"),
        "status": p.status,
        "status_label": PROJECT_STATUSES[p.status],
        "organization": {"id": p.organization.id, "name": p.organization.name} if p.organization else None,
        "places": [{"kind": "village", "id": v.id, "name": v.name} for v in p.villages]
        + ([{"kind": "site", "id": p.site.id, "name": p.site.name}] if p.site else []),
        "submitted_at": serialize.iso(p.submitted_at),
        "decided_at": serialize.iso(p.decided_at),
        "started_at": serialize.iso(p.started_at),
        "accepted_at": serialize.iso(p.accepted_at),
        "actions": lifecycle.allowed_actions(user, p),
        "editable": p.status == "draft" and (p.applicant_id == user.id or user.has_role("admin")),
        "allow_album": p.allow_album,
    }
    if summary is not None:
        out.update(summary)
    if detail:
        out.update(
            problem=p.problem,
            targets=p.targets or [],
            steps=p.steps or [],
            responsible=p.responsible or {},
            missing=lifecycle.missing_for_submit(p) if p.status == "draft" else [],
        )
        history = lifecycle.reviews_of(db.session, p.id)
        names = users.names_by_id(db.session, [r.actor_id for r in history])
        out["reviews"] = [
            {
                "action": r.action,
                "action_label": lifecycle.ACTION_LABELS.get(r.action, r.action),
                "from": r.from_status,
                "to": r.to_status,
                "opinion": r.opinion,
                "score": r.score,
                "by": names.get(r.actor_id, ""),
                "at": r.created_at.isoformat(),
            }
            for r in history
        ]
        out["observations"] = [
            {
                "id": o.id,
                "observed_on": o.observed_on.isoformat(),
                "quarter": o.quarter,
                "observers": o.observers,
                "rating": o.rating,
                "notes": o.notes,
                "event_id": o.event_id,  # the 观摩 event it came out of, or None when typed in
            }
            for o in lifecycle.observations_of(db.session, p.id)
        ]
        out["acceptances"] = [
            {
                "id": a.id,
                "accepted_on": a.accepted_on.isoformat(),
                "rating": a.rating,
                "passed": a.passed,
                "members": a.members,
                "opinion": a.opinion,
                "outcomes": a.outcomes,
            }
            for a in lifecycle.acceptances_of(db.session, p.id)
        ]
    return out


def report_json(r: ProjectReport, photo_rows) -> dict[str, Any]:
    """A monthly report with its photos' URLs."""
    return {
        "id": r.id,
        "project_id": r.project_id,
        "month": r.month,
        "text": r.text,
        "status": r.status,
        "status_label": REPORT_STATUSES[r.status],
        "due": reports.due_date(r.month).isoformat(),
        "submitted_at": serialize.iso(r.submitted_at),
        "photos": [
            {"id": ph.id, "status": ph.status, **{k: serialize.absolute(v) for k, v in photos.urls(ph).items()}}
            for ph in photo_rows
        ],
    }


# ---- applications and moves -------------------------------------------------------------------


@endpoint(
    "/projects/mine",
    "GET",
    summary="The secretary's workspace: my projects and applications, with this "
    "month's report, open rectification orders and waiting feedback",
    tag="lifecycle",
    roles=SECRETARY,
    response=obj({"items": {"type": "array", "items": PROJECT}}),
)
def my_projects(user):
    mine = workspace.my_projects(db.session, user)
    sums = workspace.summaries(db.session, user, mine)
    return {"items": [project_json(user, p, summary=sums[p.id]) for p in mine]}


@endpoint(
    "/projects/applications",
    "POST",
    summary="Start an application (申报表), saved as a draft; once per client_id",
    tag="lifecycle",
    roles=("secretary", "admin"),
    body=obj({"client_id": CLIENT_ID, "sent_at": SENT_AT, **APPLICATION}, ("client_id", "title", "year")),
    status=201,
    response=PROJECT,
    errors=(400, 401, 403, 404, 409),
)
def create_application(user, body):
    project, created = lifecycle.create_application(db.session, user, body)
    return project_json(user, project, detail=True), 201 if created else 200


@endpoint(
    "/projects/application-options",
    "GET",
    summary="What the caller's application form may name: own "
    "party organizations, and the villages and unit sites of their townships",
    tag="lifecycle",
    roles=("secretary",),
    response=obj({"organizations": {"type": "array"}, "villages": {"type": "array"}, "sites": {"type": "array"}}),
)
def application_options(user):
    return workspace.application_options(db.session, user)


@endpoint(
    "/projects/reviews",
    "GET",
    summary="Applications waiting for the caller: unit review (归口单位) or the department's decision",
    tag="lifecycle",
    roles=("admin", "unit_reviewer"),
    response=obj({"items": {"type": "array", "items": PROJECT}}),
)
def review_queue(user):
    return {"items": [project_json(user, p) for p in lifecycle.review_queue(db.session, user)]}


@endpoint(
    "/projects/<int:project_id>",
    "GET",
    summary="One project with its application, review history, observations and acceptance",
    tag="lifecycle",
    roles=READERS,
    response=PROJECT,
    errors=(401, 403, 404),
)
def get_project(user, project_id):
    return project_json(user, lifecycle.project_for(db.session, user, project_id), detail=True)


@endpoint(
    "/projects/<int:project_id>/application",
    "PATCH",
    summary="Edit a draft application (its applicant or an admin)",
    tag="lifecycle",
    roles=("secretary", "admin"),
    body=obj(APPLICATION),
    response=PROJECT,
    errors=(400, 401, 403, 404, 409),
)
def edit_application(user, body, project_id):
    return project_json(user, lifecycle.update_application(db.session, user, project_id, body), detail=True)


@endpoint(
    "/projects/<int:project_id>/transitions",
    "POST",
    summary="Move a project: submit, withdraw, "
    "unit_approve, return, approve, reject, start, close (illegal moves are 409)",
    tag="lifecycle",
    roles=("secretary", "unit_reviewer", "admin"),
    body=obj(
        {
            "client_id": CLIENT_ID,
            "sent_at": SENT_AT,
            "action": {"type": "string", "enum": list(lifecycle.MOVES)},
            "opinion": {"type": "string", "maxLength": 5000},
            "score": {
                "type": "integer",
                "minimum": 0,
                "maximum": 100,
                "description": "the department's pre-evaluation (approve only)",
            },
        },
        ("action",),
    ),
    response=PROJECT,
    errors=(400, 401, 403, 404, 409, 422),
)
def move_project(user, body, project_id):
    project, _ = lifecycle.transition(db.session, user, project_id, body["action"], body)
    return project_json(user, project, detail=True)


@endpoint(
    "/projects/<int:project_id>/observations",
    "POST",
    summary="Record a quarterly observation (观摩)",
    tag="lifecycle",
    roles=("admin", "reviewer"),
    body=obj(
        {
            "observed_on": DATE,
            "rating": {"type": "string", "enum": list(OBSERVATION_RATINGS)},
            "observers": {"type": "string", "maxLength": 500},
            "notes": {"type": "string", "maxLength": 5000},
        },
        ("observed_on", "rating"),
    ),
    status=201,
    errors=(400, 401, 403, 404, 409),
)
def add_observation(user, body, project_id):
    obs = lifecycle.add_observation(
        db.session, user, project_id, {**body, "observed_on": _parse_date(body["observed_on"], "observed_on")}
    )
    return {"id": obs.id, "quarter": obs.quarter, "rating": obs.rating}, 201


@endpoint(
    "/projects/<int:project_id>/acceptance",
    "POST",
    summary="Record the acceptance (验收); a pass moves the project to accepted",
    tag="lifecycle",
    roles=("admin",),
    body=obj(
        {
            "accepted_on": DATE,
            "rating": {"type": "string", "enum": list(ACCEPTANCE_RATINGS)},
            "members": {"type": "string", "maxLength": 500},
            "opinion": {"type": "string", "minLength": 1, "maxLength": 5000},
            "outcomes": {"type": "string", "maxLength": 5000},
        },
        ("accepted_on", "rating", "opinion"),
    ),
    status=201,
    response=PROJECT,
    errors=(400, 401, 403, 404, 409),
)
def accept_project(user, body, project_id):
    lifecycle.record_acceptance(
        db.session, user, project_id, {**body, "accepted_on": _parse_date(body["accepted_on"], "accepted_on")}
    )
    return project_json(user, lifecycle.project_for(db.session, user, project_id), detail=True), 201


def _parse_date(value: str, field: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError("validation_failed", "日期格式应为 2026-05-31", {"field": field}) from None


# ---- monthly reports --------------------------------------------------------------------------


@endpoint(
    "/projects/<int:project_id>/reports",
    "GET",
    summary="The project's monthly reports and where it stands (this month, overdue months)",
    tag="reports",
    roles=READERS,
    response=obj(
        {"items": {"type": "array", "items": REPORT}, "state": {"type": "object"}, "allow_album": ALLOW_ALBUM}
    ),
    errors=(401, 403, 404),
)
def list_reports(user, project_id):
    project = lifecycle.project_for(db.session, user, project_id)
    rows = reports.reports_of(db.session, project.id)
    pics = reports.photos_of(db.session, [r.id for r in rows])
    state = reports.report_state(db.session, project)
    return {
        "items": [report_json(r, pics[r.id]) for r in rows],
        "allow_album": project.allow_album,
        "state": {
            "month": state.current_month,
            "status": state.current_status,
            "due": state.current_due.isoformat() if state.current_due else None,
            "overdue_months": state.overdue_months,
            "months": reports.owed_months(project, clock.today()),
        },
    }


@endpoint(
    "/projects/<int:project_id>/reports/<month>",
    "PUT",
    summary="Save the report for a month (YYYY-MM); submit=true hands it in, after which it is final",
    tag="reports",
    roles=SECRETARY,
    body=obj(
        {
            "sent_at": SENT_AT,
            "text": {"type": "string", "maxLength": 10000},
            "photo_ids": {"type": "array", "items": ID, "maxItems": 9, "uniqueItems": True},
            "submit": {"type": "boolean", "default": False},
        },
        ("text",),
    ),
    response=REPORT,
    errors=(400, 401, 403, 404, 409, 422),
)
def save_report(user, body, project_id, month):
    if not (
        len(month) == 7
        and month[4] == "-"
        and month[:4].isdigit()
        and month[5:].isdigit()
        and 1 <= int(month[5:]) <= 12
    ):
        raise ApiError("validation_failed", "月份格式应为 2026-05", {"field": "month"})
    report, created = reports.save_report(db.session, user, project_id, month, body)
    return report_json(report, reports.photos_of(db.session, [report.id])[report.id]), 201 if created else 200


@endpoint(
    "/projects/reports/photos",
    "POST",
    summary="Ticket for a photo of a monthly report (same pipeline as visits)",
    tag="reports",
    roles=SECRETARY,
    body=photo_ticket(capture=True, dependentRequired={"lat": ["lng"], "lng": ["lat"]}),
    status=201,
    errors=(400, 401, 403, 409, 413),
)
def report_photo(user, body):
    photo, created = reports.request_photo(db.session, user, body)
    return ticket_answer(photo, created)


@endpoint(
    "/me/subscriptions",
    "POST",
    summary="Count the subscribe messages the user just accepted "
    "(wx.requestSubscribeMessage), e.g. monthly report reminders",
    tag="reports",
    roles=SECRETARY,
    body=obj(
        {
            "template": {"type": "string", "enum": [reports.TEMPLATE]},
            "accepted": {"type": "integer", "minimum": 1, "maximum": 10},
        },
        ("template", "accepted"),
    ),
    response=obj({"template": {"type": "string"}, "credits": {"type": "integer"}}),
)
def add_subscription(user, body):
    return {
        "template": body["template"],
        "credits": reports.add_consent(db.session, user, body["template"], body["accepted"]),
    }


# ---- villagers' feedback about my projects ----------------------------------------------------


@endpoint(
    "/projects/feedback",
    "GET",
    summary="Villagers' feedback about the secretary's projects (anonymous authors hidden, no contact phone)",
    tag="lifecycle",
    roles=SECRETARY,
    query={**PAGE_QUERY, "project_id": ID},
    response=page_of(),
    errors=(404,),
)
def feedback_about_mine(user, query):
    items, total = workspace.feedback_about(db.session, user, query.get("project_id"), query["page"], query["per_page"])
    ids = [f.id for f in items]
    replies, pics = feedback.replies_of(db.session, ids), feedback.photos_of(db.session, ids)
    titles = {p.id: p.title for p in workspace.my_projects(db.session, user)}
    return {
        "items": [workspace.feedback_json(user, f, replies.get(f.id, []), pics.get(f.id, []), titles) for f in items],
        "page": query["page"],
        "per_page": query["per_page"],
        "total": total,
    }
