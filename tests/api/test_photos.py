"""Photos through the API: ticket → direct upload → complete, on local storage and a real S3 server."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import struct
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from PIL import Image
from sqlalchemy import delete, select

from server.db import db
from server.models import Photo, PhotoHashBand
from tests.factories import V1, Api, now_iso, start_visit, uid
from tests.support.images import phone_jpeg
from tests.support.s3server import s3_settings
from tests.support.upload import upload

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "photos"


@pytest.fixture
def insp(client, world):
    """Inspector A with a started visit on assignment a1."""
    api = Api(client, world.tokens["insp_a"])
    api.visit = start_visit(api, world.a1)
    return api


def ticket(api, data: bytes, visit_id=None, **extra) -> dict:
    """Ask for an upload ticket for these bytes; returns the JSON answer."""
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
    r = api.post(f"/api/v1/visits/{visit_id or api.visit['id']}/photos", body)
    assert r.status_code == 201, r.get_json()
    return {**r.get_json(), "request": body}


def send(api, data: bytes, visit_id=None, **extra):
    """Ticket, upload and complete one photo; returns the complete response."""
    t = ticket(api, data, visit_id, **extra)
    assert upload(api.client, t["upload"], data) == 204
    return api.post(f"/api/v1/photos/{t['photo_id']}/complete")


def png_bomb(width=30000, height=30000) -> bytes:
    """A tiny PNG whose header claims a huge image."""

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")
    )


def storage_of(app):
    """The app's storage backend."""
    return app.extensions["storage"]


# ---- the happy path ------------------------------------------------------------------------


def test_ticket_is_a_signed_form_and_db_keeps_only_the_key(app, insp):
    """The ticket is a multipart form for wx.uploadFile; the database stores the key, never a URL."""
    t = ticket(insp, b"x" * 1000)
    assert t["upload"]["url"].startswith("http://localhost/api/v1/storage/upload")
    assert t["upload"]["file_field"] == "file" and "key" in t["upload"]["fields"]
    assert t["photo"]["status"] == "pending"
    with app.app_context():
        photo = db.session.get(Photo, t["photo_id"])
        assert photo.upload_key == t["upload"]["fields"]["key"] and "://" not in photo.upload_key
        # The ticket names the upload key only; the original is served from a key no ticket names.
        assert photo.object_key.startswith("sealed/") and photo.object_key != photo.upload_key


def test_asking_again_gives_a_fresh_ticket_for_the_same_key(insp):
    """Re-asking with the same client_id (e.g. after expiry) returns the same photo and key."""
    t = ticket(insp, b"x" * 1000)
    again = insp.post(f"/api/v1/visits/{insp.visit['id']}/photos", {**t["request"], "sent_at": now_iso()})
    assert again.status_code == 200
    assert again.get_json()["photo_id"] == t["photo_id"]
    assert again.get_json()["upload"]["fields"]["key"] == t["upload"]["fields"]["key"]


@pytest.mark.both_databases
def test_complete_makes_derivatives_and_is_idempotent(insp):
    """A 12 MP-class photo becomes ready with a thumbnail and a watermarked preview without EXIF."""
    data = phone_jpeg(size=(4032, 3024), gps=V1, taken=datetime.now(timezone(timedelta(hours=8))))
    r = send(insp, data)
    photo = r.get_json()
    assert r.status_code == 200 and photo["status"] == "ready", photo
    assert photo["flags"] == [] and photo["duplicate_of"] is None
    assert len(photo["verify_code"]) == 10
    assert photo["exif"]["lat"] == pytest.approx(V1[0], abs=1e-4)
    preview = insp.client.get(photo["preview_url"].replace("http://localhost", ""))
    assert preview.status_code == 200 and preview.headers["X-Content-Type-Options"] == "nosniff"
    img = Image.open(io.BytesIO(preview.data))
    assert 1000 <= max(img.size) <= 1280 and not img.getexif()
    thumb = Image.open(io.BytesIO(insp.client.get(photo["thumb_url"].replace("http://localhost", "")).data))
    assert max(thumb.size) == 320
    again = insp.post(f"/api/v1/photos/{photo['id']}/complete")
    assert again.status_code == 200 and again.get_json()["sha256"] == photo["sha256"]


def test_visit_lists_photos_waiting_for_upload(insp):
    """A ticketed photo never uploaded is listed as waiting; completing it is 409 and it stays pending."""
    t = ticket(insp, b"x" * 1000)
    r = insp.post(f"/api/v1/photos/{t['photo_id']}/complete")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "photo_not_uploaded"
    detail = insp.get(f"/api/v1/visits/{insp.visit['id']}").get_json()
    assert detail["photos_waiting"] == [{"id": t["photo_id"], "client_id": t["request"]["client_id"]}]


def test_portrait_phone_photo_is_oriented(insp):
    """EXIF orientation 6 (phone held upright) gives a portrait photo."""
    photo = send(insp, phone_jpeg(size=(1600, 1200), orientation=6)).get_json()
    assert (photo["width"], photo["height"]) == (1200, 1600)


# ---- refused files ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, code, status",
    [
        (lambda: phone_jpeg(size=(1600, 1200))[:30000], "photo_truncated", 422),
        (png_bomb, "photo_too_many_pixels", 422),
        (lambda: "这不是图片".encode() * 100, "photo_not_image", 422),
    ],
)
def test_bad_uploads_are_rejected_and_deleted(app, insp, make, code, status):
    """A truncated JPEG, a PNG bomb or a text file is refused with its reason and deleted from storage."""
    data = make()
    t = ticket(insp, data)
    assert upload(insp.client, t["upload"], data) == 204
    r = insp.post(f"/api/v1/photos/{t['photo_id']}/complete")
    assert r.status_code == status and r.get_json()["error"]["code"] == code
    with app.app_context():
        assert storage_of(app).head(t["upload"]["fields"]["key"]) is None
    again = insp.post(f"/api/v1/photos/{t['photo_id']}/complete")
    assert again.status_code == status and again.get_json()["error"]["code"] == code
    retry = insp.post(f"/api/v1/visits/{insp.visit['id']}/photos", t["request"]).get_json()
    assert retry["photo"]["status"] == "rejected" and retry["upload"] is None


def test_oversize_is_refused_at_ticket_and_at_complete(app, insp):
    """A declared size over MAX_PHOTO_BYTES is a 413; an object bigger than allowed is rejected."""
    limit = app.config["MAX_PHOTO_BYTES"]
    r = insp.post(
        f"/api/v1/visits/{insp.visit['id']}/photos",
        {
            "client_id": uid(),
            "content_type": "image/jpeg",
            "size": limit + 1,
            "taken_at": now_iso(),
            "lat": V1[0],
            "lng": V1[1],
        },
    )
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "photo_too_large"
    t = ticket(insp, b"x" * 100)
    with app.app_context():  # storage that does not enforce the policy (like moto) let it through
        storage_of(app).put(t["upload"]["fields"]["key"], b"\xff" * (limit + 10), content_type="image/jpeg")
    r = insp.post(f"/api/v1/photos/{t['photo_id']}/complete")
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "photo_too_large"


def test_heic_is_refused_with_advice(insp):
    """HEIC is refused at ticket time with advice on the camera setting."""
    r = insp.post(
        f"/api/v1/visits/{insp.visit['id']}/photos",
        {
            "client_id": uid(),
            "content_type": "image/heic",
            "size": 1000,
            "taken_at": now_iso(),
            "lat": V1[0],
            "lng": V1[1],
        },
    )
    assert r.status_code == 400 and "HEIC" in r.get_json()["error"]["message"]


def test_local_upload_with_tampered_policy_is_refused(insp):
    """The local upload endpoint checks the signature like S3 would."""
    t = ticket(insp, b"x" * 1000)
    fields = {**t["upload"]["fields"], "key": "photos/visit/elsewhere.jpg"}
    status = upload(insp.client, {**t["upload"], "fields": fields}, phone_jpeg())
    assert status == 403


# ---- integrity flags --------------------------------------------------------------------------


def test_capture_far_and_no_exif(insp):
    """A photo taken 3 km from the village without EXIF is capture_far and no_exif."""
    far = (V1[0] + 3000 / 111_320, V1[1])
    photo = send(insp, phone_jpeg(), lat=far[0], lng=far[1]).get_json()
    assert set(photo["flags"]) == {"capture_far", "no_exif"}


def test_exif_time_mismatch_uses_offset(insp):
    """EXIF time two hours before taken_at is a mismatch; the same instant in another offset is not."""
    now = datetime.now(UTC).replace(microsecond=0)
    china = now.astimezone(timezone(timedelta(hours=8)))
    ok = send(insp, phone_jpeg(seed=2, taken=china.replace(tzinfo=None), gps=V1), taken_at=now.isoformat()).get_json()
    assert "exif_time_mismatch" not in ok["flags"]
    utc_written = send(
        insp, phone_jpeg(seed=3, taken=now.replace(tzinfo=None), offset="+00:00", gps=V1), taken_at=now.isoformat()
    ).get_json()
    assert "exif_time_mismatch" not in utc_written["flags"]
    early = china - timedelta(hours=2)
    bad = send(insp, phone_jpeg(seed=4, taken=early.replace(tzinfo=None), gps=V1), taken_at=now.isoformat()).get_json()
    assert "exif_time_mismatch" in bad["flags"]


def edited_jpeg(
    seed: int, *, modified: datetime | None = None, taken: datetime | None = None, software: str | None = None
) -> bytes:
    """A phone photo whose EXIF has only the given times (China time, no offsets) and Software tag."""
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Apple", "iPhone 11"
    if modified is not None:
        exif[0x0132] = modified.strftime("%Y:%m:%d %H:%M:%S")
    if software is not None:
        exif[0x0131] = software.encode()
    if taken is not None:
        exif.get_ifd(0x8769)[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
    out = io.BytesIO()
    Image.open(io.BytesIO(phone_jpeg(seed=seed))).save(out, "JPEG", quality=85, exif=exif)
    return out.getvalue()


def test_last_modified_time_is_not_a_capture_time_and_flags_an_edit(insp):
    """Only IFD0 DateTime, two hours off the phone's capture time: exif_edited with that time, not a capture time."""
    now = datetime.now(UTC).replace(microsecond=0)
    china = now.astimezone(timezone(timedelta(hours=8))).replace(tzinfo=None)
    edited = send(insp, edited_jpeg(60, modified=china - timedelta(hours=2)), taken_at=now.isoformat()).get_json()
    assert "exif_edited" in edited["flags"] and "exif_time_mismatch" not in edited["flags"]
    assert edited["exif"]["taken_at"] is None
    evidence = edited["exif"]["edit_evidence"]
    assert datetime.fromisoformat(evidence["modified_at"]) == now - timedelta(hours=2)
    fresh = send(insp, edited_jpeg(61, modified=china), taken_at=now.isoformat()).get_json()
    assert "exif_edited" not in fresh["flags"] and fresh["exif"]["edit_evidence"] is None


def test_editor_in_software_flags_an_edit_with_its_name(insp):
    """A photo whose Software tag names 醒图 is exif_edited even with a good capture time; the camera's own is not."""
    now = datetime.now(UTC).replace(microsecond=0)
    china = now.astimezone(timezone(timedelta(hours=8))).replace(tzinfo=None)
    edited = send(insp, edited_jpeg(62, taken=china, software="醒图 9.2.0"), taken_at=now.isoformat()).get_json()
    assert edited["flags"] == ["exif_edited"]
    assert edited["exif"]["edit_evidence"] == {"software": "醒图 9.2.0"} and edited["exif"]["tz_assumed"] is True
    camera = send(insp, edited_jpeg(63, taken=china, software="14.4.2"), taken_at=now.isoformat()).get_json()
    assert camera["flags"] == []


@pytest.mark.skipif(not PHOTOS.exists() and os.environ.get("CI") != "true", reason="shared test photos absent")
def test_real_iphone_photo_far_away_is_exif_gps_far(insp):
    """A real iPhone photo whose EXIF GPS is in Seattle is exif_gps_far and keeps its camera model."""
    data = (PHOTOS / "cartridgeocr_iphone11_IMG_5809.jpg").read_bytes()
    photo = send(insp, data).get_json()
    assert "exif_gps_far" in photo["flags"] and "capture_far" not in photo["flags"]
    assert photo["exif"]["model"] == "iPhone 11"
    assert (photo["width"], photo["height"]) == (3024, 4032)


@pytest.mark.both_databases
def test_exact_duplicate_anywhere_names_the_first(client, insp, world):
    """The same bytes uploaded in another visit are a duplicate of the first photo."""
    data = phone_jpeg(seed=10)
    first = send(insp, data).get_json()
    other = start_visit(insp, world.a1)
    second = send(insp, data, visit_id=other["id"]).get_json()
    assert "duplicate" in second["flags"] and second["duplicate_of"] == first["id"]


@pytest.mark.both_databases
def test_near_duplicate_in_another_visit_but_not_a_retake(insp, world):
    """A re-encoded copy in another visit is a duplicate; a similar retake in the same visit is not."""
    original = phone_jpeg(seed=20, quality=90)
    first = send(insp, original).get_json()
    img = Image.open(io.BytesIO(original))
    out = io.BytesIO()
    img.resize((1200, 900)).save(out, "JPEG", quality=60)
    recoded = out.getvalue()
    retake = send(insp, recoded).get_json()
    assert "duplicate" not in retake["flags"]
    other = start_visit(insp, world.a1)
    reused = send(insp, recoded, visit_id=other["id"]).get_json()
    assert "duplicate" in reused["flags"] and reused["duplicate_of"] in (first["id"], retake["id"])


@pytest.mark.both_databases
def test_different_photos_are_not_duplicates(insp, world):
    """Distinct scenes in different visits are not flagged."""
    send(insp, phone_jpeg(seed=30))
    other = start_visit(insp, world.a1)
    assert "duplicate" not in send(insp, phone_jpeg(seed=31), visit_id=other["id"]).get_json()["flags"]


def test_photo_flags_reach_the_visit_list(client, insp, world):
    """A flagged photo makes its visit findable by that flag."""
    far = (V1[0] + 3000 / 111_320, V1[1])
    send(insp, phone_jpeg(seed=40), lat=far[0], lng=far[1])
    items = Api(client, world.tokens["admin"]).get("/api/v1/visits?flag=capture_far").get_json()["items"]
    assert [v["id"] for v in items] == [insp.visit["id"]]


# ---- submit and access --------------------------------------------------------------------------


def test_photo_ticketed_before_submit_completes_after(insp):
    """Submitting does not strand photos still uploading: they complete afterwards."""
    data = phone_jpeg(seed=50)
    t = ticket(insp, data)
    insp.post(f"/api/v1/visits/{insp.visit['id']}/submit", {"client_id": uid(), "sent_at": now_iso()})
    assert upload(insp.client, t["upload"], data) == 204
    r = insp.post(f"/api/v1/photos/{t['photo_id']}/complete")
    assert r.status_code == 200 and r.get_json()["status"] == "ready"
    renewed = insp.post(f"/api/v1/visits/{insp.visit['id']}/photos", t["request"])
    assert renewed.status_code == 200


def test_teammate_may_complete_outsider_may_not(client, insp, world):
    """A teammate may complete a colleague's upload; an inspector of another team gets 404."""
    data = phone_jpeg(seed=60)
    t = ticket(insp, data)
    upload(client, t["upload"], data)
    assert Api(client, world.tokens["insp_c"]).post(f"/api/v1/photos/{t['photo_id']}/complete").status_code == 404
    assert Api(client, world.tokens["insp_b"]).post(f"/api/v1/photos/{t['photo_id']}/complete").status_code == 200


# ---- S3 backend -----------------------------------------------------------------------------


@pytest.fixture
def s3_config(request):
    """Storage on the S3 HTTP server (a fresh bucket)."""
    from tests.support.s3server import make_bucket, s3_endpoint

    endpoint = s3_endpoint()
    bucket = f"photos-{uid()[:8]}"
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


@pytest.mark.s3_storage
def test_s3_presigned_post_policy_and_direct_upload(insp, app):
    """With S3, the phone posts straight to the bucket under the policy's conditions."""
    data = phone_jpeg(seed=70, size=(2000, 1500))
    t = ticket(insp, data)
    up = t["upload"]
    assert up["url"].startswith(app.config["S3_ENDPOINT_URL"])
    policy = json.loads(base64.b64decode(up["fields"]["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 1, app.config["MAX_PHOTO_BYTES"]] in conditions
    assert ["eq", "$Content-Type", "image/jpeg"] in conditions
    assert not [c for c in conditions if isinstance(c, list) and c[:2] == ["starts-with", "$Content-Type"]]
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15, seconds=5)
    assert upload(insp.client, up, data) == 204
    photo = insp.post(f"/api/v1/photos/{t['photo_id']}/complete").get_json()
    assert photo["status"] == "ready"
    got = requests.get(photo["preview_url"], timeout=10)
    assert got.status_code == 200 and got.content[:2] == b"\xff\xd8"


@pytest.mark.s3_storage
def test_s3_outage_during_complete_keeps_photo_pending(insp, app):
    """If the S3 server is down, complete answers 503 and the photo stays pending until it is back."""
    from moto.server import ThreadedMotoServer

    from server.storage import S3Storage
    from tests.support.s3server import make_bucket

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        make_bucket(endpoint, "outage")
        app.extensions["storage"] = S3Storage(
            bucket="outage",
            endpoint_url=endpoint,
            region="us-east-1",
            access_key_id="testing",
            secret_access_key="testing",
            addressing_style="path",
        )
        data = phone_jpeg(seed=80)
        t = ticket(insp, data)
        assert upload(insp.client, t["upload"], data) == 204
        server.stop()
        r = insp.post(f"/api/v1/photos/{t['photo_id']}/complete")
        assert r.status_code == 503 and r.get_json()["error"]["code"] == "storage_unavailable"
        with app.app_context():
            assert db.session.scalars(select(Photo.status).where(Photo.id == t["photo_id"])).one() == "pending"
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        r = insp.post(f"/api/v1/photos/{t['photo_id']}/complete")
        assert r.status_code == 200 and r.get_json()["status"] == "ready"
    finally:
        server.stop()


@pytest.mark.both_databases
def test_flat_frames_are_not_near_duplicates(insp, world):
    """Two different blank frames (hash ~0) in different visits are not flagged as reused."""
    send(insp, flat_jpeg(20))
    other = start_visit(insp, world.a1)
    assert "duplicate" not in send(insp, flat_jpeg(40), visit_id=other["id"]).get_json()["flags"]


def dark_frame_with_one_faint_bar() -> bytes:
    """A black photo with one faint bar: a real (non-flat) picture whose dHash has only 4 bits set."""
    img = Image.new("RGB", (900, 800), (0, 0, 0))
    img.paste((40, 40, 40), (100, 0, 200, 300))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


def test_dark_photo_does_not_match_a_stored_black_frame(insp, world):
    """The flat-frame gate checks the stored side too: a black frame (hash all zeros) matches nothing near zero."""
    send(insp, flat_jpeg(0))
    other = start_visit(insp, world.a1)
    dark = send(insp, dark_frame_with_one_faint_bar(), visit_id=other["id"]).get_json()
    assert dark["status"] == "ready" and "duplicate" not in dark["flags"]


def flat_jpeg(shade: int) -> bytes:
    """A uniform grey frame."""
    out = io.BytesIO()
    Image.new("RGB", (1200, 900), (shade, shade, shade)).save(out, "JPEG")
    return out.getvalue()


def reused_copy(original: bytes, how: str) -> bytes:
    """original re-saved as a cheater would: tag changed, rotated, cropped or screenshotted."""
    img = Image.open(io.BytesIO(original)).convert("RGB")
    w, h = img.size
    exif = Image.Exif()
    if how == "orientation tag 6":
        exif[0x0112] = 6
    elif how == "rotated and mirrored":
        img = img.transpose(Image.Transpose.TRANSVERSE)
    elif how == "5% one-edge crop":
        img = img.crop((0, 0, round(w * 0.95), h))
    elif how == "10% crop":
        img = img.crop((round(w * 0.06), round(h * 0.03), round(w * 0.96), round(h * 0.93)))
    elif how == "screenshot":
        shot = Image.new("RGB", (1080, round(h * 1080 / w) + 72), (20, 20, 20))
        shot.paste(img.resize((1080, round(h * 1080 / w))), (0, 72))
        img = shot
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85, exif=exif)
    return out.getvalue()


@pytest.mark.parametrize(
    "how", ["orientation tag 6", "rotated and mirrored", "5% one-edge crop", "10% crop", "screenshot"]
)
@pytest.mark.both_databases
def test_rotated_or_cropped_copy_in_another_visit_is_a_duplicate(insp, world, how):
    """Last month's photo re-sent rotated, mirrored, cropped or as a screenshot is flagged (not refused)."""
    original = phone_jpeg(seed=70, quality=90)
    first = send(insp, original).get_json()
    other = start_visit(insp, world.a1)
    r = send(insp, reused_copy(original, how), visit_id=other["id"])
    assert r.status_code == 200
    copy = r.get_json()
    assert copy["status"] == "ready" and "duplicate" in copy["flags"] and copy["duplicate_of"] == first["id"]


def test_near_duplicate_lookup_sends_a_bounded_number_of_band_values(app, insp, world):
    """The lookup probes each region once in its canonical orientation (again where a decision is close), not in all 8."""
    from sqlalchemy import event

    from server.imaging import phash
    from server.imaging.decode import process_photo

    original = phone_jpeg(seed=70, quality=90)
    first = send(insp, original).get_json()
    turned = reused_copy(original, "rotated and mirrored")
    probes = len(phash.query_hashes(process_photo(io.BytesIO(turned)).region_hashes))
    lookups = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "photo_hash_bands" in statement and statement.lstrip().upper().startswith("SELECT"):
            lookups.append(parameters)

    other = start_visit(insp, world.a1)
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            copy = send(insp, turned, visit_id=other["id"]).get_json()
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
    assert copy["duplicate_of"] == first["id"]
    assert len(lookups) == 1 and probes <= 2 * len(phash.REGIONS)
    # Bound parameters: the whole hash per probe and band, plus the photo, its owner, and the limit (the
    # probed band values are written into the SQL as one IN list per band); eight orientations of ten
    # regions sent 400 band values.
    assert len(lookups[0]) <= 2 * probes * phash.HASH_BANDS + 5


def bury_in_band_rows(app, hashes, per_key: int) -> None:
    """Store per_key earlier photos (another owner) for every band: each shares that band's value of every one of `hashes`, nothing else."""
    from sqlalchemy import func

    from server.imaging import phash
    from server.models import County, User
    from server.services.photos import hash_rows

    with app.app_context():
        uploader = db.session.scalar(select(func.min(User.id)))
        county = db.session.scalar(select(func.min(County.id)))  # the decoys are the same county's
        start = (db.session.scalar(select(func.max(Photo.id))) or 0) + 1
        photos, bands = [], []
        for band in range(phash.HASH_BANDS):
            # Every bit outside this band flipped: the band value is kept, the distance is 51 or more.
            keep = sum(1 << bit for bit in range(64) if phash.hash_bands(1 << bit)[band])
            far = tuple(phash.RegionHash(h.value ^ ((1 << 64) - 1) ^ keep, 0) for h in hashes)
            # Every decoy of this band has the same band rows but its photo_id. Only the rows sharing
            # the original's band value are stored: the decoy's other band rows are in no probed range.
            shared = [
                {c.name: getattr(row, c.name) for c in row.__table__.columns}
                for row in hash_rows(0, far, county)
                if row.band == band
            ]
            stored = phash.format_hashes(far)
            for _ in range(per_key):
                pid = start + len(photos)
                photos.append(
                    {
                        "id": pid,
                        "owner_kind": "feedback",
                        "owner_id": 10**6,
                        "uploader_id": uploader,
                        "client_id": f"decoy-{pid}",
                        "status": "ready",
                        "content_type": "image/jpeg",
                        "declared_size": 1000,
                        "upload_key": f"decoy/{pid}",
                        "object_key": f"decoy/{pid}",
                        "verify_code": f"D{pid:09d}",
                        "region_hashes": stored,
                        "flags": [],
                    }
                )
                bands += [{**row, "photo_id": pid} for row in shared]
        # Core INSERTs of the tables: the ORM's bulk path costs more than the database for 10^5 rows.
        db.session.execute(Photo.__table__.insert(), photos)
        db.session.execute(PhotoHashBand.__table__.insert(), bands)
        db.session.commit()


@pytest.mark.both_databases
def test_a_copy_is_found_behind_thousands_of_rows_sharing_its_band_values(app, insp, world):
    """Over 2000 earlier far-away hashes sharing every band value of the original do not hide it (the lookup once stopped at 2000 rows)."""
    from server.imaging.decode import process_photo

    original = phone_jpeg(seed=76, quality=90)
    bury_in_band_rows(app, process_photo(io.BytesIO(original)).region_hashes, per_key=2001)
    first = send(insp, original).get_json()
    other = start_visit(insp, world.a1)
    copy = send(insp, reused_copy(original, "orientation tag 6"), visit_id=other["id"]).get_json()
    assert copy["duplicate_of"] == first["id"]


@pytest.mark.both_databases
def test_the_same_board_shot_a_step_apart_is_not_a_duplicate(insp, world):
    """Two framings of one scene offset by a step (a fifth of the frame) are different photos."""
    scene = Image.open(io.BytesIO(phone_jpeg(seed=71, size=(2000, 1500)))).convert("RGB")
    shots = []
    for box in ((0, 0, 1500, 1125), (300, 0, 1800, 1125)):
        out = io.BytesIO()
        scene.crop(box).save(out, "JPEG", quality=90)
        shots.append(out.getvalue())
    send(insp, shots[0])
    other = start_visit(insp, world.a1)
    assert "duplicate" not in send(insp, shots[1], visit_id=other["id"]).get_json()["flags"]


@pytest.mark.both_databases
def test_rehash_indexes_photos_stored_before_region_hashes(app, insp, world):
    """rehash-photos gives a photo stored before migration 0012 its region hashes, so a rotated copy is found."""
    original = phone_jpeg(seed=72, quality=90)
    first = send(insp, original).get_json()
    with app.app_context():
        db.session.get(Photo, first["id"]).region_hashes = None
        db.session.execute(delete(PhotoHashBand).where(PhotoHashBand.photo_id == first["id"]))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["rehash-photos"])
    assert result.exit_code == 0 and "1 photos hashed" in result.output, result.output
    with app.app_context():
        assert db.session.get(Photo, first["id"]).region_hashes
    other = start_visit(insp, world.a1)
    copy = send(insp, reused_copy(original, "orientation tag 6"), visit_id=other["id"]).get_json()
    assert copy["duplicate_of"] == first["id"]


@pytest.mark.both_databases
def test_0017_clears_upright_region_hashes_and_rehash_finds_copies_again(app, insp, world, database_url):
    """Hashes stored before 0017 (upright, no orientation) are never compared: 0017 clears them, rehash-photos restores them."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from server.db import alembic_config

    original = phone_jpeg(seed=74, quality=90)
    first = send(insp, original).get_json()
    app.extensions["db"]["engine"].dispose()
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0016")
    engine = create_engine(database_url)
    with engine.begin() as conn:  # what 0012's rehash-photos stored: ten upright hashes, their bands
        conn.execute(
            text("UPDATE photos SET region_hashes = :h WHERE id = :id"),
            {"h": ",".join(["00ff00ff00ff00ff"] * 10), "id": first["id"]},
        )
        conn.execute(
            text("INSERT INTO photo_hash_bands (photo_id, kind, band, value) VALUES (:id, 0, 0, 7)"),
            {"id": first["id"]},
        )
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT region_hashes FROM photos WHERE id = :id"), {"id": first["id"]}).scalar() is None
        )
        assert conn.execute(text("SELECT COUNT(*) FROM photo_hash_bands")).scalar() == 0
    engine.dispose()
    result = app.test_cli_runner().invoke(args=["rehash-photos"])
    assert result.exit_code == 0 and "1 photos hashed" in result.output, result.output
    other = start_visit(insp, world.a1)
    copy = send(insp, reused_copy(original, "rotated and mirrored"), visit_id=other["id"]).get_json()
    assert copy["duplicate_of"] == first["id"]


@pytest.mark.both_databases
def test_0029_fills_the_whole_hash_of_existing_band_rows(app, insp, world, database_url):
    """Band rows stored before 0029 get the region hash their value was cut from, and copies are found through them."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from server.db import alembic_config
    from server.imaging import phash

    original = phone_jpeg(seed=77, quality=90)
    first = send(insp, original).get_json()
    app.extensions["db"]["engine"].dispose()
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0020")
    command.upgrade(cfg, "head")
    engine = create_engine(database_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT region_hashes FROM photos WHERE id = :id"), {"id": first["id"]}).scalar()
        rows = conn.execute(
            text("SELECT kind, band, value, hash FROM photo_hash_bands WHERE photo_id = :id"), {"id": first["id"]}
        ).all()
    engine.dispose()
    hashes = phash.parse_hashes(stored)
    assert len(rows) == len(hashes) * phash.HASH_BANDS
    assert all(h == phash.db_hash(hashes[kind].value) for kind, _, _, h in rows)
    assert all(phash.hash_bands(hashes[kind].value)[band] == value for kind, band, value, _ in rows)
    other = start_visit(insp, world.a1)
    copy = send(insp, reused_copy(original, "rotated and mirrored"), visit_id=other["id"]).get_json()
    assert copy["duplicate_of"] == first["id"]
