"""services/flag_words.py: flags in the reviewer's words, written from the thresholds that raise them."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

from server.services import flag_words, photos, visits

SERVICES = Path(__file__).resolve().parents[2] / "server" / "services"


def test_sentences_follow_the_thresholds_that_raise_the_flags(monkeypatch):
    """Changing a threshold constant changes the sentence that explains its flag."""
    assert "超过 100 米" in flag_words.explain("low_accuracy")
    monkeypatch.setattr(visits, "LOW_ACCURACY_M", 50)
    monkeypatch.setattr(visits, "MAX_SPEED_KMH", 120)
    monkeypatch.setattr(visits, "CLOCK_SKEW", timedelta(minutes=5))
    monkeypatch.setattr(photos, "FAR_MARGIN_M", 300)
    monkeypatch.setattr(photos, "EXIF_TIME_TOLERANCE", timedelta(minutes=30))
    assert "超过 50 米" in flag_words.explain("low_accuracy", accuracy=80)
    assert "超过 50 米" in flag_words.explain("low_accuracy")
    assert "超过 120 公里/小时" in flag_words.explain("impossible_speed")
    assert "相差超过 5 分钟" in flag_words.explain("clock_skew")
    assert "含 300 米余量" in flag_words.explain("capture_far", place="江南村", distance=900)
    assert "超出围栏 300 米以上" in flag_words.explain("exif_gps_far")
    assert "相差超过 30 分钟" in flag_words.explain("exif_time_mismatch")
    assert "相差超过 30 分钟" in flag_words.edit_evidence({"modified_at": "2026-03-01T02:00:00+00:00"})


def test_distances_in_sentences_carry_their_unit():
    """A distance handed over as a number is written with 米 or 公里."""
    sentence = flag_words.explain("far_from_village", place="江南村", distance=5563.4, radius=500)
    assert "约 5.56 公里,围栏半径 500 米" in sentence
    assert "精度为 150 米" in flag_words.explain("low_accuracy", accuracy=150)


def test_services_do_not_import_the_console():
    """The words every export uses live below the services: no service module imports server.console."""
    upward = []
    for path in sorted(SERVICES.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            upward += [f"{path.name}: {n}" for n in names if n.startswith("server.console")]
    assert upward == []
