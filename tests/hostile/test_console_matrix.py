"""The staff console's pages × callers: out-of-township objects are 404, the phone roles cannot sign in."""

from __future__ import annotations

import re

import pytest

from server import clock
from server.db import db
from server.models import User
from server.services import grading, lead_items, observations, peer_review, projects, rounds, units
from server.services.grading import roadshow
from tests.console.conftest import csrf, login
from tests.hostile.test_authorization_matrix import (
    others as api_objects,  # noqa: F401 - the shared fixture
)

# Pages about one object that a reviewer must not even learn exists outside their townships.
SCOPED = {
    "console.visit_detail",
    "console.visit_print",
    "console.export_visit_zip",
    "console.feedback_detail",
    "console.rectification_detail",
    "console.rectification_notice",
}


# County-wide pages every department reviewer reads: a round's definition (its draw stays hidden from
# them until the round closes; its notice and workbook are for admins and leaders).
COUNTY_WIDE = {"console.round_detail"}
# Pages of the roles that work only on their own things (experts' score sheets, a reporting unit's or a
# secretary's projects): an administrator is refused them too.
OWN_WORK_PAGES = {
    "console.expert_scoring",
    "console.expert_scoring_sheet",
    "console.unit_projects",
    "console.my_projects",
    "console.application_new",
    "console.application_edit",
    "console.roadshow_score",
    "console.peer_review_score",
    "console.my_report",
    "console.my_rectifications",
    "console.my_rectification",
}
# Documents that exist only once their round is closed or their grading finalized (or, for a unit's
# 立项通知, once it has approved projects): before, a 409.
AFTER_CLOSE = {
    "console.round_notice",
    "console.round_xlsx",
    "console.grading_assessment",
    "console.grading_notice",
    "console.unit_approval_notice",
    "console.grading_outcomes_xlsx",
}


@pytest.fixture(scope="module")
def others(shared_app, api_objects):  # noqa: F811
    """The API matrix's objects plus a grading session open for scoring, its roadshow, a random round, a reporting
    unit and a 书记领办事项, by URL parameter name."""
    app, world = shared_app
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        gs = grading.create_session(db.session, admin, {"year": 2026})
        grading.open_session(db.session, admin, gs.id)
        show = roadshow.create_roadshow(
            db.session, admin, {"session_id": gs.id, "title": "路演评审", "held_on": "2026-12-10", "venue": "县委党校"}
        )
        rnd = rounds.create_round(
            db.session,
            admin,
            {
                "name": "第一轮",
                "groups": 1,
                "sites_per_group": 1,
                "team_size": 2,
                "items_per_visit": 1,
                "check_items": ["公示栏"],
                "inspector_ids": [world.ids["insp_a"], world.ids["insp_b"]],
            },
        )
        unit = units.create_unit(db.session, admin, {"name": "桐坪镇党委", "township_id": world.t2})
        item = lead_items.create_item(
            db.session,
            admin,
            {
                "title": "深村红叶复垦",
                "started_on": "2025-03-01",
                "organization_id": api_objects["org_id"],
                "level": "village",
                "leader_name": "胡艺群",
            },
        )
        # A 观摩 over 桐坪镇's project and a 互评 round of two organizations.
        event = observations.create_event(
            db.session,
            admin,
            {"kind": "quarterly", "title": "观摩", "held_on": clock.today(), "stops": [{"project_id": world.p2}]},
        )
        org = projects.create_organization(db.session, admin, {"name": "大栗村党支部", "township_id": world.t2})
        review = peer_review.create_round(
            db.session, admin, {"year": 2026, "organization_ids": [api_objects["org_id"], org.id]}
        )
        return {
            **api_objects,
            "session_id": gs.id,
            "round_id": rnd.id,
            "unit_id": unit.id,
            "item_id": item.id,
            "roadshow_id": show.id,
            "event_id": event.id,
            "review_id": review.id,
        }


def page_rules(app):
    """Every GET page of the console except the login form and static files."""
    return [
        r
        for r in app.url_map.iter_rules()
        if r.endpoint.startswith("console.")
        and "GET" in r.methods
        and r.endpoint not in ("console.login", "console.static")
    ]


def url_of(rule, ids: dict[str, int]) -> str:
    """The page's URL with every parameter pointing at an object in township t2 (1 for unknown names)."""
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids.get(m.group(1), 1)), rule.rule)


def test_signed_out_visitor_is_sent_to_login_everywhere(shared_app, others):  # noqa: F811
    """Without a session every console page redirects to the login form."""
    app, _ = shared_app
    client = app.test_client()
    wrong = [
        (url_of(r, others), resp.status_code)
        for r in page_rules(app)
        if not (
            (resp := client.get(url_of(r, others))).status_code == 302 and "/console/login" in resp.headers["Location"]
        )
    ]
    assert wrong == []


@pytest.mark.parametrize("username", ["insp_a"])
def test_phone_roles_cannot_sign_in(shared_app, username):
    """An inspector with the right password is refused by the console (secretaries have their own pages)."""
    app, _ = shared_app
    client = app.test_client()
    r = client.post(
        "/console/login", data={"csrf_token": csrf(client), "username": username, "password": f"{username}-password"}
    )
    assert r.status_code != 302
    assert client.get("/console/").status_code == 302


def test_reviewer_of_another_township_gets_404_or_403_never_the_page(shared_app, others):  # noqa: F811
    """Reviewer of 永阳镇 on 桐坪镇's visit, feedback and order: 404; on admin-only pages: 403; never a 5xx."""
    app, _ = shared_app
    client = login(app.test_client(), "reviewer1", "reviewer1-password")
    wrong = []
    for rule in page_rules(app):
        if not rule.arguments:
            status = client.get(url_of(rule, others)).status_code
            if status >= 500:
                wrong.append((rule.rule, status))
            continue
        status = client.get(url_of(rule, others)).status_code
        expected = {404} if rule.endpoint in SCOPED else {200, 409} if rule.endpoint in COUNTY_WIDE else {403, 404}
        if status not in expected:
            wrong.append((rule.rule, status, expected))
    assert wrong == [], wrong


def test_admin_opens_every_page(shared_app, others):  # noqa: F811
    """The administrator gets every console page for the same objects (so the 404s above are about scope)."""
    app, _ = shared_app
    client = login(app.test_client(), "admin", "admin-password")
    expected = {
        r.endpoint: 403 if r.endpoint in OWN_WORK_PAGES else 409 if r.endpoint in AFTER_CLOSE else 200
        for r in page_rules(app)
    }
    wrong = [
        (url_of(r, others), s)
        for r in page_rules(app)
        if (s := client.get(url_of(r, others), follow_redirects=True).status_code) != expected[r.endpoint]
    ]
    assert wrong == [], wrong


# Console forms whose object is a form field, not part of the URL.
FORM_OBJECTS = {"console.rectification_new": ("project_id",)}


def form_rules(app):
    """Every POST route of the console except the login and logout forms."""
    return [
        r
        for r in app.url_map.iter_rules()
        if r.endpoint.startswith("console.")
        and "POST" in r.methods
        and r.endpoint not in ("console.login", "console.logout")
    ]


def audit_length(app) -> int:
    from sqlalchemy import func, select

    from server.models import AuditEntry

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEntry))


def test_forms_refuse_the_signed_out_and_requests_without_csrf(shared_app, others):  # noqa: F811
    """Every console form: signed out it is refused (the login form, or 400 for a token of no signed-in
    session); signed in without the CSRF token it is a 400. Either way nothing is written."""
    app, _ = shared_app
    before = audit_length(app)
    anonymous = app.test_client()
    csrf(anonymous)  # a session with a token, but nobody signed in
    token = csrf(anonymous)
    wrong = []
    for rule in form_rules(app):
        r = anonymous.post(url_of(rule, others), data={"csrf_token": token})
        if not (r.status_code == 400 or (r.status_code == 302 and "/console/login" in r.headers["Location"])):
            wrong.append(("signed out", rule.rule, r.status_code))
    admin = login(app.test_client(), "admin", "admin-password")
    for rule in form_rules(app):
        r = admin.post(url_of(rule, others), data={})
        if r.status_code != 400:
            wrong.append(("no csrf", rule.rule, r.status_code))
    assert wrong == [], wrong
    assert audit_length(app) == before


def test_reviewer_of_another_township_cannot_post_any_form(shared_app, others):  # noqa: F811
    """Reviewer of 永阳镇, with a valid CSRF token, on every form about 桐坪镇's objects or the department's
    own business: 403 or 404, and the audit chain does not grow."""
    app, _ = shared_app
    before = audit_length(app)
    client = login(app.test_client(), "reviewer1", "reviewer1-password")
    token = csrf(client)
    wrong = []
    for rule in form_rules(app):
        # Forms that name their object in a field rather than the URL get 桐坪镇's.
        fields = {k: others[k] for k in FORM_OBJECTS.get(rule.endpoint, ())}
        status = client.post(url_of(rule, others), data={"csrf_token": token, **fields}).status_code
        if status not in (403, 404):
            wrong.append((rule.rule, status))
    # The same order form, from a visit of 桐坪镇 named in the query string.
    status = client.post(
        f"/console/rectifications/new?visit_id={others['visit_id']}", data={"csrf_token": token}
    ).status_code
    if status not in (403, 404):
        wrong.append(("/console/rectifications/new?visit_id", status))
    assert wrong == [], wrong
    assert audit_length(app) == before


def test_photo_recheck_form_is_scoped_like_the_others(shared_app, others):  # noqa: F811
    """The 重新核验 form on a ready photo of 桐坪镇: the admin re-hashes it (one audit entry), a leader (read
    only) gets 403, a reviewer of 永阳镇 404 — also when naming that photo under a visit of their own township."""
    from tests.factories import V2, Api, now_iso, start_visit, uid
    from tests.support.images import phone_jpeg
    from tests.support.upload import upload

    app, world = shared_app
    api = Api(app.test_client(), world.tokens["insp_c"])
    visit = start_visit(api, world.a2)
    data = phone_jpeg(seed=77, size=(640, 480))
    r = api.post(
        f"/api/v1/visits/{visit['id']}/photos",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "content_type": "image/jpeg",
            "size": len(data),
            "taken_at": now_iso(),
            "lat": V2[0],
            "lng": V2[1],
        },
    )
    assert r.status_code == 201, r.get_json()
    assert upload(api.client, r.get_json()["upload"], data) == 204
    photo_id = r.get_json()["photo_id"]
    assert api.post(f"/api/v1/photos/{photo_id}/complete").get_json()["status"] == "ready"
    assert api.post(f"/api/v1/visits/{visit['id']}/submit", {"client_id": uid()}).status_code == 200
    url = f"/console/visits/{visit['id']}/photos/{photo_id}/check"
    before = audit_length(app)
    reviewer = login(app.test_client(), "reviewer1", "reviewer1-password")
    assert reviewer.post(url, data={"csrf_token": csrf(reviewer)}).status_code == 404
    leader = login(app.test_client(), "leader", "leader-password")
    assert leader.post(url, data={"csrf_token": csrf(leader)}).status_code == 403
    assert audit_length(app) == before
    admin = login(app.test_client(), "admin", "admin-password")
    assert admin.post(url, data={"csrf_token": csrf(admin)}).status_code == 303
    assert audit_length(app) == before + 1
    # The photo under another visit's URL (one the admin may see) is not found either.
    assert (
        admin.post(
            f"/console/visits/{others['visit_id']}/photos/{photo_id}/check", data={"csrf_token": csrf(admin)}
        ).status_code
        == 404
    )
