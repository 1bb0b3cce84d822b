"""The console's rectification orders: list with overdue rows and counts, issuing from a visit, verify, close."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

# Load the API package first: services.photos imports api.validation, whose package imports
# services that need services.photos complete (the app factory loads them in this order too).
import server.api  # noqa: F401, I001
from server import clock
from server.db import db
from server.models import AuditEntry, Project, RectificationOrder, User
from server.services import rectification
from tests.console.conftest import csrf
from tests.factories import V2, Api, now_iso, start_visit, uid

HOUSEHOLD = "罗焕敬家"
ANSWER = "书记从来没来过我们组"


@pytest.fixture
def api(client, world):
    """api(who) → the JSON API client acting as that world user."""
    return lambda who: Api(client, world.tokens[who])


@pytest.fixture
def p1_secretary(app, world):
    """Make the world's secretary the secretary of p1."""
    with app.app_context():
        db.session.get(Project, world.p1).secretary_id = world.ids["secretary"]
        db.session.commit()


def submitted_visit(api: Api, assignment_id: int) -> int:
    """A submitted visit with a villager interview and one failed check item."""
    vid = start_visit(api, assignment_id)["id"]
    r = api.post(
        f"/api/v1/visits/{vid}/interviews",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "household": HOUSEHOLD,
            "answers": {"书记是否来过": ANSWER},
            "satisfaction": "不满意",
        },
    )
    assert r.status_code == 201, r.get_json()
    r = api.put(
        f"/api/v1/visits/{vid}/checklist",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "items": [
                {"item": "公示栏是否张贴", "result": "fail", "note": "公示栏未更新"},
                {"item": "进度是否符合计划", "result": "pass"},
            ],
        },
    )
    assert r.status_code in (200, 201), r.get_json()
    assert api.post(f"/api/v1/visits/{vid}/submit", {"client_id": uid(), "sent_at": now_iso()}).status_code == 200
    return vid


def issue(app, world, project_id: int | None = None, **kw) -> int:
    """Issue an order as the admin through the service; returns its id."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        return rectification.issue(
            db.session, admin, project_id=project_id or world.p1, items=kw.pop("items", ["公示栏未更新"]), **kw
        ).id


def respond(api: Api, order_id: int) -> None:
    """The secretary answers an order."""
    r = api.post(
        f"/api/v1/rectifications/{order_id}/response",
        {"client_id": uid(), "sent_at": now_iso(), "text": "已整改", "photo_ids": []},
    )
    assert r.status_code == 201, r.get_json()


def post(client, path: str, **data):
    """POST a console form with the session's CSRF token."""
    return client.post(path, data={"csrf_token": csrf(client), **data})


def status_of(app, order_id: int) -> str:
    """An order's stored status."""
    with app.app_context():
        return db.session.get(RectificationOrder, order_id).status


# ---- the list --------------------------------------------------------------------------------


def test_list_highlights_and_counts_overdue_orders(app, world, console):
    """An order past its deadline is in a row of class "overdue" and in the overdue count."""
    late, on_time = issue(app, world), issue(app, world)
    with app.app_context():
        db.session.get(RectificationOrder, late).deadline = clock.today() - timedelta(days=2)
        db.session.commit()
    page = console("admin").get("/console/rectifications").get_data(as_text=True)
    rows = re.findall(r'<tr class="([^"]*)">\s*<td><a href="/console/rectifications/(\d+)"', page)
    assert dict((int(i), c) for c, i in rows) == {late: "overdue", on_time: ""}
    assert re.search(r'id="overdue-count">1<', page)
    assert "逾期 2 天" in page


def test_list_filters_by_status_and_overdue(app, world, console, api, p1_secretary):
    """?status= and ?overdue=1 narrow the list."""
    answered, waiting = issue(app, world), issue(app, world)
    respond(api("secretary"), answered)
    client = console("admin")
    page = client.get("/console/rectifications?status=responded").get_data(as_text=True)
    assert f'/console/rectifications/{answered}"' in page and f'/console/rectifications/{waiting}"' not in page
    page = client.get("/console/rectifications?overdue=1").get_data(as_text=True)
    assert "没有符合条件的整改通知" in page


def test_reviewer_lists_only_own_townships_orders(app, world, console):
    """reviewer2 (桐坪镇) sees p2's order, not p1's, and p1's page is 404."""
    p1_order, p2_order = issue(app, world), issue(app, world, project_id=world.p2)
    client = console("reviewer2")
    page = client.get("/console/rectifications").get_data(as_text=True)
    assert f'/console/rectifications/{p2_order}"' in page and f'/console/rectifications/{p1_order}"' not in page
    assert client.get(f"/console/rectifications/{p1_order}").status_code == 404


# ---- issuing -------------------------------------------------------------------------------


def test_new_from_visit_prefills_findings_and_a_three_month_deadline(app, world, console, api):
    """The form starts with the visit's failed check items and a deadline three months out."""
    vid = submitted_visit(api("insp_a"), world.a1)
    page = console("admin").get(f"/console/rectifications/new?visit_id={vid}").get_data(as_text=True)
    expected = clock.add_months(clock.today(), 3).isoformat()
    assert f'name="deadline" value="{expected}"' in page
    assert "公示栏是否张贴:公示栏未更新" in page and "进度是否符合计划" not in page
    assert HOUSEHOLD not in page and ANSWER not in page


def test_issue_from_visit_one_item_per_line(app, world, console, api):
    """Posting the form issues an order with one item per non-blank line and opens it."""
    vid = submitted_visit(api("insp_a"), world.a1)
    r = post(
        console("reviewer1"),
        "/console/rectifications/new",
        visit_id=vid,
        items="公示栏未更新\n\n  进度滞后  \n",
        deadline="",
    )
    assert r.status_code == 302
    order_id = int(r.headers["Location"].rsplit("/", 1)[1])
    with app.app_context():
        order = db.session.get(RectificationOrder, order_id)
        assert (order.visit_id, order.items, order.township_id) == (vid, ["公示栏未更新", "进度滞后"], world.t1)
        assert order.deadline == rectification.default_deadline(order.issued_at)


def test_issue_without_items_shows_the_error(world, console):
    """An empty item list re-renders the form with the message (400) and issues nothing."""
    r = post(console("admin"), "/console/rectifications/new", project_id=world.p1, items=" \n", deadline="")
    assert r.status_code == 400 and "请至少填写一条整改事项" in r.get_data(as_text=True)


def test_reviewer_cannot_issue_for_another_townships_visit(world, console, api):
    """A visit outside the reviewer's townships is 404 on the form and on posting it."""
    vid = submitted_visit(api("insp_a"), world.a1)
    client = console("reviewer2")
    assert client.get(f"/console/rectifications/new?visit_id={vid}").status_code == 404
    assert post(client, "/console/rectifications/new", visit_id=vid, items="x").status_code == 404


def test_leader_reads_but_cannot_post(app, world, console, api, p1_secretary):
    """A leader sees list and order (no forms) but every POST is 403."""
    order_id = issue(app, world)
    client = console("leader")
    assert client.get("/console/rectifications").status_code == 200
    page = client.get(f"/console/rectifications/{order_id}")
    assert page.status_code == 200 and '<form method="post" action="/console/rectifications' not in page.get_data(
        as_text=True
    )
    assert client.get("/console/rectifications/new").status_code == 403
    assert post(client, "/console/rectifications/new", project_id=world.p1, items="x").status_code == 403
    assert post(client, f"/console/rectifications/{order_id}/close", note="").status_code == 403
    assert status_of(app, order_id) == "issued"


def test_posting_without_csrf_token_is_400(app, world, console):
    """A form posted without the session's token changes nothing."""
    r = console("admin").post("/console/rectifications/new", data={"project_id": world.p1, "items": "x"})
    assert r.status_code == 400
    with app.app_context():
        assert db.session.query(RectificationOrder).count() == 0


# ---- the order page ---------------------------------------------------------------------------


def test_order_page_never_shows_interview_data(app, world, console, api):
    """The page of an order made from a visit has neither the household nor the answers."""
    vid = submitted_visit(api("insp_a"), world.a1)
    order_id = issue(app, world, visit_id=vid, project_id=None)
    page = console("admin").get(f"/console/rectifications/{order_id}").get_data(as_text=True)
    assert f"暗访记录 #{vid}" in page
    assert HOUSEHOLD not in page and ANSWER not in page


def test_detail_names_a_response_photos_flags_in_chinese(app, world, console, api, p1_secretary):
    """A response photo taken at another village is marked with the flag's Chinese label, never its code."""
    from tests.api.test_rectifications import ready_photo
    from tests.api.test_rectifications import respond as respond_with

    order_id = issue(app, world)
    secretary = api("secretary")
    assert respond_with(secretary, order_id, [ready_photo(secretary, at=V2)]).status_code == 201
    page = console("admin").get(f"/console/rectifications/{order_id}").get_data(as_text=True)
    assert "拍摄地点偏远" in page and "capture_far" not in page


def test_verify_and_close_from_the_page(app, world, console, api, p1_secretary):
    """A responded order offers the follow-up visit; verifying then closing moves it on, audited."""
    order_id = issue(app, world)
    respond(api("secretary"), order_id)
    follow_up = submitted_visit(api("insp_a"), world.a1)
    client = console("reviewer1")
    page = client.get(f"/console/rectifications/{order_id}").get_data(as_text=True)
    assert f'<option value="{follow_up}">' in page
    assert post(client, f"/console/rectifications/{order_id}/verify", visit_id=follow_up).status_code == 302
    assert status_of(app, order_id) == "verified"
    assert post(client, f"/console/rectifications/{order_id}/close", note="整改到位").status_code == 302
    assert status_of(app, order_id) == "closed"
    with app.app_context():
        assert db.session.query(AuditEntry).filter(AuditEntry.action.like("rectification.%")).count() == 4


def test_illegal_transition_from_the_console_is_409(app, world, console):
    """Closing or verifying an order not yet answered is 409 with the reason on the page."""
    order_id = issue(app, world)
    client = console("admin")
    r = post(client, f"/console/rectifications/{order_id}/close", note="")
    assert r.status_code == 409 and "复核后才能销号" in r.get_data(as_text=True)
    vid = submitted_visit(Api(client, world.tokens["insp_a"]), world.a1)
    r = post(client, f"/console/rectifications/{order_id}/verify", visit_id=vid)
    assert r.status_code == 409 and status_of(app, order_id) == "issued"
