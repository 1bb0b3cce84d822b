"""Tests of server.imaging.makernotes: Canon CIFF, Olympus APP12 and Reconyx capture times, on hostile input too."""

from __future__ import annotations

import contextlib
import io
import random
import struct
import warnings
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from server.imaging import makernotes
from server.imaging.decode import PhotoRejected, process_photo
from server.imaging.exif import CHINA_TZ, read_exif
from server.imaging.makernotes import VendorTags
from tests.conftest import missing_component

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "corpus" / "exif-samples"
# The three corpus files whose capture time only these structures keep, and the segment that keeps it.
VENDOR_FILES = {
    "exif-org_sony-powershota5.jpg": "APP0",
    "exif-org_olympus-d320l.jpg": "APP12",
    "Reconyx_HC500_Hyperfire.jpg": "APP1",
}

POWERSHOT_TIME = 972687386  # 2000:10:27 22:56:26 on the camera's clock
MAKE_MODEL = b"Canon\0Canon PowerShot A5\0".ljust(32, b"\0")
TIMESTAMP, MAKE_MODEL_TAG, CAMERA_OBJECT = 0x180E, 0x080A, 0x2807


def ciff_block(entries: list[tuple[int, bytes]], order: str = "<") -> bytes:
    """A CIFF directory block: the values, then the directory of (tag, size, offset) entries, then its offset."""
    data = b""
    directory = b""
    for tag, value in entries:
        directory += struct.pack(order + "HII", tag, len(value), len(data))
        data += value + b"\0" * (len(value) % 2)
    return data + struct.pack(order + "H", len(entries)) + directory + struct.pack(order + "I", len(data))


def ciff_segment(root: bytes, order: str = "<") -> bytes:
    """An APP0 payload holding a CIFF heap: the 26-byte HEAPJPGM header, then the root block."""
    mark = b"II" if order == "<" else b"MM"
    return mark + struct.pack(order + "I", 26) + b"HEAPJPGM" + struct.pack(order + "I", 0x10000) + bytes(8) + root


def powershot_heap(order: str = "<") -> bytes:
    """A heap laid out as the PowerShot A5 writes it: TimeStamp at the root, make and model one level down."""
    camera = ciff_block([(MAKE_MODEL_TAG, MAKE_MODEL)], order)
    timestamp = struct.pack(order + "III", POWERSHOT_TIME, 0, 0)
    return ciff_segment(ciff_block([(TIMESTAMP, timestamp), (CAMERA_OBJECT, camera)], order), order)


def hyperfire_note(words: tuple[int, ...], firmware: bytes = b"\x03\x00", big_endian_time: bool = False) -> bytes:
    """A Reconyx HyperFire maker note whose time words are (second, minute, hour, month, day, year)."""
    time_format = ">6H" if big_endian_time else "<6H"
    head = b"\x01\xf1" + firmware + bytes(18)
    return head + struct.pack(time_format, *words) + bytes(40)


def jpeg_with(segments: list[tuple[int, bytes]], exif: Image.Exif | None = None) -> bytes:
    """A small JPEG with extra APPn segments (marker, payload) right after SOI."""
    buf = io.BytesIO()
    Image.new("RGB", (96, 72), (90, 120, 150)).save(buf, "JPEG", exif=exif if exif is not None else b"")
    data = buf.getvalue()
    extra = b"".join(bytes([0xFF, marker]) + struct.pack(">H", len(p) + 2) + p for marker, p in segments)
    return data[:2] + extra + data[2:]


def exif_of(data: bytes):
    """read_exif() of an in-memory file."""
    with Image.open(io.BytesIO(data)) as img:
        return read_exif(img)


# ---- Canon CIFF -------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["<", ">"])
def test_ciff_heap_gives_time_make_and_model(order):
    """A HEAPJPGM heap in APP0 gives its TimeStamp as the camera's clock, and make and model, in either byte order."""
    found = makernotes.from_segments([("APP0", powershot_heap(order))])
    assert found == VendorTags(taken="2000:10:27 22:56:26", make="Canon", model="Canon PowerShot A5")


def test_ciff_value_kept_inside_its_entry():
    """A value flagged as stored in the entry itself (DataLocation 0x4000) is read from the entry's 8 bytes."""
    root = struct.pack("<HII", 0x4000 | TIMESTAMP, POWERSHOT_TIME, 0)
    block = struct.pack("<H", 1) + root + struct.pack("<I", 0)
    assert makernotes.from_segments([("APP0", ciff_segment(block))]).taken == "2000:10:27 22:56:26"


def test_ciff_time_zero_is_no_time():
    """A TimeStamp of 0 is a camera without a clock set: no capture time, as exiftool reads it."""
    segment = ciff_segment(ciff_block([(TIMESTAMP, bytes(12))]))
    assert makernotes.from_segments([("APP0", segment)]).taken is None


def test_ciff_nesting_deeper_than_any_camera_is_not_followed():
    """Blocks nested beyond the depth limit are not read; the limit still reaches what cameras write."""

    def nested(depth: int) -> bytes:
        block = ciff_block([(TIMESTAMP, struct.pack("<III", POWERSHOT_TIME, 0, 0))])
        for _ in range(depth):
            block = ciff_block([(0x300A, block)])
        return ciff_segment(block)

    assert makernotes.from_segments([("APP0", nested(3))]).taken == "2000:10:27 22:56:26"
    assert makernotes.from_segments([("APP0", nested(40))]).taken is None


def test_ciff_heap_whose_entries_all_share_one_sub_block_is_walked_in_bounded_time():
    """A heap of 100 entries per level all naming the same sub-block (100^6 paths) ends after a bounded walk."""
    block = ciff_block([(TIMESTAMP, struct.pack("<III", POWERSHOT_TIME, 0, 0))])
    for _ in range(6):
        directory = b"".join(struct.pack("<HII", 0x300A, len(block), 0) for _ in range(100))
        block = block + struct.pack("<H", 100) + directory + struct.pack("<I", len(block))
    assert len(block) < 65_000  # fits one APP0 segment
    assert makernotes.from_segments([("APP0", ciff_segment(block))]).taken == "2000:10:27 22:56:26"


@pytest.mark.parametrize(
    "payload",
    [
        b"II" + struct.pack("<I", 26) + b"HEAPJPGM",  # header only
        b"II" + struct.pack("<I", 0xFFFFFFFF) + b"HEAPJPGM" + bytes(40),  # header longer than the segment
        ciff_segment(struct.pack("<HIII", 0xFFFF, 0, 0, 0xFFFFFFF0)),  # directory offset far outside
        ciff_segment(struct.pack("<H", 0xFFFF) + struct.pack("<HII", TIMESTAMP, 12, 0xFFFFFFF0) + struct.pack("<I", 0)),
        b"XX" + bytes(4) + b"HEAPJPGM" + bytes(40),  # no byte order
    ],
)
def test_damaged_ciff_reads_as_absent(payload):
    """A CIFF heap with impossible lengths or offsets gives nothing, and no exception."""
    assert makernotes.from_segments([("APP0", payload)]) == VendorTags()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=12), st.integers(20, 400))
def test_garbled_ciff_never_raises(edits, cut):
    """Any byte of a real-looking heap overwritten, and the heap cut anywhere: a result, never an exception."""
    payload = bytearray(powershot_heap())
    for position, value in edits:
        if position < len(payload):
            payload[position] = value
    found = makernotes.from_segments([("APP0", bytes(payload[:cut]))])
    assert isinstance(found, VendorTags)


# ---- Olympus APP12 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "taken"),
    [
        (
            b"OLYMPUS OPTICAL CO.,LTD.\0 713\r\n[picture info]\r\nTimeDate=909698819\r\nShutter=33363\r\n",
            "1998:10:29 22:06:59",
        ),
        (b"[picture info]\r\nTimeDate=2001:05:06 07:08:09\r\n", "2001:05:06 07:08:09"),
        (b"[picture info] TimeDate=909698819 Shutter=33363 Flash=1", "1998:10:29 22:06:59"),
        (b"[picture info]\r\nTimeDate=0\r\n", None),
        (b"[picture info]\r\nOldTimeDate=909698819\r\n", None),
        (b"[picture info]\r\nTimeDate=" + b"9" * 60 + b"\r\n", None),
    ],
)
def test_app12_picture_info_time(payload, taken):
    """TimeDate of an APP12 picture-info segment, in seconds since 1970 or as text; only as a whole name."""
    assert makernotes.from_segments([("APP12", payload)]).taken == taken


def test_app12_ducky_segment_is_not_picture_info():
    """Photoshop's "Ducky" APP12 segment is a different structure and is not searched."""
    assert makernotes.from_segments([("APP12", b"Ducky TimeDate=909698819\r\n")]).taken is None


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=2000))
def test_garbled_app12_never_raises(noise):
    """Arbitrary bytes around a TimeDate token: a result, never an exception."""
    found = makernotes.from_segments([("APP12", noise + b"TimeDate=" + noise)])
    assert found.taken is None or isinstance(found.taken, str)


# ---- Reconyx ----------------------------------------------------------------------------------


def test_reconyx_hyperfire_time():
    """The HyperFire maker note's six time words read as exiftool reads them."""
    assert makernotes.reconyx_time(hyperfire_note((0, 0, 10, 3, 16, 2020)), None) == "2020:03:16 10:00:00"


def test_reconyx_time_written_big_endian_is_swapped_back():
    """Time words some firmware writes big-endian read the same as little-endian ones."""
    note = hyperfire_note((5, 4, 10, 3, 16, 2020), big_endian_time=True)
    assert makernotes.reconyx_time(note, None) == "2020:03:16 10:04:05"


def test_reconyx_note_recognised_by_its_firmware_marker_or_the_make():
    """Without the firmware marker only a RECONYX make says that the note is a HyperFire one."""
    note = hyperfire_note((0, 0, 10, 3, 16, 2020), firmware=b"\x07\x00")
    assert makernotes.reconyx_time(note, None) is None
    assert makernotes.reconyx_time(note, "RECONYX") == "2020:03:16 10:00:00"


@pytest.mark.parametrize("note", [b"", b"\x01\xf1\x03\x00", b"Nikon\0\x02\x10\0\0" + bytes(40), "text", None])
def test_other_or_short_maker_notes_give_no_time(note):
    """Other makers' notes, a truncated note and non-bytes values give no time."""
    assert makernotes.reconyx_time(note, None) is None


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=60))
def test_garbled_reconyx_note_never_raises(tail):
    """Any bytes after the HyperFire marker: a result, never an exception."""
    text = makernotes.reconyx_time(b"\x01\xf1\x03\x00" + tail, None)
    assert text is None or len(text) >= 19


# ---- through read_exif ------------------------------------------------------------------------


def test_exif_date_time_original_outranks_a_makers_structure():
    """EXIF DateTimeOriginal wins over an APP12 TimeDate, as in exiftool (which ranks APP12 lowest)."""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2021:01:02 03:04:05"
    info = exif_of(jpeg_with([(0xEC, b"[picture info]\r\nTimeDate=909698819\r\n")], exif))
    assert info.taken_at == datetime(2021, 1, 2, 3, 4, 5, tzinfo=CHINA_TZ)


def test_makers_time_outranks_exif_date_time_digitized():
    """An APP12 TimeDate is exiftool's DateTimeOriginal, so it comes before EXIF DateTimeDigitized."""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9004] = "2021:01:02 03:04:05"
    info = exif_of(jpeg_with([(0xEC, b"[picture info]\r\nTimeDate=909698819\r\n")], exif))
    assert (info.taken_at, info.tz_assumed) == (datetime(1998, 10, 29, 22, 6, 59, tzinfo=CHINA_TZ), True)


def test_ciff_only_file_gets_make_model_and_time():
    """A JPEG whose only metadata is a CIFF heap reports its make, model and capture time (zone assumed)."""
    info = exif_of(jpeg_with([(0xE0, powershot_heap())]))
    assert (info.make, info.model, info.taken_at, info.tz_assumed) == (
        "Canon",
        "Canon PowerShot A5",
        datetime(2000, 10, 27, 22, 56, 26, tzinfo=CHINA_TZ),
        True,
    )


def test_impossible_reconyx_date_is_no_capture_time():
    """A maker-note date that cannot exist (month 13) gives no capture time rather than an error."""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x927C] = hyperfire_note((0, 0, 10, 13, 16, 2020))
    assert exif_of(jpeg_with([], exif)).taken_at is None


@pytest.fixture(scope="module")
def vendor_files() -> dict[str, bytes]:
    """The three real corpus files; skipped only off CI when the shared test data is absent."""
    if not CORPUS.is_dir():
        missing_component(f"{CORPUS} not present on this machine")
    return {name: (CORPUS / name).read_bytes() for name in VENDOR_FILES}


def _segment_span(data: bytes, marker: str) -> tuple[int, int]:
    """(start, end) of the payload of the first APPn segment named marker in a JPEG."""
    number = 0xE0 + int(marker[3:])
    pos = 2
    while pos + 4 <= len(data):
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if data[pos + 1] == number:
            return pos + 4, pos + 2 + length
        pos += 2 + length
    raise AssertionError(f"no {marker} segment")


@pytest.mark.parametrize("name", VENDOR_FILES)
def test_real_vendor_files_garbled_or_cut_never_crash(vendor_files, name):
    """The real CIFF, APP12 and Reconyx files with their segment garbled or cut short: read or refused, never a crash."""
    data = vendor_files[name]
    start, end = _segment_span(data, VENDOR_FILES[name])
    rng = random.Random(name)
    variants = [data[:cut] for cut in range(start, end, max(1, (end - start) // 25))]
    for _ in range(60):
        garbled = bytearray(data)
        for _ in range(rng.randrange(1, 20)):
            garbled[rng.randrange(start, end)] = rng.randrange(256)
        variants.append(bytes(garbled))
    with warnings.catch_warnings():
        # Pillow warns about every damaged EXIF tag it skips; the assertion is that nothing raises.
        warnings.simplefilter("ignore")
        for variant in variants:
            _read_or_refuse(variant)


def _read_or_refuse(data: bytes) -> None:
    """process_photo() refuses or processes data, and read_exif() reads whatever Pillow opens, without raising."""
    with contextlib.suppress(PhotoRejected):
        process_photo(io.BytesIO(data))
    try:
        img = Image.open(io.BytesIO(data))
    except (OSError, SyntaxError, ValueError, struct.error):
        return  # Pillow itself refuses the file before any metadata is read
    with img:
        info = read_exif(img)
    assert info is None or info.taken_at is None or info.taken_at.tzinfo is not None
