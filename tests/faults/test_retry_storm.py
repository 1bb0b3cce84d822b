"""A storm of client retries with the same client_ids: one record each, every answer the same."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from server.db import db
from server.imaging.phash import HASH_BANDS, REGIONS
from server.models import AuditEntry, CheckIn, ClientWrite, Interview, Photo, PhotoHashBand
from server.services import audit
from tests.factories import V1, Api, checkin_body, now_iso, photo_body, start_visit, uid
from tests.support.images import phone_jpeg
from tests.support.interleave import Meanwhile, before
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


def uploaded_photo(api: Api, visit_id: int, seed: int = 0, data: bytes | None = None) -> dict:
    """The ticket of a visit photo whose bytes (a phone JPEG unless given) are uploaded but not yet completed."""
    data = phone_jpeg(seed=seed) if data is None else data
    r = api.post(f"/api/v1/visits/{visit_id}/photos", photo_body(len(data)))
    assert r.status_code == 201, r.get_json()
    ticket = r.get_json()
    assert upload(api.client, ticket["upload"], data) == 204
    return ticket


def same_answer(body: dict) -> dict:
    """An answer less what legitimately differs between retries (a photo ticket's fresh signed form)."""
    return {k: v for k, v in body.items() if k != "upload"}


def test_retry_storm_of_checkin_photo_ticket_and_interview_stores_one_each(app, world, visit):
    """Ten phones retrying one check-in, photo ticket and interview five times each: one 201 per write, one row each."""
    base = f"/api/v1/visits/{visit['id']}"
    writes = [
        (f"{base}/checkins", checkin_body(*V1)),
        (f"{base}/photos", photo_body(1000)),
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
    ticket = uploaded_photo(api, visit["id"], seed=99)

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


NOT_A_PHOTO = "这不是图片".encode() * 100


@pytest.mark.parametrize(
    ("loser_stops_at", "upload_bytes"),
    [
        ("fetch", "photo"),
        ("fetch", "not-a-photo"),
        pytest.param("fetch", "photo", marks=pytest.mark.s3_storage, id="fetch-photo-s3"),
        pytest.param("seal", "photo", marks=pytest.mark.s3_storage, id="seal-photo-s3"),
    ],
)
def test_a_complete_that_loses_the_race_answers_what_the_winner_did(
    app, world, visit, monkeypatch, loser_stops_at, upload_bytes
):
    """A retry that read the photo pending, then found its upload gone because another retry settled it, answers alike.

    The winner discards the upload once the photo is ready (or rejected); the loser, between
    reading the photo and fetching the upload (or copying it to the sealed key, on S3), finds no
    object. Seen on CI as one 409 "not uploaded" in the storm above: the phone then sends the
    whole photo again for nothing, and a 503 would have made it wait and retry.
    """
    from server.services import photos as photo_service
    from server.storage.s3 import S3Storage

    api = Api(app.test_client(), world.tokens["insp_a"])
    ticket = uploaded_photo(api, visit["id"], data=phone_jpeg(seed=98) if upload_bytes == "photo" else NOT_A_PHOTO)
    path = f"/api/v1/photos/{ticket['photo_id']}/complete"
    # The other retry runs whole when this one is about to fetch (or copy) the upload.
    winner = Meanwhile(lambda: Api(app.test_client(), world.tokens["insp_a"]).post(path))
    if loser_stops_at == "fetch":
        before(monkeypatch, photo_service, "_fetch", winner)
    else:
        before(monkeypatch, S3Storage, "seal_upload", winner)

    loser = api.post(path)
    won = winner.answer
    assert won is not None, "the competing complete never ran"
    with app.app_context():
        s = db.session
        photo = s.get(Photo, ticket["photo_id"])
        actions = list(
            s.scalars(select(AuditEntry.action).where(AuditEntry.action.in_(["photo.complete", "photo.reject"])))
        )
        assert audit.verify(s).ok
    if upload_bytes == "photo":
        assert (won.status_code, loser.status_code) == (200, 200), (won.get_json(), loser.get_json())
        assert (loser.get_json()["status"], loser.get_json()["sha256"]) == ("ready", won.get_json()["sha256"])
        assert (photo.status, actions) == ("ready", ["photo.complete"])
    else:
        assert (won.status_code, loser.status_code) == (422, 422), (won.get_json(), loser.get_json())
        assert loser.get_json()["error"]["code"] == won.get_json()["error"]["code"] == "photo_not_image"
        assert (photo.status, actions) == ("rejected", ["photo.reject"])


@pytest.mark.parametrize("upload_bytes", ["photo", "not-a-photo"])
def test_an_upload_is_discarded_only_once_the_photo_is_settled(app, world, visit, monkeypatch, upload_bytes):
    """When the upload goes, the photo's ready (or rejected) state is already committed, for any other request to see.

    A retry that finds the upload gone re-reads the photo to answer as the winner did; had the
    winner deleted before committing, that read would still say pending (on MariaDB nothing makes
    it wait), and the retry would answer "not uploaded".
    """
    from server.services.photos import storage

    api = Api(app.test_client(), world.tokens["insp_a"])
    ticket = uploaded_photo(api, visit["id"], data=phone_jpeg(seed=97) if upload_bytes == "photo" else NOT_A_PHOTO)
    seen: list[str] = []
    with app.app_context():
        backend = type(storage())
    original_discard = backend.discard_upload

    def discard_upload(self, key):
        # A connection of its own, as another request's would be: it sees only what is committed.
        with db.engine.connect() as other:
            seen.append(other.scalar(select(Photo.status).where(Photo.id == ticket["photo_id"])))
        return original_discard(self, key)

    monkeypatch.setattr(backend, "discard_upload", discard_upload)
    answer = api.post(f"/api/v1/photos/{ticket['photo_id']}/complete")
    assert answer.status_code == (200 if upload_bytes == "photo" else 422), answer.get_json()
    assert seen == ["ready" if upload_bytes == "photo" else "rejected"]


def test_a_losing_retry_in_another_minute_leaves_the_winners_preview(app, world, visit, monkeypatch):
    """The stored preview stays the one whose hash the photo records, whichever retry writes last.

    The preview's watermark shows the minute it was made. A retry that read the photo pending,
    made its preview a minute after the winner, and wrote it after the winner committed, used to
    put it over the winner's: the public verify page then no longer matched the preview anyone
    downloads against the hash the photo keeps.
    """
    from server.services import photos as photo_service

    api = Api(app.test_client(), world.tokens["insp_a"])
    ticket = uploaded_photo(api, visit["id"], seed=96)
    path = f"/api/v1/photos/{ticket['photo_id']}/complete"
    real_utcnow = photo_service.utcnow
    later = iter([True])
    # The loser's first clock reading (its watermark's time) is three minutes on; every other is real.
    monkeypatch.setattr(
        photo_service, "utcnow", lambda: real_utcnow() + timedelta(minutes=3 if next(later, False) else 0)
    )
    with app.app_context():
        backend = type(photo_service.storage())
    original_put = backend.put
    winner = Meanwhile(lambda: Api(app.test_client(), world.tokens["insp_a"]).post(path))

    def put(self, key, data, **kwargs):
        if key.endswith(".preview.jpg"):  # the other retry runs whole when this one writes its preview
            winner()
        return original_put(self, key, data, **kwargs)

    monkeypatch.setattr(backend, "put", put)
    loser = api.post(path)
    assert winner.answer is not None and winner.answer.status_code == 200, winner.answer and winner.answer.get_json()
    assert loser.status_code == 200, loser.get_json()
    with app.app_context():
        photo = db.session.get(Photo, ticket["photo_id"])
        store = photo_service.storage()
        assert hashlib.sha256(store.read(photo.preview_key, limit=10**8)).hexdigest() == photo.preview_sha256
        # The loser's own preview is not left behind beside it.
        previews = [key for key in store.iter_keys() if key.endswith(".preview.jpg")]
        assert previews == [photo.preview_key]
