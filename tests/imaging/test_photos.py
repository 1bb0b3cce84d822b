"""Tests of server.imaging: verification, EXIF, orientation, derivatives, hashes and watermark."""

import hashlib
import io
import json
import logging
import os
import random
import resource
import shutil
import struct
import subprocess
import time
import warnings
import zlib
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageOps, JpegImagePlugin
from PIL.TiffImagePlugin import IFDRational

from server.imaging import watermark
from server.imaging.decode import PhotoRejected, ProcessedPhoto, process_photo
from server.imaging.exif import read_exif
from server.imaging.phash import (
    HASH_BANDS,
    NEAR_DUPLICATE_DISTANCE,
    band_probes,
    coarse_pairs,
    dhash,
    hamming,
    hash_bands,
    query_hashes,
)
from server.imaging.watermark import Watermark, find_cjk_font
from tests.conftest import missing_component

# How near two whole-frame dHashes of one picture stay (the dHash alone was the index until region hashes).
DHASH_NEAR = 4
PHOTOS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "photos"
IPHONE11 = "cartridgeocr_iphone11_IMG_5809.jpg"
PIXEL5 = "cartridgeocr_pixel5_PXL_20210518_214205292.jpg"
NOKIA = "exifsamples_jpg_mobile_HMD_Nokia_8.3_5G.jpg"
IPHONE6_HDR = "exifsamples_jpg_hdr_iphone_hdr_YES.jpg"
NIKON_GPS = "exifsamples_jpg_gps_DSCN0010.jpg"
LENGTH_STRING = "exifsamples_jpg_tests_67-0_length_string.jpg"
OS_ERROR = "exifsamples_jpg_tests_87_OSError.jpg"
CORRUPTED = "exifsamples_jpg_corrupted.jpg"
NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")

# Where the generated phone photo claims to be: 27°42'12.34" N, 113°36'45.60" E (Hunan).
PHONE_LAT = 27 + 42 / 60 + 12.34 / 3600
PHONE_LNG = 113 + 36 / 60 + 45.6 / 3600

WATERMARK = Watermark(
    time=datetime(2026, 11, 22, 2, 31, tzinfo=UTC),
    place="永阳镇 江南村",
    person="张三",
    verify_code="7KQ2M9XW4C",
    title="书记项目 村道硬化",
)


# --- helpers ---------------------------------------------------------------------------------


def scene(size: tuple[int, int], seed: int) -> Image.Image:
    """A photo-like RGB image: a gradient with random coloured shapes, drawn small then enlarged."""
    rng = random.Random(seed)
    width, height = size
    small_size = (max(32, width // 4), max(32, height // 4))
    base = Image.linear_gradient("L").resize(small_size).rotate(rng.randrange(360))
    img = Image.merge("RGB", (base, base.point(lambda v: 255 - v), base.point(lambda v: v // 2)))
    draw = ImageDraw.Draw(img)
    for _ in range(14):
        x0, y0 = rng.randrange(small_size[0]), rng.randrange(small_size[1])
        box = (x0, y0, x0 + rng.randrange(4, small_size[0] // 2), y0 + rng.randrange(4, small_size[1] // 2))
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    return img.resize(size, Image.Resampling.BICUBIC)


def make_exif(
    orientation=None,
    make=None,
    model=None,
    taken=None,
    offset=None,
    datetime_tag=None,
    offset_time=None,
    gps=None,
    software=None,
) -> Image.Exif:
    """Image.Exif with the given tags; gps is a dict of GPS IFD tag -> value."""
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if make is not None:
        exif[0x010F] = make
    if model is not None:
        exif[0x0110] = model
    if datetime_tag is not None:
        exif[0x0132] = datetime_tag
    if software is not None:
        exif[0x0131] = software
    exif_ifd = exif.get_ifd(0x8769)
    if taken is not None:
        exif_ifd[0x9003] = taken
    if offset is not None:
        exif_ifd[0x9011] = offset
    if offset_time is not None:
        exif_ifd[0x9010] = offset_time
    if gps:
        exif.get_ifd(0x8825).update(gps)
    return exif


def dms(degrees: int, minutes: int, seconds_hundredths: int) -> tuple:
    """EXIF GPS (degrees, minutes, seconds) rationals."""
    return IFDRational(degrees), IFDRational(minutes), IFDRational(seconds_hundredths, 100)


def jpeg_bytes(img: Image.Image, exif: Image.Exif | None = None, **options) -> bytes:
    """img encoded as JPEG, with exif if given."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", exif=exif if exif is not None else b"", **options)
    return buf.getvalue()


def encode(img: Image.Image, fmt: str, **options) -> bytes:
    """img saved in fmt."""
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def process(data: bytes, **options) -> ProcessedPhoto:
    """process_photo() on in-memory bytes."""
    return process_photo(io.BytesIO(data), **options)


def rejection(data: bytes, **options) -> PhotoRejected:
    """The PhotoRejected that process_photo() raises for data."""
    with pytest.raises(PhotoRejected) as info:
        process(data, **options)
    return info.value


def decoded(jpeg: bytes) -> Image.Image:
    """A JPEG's pixels."""
    img = Image.open(io.BytesIO(jpeg))
    img.load()
    return img


def glyph(font: ImageFont.FreeTypeFont, char: str) -> bytes:
    """Pixels of char drawn with font."""
    img = Image.new("L", (60, 60))
    ImageDraw.Draw(img).text((5, 5), char, font=font, fill=255)
    return img.tobytes()


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG file declaring width x height 1-bit pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def draft_sizes(monkeypatch) -> list:
    """Record the size every JPEG draft() call leaves the image at."""
    sizes = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        sizes.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    return sizes


@pytest.fixture(scope="session")
def real_photos() -> Path:
    """The shared real-photo folder; skipped only off CI when it is absent."""
    if not PHOTOS_DIR.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{PHOTOS_DIR} is missing: it must exist on CI")
        pytest.skip(f"{PHOTOS_DIR} not present on this machine")
    return PHOTOS_DIR


@pytest.fixture(scope="session")
def phone_jpeg() -> bytes:
    """A generated 12 MP phone photo: stored 4032x3024, Orientation 6, GPS, time, make, model."""
    exif = make_exif(
        orientation=6,
        make="Xiaomi",
        model="Redmi Note 12",
        taken="2026:11:22 10:31:05",
        offset="+08:00",
        gps={1: "N", 2: dms(27, 42, 1234), 3: "E", 4: dms(113, 36, 4560)},
    )
    return jpeg_bytes(scene((4032, 3024), seed=1), exif, quality=90)


@pytest.fixture
def fresh_font_cache():
    """Forget cached font lookups before and after a test that changes how fonts are found."""
    caches = (
        watermark._cjk_font_path,
        watermark._font,
        watermark.simplified_face,
        watermark._fit_text,
        watermark._text_stamp,
    )
    for cached in caches:
        cached.cache_clear()
    yield
    for cached in caches:
        cached.cache_clear()


# --- generated phone photo: fast path, orientation, EXIF ---------------------------------------


def test_phone_photo_is_decoded_at_quarter_scale(phone_jpeg, monkeypatch):
    """A 4032x3024 JPEG is drafted to 1008x756 by libjpeg, not decoded at full size."""
    sizes = draft_sizes(monkeypatch)
    process(phone_jpeg)
    assert sizes == [(1008, 756)]


def test_phone_photo_orientation_applied(phone_jpeg):
    """Orientation 6 gives a portrait preview and portrait width/height."""
    result = process(phone_jpeg)
    assert (result.format, result.width, result.height) == ("JPEG", 3024, 4032)
    assert decoded(result.preview_jpeg).size == (756, 1008)
    assert decoded(result.thumb_jpeg).size == (240, 320)


def test_phone_photo_exif_parsed(phone_jpeg):
    """Time with its offset, GPS, make, model and orientation come out of the generated EXIF."""
    exif = process(phone_jpeg).exif
    assert exif.taken_at == datetime(2026, 11, 22, 10, 31, 5, tzinfo=timezone(timedelta(hours=8)))
    assert exif.lat == pytest.approx(PHONE_LAT, abs=1e-7)
    assert exif.lng == pytest.approx(PHONE_LNG, abs=1e-7)
    assert (exif.make, exif.model, exif.orientation) == ("Xiaomi", "Redmi Note 12", 6)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_matches_pillow_exif_transpose(orientation):
    """Each of the 8 orientations gives the same picture as ImageOps.exif_transpose at full size."""
    raw = Image.new("RGB", (2400, 1800))
    for colour, box in (
        ((220, 20, 20), (0, 0, 1200, 900)),
        ((20, 200, 20), (1200, 0, 2400, 900)),
        ((20, 20, 220), (0, 900, 1200, 1800)),
        ((230, 230, 20), (1200, 900, 2400, 1800)),
    ):
        raw.paste(colour, box)
    data = jpeg_bytes(raw, make_exif(orientation=orientation), quality=90)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    preview = decoded(process(data).preview_jpeg)
    assert preview.size == (expected.width // 2, expected.height // 2)
    for fx, fy in ((0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)):
        got = preview.getpixel((int(fx * preview.width), int(fy * preview.height)))
        want = expected.getpixel((int(fx * expected.width), int(fy * expected.height)))
        assert all(abs(g - w) < 30 for g, w in zip(got, want, strict=True)), (fx, fy, got, want)


def test_southern_and_western_gps_are_negative():
    """S and W references give negative latitude and longitude."""
    gps = {1: "S", 2: dms(33, 52, 0), 3: "W", 4: dms(70, 40, 0)}
    exif = process(jpeg_bytes(scene((96, 64), 2), make_exif(gps=gps))).exif
    assert exif.lat == pytest.approx(-(33 + 52 / 60))
    assert exif.lng == pytest.approx(-(70 + 40 / 60))


def test_time_without_offset_is_read_as_china_time():
    """DateTimeOriginal without OffsetTimeOriginal is taken as UTC+8."""
    exif = process(jpeg_bytes(scene((96, 64), 2), make_exif(taken="2026:03:01 08:00:00"))).exif
    assert exif.taken_at.isoformat() == "2026-03-01T08:00:00+08:00"


def test_datetime_alone_is_not_a_capture_time():
    """IFD0 DateTime (last written, e.g. by an editor) is kept as modified_at with OffsetTime, never as taken_at."""
    exif_tags = make_exif(datetime_tag="2025:12:31 23:59:59", offset_time="-05:00")
    exif = process(jpeg_bytes(scene((96, 64), 2), exif_tags)).exif
    assert exif.taken_at is None
    assert exif.modified_at.isoformat() == "2025-12-31T23:59:59-05:00"


@pytest.mark.parametrize("original", ["0000:00:00 00:00:00", "                   ", None])
def test_capture_time_falls_back_to_datetime_digitized(original):
    """A blank, zero or missing DateTimeOriginal falls back to DateTimeDigitized with its own offset."""
    exif_tags = make_exif(taken=original, datetime_tag="2026:05:01 12:00:00")
    exif_tags.get_ifd(0x8769).update({0x9004: "2026:04:30 08:15:00", 0x9012: "+09:00"})
    exif = process(jpeg_bytes(scene((96, 64), 2), exif_tags)).exif
    assert exif.taken_at.isoformat() == "2026-04-30T08:15:00+09:00"
    assert exif.tz_assumed is False


def test_offset_time_original_is_used_and_an_assumed_zone_is_recorded():
    """OffsetTimeOriginal gives the zone; without it China time is assumed and tz_assumed says so."""
    with_offset = process(jpeg_bytes(scene((96, 64), 2), make_exif(taken="2026:03:01 08:00:00", offset="+01:00"))).exif
    assert (with_offset.taken_at.isoformat(), with_offset.tz_assumed) == ("2026-03-01T08:00:00+01:00", False)
    without = process(jpeg_bytes(scene((96, 64), 2), make_exif(taken="2026:03:01 08:00:00"))).exif
    assert (without.taken_at.isoformat(), without.tz_assumed) == ("2026-03-01T08:00:00+08:00", True)
    assert without.as_dict()["tz_assumed"] is True


def test_xmp_capture_time_with_its_zone_when_exif_has_none():
    """A file whose capture time is only in XMP (exif:DateTimeOriginal) is read with the XMP zone."""
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
        b'exif:DateTimeOriginal="2026-06-01T09:30:00Z" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
    )
    exif = process(jpeg_bytes(scene((96, 64), 2), xmp=xmp)).exif
    assert (exif.taken_at.isoformat(), exif.tz_assumed, exif.orientation) == ("2026-06-01T09:30:00+00:00", False, 6)


@pytest.mark.parametrize(
    ("software", "editor"),
    [
        ("Adobe Photoshop 25.0 (Windows)", True),
        ("GIMP 2.10.34", True),
        ("Snapseed 2.0", True),
        ("美图秀秀", True),
        ("醒图 9.2", True),
        ("黄油相机", True),
        ("MIUI Camera", False),
        ("14.4.2", False),
    ],
)
def test_editor_software_is_recognised(software, editor):
    """A Software tag naming a photo editor is evidence of editing; a phone's own camera firmware is not."""
    # Apps write UTF-8 into the ASCII tag, as here.
    exif = process(jpeg_bytes(scene((96, 64), 2), make_exif(make="X", software=software.encode()))).exif
    assert exif.software == software
    assert (exif.editor() is not None) is editor


@pytest.mark.parametrize("taken", ["0000:00:00 00:00:00", "    :  :     :  :  ", "2026:13:40 10:00:00", "yesterday"])
def test_invalid_time_is_none(taken):
    """Impossible or blank capture times become None."""
    exif = process(jpeg_bytes(scene((96, 64), 2), make_exif(make="X", taken=taken))).exif
    assert exif.taken_at is None


@pytest.mark.parametrize(
    "gps",
    [
        {1: "N", 2: (IFDRational(1, 0), IFDRational(0), IFDRational(0)), 3: "E", 4: dms(113, 0, 0)},
        {1: "N", 2: (IFDRational(27), IFDRational(42)), 3: "E", 4: dms(113, 0, 0)},
        {1: "N", 2: dms(91, 0, 0), 3: "E", 4: dms(113, 0, 0)},
        {1: "N", 2: dms(27, 75, 0), 3: "E", 4: dms(113, 0, 0)},
        {2: dms(27, 0, 0), 4: dms(113, 0, 0)},
        {1: "N", 2: dms(0, 0, 0), 3: "E", 4: dms(0, 0, 0)},
        {1: "N", 2: dms(27, 0, 0)},
    ],
    ids=["zero-denominator", "two-parts", "lat-91", "minutes-75", "no-refs", "null-island", "no-lng"],
)
def test_malformed_gps_is_none(gps):
    """GPS that cannot be a real position gives lat = lng = None, and the rest still parses."""
    exif = process(jpeg_bytes(scene((96, 64), 2), make_exif(make="Huawei", gps=gps))).exif
    assert (exif.lat, exif.lng, exif.make) == (None, None, "Huawei")


def test_make_and_model_are_cleaned():
    """NUL padding and trailing spaces are stripped from make and model."""
    exif = process(jpeg_bytes(scene((96, 64), 2), make_exif(make="OPPO\x00\x00 ", model="  PHB110   "))).exif
    assert (exif.make, exif.model) == ("OPPO", "PHB110")


def test_make_and_model_end_at_the_first_nul():
    """What follows a NUL inside Make/Model is junk, cut as exiftool cuts it ("ION230\\0F" is "ION230")."""
    exif = process(jpeg_bytes(scene((96, 64), 2), make_exif(make="WWL   \x00WWL", model="ION230\x00F"))).exif
    assert (exif.make, exif.model) == ("WWL", "ION230")


def test_no_exif_gives_none():
    """A file without any EXIF reports exif=None."""
    assert process(jpeg_bytes(scene((96, 64), 2))).exif is None


def test_exif_as_dict_is_json_safe(phone_jpeg):
    """as_dict() serialises with json and gives taken_at as ISO-8601."""
    as_dict = json.loads(json.dumps(process(phone_jpeg).exif.as_dict()))
    assert as_dict["taken_at"] == "2026-11-22T10:31:05+08:00"
    assert as_dict["orientation"] == 6


# --- rejections ----------------------------------------------------------------------------------


def test_truncated_jpeg_rejected_in_draft_mode(phone_jpeg, monkeypatch):
    """A phone JPEG cut in half is refused even though it is decoded at 1/4 scale."""
    sizes = draft_sizes(monkeypatch)
    error = rejection(phone_jpeg[: len(phone_jpeg) // 2])
    assert error.code == "photo_truncated"
    assert sizes == [(1008, 756)]


def test_jpeg_cut_short_and_closed_with_eoi_rejected(phone_jpeg):
    """Half a JPEG followed by an EOI marker (which libjpeg fills with gray) is refused."""
    assert rejection(phone_jpeg[: len(phone_jpeg) // 2] + b"\xff\xd9").code == "photo_truncated"


def test_jpeg_cut_inside_header_rejected(phone_jpeg):
    """A JPEG cut before its image data is refused as truncated, not as a non-image."""
    assert rejection(phone_jpeg[:300]).code == "photo_truncated"


def test_truncated_png_rejected():
    """A PNG cut in half is refused."""
    data = encode(scene((400, 300), 3), "PNG")
    assert rejection(data[: len(data) // 2]).code == "photo_truncated"


def test_png_bomb_rejected_quickly_with_little_memory():
    """A 30000x30000 PNG is refused from its header in well under a second without allocating it."""
    data = png_header(30000, 30000)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    error = rejection(data)
    elapsed = time.perf_counter() - started
    peak_growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before) / 1024
    assert error.code == "photo_too_many_pixels"
    assert elapsed < 0.5
    assert peak_growth_mb < 100  # decoding would need at least 900 MB


def test_pixels_over_limit_rejected_before_decode():
    """An image under Pillow's own bomb limit but over MAX_PIXELS is refused by the header check."""
    error = rejection(png_header(8000, 7000))
    assert error.code == "photo_too_many_pixels"
    assert error.details == {"width": 8000, "height": 7000, "pixels": 56_000_000, "max_pixels": 50_000_000}
    assert "5000 万像素" in error.message


def test_max_pixels_argument_is_honoured(phone_jpeg):
    """A smaller max_pixels refuses a 12 MP photo."""
    assert rejection(phone_jpeg, max_pixels=10_000_000).code == "photo_too_many_pixels"


def test_decompression_bomb_warning_raised_as_error_is_caught():
    """With warnings turned into errors, Pillow's DecompressionBombWarning still ends as a rejection."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        error = rejection(png_header(10000, 10000), max_pixels=200_000_000)
    assert error.code == "photo_too_many_pixels"


def test_empty_file_rejected():
    """Zero bytes are refused as empty."""
    error = rejection(b"")
    assert error.code == "photo_empty"
    assert error.message == "照片文件是空的，请重新拍摄或选择照片。"


def test_text_file_rejected():
    """A text file is refused as not an image."""
    error = rejection("村里的道路已经修好了。\n".encode() * 50)
    assert error.code == "photo_not_image"
    assert "不是图片" in error.message


def test_heic_rejected_as_unsupported_format():
    """HEIC bytes (which Pillow cannot open) are refused as an unsupported format, with a hint."""
    heic = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(2000)
    error = rejection(heic)
    assert (error.code, error.details) == ("photo_unsupported_format", {"format": "HEIC"})
    assert "兼容性最佳" in error.message


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "BMP"])
def test_other_image_formats_rejected(fmt):
    """GIF, TIFF and BMP are real images but not accepted."""
    error = rejection(encode(scene((96, 64), 2), fmt))
    assert (error.code, error.details) == ("photo_unsupported_format", {"format": fmt})


# --- conversions and other formats -------------------------------------------------------------


def test_cmyk_jpeg_converted_to_rgb():
    """A CMYK JPEG (drafted too) is accepted and red stays red."""
    cmyk = Image.new("CMYK", (2400, 1800), (0, 255, 255, 0))
    result = process(encode(cmyk, "JPEG", quality=90))
    preview = decoded(result.preview_jpeg)
    assert preview.mode == "RGB"
    assert preview.size == (1200, 900)
    red, green, blue = preview.getpixel((600, 450))
    assert red > 200 and green < 60 and blue < 60


def test_16_bit_png_scaled_not_clipped():
    """A 16-bit grayscale PNG keeps its mid-tones instead of clipping everything to white."""
    gray16 = Image.linear_gradient("L").resize((256, 256)).convert("I").point(lambda v: v * 257)
    data = encode(gray16.convert("I;16"), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    preview = decoded(process(data).preview_jpeg)
    value = preview.getpixel((128, 128))[0]
    assert 100 < value < 160


@pytest.mark.parametrize("mode", ["RGBA", "P"])
def test_transparent_png_composited_on_white(mode):
    """Transparent pixels of RGBA and palette PNGs become white, not black."""
    img = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    img.paste((200, 30, 30, 255), (0, 0, 100, 100))
    if mode == "P":
        img = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
        img.info["transparency"] = img.getpixel((150, 50))
    data = encode(img, "PNG", **({"transparency": img.info["transparency"]} if mode == "P" else {}))
    preview = decoded(process(data).preview_jpeg)
    assert all(channel > 240 for channel in preview.getpixel((150, 50)))
    red, green, blue = preview.getpixel((50, 50))
    assert red > 150 and green < 80 and blue < 80


def test_webp_accepted():
    """A WebP photo is accepted and resized to the preview range."""
    result = process(encode(scene((2000, 1500), 4), "WEBP", quality=80))
    assert result.format == "WEBP"
    assert decoded(result.preview_jpeg).size == (1280, 960)


def test_mpo_is_treated_as_jpeg():
    """A multi-picture JPEG (depth or gain map frames, opened by Pillow as MPO) counts as JPEG."""
    first = scene((2400, 1800), 5)
    data = encode(first, "MPO", save_all=True, append_images=[first.resize((600, 450))])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    result = process(data)
    assert result.format == "JPEG"
    assert decoded(result.preview_jpeg).size == (1200, 900)


def test_small_photo_is_not_enlarged():
    """A photo smaller than the preview range keeps its size; the watermark still fits."""
    result = process(jpeg_bytes(scene((80, 64), 6)), watermark=WATERMARK)
    assert decoded(result.preview_jpeg).size == (80, 64)
    assert decoded(result.thumb_jpeg).size == (80, 64)


# --- derivatives -------------------------------------------------------------------------------


def test_thumbnail_long_side_320_without_metadata(phone_jpeg):
    """The thumbnail is 320 px on its long side and has no EXIF or other APP1 segment."""
    result = process(phone_jpeg)
    thumb = Image.open(io.BytesIO(result.thumb_jpeg))
    assert max(thumb.size) == 320
    assert not thumb.getexif()
    assert b"\xff\xe1" not in result.thumb_jpeg


def test_preview_has_no_exif_or_gps(phone_jpeg):
    """The watermarked preview carries no EXIF, so no GPS position leaks through it."""
    result = process(phone_jpeg, watermark=WATERMARK)
    preview = Image.open(io.BytesIO(result.preview_jpeg))
    assert "exif" not in preview.info
    assert not preview.getexif().get_ifd(0x8825)
    assert b"\xff\xe1" not in result.preview_jpeg


def test_preview_sha256_matches_preview(phone_jpeg):
    """preview_sha256 is the sha256 of preview_jpeg."""
    result = process(phone_jpeg)
    assert result.preview_sha256 == hashlib.sha256(result.preview_jpeg).hexdigest()


# --- perceptual hash -----------------------------------------------------------------------------


def test_dhash_is_64_bit_unsigned(phone_jpeg):
    """phash is an unsigned 64-bit integer."""
    assert 0 <= process(phone_jpeg).phash < 2**64


def test_dhash_of_reencoded_photo_is_near():
    """The same picture at another size and quality has a dHash within DHASH_NEAR."""
    picture = scene((2000, 1500), 7)
    first = process(jpeg_bytes(picture, quality=92)).phash
    second = process(jpeg_bytes(picture.resize((900, 675)), quality=50)).phash
    assert hamming(first, second) <= DHASH_NEAR


def test_dhash_of_different_photos_is_far():
    """Different pictures are far apart."""
    first = process(jpeg_bytes(scene((1600, 1200), 8))).phash
    second = process(jpeg_bytes(scene((1600, 1200), 9))).phash
    assert hamming(first, second) > 3 * DHASH_NEAR


def test_dhash_bits_follow_brightness():
    """Brightness rising to the right sets every bit; falling sets none."""
    rising = Image.linear_gradient("L").rotate(90).resize((90, 80))
    assert dhash(rising) == 2**64 - 1
    assert dhash(rising.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) == 0


def test_hamming_counts_differing_bits():
    """hamming() counts set bits of the XOR."""
    assert hamming(0b1011, 0b0001) == 2
    assert hamming(2**64 - 1, 0) == 64


def test_hash_bands_split_24_20_20():
    """Three bands of 24, 20 and 20 bits that rebuild the hash."""
    value = random.Random(1).getrandbits(64)
    bands = hash_bands(value)
    assert len(bands) == HASH_BANDS
    rebuilt = 0
    for band, bits in zip(bands, (24, 20, 20), strict=True):
        assert 0 <= band < 2**bits
        rebuilt = (rebuilt << bits) | band
    assert rebuilt == value


def test_band_probes_meet_every_hash_within_the_distance():
    """A hash up to NEAR_DUPLICATE_DISTANCE bits off, however its flips fall over the bands, has a band value among the probes."""
    rng = random.Random(20261122)
    positions = [[bit for bit in range(64) if hash_bands(1 << bit)[band]] for band in range(HASH_BANDS)]
    for _ in range(3000):
        first = rng.getrandbits(64)
        distance = rng.randint(0, NEAR_DUPLICATE_DISTANCE)
        # Half the time as evenly over the bands as possible: the case a band index finds hardest.
        counts = [distance // HASH_BANDS + (band < distance % HASH_BANDS) for band in range(HASH_BANDS)]
        rng.shuffle(counts)
        flips = (
            [bit for band, n in enumerate(counts) for bit in rng.sample(positions[band], n)]
            if rng.random() < 0.5
            else rng.sample(range(64), distance)
        )
        second = first
        for bit in flips:
            second ^= 1 << bit
        assert hamming(first, second) == distance
        assert any(value in probes for value, probes in zip(hash_bands(second), band_probes(first), strict=True))
    # One bit more, spread 3-3-3, and no band is within reach: the radius is as small as it can be.
    spread = [bit for band in range(HASH_BANDS) for bit in positions[band][:3]]
    second = first
    for bit in spread:
        second ^= 1 << bit
    assert not any(value in probes for value, probes in zip(hash_bands(second), band_probes(first), strict=True))


@pytest.mark.parametrize("value", [-1, 2**64])
def test_hash_bands_rejects_out_of_range(value):
    """Values outside 0..2**64-1 are refused."""
    with pytest.raises(ValueError):
        hash_bands(value)


# --- watermark and fonts -------------------------------------------------------------------------


def test_watermark_changes_bottom_left_only(phone_jpeg):
    """The watermark alters the bottom-left of the preview and leaves the top-right untouched."""
    plain = decoded(process(phone_jpeg).preview_jpeg)
    marked = decoded(process(phone_jpeg, watermark=WATERMARK).preview_jpeg)
    width, height = plain.size
    difference = ImageChops.difference(plain, marked)
    bottom_left = difference.crop((0, height * 3 // 4, width // 3, height)).convert("L")
    assert sum(bottom_left.histogram()[40:]) > 0.2 * bottom_left.width * bottom_left.height
    assert difference.crop((width // 2, 0, width, height // 2)).getbbox() is None


def test_watermark_does_not_change_thumbnail_or_hash(phone_jpeg):
    """The thumbnail and phash are made before the watermark is drawn."""
    plain, marked = process(phone_jpeg), process(phone_jpeg, watermark=WATERMARK)
    assert (plain.thumb_jpeg, plain.phash) == (marked.thumb_jpeg, marked.phash)
    assert plain.preview_sha256 != marked.preview_sha256


def test_long_watermark_text_stays_inside_the_photo(phone_jpeg):
    """A very long place name is cut short: the box never reaches the right edge of the preview."""
    long_place = Watermark(time=WATERMARK.time, place="湖南省长沙市" * 40, person="张三", verify_code="Q" * 10)
    plain = decoded(process(phone_jpeg).preview_jpeg)
    marked = decoded(process(phone_jpeg, watermark=long_place).preview_jpeg)
    difference = ImageChops.difference(plain, marked)
    width, height = plain.size
    assert difference.crop((width // 2, height // 2, width - 20, height)).getbbox() is not None
    assert difference.crop((width - 4, 0, width, height)).getbbox() is None  # last JPEG block column


def test_watermark_requires_timezone_aware_time():
    """A naive watermark time is refused."""
    with pytest.raises(ValueError):
        Watermark(time=datetime(2026, 11, 22, 10, 31), place="永阳镇", person="", verify_code="A" * 10)


def test_watermark_without_person_or_title(phone_jpeg):
    """A villager's photo (no person, no title) is watermarked too."""
    villager = Watermark(time=WATERMARK.time, place="永阳镇 江南村", person="", verify_code="Q" * 10)
    assert process(phone_jpeg, watermark=villager).preview_sha256 != process(phone_jpeg).preview_sha256


def test_watermark_falls_back_without_cjk_font(phone_jpeg, monkeypatch, caplog, fresh_font_cache):
    """Without a CJK font the watermark uses Pillow's default font and warns once."""
    monkeypatch.setattr(watermark, "find_cjk_font", lambda: None)
    with caplog.at_level(logging.WARNING, logger="server.imaging.watermark"):
        process(phone_jpeg, watermark=WATERMARK)
        process(phone_jpeg, watermark=WATERMARK)
    warnings_logged = [r for r in caplog.records if "No CJK font" in r.getMessage()]
    assert len(warnings_logged) == 1


def test_cjk_font_path_from_environment(tmp_path, monkeypatch):
    """CJK_FONT_PATH wins when it names a file."""
    font = tmp_path / "my-font.ttf"
    font.write_bytes(b"not really a font")
    monkeypatch.setenv("CJK_FONT_PATH", str(font))
    assert find_cjk_font() == str(font)


def test_find_cjk_font_finds_noto(monkeypatch):
    """With fonts-noto-cjk installed the font found draws 中 differently from a missing glyph."""
    if not NOTO_CJK.exists():
        missing_component("fonts-noto-cjk is not installed (apt-get install -y fonts-noto-cjk)")
    monkeypatch.delenv("CJK_FONT_PATH", raising=False)
    path = find_cjk_font()
    assert path == str(NOTO_CJK)
    font = ImageFont.truetype(path, 40, index=watermark.simplified_face(path))
    assert font.getname()[0] == "Noto Sans CJK SC"
    assert glyph(font, "中") != glyph(font, "\U000f0000")  # a private-use character: no glyph


def test_fontconfig_lookup_uses_zh_cn(monkeypatch):
    """Without known paths, fontconfig finds the CJK font (':lang=zh' would answer DejaVu)."""
    if shutil.which("fc-match") is None or not NOTO_CJK.exists():
        missing_component("needs fontconfig and fonts-noto-cjk (scripts/test.sh installs both)")
    monkeypatch.delenv("CJK_FONT_PATH", raising=False)
    monkeypatch.setattr(watermark, "_CJK_FONT_CANDIDATES", ())
    assert "CJK" in find_cjk_font()


def test_fontconfig_answer_without_chinese_is_ignored(tmp_path, monkeypatch):
    """When fontconfig only knows Latin fonts, find_cjk_font() returns None instead of DejaVu."""
    dejavu = Path("/usr/share/fonts/truetype/dejavu")
    if shutil.which("fc-match") is None or not dejavu.is_dir():
        missing_component("needs fontconfig and fonts-dejavu-core (scripts/test.sh installs both)")
    config = tmp_path / "fonts.conf"
    config.write_text(
        f'<?xml version="1.0"?><fontconfig><dir>{dejavu}</dir><cachedir>{tmp_path / "cache"}</cachedir></fontconfig>'
    )
    monkeypatch.setenv("FONTCONFIG_FILE", str(config))
    monkeypatch.delenv("CJK_FONT_PATH", raising=False)
    monkeypatch.setattr(watermark, "_CJK_FONT_CANDIDATES", ())
    latin_only = subprocess.run(["fc-match", "-f", "%{file}", ":lang=zh-cn"], capture_output=True, text=True)
    assert "dejavu" in latin_only.stdout.lower()
    assert find_cjk_font() is None


# --- real phone and camera files -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "make", "model", "taken_at", "lat", "lng"),
    [
        (IPHONE11, "Apple", "iPhone 11", "2021-05-18T14:41:44-07:00", 47.604233, -122.130058),
        (PIXEL5, "Google", "Pixel 5", "2021-05-18T14:42:05-07:00", 47.604339, -122.130044),
    ],
)
def test_real_portrait_phone_photos(real_photos, name, make, model, taken_at, lat, lng):
    """iPhone 11 and Pixel 5 photos (Orientation 6) come out portrait with their real EXIF."""
    result = process((real_photos / name).read_bytes())
    print(name, result.width, result.height, result.exif.as_dict())
    assert (result.width, result.height) == (3024, 4032)
    assert decoded(result.preview_jpeg).size == (756, 1008)
    assert (result.exif.make, result.exif.model, result.exif.orientation) == (make, model, 6)
    assert result.exif.taken_at.isoformat() == taken_at
    assert result.exif.lat == pytest.approx(lat, abs=1e-6)
    assert result.exif.lng == pytest.approx(lng, abs=1e-6)


def test_real_iphone_drafted_to_quarter_scale(real_photos, monkeypatch):
    """The real iPhone 11 photo is drafted to 1008x756."""
    sizes = draft_sizes(monkeypatch)
    process((real_photos / IPHONE11).read_bytes())
    assert sizes == [(1008, 756)]


def test_real_nokia_wide_photo_preview_in_range(real_photos):
    """The Nokia 21:9 photo's preview long side lies in [1000, 1280]."""
    result = process((real_photos / NOKIA).read_bytes())
    preview = decoded(result.preview_jpeg)
    print(NOKIA, preview.size, result.exif.as_dict())
    assert 1000 <= max(preview.size) <= 1280
    assert preview.size == (1152, 494)
    assert result.exif.taken_at.isoformat() == "2022-08-14T14:12:31+03:00"
    assert (result.exif.lat, result.exif.lng) == pytest.approx((60.146706, 24.906772), abs=1e-6)


def test_real_iphone6_preview_resized_to_1280(real_photos):
    """A 3264x2448 photo is drafted to 1/2 and resized to a 1280 px preview."""
    result = process((real_photos / IPHONE6_HDR).read_bytes())
    print(IPHONE6_HDR, result.exif.as_dict())
    assert decoded(result.preview_jpeg).size == (1280, 960)
    assert result.exif.lng < 0  # Madrid: west of Greenwich


def test_real_small_nikon_photo(real_photos):
    """The 640x480 Nikon photo keeps its size and its GPS position."""
    result = process((real_photos / NIKON_GPS).read_bytes())
    print(NIKON_GPS, result.exif.as_dict())
    assert decoded(result.preview_jpeg).size == (640, 480)
    assert (result.exif.lat, result.exif.lng) == pytest.approx((43.467448, 11.885127), abs=1e-6)
    assert result.exif.taken_at.isoformat() == "2008-10-22T16:28:39+08:00"


def test_real_malformed_string_exif_does_not_crash(real_photos):
    """67-0_length_string: the broken Exif IFD is skipped; IFD0 and GPS still parse."""
    result = process((real_photos / LENGTH_STRING).read_bytes())
    print(LENGTH_STRING, result.exif.as_dict())
    assert (result.exif.make, result.exif.model) == ("samsung", "SM-G930F")
    assert result.exif.taken_at is None  # only IFD0 DateTime: a last-modified time, not a capture time
    assert result.exif.modified_at.isoformat() == "2016-09-12T10:05:31+08:00"
    assert (result.exif.lat, result.exif.lng) == pytest.approx((51.025, 7.591944), abs=1e-6)


def test_real_os_error_exif_does_not_crash(real_photos):
    """87_OSError: EXIF that once made Pillow raise parses, GPS with decimal minutes included."""
    result = process((real_photos / OS_ERROR).read_bytes())
    print(OS_ERROR, result.exif.as_dict())
    assert (result.exif.make, result.exif.model) == ("NIKON CORPORATION", "NIKON D70s")
    assert (result.exif.lat, result.exif.lng) == pytest.approx((43.785594, 11.234619), abs=1e-6)


def test_real_corrupted_jpeg_rejected_but_exif_readable(real_photos):
    """exifsamples_jpg_corrupted.jpg decodes with a gray-filled bottom: refused; its EXIF is clean."""
    data = (real_photos / CORRUPTED).read_bytes()
    assert rejection(data).code == "photo_truncated"
    with Image.open(io.BytesIO(data)) as img:
        exif = read_exif(img)
    print(CORRUPTED, exif.as_dict())
    assert (exif.make, exif.model) == ("OLYMPUS IMAGING CORP.", "u1020,S1020")
    assert exif.taken_at.isoformat() == "2015-09-08T11:02:17+08:00"


def test_real_truncated_iphone_rejected(real_photos):
    """The real iPhone photo cut in half is refused."""
    data = (real_photos / IPHONE11).read_bytes()
    assert rejection(data[: len(data) // 2]).code == "photo_truncated"


def test_real_photo_reencoded_is_near_duplicate(real_photos):
    """The iPhone photo at half size and quality 60 (EXIF kept) is a near duplicate."""
    data = (real_photos / IPHONE11).read_bytes()
    with Image.open(io.BytesIO(data)) as img:
        smaller = jpeg_bytes(img.resize((2016, 1512)), img.getexif(), quality=60)
    original, copy = process(data), process(smaller)
    print("iPhone 11 re-encoded, dHash distance", hamming(original.phash, copy.phash))
    assert hamming(original.phash, copy.phash) <= DHASH_NEAR
    assert coarse_pairs(query_hashes(copy.region_hashes), original.region_hashes)


def test_real_different_photos_are_far(real_photos):
    """Whole-frame dHashes of different scenes are far apart, including two phones shooting the same object."""
    hashes = {name: process((real_photos / name).read_bytes()).phash for name in (IPHONE11, PIXEL5, NOKIA, NIKON_GPS)}
    names = list(hashes)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            apart = hamming(hashes[first], hashes[second])
            print(first, second, apart)
            assert apart > 3 * DHASH_NEAR
