"""Sealed originals: what `complete` verified is what is served, for every owner and on every backend.

Also: tiny or unprocessable images never make `complete` answer 500, and villagers' feedback
originals are sealed without their location.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path

import pytest
import requests
from PIL import Image
from sqlalchemy import select

from server.db import db
from server.models import Photo
from server.services import photos as photo_service
from tests.factories import V1, Api, now_iso, start_visit, uid
from tests.support.images import phone_jpeg
from tests.support.s3server import s3_settings
from tests.support.upload import upload

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
# Real files whose EXIF carries a GPS position (checked with exiftool; see the folders' READMEs).
GPS_PHOTOS = [
    SHARED / "photos" / name
    for name in (
        "cartridgeocr_iphone11_IMG_5809.jpg",
        "cartridgeocr_pixel5_PXL_20210518_214205292.jpg",
        "exifsamples_jpg_mobile_HMD_Nokia_8.3_5G.jpg",
        "exifsamples_jpg_hdr_iphone_hdr_YES.jpg",
        "exifsamples_jpg_gps_DSCN0010.jpg",
    )
] + [
    SHARED / "corpus" / "exif-samples" / name
    for name in (
        "gps_DSCN0012.jpg",
        "gps_DSCN0021.jpg",
        "gps_DSCN0040.jpg",
        "Kodak_CX7530.jpg",
        "tests_67-0_length_string.jpg",
    )
]
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)"/>'


# ---- storage backends --------------------------------------------------------------------------


def _s3_settings(bucket: str) -> dict:
    from tests.support.s3server import s3_endpoint

    return {
        **s3_settings(s3_endpoint(), bucket),
    }


@pytest.fixture
def storage_config(request, tmp_path):
    """Local storage; S3 for tests marked `s3_storage`; S3 with Object Lock for `s3_object_lock`."""
    from tests.support.s3server import make_bucket, s3_client, s3_endpoint

    if request.node.get_closest_marker("s3_object_lock"):
        bucket = f"locked-{uid()[:8]}"
        s3_client(s3_endpoint()).create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
        return {**_s3_settings(bucket), "S3_OBJECT_LOCK_MODE": "GOVERNANCE", "S3_OBJECT_LOCK_DAYS": 1}
    if request.node.get_closest_marker("s3_storage"):
        bucket = f"sealed-{uid()[:8]}"
        make_bucket(s3_endpoint(), bucket)
        return _s3_settings(bucket)
    return {"STORAGE_BACKEND": "local", "STORAGE_DIR": str(tmp_path / "storage")}


def fetch(client, url: str) -> bytes:
    """GET a presigned URL: through the test client for the local backend, over HTTP for S3."""
    if url.startswith("http://localhost/"):
        r = client.get(url.removeprefix("http://localhost"))
    else:
        r = requests.get(url, timeout=10)
    assert r.status_code == 200, r.status_code
    return r.data if hasattr(r, "data") else r.content


def sha(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


# ---- the owners ----------------------------------------------------------------------------------


def _visit_ticket(client, world, body):
    api = Api(client, world.tokens["insp_a"])
    visit = start_visit(api, world.a1)
    return api, api.post(
        f"/api/v1/visits/{visit['id']}/photos", {**body, "taken_at": now_iso(), "lat": V1[0], "lng": V1[1]}
    )


def _draft_ticket(path: str, token: str):
    def ticket(client, world, body):
        api = Api(client, world.tokens[token])
        return api, api.post(path, body)

    return ticket


OWNERS = {
    "visit": _visit_ticket,
    "feedback": _draft_ticket("/api/v1/feedback/photos", "villager"),
    "report": _draft_ticket("/api/v1/projects/reports/photos", "secretary"),
    "rectification": _draft_ticket("/api/v1/rectifications/photos", "secretary"),
}


def ticketed(client, world, owner: str, data: bytes, content_type: str = "image/jpeg") -> tuple[Api, dict]:
    """A ticket of the owner's kind for data; the API and the JSON answer."""
    body = {"client_id": uid(), "sent_at": now_iso(), "content_type": content_type, "size": len(data)}
    api, r = OWNERS[owner](client, world, body)
    assert r.status_code == 201, r.get_json()
    return api, r.get_json()


def completed(client, world, owner: str, data: bytes) -> tuple[Api, dict, dict]:
    """Ticket, upload and complete; the API, the ticket answer and the ready photo."""
    api, t = ticketed(client, world, owner, data)
    assert upload(client, t["upload"], data) == 204
    r = api.post(f"/api/v1/photos/{t['photo_id']}/complete")
    assert r.status_code == 200 and r.get_json()["status"] == "ready", r.get_json()
    return api, t, r.get_json()


def served_original(api: Api, photo_id: int) -> bytes:
    """The original as served now, through a freshly presigned URL (complete answers a ready photo again)."""
    again = api.post(f"/api/v1/photos/{photo_id}/complete")
    assert again.status_code == 200
    return fetch(api.client, again.get_json()["original_url"])


def reupload_changes_nothing(app, client, world, owner: str, local: bool) -> None:
    """Upload A, complete, then re-use the ticket for B and for an SVG: the served original is still A."""
    first, second = phone_jpeg(seed=301, size=(800, 600)), phone_jpeg(seed=302, size=(800, 600))
    api, t, photo = completed(client, world, owner, first)
    statuses = [
        upload(client, t["upload"], second),
        upload(
            client,
            {**t["upload"], "fields": {**t["upload"]["fields"], "Content-Type": "image/svg+xml"}},
            SVG,
            filename="x.svg",
        ),
    ]
    if local:
        # The local backend refuses the sealed key outright (409) and the wrong type (400).
        assert statuses == [409, 400]
    served = served_original(api, photo["id"])
    assert sha(served) == photo["sha256"]
    if owner != "feedback":  # a feedback original is sealed without its metadata: same pixels, other bytes
        assert served == first and photo["sha256"] == sha(first)
    with app.app_context():
        row = db.session.get(Photo, photo["id"])
        assert row.upload_sha256 == sha(first)
        assert photo_service.recheck(db.session, row) == "intact"


@pytest.mark.parametrize("owner", sorted(OWNERS))
def test_reupload_after_complete_changes_nothing_served_local(app, client, world, owner):
    """Local storage: a still-valid ticket used again after complete is refused; the original served is A."""
    reupload_changes_nothing(app, client, world, owner, local=True)


@pytest.mark.s3_storage
@pytest.mark.parametrize("owner", sorted(OWNERS))
def test_reupload_after_complete_changes_nothing_served_s3(app, client, world, owner):
    """S3 (moto accepts any POST, as an unenforced policy would): the re-upload lands on a key never served."""
    reupload_changes_nothing(app, client, world, owner, local=False)


@pytest.mark.s3_object_lock
def test_object_lock_original_is_served_by_version_after_overwrite_and_delete(app, client, world):
    """With Object Lock, a PUT or DELETE of the sealed key itself changes nothing served or verified."""
    from tests.support.s3server import s3_client, s3_endpoint

    data = phone_jpeg(seed=310, size=(800, 600))
    api, _, photo = completed(client, world, "visit", data)
    with app.app_context():
        row = db.session.get(Photo, photo["id"])
        key, version = row.object_key, row.object_version
    assert version
    s3 = s3_client(s3_endpoint())
    bucket = app.config["S3_BUCKET"]
    s3.put_object(Bucket=bucket, Key=key, Body=SVG, ContentType="image/svg+xml")
    assert served_original(api, photo["id"]) == data
    s3.delete_object(Bucket=bucket, Key=key)
    # After a delete marker moto checks presigned GET signatures and miscomputes them whenever a
    # response-content-disposition is signed, so the version is read through the server's own path.
    with app.app_context():
        with app.extensions["storage"].open(key, version=version) as f:
            assert f.read() == data
        assert photo_service.recheck(db.session, db.session.get(Photo, photo["id"])) == "intact"


@pytest.mark.s3_object_lock
def test_object_lock_backup_keeps_the_served_version_and_restore_reseals_it(app, client, world, tmp_path):
    """A backup copies the version that is served, not a later PUT; a restore re-seals it and records the
    new VersionId, so the restored original is served and verifies intact."""
    from server.backup import backup, restore
    from tests.support.s3server import s3_client, s3_endpoint

    data = phone_jpeg(seed=311, size=(800, 600))
    api, _, photo = completed(client, world, "visit", data)
    with app.app_context():
        row = db.session.get(Photo, photo["id"])
        key, version = row.object_key, row.object_version
    s3_client(s3_endpoint()).put_object(Bucket=app.config["S3_BUCKET"], Key=key, Body=SVG)
    out = backup(app.config, tmp_path / "backups")
    assert (out / "objects" / key).read_bytes() == data
    app.extensions["db"]["engine"].dispose()
    restore(app.config, out, force=True)
    with app.app_context():
        row = db.session.get(Photo, photo["id"])
        assert row.object_version and row.object_version != version
        assert photo_service.recheck(db.session, row) == "intact"
    assert served_original(api, photo["id"]) == data


# ---- complete never answers 500 ------------------------------------------------------------


@pytest.mark.parametrize("size", [(8, 8), (300, 4), (4, 300), (63, 1000), (1, 1)])
def test_tiny_images_are_refused_with_a_code_not_a_500(app, client, world, size):
    """An image under 64 px on its short side (8×8 and 4 px tall once crashed the watermark) is a 422."""
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 140, 60)).save(buf, "JPEG")
    data = buf.getvalue()
    api, t = ticketed(client, world, "visit", data)
    assert upload(client, t["upload"], data) == 204
    r = api.post(f"/api/v1/photos/{t['photo_id']}/complete")
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "photo_too_small", r.get_json()
    again = api.post(f"/api/v1/photos/{t['photo_id']}/complete")
    assert again.status_code == 422 and again.get_json()["error"]["code"] == "photo_too_small"
    with app.app_context():
        assert db.session.get(Photo, t["photo_id"]).status == "rejected"


@pytest.mark.parametrize("size, orientation", [((64, 64), None), ((64, 2000), None), ((2000, 64), 6)])
def test_smallest_allowed_images_get_their_watermark(client, world, size, orientation):
    """At the 64 px minimum, in either orientation, the photo is processed and watermarked."""
    data = phone_jpeg(seed=320, size=size, orientation=orientation)
    api, t = ticketed(client, world, "visit", data)
    assert upload(client, t["upload"], data) == 204
    r = api.post(f"/api/v1/photos/{t['photo_id']}/complete")
    assert r.status_code == 200 and r.get_json()["status"] == "ready", r.get_json()


def test_unexpected_processing_error_rejects_the_photo_and_logs_the_request(app, client, world, monkeypatch, caplog):
    """Any failure no rule foresaw becomes a rejected photo with a reason code, logged with the request id."""
    from server.imaging import decode

    def broken(*_args, **_kwargs):
        raise ZeroDivisionError("a bug nobody foresaw")

    monkeypatch.setattr(decode, "_draw_watermark", broken)
    data = phone_jpeg(seed=330, size=(640, 480))
    api, t = ticketed(client, world, "visit", data)
    assert upload(client, t["upload"], data) == 204
    with caplog.at_level(logging.ERROR):
        r = api.post(f"/api/v1/photos/{t['photo_id']}/complete")
    assert r.status_code == 422 and r.get_json()["error"]["code"] == "photo_processing_failed", r.get_json()
    request_id = r.headers["X-Request-Id"]
    assert any(request_id in rec.getMessage() and rec.exc_info for rec in caplog.records)
    monkeypatch.undo()
    again = api.post(f"/api/v1/photos/{t['photo_id']}/complete")
    assert again.status_code == 422 and again.get_json()["error"]["code"] == "photo_processing_failed"
    with app.app_context():
        row = db.session.get(Photo, t["photo_id"])
        assert (row.status, row.reject_code) == ("rejected", "photo_processing_failed")


# ---- feedback originals without location ------------------------------------------------------


def gps_of(data: bytes) -> dict:
    """The GPS IFD Pillow finds in a JPEG (empty when there is none)."""
    with Image.open(io.BytesIO(data)) as img:
        return dict(img.getexif().get_ifd(0x8825))


def pixels(data: bytes) -> bytes:
    """The decoded pixels."""
    with Image.open(io.BytesIO(data)) as img:
        return img.convert("RGB").tobytes()


@pytest.mark.skipif(not SHARED.exists() and os.environ.get("CI") != "true", reason="shared test photos absent")
def test_feedback_originals_are_sealed_without_location_pixels_untouched(app, client, world):
    """Real phone and camera photos with GPS: the sealed feedback original has no GPS, the same pixels
    (the file is not re-encoded: same length), sha256 of the sealed file, upload_sha256 of the upload."""
    for path in GPS_PHOTOS:
        data = path.read_bytes()
        assert gps_of(data), path.name
        api, _, photo = completed(client, world, "feedback", data)
        sealed = served_original(api, photo["id"])
        assert gps_of(sealed) == {}, path.name
        assert b"exif:GPS" not in sealed and b"GPSLatitude" not in sealed, path.name
        assert len(sealed) == len(data) and pixels(sealed) == pixels(data), path.name
        assert photo["sha256"] == sha(sealed) != sha(data) == photo["upload_sha256"]


def test_visit_originals_keep_their_gps(client, world):
    """Inspectors' evidence is sealed byte for byte: its EXIF GPS is part of the evidence."""
    data = phone_jpeg(seed=340, size=(800, 600), gps=V1)
    api, _, photo = completed(client, world, "visit", data)
    assert served_original(api, photo["id"]) == data and gps_of(data)


@pytest.mark.skipif(not SHARED.exists() and os.environ.get("CI") != "true", reason="shared test photos absent")
def test_backup_carries_no_feedback_file_with_gps(app, client, world, tmp_path):
    """A backup taken after villagers sent GPS-tagged photos (one never completed) holds no file with GPS."""
    from server.backup import backup

    for path in GPS_PHOTOS[:3]:
        completed(client, world, "feedback", path.read_bytes())
    left = GPS_PHOTOS[3].read_bytes()
    _, t = ticketed(client, world, "feedback", left)
    assert upload(client, t["upload"], left) == 204  # uploaded, not yet completed
    out = backup(app.config, tmp_path / "backups")
    files = [p for p in (out / "objects").rglob("*") if p.is_file()]
    assert len([p for p in files if ".thumb." not in p.name and ".preview." not in p.name]) == 3
    with_gps = [p.name for p in files if gps_of(p.read_bytes())]
    assert with_gps == []


# ---- re-checks: /verify, the console ---------------------------------------------------------------


def test_verify_rehashes_the_stored_original_and_says_when_it_changed(app, client, world):
    """/verify re-reads the sealed original: intact says so; a changed file is reported and recorded."""
    data = phone_jpeg(seed=350, size=(800, 600))
    _, _, photo = completed(client, world, "visit", data)
    page = client.get(f"/verify/{photo['verify_code']}").get_data(as_text=True)
    assert "系统保存的原图完好" in page
    with app.app_context():
        key = db.session.get(Photo, photo["id"]).object_key
    app.extensions["storage"].put(key, b"replaced behind the service's back", content_type="image/jpeg")
    page = client.get(f"/verify/{photo['verify_code']}").get_data(as_text=True)
    assert "与封存时的指纹不一致" in page
    with app.app_context():
        row = db.session.get(Photo, photo["id"])
        assert row.check_result == "altered" and row.checked_at is not None


@pytest.mark.skipif(not SHARED.exists() and os.environ.get("CI") != "true", reason="shared test photos absent")
def test_verify_recognises_a_villagers_own_file_before_stripping(client, world):
    """The villager's own file (with GPS) still verifies as the original: its hash is kept as upload_sha256."""
    data = GPS_PHOTOS[4].read_bytes()
    _, _, photo = completed(client, world, "feedback", data)
    r = client.post(
        f"/verify/{photo['verify_code']}",
        data={"file": (io.BytesIO(data), "mine.jpg")},
        content_type="multipart/form-data",
    )
    assert "与系统保存的原始照片完全一致" in r.get_data(as_text=True)


def test_photo_rows_keep_the_upload_key_apart(app, client, world):
    """The served key is below sealed/; the ticket's key below uploads/, and the upload is gone after complete."""
    data = phone_jpeg(seed=360, size=(800, 600))
    _, t, photo = completed(client, world, "visit", data)
    with app.app_context():
        row = db.session.scalars(select(Photo).where(Photo.id == photo["id"])).one()
        assert row.upload_key == t["upload"]["fields"]["key"] and row.upload_key.startswith("uploads/")
        assert row.object_key.startswith("sealed/")
        assert app.extensions["storage"].head(row.upload_key) is None
        assert app.extensions["storage"].head(row.object_key).size == len(data)
