"""Console pages of 观摩 events (plan with a route, score on site, close, ranking) and 中期互评."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server import clock
from server.db import db
from server.models import AuditEntry, ObservationEvent, ProjectObservation, User
from server.services import observations, peer_review, projects
from tests.console.conftest import csrf
from tests.factories import build_lifecycle


def planned(app, world, project_ids, participants=("admin", "reviewer1")) -> int:
    """An event planned through the service; returns its id."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        event = observations.create_event(
            db.session,
            admin,
            {
                "kind": "quarterly",
                "title": "第四季度观摩",
                "held_on": clock.today(),
                "stops": [{"project_id": p} for p in project_ids],
                "participant_ids": [world.ids[w] for w in participants],
            },
        )
        return event.id


def test_admin_plans_an_event_with_a_route_and_participants(app, world, console):
    """The form's route rows become stops in row order with their times; blank rows are skipped."""
    admin = console("admin")
    assert "新建观摩活动" in admin.get("/console/observations/new").get_data(as_text=True)
    r = admin.post(
        "/console/observations/new",
        data={
            "csrf_token": csrf(admin),
            "kind": "monthly",
            "title": "11月党建月度观摩",
            "held_on": clock.today().isoformat(),
            "stop_project": [str(world.p3), "", str(world.p1)],
            "stop_time": ["09:00", "", "14:30"],
            "participant_ids": [str(world.ids["reviewer1"])],
            "outside_scoring": "王建国 永阳镇党委书记",
            "outside_observing": "李明",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    with app.app_context():
        event = db.session.scalars(select(ObservationEvent)).one()
        stops = observations.stops_of(db.session, event.id)
        people = observations.participants_of(db.session, event.id)
    assert [(s.project_id, s.planned_at) for s in stops] == [(world.p3, "09:00"), (world.p1, "14:30")]
    assert [(p.name, p.post, p.scoring) for p in people] == [
        ("reviewer1", "", True),
        ("王建国", "永阳镇党委书记", True),
        ("李明", "", False),
    ]
    page = admin.get(r.headers["Location"]).get_data(as_text=True)
    assert page.index("非公企业党建") < page.index("蜜柚产业项目") and "王建国" in page


def test_form_error_keeps_what_was_typed(app, world, console):
    """A route with the same project twice is shown again with the message and the typed title."""
    admin = console("admin")
    r = admin.post(
        "/console/observations/new",
        data={
            "csrf_token": csrf(admin),
            "kind": "quarterly",
            "title": "重复路线",
            "held_on": clock.today().isoformat(),
            "stop_project": [str(world.p1), str(world.p1)],
        },
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "同一个项目在路线上只能出现一次" in page and 'value="重复路线"' in page


def test_score_sheet_start_close_and_ranking(app, world, console):
    """Start, a reviewer's sheet saved from the phone page, close: the ranking shows the observation written."""
    event_id = planned(app, world, [world.p1, world.p3])
    admin, reviewer = console("admin"), console("reviewer1")
    assert admin.post(f"/console/observations/{event_id}/start", data={"csrf_token": csrf(admin)}).status_code == 302
    sheet = reviewer.get(f"/console/observations/{event_id}/score").get_data(as_text=True)
    assert 'name="viewport"' in sheet and "蜜柚产业项目" in sheet
    with app.app_context():
        stops = observations.stops_of(db.session, event_id)
    bad = reviewer.post(
        f"/console/observations/{event_id}/score",
        data={"csrf_token": csrf(reviewer), f"score_{stops[0].id}": "九十"},
    )
    assert bad.status_code == 400 and "0–100" in bad.get_data(as_text=True)
    ok = reviewer.post(
        f"/console/observations/{event_id}/score",
        data={"csrf_token": csrf(reviewer), f"score_{stops[0].id}": "93", f"remark_{stops[0].id}": "示范带动强"},
    )
    assert ok.status_code == 302
    r = admin.post(f"/console/observations/{event_id}/close", data={"csrf_token": csrf(admin)})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/observations/{event_id}/ranking")
    page = admin.get(r.headers["Location"]).get_data(as_text=True)
    assert "93.00" in page and "示范带动强" in page and "生成的观摩记录" in page
    with app.app_context():
        rows = list(db.session.scalars(select(ProjectObservation).where(ProjectObservation.event_id == event_id)))
        actions = [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
    assert [(o.project_id, o.rating) for o in rows] == [(world.p1, "好")]
    assert actions[-3:] == ["observation.start", "observation.score", "observation.close"]


def test_reviewer_of_another_township_gets_404_on_every_event_page(app, world, console):
    """An event over 桐坪镇's project only: reviewer1 (永阳镇) gets 404 on its pages and forms."""
    event_id = planned(app, world, [world.p2], participants=("admin",))
    reviewer = console("reviewer1")
    for suffix in ("", "/score", "/ranking"):
        assert reviewer.get(f"/console/observations/{event_id}{suffix}").status_code == 404
    assert (
        reviewer.post(f"/console/observations/{event_id}/score", data={"csrf_token": csrf(reviewer)}).status_code == 404
    )
    assert "第四季度观摩" not in reviewer.get("/console/observations").get_data(as_text=True)
    assert "第四季度观摩" in console("reviewer2").get("/console/observations").get_data(as_text=True)


@pytest.fixture
def peer(app, world):
    """A 互评 round of org1 (runs p1) and org2 (runs p2)."""
    with app.app_context():
        build_lifecycle(world)
        admin = db.session.get(User, world.ids["admin"])
        projects.update_project(db.session, admin, world.p1, {"organization_id": world.org1})
        projects.update_project(db.session, admin, world.p2, {"organization_id": world.org2})
        rnd = peer_review.create_round(db.session, admin, {"year": 2026, "organization_ids": [world.org1, world.org2]})
        world.round_id = rnd.id
    return world


def test_secretary_scores_another_organization_in_the_console_not_their_own(app, peer, console):
    """The secretary's sheet lists 桐坪镇's project only; posting scores of their own project is a 403 page."""
    sec = console("secretary")
    url = f"/console/peer-reviews/{peer.round_id}"
    sheet = sec.get(url).get_data(as_text=True)
    assert "旱厕改造" in sheet and "蜜柚产业项目" not in sheet
    scores = {"csrf_token": csrf(sec), "c0": "8", "c1": "9", "c2": "7", "comment": "可复制推广"}
    own = sec.post(f"{url}/projects/{peer.p1}", data=scores)
    assert own.status_code == 403
    assert sec.post(f"{url}/projects/{peer.p2}", data=scores).status_code == 302
    detail = console("leader").get(url).get_data(as_text=True)
    assert "24.00" in detail and "大栗村党支部" in detail  # org2 has not scored p1 yet: on the reminder list


def test_admin_opens_and_closes_a_round_in_the_console(app, world, console):
    """The admin's form opens a round with the ticked organizations; closing locks it."""
    with app.app_context():
        build_lifecycle(world)
    admin = console("admin")
    r = admin.post(
        "/console/peer-reviews",
        data={
            "csrf_token": csrf(admin),
            "year": "2026",
            "criteria": "推进成效\n群众认可",
            "organization_ids": [str(world.org1), str(world.org2)],
        },
    )
    assert r.status_code == 302
    page = admin.get(r.headers["Location"]).get_data(as_text=True)
    assert "推进成效、群众认可" in page and "评分中" in page
    closed = admin.post(r.headers["Location"] + "/close", data={"csrf_token": csrf(admin)}, follow_redirects=True)
    assert "已结束" in closed.get_data(as_text=True)
    assert console("reviewer1").get("/console/peer-reviews").status_code == 403
