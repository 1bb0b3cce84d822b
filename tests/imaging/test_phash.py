"""Tests of server.imaging.phash: region hashes, their 8 orientations, the flat-frame gate, the indexed rule."""

import io
import random
from pathlib import Path

import pytest
from PIL import Image

from server.imaging import phash
from server.imaging.decode import process_photo
from tests.conftest import missing_component
from tests.support.images import scene

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
ORIENTATION_SET = TESTDATA / "corpus" / "orientation"
PHOTOS = TESTDATA / "photos"


@pytest.mark.parametrize("op", list(Image.Transpose))
def test_orientations_are_the_hashes_of_the_rotated_picture(op):
    """Each rotation or flip of a picture hashes (whole frame) to one of orientations() of the original, ±2 bits."""
    img = scene(1)
    whole = phash.region_hashes(img)[0][0].upright
    turned = phash.region_hashes(img.transpose(op))[0][0].upright
    assert min(phash.hamming(turned, variant) for variant in phash.orientations(whole)) <= 2
    assert phash.orientations(whole)[0] == whole and len(set(phash.orientations(whole))) == 8


@pytest.mark.parametrize("seed", [1, 3, 5])
@pytest.mark.parametrize("op", list(Image.Transpose))
def test_canonical_hash_is_the_same_in_all_8_orientations(op, seed):
    """A rotated or flipped picture looks up the upright one's canonical whole-frame hash (±2 bits), in one probe when its decisions are clear."""
    img = scene(seed)
    upright = phash.region_hashes(img)[0]
    turned = phash.region_hashes(img.transpose(op))[0]
    assert min(phash.hamming(q, upright[0].value) for q in phash.query_hashes(turned[:1])) <= 2
    if not turned[0].close:
        assert phash.hamming(turned[0].value, upright[0].value) <= 2
    for region in upright + turned:
        assert phash.orientations(region.upright)[region.orientation] == region.value


def test_ten_regions_and_a_bounded_number_of_query_hashes():
    """A picture has the whole frame plus nine 90 % windows, looked up by their canonical hashes and close orientations."""
    hashes, structure = phash.region_hashes(scene(2))
    assert len(hashes) == len(phash.REGIONS) == 10 and all(0 <= h.value < 1 << 64 for h in hashes)
    query = phash.query_hashes(hashes)
    assert 10 <= sum(map(len, query.values())) == sum(1 + len(h.close) for h in hashes) <= 20
    assert structure > phash.FLAT_STRUCTURE
    assert (3, hashes[3].orientation) in query[hashes[3].value]
    stored = phash.parse_hashes(phash.format_hashes(hashes))
    assert [(h.value, h.orientation) for h in stored] == [(h.value, h.orientation) for h in hashes]
    assert phash.parse_hashes(None) == ()


def test_close_decisions_are_looked_up_both_ways():
    """A region whose gradients are nearly equal and nearly zero is looked up in all 8 orientations; a clear one in one."""
    assert len(set(phash.canonical_orientations(0.1, -0.1, 10.0))) == 8
    assert phash.canonical_orientations(-50.0, 20.0, 10.0) == [1]
    assert phash.canonical_orientations(20.0, 50.0, 10.0) == [4]


def test_flat_frames_fail_the_gate_by_either_hash():
    """A uniform frame is flat by its structure; an all-zero dHash is flat even with structure."""
    grey = Image.new("RGB", (320, 240), (90, 90, 90))
    hashes, structure = phash.region_hashes(grey)
    assert phash.is_flat(structure, phash.dhash(grey))
    assert phash.is_flat(1000.0, 0) and phash.is_flat(1000.0, (1 << 64) - 1)
    assert not phash.is_flat(phash.region_hashes(scene(3))[1], phash.dhash(scene(3)))


def test_coarse_pairs_are_every_pair_within_the_distance():
    """coarse_pairs() follows the index, which misses nothing: a stored hash 8 bits off is found wherever its flips fall, 9 bits off is not."""
    stored = random.Random(4).getrandbits(64)
    eight_off = stored ^ (0b111 << 60) ^ (0b111 << 30) ^ 0b11  # 3, 3 and 2 flips: no band value equal
    nine_off = stored ^ 0b1_1111_1111
    assert phash.coarse_pairs({eight_off: [(3, 5)]}, [phash.RegionHash(stored, 2)]) == [(3, 5, 0, 2)]
    assert not phash.coarse_pairs({nine_off: [(3, 5)]}, [phash.RegionHash(stored, 2)])
    assert phash.coarse_pairs({stored: [(3, 5)]}, [phash.RegionHash(0, 0), phash.RegionHash(stored, 6)]) == [
        (3, 5, 1, 6)
    ]


def test_fine_hash_orientation_matches_the_turned_picture():
    """fine_hash(img, region, o) equals the fine hash of the picture turned by orientation o (within noise)."""
    img = scene(8)
    for o, op in (
        (1, Image.Transpose.FLIP_LEFT_RIGHT),
        (2, Image.Transpose.FLIP_TOP_BOTTOM),
        (4, Image.Transpose.TRANSPOSE),
    ):
        assert phash.hamming(phash.fine_hash(img, 0, o), phash.fine_hash(img.transpose(op), 0, 0)) <= 8


def test_cropped_and_mirrored_copy_is_found_but_another_picture_is_not():
    """A 10 % crop of a mirrored picture is found and confirmed; a different picture is not found."""
    original = scene(5, (640, 480))
    copy = original.transpose(Image.Transpose.FLIP_LEFT_RIGHT).crop((40, 10, 616, 442))
    stored = phash.region_hashes(original)[0]
    assert phash.same_picture(copy, phash.region_hashes(copy)[0], original, stored)
    assert not phash.coarse_pairs(phash.query_hashes(phash.region_hashes(scene(6, (640, 480)))[0]), stored)


def test_same_object_shot_by_two_phones_passes_coarse_but_not_fine():
    """The real iPhone 11 and Pixel 5 photos of one cartridge on a plain surface: alike at 32 x 32, not at 64 x 64."""
    if not PHOTOS.is_dir():
        missing_component(f"{PHOTOS} not present on this machine")
    iphone, pixel = (
        process_photo(io.BytesIO((PHOTOS / name).read_bytes()))
        for name in ("cartridgeocr_iphone11_IMG_5809.jpg", "cartridgeocr_pixel5_PXL_20210518_214205292.jpg")
    )
    assert phash.coarse_pairs(phash.query_hashes(pixel.region_hashes), iphone.region_hashes)
    pixel_thumb, iphone_thumb = (Image.open(io.BytesIO(p.thumb_jpeg)) for p in (pixel, iphone))
    assert not phash.same_picture(pixel_thumb, pixel.region_hashes, iphone_thumb, iphone.region_hashes)


def test_real_orientation_set_is_one_picture():
    """The 8 EXIF orientations of the real Landscape and Portrait files each find the _1 file."""
    if not ORIENTATION_SET.is_dir():
        missing_component(f"{ORIENTATION_SET} not present on this machine")
    for name in ("Landscape", "Portrait"):
        results = [process_photo(io.BytesIO((ORIENTATION_SET / f"{name}_{n}.jpg").read_bytes())) for n in range(1, 9)]
        upright = results[0].region_hashes
        assert all(phash.coarse_pairs(phash.query_hashes(r.region_hashes), upright) for r in results[1:])


def test_parse_hash_reads_one_region_of_the_stored_text():
    """parse_hash(text, kind) is the kind-th canonical hash of parse_hashes(text)."""
    hashes, _ = phash.region_hashes(scene(4))
    text = phash.format_hashes(hashes)
    assert [phash.parse_hash(text, kind) for kind in range(10)] == [h.value for h in phash.parse_hashes(text)]
