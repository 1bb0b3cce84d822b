"""Every API endpoint × every kind of caller, aimed at objects that belong to someone else: no IDOR.

The objects live in township t2 (桐坪镇): inspector C's submitted visit and its photo, a villager's
feedback, a rectification order addressed to another secretary. The callers are outsiders to all
of them. ALLOWED says who may succeed; everyone else must be refused — 401 without a token, 403
without the endpoint's role, 404 (never 403, which would tell the object exists) when the role is
right but the object is out of scope. Endpoints added later and missing from ALLOWED still get the
conservative checks: a token is required unless the endpoint is public, and nobody gets a 5xx.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from server import clock
from server.api import ENDPOINTS
from server.auth import issue_token
from server.db import db
from server.models import Assignment, Project, Site, User
from server.services import quarterly, rectification, rounds, teams, users
from tests.api.test_rounds import draw_day, source
from tests.factories import V2, Api, now_iso, start_visit, uid

CALLERS = ("none", "villager", "insp_a", "reviewer1", "unit1", "secretary", "leader", "admin")
ALL_TOKENS = frozenset(CALLERS) - {"none"}
ADMIN = frozenset({"admin"})
NOBODY = frozenset()

# (method, path) → callers who may succeed against the out-of-scope objects; anything else is refused.
ALLOWED: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/api/v1/assignments"): frozenset({"insp_a"}),  # their own list: the outsider's is not in it
    ("POST", "/api/v1/auth/bind"): ALL_TOKENS,
    ("GET", "/api/v1/auth/me"): ALL_TOKENS,
    ("GET", "/api/v1/feedback"): frozenset({"admin", "leader", "reviewer1"}),  # a list, scoped
    ("GET", "/api/v1/feedback/<int:feedback_id>"): frozenset({"admin", "leader"}),
    ("POST", "/api/v1/feedback/<int:feedback_id>/replies"): ADMIN,
    ("POST", "/api/v1/feedback/<int:feedback_id>/moderation"): ADMIN,
    ("POST", "/api/v1/photos/<int:photo_id>/complete"): NOBODY,  # only the visit's team
    ("POST", "/api/v1/feedback/photos"): ALL_TOKENS,  # a draft of the caller's own
    ("POST", "/api/v1/public/projects/<int:project_id>/feedback"): ALL_TOKENS,  # anyone may give feedback
    ("GET", "/api/v1/feedback/mine"): ALL_TOKENS,
    ("GET", "/api/v1/rectifications"): frozenset({"secretary"}),  # their own list
    ("GET", "/api/v1/rectifications/<int:order_id>"): NOBODY,
    ("POST", "/api/v1/rectifications/photos"): frozenset({"secretary"}),
    ("POST", "/api/v1/rectifications/<int:order_id>/response"): NOBODY,
    ("POST", "/api/v1/visits"): NOBODY,  # on another team's assignment
    ("POST", "/api/v1/visits/<int:visit_id>/checkins"): NOBODY,
    ("POST", "/api/v1/visits/<int:visit_id>/photos"): NOBODY,
    ("POST", "/api/v1/visits/<int:visit_id>/interviews"): NOBODY,
    ("PUT", "/api/v1/visits/<int:visit_id>/checklist"): NOBODY,
    ("POST", "/api/v1/visits/<int:visit_id>/notes"): NOBODY,
    ("POST", "/api/v1/visits/<int:visit_id>/submit"): NOBODY,
    ("GET", "/api/v1/visits/<int:visit_id>"): frozenset({"admin", "leader"}),
    ("GET", "/api/v1/visits"): frozenset({"admin", "leader", "reviewer1"}),  # a list, scoped
    # The project lifecycle, aimed at project p2 of township t2, which none of them runs.
    ("GET", "/api/v1/projects/mine"): frozenset({"secretary"}),  # their own list
    ("GET", "/api/v1/projects/application-options"): frozenset({"secretary"}),
    ("POST", "/api/v1/projects/applications"): frozenset({"secretary", "admin"}),  # a draft of their own
    ("GET", "/api/v1/projects/reviews"): frozenset({"admin", "unit1"}),  # a queue, scoped
    ("GET", "/api/v1/projects/<int:project_id>"): frozenset({"admin", "leader"}),
    ("PATCH", "/api/v1/projects/<int:project_id>/application"): ADMIN,  # reaches the status check (409)
    ("POST", "/api/v1/projects/<int:project_id>/transitions"): ADMIN,
    ("POST", "/api/v1/projects/<int:project_id>/observations"): ADMIN,
    ("POST", "/api/v1/projects/<int:project_id>/acceptance"): ADMIN,
    ("GET", "/api/v1/projects/<int:project_id>/reports"): frozenset({"admin", "leader"}),
    ("PUT", "/api/v1/projects/<int:project_id>/reports/<month>"): NOBODY,
    ("POST", "/api/v1/projects/reports/photos"): frozenset({"secretary"}),  # a draft of their own
    ("POST", "/api/v1/me/subscriptions"): frozenset({"secretary"}),
    ("GET", "/api/v1/projects/feedback"): frozenset({"secretary"}),  # about their own projects only
    # 书记领办事项 are the department's own county-wide business: its leaders read them.
    ("GET", "/api/v1/lead-items"): frozenset({"admin", "leader"}),
    ("GET", "/api/v1/lead-items/suggestions"): frozenset({"admin", "leader"}),
    # Inspectors declare and list their own conflicts; another's cannot be withdrawn.
    ("GET", "/api/v1/me/conflicts"): frozenset({"insp_a"}),
    ("POST", "/api/v1/me/conflicts"): frozenset({"insp_a"}),
    ("POST", "/api/v1/me/conflicts/<int:conflict_id>/withdraw"): NOBODY,
    **{(ep.method, ep.path): ADMIN for ep in ENDPOINTS if ep.path.startswith("/api/v1/admin/")},
    # The quarterly cycle: a reviewer sees only the tasks they own (none here).
    ("GET", "/api/v1/quarterly"): frozenset({"admin", "leader", "reviewer1"}),  # a list, scoped
    ("GET", "/api/v1/quarterly/tasks/<int:task_id>"): frozenset({"admin", "leader"}),
    # The year's figures: aggregates, scoped to a reviewer's townships.
    ("GET", "/api/v1/statistics"): frozenset({"admin", "leader", "reviewer1"}),
}


def protected_endpoints():
    """Every registered endpoint that needs a token (public ones are schemathesis's business)."""
    return [ep for ep in ENDPOINTS if ep.auth]


@pytest.fixture(scope="module")
def others(shared_app):
    """Objects in township t2 none of the callers may touch, and their ids by URL parameter name."""
    app, world = shared_app
    client = app.test_client()
    insp_c = Api(client, world.tokens["insp_c"])
    visit = start_visit(insp_c, world.a2)
    r = insp_c.post(
        f"/api/v1/visits/{visit['id']}/photos",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "content_type": "image/jpeg",
            "size": 1000,
            "taken_at": now_iso(),
            "lat": V2[0],
            "lng": V2[1],
        },
    )
    photo_id = r.get_json()["photo_id"]
    assert insp_c.post(f"/api/v1/visits/{visit['id']}/submit", {"client_id": uid()}).status_code == 200
    with app.app_context():
        s = db.session
        admin = s.get(User, world.ids["admin"])
        secretary2, _ = users.create_user(
            s,
            admin,
            {"username": "secretary2", "name": "secretary2", "roles": ["secretary"], "password": "secretary2-password"},
        )
        s.get(Project, world.p2).secretary_id = secretary2.id
        s.commit()
        order = rectification.issue(s, admin, project_id=world.p2, items=["公示栏未更新"])
        unit1, _ = users.create_user(
            s, admin, {"username": "unit1", "name": "unit1", "roles": ["unit_reviewer"], "password": "unit1-password"}
        )
        world.tokens["unit1"] = issue_token(unit1)
        villager2 = users.wechat_login(s, "openid-villager-2")
        villager2_token = issue_token(villager2)
    r = Api(client, villager2_token).post(
        f"/api/v1/public/projects/{world.p2}/feedback",
        {"client_id": uid(), "sent_at": now_iso(), "rating": "满意", "category": "建议", "text": "路修好了"},
    )
    assert r.status_code == 201, r.get_json()
    org = Api(client, world.tokens["admin"]).post("/api/v1/admin/organizations", {"name": "桐坪镇党委"})
    assert org.status_code == 201, org.get_json()
    with app.app_context():
        site_id = db.session.scalars(select(Site.id)).first()
        tasks, _ = quarterly.generate_year(db.session, db.session.get(User, world.ids["admin"]), clock.today().year)
        admin = db.session.get(User, world.ids["admin"])
        team = teams.create_team(
            db.session,
            admin,
            {
                "name": "第二督查组",
                "member_ids": [world.ids["insp_b"], world.ids["insp_c"]],
                "leader_id": world.ids["insp_c"],
            },
        )
        conflict = teams.declare_conflict(
            db.session,
            admin,
            {"user_id": world.ids["insp_c"], "kind": "relative", "scope": "village", "place_id": world.v2},
        )
        team_id, conflict_id = team.id, conflict.id
    return {
        "team_id": team_id,
        "conflict_id": conflict_id,
        "org_id": org.get_json()["id"],
        "site_id": site_id,
        "visit_id": visit["id"],
        "photo_id": photo_id,
        "feedback_id": r.get_json()["id"],
        "order_id": order.id,
        "project_id": world.p2,
        "township_id": world.t2,
        "village_id": world.v2,
        "user_id": world.ids["insp_c"],
        "assignment_id": world.a2,
        "month": "2026-11",
        "task_id": tasks[0].id,
    }


def fill(rule: str, ids: dict[str, int]) -> str:
    """The URL of a rule with every parameter pointing at someone else's object (1 for unknown names)."""
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids.get(m.group(1), 1)), rule)


def body_for(ep, world, ids) -> dict | None:
    """A body valid enough to reach the scope check (role checks come before the body)."""
    if ep.body is None:
        return None
    base = {"client_id": uid(), "sent_at": now_iso()}
    bodies = {
        "/api/v1/visits": {**base, "assignment_id": world.a2, "started_at": now_iso()},
        "/api/v1/visits/<int:visit_id>/checkins": {
            **base,
            "lat": V2[0],
            "lng": V2[1],
            "accuracy_m": 10,
            "client_time": now_iso(),
        },
        "/api/v1/visits/<int:visit_id>/photos": {
            **base,
            "content_type": "image/jpeg",
            "size": 1000,
            "taken_at": now_iso(),
            "lat": V2[0],
            "lng": V2[1],
        },
        "/api/v1/visits/<int:visit_id>/interviews": {**base, "household": "王五", "satisfaction": "满意"},
        "/api/v1/visits/<int:visit_id>/checklist": {**base, "items": [{"item": "公示栏", "result": "pass"}]},
        "/api/v1/visits/<int:visit_id>/notes": {**base, "text": "补充说明"},
        "/api/v1/visits/<int:visit_id>/submit": base,
        "/api/v1/feedback/<int:feedback_id>/replies": {"text": "已收到", "status": "accepted"},
        "/api/v1/feedback/<int:feedback_id>/moderation": {"decision": "release"},
        "/api/v1/rectifications/<int:order_id>/response": {**base, "text": "已整改"},
        # "approve" of a running project is refused (409) for the admin: the shared project is not changed.
        "/api/v1/projects/<int:project_id>/transitions": {"action": "approve", "opinion": "同意"},
        "/api/v1/projects/<int:project_id>/observations": {"observed_on": "2026-10-15", "rating": "好"},
        "/api/v1/projects/<int:project_id>/acceptance": {
            "accepted_on": "2026-11-01",
            "rating": "不合格",
            "opinion": "未完成",
        },
        "/api/v1/projects/<int:project_id>/reports/<month>": {"text": "本月进展"},
    }
    return bodies.get(ep.path, {})


def call(app, ep, token: str | None, url: str, body: dict | None):
    """One request as `token`."""
    api = Api(app.test_client(), token)
    method = ep.method.lower()
    if method == "get":
        return api.get(url)
    return getattr(api, method)(url, body if body is not None else None)


@pytest.mark.parametrize("ep", protected_endpoints(), ids=lambda ep: f"{ep.method} {ep.path}")
def test_endpoint_refuses_everyone_but_its_audience(shared_app, others, ep):
    """Each caller gets 2xx only where ALLOWED says so; otherwise 401/403/404 as the convention says; never 5xx."""
    app, world = shared_app
    url = fill(ep.path, others)
    allowed = ALLOWED.get((ep.method, ep.path))
    wrong = []
    for caller in CALLERS:
        token = None if caller == "none" else world.tokens[caller]
        r = call(app, ep, token, url, body_for(ep, world, others))
        holds_role = caller != "none" and (not ep.roles or _holds(caller, ep.roles))
        if caller == "none":
            expected = {401}
        elif not holds_role:
            expected = {403}
        elif allowed is None:
            expected = None  # a new endpoint: only "no 5xx" below
        elif caller in allowed:
            expected = "ok"
        else:
            expected = {404}
        fine = (
            r.status_code < 500
            if expected is None
            else r.status_code not in (401, 403, 404) and r.status_code < 500
            if expected == "ok"
            else r.status_code in expected
        )
        if not fine:
            wrong.append((caller, r.status_code, expected, (r.get_json(silent=True) or {}).get("error")))
    assert wrong == [], f"{ep.method} {url}"


ROLES_OF = {
    "villager": set(),
    "insp_a": {"inspector"},
    "reviewer1": {"reviewer"},
    "unit1": {"unit_reviewer"},
    "secretary": {"secretary"},
    "leader": {"leader"},
    "admin": {"admin"},
}


def _holds(caller: str, roles: tuple[str, ...]) -> bool:
    return bool(ROLES_OF[caller] & set(roles))


# ---- a drawn round still open ------------------------------------------------------------------

PLAN_KEYS = ("origin", "round_id", "due_date", "check_items", "check_items_count", "inspectors")


@pytest.fixture
def open_round_visit(shared_app):
    """A visit made for a drawn assignment in township t1 (reviewer1's), submitted while its round is open."""
    app, world = shared_app
    with app.app_context():
        s = db.session
        admin = s.get(User, world.ids["admin"])
        pool = [
            users.create_user(
                s, admin, {"username": name, "name": name, "roles": ["inspector"], "password": f"{name}-password"}
            )[0].id
            for name in (f"round-{uid()[:8]}", f"round-{uid()[:8]}")
        ]
        r = rounds.create_round(
            s,
            admin,
            {
                "name": "第二轮暗访",
                "groups": 1,
                "sites_per_group": 1,
                "team_size": 2,
                "items_per_visit": 2,
                "check_items": ["公示栏是否张贴", "资金是否专款专用", "群众是否知晓项目"],
                "inspector_ids": pool,
                "filters": {"township_ids": [world.t1]},
                "due_date": "2026-12-31",
            },
        )
        rounds.freeze(s, admin, r.id, source())
        rounds.run_draw(s, admin, r.id, "2026099", today=draw_day())
        drawn = s.scalar(select(Assignment).where(Assignment.round_id == r.id))
        token, assignment_id, round_id = issue_token(drawn.members[0]), drawn.id, r.id
    team = Api(app.test_client(), token)
    visit = start_visit(team, assignment_id)
    assert team.post(f"/api/v1/visits/{visit['id']}/submit", {"client_id": uid()}).status_code == 200
    return visit["id"], round_id


def test_reviewer_reads_no_plan_of_a_drawn_visit_while_its_round_is_open(shared_app, open_round_visit):
    """Round still open: the township's reviewer reads the visit but not its origin, round, team, due date or items."""
    app, world = shared_app
    visit_id, round_id = open_round_visit
    shown = Api(app.test_client(), world.tokens["reviewer1"]).get(f"/api/v1/visits/{visit_id}")
    assert shown.status_code == 200
    assert {k: shown.get_json()["assignment"][k] for k in PLAN_KEYS} == {
        "origin": None,
        "round_id": None,
        "due_date": None,
        "check_items": [],
        "check_items_count": None,
        "inspectors": [],
    }
    assert "公示栏是否张贴" not in shown.get_data(as_text=True)
    for caller in ("admin", "leader"):
        plan = Api(app.test_client(), world.tokens[caller]).get(f"/api/v1/visits/{visit_id}").get_json()["assignment"]
        assert (plan["origin"], plan["round_id"], len(plan["inspectors"])) == ("drawn", round_id, 2), caller


def test_reviewer_reads_the_plan_once_the_round_is_closed(shared_app, open_round_visit):
    """After the round closes (and with it the assignment) the reviewer reads origin, round and team."""
    app, world = shared_app
    visit_id, round_id = open_round_visit
    with app.app_context():
        rounds.close(db.session, db.session.get(User, world.ids["admin"]), round_id)
    plan = Api(app.test_client(), world.tokens["reviewer1"]).get(f"/api/v1/visits/{visit_id}").get_json()["assignment"]
    assert (plan["origin"], plan["round_id"], len(plan["inspectors"]), plan["check_items_count"]) == (
        "drawn",
        round_id,
        2,
        2,
    )
