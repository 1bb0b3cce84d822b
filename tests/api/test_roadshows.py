"""路演评审 over the JSON API: an expert's scoped list and live sheets, the host's advance, the results."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.auth import issue_token
from server.db import db
from server.models import User
from server.services import users
from tests.api.conftest import error_of
from tests.console.test_roadshow import build
from tests.factories import Api


@pytest.fixture
def show(app, world):
    """A started roadshow (p1 up, p2 and p3 waiting) with three experts."""
    return build(app, world)


def as_user(client, app, username: str) -> Api:
    """The API as one of the test's users, with a token issued for it."""
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        return Api(client, issue_token(user))


def sheet_url(show: dict, speaker: int, finalize: bool = False) -> str:
    """The URL of an expert's sheet for a speaker."""
    return f"/api/v1/roadshows/{show['roadshow']}/speakers/{speaker}/sheet" + ("/finalize" if finalize else "")


def test_an_expert_saves_then_finalizes_and_the_sheet_locks(client, app, world, show):
    """PUT saves (changeable), POST finalize locks; a later PUT is a 409 in Chinese."""
    api, sp = as_user(client, app, "expert1"), show["speakers"][world.p1]
    r = api.put(sheet_url(show, sp), {"scores": {"c1": 90}})
    assert r.status_code == 200 and r.get_json()["total"] is None and r.get_json()["finalized_at"] is None
    r = api.post(sheet_url(show, sp, True), {"scores": {"c1": "90", "c2": "80.5"}, "comment": "思路清晰"})
    assert r.status_code == 200 and r.get_json()["total"] == "86.20" and r.get_json()["finalized_at"]
    r = api.put(sheet_url(show, sp), {"scores": {"c1": 10, "c2": 10}})
    assert r.status_code == 409 and "评分表已锁定" in error_of(r)["message"]
    detail = api.get(f"/api/v1/roadshows/{show['roadshow']}").get_json()
    assert [s["scores"] for s in detail["my_sheets"]] == [{"c1": "90", "c2": "80.5"}]


def test_a_speaker_not_yet_up_is_refused(client, app, world, show):
    """p2 waits: its sheet is a 409 with the reason in Chinese."""
    r = as_user(client, app, "expert1").post(
        sheet_url(show, show["speakers"][world.p2], True), {"scores": {"c1": 1, "c2": 1}}
    )
    assert r.status_code == 409 and error_of(r)["message"] == "该项目还没有开始路演,不能评分"


def test_the_host_advances_and_results_follow(client, app, world, show):
    """After three finalized sheets p1's score shows; the host's advance answers with p2 up."""
    sp = show["speakers"][world.p1]
    for n, c1 in ((1, 90), (2, 80), (3, 70)):
        assert (
            as_user(client, app, f"expert{n}")
            .post(sheet_url(show, sp, True), {"scores": {"c1": c1, "c2": 80}})
            .status_code
            == 200
        )
    admin = Api(client, world.tokens["admin"])
    r = admin.post(f"/api/v1/roadshows/{show['roadshow']}/advance")
    assert r.status_code == 200 and r.get_json()["current_speaker_id"] == show["speakers"][world.p2]
    data = admin.get(f"/api/v1/roadshows/{show['roadshow']}/results").get_json()
    assert data["ranking"][0]["id"] == sp and data["ranking"][0]["score"] == "80.00"


def test_a_leader_may_not_advance(client, app, world, show):
    """Leaders watch: the host's move is a 403."""
    r = Api(client, world.tokens["leader"]).post(f"/api/v1/roadshows/{show['roadshow']}/advance")
    assert r.status_code == 403


def test_an_expert_off_the_panel_sees_nothing(client, app, world, show):
    """Another expert: an empty list, 404 on the roadshow, its results and its sheets."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        users.create_user(
            db.session,
            admin,
            {"username": "outsider", "name": "局外专家", "roles": ["expert"], "password": "outsider-password"},
        )
    api = as_user(client, app, "outsider")
    assert api.get("/api/v1/roadshows").get_json() == {"items": []}
    assert api.get(f"/api/v1/roadshows/{show['roadshow']}").status_code == 404
    assert api.get(f"/api/v1/roadshows/{show['roadshow']}/results").status_code == 404
    assert api.put(sheet_url(show, show["speakers"][world.p1]), {"scores": {"c1": 1}}).status_code == 404
    assert len(as_user(client, app, "expert1").get("/api/v1/roadshows").get_json()["items"]) == 1


def test_closing_ending_and_copying_through_the_api(client, app, world, show):
    """The host closes p1 after two sheets (too few for a score), ends, and copies: p1 is skipped, twice alike."""
    sp = show["speakers"][world.p1]
    for n in (1, 2):
        as_user(client, app, f"expert{n}").post(sheet_url(show, sp, True), {"scores": {"c1": 90, "c2": 80}})
    admin, base = Api(client, world.tokens["admin"]), f"/api/v1/roadshows/{show['roadshow']}"
    assert admin.post(f"{base}/copy-to-grading").status_code == 409  # not ended yet
    closed = admin.post(f"{base}/speakers/{sp}/close").get_json()["speakers"][0]
    assert (closed["shown"], closed["score"], closed["expert_totals"]) == (True, None, ["86.00", "86.00"])
    assert admin.post(f"{base}/end").get_json()["status"] == "ended"
    for _ in range(2):
        r = admin.post(f"{base}/copy-to-grading")
        assert r.status_code == 200
        body = r.get_json()
        assert (body["projects"], body["seats_created"], body["seats_changed"]) == (0, 0, 0)
        assert body["skipped"][:2] == ["蜜柚产业项目", "旱厕改造"] and len(body["skipped"]) == 3
