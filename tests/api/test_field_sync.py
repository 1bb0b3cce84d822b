"""The server side of the field-proof outbox: late-synced visits, photos without a fix or compressed,
submit past given-up items, the evidence policy and Retry-After on 429/503."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from server.auth import issue_token
from server.db import db
from server.models import Assignment, Photo, User, Visit, VisitFlag, assignment_members, utcnow
from server.services import assignments, rounds
from server.storage import StorageError
from tests.api.test_rounds import draw_day, new_round, source
from tests.factories import V1, Api, checkin_body, now_iso, start_visit, uid
from tests.support.images import phone_jpeg
from tests.support.interleave import Meanwhile, before
from tests.support.upload import upload


@pytest.fixture
def insp(client, world):
    """Inspector A, on the teams of assignments a1 (village 江南村) and a3 (a unit site)."""
    return Api(client, world.tokens["insp_a"])


@pytest.fixture
def admin(client, world):
    """The administrator."""
    return Api(client, world.tokens["admin"])


def close(app, assignment_id: int, ago: timedelta) -> None:
    """Close an assignment as staff would, as if that happened `ago` (its team made a day earlier)."""
    with app.app_context():
        a = db.session.get(Assignment, assignment_id)
        assignments.set_status(a, "closed")
        a.closed_at = utcnow() - ago
        db.session.execute(
            update(assignment_members)
            .where(assignment_members.c.assignment_id == assignment_id)
            .values(added_at=a.closed_at - timedelta(days=1))
        )
        db.session.commit()


def start_body(assignment_id: int, started_ago: timedelta, **extra) -> dict:
    """A visit start recorded offline `started_ago`, sent now."""
    return {
        "client_id": uid(),
        "sent_at": now_iso(),
        "assignment_id": assignment_id,
        "started_at": now_iso(-started_ago),
        **extra,
    }


def flags_of(app, visit_id: int) -> set[str]:
    """The flags stored on a visit."""
    with app.app_context():
        return set(db.session.scalars(select(VisitFlag.flag).where(VisitFlag.visit_id == visit_id)))


def photo_ticket(api, visit_id: int, data: bytes = b"x" * 100, **extra):
    """POST a visit photo ticket at the village."""
    body = {
        "client_id": uid(),
        "sent_at": now_iso(),
        "content_type": "image/jpeg",
        "size": len(data),
        "taken_at": now_iso(),
        "lat": V1[0],
        "lng": V1[1],
        **extra,
    }
    return api.post(f"/api/v1/visits/{visit_id}/photos", {k: v for k, v in body.items() if v is not None})


def send_photo(api, visit_id: int, seed: int, **extra) -> dict:
    """Ticket, upload and complete one real photo; returns the completed photo."""
    data = phone_jpeg(seed=seed)
    t = photo_ticket(api, visit_id, data, **extra)
    assert t.status_code == 201, t.get_json()
    assert upload(api.client, t.get_json()["upload"], data) == 204
    r = api.post(f"/api/v1/photos/{t.get_json()['photo_id']}/complete")
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def interview(api, visit_id: int):
    """POST a home interview."""
    return api.post(
        f"/api/v1/visits/{visit_id}/interviews",
        {"client_id": uid(), "sent_at": now_iso(), "household": "王家", "satisfaction": "满意"},
    )


def submit(api, visit_id: int, **extra):
    """POST submit."""
    return api.post(f"/api/v1/visits/{visit_id}/submit", {"client_id": uid(), "sent_at": now_iso(), **extra})


# ---- late-synced visits ---------------------------------------------------------------------


def test_visit_recorded_before_the_close_is_taken_late_with_all_its_records(app, insp, world):
    """A visit started offline before its assignment closed, synced an hour after: 201, late_sync with
    the delay, and every later record (check-in, photo, interview, checklist, note, submit) is taken."""
    close(app, world.a1, timedelta(hours=1))
    body = start_body(world.a1, timedelta(hours=2))
    r = insp.post("/api/v1/visits", body)
    assert r.status_code == 201, r.get_json()
    visit = r.get_json()
    assert 3590 <= visit["late_sync_s"] <= 3700
    again = insp.post("/api/v1/visits", body)
    assert again.status_code == 200 and again.get_json()["id"] == visit["id"]
    vid = visit["id"]
    assert insp.post(f"/api/v1/visits/{vid}/checkins", checkin_body(*V1)).status_code == 201
    send_photo(insp, vid, seed=31)
    assert interview(insp, vid).status_code == 201
    assert (
        insp.put(
            f"/api/v1/visits/{vid}/checklist",
            {"client_id": uid(), "sent_at": now_iso(), "items": [{"item": "公示栏是否张贴", "result": "pass"}]},
        ).status_code
        == 201
    )
    assert (
        insp.post(
            f"/api/v1/visits/{vid}/notes", {"client_id": uid(), "sent_at": now_iso(), "text": "村里没有信号"}
        ).status_code
        == 201
    )
    done = submit(insp, vid)
    assert done.status_code == 200 and done.get_json()["status"] == "submitted"
    assert "late_sync" in flags_of(app, vid)
    staff = insp.as_(world.tokens["admin"])
    listed = staff.get("/api/v1/visits", query_string={"flag": "late_sync"}).get_json()["items"]
    assert [v["id"] for v in listed] == [vid]


def test_records_arriving_after_the_close_flag_a_visit_started_on_time(app, insp, world):
    """A visit started while open whose submit arrives after the close is flagged late_sync too."""
    visit = start_visit(insp, world.a1)
    assert "late_sync" not in flags_of(app, visit["id"])
    close(app, world.a1, timedelta(minutes=30))
    r = submit(insp, visit["id"])
    assert r.status_code == 200 and 1790 <= r.get_json()["late_sync_s"] <= 1900
    assert "late_sync" in flags_of(app, visit["id"])


def assert_closed(r, assignment_id: int, reason: str) -> None:
    """409 assignment_closed in Chinese with the assignment, its close time and the reason."""
    assert r.status_code == 409, r.get_json()
    error = r.get_json()["error"]
    assert error["code"] == "assignment_closed" and not error["message"].isascii()
    assert error["details"]["assignment_id"] == assignment_id and error["details"]["closed_at"]
    assert error["details"]["reason"] == reason


def test_visit_started_after_the_close_is_refused(app, insp, world):
    """started_at after the close: 409 assignment_closed, nothing stored."""
    close(app, world.a1, timedelta(hours=1))
    assert_closed(
        insp.post("/api/v1/visits", start_body(world.a1, timedelta(minutes=20))), world.a1, "started_after_close"
    )
    with app.app_context():
        assert db.session.scalar(select(Visit.id)) is None


def test_visit_arriving_after_the_late_sync_days_is_refused(app, insp, world):
    """Closed LATE_SYNC_DAYS + 1 days ago: even a visit started before the close is refused; a longer
    LATE_SYNC_DAYS takes it."""
    days = app.config["LATE_SYNC_DAYS"]
    assert days == 14
    close(app, world.a1, timedelta(days=days + 1))
    assert_closed(insp.post("/api/v1/visits", start_body(world.a1, timedelta(days=days + 2))), world.a1, "too_late")
    app.config["LATE_SYNC_DAYS"] = days + 2  # the period is the deployment's to choose
    assert insp.post("/api/v1/visits", start_body(world.a1, timedelta(days=days + 2))).status_code == 201


def test_records_of_a_visit_after_the_window_are_refused_but_replays_answer(app, insp, world):
    """Past the window new records of the visit are 409 assignment_closed; a record already stored,
    sent again, still answers 200 with the stored object (the phone can confirm it)."""
    visit = start_visit(insp, world.a1)
    stored = checkin_body(*V1)
    first = insp.post(f"/api/v1/visits/{visit['id']}/checkins", stored).get_json()
    close(app, world.a1, timedelta(days=15))
    assert_closed(insp.post(f"/api/v1/visits/{visit['id']}/checkins", checkin_body(*V1)), world.a1, "too_late")
    assert_closed(photo_ticket(insp, visit["id"]), world.a1, "too_late")
    assert_closed(interview(insp, visit["id"]), world.a1, "too_late")
    assert_closed(submit(insp, visit["id"]), world.a1, "too_late")
    replay = insp.post(f"/api/v1/visits/{visit['id']}/checkins", stored)
    assert replay.status_code == 200 and replay.get_json()["id"] == first["id"]


def test_late_visit_with_a_wrong_phone_clock_is_refused(app, insp, world):
    """The start time is only believed when sent_at agrees with the server's clock."""
    close(app, world.a1, timedelta(hours=1))
    skewed = start_body(world.a1, timedelta(hours=2), sent_at=now_iso(timedelta(hours=-3)))
    assert_closed(insp.post("/api/v1/visits", skewed), world.a1, "clock")
    unsent = start_body(world.a1, timedelta(hours=2))
    del unsent["sent_at"]
    assert_closed(insp.post("/api/v1/visits", unsent), world.a1, "clock")


def test_inspector_added_after_the_close_cannot_send_a_late_visit(app, client, world):
    """Only a team the assignment was handed to before the close may send late visits."""
    close(app, world.a3, timedelta(hours=1))
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        assignments.update_assignment(
            db.session, admin, world.a3, {"inspector_ids": [world.ids["insp_a"], world.ids["insp_b"]]}
        )
    late = Api(client, world.tokens["insp_b"])
    assert_closed(late.post("/api/v1/visits", start_body(world.a3, timedelta(hours=2))), world.a3, "joined_after_close")
    early = Api(client, world.tokens["insp_a"])
    assert early.post("/api/v1/visits", start_body(world.a3, timedelta(hours=2))).status_code == 201


def test_closing_records_the_time_and_reopening_clears_it(admin, app, world):
    """Staff closing an assignment stamps closed_at; reopening clears it."""
    closed = admin.patch(f"/api/v1/admin/assignments/{world.a2}", {"status": "closed"}).get_json()
    assert closed["status"] == "closed" and closed["closed_at"]
    reopened = admin.patch(f"/api/v1/admin/assignments/{world.a2}", {"status": "open"}).get_json()
    assert reopened["closed_at"] is None


# ---- photos without a fix, compressed photos ------------------------------------------------


def test_photo_without_a_fix_is_taken_and_flagged(app, insp, world):
    """no_fix: true stands in for lat/lng; the photo and its visit are flagged no_fix."""
    visit = start_visit(insp, world.a1)
    photo = send_photo(insp, visit["id"], seed=41, lat=None, lng=None, no_fix=True)
    assert photo["lat"] is None and "no_fix" in photo["flags"]
    assert "no_fix" in flags_of(app, visit["id"])


def test_photo_ticket_still_needs_a_fix_unless_no_fix(insp, world):
    """Without lat/lng and without no_fix the ticket is 400 naming lat; no_fix false changes nothing."""
    visit = start_visit(insp, world.a1)
    for extra in ({}, {"no_fix": False}):
        r = photo_ticket(insp, visit["id"], lat=None, lng=None, **extra)
        assert r.status_code == 400 and r.get_json()["error"]["details"]["field"] == "lat", r.get_json()
    r = photo_ticket(insp, visit["id"], lng=None)
    assert r.status_code == 400


def test_compressed_photo_is_flagged(app, insp, world):
    """compressed: true (the phone shrank an over-size original with consent) flags photo and visit."""
    visit = start_visit(insp, world.a1)
    photo = send_photo(insp, visit["id"], seed=42, compressed=True)
    assert "compressed" in photo["flags"]
    assert "compressed" in flags_of(app, visit["id"])


def test_oversize_ticket_tells_the_limit(app, insp, world):
    """An over-size ticket answers 413 with details.max_bytes, so the phone can offer compression."""
    visit = start_visit(insp, world.a1)
    limit = app.config["MAX_PHOTO_BYTES"]
    r = photo_ticket(insp, visit["id"], size=limit + 1)
    assert r.status_code == 413 and r.get_json()["error"]["details"]["max_bytes"] == limit


def test_report_and_rectification_tickets_take_no_fix_and_compressed(app, client, world):
    """The other owners' tickets accept the same declarations and flag their photos."""
    secretary = Api(client, world.tokens["secretary"])
    for path in ("/api/v1/projects/reports/photos", "/api/v1/rectifications/photos"):
        r = secretary.post(
            path,
            {
                "client_id": uid(),
                "sent_at": now_iso(),
                "content_type": "image/jpeg",
                "size": 100,
                "no_fix": True,
                "compressed": True,
            },
        )
        assert r.status_code == 201, (path, r.get_json())
        assert set(r.get_json()["photo"]["flags"]) == {"no_fix", "compressed"}


# ---- submit past given-up items, the evidence policy ---------------------------------------


def test_submit_records_what_was_given_up_and_does_not_wait_for_pending_photos(app, insp, world):
    """missing is stored and shown; a photo still uploading does not hold the submit."""
    visit = start_visit(insp, world.a1)
    pending = photo_ticket(insp, visit["id"]).get_json()
    given_up = [
        {"kind": "photo", "client_id": uid(), "reason": "原图已丢失"},
        {"kind": "interview", "client_id": uid(), "reason": "草稿未保存"},
    ]
    r = submit(insp, visit["id"], missing=given_up)
    assert r.status_code == 200 and r.get_json()["status"] == "submitted"
    assert r.get_json()["missing"] == given_up
    got = insp.get(f"/api/v1/visits/{visit['id']}").get_json()
    assert got["missing"] == given_up
    assert got["photos_waiting"] == [{"id": pending["photo_id"], "client_id": pending["photo"]["client_id"]}]


@pytest.mark.parametrize(
    "missing",
    [
        [{"kind": "video", "client_id": "x"}],
        [{"kind": "photo"}],
        [{"kind": "photo", "client_id": "x", "reason": "r" * 501}],
        [{"kind": "photo", "client_id": "x"}] * 101,
    ],
)
def test_submit_missing_is_validated(insp, world, missing):
    """Unknown kinds, a missing client_id, over-long reasons and over 100 items are 400."""
    visit = start_visit(insp, world.a1)
    assert submit(insp, visit["id"], missing=missing).status_code == 400


def test_evidence_short_on_submit_then_made_up_by_a_late_photo(app, insp, world):
    """Default policy 2 photos, 1 interview: with 1 photo and none, submit succeeds with both short
    parts and the flag; the pending photo completing afterwards leaves only the interview short."""
    visit = start_visit(insp, world.a1)
    send_photo(insp, visit["id"], seed=51)
    data = phone_jpeg(seed=52)
    t = photo_ticket(insp, visit["id"], data).get_json()
    r = submit(insp, visit["id"])
    assert r.status_code == 200
    assert r.get_json()["evidence_short"] == {
        "photos": {"required": 2, "got": 1},
        "interviews": {"required": 1, "got": 0},
    }
    assert "evidence_short" in flags_of(app, visit["id"])
    assert upload(insp.client, t["upload"], data) == 204
    assert insp.post(f"/api/v1/photos/{t['photo_id']}/complete").status_code == 200
    got = insp.get(f"/api/v1/visits/{visit['id']}").get_json()
    assert got["evidence_short"] == {"interviews": {"required": 1, "got": 0}}
    assert "evidence_short" in got["flags"]


def test_enough_evidence_is_not_short_and_a_late_photo_clears_the_flag(app, insp, world):
    """2 photos and an interview: nothing short, no flag; a flag raised at submit goes once made up."""
    full = start_visit(insp, world.a1)
    send_photo(insp, full["id"], seed=61)
    send_photo(insp, full["id"], seed=62)
    interview(insp, full["id"])
    r = submit(insp, full["id"])
    assert r.get_json()["evidence_short"] == {} and "evidence_short" not in flags_of(app, full["id"])

    made_up = start_visit(insp, world.a1)
    send_photo(insp, made_up["id"], seed=63)
    interview(insp, made_up["id"])
    data = phone_jpeg(seed=64)
    t = photo_ticket(insp, made_up["id"], data).get_json()
    assert submit(insp, made_up["id"]).get_json()["evidence_short"] == {"photos": {"required": 2, "got": 1}}
    assert upload(insp.client, t["upload"], data) == 204
    insp.post(f"/api/v1/photos/{t['photo_id']}/complete")
    assert "evidence_short" not in flags_of(app, made_up["id"])
    with app.app_context():
        assert db.session.get(Visit, made_up["id"]).evidence_short is None


def last_photo_uploaded(insp, world, seed: int) -> tuple[dict, dict]:
    """A visit with one photo ready and an interview, and its second (last) photo uploaded but not
    yet completed: (the visit, that photo's ticket)."""
    visit = start_visit(insp, world.a1)
    send_photo(insp, visit["id"], seed=seed)
    interview(insp, visit["id"])
    data = phone_jpeg(seed=seed + 1)
    ticket = photo_ticket(insp, visit["id"], data).get_json()
    assert upload(insp.client, ticket["upload"], data) == 204
    return visit, ticket


@pytest.mark.both_databases
def test_a_photo_completing_while_its_visit_is_submitted_makes_up_the_evidence(app, insp, world, monkeypatch):
    """The phone submits while the last photo's complete is running: once the photo is ready nothing is short.

    The complete read the visit still in progress before fetching the upload; the submit, not
    waiting for pending photos, found one photo short. The complete then judged the evidence by
    the status it had read, left it alone, and the visit stayed flagged evidence_short with all
    its photos there.
    """
    from server.services import photos as photo_service

    visit, t = last_photo_uploaded(insp, world, seed=71)
    # The submit (another request) lands between the complete's read and its fetch.
    submitted = Meanwhile(lambda: submit(Api(app.test_client(), world.tokens["insp_a"]), visit["id"]))
    before(monkeypatch, photo_service, "_fetch", submitted)
    assert insp.post(f"/api/v1/photos/{t['photo_id']}/complete").status_code == 200
    assert submitted.answer and submitted.answer.get_json()["evidence_short"] == {"photos": {"required": 2, "got": 1}}
    assert "evidence_short" not in flags_of(app, visit["id"])
    with app.app_context():
        assert db.session.get(Visit, visit["id"]).evidence_short is None


@pytest.mark.both_databases
def test_photos_completing_as_their_visits_are_submitted_leave_none_short(app, insp, world):
    """Six times, a visit's last photo completes at the very moment the phone submits the visit (two
    threads released together): both answer, and no visit stays flagged evidence_short once its photos
    are ready (the teardown recounts the kept counts)."""
    for n in range(6):
        visit, t = last_photo_uploaded(insp, world, seed=80 + 2 * n)
        gate = threading.Barrier(2)

        def complete(photo_id=t["photo_id"], gate=gate):
            api = Api(app.test_client(), world.tokens["insp_a"])
            gate.wait()
            return api.post(f"/api/v1/photos/{photo_id}/complete")

        def submitting(visit_id=visit["id"], gate=gate):
            api = Api(app.test_client(), world.tokens["insp_a"])
            gate.wait()
            return submit(api, visit_id)

        with ThreadPoolExecutor(max_workers=2) as pool:
            done, sent = pool.submit(complete), pool.submit(submitting)
            done, sent = done.result(timeout=120), sent.result(timeout=120)
        assert done.status_code == 200, done.get_json()
        assert sent.status_code == 200, sent.get_json()
        assert "evidence_short" not in flags_of(app, visit["id"])
        with app.app_context():
            assert db.session.get(Visit, visit["id"]).evidence_short is None


def test_assignments_carry_the_evidence_policy_and_staff_override_it(admin, insp, world):
    """GET /assignments returns evidence_policy (default 2 and 1); an assignment's override wins."""
    items = {a["id"]: a for a in insp.get("/api/v1/assignments").get_json()["items"]}
    assert items[world.a1]["evidence_policy"] == {"min_photos": 2, "min_interviews": 1}
    r = admin.patch(f"/api/v1/admin/assignments/{world.a1}", {"min_photos": 4, "min_interviews": 0})
    assert r.status_code == 200, r.get_json()
    items = {a["id"]: a for a in insp.get("/api/v1/assignments").get_json()["items"]}
    assert items[world.a1]["evidence_policy"] == {"min_photos": 4, "min_interviews": 0}
    visit = start_visit(insp, world.a1)
    assert submit(insp, visit["id"]).get_json()["evidence_short"] == {"photos": {"required": 4, "got": 0}}


def test_round_policy_reaches_its_drawn_assignments(app, client, world):
    """A round's minimums are those of its drawn assignments unless one overrides them."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        rid = new_round(world, min_photos=5, min_interviews=3)
        rounds.freeze(db.session, admin, rid, source())
        rounds.run_draw(db.session, admin, rid, "2026088", today=draw_day())
        drawn = db.session.scalars(select(Assignment).where(Assignment.round_id == rid)).first()
        token = issue_token(drawn.members[0])
        aid = drawn.id
    items = {a["id"]: a for a in Api(client, token).get("/api/v1/assignments").get_json()["items"]}
    assert items[aid]["evidence_policy"] == {"min_photos": 5, "min_interviews": 3}


# ---- Retry-After ------------------------------------------------------------------------------


def test_storage_outage_answers_503_with_retry_after(app, insp, world, monkeypatch):
    """A photo complete while storage is down is 503 storage_unavailable with Retry-After."""
    visit = start_visit(insp, world.a1)
    data = phone_jpeg(seed=71)
    t = photo_ticket(insp, visit["id"], data).get_json()
    assert upload(insp.client, t["upload"], data) == 204

    def down(*_args, **_kwargs):
        raise StorageError("storage unreachable")

    monkeypatch.setattr(app.extensions["storage"], "open", down)
    r = insp.post(f"/api/v1/photos/{t['photo_id']}/complete")
    assert r.status_code == 503 and r.get_json()["error"]["code"] == "storage_unavailable"
    assert int(r.headers["Retry-After"]) > 0
    with app.app_context():
        assert db.session.get(Photo, t["photo_id"]).status == "pending"


def test_wechat_rate_limit_answers_429_with_retry_after(client, world):
    """WeChat's minute quota (45011) reaches the phone as 429 with Retry-After."""
    r = client.post("/api/v1/auth/wechat", json={"code": "ratelimit-1"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
