"""The lean photo path: what one ticket and one complete cost in storage calls and SQL statements."""

from __future__ import annotations

import hashlib
import io
from collections import Counter

import pytest
from sqlalchemy import event

from server.db import db
from server.models import Photo
from server.storage import S3Storage
from tests.factories import V1, Api, now_iso, start_visit, uid
from tests.support.images import phone_jpeg
from tests.support.s3server import s3_settings
from tests.support.upload import upload


@pytest.fixture
def s3_config():
    """Storage on the S3 HTTP server (a fresh bucket)."""
    from tests.support.s3server import make_bucket, s3_endpoint

    endpoint = s3_endpoint()
    bucket = f"lean-{uid()[:8]}"
    make_bucket(endpoint, bucket)
    return {
        **s3_settings(endpoint, bucket),
    }


@pytest.fixture
def storage_config(request, tmp_path):
    """Local storage, or S3 for tests marked with `s3_storage`."""
    if request.node.get_closest_marker("s3_storage"):
        return request.getfixturevalue("s3_config")
    return {"STORAGE_BACKEND": "local", "STORAGE_DIR": str(tmp_path / "storage")}


@pytest.fixture
def insp(client, world):
    """Inspector A with a started visit on assignment a1."""
    api = Api(client, world.tokens["insp_a"])
    api.visit = start_visit(api, world.a1)
    return api


def ticket(api, data: bytes) -> dict:
    """The ticket answer for these bytes."""
    body = {
        "client_id": uid(),
        "sent_at": now_iso(),
        "content_type": "image/jpeg",
        "size": len(data),
        "taken_at": now_iso(),
        "lat": V1[0],
        "lng": V1[1],
    }
    r = api.post(f"/api/v1/visits/{api.visit['id']}/photos", body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


class Counting:
    """The app's storage, counting the calls the photo service makes on it."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.calls: list[tuple[str, str]] = []

    def __getattr__(self, name: str):
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def counted(*args, **kwargs):
            self.calls.append((name, str(args[0]) if args else ""))
            return attr(*args, **kwargs)

        return counted


class S3Operations:
    """The S3 API operations an S3Storage sends, in order (botocore's before-call event)."""

    def __init__(self, storage: S3Storage) -> None:
        self.names: list[str] = []
        self.events = storage.client.meta.events
        self.events.register("before-call.s3", self._record)

    def _record(self, model, **_kwargs) -> None:
        self.names.append(model.name)

    def stop(self) -> None:
        """Stop recording."""
        self.events.unregister("before-call.s3", self._record)


class Statements:
    """The SQL statements the app's engine sends while recording."""

    def __init__(self, app) -> None:
        with app.app_context():
            self.engine = db.engine
        self.sent: list[str] = []
        event.listen(self.engine, "before_cursor_execute", self._record)

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.sent.append(" ".join(statement.split()))

    def stop(self) -> None:
        """Stop recording."""
        event.remove(self.engine, "before_cursor_execute", self._record)


def test_complete_reads_the_upload_once_and_writes_each_object_once(app, insp):
    """One GET of the upload (no HEAD first), read at once, one seal, the thumbnail and the preview, one discard."""
    data = phone_jpeg(seed=901)
    t = ticket(insp, data)
    assert upload(insp.client, t["upload"], data) == 204
    counting = Counting(app.extensions["storage"])
    app.extensions["storage"] = counting
    try:
        r = insp.post(f"/api/v1/photos/{t['photo_id']}/complete")
    finally:
        app.extensions["storage"] = counting.inner
    assert r.status_code == 200 and r.get_json()["status"] == "ready"
    calls = Counter(name for name, _key in counting.calls if not name.startswith("presign"))
    assert calls == {"read": 1, "seal_upload": 1, "put": 2, "discard_upload": 1}
    assert [key for name, key in counting.calls if name == "read"] == [
        key for name, key in counting.calls if name == "discard_upload"
    ]


@pytest.mark.s3_storage
def test_s3_complete_seals_by_server_side_copy(app, insp):
    """On S3 the verified upload is copied, not sent back: GET, CopyObject, two small PUTs, DELETE."""
    data = phone_jpeg(seed=902)
    t = ticket(insp, data)
    assert upload(insp.client, t["upload"], data) == 204
    ops = S3Operations(app.extensions["storage"])
    try:
        photo = insp.post(f"/api/v1/photos/{t['photo_id']}/complete").get_json()
    finally:
        ops.stop()
    assert ops.names == ["GetObject", "CopyObject", "PutObject", "PutObject", "DeleteObject"]
    assert photo["sha256"] == hashlib.sha256(data).hexdigest() == photo["upload_sha256"]
    with app.app_context():
        key = db.session.get(Photo, t["photo_id"]).object_key
    storage = app.extensions["storage"]
    with storage.open(key) as f:
        assert f.read() == data
    assert storage.head(key).content_type == "image/jpeg"


@pytest.mark.s3_storage
def test_s3_seal_puts_the_verified_bytes_when_the_upload_changed(app):
    """Should the upload hold other bytes than were verified (a re-upload with the live ticket), S3's
    checksum of the copy says so and the verified bytes are PUT over it."""
    storage: S3Storage = app.extensions["storage"]
    verified, replaced = phone_jpeg(seed=903), phone_jpeg(seed=904)
    storage.put("uploads/visit/p.jpg", replaced, content_type="image/jpeg")
    ops = S3Operations(storage)
    try:
        storage.seal_upload(
            "uploads/visit/p.jpg",
            "sealed/visit/p.jpg",
            io.BytesIO(verified),
            sha256=hashlib.sha256(verified).hexdigest(),
            content_type="image/jpeg",
        )
    finally:
        ops.stop()
    assert ops.names == ["CopyObject", "PutObject"]
    with storage.open("sealed/visit/p.jpg") as f:
        assert f.read() == verified
    assert storage.head("sealed/visit/p.jpg").content_type == "image/jpeg"


@pytest.mark.s3_storage
def test_s3_seal_copy_takes_the_verified_type(app):
    """The sealed copy carries the type the bytes were verified to be, not the one the ticket declared."""
    storage: S3Storage = app.extensions["storage"]
    data = phone_jpeg(seed=905)
    storage.put("uploads/visit/q.png", data, content_type="image/png")
    storage.seal_upload(
        "uploads/visit/q.png",
        "sealed/visit/q.png",
        io.BytesIO(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content_type="image/jpeg",
    )
    assert storage.head("sealed/visit/q.png").content_type == "image/jpeg"


def test_ticket_and_complete_do_not_load_the_team(app, insp):
    """Finding the visit and its owner checks the team with one indexed statement: no member's
    roles, townships or organizations are loaded, and a complete sends few statements."""
    data = phone_jpeg(seed=906)
    statements = Statements(app)
    try:
        t = ticket(insp, data)
        ticket_sent = list(statements.sent)
        assert upload(insp.client, t["upload"], data) == 204
        statements.sent.clear()
        r = insp.post(f"/api/v1/photos/{t['photo_id']}/complete")
        complete_sent = list(statements.sent)
    finally:
        statements.stop()
    assert r.status_code == 200
    for sent in (ticket_sent, complete_sent):
        team_loads = [s for s in sent if "FROM assignment_members" in s and "JOIN users" in s]
        assert team_loads == [], "\n".join(sent)
        visit_loads = [s for s in sent if s.startswith("SELECT visits.id, visits.assignment_id, visits.project_id")]
        assert len(visit_loads) <= 1
    # Authentication (the user, its roles), the photo, its owner, the team, the locked row, two
    # duplicate lookups, the visit's month, the counts, the update, the band rows, new flags (the
    # flag, the visit and its list counts) and three audit statements; the ORM loads sent 30.
    statements = [s for s in complete_sent if not s.startswith("BEGIN")]
    assert len(statements) <= 18, "\n".join(complete_sent)
