"""中期互评 through /api/v1/peer-reviews: secretaries score other organizations' projects (never their own),
results and ranking, who has not scored yet, closing locks the scores."""

from __future__ import annotations

import pytest

from server.auth import issue_token
from server.db import db
from server.models import User
from server.services import projects, users
from tests.api.conftest import error_of
from tests.factories import Api, build_lifecycle

R = "/api/v1/peer-reviews"
GOOD = {"推进成效": 8, "特色亮点": 7, "群众认可": 9}


@pytest.fixture
def pr(app, world):
    """org1 (secretary) runs p1 and p3, org2 (sec2) runs p2, org3 (sec3) runs nothing; all three take part."""
    with app.app_context():
        build_lifecycle(world)
        s = db.session
        admin = s.get(User, world.ids["admin"])
        org3 = projects.create_organization(s, admin, {"name": "高新区非公企业党委", "township_id": world.t1})
        sec3, _ = users.create_user(
            s,
            admin,
            {
                "username": "sec3",
                "name": "赵书记",
                "roles": ["secretary"],
                "password": "sec3-password",
                "organization_ids": [org3.id],
            },
        )
        for pid, org in ((world.p1, world.org1), (world.p3, world.org1), (world.p2, world.org2)):
            projects.update_project(s, admin, pid, {"organization_id": org})
        world.org3 = org3.id
        world.tokens["sec3"] = issue_token(sec3)
    return world


def as_(client, world, who) -> Api:
    """The API as a world user."""
    return Api(client, world.tokens[who])


def opened(client, world) -> dict:
    """A round for 2026 with the three organizations and the default criteria."""
    r = as_(client, world, "admin").post(R, {"year": 2026, "organization_ids": [world.org1, world.org2, world.org3]})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def test_secretary_scores_other_organizations_projects(app, client, pr):
    """secretary (org1) sees only p2 on their sheet and scores it; the admin's results show it."""
    rnd = opened(client, pr)
    assert rnd["criteria"] == ["推进成效", "特色亮点", "群众认可"]
    sec = as_(client, pr, "secretary")
    sheet = sec.get(f"{R}/{rnd['id']}").get_json()["sheet"]
    assert [row["project_id"] for row in sheet] == [pr.p2]
    r = sec.put(f"{R}/{rnd['id']}/projects/{pr.p2}/score", {"scores": GOOD, "comment": "亮点突出"})
    assert r.status_code == 200 and r.get_json()["organization_id"] == pr.org1
    results = as_(client, pr, "admin").get(f"{R}/{rnd['id']}").get_json()["results"]
    assert results[0] == {"rank": 1, "project_id": pr.p2, "title": "旱厕改造", "mean": "24.00", "scores": 1}


def test_secretary_may_not_score_their_own_organizations_project(app, client, pr):
    """secretary (org1) on p1 of org1: 403 forbidden, nothing stored, even when naming org1 explicitly."""
    rnd = opened(client, pr)
    sec = as_(client, pr, "secretary")
    r = sec.put(f"{R}/{rnd['id']}/projects/{pr.p1}/score", {"scores": GOOD})
    assert r.status_code == 403 and "本党组织" in error_of(r)["message"]
    r = sec.put(f"{R}/{rnd['id']}/projects/{pr.p1}/score", {"scores": GOOD, "organization_id": pr.org1})
    assert r.status_code == 403
    results = as_(client, pr, "admin").get(f"{R}/{rnd['id']}").get_json()["results"]
    assert all(row["scores"] == 0 for row in results)


def test_results_rank_by_mean_and_list_who_has_not_scored(app, client, pr):
    """Mean of the organizations' totals; the reminder list names org3 and its secretary until they score."""
    rnd = opened(client, pr)
    rid = rnd["id"]
    as_(client, pr, "secretary").put(f"{R}/{rid}/projects/{pr.p2}/score", {"scores": GOOD})  # 24
    as_(client, pr, "sec2").put(f"{R}/{rid}/projects/{pr.p1}/score", {"scores": {**GOOD, "推进成效": 10}})  # 26
    as_(client, pr, "sec2").put(f"{R}/{rid}/projects/{pr.p3}/score", {"scores": GOOD})  # 24
    as_(client, pr, "sec3").put(f"{R}/{rid}/projects/{pr.p1}/score", {"scores": {k: 5 for k in GOOD}})  # 15
    detail = as_(client, pr, "leader").get(f"{R}/{rid}").get_json()
    assert [(r["project_id"], r["mean"], r["rank"]) for r in detail["results"]] == [
        (pr.p2, "24.00", 1),  # 24 from one organization
        (pr.p3, "24.00", 2),  # 24 from one too: the lower project id goes first
        (pr.p1, "20.50", 3),  # (26 + 15) / 2
    ]
    pending = {p["organization_id"]: p for p in detail["pending"]}
    assert set(pending) == {pr.org3}
    assert sorted(pending[pr.org3]["missing_project_ids"]) == sorted([pr.p2, pr.p3])
    assert pending[pr.org3]["secretaries"] == ["赵书记"]


def test_closing_locks_the_scores(app, client, pr):
    """After close a score is 409; closing again changes nothing; only admins close."""
    rnd = opened(client, pr)
    assert as_(client, pr, "leader").post(f"{R}/{rnd['id']}/close").status_code == 403
    assert as_(client, pr, "admin").post(f"{R}/{rnd['id']}/close").get_json()["status"] == "closed"
    assert as_(client, pr, "admin").post(f"{R}/{rnd['id']}/close").status_code == 200
    r = as_(client, pr, "secretary").put(f"{R}/{rnd['id']}/projects/{pr.p2}/score", {"scores": GOOD})
    assert r.status_code == 409


def test_scores_must_cover_every_criterion_from_1_to_10(app, client, pr):
    """A missing criterion, an 11 or an unknown criterion: 400."""
    rnd = opened(client, pr)
    sec = as_(client, pr, "secretary")
    url = f"{R}/{rnd['id']}/projects/{pr.p2}/score"
    assert sec.put(url, {"scores": {"推进成效": 8}}).status_code == 400
    assert sec.put(url, {"scores": {**GOOD, "推进成效": 11}}).status_code == 400
    assert sec.put(url, {"scores": {**GOOD, "其他": 5}}).status_code == 400


def test_who_sees_which_round(app, client, pr):
    """A secretary outside the round gets 404 and an empty list; reviewers are refused; only admins open rounds."""
    r = as_(client, pr, "admin").post(R, {"year": 2026, "organization_ids": [pr.org1, pr.org2]})
    rid = r.get_json()["id"]
    assert as_(client, pr, "sec3").get(f"{R}/{rid}").status_code == 404
    assert as_(client, pr, "sec3").get(R).get_json()["items"] == []
    assert as_(client, pr, "secretary").get(R).get_json()["items"][0]["id"] == rid
    assert as_(client, pr, "reviewer1").get(R).status_code == 403
    assert as_(client, pr, "leader").post(R, {"year": 2026, "organization_ids": [pr.org1, pr.org2]}).status_code == 403
    one = as_(client, pr, "admin").post(R, {"year": 2026, "organization_ids": [pr.org1, pr.org1]})
    assert one.status_code == 400


def test_secretary_of_two_organizations_names_one_and_scores_neither(app, client, pr):
    """Belonging to org1 and org2: the sheet asks which one (400); scoring org2's p2 in org1's name is 403 too."""
    with app.app_context():
        users.update_user(
            db.session,
            db.session.get(User, pr.ids["admin"]),
            pr.ids["secretary"],
            {"organization_ids": [pr.org1, pr.org2]},
        )
    rnd = opened(client, pr)
    sec = as_(client, pr, "secretary")
    assert sec.get(f"{R}/{rnd['id']}").status_code == 400
    assert sec.get(f"{R}/{rnd['id']}", query_string={"organization_id": pr.org2}).get_json()["sheet"] == []
    r = sec.put(f"{R}/{rnd['id']}/projects/{pr.p2}/score", {"scores": GOOD, "organization_id": pr.org1})
    assert r.status_code == 403 and "本党组织" in error_of(r)["message"]
