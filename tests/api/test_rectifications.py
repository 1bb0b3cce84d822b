"""Rectification orders: issuing, the secretary's API and photos, verification, closing, scope, overdue."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

# The API package first, as create_app loads it: services.photos and the API import each other.
import server.api  # noqa: F401
from server import clock
from server.db import db
from server.errors import ApiError
from server.models import AuditEntry, Photo, Project, RectificationOrder, User
from server.services import audit, rectification
from tests.factories import V1, V2, Api, now_iso, start_visit, uid
from tests.support.images import phone_jpeg
from tests.support.upload import upload

CHINA = timezone(timedelta(hours=8))
HOUSEHOLD = "罗焕敬家"
ANSWER = "书记从来没来过我们组"


@pytest.fixture
def secretary(app, client, world) -> Api:
    """The secretary of project p1 (蜜柚产业项目); p2 and p3 have none."""
    with app.app_context():
        db.session.get(Project, world.p1).secretary_id = world.ids["secretary"]
        db.session.commit()
    return Api(client, world.tokens["secretary"])


@pytest.fixture
def insp(client, world) -> Api:
    """Inspector A, on the team of assignment a1 (p1 at 江南村, township t1)."""
    return Api(client, world.tokens["insp_a"])


def submitted_visit(api: Api, assignment_id: int, *, interview: bool = True) -> int:
    """A submitted visit with a failed check item and, by default, a villager interview."""
    visit = start_visit(api, assignment_id)
    vid = visit["id"]
    if interview:
        r = api.post(
            f"/api/v1/visits/{vid}/interviews",
            {
                "client_id": uid(),
                "sent_at": now_iso(),
                "household": HOUSEHOLD,
                "answers": {"书记是否来过": ANSWER},
                "satisfaction": "不满意",
                "notes": "不愿透露姓名",
            },
        )
        assert r.status_code == 201, r.get_json()
    r = api.put(
        f"/api/v1/visits/{vid}/checklist",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "items": [{"item": "公示栏是否张贴", "result": "fail", "note": "公示栏未更新"}],
        },
    )
    assert r.status_code in (200, 201), r.get_json()
    r = api.post(f"/api/v1/visits/{vid}/submit", {"client_id": uid(), "sent_at": now_iso()})
    assert r.status_code == 200, r.get_json()
    return vid


def staff(username_id: int) -> User:
    """A user row in the current app context."""
    return db.session.get(User, username_id)


def issue(app, world, actor: str = "admin", **kw) -> int:
    """Issue an order through the service; returns its id."""
    kw.setdefault("items", ["公示栏未按要求更新", "项目进度滞后于计划"])
    if "visit_id" not in kw:
        kw.setdefault("project_id", world.p1)
    with app.app_context():
        return rectification.issue(db.session, staff(world.ids[actor]), **kw).id


def set_deadline(app, order_id: int, deadline: date) -> None:
    """Move an order's deadline (to make it overdue without waiting months)."""
    with app.app_context():
        db.session.get(RectificationOrder, order_id).deadline = deadline
        db.session.commit()


def ready_photo(api: Api, seed: int = 1, at: tuple[float, float] = V1) -> int:
    """Ticket, upload and complete a rectification photo taken at `at`; returns its id."""
    data = phone_jpeg(size=(800, 600), seed=seed, gps=at, taken=datetime.now(CHINA).replace(tzinfo=None))
    r = api.post(
        "/api/v1/rectifications/photos",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "content_type": "image/jpeg",
            "size": len(data),
            "taken_at": now_iso(),
            "lat": at[0],
            "lng": at[1],
            "coord_type": "wgs84",
        },
    )
    assert r.status_code == 201, r.get_json()
    ticket = r.get_json()
    assert upload(api.client, ticket["upload"], data) == 204
    r = api.post(f"/api/v1/photos/{ticket['photo_id']}/complete")
    assert r.status_code == 200 and r.get_json()["status"] == "ready", r.get_json()
    return ticket["photo_id"]


def respond(
    api: Api, order_id: int, photo_ids=(), client_id: str | None = None, text: str = "公示栏已更新,进度已追上。"
):
    """POST the secretary's response."""
    return api.post(
        f"/api/v1/rectifications/{order_id}/response",
        {"client_id": client_id or uid(), "sent_at": now_iso(), "text": text, "photo_ids": list(photo_ids)},
    )


def act(app, world, fn, *args, actor: str = "admin"):
    """Call a staff transition in an app context; returns the order's status or raises ApiError."""
    with app.app_context():
        return fn(db.session, staff(world.ids[actor]), *args).status


# ---- issuing ---------------------------------------------------------------------------------


def test_default_deadline_is_three_months(app, world):
    """Without a deadline an order is due three calendar months after the China day of issue."""
    order_id = issue(app, world)
    with app.app_context():
        order = db.session.get(RectificationOrder, order_id)
        issued_day = order.issued_at.astimezone(CHINA).date()
        assert order.deadline == clock.add_months(issued_day, 3)
        assert (order.status, order.items) == ("issued", ["公示栏未按要求更新", "项目进度滞后于计划"])


def test_issue_copies_township_and_organization_from_the_project(app, world):
    """An order is scoped to the project's township and addressed to its organization."""
    from server.services import projects

    with app.app_context():
        org = projects.create_organization(db.session, staff(world.ids["admin"]), {"name": "江南村党支部"})
        db.session.get(Project, world.p1).organization_id = org.id
        db.session.commit()
        org_id = org.id
    order_id = issue(app, world)
    with app.app_context():
        order = db.session.get(RectificationOrder, order_id)
        assert (order.township_id, order.organization_id, order.visit_id) == (world.t1, org_id, None)


def test_issue_from_a_visit_in_progress_is_409(app, world, insp):
    """Findings are final only once the visit is submitted."""
    visit = start_visit(insp, world.a1)
    with pytest.raises(ApiError) as exc:
        issue(app, world, visit_id=visit["id"])
    assert exc.value.status == 409


def test_reviewer_issues_only_for_visits_in_scope(app, world, insp):
    """A reviewer of the visit's township may issue; one of another township gets 404."""
    vid = submitted_visit(insp, world.a1)
    assert issue(app, world, actor="reviewer1", visit_id=vid)
    with pytest.raises(ApiError) as exc:
        issue(app, world, actor="reviewer2", visit_id=vid)
    assert exc.value.status == 404


def test_leader_cannot_issue(app, world):
    """Leaders read; issuing is 403."""
    with pytest.raises(ApiError) as exc:
        issue(app, world, actor="leader")
    assert exc.value.status == 403


def test_issue_needs_an_item(app, world):
    """Blank lines are not findings: an order without items is refused."""
    with pytest.raises(ApiError) as exc:
        issue(app, world, items=["", "  "])
    assert exc.value.code == "validation_failed"


def test_issue_refuses_a_past_deadline(app, world):
    """A deadline before today is a mistake, not an order."""
    with pytest.raises(ApiError) as exc:
        issue(app, world, deadline=clock.today() - timedelta(days=1))
    assert exc.value.details == {"field": "deadline"}


# ---- the secretary's API ------------------------------------------------------------------------


def test_secretary_lists_only_orders_of_own_projects(app, world, secretary):
    """The list holds p1's order and not p2's."""
    mine = issue(app, world)
    issue(app, world, project_id=world.p2)
    body = secretary.get("/api/v1/rectifications").get_json()
    assert [o["id"] for o in body["items"]] == [mine]
    assert body["total"] == 1 and body["counts"]["issued"] == 1


def test_secretary_gets_404_for_another_projects_order(app, world, secretary):
    """Reading or answering an order of a project one is not secretary of is 404."""
    other = issue(app, world, project_id=world.p2)
    assert secretary.get(f"/api/v1/rectifications/{other}").status_code == 404
    assert respond(secretary, other).status_code == 404


def test_api_is_for_secretaries(client, world, secretary):
    """Inspectors and villagers get 403, no token 401."""
    assert Api(client, world.tokens["insp_a"]).get("/api/v1/rectifications").status_code == 403
    assert Api(client, world.tokens["villager"]).get("/api/v1/rectifications").status_code == 403
    assert Api(client).get("/api/v1/rectifications").status_code == 401


def test_order_json_never_contains_interview_data(app, world, insp, secretary):
    """An order made from a visit shows neither the household nor the answers nor the visit."""
    vid = submitted_visit(insp, world.a1)
    order_id = issue(app, world, visit_id=vid, items=["公示栏是否张贴:公示栏未更新"])
    for r in (secretary.get(f"/api/v1/rectifications/{order_id}"), secretary.get("/api/v1/rectifications")):
        text = r.get_data(as_text=True)
        assert r.status_code == 200
        assert HOUSEHOLD not in text and ANSWER not in text and "不愿透露" not in text
        assert "visit" not in text


def test_response_with_photos_through_the_pipeline(app, world, secretary):
    """Ticket → upload → complete → attach: the order is responded with the photos attached."""
    order_id = issue(app, world)
    photo_id = ready_photo(secretary)
    r = respond(secretary, order_id, [photo_id])
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["status"] == "responded" and body["response"]["text"] == "公示栏已更新,进度已追上。"
    assert [p["id"] for p in body["response"]["photos"]] == [photo_id]
    assert body["response"]["photos"][0]["thumb_url"]
    with app.app_context():
        photo = db.session.get(Photo, photo_id)
        assert (photo.owner_kind, photo.owner_id, photo.flags) == ("rectification", order_id, [])


def test_photo_far_from_the_project_is_flagged_when_attached(app, world, secretary):
    """A photo taken at another village is flagged capture_far against the project's place."""
    order_id = issue(app, world)
    photo_id = ready_photo(secretary, at=V2)
    assert respond(secretary, order_id, [photo_id]).status_code == 201
    with app.app_context():
        assert "capture_far" in db.session.get(Photo, photo_id).flags


@pytest.mark.both_databases
def test_response_retry_with_same_client_id_is_the_same(world, app, secretary):
    """A retry of the same response answers 200 with the same order."""
    order_id = issue(app, world)
    client_id = uid()
    first, again = respond(secretary, order_id, client_id=client_id), respond(secretary, order_id, client_id=client_id)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["response"] == first.get_json()["response"]


def test_second_response_is_409(app, world, secretary):
    """A responded order takes no new response."""
    order_id = issue(app, world)
    assert respond(secretary, order_id).status_code == 201
    r = respond(secretary, order_id, text="再补充一点")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "conflict"


def test_response_refuses_a_photo_not_uploaded(app, world, secretary):
    """A photo still pending cannot be attached (409) and the order stays issued."""
    order_id = issue(app, world)
    r = secretary.post(
        "/api/v1/rectifications/photos", {"client_id": uid(), "content_type": "image/jpeg", "size": 1000}
    )
    r = respond(secretary, order_id, [r.get_json()["photo_id"]])
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "photo_not_uploaded"
    assert secretary.get(f"/api/v1/rectifications/{order_id}").get_json()["status"] == "issued"


def test_response_refuses_someone_elses_photo(app, client, world, secretary):
    """A visit's photo or another user's draft is not the secretary's to attach (400)."""
    order_id = issue(app, world)
    other = Api(client, world.tokens["villager"])
    r = other.post("/api/v1/feedback/photos", {"client_id": uid(), "content_type": "image/jpeg", "size": 1000})
    r = respond(secretary, order_id, [r.get_json()["photo_id"]])
    assert r.status_code == 400 and r.get_json()["error"]["details"]["field"] == "photo_ids"


def test_only_the_uploader_completes_a_rectification_photo(client, world, secretary):
    """Another user cannot complete the secretary's draft (404)."""
    r = secretary.post(
        "/api/v1/rectifications/photos", {"client_id": uid(), "content_type": "image/jpeg", "size": 1000}
    )
    other = Api(client, world.tokens["insp_a"])
    assert other.post(f"/api/v1/photos/{r.get_json()['photo_id']}/complete").status_code == 404


# ---- overdue ---------------------------------------------------------------------------------


def test_overdue_is_derived_and_counted(app, world, secretary):
    """An open order past its deadline is overdue, counted and filterable; a closed one never is."""
    late, on_time = issue(app, world), issue(app, world)
    set_deadline(app, late, clock.today() - timedelta(days=3))
    body = secretary.get("/api/v1/rectifications").get_json()
    by_id = {o["id"]: o for o in body["items"]}
    assert (by_id[late]["overdue"], by_id[late]["days_overdue"]) == (True, 3)
    assert by_id[on_time]["overdue"] is False
    assert body["counts"]["overdue"] == 1
    assert [o["id"] for o in secretary.get("/api/v1/rectifications?overdue=1").get_json()["items"]] == [late]


def test_responded_order_past_deadline_is_still_overdue(app, world, secretary):
    """A reply does not stop the clock: until verified, a late order stays overdue."""
    order_id = issue(app, world)
    respond(secretary, order_id)
    set_deadline(app, order_id, clock.today() - timedelta(days=1))
    assert secretary.get(f"/api/v1/rectifications/{order_id}").get_json()["overdue"] is True


def test_deadline_today_is_not_overdue(app, world, secretary):
    """An order due today is not yet overdue (China calendar day)."""
    order_id = issue(app, world)
    set_deadline(app, order_id, clock.today())
    assert secretary.get(f"/api/v1/rectifications/{order_id}").get_json()["overdue"] is False


# ---- verification and closing -------------------------------------------------------------------


def test_full_lifecycle_is_audited(app, world, insp, secretary):
    """issued → responded → verified (follow-up visit) → closed; each step is in the audit chain."""
    first = submitted_visit(insp, world.a1, interview=False)
    order_id = issue(app, world, visit_id=first)
    assert respond(secretary, order_id).status_code == 201
    follow_up = submitted_visit(insp, world.a1, interview=False)
    assert act(app, world, rectification.verify, order_id, follow_up) == "verified"
    assert act(app, world, rectification.close, order_id, "已整改到位") == "closed"
    with app.app_context():
        actions = db.session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.object_type == "rectification", AuditEntry.object_id == str(order_id))
            .order_by(AuditEntry.seq)
        ).all()
        assert actions == [
            "rectification.issue",
            "rectification.respond",
            "rectification.verify",
            "rectification.close",
        ]
        assert audit.verify(db.session).ok
        order = db.session.get(RectificationOrder, order_id)
        assert (order.verified_visit_id, order.note) == (follow_up, "已整改到位")
    assert secretary.get(f"/api/v1/rectifications/{order_id}").get_json()["status"] == "closed"


def test_verify_before_response_is_409(app, world, insp):
    """An order not yet answered cannot be verified."""
    order_id = issue(app, world)
    follow_up = submitted_visit(insp, world.a1, interview=False)
    with pytest.raises(ApiError) as exc:
        act(app, world, rectification.verify, order_id, follow_up)
    assert exc.value.status == 409


def test_verify_needs_a_later_visit_of_the_same_project(app, world, insp, secretary):
    """The visit the order came from, or a visit of another project, does not verify it (400)."""
    first = submitted_visit(insp, world.a1, interview=False)
    order_id = issue(app, world, visit_id=first)
    respond(secretary, order_id)
    other_project = submitted_visit(insp, world.a3, interview=False)
    for vid in (first, other_project):
        with pytest.raises(ApiError) as exc:
            act(app, world, rectification.verify, order_id, vid)
        assert exc.value.code == "validation_failed"


def test_close_before_verification_is_409(app, world, secretary):
    """Issued or responded orders cannot be closed."""
    order_id = issue(app, world)
    for _ in range(2):
        with pytest.raises(ApiError) as exc:
            act(app, world, rectification.close, order_id, "")
        assert exc.value.status == 409
        respond(secretary, order_id)


def test_closed_order_takes_no_further_step(app, world, insp, secretary):
    """After closing, verify, close and respond are all 409."""
    order_id = issue(app, world)
    respond(secretary, order_id)
    follow_up = submitted_visit(insp, world.a1, interview=False)
    act(app, world, rectification.verify, order_id, follow_up)
    act(app, world, rectification.close, order_id, "")
    for fn, args in ((rectification.verify, (order_id, follow_up)), (rectification.close, (order_id, ""))):
        with pytest.raises(ApiError) as exc:
            act(app, world, fn, *args)
        assert exc.value.status == 409
    assert respond(secretary, order_id).status_code == 409


def test_leader_cannot_verify_or_close(app, world, insp, secretary):
    """Leaders read every order but acting on one is 403."""
    order_id = issue(app, world)
    respond(secretary, order_id)
    follow_up = submitted_visit(insp, world.a1, interview=False)
    with pytest.raises(ApiError) as exc:
        act(app, world, rectification.verify, order_id, follow_up, actor="leader")
    assert exc.value.status == 403


def test_reviewer_sees_only_own_townships_orders(app, world):
    """reviewer1 (t1) lists p1's order, reviewer2 (t2) only p2's; admin and leader both."""
    p1_order, p2_order = issue(app, world), issue(app, world, project_id=world.p2)
    with app.app_context():

        def ids(name):
            orders, _ = rectification.list_orders(db.session, staff(world.ids[name]), {})
            return {o.id for o in orders}

        assert ids("reviewer1") == {p1_order}
        assert ids("reviewer2") == {p2_order}
        assert ids("leader") == ids("admin") == {p1_order, p2_order}
