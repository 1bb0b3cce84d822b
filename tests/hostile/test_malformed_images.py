"""Every kind of bad image through the real ticket → upload → complete flow: a clear 4xx, nothing left behind."""

from __future__ import annotations

import io
import re
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from server.db import db
from server.models import Photo
from tests.conftest import missing_component
from tests.factories import V1, Api, now_iso, start_visit, uid
from tests.support.images import phone_jpeg
from tests.support.upload import upload

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "photos"
CJK = re.compile(r"[\u4e00-\u9fff]")


def encoded(img: Image.Image, fmt: str, **options) -> bytes:
    """The image encoded by Pillow."""
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def png_bomb() -> bytes:
    """A few hundred bytes of PNG whose header claims 30000 × 30000 pixels."""

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b"")
    )


def heic() -> bytes:
    """The start of an iPhone HEIC file (ISO-BMFF ftyp box, brand heic)."""
    return b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 4000


def shared(name: str) -> bytes:
    """A real file from ../shared/testdata/photos."""
    if not PHOTOS.is_dir():
        missing_component(f"the shared test photos are missing: {PHOTOS}")
    return (PHOTOS / name).read_bytes()


REFUSED = {
    "truncated_jpeg": (lambda: phone_jpeg(size=(1600, 1200))[:30000], "photo_truncated"),
    "png_bomb": (png_bomb, "photo_too_many_pixels"),
    "jpeg_magic_then_garbage": (lambda: b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40, "photo_not_image"),
    "text_as_jpeg": (lambda: "这不是照片".encode() * 200, "photo_not_image"),
    "svg_as_jpeg": (lambda: b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>', "photo_not_image"),
    "one_byte": (lambda: b"\xff", "photo_not_image"),
    "gif_as_jpeg": (lambda: encoded(Image.new("RGB", (800, 600), "red"), "GIF"), "photo_unsupported_format"),
    "heic": (heic, "photo_unsupported_format"),
    "shared_corrupted_jpeg": (lambda: shared("exifsamples_jpg_corrupted.jpg"), "photo_truncated"),
}
ACCEPTED = {
    "cmyk_jpeg": lambda: encoded(Image.new("CMYK", (800, 600), (0, 50, 100, 0)), "JPEG"),
    "png_16_bit": lambda: encoded(Image.new("I;16", (800, 600), 30000), "PNG"),
    "shared_malformed_exif_string": lambda: shared("exifsamples_jpg_tests_67-0_length_string.jpg"),
    "shared_exif_that_once_crashed_pillow": lambda: shared("exifsamples_jpg_tests_87_OSError.jpg"),
}


@pytest.fixture(scope="module")
def insp(shared_app):
    """Inspector A with a visit, on the module's app."""
    app, world = shared_app
    api = Api(app.test_client(), world.tokens["insp_a"])
    api.visit = start_visit(api, world.a1)
    api.app = app
    return api


def send(api: Api, data: bytes) -> tuple[dict, object]:
    """Ticket (declared as a JPEG), upload and complete; returns the ticket and the complete response."""
    r = api.post(
        f"/api/v1/visits/{api.visit['id']}/photos",
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
    assert upload(api.client, ticket["upload"], data) == 204
    return ticket, api.post(f"/api/v1/photos/{ticket['photo_id']}/complete")


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_bad_image_is_refused_in_chinese_and_deleted(insp, kind):
    """The file is refused with a 4xx naming the reason in Chinese; the upload is deleted, the photo rejected."""
    make, code = REFUSED[kind]
    ticket, r = send(insp, make())
    assert 400 <= r.status_code < 500, (r.status_code, r.get_json())
    error = r.get_json()["error"]
    assert error["code"] == code and CJK.search(error["message"]), error
    with insp.app.app_context():
        photo = db.session.get(Photo, ticket["photo_id"])
        assert (photo.status, photo.reject_code, photo.thumb_key, photo.sha256) == ("rejected", code, None, None)
        assert insp.app.extensions["storage"].head(photo.upload_key) is None


def test_heic_refusal_tells_how_to_fix_it(insp):
    """The HEIC refusal tells iPhone users which camera setting to change."""
    _, r = send(insp, heic())
    assert "兼容性最佳" in r.get_json()["error"]["message"]


@pytest.mark.parametrize("kind", sorted(ACCEPTED))
def test_unusual_but_valid_image_becomes_an_rgb_jpeg(insp, kind):
    """CMYK, 16-bit PNG and real photos with broken EXIF are accepted and turned into ordinary JPEG previews."""
    _, r = send(insp, ACCEPTED[kind]())
    assert r.status_code == 200 and r.get_json()["status"] == "ready", r.get_json()
    preview = insp.client.get(r.get_json()["preview_url"].replace("http://localhost", ""))
    image = Image.open(io.BytesIO(preview.data))
    assert (image.format, image.mode) == ("JPEG", "RGB")
