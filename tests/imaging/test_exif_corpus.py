"""Every real camera file of ../shared/testdata (corpus/ and photos/) against exiftool's reading.

corpus/exiftool.json is exiftool 12.57's reading of the 94 corpus files; tests/data/photos_exiftool.json
is the same command run on photos/ (`exiftool -n -j -Make -Model -DateTimeOriginal -CreateDate
-ModifyDate -OffsetTimeOriginal -GPSLatitude -GPSLongitude -Orientation -ImageWidth -ImageHeight
-Software *.jpg`). Each file must either process or be refused with a named 4xx code, never crash,
and its make, model, capture time, GPS and orientation must be what exiftool reads.
"""

from __future__ import annotations

import io
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from PIL import Image

from server.clock import CHINA
from server.imaging.decode import PhotoRejected, process_photo
from server.imaging.exif import read_exif
from server.services.photos import REJECT_STATUS
from tests.conftest import missing_component

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
CORPUS = TESTDATA / "corpus"
PHOTOS = TESTDATA / "photos"
PHOTOS_TRUTH = Path(__file__).parents[1] / "data" / "photos_exiftool.json"


def _cases() -> list:
    """(folder, file name, exiftool's reading) for every file with a ground truth."""
    cases = []
    for folder, truth_file in ((CORPUS, CORPUS / "exiftool.json"), (PHOTOS, PHOTOS_TRUTH)):
        if not truth_file.is_file():
            continue
        for name, truth in json.loads(truth_file.read_text()).items():
            cases.append(pytest.param(folder, name, truth, id=f"{folder.name}/{name}"))
    return cases


@pytest.fixture(scope="module", autouse=True)
def testdata_present():
    """The shared real files; skipped only off CI when they are absent."""
    if not (CORPUS.is_dir() and PHOTOS.is_dir()):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{TESTDATA} is missing: it must exist on CI")
        missing_component(f"{TESTDATA} not present on this machine")


def expected_time(truth: dict) -> datetime | None:
    """exiftool's capture time (DateTimeOriginal, else CreateDate) as an aware datetime; China time if no zone."""
    text = truth.get("DateTimeOriginal") or truth.get("CreateDate")
    if not text:
        return None
    zone_text = truth.get("OffsetTimeOriginal") if truth.get("DateTimeOriginal") else None
    if text.endswith("Z"):
        text, zone_text = text[:-1], "+00:00"
    elif len(text) > 19 and text[19] in "+-":
        text, zone_text = text[:19], text[19:]
    local = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    if zone_text is None:
        return local.replace(tzinfo=CHINA)
    sign = -1 if zone_text[0] == "-" else 1
    hours, minutes = int(zone_text[1:3]), int(zone_text[4:6])
    return local.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))


def test_every_corpus_file_has_a_ground_truth():
    """All 94 corpus files and all 8 photos are checked here: none is left out of the ground truth."""
    corpus = {str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg")}
    assert corpus == set(json.loads((CORPUS / "exiftool.json").read_text())) and len(corpus) == 94
    photos = {p.name for p in PHOTOS.glob("*.jpg")}
    assert photos == set(json.loads(PHOTOS_TRUTH.read_text()))


@pytest.mark.parametrize(("folder", "name", "truth"), _cases())
def test_real_file_processes_or_is_refused_and_reads_as_exiftool(folder, name, truth):
    """The file processes, or is refused with a named 4xx code; its EXIF reads as exiftool reads it."""
    data = (folder / name).read_bytes()
    try:
        exif = process_photo(io.BytesIO(data)).exif
    except PhotoRejected as exc:
        assert 400 <= REJECT_STATUS[exc.code] < 500, exc.code
        with Image.open(io.BytesIO(data)) as img:
            exif = read_exif(img)
    got = exif.as_dict() if exif else {}
    orientation = truth.get("Orientation")
    assert got.get("make") == truth.get("Make")
    assert got.get("model") == truth.get("Model")
    assert got.get("orientation") == (orientation if orientation in range(1, 9) else None)
    taken = expected_time(truth)
    assert got.get("taken_at") == (taken.isoformat() if taken else None)
    assert got.get("lat") == (pytest.approx(truth["GPSLatitude"], abs=1e-6) if "GPSLatitude" in truth else None)
    assert got.get("lng") == (pytest.approx(truth["GPSLongitude"], abs=1e-6) if "GPSLongitude" in truth else None)
