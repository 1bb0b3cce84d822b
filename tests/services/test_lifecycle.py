"""Project lifecycle: application, 二审三定, start, observation, acceptance — rules and permissions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from server import clock
from server.db import db
from server.errors import ApiError
from server.models import PROJECT_STATUSES, AuditEntry, Project, ProjectReview
from server.services import audit, lifecycle
from tests.factories import Api, application_body, build_lifecycle, uid

P = "/api/v1/projects"


@pytest.fixture
def lc(app, world):
    """The base world plus organizations, their secretaries and reporting-unit reviewers."""
    with app.app_context():
        return build_lifecycle(world)


@pytest.fixture
def as_(client, lc):
    """as_(name) -> an Api acting as that user of the world."""
    return lambda name: Api(client, lc.tokens[name] if name else None)


def apply(as_, lc, who="secretary", **overrides) -> dict:
    """A complete application saved as a draft; returns the project JSON."""
    r = as_(who).post(f"{P}/applications", application_body(lc, **overrides))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def move(as_, who, pid, action, **extra):
    """POST a transition and return the response."""
    return as_(who).post(f"{P}/{pid}/transitions", {"action": action, **extra})


def to_status(as_, lc, status: str) -> int:
    """A project of org1 walked to `status` through the legal moves; returns its id."""
    pid = apply(as_, lc)["id"]
    path = {
        "draft": [],
        "submitted": [("secretary", "submit")],
        "unit_reviewed": [("secretary", "submit"), ("unit1", "unit_approve")],
        "approved": [("secretary", "submit"), ("unit1", "unit_approve"), ("admin", "approve")],
        "rejected": [("secretary", "submit"), ("unit1", "unit_approve"), ("admin", "reject")],
        "in_progress": [
            ("secretary", "submit"),
            ("unit1", "unit_approve"),
            ("admin", "approve"),
            ("secretary", "start"),
        ],
    }[status]
    for who, action in path:
        r = move(as_, who, pid, action, opinion="同意")
        assert r.status_code == 200, r.get_json()
    return pid


# ---- applications ---------------------------------------------------------------------------


def test_secretary_saves_a_draft_once_per_client_id(as_, lc):
    """A retried application answers 200 with the same project; only one row exists."""
    body = application_body(lc)
    first = as_("secretary").post(f"{P}/applications", body)
    again = as_("secretary").post(f"{P}/applications", body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["id"] == again.get_json()["id"]
    assert first.get_json()["status"] == "draft" and first.get_json()["actions"] == ["submit"]


def test_secretary_applies_only_for_own_organization(as_, lc):
    """Applying in the name of another party organization is refused."""
    r = as_("secretary").post(f"{P}/applications", application_body(lc, organization_id=lc.org2))
    assert r.status_code == 400 and r.get_json()["error"]["details"]["field"] == "organization_id"


def test_incomplete_application_cannot_be_submitted(as_, lc):
    """Submitting lacks-fields drafts answers 422 listing what is missing, in Chinese."""
    pid = apply(as_, lc, problem="", targets=[], responsible={"主管领导": "张镇长"})["id"]
    r = move(as_, "secretary", pid, "submit")
    assert r.status_code == 422
    err = r.get_json()["error"]
    assert err["code"] == "application_incomplete"
    assert {m["field"] for m in err["details"]["missing"]} == {"problem", "targets", "responsible"}
    assert "牵头书记" in err["message"]


def test_draft_is_editable_until_submitted(as_, lc):
    """The applicant edits a draft; once submitted the application is a 409 to edit."""
    pid = apply(as_, lc)["id"]
    r = as_("secretary").patch(f"{P}/{pid}/application", {"title": "村集体经济增收二期"})
    assert r.status_code == 200 and r.get_json()["title"] == "村集体经济增收二期"
    assert move(as_, "secretary", pid, "submit").status_code == 200
    r = as_("secretary").patch(f"{P}/{pid}/application", {"title": "改名"})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "illegal_transition"


# ---- the status machine -----------------------------------------------------------------------


def test_full_path_from_application_to_acceptance(app, as_, lc):
    """draft → submitted → unit_reviewed → approved → in_progress → accepted, each in the audit log."""
    pid = apply(as_, lc)["id"]
    assert move(as_, "secretary", pid, "submit").get_json()["status"] == "submitted"
    assert move(as_, "unit1", pid, "unit_approve", opinion="材料齐全").get_json()["status"] == "unit_reviewed"
    r = move(as_, "admin", pid, "approve", opinion="同意立项", score=88)
    assert r.get_json()["status"] == "approved"
    assert move(as_, "secretary", pid, "start").get_json()["status"] == "in_progress"
    r = as_("admin").post(
        f"{P}/{pid}/acceptance",
        {"accepted_on": "2026-11-20", "rating": "优秀", "opinion": "目标全部完成", "members": "验收组"},
    )
    assert r.status_code == 201 and r.get_json()["status"] == "accepted"
    history = r.get_json()["reviews"]
    assert [h["to"] for h in history] == ["submitted", "unit_reviewed", "approved", "in_progress", "accepted"]
    assert history[2]["score"] == 88 and history[2]["opinion"] == "同意立项"
    with app.app_context():
        actions = db.session.scalars(
            select(AuditEntry.action).where(AuditEntry.object_id == str(pid), AuditEntry.object_type == "project")
        ).all()
        assert {
            "project.apply",
            "project.submit",
            "project.unit_approve",
            "project.approve",
            "project.start",
            "project.accept",
        } <= set(actions)
        assert audit.verify(db.session).ok


def test_every_illegal_transition_is_a_409(app, as_, lc):
    """For every status and every move not allowed from it, an admin gets 409 and nothing changes."""
    pid = apply(as_, lc)["id"]
    with app.app_context():
        admin = db.session.get(lifecycle.User, lc.ids["admin"])
        for status in PROJECT_STATUSES:
            for action, m in lifecycle.MOVES.items():
                if status in m.sources:
                    continue
                db.session.get(Project, pid).status = status
                db.session.commit()
                with pytest.raises(ApiError) as caught:
                    lifecycle.transition(db.session, admin, pid, action, {"opinion": "理由"})
                assert caught.value.status == 409, (status, action)
                db.session.rollback()
                assert db.session.get(Project, pid).status == status
        assert db.session.scalar(select(ProjectReview.id).where(ProjectReview.project_id == pid)) is None


def test_illegal_transition_over_http(as_, lc):
    """Approving a draft answers 409 illegal_transition with the current status."""
    pid = apply(as_, lc)["id"]
    r = move(as_, "admin", pid, "approve")
    assert r.status_code == 409
    assert r.get_json()["error"]["code"] == "illegal_transition"
    assert r.get_json()["error"]["details"]["status"] == "draft"


@pytest.mark.parametrize("action", ["return", "reject", "close"])
def test_moves_that_need_a_reason(as_, lc, action):
    """Returning, rejecting and closing without a reason are refused."""
    pid = to_status(as_, lc, "in_progress" if action == "close" else "unit_reviewed")
    r = move(as_, "admin", pid, action)
    assert r.status_code == 400 and r.get_json()["error"]["details"]["field"] == "opinion"


def test_unit_returns_an_application_for_revision(as_, lc):
    """The reporting unit sends a submitted application back to draft with its opinion; it can be resubmitted."""
    pid = to_status(as_, lc, "submitted")
    r = move(as_, "unit1", pid, "return", opinion="目标不够具体,请量化")
    assert r.status_code == 200 and r.get_json()["status"] == "draft"
    assert r.get_json()["reviews"][-1]["opinion"] == "目标不够具体,请量化"
    assert move(as_, "secretary", pid, "submit").get_json()["status"] == "submitted"


def test_retried_move_with_client_id_answers_the_same(as_, lc):
    """A submit retried with its client_id answers 200 again instead of a 409."""
    pid = apply(as_, lc)["id"]
    cid = uid()
    first = move(as_, "secretary", pid, "submit", client_id=cid)
    again = move(as_, "secretary", pid, "submit", client_id=cid)
    assert first.status_code == again.status_code == 200
    assert again.get_json()["status"] == "submitted"


# ---- who may do what ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "who,action,start,status",
    [
        ("unit2", "unit_approve", "submitted", 404),  # another unit's organization: not even visible
        ("secretary", "unit_approve", "submitted", 403),
        ("unit1", "approve", "unit_reviewed", 403),  # only the department decides
        ("secretary", "approve", "unit_reviewed", 403),
        ("sec2", "submit", "draft", 404),  # another secretary's draft
        ("unit1", "submit", "draft", 404),  # drafts stay with their applicant
        ("leader", "approve", "unit_reviewed", 403),  # leaders read
        ("unit1", "start", "approved", 403),
        ("reviewer1", "start", "approved", 403),
    ],
)
def test_moves_are_limited_to_their_actors(as_, lc, who, action, start, status):
    """Each move is made only by the parts named for it; others get 403, or 404 when out of scope."""
    pid = to_status(as_, lc, start)
    assert move(as_, who, pid, action, opinion="x").status_code == status


def test_secretary_sees_only_own_projects(as_, lc):
    """My projects list only the caller's applications; another secretary's project is a 404."""
    mine = apply(as_, lc)["id"]
    theirs = apply(as_, lc, who="sec2", organization_id=lc.org2, village_ids=[lc.v2])["id"]
    ids = [p["id"] for p in as_("secretary").get(f"{P}/mine").get_json()["items"]]
    assert mine in ids and theirs not in ids
    assert as_("secretary").get(f"{P}/{theirs}").status_code == 404
    assert as_("sec2").get(f"{P}/{theirs}").status_code == 200


def test_unit_reviewer_sees_only_its_organizations(as_, lc):
    """A reporting unit's queue and reads cover its organizations, not others'."""
    p1 = to_status(as_, lc, "submitted")
    p2 = apply(as_, lc, who="sec2", organization_id=lc.org2, village_ids=[lc.v2])["id"]
    move(as_, "sec2", p2, "submit")
    assert [p["id"] for p in as_("unit1").get(f"{P}/reviews").get_json()["items"]] == [p1]
    assert [p["id"] for p in as_("unit2").get(f"{P}/reviews").get_json()["items"]] == [p2]
    assert as_("unit1").get(f"{P}/{p2}").status_code == 404
    assert as_("unit2").get(f"{P}/{p1}").status_code == 404
    assert {p["id"] for p in as_("admin").get(f"{P}/reviews").get_json()["items"]} >= {p1, p2}


def test_applications_are_not_public_until_approved(as_, lc):
    """The public record, reviewers and villagers' feedback see a project only from 立项 on."""
    pid = to_status(as_, lc, "unit_reviewed")
    assert as_(None).get(f"/api/v1/public/projects/{pid}").status_code == 404
    assert as_("reviewer1").get(f"{P}/{pid}").status_code == 404
    move(as_, "admin", pid, "approve", opinion="同意")
    record = as_(None).get(f"/api/v1/public/projects/{pid}").get_json()
    assert record["targets"] == ["村集体年收入达到10万元"]
    assert record["responsible"]["牵头书记"] == "李书记"
    assert record["status_label"] == "已立项"
    assert as_("reviewer1").get(f"{P}/{pid}").status_code == 200
    assert as_("reviewer2").get(f"{P}/{pid}").status_code == 404  # another township


def test_rejected_application_stays_private(as_, lc):
    """A project not approved (不予立项) never reaches the public record."""
    pid = to_status(as_, lc, "rejected")
    assert as_(None).get(f"/api/v1/public/projects/{pid}").status_code == 404
    assert as_("secretary").get(f"{P}/{pid}").get_json()["reviews"][-1]["action"] == "reject"


def test_no_token_is_401(as_, lc):
    """Every lifecycle endpoint needs a login."""
    for path in (f"{P}/mine", f"{P}/reviews", f"{P}/1"):
        assert as_(None).get(path).status_code == 401


# ---- observation and acceptance -------------------------------------------------------------


def test_observation_by_staff_in_scope(as_, lc):
    """A reviewer of the project's township records a 观摩 with its quarter; a secretary cannot."""
    pid = to_status(as_, lc, "in_progress")
    r = as_("reviewer1").post(
        f"{P}/{pid}/observations",
        {"observed_on": "2026-10-15", "rating": "较好", "observers": "组织部观摩组", "notes": "合作社已运转"},
    )
    assert r.status_code == 201 and r.get_json()["quarter"] == "2026Q4"
    assert (
        as_("secretary").post(f"{P}/{pid}/observations", {"observed_on": "2026-10-15", "rating": "好"}).status_code
        == 403
    )
    assert (
        as_("reviewer2").post(f"{P}/{pid}/observations", {"observed_on": "2026-10-15", "rating": "好"}).status_code
        == 404
    )
    detail = as_("admin").get(f"{P}/{pid}").get_json()
    assert detail["observations"][0]["rating"] == "较好"


def test_an_observation_of_chinas_today_is_taken_before_the_servers_clock_reaches_that_day(as_, lc, monkeypatch):
    """From 00:00 to 08:00 China time a UTC server's calendar is still on yesterday: an observation
    dated China's today is not "later than today", and the next day is."""
    china_today = date.today() + timedelta(days=1)
    monkeypatch.setattr(clock, "today", lambda: china_today)
    pid = to_status(as_, lc, "in_progress")
    r = as_("reviewer1").post(f"{P}/{pid}/observations", {"observed_on": china_today.isoformat(), "rating": "较好"})
    assert r.status_code == 201, r.get_json()
    tomorrow = (china_today + timedelta(days=1)).isoformat()
    r = as_("reviewer1").post(f"{P}/{pid}/observations", {"observed_on": tomorrow, "rating": "较好"})
    assert r.status_code == 400 and r.get_json()["error"]["details"]["field"] == "observed_on"


def test_observation_of_an_application_is_409(as_, lc):
    """An application under review is not observed yet."""
    pid = to_status(as_, lc, "submitted")
    r = as_("admin").post(f"{P}/{pid}/observations", {"observed_on": "2026-10-15", "rating": "好"})
    assert r.status_code == 409


def test_failed_acceptance_keeps_the_project_running(as_, lc):
    """不合格 is recorded and the project stays in progress; a later pass accepts it."""
    pid = to_status(as_, lc, "in_progress")
    r = as_("admin").post(
        f"{P}/{pid}/acceptance", {"accepted_on": "2026-11-01", "rating": "不合格", "opinion": "加工厂未投产"}
    )
    assert r.status_code == 201 and r.get_json()["status"] == "in_progress"
    r = as_("admin").post(f"{P}/{pid}/acceptance", {"accepted_on": "2026-11-20", "rating": "合格", "opinion": "已投产"})
    assert r.get_json()["status"] == "accepted"
    assert [a["passed"] for a in r.get_json()["acceptances"]] == [True, False]


def test_acceptance_only_of_running_projects_by_admins(as_, lc):
    """Accepting an approved-but-not-started project is 409; a reviewer may not accept at all."""
    pid = to_status(as_, lc, "approved")
    body = {"accepted_on": "2026-11-20", "rating": "合格", "opinion": "好"}
    assert as_("admin").post(f"{P}/{pid}/acceptance", body).status_code == 409
    assert as_("reviewer1").post(f"{P}/{pid}/acceptance", body).status_code == 403


def test_admin_cannot_set_status_by_editing(as_, lc):
    """The project edit no longer takes a status: it moves only through transitions."""
    r = as_("admin").patch(f"/api/v1/admin/projects/{lc.p1}", {"status": "accepted"})
    assert r.status_code == 400


def test_secretary_places_a_project_only_in_own_townships(as_, lc):
    """A village of another township is refused in a secretary's application."""
    r = as_("secretary").post(f"{P}/applications", application_body(lc, village_ids=[lc.v2]))
    assert r.status_code == 400 and r.get_json()["error"]["details"]["village_ids"] == [lc.v2]
