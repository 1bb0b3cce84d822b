"""Verification and derivatives of uploaded evidence photos.

Phones send 12 MP JPEGs (4032x3024, ~4 MB, EXIF Orientation 6). Decoding and rotating such a
photo at full size costs ~250 ms and ~140 MB, so JPEGs are decoded by libjpeg at a reduced
scale (``draft``) straight to preview size, and everything else (rotation, thumbnail,
perceptual hashes, watermark) works on that small image. The hashes themselves are in
server/phash.py.
"""

import contextlib
import functools
import hashlib
import io
import logging
import math
import os
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from PIL import ExifTags, Image, ImageDraw, ImageFont, UnidentifiedImageError

from server.phash import RegionHash, dhash
from server.phash import region_hashes as phash_regions

log = logging.getLogger(__name__)

MAX_PIXELS = 50_000_000
# Below this on the short side a file is an icon or a strip, not evidence (and the watermark
# box would not fit).
MIN_SHORT_SIDE = 64
ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})

THUMB_LONG_SIDE = 320
PREVIEW_MIN_LONG_SIDE = 1000
PREVIEW_MAX_LONG_SIDE = 1280
THUMB_QUALITY = 80
PREVIEW_QUALITY = 82

CHINA_TZ = timezone(timedelta(hours=8))

# Pillow opens phone JPEGs that carry extra frames (depth maps, gain maps) as "MPO"; the
# first frame is an ordinary JPEG, so they are treated as JPEG.
_FORMAT_ALIASES = {"MPO": "JPEG"}

# Major brands of ISO-BMFF still images: Pillow cannot open them, but the user must be told
# "wrong format" (iPhones save HEIC by default), not "not a picture".
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}

# What Pillow raises on damaged data while opening or decoding a recognised format.
_DAMAGED_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error)

# Image.transpose() operation that turns the stored pixels upright, per EXIF Orientation.
_ORIENTATION_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

_EXIF_DATETIME = re.compile(r"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")
# An XMP date: seconds and fraction optional, a zone ("Z", "+02:00") usually present.
_XMP_DATETIME = re.compile(r"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
# XMP properties read as exiftool reads them, as attributes (x="v") or elements (<x>v</x>).
# "xap" is the prefix of the first XMP namespace, still written by Photoshop CS2.
_XMP_PROPERTY = re.compile(
    rb"(exif:DateTimeOriginal|exif:DateTimeDigitized|xmp:CreateDate|xap:CreateDate|tiff:Orientation)"
    rb"""(?:\s*=\s*["']([^"'<>]*)["']|>([^<]*)<)"""
)
# Software tags of photo editors and beautifying apps (lower case, matched as substrings).
EDITOR_SOFTWARE = (
    "photoshop", "lightroom", "gimp", "snapseed", "picsart", "pixelmator", "affinity photo", "paint.net",
    "picasa", "fotor", "photoscape", "facetune", "vsco", "noise ninja",
    "美图秀秀", "meitu", "mtxx", "醒图", "hypic", "黄油相机", "butter camera", "轻颜", "faceu",
)
# Make/Model are short ASCII names; a malformed tag must not put kilobytes into the database.
_MAX_TEXT_TAG = 100

_CJK_FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)

_WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
_WHITE = (255, 255, 255)
_ACCENT = (255, 204, 0)
_MUTED = (215, 215, 215)


class PhotoRejected(Exception):
    """The file is not an acceptable photo. Attributes: code (str), message (Chinese, for the user), details (dict)."""

    def __init__(self, code: str, message: str, details: dict | None = None):
        """Keep code, user message and details; str(exc) gives "code: message" for logs."""
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details or {}


@dataclass(frozen=True)
class ExifInfo:
    """What the camera recorded: capture time, GPS position, device and orientation.

    taken_at is DateTimeOriginal, else DateTimeDigitized (EXIF, else XMP), never IFD0 DateTime:
    that is the time the file was last written, by the camera or by an editor. tz_assumed says
    that no offset was recorded and China time was assumed. modified_at (IFD0 DateTime) and
    software are kept as evidence of editing.
    """

    taken_at: datetime | None
    lat: float | None
    lng: float | None
    make: str | None
    model: str | None
    orientation: int | None
    tz_assumed: bool = False
    modified_at: datetime | None = None
    software: str | None = None

    def as_dict(self) -> dict:
        """JSON-safe dict: times as ISO-8601 strings, the other fields as they are."""
        return {
            "taken_at": self.taken_at.isoformat() if self.taken_at else None,
            "lat": self.lat,
            "lng": self.lng,
            "make": self.make,
            "model": self.model,
            "orientation": self.orientation,
            "tz_assumed": self.tz_assumed,
            "modified_at": self.modified_at.isoformat() if self.modified_at else None,
            "software": self.software,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "ExifInfo":
        """The inverse of as_dict (keys missing from rows stored before a field existed are None)."""
        def when(key):
            return datetime.fromisoformat(data[key]) if data.get(key) else None

        return cls(
            taken_at=when("taken_at"), lat=data.get("lat"), lng=data.get("lng"), make=data.get("make"),
            model=data.get("model"), orientation=data.get("orientation"),
            tz_assumed=bool(data.get("tz_assumed")), modified_at=when("modified_at"), software=data.get("software"),
        )

    def editor(self) -> str | None:
        """The Software tag when it names a photo editor, else None."""
        if self.software and any(name in self.software.lower() for name in EDITOR_SOFTWARE):
            return self.software
        return None


@dataclass(frozen=True)
class Watermark:
    """Text burned into the preview: receive time, place, person, verification code, title."""

    time: datetime
    place: str
    person: str
    verify_code: str
    title: str | None = None

    def __post_init__(self):
        """Refuse a naive time: it would be rendered in whatever zone the server runs in."""
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise ValueError("Watermark.time must be timezone-aware")


@dataclass(frozen=True)
class ProcessedPhoto:
    """A verified photo: its format, upright size, EXIF, perceptual hashes and derivatives.

    phash is the whole-frame dHash; region_hashes and structure are server.phash's
    crop- and rotation-tolerant hashes of the upright thumbnail and its flat-frame measure.
    """

    format: str
    width: int
    height: int
    exif: ExifInfo | None
    phash: int
    region_hashes: tuple[RegionHash, ...]
    structure: float
    thumb_jpeg: bytes
    preview_jpeg: bytes
    preview_sha256: str


def process_photo(fp, *, watermark: Watermark | None = None, max_pixels: int = MAX_PIXELS) -> ProcessedPhoto:
    """Verify a photo file (seekable binary file object) and produce its derivatives; raise PhotoRejected."""
    fp.seek(0, os.SEEK_END)
    if fp.tell() == 0:
        raise PhotoRejected("photo_empty", "照片文件是空的，请重新拍摄或选择照片。")
    fp.seek(0)
    with _open_image(fp, max_pixels) as img:
        fmt = _FORMAT_ALIASES.get(img.format, img.format)
        stored_size = img.size  # draft() below shrinks img.size
        small = _decode_small(img, fmt)
        # Read after decoding: PNG and WebP may store EXIF behind the pixel data.
        exif = read_exif(img)
        if small is not img:
            img.close()  # do not hold a full-size PNG or WebP decode any longer

        orientation = exif.orientation if exif and exif.orientation else 1
        width, height = stored_size
        if orientation in (5, 6, 7, 8):
            width, height = height, width
        preview = small
        if orientation in _ORIENTATION_TRANSPOSE:
            preview = small.transpose(_ORIENTATION_TRANSPOSE[orientation])
            small.close()

        # resize() always returns a new image, so the watermark never lands on the thumbnail.
        # reducing_gap=1.0 box-averages by the whole factor (3 for 1008 -> 320) before the
        # bilinear pass: half the cost of a plain bilinear resize, same look at 320 px.
        thumb = preview.resize(
            _fit(preview.size, THUMB_LONG_SIDE), Image.Resampling.BILINEAR, reducing_gap=1.0
        )
        phash = dhash(thumb)
        region_hashes, structure = phash_regions(thumb)
        thumb_jpeg = _encode_jpeg(thumb, THUMB_QUALITY)
        thumb.close()
        if watermark is not None:
            _draw_watermark(preview, watermark)
        preview_jpeg = _encode_jpeg(preview, PREVIEW_QUALITY)
        preview.close()
    return ProcessedPhoto(
        format=fmt,
        width=width,
        height=height,
        exif=exif,
        phash=phash,
        region_hashes=region_hashes,
        structure=structure,
        thumb_jpeg=thumb_jpeg,
        preview_jpeg=preview_jpeg,
        preview_sha256=hashlib.sha256(preview_jpeg).hexdigest(),
    )


def _open_image(fp, max_pixels: int) -> Image.Image:
    """Open fp with Pillow (header only) and refuse what is not an allowed, reasonably sized image."""
    try:
        img = Image.open(fp)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow refuses > 2x its own limit at open(); the warning only arrives as an exception
        # when warnings are turned into errors.
        raise _too_many_pixels(max_pixels, {"reason": str(exc)}) from exc
    except UnidentifiedImageError as exc:
        fp.seek(0)
        heif_format = _heif_format(fp.read(12))
        if heif_format:
            raise _unsupported(heif_format) from exc
        raise PhotoRejected("photo_not_image", "上传的文件不是图片，请选择照片上传。") from exc
    except _DAMAGED_ERRORS as exc:
        raise _damaged(exc) from exc

    fmt = _FORMAT_ALIASES.get(img.format, img.format)
    width, height = img.size
    if fmt not in ALLOWED_FORMATS:
        img.close()
        raise _unsupported(img.format or "unknown")
    if width * height > max_pixels:
        img.close()
        raise _too_many_pixels(
            max_pixels, {"width": width, "height": height, "pixels": width * height}
        )
    if min(width, height) < MIN_SHORT_SIDE:
        img.close()
        raise PhotoRejected(
            "photo_too_small",
            f"照片太小(短边不足 {MIN_SHORT_SIDE} 像素),请上传相机拍摄的原图。",
            {"width": width, "height": height, "min_short_side": MIN_SHORT_SIDE},
        )
    return img


def _heif_format(head: bytes) -> str | None:
    """Name of the HEIF-family format whose ISO-BMFF header starts head, if any."""
    if head[4:8] != b"ftyp":
        return None
    brand = head[8:12]
    if brand in _HEIF_BRANDS:
        return "HEIC"
    if brand in _AVIF_BRANDS:
        return "AVIF"
    return None


def _unsupported(fmt: str) -> PhotoRejected:
    """Rejection for a real image in a format the service does not take."""
    message = f"不支持 {fmt} 格式的图片，请上传 JPEG、PNG 或 WebP 格式的照片。"
    if fmt == "HEIC":
        message += "iPhone 可在“设置 > 相机 > 格式”中选择“兼容性最佳”。"
    return PhotoRejected("photo_unsupported_format", message, {"format": fmt})


def _too_many_pixels(max_pixels: int, details: dict) -> PhotoRejected:
    """Rejection for an image above the pixel limit (a decompression bomb or a huge scan)."""
    return PhotoRejected(
        "photo_too_many_pixels",
        f"照片像素过大，请上传不超过 {max_pixels / 10_000:g} 万像素的照片。",
        {**details, "max_pixels": max_pixels},
    )


def _damaged(exc: Exception | None) -> PhotoRejected:
    """Rejection for a file whose image data is cut off or corrupt."""
    details = {"reason": str(exc)} if exc else {"reason": "decoder filled missing data"}
    return PhotoRejected("photo_truncated", "照片文件不完整或已损坏，请重新上传。", details)


def _decode_small(img: Image.Image, fmt: str) -> Image.Image:
    """Decode img to RGB, stored orientation, long side at most the preview maximum.

    Returns img itself when the JPEG draft already gives such an image: copying it would cost
    a few milliseconds of the ~50 a photo takes.
    """
    width, height = img.size
    long_side = max(width, height)
    if fmt == "JPEG" and long_side > PREVIEW_MAX_LONG_SIDE:
        # draft() picks the smallest 1/2, 1/4, 1/8 scale still covering the box, per axis: the
        # box must have the photo's own aspect ratio or a 4:3 photo would not shrink at all.
        ratio = PREVIEW_MIN_LONG_SIDE / long_side
        img.draft("RGB", (max(1, int(width * ratio)), max(1, int(height * ratio))))
    try:
        img.load()
    except _DAMAGED_ERRORS as exc:
        raise _damaged(exc) from exc
    if fmt == "JPEG" and _ends_in_fill(img):
        raise _damaged(None)
    rgb = _to_rgb(img)
    if max(rgb.size) <= PREVIEW_MAX_LONG_SIDE:
        return rgb
    small = rgb.resize(_fit(rgb.size, PREVIEW_MAX_LONG_SIDE), Image.Resampling.BILINEAR)
    if rgb is not img:
        rgb.close()
    return small


def _ends_in_fill(img: Image.Image) -> bool:
    """Whether the decoded JPEG ends in libjpeg's filler: a bottom row of pure (128, 128, 128).

    Pillow already refuses a file that simply stops early. But when the entropy data is
    corrupt or a marker follows too soon (a file cut short and closed with EOI), libjpeg only
    warns and fills the remaining blocks with zero coefficients, i.e. flat mid-gray, and
    Pillow reports success. A camera photo never has an exactly uniform 128-gray bottom row.
    """
    if img.mode not in ("RGB", "L"):
        return False
    bottom = img.crop((0, img.height - 1, img.width, img.height))
    extrema = bottom.getextrema()
    bands = extrema if img.mode == "RGB" else (extrema,)
    return all(band == (128, 128) for band in bands)


def _to_rgb(img: Image.Image) -> Image.Image:
    """img as RGB: transparency over white, 16-bit gray scaled down rather than clipped."""
    if img.mode == "RGB":
        return img
    if img.mode.startswith("I"):
        # convert() would clip every value above 255 to white: scale 16-bit gray to 8 bits
        # first (point() keeps the 2-byte I;16 pixels, no 4-byte "I" copy of the image).
        return img.point(lambda v: v / 256).convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        rgb = Image.new("RGB", img.size, _WHITE)
        rgb.paste(rgba, mask=rgba)
        rgba.close()
        return rgb
    return img.convert("RGB")


def _fit(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """size scaled down so that its long side is at most long_side (never scaled up)."""
    width, height = size
    current = max(width, height)
    if current <= long_side:
        return size
    return max(1, round(width * long_side / current)), max(1, round(height * long_side / current))


def _encode_jpeg(img: Image.Image, quality: int) -> bytes:
    """Baseline JPEG without any metadata; Huffman optimisation is off because it costs time."""
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality, optimize=False)
    return buf.getvalue()


def read_exif(img) -> ExifInfo | None:
    """Capture time, GPS position, make, model and orientation of an opened image; None without EXIF or XMP."""
    try:
        exif = img.getexif()
    except Exception:  # uploaded metadata is hostile input: unreadable means absent
        log.info("unreadable EXIF", exc_info=True)
        exif = Image.Exif()
    xmp = _read_xmp(img)
    if not exif and not xmp:
        return None
    exif_ifd = _sub_ifd(exif, ExifTags.IFD.Exif)
    gps_ifd = _sub_ifd(exif, ExifTags.IFD.GPSInfo)
    lat = _gps_coordinate(
        gps_ifd.get(ExifTags.GPS.GPSLatitude), gps_ifd.get(ExifTags.GPS.GPSLatitudeRef), "N", "S", 90
    )
    lng = _gps_coordinate(
        gps_ifd.get(ExifTags.GPS.GPSLongitude), gps_ifd.get(ExifTags.GPS.GPSLongitudeRef), "E", "W", 180
    )
    # Phones without a fix write 0/0; one half of a position is no position.
    if lat is None or lng is None or (lat == 0 and lng == 0):
        lat = lng = None
    orientation = exif.get(ExifTags.Base.Orientation)
    if not (type(orientation) is int and 1 <= orientation <= 8):
        orientation = _xmp_orientation(xmp.get(b"tiff:Orientation"))
    taken_at, tz_assumed = _taken_at(exif_ifd, xmp)
    modified = _parse_exif_datetime(exif.get(ExifTags.Base.DateTime))
    modified_tz = _parse_exif_offset(exif_ifd.get(ExifTags.Base.OffsetTime)) or CHINA_TZ
    return ExifInfo(
        taken_at=taken_at,
        lat=lat,
        lng=lng,
        make=_text_tag(exif.get(ExifTags.Base.Make)),
        model=_text_tag(exif.get(ExifTags.Base.Model)),
        orientation=orientation,
        tz_assumed=tz_assumed,
        modified_at=modified.replace(tzinfo=modified_tz) if modified else None,
        software=_text_tag(exif.get(ExifTags.Base.Software)),
    )


def _sub_ifd(exif: Image.Exif, tag: int) -> dict:
    """A sub-IFD (Exif, GPS) as a dict; empty when missing or malformed."""
    try:
        return dict(exif.get_ifd(tag))
    except Exception:  # a broken sub-IFD must not hide the readable IFD0 fields
        log.info("unreadable EXIF sub-IFD 0x%04x", tag, exc_info=True)
        return {}


def _read_xmp(img) -> dict[bytes, str]:
    """The XMP properties read here (first non-blank value of each), from a JPEG, WebP or PNG packet."""
    packet = img.info.get("xmp") or img.info.get("XML:com.adobe.xmp") or b""
    if isinstance(packet, str):
        packet = packet.encode("utf-8", errors="ignore")
    found: dict[bytes, str] = {}
    for match in _XMP_PROPERTY.finditer(packet[:1_000_000]):
        value = (match.group(2) or match.group(3) or b"").decode("utf-8", errors="ignore").strip()
        if value:
            found.setdefault(match.group(1), value)
    return found


def _xmp_orientation(value: str | None) -> int | None:
    """An XMP tiff:Orientation as an int 1..8; None otherwise."""
    return int(value) if value and value.isdigit() and 1 <= int(value) <= 8 else None


def _taken_at(exif_ifd: dict, xmp: dict[bytes, str]) -> tuple[datetime | None, bool]:
    """The capture time and whether its zone was assumed: exiftool's DateTimeOriginal, else CreateDate.

    EXIF before XMP, each with its own offset (OffsetTimeOriginal / OffsetTimeDigitized, or
    the zone inside an XMP date); without one, China time is assumed and that is said.
    IFD0 DateTime is never used: it is when the file was last written, e.g. by an editor.
    """
    tags = ExifTags.Base
    candidates = (
        (exif_ifd.get(tags.DateTimeOriginal), exif_ifd.get(tags.OffsetTimeOriginal)),
        (xmp.get(b"exif:DateTimeOriginal"), None),
        (exif_ifd.get(tags.DateTimeDigitized), exif_ifd.get(tags.OffsetTimeDigitized)),
        (xmp.get(b"xmp:CreateDate") or xmp.get(b"xap:CreateDate"), None),
        (xmp.get(b"exif:DateTimeDigitized"), None),
    )
    for value, offset in candidates:
        local, zone = _parse_any_datetime(value)
        if local is None:
            continue
        zone = zone or _parse_exif_offset(offset)
        return local.replace(tzinfo=zone or CHINA_TZ), zone is None
    return None, False


def _parse_any_datetime(value) -> tuple[datetime | None, timezone | None]:
    """An EXIF "YYYY:MM:DD HH:MM:SS" or XMP ISO-8601 date, with the zone it carries (if any)."""
    local = _parse_exif_datetime(value)
    if local is not None or not isinstance(value, str):
        return local, None
    match = _XMP_DATETIME.fullmatch(value.strip())
    if not match:
        return None, None
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    except ValueError:
        return None, None
    return local, (UTC if zone == "Z" else _parse_exif_offset(zone))


def _parse_exif_datetime(value) -> datetime | None:
    """Naive datetime from an EXIF "YYYY:MM:DD HH:MM:SS" string; None if absent or invalid."""
    text = _text_tag(value)
    match = _EXIF_DATETIME.fullmatch(text) if text else None
    if not match:
        return None
    try:
        return datetime(*(int(part) for part in match.groups()))
    except ValueError:  # "0000:00:00 00:00:00" and other impossible dates
        return None


def _parse_exif_offset(value) -> timezone | None:
    """Timezone from an EXIF offset such as "+08:00"; None if absent or invalid."""
    text = _text_tag(value)
    match = _EXIF_OFFSET.fullmatch(text) if text else None
    if not match:
        return None
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3))
    if hours > 14 or minutes >= 60:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return timezone(-delta if sign == "-" else delta)


def _gps_coordinate(value, ref, positive: str, negative: str, limit: float) -> float | None:
    """Signed decimal degrees from an EXIF (degrees, minutes, seconds) triple and its N/S/E/W ref."""
    try:
        degrees, minutes, seconds = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    parts = (degrees, minutes, seconds)
    if not all(math.isfinite(part) and part >= 0 for part in parts) or minutes >= 60 or seconds >= 60:
        return None
    result = degrees + minutes / 60 + seconds / 3600
    if result > limit:
        return None
    ref_text = (_text_tag(ref) or "").upper()
    if ref_text == positive:
        return result
    if ref_text == negative:
        return -result
    return None  # without a reference the hemisphere is unknown


def _text_tag(value) -> str | None:
    """A cleaned EXIF text value: ends at the first NUL as in exiftool, padding and control characters removed; None if empty."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="ignore")
    elif isinstance(value, str) and not value.isascii():
        # Pillow decodes EXIF ASCII as Latin-1; Chinese apps write UTF-8 there ("美图秀秀").
        # Really Latin-1 text (or junk) stays as Pillow read it.
        with contextlib.suppress(UnicodeError):
            value = value.encode("latin-1").decode("utf-8")
    if not isinstance(value, str):
        return None
    # A camera that fills a fixed-size field leaves junk after the terminating NUL
    # ("ION230\0F" is a Polaroid ION230): what follows the NUL is not part of the name.
    value = value.split("\0", 1)[0]
    text = "".join(ch for ch in value if ch.isprintable()).strip()
    return text[:_MAX_TEXT_TAG] or None


def find_cjk_font() -> str | None:
    """Path of a font that renders Chinese: env CJK_FONT_PATH, else common Debian paths, else fontconfig."""
    configured = os.environ.get("CJK_FONT_PATH")
    if configured:
        if os.path.isfile(configured):
            return configured
        log.warning("CJK_FONT_PATH=%s is not a file; looking for another CJK font", configured)
    for path in _CJK_FONT_CANDIDATES:
        if os.path.isfile(path):
            return path
    return _fontconfig_cjk_font()


def _fontconfig_cjk_font() -> str | None:
    """fontconfig's best Simplified Chinese font, only if it really covers Chinese."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    try:
        # ':lang=zh' is not a fontconfig language (it answers DejaVu Sans even when Noto CJK is
        # installed); zh-cn is. fc-match always names some font, so check its coverage too.
        result = subprocess.run(
            [fc_match, "-f", "%{file}\n%{lang}", ":lang=zh-cn"],
            capture_output=True, text=True, timeout=5, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        log.info("fc-match failed", exc_info=True)
        return None
    path, _, langs = result.stdout.partition("\n")
    if "zh-cn" in langs.split("|") and os.path.isfile(path):
        return path
    return None


@functools.cache
def _cjk_font_path() -> str | None:
    """find_cjk_font(), looked up once per process (it may run fc-match)."""
    path = find_cjk_font()
    if path is None:
        log.warning(
            "No CJK font found (install fonts-noto-cjk or set CJK_FONT_PATH): "
            "watermark Chinese text will render as boxes"
        )
    return path


@functools.cache
def simplified_face(path: str) -> int:
    """Index of the Simplified Chinese face in a font collection (Noto CJK puts Japanese first)."""
    if not path.lower().endswith((".ttc", ".otc")):
        return 0
    for index in range(16):
        try:
            family = ImageFont.truetype(path, 12, index=index).getname()[0] or ""
        except OSError:
            break
        if "SC" in family.split():
            return index
    return 0


@functools.lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont:
    """Watermark font at a pixel size; cached because loading a 20 MB .ttc takes ~15 ms."""
    path = _cjk_font_path()
    if path is not None:
        try:
            # Chinese and digits need no shaping: the basic layout is faster than raqm.
            return ImageFont.truetype(
                path, size, index=simplified_face(path), layout_engine=ImageFont.Layout.BASIC
            )
        except OSError:
            log.warning("cannot load CJK font %s; using Pillow's default font", path, exc_info=True)
    return ImageFont.load_default(size=size)


def _slot(size: int) -> int:
    """Height of one watermark text line at a font size."""
    return round(size * 1.4)


@functools.lru_cache(maxsize=512)
def _fit_text(text: str, size: int, max_width: int) -> str:
    """text, shortened with an ellipsis if wider than max_width at size."""
    font = _font(size)
    if font.getlength(text) <= max_width:
        return text
    while text and font.getlength(text + "…") > max_width:
        text = text[:-1]
    return text + "…"


@functools.lru_cache(maxsize=512)
def _text_stamp(text: str, size: int) -> tuple[Image.Image, int, int]:
    """text rendered as a tight "L" mask, and the mask's offset from the text's left-middle point.

    Cached because FreeType rasterises every CJK glyph again on each call (~2 ms of a ~3 ms
    watermark), while title, place, person, date and even the minute repeat across photos.
    """
    font = _font(size)
    left, top, right, bottom = font.getbbox(text, anchor="lm")
    mask = Image.new("L", (max(1, right - left), max(1, bottom - top)))
    ImageDraw.Draw(mask).text((-left, -top), text, font=font, fill=255, anchor="lm")
    return mask, left, top


def _ink_width(text: str, size: int) -> int:
    """Width from the text's left point to the right edge of its ink."""
    mask, left, _ = _text_stamp(text, size)
    return left + mask.width


def _stamp(img: Image.Image, x: float, y: float, text: str, size: int, colour: tuple) -> None:
    """Paint text in colour with its left-middle point at (x, y)."""
    mask, left, top = _text_stamp(text, size)
    x0, y0 = round(x + left), round(y + top)
    img.paste(colour, (x0, y0, x0 + mask.width, y0 + mask.height), mask)


def _draw_watermark(img: Image.Image, wm: Watermark) -> None:
    """Burn a 水印相机-style box (time, date, weekday, place, person, code) into img's bottom-left."""
    width, height = img.size
    unit = min(width, height)
    big = max(16, unit * 9 // 100)
    mid = max(10, unit * 36 // 1000)
    small = max(9, unit * 30 // 1000)
    margin = max(4, unit // 40)
    pad = max(3, unit // 45)
    bar_width = max(2, unit // 160)
    max_text = width - 2 * (margin + pad)

    local = wm.time.astimezone(CHINA_TZ)
    clock = local.strftime("%H:%M")
    dates = (local.strftime("%Y-%m-%d"), _WEEKDAYS[local.weekday()])
    title = _fit_text(wm.title, mid, max_text) if wm.title else None
    rows = []  # (text, size, colour) under the clock
    if wm.place:
        rows.append((f"地点：{wm.place}", mid, _WHITE))
    if wm.person:
        rows.append((f"拍摄人：{wm.person}", mid, _WHITE))
    rows.append((f"验真码 {wm.verify_code}", small, _MUTED))
    rows = [(_fit_text(text, size, max_text), size, colour) for text, size, colour in rows]

    clock_mask, clock_left, clock_top = _text_stamp(clock, big)
    header_height = max(clock_mask.height, 2 * _slot(mid))
    header_width = clock_mask.width + 2 * pad + bar_width + max(_ink_width(t, mid) for t in dates)
    widths = [header_width, *(_ink_width(text, size) for text, size, _ in rows)]
    if title:
        widths.append(_ink_width(title, mid))
    box_width = 2 * pad + min(max_text, max(widths))
    box_height = (
        2 * pad
        + (_slot(mid) if title else 0)
        + header_height
        + pad // 2
        + sum(_slot(size) for _, size, _ in rows)
    )
    left = margin
    top = max(0, height - margin - box_height)
    box = (left, top, min(width, left + box_width) - 1, height - margin - 1)
    # An "RGBA" Draw blends the translucent fill into the RGB pixels of the box only, without
    # a full-size overlay image.
    ImageDraw.Draw(img, "RGBA").rounded_rectangle(box, radius=pad, fill=(0, 0, 0, 140))

    x = left + pad
    y = top + pad
    if title:
        _stamp(img, x, y + _slot(mid) / 2, title, mid, _ACCENT)
        y += _slot(mid)
    header_mid = y + header_height / 2
    _stamp(img, x - clock_left, header_mid - clock_top - clock_mask.height / 2, clock, big, _WHITE)
    bar_x = x + clock_mask.width + pad
    ImageDraw.Draw(img).rectangle((bar_x, y, bar_x + bar_width - 1, y + header_height - 1), fill=_ACCENT)
    for i, text in enumerate(dates):
        _stamp(img, bar_x + bar_width + pad, header_mid + (i - 0.5) * _slot(mid), text, mid, _WHITE)
    y += header_height + pad // 2
    for text, size, colour in rows:
        _stamp(img, x, y + _slot(size) / 2, text, size, colour)
        y += _slot(size)
