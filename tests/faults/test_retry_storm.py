"""A storm of client retries with the same client_ids: one record each, every answer the same."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from server.db import db
from server.imaging.phash import HASH_BANDS, REGIONS
from server.models import AuditEntry, CheckIn, ClientWrite, Interview, Photo, PhotoHashBand
from server.services import audit
from tests.factories import V1, Api, checkin_body, now_iso, start_visit, uid
from tests.support.images import phone_jpeg
from tests.support.upload import upload

# Simultaneous retries: locks and unique keys decide the outcome.
pytestmark = pytest.mark.both_databases

THREADS = 10
RETRIES = 5


@pytest.fixture
def visit(client, world) -> dict:
    """A visit started by inspector A."""
    return start_visit(Api(client, world.tokens["insp_a"]), world.a1)


def storm(app, token: str, requests: list[tuple[str, dict]]) -> dict[str, list[tuple[int, dict]]]:
    """THREADS phones each send every request RETRIES times (fresh sent_at each time); answers by client_id."""

    def phone(n: int) -> list[tuple[str, int, dict]]:
        api = Api(app.test_client(), token)
        out = []
        for attempt in range(RETRIES):
            # Each phone walks the queue from a different place, so different writes collide.
            for path, body in requests[(n + attempt) % len(requests) :] + requests[: (n + attempt) % len(requests)]:
                r = api.post(path, {**body, "sent_at": now_iso()})
                out.append((body["client_id"], r.status_code, r.get_json()))
        return out

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = [row for rows in pool.map(phone, range(THREADS)) for row in rows]
    answers: dict[str, list[tuple[int, dict]]] = {}
    for client_id, status, body in results:
        answers.setdefault(client_id, []).append((status, body))
    return answers


def same_answer(body: dict) -> dict:
    """An answer less what legitimately differs between retries (a photo ticket's fresh signed form)."""
    return {k: v for k, v in body.items() if k != "upload"}


def test_retry_storm_of_checkin_photo_ticket_and_interview_stores_one_each(app, world, visit):
    """Ten phones retrying one check-in, photo ticket and interview five times each: one 201 per write, one row each."""
    base = f"/api/v1/visits/{visit['id']}"
    writes = [
        (f"{base}/checkins", checkin_body(*V1)),
        (
            f"{base}/photos",
            {
                "client_id": uid(),
                "sent_at": now_iso(),
                "content_type": "image/jpeg",
                "size": 1000,
                "taken_at": now_iso(),
                "lat": V1[0],
                "lng": V1[1],
            },
        ),
        (
            f"{base}/interviews",
            {
                "client_id": uid(),
                "sent_at": now_iso(),
                "household": "张三",
                "satisfaction": "满意",
                "answers": {"知道项目吗": "知道"},
            },
        ),
    ]
    answers = storm(app, world.tokens["insp_a"], writes)
    assert set(answers) == {body["client_id"] for _, body in writes}
    for client_id, got in answers.items():
        statuses = sorted(status for status, _ in got)
        assert statuses == [200] * (THREADS * RETRIES - 1) + [201], (client_id, statuses)
        assert len({repr(same_answer(body)) for _, body in got}) == 1, client_id
    with app.app_context():
        s = db.session
        for model in (CheckIn, Photo, Interview):
            assert s.scalar(select(func.count()).select_from(model).where(model.visit_id == visit["id"])) == 1
        kinds = s.scalars(select(ClientWrite.kind).where(ClientWrite.client_id.in_(answers))).all()
        assert sorted(kinds) == ["photo.ticket", "visit.checkin", "visit.interview"]
        assert (
            s.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action.in_(["visit.checkin", "photo.ticket", "visit.interview"]))
            )
            == 3
        )
        assert audit.verify(s).ok


def test_retry_storm_of_submit_and_late_write_retries_after_it(app, world, visit):
    """Ten phones retrying a submit (with a check-in retried alongside): one submit, one check-in, all 200/201."""
    base = f"/api/v1/visits/{visit['id']}"
    checkin = (f"{base}/checkins", checkin_body(*V1))
    api = Api(app.test_client(), world.tokens["insp_a"])
    assert api.post(*checkin).status_code == 201
    submit = (f"{base}/submit", {"client_id": uid(), "sent_at": now_iso()})
    answers = storm(app, world.tokens["insp_a"], [submit, checkin])
    assert {status for status, _ in answers[submit[1]["client_id"]]} == {200}
    assert {body["status"] for _, body in answers[submit[1]["client_id"]]} == {"submitted"}
    assert {status for status, _ in answers[checkin[1]["client_id"]]} == {200}
    with app.app_context():
        s = db.session
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "visit.submit")) == 1
        assert s.scalar(select(func.count()).select_from(CheckIn).where(CheckIn.visit_id == visit["id"])) == 1
        assert audit.verify(s).ok


def test_retry_storm_of_photo_complete_makes_it_ready_once(app, world, visit):
    """Ten phones completing one uploaded photo at once: all answer ready with the same hash, one audit entry."""
    api = Api(app.test_client(), world.tokens["insp_a"])
    data = phone_jpeg(seed=99)
    r = api.post(
        f"/api/v1/visits/{visit['id']}/photos",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "content_type": "image/jpeg",
            "size": len(data),
            "taken_at": now_iso(),
            "lat": V1[0],
            "lng": V1[1],
        },
    )
    ticket = r.get_json()
    assert upload(api.client, ticket["upload"], data) == 204

    def complete(_):
        response = Api(app.test_client(), world.tokens["insp_a"]).post(f"/api/v1/photos/{ticket['photo_id']}/complete")
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        answers = list(pool.map(complete, range(THREADS * 2)))
    assert {status for status, _ in answers} == {200}, answers
    assert {(body["status"], body["sha256"]) for _, body in answers} == {("ready", answers[0][1]["sha256"])}
    with app.app_context():
        s = db.session
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "photo.complete")) == 1
        assert s.scalar(
            select(func.count()).select_from(PhotoHashBand).where(PhotoHashBand.photo_id == ticket["photo_id"])
        ) == HASH_BANDS * len(REGIONS)
        assert audit.verify(s).ok
