"""What the camera recorded, read as exiftool reads it: capture time, GPS, device, orientation.

EXIF first (Pillow's reader), then XMP; the capture time is never IFD0 DateTime (the time the
file was last written). Text tags are cleaned as exiftool cleans them.
"""

import contextlib
import logging
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from PIL import ExifTags, Image

from server.clock import (
    CHINA as CHINA_TZ,  # EXIF times without an offset are China wall-clock times
)
from server.imaging import makernotes

log = logging.getLogger(__name__)


_EXIF_DATETIME = re.compile(r"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")
# An XMP date: seconds and fraction optional, a zone ("Z", "+02:00") usually present.
_XMP_DATETIME = re.compile(
    r"(\d{4})[:-](\d{2})[:-](\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"
)
# XMP properties read as exiftool reads them, as attributes (x="v") or elements (<x>v</x>).
# "xap" is the prefix of the first XMP namespace, still written by Photoshop CS2.
_XMP_PROPERTY = re.compile(
    rb"(exif:DateTimeOriginal|exif:DateTimeDigitized|xmp:CreateDate|xap:CreateDate|tiff:Orientation)"
    rb"""(?:\s*=\s*["']([^"'<>]*)["']|>([^<]*)<)"""
)
# Software tags of photo editors and beautifying apps (lower case, matched as substrings).
EDITOR_SOFTWARE = (
    "photoshop",
    "lightroom",
    "gimp",
    "snapseed",
    "picsart",
    "pixelmator",
    "affinity photo",
    "paint.net",
    "picasa",
    "fotor",
    "photoscape",
    "facetune",
    "vsco",
    "noise ninja",
    "美图秀秀",
    "meitu",
    "mtxx",
    "醒图",
    "hypic",
    "黄油相机",
    "butter camera",
    "轻颜",
    "faceu",
)
# Make/Model are short ASCII names; a malformed tag must not put kilobytes into the database.
_MAX_TEXT_TAG = 100


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
            taken_at=when("taken_at"),
            lat=data.get("lat"),
            lng=data.get("lng"),
            make=data.get("make"),
            model=data.get("model"),
            orientation=data.get("orientation"),
            tz_assumed=bool(data.get("tz_assumed")),
            modified_at=when("modified_at"),
            software=data.get("software"),
        )

    def editor(self) -> str | None:
        """The Software tag when it names a photo editor, else None."""
        if self.software and any(name in self.software.lower() for name in EDITOR_SOFTWARE):
            return self.software
        return None


def read_exif(img) -> ExifInfo | None:
    """Capture time, GPS position, make, model and orientation of an opened image; None without any metadata.

    Besides EXIF and XMP, the capture time, make and model that old cameras kept in their makers'
    own structures (Canon CIFF, Olympus APP12, Reconyx maker notes) are read as exiftool reads them.
    """
    try:
        exif = img.getexif()
    except Exception:  # uploaded metadata is hostile input: unreadable means absent
        log.info("unreadable EXIF", exc_info=True)
        exif = Image.Exif()
    xmp = _read_xmp(img)
    exif_ifd = _sub_ifd(exif, ExifTags.IFD.Exif)
    vendor = makernotes.from_segments(getattr(img, "applist", ()))
    make = _text_tag(exif.get(ExifTags.Base.Make)) or _text_tag(vendor.make)
    vendor_taken = vendor.taken or makernotes.reconyx_time(exif_ifd.get(ExifTags.Base.MakerNote), make)
    if not exif and not xmp and vendor == makernotes.VendorTags():
        return None
    gps_ifd = _sub_ifd(exif, ExifTags.IFD.GPSInfo)
    lat = _gps_coordinate(gps_ifd.get(ExifTags.GPS.GPSLatitude), gps_ifd.get(ExifTags.GPS.GPSLatitudeRef), "N", "S", 90)
    lng = _gps_coordinate(
        gps_ifd.get(ExifTags.GPS.GPSLongitude), gps_ifd.get(ExifTags.GPS.GPSLongitudeRef), "E", "W", 180
    )
    # Phones without a fix write 0/0; one half of a position is no position.
    if lat is None or lng is None or (lat == 0 and lng == 0):
        lat = lng = None
    orientation = exif.get(ExifTags.Base.Orientation)
    if not (type(orientation) is int and 1 <= orientation <= 8):
        orientation = _xmp_orientation(xmp.get(b"tiff:Orientation"))
    taken_at, tz_assumed = _taken_at(exif_ifd, xmp, vendor_taken)
    modified = _parse_exif_datetime(exif.get(ExifTags.Base.DateTime))
    modified_tz = _parse_exif_offset(exif_ifd.get(ExifTags.Base.OffsetTime)) or CHINA_TZ
    return ExifInfo(
        taken_at=taken_at,
        lat=lat,
        lng=lng,
        make=make,
        model=_text_tag(exif.get(ExifTags.Base.Model)) or _text_tag(vendor.model),
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


def _taken_at(exif_ifd: dict, xmp: dict[bytes, str], vendor_taken: str | None) -> tuple[datetime | None, bool]:
    """The capture time and whether its zone was assumed: exiftool's DateTimeOriginal, else CreateDate.

    EXIF before XMP before a maker's own structure (which exiftool ranks lowest), each with its
    own offset (OffsetTimeOriginal / OffsetTimeDigitized, or the zone inside an XMP date);
    without one, China time is assumed and that is said.
    IFD0 DateTime is never used: it is when the file was last written, e.g. by an editor.
    """
    tags = ExifTags.Base
    candidates = (
        (exif_ifd.get(tags.DateTimeOriginal), exif_ifd.get(tags.OffsetTimeOriginal)),
        (xmp.get(b"exif:DateTimeOriginal"), None),
        (vendor_taken, None),
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
