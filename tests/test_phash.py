"""Tests of server.phash: region hashes, their 8 orientations, the flat-frame gate, the indexed rule."""

import io
import random
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from server import phash
from server.photos import process_photo
from tests.conftest import missing_component

ORIENTATION_SET = Path(__file__).resolve().parents[1].parent / "shared" / "testdata" / "corpus" / "orientation"


def scene(seed: int, size=(320, 240)) -> Image.Image:
    """A picture with random coloured shapes."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(img)
    for _ in range(30):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        box = (x0, y0, x0 + rng.randrange(10, size[0] // 2), y0 + rng.randrange(10, size[1] // 2))
        draw.rectangle(box, fill=tuple(rng.randrange(256) for _ in range(3)))
    return img


@pytest.mark.parametrize("op", list(Image.Transpose))
def test_orientations_are_the_hashes_of_the_rotated_picture(op):
    """Each rotation or flip of a picture hashes (whole frame) to one of orientations() of the original, ±2 bits."""
    img = scene(1)
    whole = phash.region_hashes(img)[0][0]
    turned = phash.region_hashes(img.transpose(op))[0][0]
    assert min(phash.hamming(turned, variant) for variant in phash.orientations(whole)) <= 2
    assert phash.orientations(whole)[0] == whole and len(set(phash.orientations(whole))) == 8


def test_ten_regions_and_eighty_query_hashes():
    """A picture has the whole frame plus nine 90 % windows, each in 8 orientations to look up."""
    hashes, structure = phash.region_hashes(scene(2))
    assert len(hashes) == len(phash.REGIONS) == 10 and all(0 <= h < 1 << 64 for h in hashes)
    assert len(phash.query_hashes(hashes)) == 80 and structure > phash.FLAT_STRUCTURE
    assert phash.parse_hashes(phash.format_hashes(hashes)) == hashes and phash.parse_hashes(None) == ()


def test_flat_frames_fail_the_gate_by_either_hash():
    """A uniform frame is flat by its structure; an all-zero dHash is flat even with structure."""
    grey = Image.new("RGB", (320, 240), (90, 90, 90))
    hashes, structure = phash.region_hashes(grey)
    assert phash.is_flat(structure, phash.dhash(grey))
    assert phash.is_flat(1000.0, 0) and phash.is_flat(1000.0, (1 << 64) - 1)
    assert not phash.is_flat(phash.region_hashes(scene(3))[1], phash.dhash(scene(3)))


def test_found_needs_a_shared_band_and_the_distance():
    """found() follows the index: a stored hash 8 bits off in one band's reach is found, 9 bits off is not."""
    stored = random.Random(4).getrandbits(64)
    eight_off = stored ^ 0b1111_1111  # all 8 flips in the last band: the other four bands still match
    nine_off = stored ^ 0b1_1111_1111
    assert phash.found({eight_off}, [stored])
    assert not phash.found({nine_off}, [stored])


def test_cropped_and_mirrored_copy_is_found_but_another_picture_is_not():
    """A 10 % crop of a mirrored picture is found among the original's regions; a different picture is not."""
    original = scene(5, (640, 480))
    copy = original.transpose(Image.Transpose.FLIP_LEFT_RIGHT).crop((40, 10, 616, 442))
    stored = phash.region_hashes(original)[0]
    assert phash.found(phash.query_hashes(phash.region_hashes(copy)[0]), stored)
    assert not phash.found(phash.query_hashes(phash.region_hashes(scene(6, (640, 480)))[0]), stored)


def test_real_orientation_set_is_one_picture():
    """The 8 EXIF orientations of the real Landscape and Portrait files each find the _1 file."""
    if not ORIENTATION_SET.is_dir():
        missing_component(f"{ORIENTATION_SET} not present on this machine")
    for name in ("Landscape", "Portrait"):
        results = [process_photo(io.BytesIO((ORIENTATION_SET / f"{name}_{n}.jpg").read_bytes())) for n in range(1, 9)]
        upright = results[0].region_hashes
        assert all(phash.found(phash.query_hashes(r.region_hashes), upright) for r in results[1:])
