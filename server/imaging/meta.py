"""Lossless removal of location metadata from photo files: the compressed pixels stay byte for byte.

A villager's feedback photo must not tell anyone where they live. Re-encoding with Pillow
would change every pixel and break the photo's value as evidence, so the metadata is edited
where it lies instead:

- JPEG (and MPO, its multi-frame variant): in every frame, the EXIF GPS IFD is unlinked from
  IFD0 and overwritten with zeros, and XMP packets (standard and extended) are blanked. Both
  edits keep every segment's length, so the offsets of MPO frames and of EXIF values elsewhere
  stay valid.
- PNG: the eXIf chunk and text chunks carrying XMP or raw EXIF profiles are dropped.
- WebP: the EXIF and XMP chunks are dropped and their VP8X flags cleared.
"""

from __future__ import annotations

import struct

_EXIF_HEADER = b"Exif\x00\x00"
_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_EXTENSION_HEADER = b"http://ns.adobe.com/xmp/extension/\x00"
# An empty but well-formed packet; the rest of the segment is padding, as XMP allows.
_EMPTY_XMP = b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"/>'
_XMP_END = b'<?xpacket end="w"?>'
_GPS_IFD_TAG = 0x8825
_TIFF_TYPE_SIZES = {
    1: 1,
    2: 1,
    3: 2,
    4: 4,
    5: 8,
    6: 1,
    7: 1,
    8: 2,
    9: 4,
    10: 8,
    11: 4,
    12: 8,
    13: 4,
}
_APP1 = 0xE1
_SOS, _EOI = 0xDA, 0xD9
_STANDALONE = {0x01, *range(0xD0, 0xD8)}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT_CHUNKS = {b"tEXt", b"zTXt", b"iTXt"}
_PNG_LOCATION_KEYWORDS = (
    b"XML:com.adobe.xmp",
    b"Raw profile type exif",
    b"Raw profile type APP1",
    b"Raw profile type xmp",
)
_WEBP_FLAG_EXIF, _WEBP_FLAG_XMP = 0x08, 0x04


def strip_location(data: bytes, fmt: str) -> bytes:
    """data (a verified JPEG, PNG or WEBP file, as Pillow named its format) without GPS or XMP metadata."""
    if fmt == "JPEG":
        return _strip_jpeg(data)
    if fmt == "PNG":
        return _strip_png(data)
    if fmt == "WEBP":
        return _strip_webp(data)
    raise ValueError(f"cannot strip location from {fmt}")


# ---- JPEG ------------------------------------------------------------------------------------


def _strip_jpeg(data: bytes) -> bytes:
    """Clean every frame's APP1 segments in place; the file keeps its length."""
    buf = bytearray(data)
    start = 0
    while start + 2 < len(buf) and buf[start : start + 2] == b"\xff\xd8":
        end = _clean_frame(buf, start + 2)
        # MPO files (phones' depth and gain maps) append further frames, each with its own EXIF.
        start = buf.find(b"\xff\xd8\xff", end)
        if start < 0:
            break
    return bytes(buf)


def _clean_frame(buf: bytearray, pos: int) -> int:
    """Walk one frame's segments from pos; clean its APP1 segments; the offset after its EOI."""
    n = len(buf)
    while pos + 4 <= n:
        if buf[pos] != 0xFF:
            raise ValueError(f"no JPEG marker at offset {pos}")
        marker = buf[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == _EOI:
            return pos + 2
        if marker in _STANDALONE:
            pos += 2
            continue
        end = pos + 2 + struct.unpack(">H", buf[pos + 2 : pos + 4])[0]
        if end > n:
            raise ValueError(f"JPEG segment at offset {pos} runs past the end")
        if marker == _APP1:
            _clean_app1(buf, pos + 4, end)
        pos = _after_entropy_data(buf, end) if marker == _SOS else end
    return n


def _after_entropy_data(buf: bytearray, pos: int) -> int:
    """Offset of the first marker after a scan's entropy-coded data (where 0xFF is always stuffed)."""
    while (i := buf.find(b"\xff", pos)) >= 0 and i + 1 < len(buf):
        following = buf[i + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            pos = i + 1 if following == 0xFF else i + 2
            continue
        return i
    return len(buf)


def _clean_app1(buf: bytearray, start: int, end: int) -> None:
    """Remove location from one APP1 payload buf[start:end], keeping its length."""
    payload = bytes(buf[start:end])
    if payload.startswith(_EXIF_HEADER):
        _drop_gps_ifd(buf, start + len(_EXIF_HEADER), end)
    elif payload.startswith(_XMP_HEADER):
        body = start + len(_XMP_HEADER)
        _blank(buf, body, end, _EMPTY_XMP, _XMP_END)
    elif payload.startswith(_XMP_EXTENSION_HEADER):
        # GUID (32) + full length (4) + offset (4), then a slice of the extended packet.
        _blank(buf, start + len(_XMP_EXTENSION_HEADER) + 40, end)


def _blank(buf: bytearray, start: int, end: int, head: bytes = b"", tail: bytes = b"") -> None:
    """Overwrite buf[start:end] with head, spaces and tail (spaces alone when they do not fit)."""
    size = end - start
    if size <= 0:
        return
    fill = head + b" " * (size - len(head) - len(tail)) + tail if size >= len(head) + len(tail) else b" " * size
    buf[start:end] = fill


def _drop_gps_ifd(buf: bytearray, tiff: int, end: int) -> None:
    """Unlink the GPS IFD from IFD0 and zero it; a TIFF block too damaged to walk is zeroed whole."""
    try:
        _unlink_gps(buf, tiff, end)
    except (ValueError, struct.error, IndexError):
        buf[tiff:end] = bytes(end - tiff)


def _unlink_gps(buf: bytearray, tiff: int, end: int) -> None:
    order = {b"II": "<", b"MM": ">"}.get(bytes(buf[tiff : tiff + 2]))
    if order is None:
        raise ValueError("not a TIFF header")

    def read(fmt: str, offset: int) -> int:
        if offset < tiff or offset + struct.calcsize(fmt) > end:
            raise ValueError("EXIF offset outside its segment")
        return struct.unpack_from(order + fmt, buf, offset)[0]

    ifd0 = tiff + read("I", tiff + 4)
    count = read("H", ifd0)
    entries = ifd0 + 2
    read("I", entries + 12 * count)  # the next-IFD pointer must lie inside the segment
    gps_index = next((i for i in range(count) if read("H", entries + 12 * i) == _GPS_IFD_TAG), None)
    if gps_index is None:
        return
    gps = tiff + read("I", entries + 12 * gps_index + 8)
    # Shift the later entries and the next-IFD pointer up by one entry; zero the freed tail.
    entry = entries + 12 * gps_index
    tail = bytes(buf[entry + 12 : entries + 12 * count + 4])
    buf[entry : entry + len(tail)] = tail
    buf[entry + len(tail) : entry + len(tail) + 12] = bytes(12)
    struct.pack_into(order + "H", buf, ifd0, count - 1)
    _zero_ifd(buf, tiff, end, gps, read)


def _zero_ifd(buf: bytearray, tiff: int, end: int, ifd: int, read) -> None:
    """Overwrite an IFD and every value it points to with zeros (values that lie inside the segment)."""
    count = read("H", ifd)
    for i in range(count):
        entry = ifd + 2 + 12 * i
        size = _TIFF_TYPE_SIZES.get(read("H", entry + 2), 1) * read("I", entry + 4)
        if size > 4:
            offset = tiff + read("I", entry + 8)
            if offset < end:
                stop = min(end, offset + size)
                buf[offset:stop] = bytes(stop - offset)
    stop = min(end, ifd + 2 + 12 * count + 4)
    buf[ifd:stop] = bytes(stop - ifd)


# ---- PNG -------------------------------------------------------------------------------------


def _strip_png(data: bytes) -> bytes:
    """The PNG without eXIf and without text chunks that carry XMP or raw EXIF profiles."""
    if not data.startswith(_PNG_SIGNATURE):
        raise ValueError("not a PNG file")
    out = [_PNG_SIGNATURE]
    pos = len(_PNG_SIGNATURE)
    while pos + 12 <= len(data):
        length = struct.unpack(">I", data[pos : pos + 4])[0]
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        chunk = data[pos:end]
        if not (
            kind == b"eXIf" or (kind in _PNG_TEXT_CHUNKS and data[pos + 8 : end - 4].startswith(_PNG_LOCATION_KEYWORDS))
        ):
            out.append(chunk)
        pos = end
        if kind == b"IEND":
            break
    out.append(data[pos:])
    return b"".join(out)


# ---- WebP ------------------------------------------------------------------------------------


def _strip_webp(data: bytes) -> bytes:
    """The WebP without its EXIF and XMP chunks (and without the VP8X flags announcing them)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("not a WebP file")
    chunks = []
    pos = 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        size = struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        end = pos + 8 + size + (size & 1)
        chunk = bytearray(data[pos:end])
        if kind == b"VP8X" and len(chunk) > 8:
            chunk[8] &= ~(_WEBP_FLAG_EXIF | _WEBP_FLAG_XMP) & 0xFF
        if kind not in (b"EXIF", b"XMP "):
            chunks.append(bytes(chunk))
        pos = end
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body
