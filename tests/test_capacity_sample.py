"""scripts/capacity_sample.py, run small: the per-visit figures docs/capacity.md is built on."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from scripts import capacity_sample
from scripts.bench_load import PHOTO_GPS
from scripts.try_visit import camera_jpeg
from server.imaging.phash import HASH_BANDS, REGIONS


def _jpeg(seed: int) -> bytes:
    return camera_jpeg(*PHOTO_GPS, datetime.now(UTC), seed=seed)


@pytest.fixture
def photo_dir(tmp_path):
    """Two decodable JPEGs and a file that is not one (as ../shared/testdata/photos holds)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(_jpeg(1))
    (folder / "b.jpg").write_bytes(_jpeg(2))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8not a jpeg")
    return folder


def _run(capsys, *args: str) -> dict:
    assert capacity_sample.main(["--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_one_visit_counts_the_requests_rows_and_bytes_of_its_photos(photo_dir, capsys):
    """Two photos, two interviews: every photo's ticket/upload/complete, its row, its band rows and its stored files."""
    args = ("--photos", str(photo_dir), "--photos-per-visit", "2", "--feedback-photos", "1", "--console-rounds", "1")
    report = _run(capsys, *args, "--audit-appends", "20", "--audit-threads", "2")
    requests = {r["request"]: r["count"] for r in report["visit_requests"]}
    assert requests["POST /visits/{id}/photos (ticket)"] == 2
    assert requests["upload to storage (S3 in production)"] == 2
    assert requests["POST /photos/{id}/complete"] == 2
    assert requests["POST /visits/{id}/interviews"] == 2
    assert requests["POST /visits"] == requests["POST /visits/{id}/submit"] == 1
    rows = report["visit_rows"]
    assert rows["visits"] == 1 and rows["photos"] == 2 and rows["interviews"] == 2
    assert rows["photo_hash_bands"] == 2 * len(REGIONS) * HASH_BANDS
    # Every idempotent write leaves one client_writes row: start, check-in, 2 tickets, 2 interviews, checklist, submit.
    assert rows["client_writes"] == 8
    assert report["visit_audit_actions"]["photo.complete"] == 2
    stored = report["visit_photo_bytes"]["stored_per_photo"]
    # The original is sealed byte for byte; the derivatives are far smaller than it.
    assert stored["sealed/ (original)"] == report["visit_photo_bytes"]["uploaded_per_photo"]
    assert 0 < stored["thumbnail"] < stored["preview"] < stored["sealed/ (original)"]
    assert "uploads/ (original)" not in stored  # the upload is deleted once sealed
    files = report["photo_files"]
    assert [f["photo"] for f in files] == ["a.jpg", "b.jpg", "a.jpg"]  # two visit photos, then the feedback's
    assert all(0 < f["thumbnail"] < f["preview"] < f["original"] for f in files)
    assert report["feedback_rows"]["feedback"] == 1 and report["feedback_rows"]["photos"] == 1
    assert report["bind_rows"]["users"] == 1  # the phone's first WeChat login, once per inspector
    pages = {r["request"]: r["count"] for r in report["console_requests"]}
    assert pages == {
        "GET /console/dashboard": 1,
        "GET /console/visits": 1,
        "GET /console/visits/{id}": 1,
        "GET /console/feedback": 1,
    }
    # Two threads appending to the one chain at once: every entry lands, none is refused.
    audit = report["audit_append"]
    assert audit["entries"] == 20 and audit["errors"] == [] and audit["chain_verifies"]


def test_replayed_writes_add_requests_but_no_rows(photo_dir, capsys):
    """Under --replay every write goes twice (a lost answer) and the database holds what one send stores."""
    args = ("--photos", str(photo_dir), "--photos-per-visit", "1", "--interviews", "1", "--feedback-photos", "0")
    args += ("--console-rounds", "0")
    once = _run(capsys, *args)
    twice = _run(capsys, *args, "--replay")
    assert twice["visit_rows"] == once["visit_rows"]
    assert twice["feedback_rows"] == once["feedback_rows"]
    retries = {r["request"]: r["count"] for r in twice["visit_requests"] if r["request"].endswith("(retry)")}
    assert retries["POST /visits/{id}/submit (retry)"] == 1
    assert len(retries) == 6  # start, check-in, ticket, interview, checklist, submit


def test_a_folder_without_a_usable_jpeg_is_refused(tmp_path):
    """Only broken files: a clear exit, not a visit of nothing."""
    (tmp_path / "x.jpg").write_bytes(b"nope")
    with pytest.raises(SystemExit, match="no decodable JPEG"):
        capacity_sample.load_photos(str(tmp_path), 1)


def test_no_visit_is_refused_before_anything_starts():
    """--visits 0 would measure nothing: the options are refused (exit status 2)."""
    with pytest.raises(SystemExit) as stopped:
        capacity_sample.parse_args(["--visits", "0"])
    assert stopped.value.code == 2
