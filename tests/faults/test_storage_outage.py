"""S3 going away or hanging while a photo is completed: 503, the photo stays pending, nothing is lost."""

from __future__ import annotations

import signal
import threading
import uuid

import pytest
from sqlalchemy import select

from server.db import db
from server.models import Photo
from tests.factories import V1, Api, now_iso, start_visit, uid
from tests.faults.conftest import TcpProxy
from tests.support.images import phone_jpeg
from tests.support.s3server import make_bucket, s3_settings
from tests.support.upload import upload


@pytest.fixture
def s3_proxy(moto_server):
    """A relay in front of the private S3 server (with a fresh bucket), so the test can cut S3 off."""
    _, endpoint = moto_server
    proxy = TcpProxy(int(endpoint.rsplit(":", 1)[1])).start()
    proxy.bucket = f"faults-{uuid.uuid4().hex[:12]}"
    make_bucket(endpoint, proxy.bucket)
    yield proxy
    proxy.cut()


@pytest.fixture
def storage_config(s3_proxy):
    """S3 through the relay, with a one-second timeout so a hung server frees the worker quickly."""
    return {**s3_settings(f"http://127.0.0.1:{s3_proxy.port}", s3_proxy.bucket), "S3_TIMEOUT_SECONDS": 1}


@pytest.fixture
def uploaded(client, world):
    """Inspector A's API and a photo ticketed and uploaded to S3, not yet completed."""
    api = Api(client, world.tokens["insp_a"])
    visit = start_visit(api, world.a1)
    data = phone_jpeg(seed=91)
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
    assert r.status_code == 201, r.get_json()
    ticket = r.get_json()
    assert upload(client, ticket["upload"], data) == 204
    return api, ticket["photo_id"]


def photo_status(app, photo_id: int) -> str:
    """The photo's status as stored."""
    with app.app_context():
        return db.session.scalars(select(Photo.status).where(Photo.id == photo_id)).one()


def complete_in_thread(api: Api, photo_id: int):
    """POST complete from another thread; returns the response, or None if it never came back."""
    answers = []
    worker = threading.Thread(
        target=lambda: answers.append(api.post(f"/api/v1/photos/{photo_id}/complete")), daemon=True
    )
    worker.start()
    worker.join(120)  # a liveness guard, not a speed check: a stuck worker would never answer
    return answers[0] if answers else None


def assert_storage_unavailable(response) -> None:
    """A 503 with the storage error code and its Chinese advice to retry."""
    assert response.status_code == 503, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "storage_unavailable" and "稍后重试" in error["message"]


def test_s3_stopped_during_complete_keeps_photo_pending_then_completes(app, s3_proxy, uploaded):
    """S3 unreachable at complete: 503 in Chinese, the photo stays pending; once S3 is back, complete makes it ready."""
    api, photo_id = uploaded
    s3_proxy.cut()
    assert_storage_unavailable(api.post(f"/api/v1/photos/{photo_id}/complete"))
    assert photo_status(app, photo_id) == "pending"
    s3_proxy.restore()
    r = api.post(f"/api/v1/photos/{photo_id}/complete")
    assert r.status_code == 200 and r.get_json()["status"] == "ready", r.get_json()


def test_hung_s3_does_not_hold_the_worker_and_photo_completes_later(app, moto_server, uploaded):
    """A frozen S3 server (accepts, never answers) gives a 503 after the client timeout; after it thaws, complete succeeds."""
    proc, _ = moto_server
    api, photo_id = uploaded
    proc.send_signal(signal.SIGSTOP)
    try:
        response = complete_in_thread(api, photo_id)
    finally:
        proc.send_signal(signal.SIGCONT)
    assert response is not None, "complete never answered while S3 hung"
    assert_storage_unavailable(response)
    assert photo_status(app, photo_id) == "pending"
    r = api.post(f"/api/v1/photos/{photo_id}/complete")
    assert r.status_code == 200 and r.get_json()["status"] == "ready", r.get_json()
