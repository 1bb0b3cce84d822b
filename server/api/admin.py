"""Administration of base data (role admin): list (paginated), create and edit."""

from __future__ import annotations

from server.api import endpoint, serialize
from server.api.schemas import (
    BOUNDARY,
    CODE12,
    COORD_TYPE,
    ID,
    IDS,
    LAT,
    LNG,
    NAME,
    PAGE_QUERY,
    RADIUS,
    obj,
    page_of,
)
from server.db import db
from server.models import DOMAINS, PROJECT_LEVELS, ROLES, Assignment
from server.services import assignments, places, projects, users
from server.services.common import Page

ADMIN = ("admin",)
ERRORS = (400, 401, 403, 404, 409)


def _paging(query) -> dict:
    """The service's paging arguments from the query; the API lists in creation order."""
    return {"page": query["page"], "per_page": query["per_page"]}


def _page(found: Page, query, render):
    return {
        "items": [render(i) for i in found.items],
        "page": query["page"],
        "per_page": query["per_page"],
        "total": found.total,
    }


SEARCH_QUERY = {**PAGE_QUERY, "q": {"type": "string"}}

# ---- townships --------------------------------------------------------------------------
TOWNSHIP = {"code": CODE12, "name": NAME, "lat": LAT, "lng": LNG, "coord_type": COORD_TYPE}


@endpoint(
    "/admin/townships",
    "GET",
    summary="List townships",
    tag="admin",
    roles=ADMIN,
    query=SEARCH_QUERY,
    response=page_of(),
    errors=ERRORS,
)
def list_townships(user, query):
    found = places.list_townships(db.session, q=query.get("q"), order="id", **_paging(query))
    return _page(found, query, serialize.township)


@endpoint(
    "/admin/townships",
    "POST",
    summary="Create a township",
    tag="admin",
    roles=ADMIN,
    body=obj(TOWNSHIP, ("code", "name")),
    status=201,
    errors=ERRORS,
)
def create_township(user, body):
    return serialize.township(places.create_township(db.session, user, body)), 201


@endpoint(
    "/admin/townships/<int:township_id>",
    "PATCH",
    summary="Edit a township",
    tag="admin",
    roles=ADMIN,
    body=obj(TOWNSHIP),
    errors=ERRORS,
)
def update_township(user, body, township_id):
    return serialize.township(places.update_township(db.session, user, township_id, body))


# ---- villages ---------------------------------------------------------------------------
VILLAGE = {
    "township_id": ID,
    "code": CODE12,
    "name": NAME,
    "lat": LAT,
    "lng": LNG,
    "coord_type": COORD_TYPE,
    "radius_m": RADIUS,
    "boundary": BOUNDARY,
}


@endpoint(
    "/admin/villages",
    "GET",
    summary="List villages",
    tag="admin",
    roles=ADMIN,
    query={**SEARCH_QUERY, "township_id": {"type": "integer", "minimum": 1}},
    response=page_of(),
    errors=ERRORS,
)
def list_villages(user, query):
    found = places.list_villages(
        db.session, township_id=query.get("township_id"), q=query.get("q"), order="id", **_paging(query)
    )
    return _page(found, query, serialize.village)


@endpoint(
    "/admin/villages",
    "POST",
    summary="Create a village (lat/lng in coord_type, stored as WGS-84)",
    tag="admin",
    roles=ADMIN,
    body=obj(VILLAGE, ("township_id", "code", "name", "lat", "lng")),
    status=201,
    errors=ERRORS,
)
def create_village(user, body):
    return serialize.village(places.create_village(db.session, user, body)), 201


@endpoint(
    "/admin/villages/<int:village_id>",
    "PATCH",
    summary="Edit a village",
    tag="admin",
    roles=ADMIN,
    body=obj(VILLAGE, dependentRequired={"lat": ["lng"], "lng": ["lat"]}),
    errors=ERRORS,
)
def update_village(user, body, village_id):
    return serialize.village(places.update_village(db.session, user, village_id, body))


# ---- unit sites -------------------------------------------------------------------------
SITE = {
    "name": {"type": "string", "minLength": 1, "maxLength": 128},
    "code": {"type": ["string", "null"], "maxLength": 32},
    "township_id": {"type": ["integer", "null"], "minimum": 1},
    "lat": LAT,
    "lng": LNG,
    "coord_type": COORD_TYPE,
    "radius_m": RADIUS,
    "boundary": BOUNDARY,
}


@endpoint(
    "/admin/sites",
    "GET",
    summary="List unit sites (机关, 国企, 学校, 医院, 非公企业)",
    tag="admin",
    roles=ADMIN,
    query=SEARCH_QUERY,
    response=page_of(),
    errors=ERRORS,
)
def list_sites(user, query):
    found = places.list_sites(db.session, q=query.get("q"), q_matches_code=False, order="id", **_paging(query))
    return _page(found, query, serialize.site)


@endpoint(
    "/admin/sites",
    "POST",
    summary="Create a unit site",
    tag="admin",
    roles=ADMIN,
    body=obj(SITE, ("name", "lat", "lng")),
    status=201,
    errors=ERRORS,
)
def create_site(user, body):
    return serialize.site(places.create_site(db.session, user, body)), 201


@endpoint(
    "/admin/sites/<int:site_id>",
    "PATCH",
    summary="Edit a unit site",
    tag="admin",
    roles=ADMIN,
    body=obj(SITE, dependentRequired={"lat": ["lng"], "lng": ["lat"]}),
    errors=ERRORS,
)
def update_site(user, body, site_id):
    return serialize.site(places.update_site(db.session, user, site_id, body))


# ---- organizations ----------------------------------------------------------------------
ORGANIZATION = {
    "name": {"type": "string", "minLength": 1, "maxLength": 128},
    "domain": {"type": "string", "enum": list(DOMAINS)},
    "township_id": {"type": ["integer", "null"], "minimum": 1},
    "village_id": {"type": ["integer", "null"], "minimum": 1},
}


@endpoint(
    "/admin/organizations",
    "GET",
    summary="List party organizations",
    tag="admin",
    roles=ADMIN,
    query=SEARCH_QUERY,
    response=page_of(),
    errors=ERRORS,
)
def list_organizations(user, query):
    found = projects.list_organizations(db.session, q=query.get("q"), order="id", **_paging(query))
    return _page(found, query, serialize.organization)


@endpoint(
    "/admin/organizations",
    "POST",
    summary="Create a party organization",
    tag="admin",
    roles=ADMIN,
    body=obj(ORGANIZATION, ("name",)),
    status=201,
    errors=ERRORS,
)
def create_organization(user, body):
    return serialize.organization(projects.create_organization(db.session, user, body)), 201


@endpoint(
    "/admin/organizations/<int:org_id>",
    "PATCH",
    summary="Edit a party organization",
    tag="admin",
    roles=ADMIN,
    body=obj(ORGANIZATION),
    errors=ERRORS,
)
def update_organization(user, body, org_id):
    return serialize.organization(projects.update_organization(db.session, user, org_id, body))


# ---- projects ---------------------------------------------------------------------------
PROJECT = {
    "title": {"type": "string", "minLength": 1, "maxLength": 200},
    "year": {"type": "integer", "minimum": 2000, "maximum": 2100},
    "organization_id": {"type": ["integer", "null"], "minimum": 1},
    "secretary_id": {"type": ["integer", "null"], "minimum": 1, "description": "the secretary in charge (四个一)"},
    "domain": {"type": "string", "enum": list(DOMAINS)},
    "level": {
        "type": ["string", "null"],
        "enum": [*PROJECT_LEVELS, None],
        "description": "county 县级, township 镇级, village 村级, county_secretary 县委书记领办; null: 未定级",
    },
    "village_ids": {**IDS, "minItems": 1},
    "site": {"type": "object", "properties": {"id": ID, **SITE}, "additionalProperties": False},
    "steps": {"type": "array", "maxItems": 100},
    "targets": {"type": "array", "maxItems": 100},
    "responsible": {"type": "object"},
    "liaison_cadre_id": {
        "type": ["integer", "null"],
        "minimum": 1,
        "description": "联系组工干部: a staff account (admin, leader, reviewer or cadre); its name is shown publicly",
    },
    "allow_album": {
        "type": "boolean",
        "description": "report, rectification and feedback photos may come from "
        "the album; false (the default): the camera only, as on a visit",
    },
}


@endpoint(
    "/admin/projects",
    "GET",
    summary="List projects",
    tag="admin",
    roles=ADMIN,
    query={
        **SEARCH_QUERY,
        "year": {"type": "integer", "minimum": 2000, "maximum": 2100},
        "level": {"type": "string", "enum": list(PROJECT_LEVELS)},
    },
    response=page_of(),
    errors=ERRORS,
)
def list_projects(user, query):
    found = projects.list_projects(
        db.session, year=query.get("year"), level=query.get("level"), q=query.get("q"), order="id", **_paging(query)
    )
    return _page(found, query, serialize.project)


@endpoint(
    "/admin/projects",
    "POST",
    summary="Create a project at villages (village_ids) or a unit site (site)",
    tag="admin",
    roles=ADMIN,
    body=obj(PROJECT, ("title", "year")),
    status=201,
    errors=ERRORS,
)
def create_project(user, body):
    return serialize.project(projects.create_project(db.session, user, body)), 201


@endpoint(
    "/admin/projects/<int:project_id>",
    "PATCH",
    summary="Edit a project",
    tag="admin",
    roles=ADMIN,
    body=obj(PROJECT),
    errors=ERRORS,
)
def update_project(user, body, project_id):
    return serialize.project(projects.update_project(db.session, user, project_id, body))


# ---- users ------------------------------------------------------------------------------
USER = {
    "username": {"type": "string", "pattern": "^[A-Za-z0-9_.@-]{2,64}$"},
    "name": NAME,
    "roles": {"type": "array", "items": {"type": "string", "enum": list(ROLES)}, "minItems": 1, "uniqueItems": True},
    "role": {"type": "string", "enum": list(ROLES)},
    "township_ids": IDS,
    "organization_ids": IDS,
    "home_township_id": {"type": ["integer", "null"], "minimum": 1},
    "password": {"type": "string", "minLength": 8, "maxLength": 256},
}


@endpoint(
    "/admin/users",
    "GET",
    summary="List users",
    tag="admin",
    roles=ADMIN,
    query={**SEARCH_QUERY, "role": {"type": "string", "enum": list(ROLES)}},
    response=page_of(),
    errors=ERRORS,
)
def list_users(user, query):
    # Unlike the console's staff list, the API lists villagers too.
    found = users.list_users(
        db.session, role=query.get("role"), q=query.get("q"), include_villagers=True, **_paging(query)
    )
    return _page(found, query, lambda u: serialize.user(u, full=True))


@endpoint(
    "/admin/users",
    "POST",
    summary="Create a staff account (issue_invite: true answers a one-time invite_code; inspectors and "
    "secretaries only)",
    tag="admin",
    roles=ADMIN,
    body=obj({**USER, "issue_invite": {"type": "boolean"}}, ("name",)),
    status=201,
    errors=ERRORS,
)
def create_user(user, body):
    created, invite = users.create_user(db.session, user, body)
    return serialize.user(created, invite_code=invite, full=True), 201


@endpoint(
    "/admin/users/<int:user_id>",
    "PATCH",
    summary="Edit a user (reset_invite: true issues a new invite code to an inspector or secretary)",
    tag="admin",
    roles=ADMIN,
    body=obj({**USER, "active": {"type": "boolean"}, "reset_invite": {"type": "boolean"}}),
    errors=ERRORS,
)
def update_user(user, body, user_id):
    updated, invite = users.update_user(db.session, user, user_id, body)
    return serialize.user(updated, invite_code=invite, full=True)


# ---- assignments ------------------------------------------------------------------------
ASSIGNMENT = {
    "inspector_ids": {**IDS, "minItems": 1, "maxItems": 20},
    "village_id": {"type": ["integer", "null"], "minimum": 1},
    "project_id": ID,
    "check_items": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 200}, "maxItems": 50},
    "due_date": {"type": ["string", "null"], "format": "date"},
    "status": {"type": "string", "enum": ["open", "closed"]},
    # The evidence policy's overrides (null: the round's, or 2 photos and 1 interview).
    "min_photos": {"type": ["integer", "null"], "minimum": 0, "maximum": 50},
    "min_interviews": {"type": ["integer", "null"], "minimum": 0, "maximum": 50},
}


def _assignment(a: Assignment):
    return serialize.assignment(a, projects.place_of(db.session, a))


@endpoint(
    "/admin/assignments",
    "GET",
    summary="List assignments",
    tag="admin",
    roles=ADMIN,
    query={
        **PAGE_QUERY,
        "project_id": {"type": "integer", "minimum": 1},
        "status": {"type": "string", "enum": ["open", "closed"]},
    },
    response=page_of(),
    errors=ERRORS,
)
def list_assignments(user, query):
    found = assignments.list_assignments(
        db.session, user, project_id=query.get("project_id"), status=query.get("status"), **_paging(query)
    )
    return _page(found, query, _assignment)


@endpoint(
    "/admin/assignments",
    "POST",
    summary="Send a team of inspectors to a project's village or site",
    tag="admin",
    roles=ADMIN,
    body=obj({k: v for k, v in ASSIGNMENT.items() if k != "status"}, ("inspector_ids", "project_id")),
    status=201,
    errors=ERRORS,
)
def create_assignment(user, body):
    return _assignment(assignments.create_assignment(db.session, user, body)), 201


@endpoint(
    "/admin/assignments/<int:assignment_id>",
    "PATCH",
    summary="Edit an assignment",
    tag="admin",
    roles=ADMIN,
    body=obj({k: v for k, v in ASSIGNMENT.items() if k not in ("project_id", "village_id")}),
    errors=ERRORS,
)
def update_assignment(user, body, assignment_id):
    return _assignment(assignments.update_assignment(db.session, user, assignment_id, body))
