"""The region hashes' DCT in C (float32, in Pillow) gives exactly the hashes of the pure-Python DCT."""

import io
import json
import math
import random
from pathlib import Path

import pytest
from PIL import Image

from server.imaging import phash
from server.imaging.decode import process_photo
from tests.conftest import missing_component
from tests.support.images import scene

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
# What the pure-Python DCT (before the C one) gave the real photos of ../shared/testdata: each
# region as format_hashes writes it, then "/" and the close orientations when there are any.
PINNED = Path(__file__).resolve().parents[1] / "data" / "region_hashes_pinned.json"


def pinned_form(hashes) -> str:
    """Region hashes as the pinned file writes them: the stored form plus the close orientations."""
    return ",".join(
        f"{h.value:016x}{h.orientation}" + (f"/{''.join(map(str, h.close))}" if h.close else "") for h in hashes
    )


class ExactCount:
    """Counts the regions region_hashes computes again in pure Python."""

    def __init__(self, monkeypatch) -> None:
        self.calls = 0
        exact = phash._dct_low

        def counted(grid, cos):
            self.calls += 1
            return exact(grid, cos)

        monkeypatch.setattr(phash, "_dct_low", counted)


def test_region_hashes_of_the_real_photos_are_the_pinned_ones():
    """Every real photo, its thumbnail turned 8 ways and a 10 % crop hash bit for bit as the pure-Python DCT hashed them."""
    if not TESTDATA.is_dir():
        missing_component(f"{TESTDATA} not present on this machine")
    pinned = json.loads(PINNED.read_text())
    assert len(pinned) >= 20
    for name, expected in pinned.items():
        result = process_photo(io.BytesIO((TESTDATA / name).read_bytes()))
        assert pinned_form(result.region_hashes) == expected["regions"], name
        assert f"{result.phash:016x}" == expected["phash"], name
        assert phash.is_flat(result.structure, result.phash) == expected["flat"], name
        # Pinned to 3 decimals; the float32 DCT may move it by less than its error bound (0.25).
        assert abs(result.structure - expected["structure"]) <= 0.25, name
        with Image.open(io.BytesIO(result.thumb_jpeg)) as thumb:
            thumb.load()
            turned = {op.name: thumb.transpose(op) for op in Image.Transpose}
            w, h = thumb.size
            turned["crop10"] = thumb.crop((w // 20, h // 20, w - w // 20, h - h // 20))
            for label, img in turned.items():
                assert pinned_form(phash.region_hashes(img)[0]) == expected["thumb_variants"][label], (name, label)


@pytest.mark.parametrize("seed", range(6))
def test_float32_dct_is_within_the_error_bound(seed):
    """_dct_low_all differs from the double-precision _dct_low by less than FAST_ERROR, worst-case grids included."""
    rng = random.Random(seed)
    n = len(phash.REGIONS)
    grids = [bytes(rng.randrange(256) for _ in range(32 * 32)) for _ in range(n - 3)]
    grids.append(bytes(255 * ((x + y) % 2) for y in range(32) for x in range(32)))  # checkerboard: largest sums
    grids.append(bytes([255]) * 1024)
    grids.append(bytes(255 * (x >= 16) for _y in range(32) for x in range(32)))
    for grid, fast in zip(grids, phash._dct_low_all(grids), strict=True):
        exact = phash._dct_low(grid, phash._COS)
        assert max(abs(a - b) for a, b in zip(fast, exact, strict=True)) < phash.FAST_ERROR / 2


def test_pictures_hash_in_c_without_the_python_dct(monkeypatch):
    """Pictures with structure are hashed in C: no region is computed again in Python."""
    exact = ExactCount(monkeypatch)
    for seed in (1, 2, 3):
        phash.region_hashes(scene(seed))
    assert exact.calls == 0


@pytest.mark.parametrize(
    ("picture", "exact_somewhere"),
    [
        # Every AC coefficient is 0: the signs are rounding noise, and must be the same noise.
        (Image.new("RGB", (320, 240), (90, 90, 90)), True),
        # A gradient along one axis: the coefficients of the other axis are 0.
        (Image.linear_gradient("L").resize((320, 240)).convert("RGB"), True),
        (scene(4).transpose(Image.Transpose.FLIP_LEFT_RIGHT), False),
    ],
    ids=["flat", "gradient", "scene"],
)
def test_close_decisions_are_taken_on_the_exact_dct(monkeypatch, picture, exact_somewhere):
    """Where a sign or an orientation decision is within the float32 error, the region is computed in Python,
    so the hashes equal those of the pure-Python DCT everywhere (FAST_ERROR = inf sends every region there)."""
    exact = ExactCount(monkeypatch)
    hashes, structure = phash.region_hashes(picture)
    assert (exact.calls > 0) == exact_somewhere
    monkeypatch.setattr(phash, "FAST_ERROR", math.inf)
    reference, reference_structure = phash.region_hashes(picture)
    assert pinned_form(hashes) == pinned_form(reference)
    assert abs(structure - reference_structure) <= 0.25
    assert (structure < phash.FLAT_STRUCTURE) == (reference_structure < phash.FLAT_STRUCTURE)
