"""联系组工干部 and the 1+1 蹲点 routine: a cadre's projects and what is due, logged contacts, workload."""

from __future__ import annotations

from typing import Any

from server.api import endpoint
from server.api.schemas import DATE, obj
from server.db import db
from server.models import CONTACT_KINDS, LiaisonContact, Project
from server.services import cadres

LIAISON = cadres.LIAISON_ROLES
# Reviewers read the contacts of their townships' projects; admins and leaders every project's.
READERS = cadres.LIAISON_ROLES


def contact_json(c: LiaisonContact) -> dict[str, Any]:
    """A logged contact."""
    return {
        "id": c.id,
        "project_id": c.project_id,
        "cadre_id": c.cadre_id,
        "kind": c.kind,
        "kind_label": CONTACT_KINDS[c.kind],
        "contact_on": c.contact_on.isoformat(),
        "summary": c.summary,
        "author_id": c.author_id,
    }


def routine_json(items: list[cadres.RoutineItem]) -> list[dict[str, Any]]:
    """A project's routine items: period, its last day, the state and the last contact."""
    return [
        {
            "kind": i.kind,
            "label": i.label,
            "period": i.period.key,
            "ends_on": i.period.ends.isoformat(),
            "state": i.state,
            "state_label": i.state_label,
            "last_contact_on": i.last_contact_on.isoformat() if i.last_contact_on else None,
        }
        for i in items
    ]


def _project(p: Project, items: list[cadres.RoutineItem]) -> dict[str, Any]:
    return {"id": p.id, "title": p.title, "year": p.year, "status": p.status, "routine": routine_json(items)}


@endpoint(
    "/liaison/projects",
    "GET",
    summary="The caller's projects as liaison cadre (我的联系项目) with the routine's due state",
    tag="liaison",
    roles=LIAISON,
)
def liaison_projects(user):
    mine = cadres.my_projects(db.session, user)
    states = cadres.routine(db.session, mine)
    return {"items": [_project(p, states.get(p.id, [])) for p in mine]}


@endpoint(
    "/projects/<int:project_id>/contacts",
    "GET",
    summary="A project's logged liaison contacts, newest first (its cadre, county staff, its township's reviewer)",
    tag="liaison",
    roles=READERS,
    errors=(404,),
)
def liaison_contacts(user, project_id):
    return {"items": [contact_json(c) for c in cadres.contacts_of(db.session, user, project_id)]}


@endpoint(
    "/projects/<int:project_id>/contacts",
    "POST",
    summary="Log a contact of the 1+1 蹲点 routine: 电话 (phone), 调研 (visit) or 汇报 (report)",
    tag="liaison",
    roles=LIAISON,
    body=obj(
        {
            "kind": {"type": "string", "enum": list(CONTACT_KINDS)},
            "contact_on": {**DATE, "description": "China calendar day; today when absent"},
            "summary": {"type": "string", "minLength": 1, "maxLength": cadres.MAX_SUMMARY},
        },
        ("kind", "summary"),
    ),
    status=201,
    errors=(400, 404, 409),
)
def liaison_contact_new(user, body, project_id):
    return contact_json(cadres.log_contact(db.session, user, project_id, body)), 201


@endpoint(
    "/cadres/workload",
    "GET",
    summary="Each liaison cadre's projects, contacts this month and quarter, and overdue routine items",
    tag="liaison",
    roles=cadres.COUNTY_ROLES,
)
def liaison_workload(user):
    rows = cadres.workload(db.session, user)
    return {
        "items": [
            {
                "cadre": {"id": w.cadre.id, "name": w.cadre.name},
                "projects": [_project(p, w.routine.get(p.id, [])) for p in w.projects],
                "contacts_month": w.contacts_month,
                "contacts_quarter": w.contacts_quarter,
                "overdue": w.overdue,
            }
            for w in rows
        ]
    }
