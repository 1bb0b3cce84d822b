"""Storage backends: one contract run against LocalStorage and against S3 over real HTTP."""

from __future__ import annotations

import base64
import io
import json
import shutil
import socket
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from server.storage import (
    LocalStorage,
    ObjectMissing,
    S3Storage,
    Storage,
    StorageError,
    UploadRejected,
    UploadTicket,
    storage_from_config,
)
from tests.support.s3server import (
    ACCESS_KEY_ID,
    REGION,
    SECRET_ACCESS_KEY,
    make_bucket,
    s3_client,
    s3_endpoint,
)

# Enough of a JPEG for storage, which never decodes what it keeps.
PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 40 + b"\xff\xd9"
SECRET = "test-secret-key"
BASE_URL = "http://testserver"
BAD_KEYS = [
    "../etc/passwd",
    "/etc/passwd",
    "a/../../b",
    "a//b",
    ".hidden",
    "a/.b",
    "a b",
    "a\\b",
    "",
]


def _s3_storage(bucket: str, endpoint: str | None = None) -> S3Storage:
    return S3Storage(
        bucket=bucket,
        endpoint_url=endpoint or s3_endpoint(),
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        addressing_style="path",
    )


def _fresh_bucket() -> str:
    name = f"test-{uuid.uuid4().hex[:16]}"
    make_bucket(s3_endpoint(), name)
    return name


def _closed_port() -> int:
    # Bind then release: nothing listens there afterwards, so connects are refused at once.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    """A LocalStorage in a temporary directory."""
    return LocalStorage(tmp_path / "objects", secret_key=SECRET, public_base_url=BASE_URL)


@pytest.fixture
def s3() -> S3Storage:
    """An S3Storage on the loopback S3 server with a bucket of its own."""
    return _s3_storage(_fresh_bucket())


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def storage(request: pytest.FixtureRequest) -> Storage:
    """Each backend in turn, for the contract tests."""
    return request.getfixturevalue(request.param)


def phone_upload(storage: Storage, ticket: UploadTicket, body: bytes, filename: str = "p.jpg") -> None:
    """Send a file the way wx.uploadFile does: the ticket's form fields, then the file last."""
    if isinstance(storage, LocalStorage):
        # The upload route hands over the parsed form and the file part's stream and type.
        storage.accept_upload(ticket.fields, io.BytesIO(body), content_type="image/jpeg")
        return
    response = requests.post(ticket.url, data=ticket.fields, files={"file": (filename, body, "image/jpeg")}, timeout=10)
    assert response.status_code == 204, response.text


def fetch(storage: Storage, url: str) -> bytes:
    """Follow a presigned GET URL the way a browser would reach it."""
    if isinstance(storage, LocalStorage):
        path = storage.verify_get(dict(parse_qsl(urlsplit(url).query)))
        return path.read_bytes()
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, response.text
    return response.content


def _decode_s3_policy(ticket: UploadTicket) -> dict:
    return json.loads(base64.b64decode(ticket.fields["policy"]))


def _decode_local_policy(ticket: UploadTicket) -> dict:
    text = ticket.fields["policy"]
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def _encode_local_policy(policy: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(policy).encode()).rstrip(b"=").decode()


# --- the contract, for both backends ------------------------------------------------------


def test_put_then_head_reports_size_and_content_type(storage: Storage) -> None:
    """head() returns the stored size and content type."""
    storage.put("photos/a.jpg", PHOTO, content_type="image/jpeg")
    info = storage.head("photos/a.jpg")
    assert info is not None
    assert (info.size, info.content_type) == (len(PHOTO), "image/jpeg")


def test_open_streams_the_stored_bytes_in_chunks(storage: Storage) -> None:
    """open() gives a reader whose read(n) chunks add up to the object."""
    storage.put("photos/a.jpg", PHOTO, content_type="image/jpeg")
    reader = storage.open("photos/a.jpg")
    try:
        chunks = list(iter(lambda: reader.read(1000), b""))
    finally:
        reader.close()
    assert b"".join(chunks) == PHOTO
    assert len(chunks) > 1


def test_read_gives_the_object_or_one_byte_past_the_limit(storage: Storage) -> None:
    """read(limit=n) gives the whole object when it has at most n bytes, else its first n + 1; a missing key raises ObjectMissing."""
    storage.put("uploads/a.jpg", PHOTO, content_type="image/jpeg")
    assert storage.read("uploads/a.jpg", limit=len(PHOTO)) == PHOTO
    assert storage.read("uploads/a.jpg", limit=100) == PHOTO[:101]
    with pytest.raises(ObjectMissing):
        storage.read("uploads/never.jpg", limit=100)


def test_put_accepts_a_seekable_file(storage: Storage) -> None:
    """put() stores a file object as well as bytes."""
    storage.put("exports/a.bin", io.BytesIO(PHOTO), content_type="application/octet-stream")
    with storage.open("exports/a.bin") as reader:
        assert reader.read() == PHOTO


def test_put_accepts_a_one_way_stream(storage: Storage) -> None:
    """put() stores a stream that cannot seek (a pipe, another response body)."""

    class OneWay(io.RawIOBase):
        def __init__(self) -> None:
            self._source = io.BytesIO(PHOTO)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            data = self._source.read(len(buffer))
            buffer[: len(data)] = data
            return len(data)

    storage.put("exports/pipe.bin", OneWay(), content_type="application/octet-stream")
    with storage.open("exports/pipe.bin") as reader:
        assert reader.read() == PHOTO


def test_put_replaces_an_existing_object(storage: Storage) -> None:
    """A second put() overwrites both the bytes and the content type."""
    storage.put("photos/a", PHOTO, content_type="image/jpeg")
    storage.put("photos/a", b"png", content_type="image/png")
    info = storage.head("photos/a")
    assert info is not None
    assert (info.size, info.content_type) == (3, "image/png")


def test_head_of_missing_key_is_none(storage: Storage) -> None:
    """head() answers None for a key that was never written."""
    assert storage.head("photos/never.jpg") is None


def test_open_of_missing_key_raises_object_missing(storage: Storage) -> None:
    """open() raises ObjectMissing for a key that was never written."""
    with pytest.raises(ObjectMissing):
        storage.open("photos/never.jpg")


def test_delete_removes_the_object(storage: Storage) -> None:
    """After delete() the key is gone."""
    storage.put("photos/a.jpg", PHOTO, content_type="image/jpeg")
    storage.delete("photos/a.jpg")
    assert storage.head("photos/a.jpg") is None


def test_delete_of_missing_key_is_fine(storage: Storage) -> None:
    """delete() of a key that does not exist does not raise."""
    storage.delete("photos/never.jpg")


def test_iter_keys_lists_every_object_once(storage: Storage) -> None:
    """iter_keys() names each stored object, nested ones too, and nothing else (no temp or type files)."""
    for key in ("photos/a.jpg", "photos/2026/b.thumb.jpg", "posters/p-1.png"):
        storage.put(key, PHOTO, content_type="image/jpeg")
    storage.delete("posters/p-1.png")
    assert sorted(storage.iter_keys()) == ["photos/2026/b.thumb.jpg", "photos/a.jpg"]


def test_iter_keys_with_a_prefix_lists_only_matching_keys(storage: Storage) -> None:
    """iter_keys(prefix) names the objects whose key starts with it, on every backend alike."""
    for key in (
        "audit/checkpoints/000001-a.json",
        "audit/checkpoints/000002-b.json",
        "audit/latest.json",
        "photos/a.jpg",
    ):
        storage.put(key, b"{}", content_type="application/json")
    assert sorted(storage.iter_keys("audit/checkpoints/")) == [
        "audit/checkpoints/000001-a.json",
        "audit/checkpoints/000002-b.json",
    ]
    assert sorted(storage.iter_keys("audit/")) == [
        "audit/checkpoints/000001-a.json",
        "audit/checkpoints/000002-b.json",
        "audit/latest.json",
    ]
    assert sorted(storage.iter_keys("audit/checkpoints/000002")) == ["audit/checkpoints/000002-b.json"]
    assert list(storage.iter_keys("nothing/here/")) == []


@pytest.mark.parametrize("key", BAD_KEYS)
def test_unsafe_keys_are_refused(storage: Storage, key: str) -> None:
    """Keys with traversal, absolute paths, hidden segments or odd characters are refused."""
    with pytest.raises(ValueError):
        storage.put(key, PHOTO, content_type="image/jpeg")
    with pytest.raises(ValueError):
        storage.presign_upload(key, content_type="image/jpeg", max_bytes=100)


def test_ping_succeeds_when_backend_is_up(storage: Storage) -> None:
    """ping() returns quietly for a working backend."""
    storage.ping()


def test_ticket_sends_declared_content_type_and_expires_in_utc(storage: Storage) -> None:
    """The ticket carries the declared Content-Type field and a UTC expiry expires_in ahead."""
    ticket = storage.presign_upload("photos/t.jpg", content_type="image/jpeg", max_bytes=1000, expires_in=300)
    assert ticket.fields["Content-Type"] == "image/jpeg"
    assert ticket.expires_at.tzinfo is not None
    assert ticket.expires_at.utcoffset().total_seconds() == 0
    remaining = (ticket.expires_at - datetime.now(UTC)).total_seconds()
    assert 290 <= remaining <= 301


def test_ticket_refuses_a_non_image_content_type(storage: Storage) -> None:
    """presign_upload() only issues tickets for image/* uploads."""
    with pytest.raises(ValueError):
        storage.presign_upload("photos/t.pdf", content_type="application/pdf", max_bytes=1000)


def test_phone_style_upload_stores_object_with_content_type(storage: Storage) -> None:
    """A multipart POST of the ticket's fields plus the file stores the photo with its type."""
    ticket = storage.presign_upload("photos/up.jpg", content_type="image/jpeg", max_bytes=10**6)
    phone_upload(storage, ticket, PHOTO)
    info = storage.head("photos/up.jpg")
    assert info is not None
    assert (info.size, info.content_type) == (len(PHOTO), "image/jpeg")
    with storage.open("photos/up.jpg") as reader:
        assert reader.read() == PHOTO


def test_presigned_get_returns_the_object(storage: Storage) -> None:
    """Following a presigned GET URL yields the stored bytes."""
    storage.put("photos/a.jpg", PHOTO, content_type="image/jpeg")
    assert fetch(storage, storage.presign_get("photos/a.jpg")) == PHOTO


# --- S3 specifics --------------------------------------------------------------------------


@pytest.mark.s3
def test_s3_ticket_policy_limits_size(s3: S3Storage) -> None:
    """The POST policy makes S3 enforce a size of 1..max_bytes (moto itself does not check)."""
    ticket = s3.presign_upload("photos/p.jpg", content_type="image/jpeg", max_bytes=5_000_000)
    assert ["content-length-range", 1, 5_000_000] in _decode_s3_policy(ticket)["conditions"]


@pytest.mark.s3
def test_s3_ticket_policy_requires_the_declared_content_type(s3: S3Storage) -> None:
    """The POST policy requires exactly the declared Content-Type, not any image/ type (image/svg+xml runs scripts)."""
    ticket = s3.presign_upload("photos/p.png", content_type="image/png", max_bytes=100)
    conditions = [c for c in _decode_s3_policy(ticket)["conditions"] if isinstance(c, list)]
    assert ["eq", "$Content-Type", "image/png"] in conditions
    assert not [c for c in conditions if c[:2] == ["starts-with", "$Content-Type"]]


@pytest.mark.s3
def test_s3_ticket_policy_pins_bucket_and_key(s3: S3Storage) -> None:
    """The POST policy only allows this bucket and this key."""
    ticket = s3.presign_upload("photos/p.jpg", content_type="image/jpeg", max_bytes=100)
    conditions = _decode_s3_policy(ticket)["conditions"]
    assert {"bucket": s3.bucket} in conditions
    assert {"key": "photos/p.jpg"} in conditions
    assert ticket.fields["key"] == "photos/p.jpg"


@pytest.mark.s3
def test_s3_ticket_policy_expires_after_expires_in(s3: S3Storage) -> None:
    """The policy's expiration lies expires_in seconds ahead and matches the ticket's."""
    ticket = s3.presign_upload("photos/p.jpg", content_type="image/jpeg", max_bytes=100, expires_in=600)
    expiration = datetime.strptime(_decode_s3_policy(ticket)["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert 590 <= (expiration - datetime.now(UTC)).total_seconds() <= 601
    assert abs((expiration - ticket.expires_at).total_seconds()) <= 2


@pytest.mark.s3
def test_s3_presigned_get_with_download_name_is_an_attachment(s3: S3Storage) -> None:
    """download_name makes S3 answer with an attachment disposition carrying the UTF-8 name."""
    s3.put("photos/a.jpg", PHOTO, content_type="image/jpeg")
    url = s3.presign_get("photos/a.jpg", download_name="张村-2024.jpg")
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%E5%BC%A0%E6%9D%91-2024.jpg" in disposition
    assert response.headers["Content-Type"] == "image/jpeg"


@pytest.mark.s3
def test_s3_missing_bucket_is_an_outage_not_a_missing_object(s3: S3Storage) -> None:
    """A wrong bucket name raises StorageError from head() instead of looking like no object."""
    wrong = _s3_storage(f"missing-{uuid.uuid4().hex[:12]}")
    with pytest.raises(StorageError):
        wrong.head("photos/a.jpg")


@pytest.mark.s3
def test_s3_open_in_a_missing_bucket_is_an_outage(s3: S3Storage) -> None:
    """open() in a bucket that does not exist raises StorageError, not ObjectMissing."""
    wrong = _s3_storage(f"missing-{uuid.uuid4().hex[:12]}")
    with pytest.raises(StorageError):
        wrong.open("photos/a.jpg")
    with pytest.raises(StorageError):
        wrong.read("photos/a.jpg", limit=100)


@pytest.mark.s3
def test_s3_ping_fails_for_a_missing_bucket() -> None:
    """ping() raises StorageError when the bucket does not exist."""
    with pytest.raises(StorageError):
        _s3_storage(f"missing-{uuid.uuid4().hex[:12]}").ping()


@pytest.mark.s3
def test_s3_ensure_bucket_creates_a_missing_bucket() -> None:
    """ensure_bucket() creates the bucket so that ping() passes."""
    storage = _s3_storage(f"created-{uuid.uuid4().hex[:12]}")
    storage.ensure_bucket()
    storage.ping()


@pytest.mark.s3
def test_s3_ensure_bucket_is_idempotent(s3: S3Storage) -> None:
    """ensure_bucket() on an existing bucket keeps its objects."""
    s3.put("photos/a.jpg", PHOTO, content_type="image/jpeg")
    s3.ensure_bucket()
    assert s3.head("photos/a.jpg") is not None


@pytest.mark.s3
def test_s3_objects_are_plain_s3_objects(s3: S3Storage) -> None:
    """What S3Storage writes is readable by any S3 client, content type included."""
    s3.put("photos/a.jpg", PHOTO, content_type="image/jpeg")
    response = s3_client(s3_endpoint()).get_object(Bucket=s3.bucket, Key="photos/a.jpg")
    assert response["ContentType"] == "image/jpeg"
    assert response["Body"].read() == PHOTO


UNREACHABLE_CALLS = {
    "head": lambda s: s.head("photos/a.jpg"),
    "open": lambda s: s.open("photos/a.jpg"),
    "put": lambda s: s.put("photos/a.jpg", PHOTO, content_type="image/jpeg"),
    "delete": lambda s: s.delete("photos/a.jpg"),
    "ping": lambda s: s.ping(),
    "ensure_bucket": lambda s: s.ensure_bucket(),
}


@pytest.mark.parametrize("call", UNREACHABLE_CALLS.values(), ids=UNREACHABLE_CALLS.keys())
def test_s3_unreachable_endpoint_raises_storage_error_quickly(call) -> None:
    """Every network call against a closed port raises StorageError within seconds."""
    storage = _s3_storage("photos", endpoint=f"http://127.0.0.1:{_closed_port()}")
    started = time.monotonic()
    with pytest.raises(StorageError):
        call(storage)
    assert time.monotonic() - started < 5


@pytest.mark.s3
def test_s3_server_that_went_away_raises_storage_error() -> None:
    """A server that stops after serving requests makes later calls raise StorageError."""
    from moto import server as moto_server  # a test dependency: missing is a failure, not a skip

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    storage = _s3_storage("going-away", endpoint=f"http://{host}:{port}")
    storage.ensure_bucket()
    storage.put("photos/a.jpg", PHOTO, content_type="image/jpeg")
    server.stop()
    with pytest.raises(StorageError):
        storage.head("photos/a.jpg")


def test_s3_presigning_needs_no_network() -> None:
    """S3 presigned URLs are computed locally, so they work even while the server is down."""
    storage = _s3_storage("photos", endpoint=f"http://127.0.0.1:{_closed_port()}")
    ticket = storage.presign_upload("photos/a.jpg", content_type="image/jpeg", max_bytes=9)
    assert "x-amz-signature" in ticket.fields
    assert "X-Amz-Signature=" in storage.presign_get("photos/a.jpg")


# --- LocalStorage specifics ----------------------------------------------------------------


def test_local_ticket_posts_to_the_app_upload_route(local: LocalStorage) -> None:
    """The local ticket targets the app's own upload route with key, type, policy and signature."""
    ticket = local.presign_upload("photos/p.jpg", content_type="image/jpeg", max_bytes=100)
    assert ticket.url == "http://testserver/api/v1/storage/upload"
    assert set(ticket.fields) == {"key", "Content-Type", "policy", "signature"}
    assert ticket.fields["key"] == "photos/p.jpg"


def test_local_ticket_url_is_relative_without_public_base_url(tmp_path: Path) -> None:
    """With no PUBLIC_BASE_URL the upload URL is relative to the app."""
    storage = LocalStorage(tmp_path, secret_key=SECRET)
    ticket = storage.presign_upload("photos/p.jpg", content_type="image/jpeg", max_bytes=100)
    assert ticket.url == "/api/v1/storage/upload"


def test_local_policy_states_key_size_type_and_expiry(local: LocalStorage) -> None:
    """The signed local policy records key, max_bytes, the exact content type and the expiry."""
    ticket = local.presign_upload("photos/p.jpg", content_type="image/jpeg", max_bytes=1234, expires_in=60)
    policy = _decode_local_policy(ticket)
    assert policy["key"] == "photos/p.jpg"
    assert policy["max_bytes"] == 1234
    assert policy["content_type"] == "image/jpeg"
    assert policy["expires"] == int(ticket.expires_at.timestamp())


def test_local_upload_lands_under_root(local: LocalStorage) -> None:
    """An accepted upload is a file at root/key plus its hidden content-type sidecar."""
    ticket = local.presign_upload("photos/p.jpg", content_type="image/jpeg", max_bytes=10**6)
    phone_upload(local, ticket, PHOTO)
    assert (local.root / "photos" / "p.jpg").read_bytes() == PHOTO
    assert _files_under(local.root) == ["photos/.p.jpg.content-type", "photos/p.jpg"]


def test_local_oversize_upload_is_rejected_and_leaves_nothing(local: LocalStorage) -> None:
    """An upload over max_bytes is refused with 413 and no file, not even a temp file, remains."""
    ticket = local.presign_upload("photos/big.jpg", content_type="image/jpeg", max_bytes=100)
    with pytest.raises(UploadRejected) as caught:
        local.accept_upload(ticket.fields, io.BytesIO(b"x" * 101), content_type="image/jpeg")
    assert (caught.value.code, caught.value.status) == ("upload_too_large", 413)
    assert _files_under(local.root) == []


def test_local_upload_of_exactly_max_bytes_is_accepted(local: LocalStorage) -> None:
    """max_bytes itself is still allowed, as in S3's content-length-range."""
    ticket = local.presign_upload("photos/edge.jpg", content_type="image/jpeg", max_bytes=100)
    local.accept_upload(ticket.fields, io.BytesIO(b"x" * 100), content_type="image/jpeg")
    assert local.head("photos/edge.jpg").size == 100


def test_local_oversize_upload_stops_reading_early(local: LocalStorage) -> None:
    """The upload is abandoned once the limit is passed instead of reading the whole body."""

    class Endless(io.RawIOBase):
        consumed = 0

        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            buffer[:] = b"x" * len(buffer)
            self.consumed += len(buffer)
            return len(buffer)

    stream = Endless()
    ticket = local.presign_upload("photos/big.jpg", content_type="image/jpeg", max_bytes=1000)
    with pytest.raises(UploadRejected):
        local.accept_upload(ticket.fields, stream, content_type="image/jpeg")
    assert stream.consumed <= 1024 * 1024


def test_local_rejected_upload_keeps_the_previous_object(local: LocalStorage) -> None:
    """A refused re-upload leaves the object that was already there untouched."""
    local.put("photos/p.jpg", PHOTO, content_type="image/jpeg")
    ticket = local.presign_upload("photos/p.jpg", content_type="image/jpeg", max_bytes=10)
    with pytest.raises(UploadRejected):
        local.accept_upload(ticket.fields, io.BytesIO(b"y" * 11), content_type="image/jpeg")
    assert local.head("photos/p.jpg").size == len(PHOTO)
    assert (local.root / "photos" / "p.jpg").read_bytes() == PHOTO


def test_local_empty_upload_is_rejected(local: LocalStorage) -> None:
    """An empty file is refused with 400 upload_empty and nothing is stored."""
    ticket = local.presign_upload("photos/e.jpg", content_type="image/jpeg", max_bytes=100)
    with pytest.raises(UploadRejected) as caught:
        local.accept_upload(ticket.fields, io.BytesIO(b""), content_type="image/jpeg")
    assert (caught.value.code, caught.value.status) == ("upload_empty", 400)
    assert _files_under(local.root) == []


def test_local_expired_ticket_is_rejected(local: LocalStorage) -> None:
    """A ticket past its expiry is refused with 403 upload_expired."""
    ticket = local.presign_upload("photos/p.jpg", content_type="image/jpeg", max_bytes=100, expires_in=-1)
    with pytest.raises(UploadRejected) as caught:
        local.accept_upload(ticket.fields, io.BytesIO(b"x"), content_type="image/jpeg")
    assert (caught.value.code, caught.value.status) == ("upload_expired", 403)


def test_local_tampered_policy_is_rejected(local: LocalStorage) -> None:
    """Raising max_bytes in the policy breaks the signature: 403 upload_signature_invalid."""
    ticket = local.presign_upload("photos/p.jpg", content_type="image/jpeg", max_bytes=10)
    policy = _decode_local_policy(ticket) | {"max_bytes": 10**9}
    fields = ticket.fields | {"policy": _encode_local_policy(policy)}
    with pytest.raises(UploadRejected) as caught:
        local.accept_upload(fields, io.BytesIO(b"x" * 20), content_type="image/jpeg")
    assert (caught.value.code, caught.value.status) == ("upload_signature_invalid", 403)
    assert _files_under(local.root) == []


def test_local_ticket_signed_with_another_secret_is_rejected(local: LocalStorage, tmp_path: Path) -> None:
    """A ticket from an instance with a different SECRET_KEY is refused."""
    other = LocalStorage(tmp_path / "other", secret_key="another-secret")
    ticket = other.presign_upload("photos/p.jpg", content_type="image/jpeg", max_bytes=10)
    with pytest.raises(UploadRejected) as caught:
        local.accept_upload(ticket.fields, io.BytesIO(b"x"), content_type="image/jpeg")
    assert caught.value.code == "upload_signature_invalid"


def test_local_upload_without_signature_is_rejected(local: LocalStorage) -> None:
    """A form without policy and signature is refused with 403."""
    with pytest.raises(UploadRejected) as caught:
        local.accept_upload({"key": "photos/p.jpg"}, io.BytesIO(b"x"), content_type="image/jpeg")
    assert (caught.value.code, caught.value.status) == ("upload_signature_invalid", 403)


def test_local_ticket_cannot_be_used_for_another_key(local: LocalStorage) -> None:
    """Changing the key field of a valid ticket is refused."""
    ticket = local.presign_upload("photos/p.jpg", content_type="image/jpeg", max_bytes=10)
    fields = ticket.fields | {"key": "photos/other.jpg"}
    with pytest.raises(UploadRejected) as caught:
        local.accept_upload(fields, io.BytesIO(b"x"), content_type="image/jpeg")
    assert caught.value.code == "upload_signature_invalid"
    assert _files_under(local.root) == []


def test_local_ticket_cannot_target_a_path_outside_root(local: LocalStorage) -> None:
    """A traversal key smuggled into the form is refused and nothing is written anywhere."""
    ticket = local.presign_upload("photos/p.jpg", content_type="image/jpeg", max_bytes=10)
    fields = ticket.fields | {"key": "../escaped.jpg"}
    with pytest.raises(UploadRejected):
        local.accept_upload(fields, io.BytesIO(b"x"), content_type="image/jpeg")
    assert not (local.root.parent / "escaped.jpg").exists()


def test_local_upload_with_non_image_content_type_is_rejected(local: LocalStorage) -> None:
    """A Content-Type field outside image/ is refused with 400, as S3's policy would."""
    ticket = local.presign_upload("photos/p.jpg", content_type="image/jpeg", max_bytes=10)
    fields = ticket.fields | {"Content-Type": "text/html"}
    with pytest.raises(UploadRejected) as caught:
        local.accept_upload(fields, io.BytesIO(b"x"), content_type="image/jpeg")
    assert (caught.value.code, caught.value.status) == ("upload_content_type_invalid", 400)


def test_local_upload_with_header_breaking_content_type_is_rejected(local: LocalStorage) -> None:
    """A Content-Type field that would smuggle a header line is refused."""
    ticket = local.presign_upload("photos/p.jpg", content_type="image/jpeg", max_bytes=10)
    fields = ticket.fields | {"Content-Type": "image/jpeg\r\nSet-Cookie: a=b"}
    with pytest.raises(UploadRejected) as caught:
        local.accept_upload(fields, io.BytesIO(b"x"), content_type="image/jpeg")
    assert caught.value.code == "upload_content_type_invalid"


def test_local_upload_falls_back_to_the_file_parts_type(local: LocalStorage) -> None:
    """Without a Content-Type form field the file part's own type is stored."""
    ticket = local.presign_upload("photos/p.png", content_type="image/png", max_bytes=10)
    fields = {k: v for k, v in ticket.fields.items() if k != "Content-Type"}
    local.accept_upload(fields, io.BytesIO(b"x"), content_type="image/png")
    assert local.head("photos/p.png").content_type == "image/png"


def test_local_rejections_speak_chinese(local: LocalStorage) -> None:
    """Messages meant for the villager are in Chinese and name the size limit."""
    ticket = local.presign_upload("photos/p.jpg", content_type="image/jpeg", max_bytes=5 * 1024 * 1024)
    with pytest.raises(UploadRejected) as caught:
        local.accept_upload(ticket.fields, io.BytesIO(b"x" * (5 * 1024 * 1024 + 1)), content_type="image/jpeg")
    assert "照片" in caught.value.message
    assert "5 MB" in caught.value.message


def test_local_presigned_get_points_at_the_app_object_route(local: LocalStorage) -> None:
    """The local GET URL is the app's object route with key, expiry and signature."""
    url = local.presign_get("photos/a.jpg")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://testserver/api/v1/storage/object"
    assert set(dict(parse_qsl(parts.query))) == {"key", "expires", "sig"}


def test_local_verify_get_returns_path_under_root(local: LocalStorage) -> None:
    """verify_get() accepts its own URL and returns the file inside root."""
    local.put("photos/a.jpg", PHOTO, content_type="image/jpeg")
    args = dict(parse_qsl(urlsplit(local.presign_get("photos/a.jpg")).query))
    assert local.verify_get(args) == local.root / "photos" / "a.jpg"


def test_local_verify_get_signs_the_download_name(local: LocalStorage) -> None:
    """The download name travels signed in the URL, and changing it breaks the signature."""
    local.put("photos/a.jpg", PHOTO, content_type="image/jpeg")
    args = dict(parse_qsl(urlsplit(local.presign_get("photos/a.jpg", download_name="张村.jpg")).query))
    assert args["name"] == "张村.jpg"
    local.verify_get(args)
    with pytest.raises(UploadRejected):
        local.verify_get(args | {"name": "evil.html"})


@pytest.mark.parametrize(
    "change",
    [
        {"key": "photos/b.jpg"},
        {"key": "../../etc/passwd"},
        {"expires": "99999999999"},
        {"sig": "AAAA"},
    ],
    ids=["other-key", "traversal", "later-expiry", "forged-signature"],
)
def test_local_verify_get_rejects_tampering(local: LocalStorage, change: dict) -> None:
    """Any change to a signed GET URL is refused with 403 download_signature_invalid."""
    local.put("photos/a.jpg", PHOTO, content_type="image/jpeg")
    local.put("photos/b.jpg", PHOTO, content_type="image/jpeg")
    args = dict(parse_qsl(urlsplit(local.presign_get("photos/a.jpg")).query)) | change
    with pytest.raises(UploadRejected) as caught:
        local.verify_get(args)
    assert (caught.value.code, caught.value.status) == ("download_signature_invalid", 403)


def test_local_verify_get_rejects_missing_arguments(local: LocalStorage) -> None:
    """A request without the signed arguments is refused with 403."""
    with pytest.raises(UploadRejected) as caught:
        local.verify_get({})
    assert caught.value.status == 403


def test_local_verify_get_rejects_an_expired_url(local: LocalStorage) -> None:
    """A GET URL past its expiry is refused with 403 download_expired."""
    local.put("photos/a.jpg", PHOTO, content_type="image/jpeg")
    args = dict(parse_qsl(urlsplit(local.presign_get("photos/a.jpg", expires_in=-1)).query))
    with pytest.raises(UploadRejected) as caught:
        local.verify_get(args)
    assert (caught.value.code, caught.value.status) == ("download_expired", 403)


def test_local_verify_get_of_deleted_object_raises_object_missing(local: LocalStorage) -> None:
    """A valid URL to an object deleted since raises ObjectMissing."""
    local.put("photos/a.jpg", PHOTO, content_type="image/jpeg")
    args = dict(parse_qsl(urlsplit(local.presign_get("photos/a.jpg")).query))
    local.delete("photos/a.jpg")
    with pytest.raises(ObjectMissing):
        local.verify_get(args)


def test_local_upload_signature_is_not_a_download_signature(local: LocalStorage) -> None:
    """An upload ticket's signature cannot be replayed to download the same key."""
    local.put("photos/a.jpg", PHOTO, content_type="image/jpeg")
    ticket = local.presign_upload("photos/a.jpg", content_type="image/jpeg", max_bytes=10)
    args = {
        "key": "photos/a.jpg",
        "expires": str(int(time.time()) + 60),
        "sig": ticket.fields["signature"],
    }
    with pytest.raises(UploadRejected):
        local.verify_get(args)


def test_local_delete_removes_the_sidecar_too(local: LocalStorage) -> None:
    """delete() leaves no content-type sidecar behind."""
    local.put("photos/a.jpg", PHOTO, content_type="image/jpeg")
    local.delete("photos/a.jpg")
    assert _files_under(local.root) == []


def test_local_directory_is_not_an_object(local: LocalStorage) -> None:
    """The directory holding "a/b" does not make "a" look like an object."""
    local.put("a/b", PHOTO, content_type="image/jpeg")
    assert local.head("a") is None
    with pytest.raises(ObjectMissing):
        local.open("a")


def test_local_write_failure_raises_storage_error(local: LocalStorage) -> None:
    """A file-system error while writing surfaces as StorageError."""
    local.put("a", PHOTO, content_type="image/jpeg")
    with pytest.raises(StorageError):
        local.put("a/b", PHOTO, content_type="image/jpeg")


def test_local_ping_fails_when_directory_is_gone(local: LocalStorage) -> None:
    """ping() raises StorageError once the storage directory disappeared."""
    shutil.rmtree(local.root)
    with pytest.raises(StorageError):
        local.ping()


# --- configuration -------------------------------------------------------------------------


def test_config_defaults_to_local_storage(tmp_path: Path) -> None:
    """Without STORAGE_BACKEND the embedded local backend is built."""
    storage = storage_from_config({"STORAGE_DIR": str(tmp_path), "SECRET_KEY": SECRET, "PUBLIC_BASE_URL": BASE_URL})
    assert isinstance(storage, LocalStorage)
    assert storage.name == "local"
    assert storage.root == tmp_path.resolve()


def test_config_local_needs_a_directory() -> None:
    """The local backend refuses to start without STORAGE_DIR."""
    with pytest.raises(ValueError):
        storage_from_config({"SECRET_KEY": SECRET})


def test_config_local_needs_a_secret_key(tmp_path: Path) -> None:
    """The local backend refuses to start without SECRET_KEY to sign URLs."""
    with pytest.raises(ValueError):
        storage_from_config({"STORAGE_DIR": str(tmp_path)})


def test_config_builds_s3_storage(tmp_path: Path) -> None:
    """STORAGE_BACKEND=s3 builds an S3Storage with the configured endpoint and style."""
    storage = storage_from_config(
        {
            "STORAGE_BACKEND": "s3",
            "S3_ENDPOINT_URL": "http://127.0.0.1:9000",
            "S3_BUCKET": "photos",
            "S3_REGION": "ap-guangzhou",
            "S3_ACCESS_KEY_ID": "id",
            "S3_SECRET_ACCESS_KEY": "secret",
            "S3_ADDRESSING_STYLE": "path",
        }
    )
    assert isinstance(storage, S3Storage)
    assert storage.name == "s3"
    assert storage.bucket == "photos"
    assert storage.client.meta.endpoint_url == "http://127.0.0.1:9000"
    assert storage.client.meta.region_name == "ap-guangzhou"
    assert storage.client.meta.config.s3["addressing_style"] == "path"


def test_config_rejects_unknown_backend() -> None:
    """An unknown STORAGE_BACKEND stops start-up with ValueError."""
    with pytest.raises(ValueError):
        storage_from_config({"STORAGE_BACKEND": "ftp"})


# --- sealed originals ---------------------------------------------------------------------


def test_no_ticket_names_a_sealed_key(storage: Storage) -> None:
    """Verified originals live under sealed/: no upload ticket can be issued for a key there."""
    with pytest.raises(ValueError):
        storage.presign_upload("sealed/visit/p.jpg", content_type="image/jpeg", max_bytes=100)


@pytest.mark.parametrize("content_type", ["image/svg+xml", "image/gif", "image/jpeg2"])
def test_ticket_only_for_the_three_photo_types(storage: Storage, content_type: str) -> None:
    """A ticket declares image/jpeg, image/png or image/webp; an SVG (a script to a browser) gets none."""
    with pytest.raises(ValueError):
        storage.presign_upload("uploads/p.jpg", content_type=content_type, max_bytes=100)


def test_local_upload_must_send_the_declared_type_exactly(local: LocalStorage) -> None:
    """A JPEG ticket does not accept the same key sent as image/svg+xml (a prefix check once did)."""
    ticket = local.presign_upload("uploads/p.jpg", content_type="image/jpeg", max_bytes=10**6)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'
    with pytest.raises(UploadRejected) as exc:
        local.accept_upload(
            {**ticket.fields, "Content-Type": "image/svg+xml"}, io.BytesIO(svg), content_type="image/svg+xml"
        )
    assert (exc.value.code, exc.value.status) == ("upload_content_type_invalid", 400)
    assert local.head("uploads/p.jpg") is None


def test_put_sealed_refuses_a_key_outside_sealed(storage: Storage) -> None:
    """put_sealed only writes below sealed/, so an original never shares a key with an upload."""
    with pytest.raises(ValueError):
        storage.put_sealed("uploads/p.jpg", PHOTO, content_type="image/jpeg")


def test_discarded_upload_key_refuses_the_ticket_again(local: LocalStorage) -> None:
    """Once an upload is sealed and discarded, its still-valid ticket is refused (409) and nothing is stored."""
    ticket = local.presign_upload("uploads/p.jpg", content_type="image/jpeg", max_bytes=10**6)
    phone_upload(local, ticket, PHOTO)
    local.put_sealed("sealed/p.jpg", PHOTO, content_type="image/jpeg")
    local.discard_upload("uploads/p.jpg")
    with pytest.raises(UploadRejected) as exc:
        phone_upload(local, ticket, b"\xff\xd8 another picture")
    assert (exc.value.code, exc.value.status) == ("upload_sealed", 409)
    assert local.head("uploads/p.jpg") is None
    with local.open("sealed/p.jpg") as f:
        assert f.read() == PHOTO


def test_local_sealed_original_is_written_once(local: LocalStorage) -> None:
    """Sealing the same bytes again (a retried complete) is fine; other bytes under the sealed key are refused."""
    local.put_sealed("sealed/p.jpg", PHOTO, content_type="image/jpeg")
    local.put_sealed("sealed/p.jpg", io.BytesIO(PHOTO), content_type="image/jpeg")
    with pytest.raises(StorageError):
        local.put_sealed("sealed/p.jpg", b"other bytes", content_type="image/jpeg")
    with local.open("sealed/p.jpg") as f:
        assert f.read() == PHOTO


def test_local_sweep_removes_old_uploads_and_markers_only(local: LocalStorage) -> None:
    """Uploads and seal markers older than the retention go; fresh uploads and sealed originals stay."""
    import os

    from server.storage import UPLOAD_RETENTION_DAYS

    for key in ("uploads/old.jpg", "uploads/new.jpg", "uploads/sealed-one.jpg"):
        local.put(key, PHOTO, content_type="image/jpeg")
    local.put_sealed("sealed/old.jpg", PHOTO, content_type="image/jpeg")
    local.discard_upload("uploads/sealed-one.jpg")
    old = time.time() - (UPLOAD_RETENTION_DAYS + 1) * 86400
    for path in [
        local.root / "uploads/old.jpg",
        local.root / "uploads/.old.jpg.content-type",
        local.root / "uploads/.sealed-one.jpg.sealed",
        local.root / "sealed/old.jpg",
    ]:
        os.utime(path, (old, old))
    assert local.expire_uploads() == 1
    assert _files_under(local.root) == [
        "sealed/.old.jpg.content-type",
        "sealed/old.jpg",
        "uploads/.new.jpg.content-type",
        "uploads/new.jpg",
    ]


@pytest.mark.s3
def test_s3_lifecycle_rule_expires_left_behind_uploads(s3: S3Storage) -> None:
    """expire_uploads() puts a bucket lifecycle rule on uploads/ (and their old versions), nothing else."""
    from server.storage import UPLOAD_RETENTION_DAYS

    s3.expire_uploads()
    rules = s3_client(s3_endpoint()).get_bucket_lifecycle_configuration(Bucket=s3.bucket)["Rules"]
    assert len(rules) == 1 and rules[0]["Status"] == "Enabled"
    assert rules[0]["Filter"] == {"Prefix": "uploads/"}
    assert rules[0]["Expiration"] == {"Days": UPLOAD_RETENTION_DAYS}
    assert rules[0]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1


def _locked_s3() -> S3Storage:
    """An S3Storage with Object Lock on a fresh bucket created with Object Lock enabled."""
    storage = S3Storage(
        bucket=f"lock-{uuid.uuid4().hex[:16]}",
        endpoint_url=s3_endpoint(),
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        addressing_style="path",
        object_lock_mode="GOVERNANCE",
        object_lock_days=1,
    )
    storage.ensure_bucket()
    return storage


@pytest.mark.s3
def test_s3_object_lock_original_survives_overwrite_and_delete(s3: S3Storage) -> None:
    """With Object Lock the sealed original keeps its version: a PUT or DELETE of the key changes nothing served."""
    locked = _locked_s3()
    version = locked.put_sealed("sealed/p.jpg", PHOTO, content_type="image/jpeg")
    assert version
    client = s3_client(s3_endpoint())
    head = client.head_object(Bucket=locked.bucket, Key="sealed/p.jpg", VersionId=version)
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ObjectLockRetainUntilDate"] > datetime.now(UTC)
    client.put_object(Bucket=locked.bucket, Key="sealed/p.jpg", Body=b"<svg/>", ContentType="image/svg+xml")
    with locked.open("sealed/p.jpg", version=version) as f:
        assert f.read() == PHOTO
    assert fetch(locked, locked.presign_get("sealed/p.jpg", version=version)) == PHOTO
    client.delete_object(Bucket=locked.bucket, Key="sealed/p.jpg")
    with locked.open("sealed/p.jpg", version=version) as f:
        assert f.read() == PHOTO
    # Deleting the locked version itself is refused while it is retained.
    with pytest.raises(Exception, match="AccessDenied"):
        client.delete_object(Bucket=locked.bucket, Key="sealed/p.jpg", VersionId=version)
    assert fetch(locked, locked.presign_get("sealed/p.jpg", version=version)) == PHOTO


@pytest.mark.s3
def test_s3_object_lock_discarded_upload_leaves_no_version(s3: S3Storage) -> None:
    """In a versioned bucket, discarding an upload deletes every version of it (a feedback upload holds GPS)."""
    locked = _locked_s3()
    locked.put("uploads/p.jpg", PHOTO, content_type="image/jpeg")
    locked.put("uploads/p.jpg", b"again", content_type="image/jpeg")
    locked.discard_upload("uploads/p.jpg")
    listing = s3_client(s3_endpoint()).list_object_versions(Bucket=locked.bucket, Prefix="uploads/")
    assert listing.get("Versions", []) == [] and listing.get("DeleteMarkers", []) == []


@pytest.mark.s3
def test_s3_object_lock_retains_audit_checkpoints(s3: S3Storage) -> None:
    """An audit checkpoint put with retention cannot have its version deleted while Object Lock holds it."""
    locked = _locked_s3()
    version = locked.put_retained("audit/checkpoints/1.json", b'{"seq": 1}', content_type="application/json")
    assert version
    client = s3_client(s3_endpoint())
    head = client.head_object(Bucket=locked.bucket, Key="audit/checkpoints/1.json", VersionId=version)
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ObjectLockRetainUntilDate"] > datetime.now(UTC)
    with pytest.raises(Exception, match="AccessDenied"):
        client.delete_object(Bucket=locked.bucket, Key="audit/checkpoints/1.json", VersionId=version)
