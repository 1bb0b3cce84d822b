"""Reuse across counties: a complete searches its own county's photos, the nightly pass every county's."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from server.auth import issue_token
from server.db import db
from server.models import AuditEntry, County, JobCursor, Photo, PhotoHashBand, User, VisitFlag
from server.services import audit, cross_county, review, users
from tests.api.test_photos import reused_copy, send
from tests.factories import Api, now_iso, start_visit, uid
from tests.services.test_counties import county2  # noqa: F401  (a fixture)
from tests.support.images import phone_jpeg
from tests.support.upload import upload


def secretary_of(app, client, county_id: int, name: str) -> Api:
    """A secretary of the county, as the mini-program calls the API for them."""
    with app.app_context():
        user, _ = users.create_user(
            db.session,
            None,
            {"username": name, "roles": ["secretary"], "password": f"{name}-password", "county_id": county_id},
        )
        token = issue_token(user)
    return Api(client, token)


def send_report_photo(api: Api, data: bytes) -> dict:
    """Ticket, upload and complete one photo of a monthly report; returns the complete answer."""
    body = {"client_id": uid(), "sent_at": now_iso(), "content_type": "image/jpeg", "size": len(data)}
    r = api.post("/api/v1/projects/reports/photos", {**body, "taken_at": now_iso()})
    assert r.status_code == 201, r.get_json()
    t = r.get_json()
    assert upload(api.client, t["upload"], data) == 204
    done = api.post(f"/api/v1/photos/{t['photo_id']}/complete")
    assert done.status_code == 200, done.get_json()
    return done.get_json()


def report_photo_reused_as_evidence(app, client, world, county_id: int, seed: int, how: str) -> tuple[dict, Api, dict]:
    """County 2's secretary sends a report photo; county 1's inspector sends a copy of it (`how`) as visit
    evidence, which the complete (its own county only) does not flag. Returns (the original, the
    inspector's Api with its visit, the copy)."""
    original = phone_jpeg(seed=seed, quality=90)
    first = send_report_photo(secretary_of(app, client, county_id, f"sec_{seed}"), original)
    insp = Api(client, world.tokens["insp_a"])
    insp.visit = start_visit(insp, world.a1)
    copy = send(insp, reused_copy(original, how)).get_json()
    assert copy["duplicate_of"] is None
    return first, insp, copy


def first_county(app) -> int:
    """The world's county (the deployment's first)."""
    with app.app_context():
        return db.session.scalar(select(func.min(County.id)))


@pytest.mark.both_databases
def test_a_copy_from_another_county_is_flagged_by_the_nightly_pass(app, client, world, county2, monkeypatch):  # noqa: F811
    """County 2's secretary re-sends county 1's photo turned: the complete (its own county) does not see it,
    the nightly pass does, flags it for review with an audit entry in county 2, and a second run reads nothing again."""
    insp = Api(client, world.tokens["insp_a"])
    insp.visit = start_visit(insp, world.a1)
    original = phone_jpeg(seed=81, quality=90)
    first = send(insp, original).get_json()
    copy = send_report_photo(
        secretary_of(app, client, county2["county_id"], "sec_b"), reused_copy(original, "orientation tag 6")
    )
    assert copy["duplicate_of"] is None and "duplicate" not in copy["flags"]
    with app.app_context():
        counties = dict(db.session.execute(select(PhotoHashBand.photo_id, PhotoHashBand.county_id).distinct()).all())
    assert counties[first["id"]] == first_county(app) and counties[copy["id"]] == county2["county_id"]

    with app.app_context():  # completed within the lag: left for the next night
        assert cross_county.run(db.session) == {"checked": 0, "flagged": 0, "unreadable": 0}
    monkeypatch.setattr(cross_county, "LAG_SECONDS", 0)  # the next night
    with app.app_context():
        assert cross_county.run(db.session) == {"checked": 1, "flagged": 1, "unreadable": 0}
        flagged = db.session.get(Photo, copy["id"])
        assert flagged.duplicate_of_id == first["id"] and "duplicate" in flagged.flags
        assert db.session.get(Photo, first["id"]).duplicate_of_id is None  # the earlier one is the original
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "photo.duplicate_found")).one()
        assert (entry.chain, entry.object_id, entry.data["duplicate_of"]) == (
            county2["county_id"],
            str(copy["id"]),
            first["id"],
        )
        cursor = db.session.get(JobCursor, cross_county.JOB)
        assert cursor.last_id == copy["id"]
        assert cross_county.run(db.session) == {"checked": 0, "flagged": 0, "unreadable": 0}


def test_a_copy_in_the_same_county_is_still_found_at_complete(app, client, world, county2):  # noqa: F811
    """With a second county, the county-first search still flags a copy sent in the same county at once."""
    insp = Api(client, world.tokens["insp_a"])
    insp.visit = start_visit(insp, world.a1)
    original = phone_jpeg(seed=82, quality=90)
    first = send(insp, original).get_json()
    copy = send_report_photo(secretary_of(app, client, first_county(app), "sec_a2"), reused_copy(original, "10% crop"))
    assert copy["duplicate_of"] == first["id"] and "duplicate" in copy["flags"]


def test_one_run_at_a_time(app, world):
    """A second run while one holds the job's lease does nothing."""
    from server.services import leases

    with app.app_context():
        assert leases.take(db.session, cross_county.JOB, 60)
        assert cross_county.run(db.session) == {leases.BUSY: 1}
        leases.release(db.session, cross_county.JOB)
        assert cross_county.run(db.session) == {"checked": 0, "flagged": 0, "unreadable": 0}


def test_a_run_past_its_time_stops_after_a_batch_and_the_next_goes_on(app, client, world, monkeypatch):
    """A night's run stops at RUN_SECONDS after the batch it is in; the next run starts after it."""
    insp = Api(client, world.tokens["insp_a"])
    insp.visit = start_visit(insp, world.a1)
    ids = [send(insp, phone_jpeg(seed=90 + n, quality=90)).get_json()["id"] for n in range(3)]
    monkeypatch.setattr(cross_county, "LAG_SECONDS", 0)
    monkeypatch.setattr(cross_county, "RUN_SECONDS", -1)  # out of time after the first batch
    with app.app_context():
        assert cross_county.run(db.session, batch=2) == {"checked": 2, "flagged": 0, "unreadable": 0, "unfinished": 1}
        assert db.session.get(JobCursor, cross_county.JOB).last_id == ids[1]
        assert cross_county.run(db.session, batch=2) == {"checked": 1, "flagged": 0, "unreadable": 0, "unfinished": 1}
        assert cross_county.run(db.session, batch=2) == {"checked": 0, "flagged": 0, "unreadable": 0}


def test_storage_down_stops_the_run_before_the_photo_it_could_not_read(app, client, world, monkeypatch):
    """A thumbnail storage cannot serve (StorageError) ends the night's run without moving past that photo."""
    from server.services import photos
    from server.storage import StorageError

    insp = Api(client, world.tokens["insp_a"])
    insp.visit = start_visit(insp, world.a1)
    for n in range(2):
        send(insp, phone_jpeg(seed=95 + n, quality=90))
    monkeypatch.setattr(cross_county, "LAG_SECONDS", 0)
    with app.app_context():
        backend = type(photos.storage())
        opened = backend.open

        def down(self, key):
            raise StorageError("connect timeout")

        monkeypatch.setattr(backend, "open", down)
        assert cross_county.run(db.session) == {
            "checked": 0,
            "flagged": 0,
            "unreadable": 0,
            "storage_unavailable": 1,
        }
        monkeypatch.setattr(backend, "open", opened)
        assert cross_county.run(db.session) == {"checked": 2, "flagged": 0, "unreadable": 0}


def test_a_visit_photo_flagged_at_night_flags_its_visit(app, client, world, county2, monkeypatch):  # noqa: F811
    """County 1's inspector sends county 2's report photo as visit evidence: the nightly pass flags the photo
    and the visit, which the review queue's 重复 filter then lists (the teardown recounts the visit counters)."""
    first, insp, copy = report_photo_reused_as_evidence(
        app, client, world, county2["county_id"], 83, "5% one-edge crop"
    )
    monkeypatch.setattr(cross_county, "LAG_SECONDS", 0)
    with app.app_context():
        assert cross_county.run(db.session)["flagged"] == 1
        assert db.session.get(Photo, copy["id"]).duplicate_of_id == first["id"]
        flags = db.session.scalars(select(VisitFlag.flag).where(VisitFlag.visit_id == insp.visit["id"])).all()
        assert "duplicate" in flags
        admin = db.session.scalars(select(User).where(User.username == "admin")).one()
        page = review.page_of_visits(db.session, admin, {"flag": "duplicate"}, "-started_at", 1, 50)
        assert [row.visit.id for row in page.rows] == [insp.visit["id"]]


@pytest.mark.both_databases
def test_a_batch_chosen_as_a_deadlock_victim_is_checked_again(app, client, world, county2, monkeypatch):  # noqa: F811
    """The nightly pass flags a visit photo while phones and staff write: when the database refuses its batch
    (deadlock 1213, as a concurrent submit holding the visit can make it), the batch is rolled back and run
    again, and the photo and its visit are flagged once, with one audit entry (the teardown recounts the visit
    counters), instead of the night's run failing."""
    first, insp, copy = report_photo_reused_as_evidence(
        app, client, world, county2["county_id"], 84, "orientation tag 6"
    )
    real_append, refused = audit.append, []

    def append(session, actor, action, *args, **kwargs):
        if action == "photo.duplicate_found" and not refused:
            refused.append(action)
            raise OperationalError("UPDATE audit_head ...", {}, Exception(1213, "Deadlock found"))
        return real_append(session, actor, action, *args, **kwargs)

    monkeypatch.setattr(audit, "append", append)
    monkeypatch.setattr(cross_county, "LAG_SECONDS", 0)
    with app.app_context():
        # The report photo (the original) is checked, the visit's copy flagged: counted once each.
        assert cross_county.run(db.session) == {"checked": 1, "flagged": 1, "unreadable": 0}
        assert refused == ["photo.duplicate_found"]
        assert db.session.get(Photo, copy["id"]).duplicate_of_id == first["id"]
        found = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "photo.duplicate_found")
        assert db.session.scalar(found) == 1
        flags = db.session.scalars(select(VisitFlag.flag).where(VisitFlag.visit_id == insp.visit["id"])).all()
        assert flags.count("duplicate") == 1
        assert db.session.get(JobCursor, cross_county.JOB).last_id == copy["id"]
        assert audit.verify(db.session).ok
