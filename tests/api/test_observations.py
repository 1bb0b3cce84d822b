"""观摩 events through /api/v1/observation-events: lifecycle, scores, ranking with ties, the close into
one observation per project (also when retried or run twice at once), scope, photos per stop."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from server import clock
from server.db import db
from server.models import AuditEntry, ObservationEvent, PeerReviewRound, ProjectObservation
from server.services import demo, observations, peer_review
from tests.api.conftest import error_of
from tests.factories import V1, Api, now_iso, uid
from tests.support.images import phone_jpeg
from tests.support.upload import upload

E = "/api/v1/observation-events"
CHINA = timezone(timedelta(hours=8))


def as_(client, world, who: str) -> Api:
    """The API as a world user."""
    return Api(client, world.tokens[who])


def plan(client, world, project_ids, *, participants=("admin", "reviewer1"), outside=(), held_on=None) -> dict:
    """An event planned by the admin over these projects (route order as given)."""
    body = {
        "kind": "quarterly",
        "title": "2026年第四季度书记项目观摩",
        "held_on": (held_on or clock.today()).isoformat(),
        "stops": [{"project_id": p, "planned_at": f"{9 + n:02d}:30"} for n, p in enumerate(project_ids)],
        "participant_ids": [world.ids[w] for w in participants],
        "outside": list(outside),
    }
    r = as_(client, world, "admin").post(E, body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def started(client, world, project_ids, **kw) -> dict:
    """A planned event, started."""
    event = plan(client, world, project_ids, **kw)
    r = as_(client, world, "admin").post(f"{E}/{event['id']}/start")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def score(client, world, who, event, marks: dict[int, int], participant_id=None, remark="") -> object:
    """`who` scores stops (by route position, 1-based) of the event."""
    stops = {s["position"]: s["id"] for s in event["stops"]}
    body = {"scores": [{"stop_id": stops[pos], "score": v, "remark": remark} for pos, v in marks.items()]}
    if participant_id is not None:
        body["participant_id"] = participant_id
    return as_(client, world, who).put(f"{E}/{event['id']}/scores", body)


def observation_rows(app, event_id: int) -> list[ProjectObservation]:
    """The observations an event wrote."""
    with app.app_context():
        return list(db.session.scalars(select(ProjectObservation).where(ProjectObservation.event_id == event_id)))


def test_event_goes_planned_under_way_closed_and_locks_scores(app, client, world):
    """Scores only while under way; the route only while planned; after close every change is a 409."""
    event = plan(client, world, [world.p1, world.p3])
    assert event["status"] == "planned" and [s["project_id"] for s in event["stops"]] == [world.p1, world.p3]
    assert [s["planned_at"] for s in event["stops"]] == ["09:30", "10:30"]
    assert score(client, world, "reviewer1", event, {1: 80}).status_code == 409

    admin = as_(client, world, "admin")
    r = admin.post(f"{E}/{event['id']}/start")
    assert r.status_code == 200 and r.get_json()["status"] == "under_way"
    edit = {"kind": "monthly", "title": "改", "held_on": clock.today().isoformat(), "stops": [{"project_id": world.p1}]}
    assert admin.put(f"{E}/{event['id']}", edit).status_code == 409

    assert score(client, world, "reviewer1", event, {1: 88, 2: 75}, remark="公示栏规范").status_code == 200
    assert score(client, world, "admin", event, {1: 92}).status_code == 200
    r = admin.post(f"{E}/{event['id']}/close")
    assert r.status_code == 200 and r.get_json()["status"] == "closed"

    assert score(client, world, "reviewer1", event, {1: 10}).status_code == 409
    assert admin.post(f"{E}/{event['id']}/start").status_code == 409
    final = admin.get(f"{E}/{event['id']}").get_json()
    assert sorted(s["score"] for s in final["scores"]) == [75, 88, 92]


def test_close_writes_one_observation_per_scored_project_from_the_scores(app, client, world):
    """Rating from the mean's band, notes from remarks, observers = participants, linked to the event."""
    event = started(client, world, [world.p1, world.p3], outside=[{"name": "王建国", "post": "永阳镇党委书记"}])
    outsider = next(p["id"] for p in event["participants"] if p["name"] == "王建国")
    assert score(client, world, "reviewer1", event, {1: 90}, remark="群众参与度高").status_code == 200
    assert score(client, world, "admin", event, {1: 85}).status_code == 200
    assert (
        score(client, world, "admin", event, {1: 80}, participant_id=outsider, remark="产业带动明显").status_code == 200
    )
    # Stop 2 stays unscored: it gets no observation.
    as_(client, world, "admin").post(f"{E}/{event['id']}/close")

    rows = observation_rows(app, event["id"])
    assert [(o.project_id, o.rating) for o in rows] == [(world.p1, "较好")]  # mean 85 → 较好 (80–89)
    obs = rows[0]
    assert obs.observed_on == clock.today() and obs.quarter.startswith(str(clock.today().year))
    assert "群众参与度高" in obs.notes and "王建国:产业带动明显" in obs.notes and "第 1 名" in obs.notes
    assert set(obs.observers.split("、")) == {"管理员", "reviewer1", "王建国"}
    project = as_(client, world, "admin").get(f"/api/v1/projects/{world.p1}").get_json()
    assert [(o["rating"], o["event_id"]) for o in project["observations"]] == [("较好", event["id"])]


def test_close_retried_writes_the_observations_once(app, client, world):
    """A second close answers the closed event and adds nothing (nor a second audit entry)."""
    event = started(client, world, [world.p1, world.p2])
    score(client, world, "admin", event, {1: 70, 2: 95})
    admin = as_(client, world, "admin")
    assert admin.post(f"{E}/{event['id']}/close").status_code == 200
    assert admin.post(f"{E}/{event['id']}/close").status_code == 200
    assert sorted((o.project_id, o.rating) for o in observation_rows(app, event["id"])) == sorted(
        [(world.p1, "一般"), (world.p2, "好")]
    )
    with app.app_context():
        closes = db.session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "observation.close"))
    assert closes == 1


@pytest.mark.both_databases
def test_simultaneous_closes_write_the_observations_once(app, client, world):
    """Four closes at once: all answer 200 closed, and each project has exactly one observation."""
    event = started(client, world, [world.p1, world.p2, world.p3])
    score(client, world, "admin", event, {1: 70, 2: 95, 3: 85})
    token = world.tokens["admin"]

    def close(_):
        with app.test_client() as c:
            return c.post(f"{E}/{event['id']}/close", headers={"Authorization": f"Bearer {token}"}).status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        statuses = list(pool.map(close, range(4)))
    assert statuses == [200] * 4
    rows = observation_rows(app, event["id"])
    assert sorted(o.project_id for o in rows) == sorted([world.p1, world.p2, world.p3])
    with app.app_context():
        closes = db.session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "observation.close"))
    assert closes == 1


def test_ranking_breaks_ties_by_lowest_score_then_route_order_and_says_so(app, client, world):
    """Equal means: the higher lowest score first; equal again: earlier on the route first; each tie explained."""
    event = started(client, world, [world.p1, world.p2, world.p3], participants=("admin", "reviewer1", "reviewer2"))
    # means: p1 80 (80, 80), p2 80 (70, 90), p3 80 (80, 80) → p1 (lowest 80, stop 1), p3 (lowest 80, stop 3), p2.
    score(client, world, "admin", event, {1: 80, 2: 70, 3: 80})
    score(client, world, "reviewer1", event, {1: 80, 2: 90, 3: 80})
    r = as_(client, world, "leader").get(f"{E}/{event['id']}/ranking").get_json()
    assert [i["project_id"] for i in r["items"]] == [world.p1, world.p3, world.p2]
    assert [i["rank"] for i in r["items"]] == [1, 2, 3]
    assert [i["mean"] for i in r["items"]] == ["80.00", "80.00", "80.00"]
    assert "路线顺序" in r["items"][1]["tie_note"] and "最低分较低(70 < 80)" in r["items"][2]["tie_note"]
    assert "最低分较高者在前" in r["tie_rule"]


def test_ranking_compares_means_exactly_and_puts_unscored_stops_last(app, client, world):
    """A mean of 256/3 (85.33…) ranks below 85.5; a stop nobody scored comes last, without a rank."""
    event = started(client, world, [world.p1, world.p2, world.p3], participants=("admin", "reviewer1", "reviewer2"))
    score(client, world, "admin", event, {2: 85, 3: 86})
    score(client, world, "reviewer1", event, {2: 85, 3: 85})
    score(client, world, "reviewer2", event, {2: 86})
    items = as_(client, world, "admin").get(f"{E}/{event['id']}/ranking").get_json()["items"]
    assert [(i["project_id"], i["rank"], i["mean"]) for i in items] == [
        (world.p3, 1, "85.50"),
        (world.p2, 2, "85.33"),
        (world.p1, None, None),
    ]


def test_scores_outside_0_to_100_are_refused(app, client, world):
    """101 and -1 are 400 before anything is stored."""
    event = started(client, world, [world.p1])
    assert score(client, world, "admin", event, {1: 101}).status_code == 400
    assert score(client, world, "admin", event, {1: -1}).status_code == 400
    assert as_(client, world, "admin").get(f"{E}/{event['id']}").get_json()["scores"] == []


def test_only_participants_score_and_only_admins_enter_outsiders_scores(app, client, world):
    """A leader not on the event, and a reviewer naming an outsider's sheet, are refused (403)."""
    event = started(client, world, [world.p1], outside=[{"name": "李书记", "post": "桐坪镇党委书记"}])
    outsider = next(p["id"] for p in event["participants"] if p["user_id"] is None)
    r = score(client, world, "leader", event, {1: 80})
    assert r.status_code == 403 and error_of(r)["code"] == "forbidden"
    assert score(client, world, "reviewer1", event, {1: 80}, participant_id=outsider).status_code == 403
    assert score(client, world, "admin", event, {1: 80}, participant_id=outsider).status_code == 200


def test_only_admins_plan_start_and_close(app, client, world):
    """Reviewers and leaders may not plan, start or close (403); secretaries do not reach the events at all."""
    body = {
        "kind": "monthly",
        "title": "月度观摩",
        "held_on": clock.today().isoformat(),
        "stops": [{"project_id": world.p1}],
    }
    assert as_(client, world, "reviewer1").post(E, body).status_code == 403
    event = plan(client, world, [world.p1])
    for who in ("reviewer1", "leader"):
        assert as_(client, world, who).post(f"{E}/{event['id']}/start").status_code == 403
    assert as_(client, world, "secretary").get(E).status_code == 403
    assert as_(client, world, "secretary").get(f"{E}/{event['id']}").status_code == 403


def test_reviewer_sees_only_events_touching_their_townships_or_their_own(app, client, world):
    """An event over 桐坪镇's project: reviewer2 (桐坪镇) sees it, reviewer1 (永阳镇) gets 404 until put on it."""
    event = plan(client, world, [world.p2], participants=("admin",))
    r1, r2 = as_(client, world, "reviewer1"), as_(client, world, "reviewer2")
    assert r2.get(f"{E}/{event['id']}").status_code == 200
    assert event["id"] in [e["id"] for e in r2.get(E).get_json()["items"]]
    assert r1.get(f"{E}/{event['id']}").status_code == 404
    assert r1.get(f"{E}/{event['id']}/ranking").status_code == 404
    assert event["id"] not in [e["id"] for e in r1.get(E).get_json()["items"]]
    body = {
        "kind": "quarterly",
        "title": event["title"],
        "held_on": event["held_on"],
        "stops": [{"project_id": world.p2}],
        "participant_ids": [world.ids["reviewer1"]],
    }
    assert as_(client, world, "admin").put(f"{E}/{event['id']}", body).status_code == 200
    assert r1.get(f"{E}/{event['id']}").status_code == 200


def test_route_refuses_duplicates_unknown_projects_and_non_staff(app, client, world):
    """The same project twice, a project that does not exist, an inspector as participant: refused."""
    admin = as_(client, world, "admin")
    base = {"kind": "quarterly", "title": "观摩", "held_on": clock.today().isoformat()}
    dup = admin.post(E, {**base, "stops": [{"project_id": world.p1}, {"project_id": world.p1}]})
    assert dup.status_code == 400 and error_of(dup)["details"]["field"] == "stops"
    assert admin.post(E, {**base, "stops": [{"project_id": 99999}]}).status_code == 404
    insp = admin.post(E, {**base, "stops": [{"project_id": world.p1}], "participant_ids": [world.ids["insp_a"]]})
    assert insp.status_code == 400 and error_of(insp)["details"]["field"] == "participant_ids"


def test_close_waits_for_the_day(app, client, world):
    """An event planned for tomorrow cannot be closed today (409)."""
    event = started(client, world, [world.p1], held_on=clock.today() + timedelta(days=1))
    assert as_(client, world, "admin").post(f"{E}/{event['id']}/close").status_code == 409


def test_photo_of_a_stop_goes_through_ticket_and_complete(app, client, world):
    """A participant's photo of a stop: ticket (201, retry 200), upload, complete → ready and listed on the stop."""
    event = started(client, world, [world.p1])
    stop = event["stops"][0]["id"]
    data = phone_jpeg(size=(800, 600), seed=7, gps=V1, taken=datetime.now(CHINA).replace(tzinfo=None))
    body = {"client_id": uid(), "sent_at": now_iso(), "content_type": "image/jpeg", "size": len(data)}
    body |= {"lat": V1[0], "lng": V1[1]}
    rev = as_(client, world, "reviewer1")
    r = rev.post(f"{E}/{event['id']}/stops/{stop}/photos", body)
    assert r.status_code == 201, r.get_json()
    assert rev.post(f"{E}/{event['id']}/stops/{stop}/photos", body).status_code == 200
    ticket = r.get_json()
    assert upload(client, ticket["upload"], data) == 204
    assert rev.post(f"/api/v1/photos/{ticket['photo_id']}/complete").get_json()["status"] == "ready"
    detail = rev.get(f"{E}/{event['id']}").get_json()
    assert detail["stops"][0]["photo_ids"] == [ticket["photo_id"]]
    # A leader not on the event may not add photos.
    other = {**body, "client_id": uid()}
    assert as_(client, world, "leader").post(f"{E}/{event['id']}/stops/{stop}/photos", other).status_code == 403


def test_demo_data_shows_a_closed_event_and_a_running_peer_review(app):
    """The demo county has one closed 季度观摩 with an observation per project and an open 互评, once however often
    it is loaded."""
    with app.app_context():
        demo.load(db.session)
        demo.load(db.session)
        event = db.session.scalars(select(ObservationEvent)).one()
        rnd = db.session.scalars(select(PeerReviewRound)).one()
        assert (event.kind, event.status, rnd.status) == ("quarterly", "closed", "open")
        assert len(observations.observations_from(db.session, event.id)) == 3
        assert len(peer_review.scores_of(db.session, rnd)) == 1
        assert [p.organization.name for p in peer_review.reminders(db.session, rnd)] != []
