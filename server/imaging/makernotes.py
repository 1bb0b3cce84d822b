"""Capture time, make and model kept in camera makers' own structures, where Pillow does not look.

exiftool reads three of them that real files in the test corpus rely on:

- Canon CIFF in a JPEG APP0 segment ("HEAPJPGM", PowerShot cameras of ~2000): a heap of
  directory blocks; each block ends with the offset of its directory, whose 10-byte entries
  (tag, size, offset) point back into the block. Tag 0x180e (TimeStamp) holds the capture time
  in seconds since 1970, tag 0x080a the make and model as two NUL-terminated strings.
- Olympus/Agfa "picture info" in a JPEG APP12 segment: ASCII "Name=value" lines;
  TimeDate is the capture time, in seconds since 1970 or as text.
- Reconyx HyperFire trail cameras: a little-endian binary maker note starting 0x01 0xf1 whose
  16-bit words 11..16 are second, minute, hour, month, day and year.

Seconds since 1970 are the camera's clock read as UTC (exiftool's reading); none of these
records a zone. Values come back as exiftool's text ("YYYY:MM:DD HH:MM:SS") for exif.py to
parse like any EXIF date. Uploaded files are hostile: every offset is checked against the bytes
it points into, CIFF recursion is bounded in depth and in entries visited, and damaged or
unknown data reads as absent, never as an exception.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

_CIFF_SIGNATURE = b"HEAPJPGM"
_CIFF_TIMESTAMP = 0x180E
_CIFF_MAKE_MODEL = 0x080A
_CIFF_IN_ENTRY = 0x4000  # DataLocation: the value is the entry's own 8 size+offset bytes
_CIFF_LOCATION = 0xC000
_CIFF_SUBDIRECTORIES = (0x2800, 0x3000)  # DataFormat bits of a directory block
# Real files nest three deep and hold a few dozen entries; a hostile heap gets no further.
_CIFF_MAX_DEPTH = 6
_CIFF_MAX_ENTRIES = 1000

# A "TimeDate=" token (not the tail of a longer name) and at most 64 printable bytes after it.
_APP12_TIME = re.compile(rb"(?<![\w#-])TimeDate=([\x20-\x7e]{1,64})")
# Olympus also writes "Name=value" pairs on one line, separated by spaces.
_APP12_NEXT_PAIR = re.compile(rb"\s+[\w#-]+=")

_RECONYX_MAGIC = b"\x01\xf1"
_RECONYX_FIRMWARE = (b"\x02\x00", b"\x03\x00")
_RECONYX_TIME = slice(22, 34)  # words 0x0b..0x10


@dataclass(frozen=True)
class VendorTags:
    """What a maker's structure recorded: capture time as EXIF text, make and model as raw text."""

    taken: str | None = None
    make: str | None = None
    model: str | None = None


def from_segments(applist: Iterable[tuple[str, bytes]]) -> VendorTags:
    """Capture time, make and model from a JPEG's APP0 CIFF heap and APP12 picture info (Pillow's img.applist)."""
    taken = make = model = None
    for marker, payload in applist:
        if marker == "APP0" and payload[6:14] == _CIFF_SIGNATURE:
            found = _ciff(payload)
        elif marker == "APP12" and not payload.startswith(b"Ducky"):
            found = VendorTags(taken=_app12_time(payload))
        else:
            continue
        taken = taken or found.taken
        make = make or found.make
        model = model or found.model
    return VendorTags(taken=taken, make=make, model=model)


def reconyx_time(maker_note, make: str | None) -> str | None:
    """DateTimeOriginal of a Reconyx HyperFire maker note, as EXIF text; None for any other note."""
    if not isinstance(maker_note, bytes) or not maker_note.startswith(_RECONYX_MAGIC):
        return None
    if maker_note[2:4] not in _RECONYX_FIRMWARE and make != "RECONYX":
        return None
    raw = maker_note[_RECONYX_TIME]
    if len(raw) < 12:
        return None
    words = struct.unpack("<6H", raw)
    # Some firmware writes these six words big-endian inside an otherwise little-endian note.
    if words[0] & 0xFF00 and not words[0] & 0xFF:
        words = tuple(((w >> 8) | (w << 8)) & 0xFFFF for w in words)
    second, minute, hour, month, day, year = words
    return f"{year:04d}:{month:02d}:{day:02d} {hour:02d}:{minute:02d}:{second:02d}"


def _unix_text(seconds: int) -> str | None:
    """Seconds since 1970 as EXIF text, as exiftool converts them; None for 0 (no time) or out of range."""
    if seconds <= 0:
        return None
    try:
        moment = datetime(1970, 1, 1) + timedelta(seconds=seconds)
    except OverflowError:
        return None
    return moment.strftime("%Y:%m:%d %H:%M:%S")


# ---- Olympus APP12 ---------------------------------------------------------------------------


def _app12_time(payload: bytes) -> str | None:
    """The TimeDate of an APP12 picture-info segment, as EXIF text."""
    match = _APP12_TIME.search(payload)
    if not match:
        return None
    value = _APP12_NEXT_PAIR.split(match.group(1), maxsplit=1)[0].strip()
    if value.isdigit():
        return _unix_text(int(value))
    return value.decode("ascii")  # printable ASCII by the pattern; exif.py checks it is a date


# ---- Canon CIFF ------------------------------------------------------------------------------


def _ciff(payload: bytes) -> VendorTags:
    """Capture time, make and model from a CIFF heap (its 26-byte header, then the root block)."""
    order = {b"II": "<", b"MM": ">"}.get(payload[:2])
    if order is None or len(payload) < 14:
        return VendorTags()
    header_length = struct.unpack(order + "I", payload[2:6])[0]
    if not 14 <= header_length < len(payload):
        return VendorTags()
    found: dict[str, str] = {}
    _ciff_block(memoryview(payload)[header_length:], order, 0, found, [_CIFF_MAX_ENTRIES])
    return VendorTags(taken=found.get("taken"), make=found.get("make"), model=found.get("model"))


def _ciff_block(block: memoryview, order: str, depth: int, found: dict[str, str], budget: list[int]) -> None:
    """Read one directory block into found; sub-blocks lie strictly inside it, so each is smaller."""
    if len(block) < 6:
        return
    directory = struct.unpack_from(order + "I", block, len(block) - 4)[0]
    if directory + 2 > len(block) - 4:
        return
    count = struct.unpack_from(order + "H", block, directory)[0]
    count = min(count, (len(block) - 4 - directory - 2) // 10)
    for index in range(count):
        if budget[0] <= 0:
            return
        budget[0] -= 1
        entry = directory + 2 + 10 * index
        tag, size, offset = struct.unpack_from(order + "HII", block, entry)
        location = tag & _CIFF_LOCATION
        if location == _CIFF_IN_ENTRY:
            value = block[entry + 2 : entry + 10]
        elif location == 0 and offset + size <= directory:
            value = block[offset : offset + size]
        else:
            continue
        tag_id = tag & 0x3FFF
        if tag_id & 0x3800 in _CIFF_SUBDIRECTORIES:
            if location == 0 and depth < _CIFF_MAX_DEPTH and len(value) < len(block):
                _ciff_block(value, order, depth + 1, found, budget)
        elif tag_id == _CIFF_TIMESTAMP and len(value) >= 4 and "taken" not in found:
            taken = _unix_text(struct.unpack_from(order + "I", value)[0])
            if taken:
                found["taken"] = taken
        elif tag_id == _CIFF_MAKE_MODEL and "make" not in found:
            make, _, rest = bytes(value).partition(b"\0")
            model = rest.partition(b"\0")[0]
            found["make"] = make.decode("latin-1")
            found["model"] = model.decode("latin-1")
