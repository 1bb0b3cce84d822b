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


@pytest.fixture
def storage_config(request, tmp_path):
    """Local storage; a fresh bucket on the S3 HTTP server for tests marked `s3_storage`."""
    if request.node.get_closest_marker("s3_storage"):
        from tests.support.s3server import make_bucket, s3_endpoint, s3_settings

        bucket = f"storm-{uid()[:8]}"
        make_bucket(s3_endpoint(), bucket)
        return s3_settings(s3_endpoint(), bucket)
    return {"STORAGE_BACKEND": "local", "STORAGE_DIR": str(tmp_path / "storage")}


@pytest.mark.parametrize(
    "loser_stops_at",
    [
        "fetch",
        pytest.param("fetch", marks=pytest.mark.s3_storage, id="fetch-s3"),
        pytest.param("seal", marks=pytest.mark.s3_storage, id="seal-s3"),
    ],
)
def test_a_complete_that_loses_the_race_answers_ready_not_not_uploaded(app, world, visit, monkeypatch, loser_stops_at):
    """A retry that read the photo pending, then found its upload gone because another retry sealed it, answers ready.

    The winner discards the upload once the sealed copy is safe; the loser, between reading the
    photo and fetching the upload (or copying it to the sealed key, on S3), finds no object.
    Seen on CI as one 409 "not uploaded" in the storm above: the phone would have shown an
    error for a photo that was ready.
    """
    from server.services import photos as photo_service
    from server.storage.s3 import S3Storage

    api = Api(app.test_client(), world.tokens["insp_a"])
    data = phone_jpeg(seed=98)
    ticket = api.post(
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
    ).get_json()
    assert upload(api.client, ticket["upload"], data) == 204
    path = f"/api/v1/photos/{ticket['photo_id']}/complete"
    winner: list = []
    calls = iter([True])

    def win_first():
        # Once, on the loser's call: the other retry runs whole, in a thread of its own (its own app
        # context and session), and its own call here does nothing.
        if next(calls, False):
            with ThreadPoolExecutor(max_workers=1) as pool:
                winner.append(pool.submit(lambda: Api(app.test_client(), world.tokens["insp_a"]).post(path)).result())

    if loser_stops_at == "fetch":
        original_fetch = photo_service._fetch

        def fetch(key, limit):
            win_first()
            return original_fetch(key, limit)

        monkeypatch.setattr(photo_service, "_fetch", fetch)
    else:
        original_seal = S3Storage.seal_upload

        def seal_upload(self, *args, **kwargs):
            win_first()
            return original_seal(self, *args, **kwargs)

        monkeypatch.setattr(S3Storage, "seal_upload", seal_upload)

    loser = api.post(path)
    assert winner and winner[0].status_code == 200, winner and winner[0].get_json()
    assert loser.status_code == 200, loser.get_json()
    assert (loser.get_json()["status"], loser.get_json()["sha256"]) == ("ready", winner[0].get_json()["sha256"])
    with app.app_context():
        s = db.session
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "photo.complete")) == 1
        assert s.get(Photo, ticket["photo_id"]).status == "ready"
        assert audit.verify(s).ok
