"""Perceptual hashes for reuse detection that survives crops, rotations and flips.

A photo gets ten 64-bit *region hashes* of its upright 320 px thumbnail: the whole frame and
nine windows of 90 % (3 x 3 positions). Each is the sign of the 63 lowest non-DC DCT
coefficients of the region's 32 x 32 luminance grid. A copy cropped by up to ~10 % has one of its
regions (or its whole frame) close to a region of the original, and a screenshot with a status
bar has a window close to the original's whole frame: regions are compared with regions,
nothing else. Rotating or flipping an image only changes the signs of the odd frequencies and
swaps the two axes of the coefficient block, so the 8 orientations of a hash are derived from
its bits, without touching the pixels again (orientations()).

Each region hash is kept in a canonical orientation (canonical_orientations(): the stronger first
gradient horizontal, both first gradients positive), so a copy turned any way hashes to the same
canonical value and a lookup probes one orientation per region, not eight; where a decision was
close the lookup also probes the other side of it. Lookup is indexed and exact: each stored hash is
cut into HASH_BANDS bands of 20-24 bits (hash_bands), and the lookup asks, band by band, for every
stored hash whose band value is within BAND_RADIUS bits of one of the new photo's canonical hashes'
(band_probes), any region against any region (a screenshot's window meets a window of the
original), and within NEAR_DUPLICATE_DISTANCE of it (coarse_pairs()); the database checks both, on
an index that holds the whole hash beside each band value (db_hash()). Two hashes within
NEAR_DUPLICATE_DISTANCE always meet so (generalised pigeonhole: three bands each 3 or more bits
apart make 9 or more), so the index finds every stored hash within the distance, not most of them.
A pair that passes is looked at once more, finer (confirmed(): the same aligned regions on a
64 x 64 grid, read from the stored thumbnail): at 32 x 32 a plain surface with a small object
looks the same from a step away, at 64 x 64 it does not.

The DCTs of the ten regions are computed in C, in Pillow (_dct_low_all(): float32 image products
summed by a BOX resize, ~1 ms for all ten), and every decision taken on them (each sign, the
canonical orientation and its close calls, the flat-frame threshold) is checked against the float32
error bound: a region where any decision is within FAST_ERROR of changing is computed again in pure
Python doubles (_dct_low(), ~0.6 ms a region), so the hashes are exactly those of the pure-Python DCT
(tests/imaging/test_phash_fast.py pins them on the real photos). No numpy/scipy (imagehash would pull
136 MB of scipy for the same DCT).

The whole-frame 64-bit dHash (dhash) is kept as the second hash of the flat-frame gate.
"""

from __future__ import annotations

import math
import operator
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations

from PIL import Image, ImageMath

# Three bands of 24, 20 and 20 bits (_BAND_BITS), each probed up to BAND_RADIUS bits off: a hash
# within NEAR_DUPLICATE_DISTANCE of another differs from it by BAND_RADIUS bits or fewer in at least
# one band, since HASH_BANDS x (BAND_RADIUS + 1) = 9 > 8. Wider bands read fewer rows per probed
# value (N / 2^20 instead of N / 2^10..2^13 for N stored region hashes) at the price of more values
# per probe (301 + 211 + 211 instead of 5): 1.7x (random hashes) to 3x (real canonical hashes: their
# fixed bits left the old first band 10 varying bits) fewer index rows per probed hash, 30 band rows per
# photo instead of 50, and no pair within the distance is ever missed.
HASH_BANDS = 3
BAND_RADIUS = 2
# Largest region-hash distance of a near-duplicate: resized, re-encoded, brightened and
# orientation-changed copies measure 0-3, 5-10 % crops and screenshots up to 7-8, distinct
# real photos 11 or more (scripts/bench_reuse.py measures all of this on the real photos).
NEAR_DUPLICATE_DISTANCE = 8
# A canonical-orientation decision closer than this many median |AC| of the region is looked up
# both ways (canonical_orientations()).
CLOSE_MARGIN = 1.0
# Second look at a pair that passed NEAR_DUPLICATE_DISTANCE: the same aligned regions hashed
# finer (255 bits, 64 x 64 grid). Copies measure up to ~100, unrelated pictures 127 +- 8: a plain
# surface shot twice can pass the coarse hash, but not this one.
FINE_DISTANCE = 104
# A picture whose median low-frequency coefficient is below this is flat (lens covered, blank
# wall, a black frame): its signs are noise, so it is matched by identical bytes only.
FLAT_STRUCTURE = 40.0

_GRID = 32
_LOW = 8
_FINE_GRID = 64
_FINE_LOW = 16
_WINDOW = 0.9
REGIONS: tuple[tuple[float, float, float, float], ...] = ((0.0, 0.0, 1.0, 1.0),) + tuple(
    (x * (1 - _WINDOW), y * (1 - _WINDOW), x * (1 - _WINDOW) + _WINDOW, y * (1 - _WINDOW) + _WINDOW)
    for y in (0.0, 0.5, 1.0)
    for x in (0.0, 0.5, 1.0)
)

# Bound on |float32 DCT (_dct_low_all) - exact DCT| of a 32 x 32 grid of bytes: six float32 roundings
# (2**-24 each: two cosines, two products, two stored sums) of at most 32 * 32 * 255 = 261120 summed
# magnitude make 0.094; pure-Python doubles err by ~1e-9. Measured on the real photos: 0.0024.
FAST_ERROR = 0.25

# The first band is 3 bits wider: three of its bits are the same in every canonical hash (the DC
# sign, and both first gradients made positive), so each band has 20 or 21 bits that vary and the
# index ranges of real photos' band values are as short in one band as in the others.
_BAND_BITS = (24, 20, 20)
# Per band, the XOR masks of every way to flip up to BAND_RADIUS of its bits (0 first): band_probes().
_BAND_FLIPS = tuple(
    tuple(
        sum(1 << bit for bit in flipped)
        for radius in range(BAND_RADIUS + 1)
        for flipped in combinations(range(bits), radius)
    )
    for bits in _BAND_BITS
)
_COS = tuple(tuple(math.cos(math.pi * (2 * x + 1) * u / (2 * _GRID)) for x in range(_GRID)) for u in range(_LOW))
_FINE_COS = tuple(
    tuple(math.cos(math.pi * (2 * x + 1) * u / (2 * _FINE_GRID)) for x in range(_FINE_GRID)) for u in range(_FINE_LOW)
)
# Bit (v, u) of a region hash is at position 63 - (8 v + u): v vertical, u horizontal frequency.
# A horizontal flip negates odd u, a vertical flip odd v; the signs of those bits invert.
_ODD_U = sum(1 << (63 - (8 * v + u)) for v in range(_LOW) for u in range(_LOW) if u % 2 and (u or v))
_ODD_V = sum(1 << (63 - (8 * v + u)) for v in range(_LOW) for u in range(_LOW) if v % 2 and (u or v))


@dataclass(frozen=True)
class RegionHash:
    """One region's hash in its canonical orientation, and how the upright region was turned to get there.

    orientation (numbered as in orientations()) turns the upright region into the canonical frame;
    close holds the other orientations a copy of this region may be turned by instead, because a
    decision of canonical_orientations() was close (only known where the pixels were hashed).
    """

    value: int
    orientation: int
    close: tuple[int, ...] = ()

    @property
    def upright(self) -> int:
        """The hash of the region as it stands in the upright picture."""
        return orientations(self.value)[inverse(self.orientation)]


def region_hashes(thumb: Image.Image) -> tuple[tuple[RegionHash, ...], float]:
    """The 10 canonical region hashes of an upright image, and its structure (median |AC| of the whole frame).

    structure is within FAST_ERROR of the exact figure, and on the same side of FLAT_STRUCTURE.
    """
    gray = thumb.convert("L")
    grids = [_grid(gray, index, _GRID) for index in range(len(REGIONS))]
    hashes = []
    structure = 0.0
    for index, coefficients in enumerate(_dct_low_all(grids)):
        scale = _median_ac(coefficients)
        if not _settled(coefficients, scale, whole_frame=index == 0):
            coefficients = _dct_low(grids[index], _COS)
            scale = _median_ac(coefficients)
        if index == 0:
            structure = scale
        chosen, *close = canonical_orientations(coefficients[1], coefficients[_LOW], scale)
        hashes.append(RegionHash(orientations(_sign_bits(coefficients))[chosen], chosen, tuple(close)))
    return tuple(hashes), structure


def _median_ac(coefficients: list[float]) -> float:
    """The median magnitude of the AC coefficients (all but the first): a region's scale of contrast."""
    ac = sorted(abs(c) for i, c in enumerate(coefficients) if i)
    return ac[len(ac) // 2]


def _settled(coefficients: list[float], scale: float, *, whole_frame: bool) -> bool:
    """Whether coefficients off by up to FAST_ERROR each still give every decision region_hashes takes.

    The signs need |c| > FAST_ERROR; the median (scale) moves by FAST_ERROR at most, so the
    comparisons of canonical_orientations() need a margin of (2 + CLOSE_MARGIN) x FAST_ERROR, and the
    whole frame's flat-frame threshold one of FAST_ERROR.
    """
    if min(abs(c) for c in coefficients[1:]) <= FAST_ERROR:
        return False
    c01, c10, close = abs(coefficients[1]), abs(coefficients[_LOW]), CLOSE_MARGIN * scale
    gaps = (abs(c10 - c01), abs(abs(c10 - c01) - close), abs(c01 - close), abs(c10 - close))
    if min(gaps) <= (2 + CLOSE_MARGIN) * FAST_ERROR:
        return False
    return not whole_frame or abs(scale - FLAT_STRUCTURE) > FAST_ERROR


def _basis(width: int, values: list[float], repeat: int) -> Image.Image:
    """A float32 image `width` wide: values row after row, all of them `repeat` times over."""
    return Image.frombytes("F", (width, len(values) * repeat // width), array("f", values).tobytes() * repeat)


# The horizontal pass multiplies every grid row, repeated once per frequency u, by cos_u; the
# vertical pass every column of its result, repeated once per frequency v, by cos_v (one value
# per row: the eight columns of a row hold the eight u of one grid row).
_H_BASIS = _basis(_LOW * _GRID, [_COS[u][x] for u in range(_LOW) for x in range(_GRID)], len(REGIONS) * _GRID)
_V_BASIS = _basis(_LOW, [_COS[v][r] for v in range(_LOW) for r in range(_GRID) for _u in range(_LOW)], len(REGIONS))


def _dct_low_all(grids: list[bytes]) -> list[list[float]]:
    """The 8 x 8 lowest DCT-II coefficients of each 32 x 32 grid (len(REGIONS) of them), as _dct_low, in float32.

    Products of repeated grids and cosines are summed by BOX resizes: means of 32 values, so the
    sums are 32 times the means, twice.
    """
    n = len(grids)
    rows = b"".join(grids)
    tiled = Image.frombytes(
        "L", (_LOW * _GRID, n * _GRID), b"".join(rows[i : i + _GRID] * _LOW for i in range(0, len(rows), _GRID))
    )
    horizontal = ImageMath.lambda_eval(lambda a: a["float"](a["grid"]) * a["cos"], grid=tiled, cos=_H_BASIS)
    sums = horizontal.resize((_LOW, n * _GRID), Image.Resampling.BOX).tobytes()  # per grid: 32 rows x 8 u
    block = _GRID * _LOW * 4
    columns = Image.frombytes(
        "F", (_LOW, n * _LOW * _GRID), b"".join(sums[i : i + block] * _LOW for i in range(0, len(sums), block))
    )
    vertical = ImageMath.lambda_eval(lambda a: a["sums"] * a["cos"], sums=columns, cos=_V_BASIS)
    means = array("f", vertical.resize((_LOW, n * _LOW), Image.Resampling.BOX).tobytes())
    per_grid = _LOW * _LOW
    return [[m * (_GRID * _GRID) for m in means[i : i + per_grid]] for i in range(0, len(means), per_grid)]


def canonical_orientations(c01: float, c10: float, scale: float) -> list[int]:
    """The orientation that turns a region into its canonical frame, then those a copy may take instead.

    Canonical: the axis with the stronger first gradient (|c01| horizontal, |c10| vertical) is
    horizontal, and both first gradients are positive (darker left and top). Each of the three
    decisions whose margin is under CLOSE_MARGIN x scale (the region's median |AC|) is taken both
    ways in the later entries: a slightly different copy may fall on the other side.
    """
    close = CLOSE_MARGIN * scale
    transposes = [abs(c10) > abs(c01)]
    if abs(abs(c10) - abs(c01)) < close:
        transposes.append(not transposes[0])
    out = []
    for transpose in transposes:
        horizontal, vertical = (c10, c01) if transpose else (c01, c10)
        flips_u = [horizontal < 0] + ([horizontal >= 0] if abs(horizontal) < close else [])
        flips_v = [vertical < 0] + ([vertical >= 0] if abs(vertical) < close else [])
        out += [4 * transpose + flip_u + 2 * flip_v for flip_u in flips_u for flip_v in flips_v]
    return out


def _grid(gray: Image.Image, region: int, size: int) -> bytes:
    """A region of a grayscale image box-averaged to size x size."""
    x0, y0, x1, y1 = REGIONS[region]
    width, height = gray.size
    box = (x0 * width, y0 * height, x1 * width, y1 * height)
    return gray.resize((size, size), Image.Resampling.BOX, box=box).tobytes()


def _dct_low(grid: bytes, cos: tuple[tuple[float, ...], ...]) -> list[float]:
    """The lowest len(cos) x len(cos) DCT-II coefficients of a square grid, row-major by (v, u)."""
    n, low = len(cos[0]), len(cos)
    rows = [grid[r * n : (r + 1) * n] for r in range(n)]
    # Separable: the low horizontal coefficients of every row, then the low vertical ones of each column.
    horizontal = [[sum(map(operator.mul, c, row)) for c in cos] for row in rows]
    columns = list(zip(*horizontal, strict=True))  # columns[u][r]
    return [sum(map(operator.mul, cos[v], columns[u])) for v in range(low) for u in range(low)]


def fine_hash(thumb: Image.Image, region: int, orientation: int) -> int:
    """255-bit hash of one region under one of the 8 orientations (numbered as in orientations())."""
    coefficients = _dct_low(_grid(thumb.convert("L"), region, _FINE_GRID), _FINE_COS)
    n = _FINE_LOW
    matrix = [coefficients[v * n : (v + 1) * n] for v in range(n)]
    if orientation >= 4:
        matrix = [list(column) for column in zip(*matrix, strict=True)]
    flip_u, flip_v = orientation % 4 in (1, 3), orientation % 4 in (2, 3)
    value = 0
    for v in range(n):
        for u in range(n):
            if u or v:
                c = matrix[v][u] * (-1 if flip_u and u % 2 else 1) * (-1 if flip_v and v % 2 else 1)
                value = (value << 1) | (c > 0)
    return value


def _sign_bits(coefficients: list[float]) -> int:
    """64 bits, one per coefficient (positive = 1); the DC bit is always 0."""
    value = 0
    for i, c in enumerate(coefficients):
        value = (value << 1) | (i > 0 and c > 0)
    return value


def _transpose(h: int) -> int:
    """The hash of the transposed region: bit (v, u) moves to (u, v)."""
    out = 0
    for v in range(_LOW):
        for u in range(_LOW):
            if h >> (63 - (8 * v + u)) & 1:
                out |= 1 << (63 - (8 * u + v))
    return out


def orientations(h: int) -> tuple[int, ...]:
    """The hash of the same region under each of the 8 rotations and flips (the first is h itself)."""
    out = []
    for base in (h, _transpose(h)):
        out += [base, base ^ _ODD_U, base ^ _ODD_V, base ^ _ODD_U ^ _ODD_V]
    return tuple(out)


def query_hashes(regions: Iterable[RegionHash]) -> dict[int, list[tuple[int, int]]]:
    """The canonical hashes of a new photo to look up, each with the (region, orientation) it comes from.

    One per region, plus one per close orientation: a copy of an upright region turned by one of
    them is where a slightly different copy of it was stored. Orientation is always the one that
    turns the new photo's upright region into the frame of the looked-up hash.
    """
    out: dict[int, list[tuple[int, int]]] = {}
    for index, region in enumerate(regions):
        for orientation in (region.orientation, *region.close):
            out.setdefault(orientations(region.upright)[orientation], []).append((index, orientation))
    return out


def inverse(orientation: int) -> int:
    """The orientation that undoes another: a flip undoes itself; transpose-then-flip undoes by transposing back."""
    # Transposing swaps the axes a flip acts on: (transpose, flip u, flip v) is undone by (transpose, flip v, flip u).
    return orientation if orientation < 4 else 4 + (orientation & 1) * 2 + (orientation >> 1 & 1)


def coarse_pairs(
    query: dict[int, list[tuple[int, int]]], stored: Iterable[RegionHash]
) -> list[tuple[int, int, int, int]]:
    """(new region, its orientation, stored region, its orientation) of every region pair the index finds, nearest first.

    Found: the two canonical hashes are within NEAR_DUPLICATE_DISTANCE (band_probes finds every such pair).
    """
    pairs = []
    for kind, s in enumerate(stored):
        for q, sources in query.items():
            apart = hamming(q, s.value)
            if apart <= NEAR_DUPLICATE_DISTANCE:
                pairs += [(apart, region, orientation, kind, s.orientation) for region, orientation in sources]
    return [pair[1:] for pair in sorted(pairs)]


def same_picture(
    new_thumb: Image.Image, new_hashes: Iterable[RegionHash], old_thumb: Image.Image, old_hashes: Iterable[RegionHash]
) -> bool:
    """The whole near-duplicate rule on two non-flat photos: found by the index, then confirmed finer."""
    pairs = coarse_pairs(query_hashes(new_hashes), old_hashes)
    return bool(pairs) and confirmed(new_thumb, old_thumb, pairs)


def confirmed(new_thumb: Image.Image, old_thumb: Image.Image, pairs: list[tuple[int, int, int, int]]) -> bool:
    """Whether the nearest coarse pair is also within FINE_DISTANCE at the finer grid, both in the canonical frame.

    Only the nearest: it is the alignment of a real copy, while trying the others too would give
    a plain surface several chances to look alike.
    """
    region, orientation, kind, stored_orientation = pairs[0]
    return (
        hamming(fine_hash(new_thumb, region, orientation), fine_hash(old_thumb, kind, stored_orientation))
        <= FINE_DISTANCE
    )


def is_flat(structure: float, whole_frame_dhash: int) -> bool:
    """A frame without structure by either hash (dark, blank, lens covered): matched by identical bytes only."""
    return structure < FLAT_STRUCTURE or not 4 <= whole_frame_dhash.bit_count() <= 60


def format_hashes(hashes: Iterable[RegionHash]) -> str:
    """Region hashes as stored in photos.region_hashes: 16 hex digits of the canonical hash and the orientation digit each, comma-separated."""
    return ",".join(f"{h.value:016x}{h.orientation}" for h in hashes)


def parse_hashes(text: str | None) -> tuple[RegionHash, ...]:
    """The inverse of format_hashes (without the close orientations, which are not stored); () for None or ''."""
    return tuple(RegionHash(int(part[:16], 16), int(part[16])) for part in text.split(",")) if text else ()


def parse_hash(text: str, kind: int) -> int:
    """The canonical hash of one region (kind) in a photos.region_hashes value, without parsing the others."""
    start = kind * 18  # 16 hex digits, the orientation digit, a comma
    return int(text[start : start + 16], 16)


def dhash(img) -> int:
    """64-bit difference hash: 9x8 grayscale, one bit per horizontal neighbour pair (right brighter)."""
    pixels = img.convert("L").resize((9, 8), Image.Resampling.LANCZOS).tobytes()
    value = 0
    for row_start in range(0, 72, 9):
        for i in range(row_start, row_start + 8):
            value = (value << 1) | (pixels[i + 1] > pixels[i])
    return value


def hamming(a: int, b: int) -> int:
    """Number of differing bits between two hashes."""
    return (a ^ b).bit_count()


def hash_bands(h: int) -> list[int]:
    """Split a 64-bit hash into HASH_BANDS bands (24, 20, 20 bits), the values the near-duplicate index is keyed on."""
    if not 0 <= h < 1 << 64:
        raise ValueError("hash must be an unsigned 64-bit integer")
    bands = []
    shift = 64
    for bits in _BAND_BITS:
        shift -= bits
        bands.append((h >> shift) & ((1 << bits) - 1))
    return bands


def band_probes(h: int) -> list[list[int]]:
    """For each band, every value within BAND_RADIUS bits of h's band value (h's own first): a hash within NEAR_DUPLICATE_DISTANCE of h has one of them in its band."""
    return [[value ^ flips for flips in masks] for value, masks in zip(hash_bands(h), _BAND_FLIPS, strict=True)]


def band_flips() -> tuple[tuple[int, ...], ...]:
    """For each band, the XOR masks of every way to flip up to BAND_RADIUS of its bits (0 first): band_probes() as masks."""
    return _BAND_FLIPS


def db_hash(h: int) -> int:
    """A 64-bit hash as the signed BIGINT the database stores (two's complement: the same 64 bits)."""
    if not 0 <= h < 1 << 64:
        raise ValueError("hash must be an unsigned 64-bit integer")
    return h - (1 << 64) if h >> 63 else h
