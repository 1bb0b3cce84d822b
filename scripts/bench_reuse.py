"""Reuse detection on real photos: recall per kind of altered copy, false pairs, CPU cost of the hashes.

Run from the project root (reads ../shared/testdata/corpus and ../shared/testdata/photos):
    .venv/bin/python scripts/bench_reuse.py [--limit N]

Every distinct real picture that the pipeline accepts (an orientation set of the corpus is one
picture; files present in both folders count once) is altered the ways a cheater re-submits last
month's photo, and each copy goes through server.imaging.decode.process_photo like an upload:
  resize 50 %             stored pixels halved, EXIF (orientation) kept, JPEG q90
  quality 60              stored pixels re-encoded at JPEG quality 60, EXIF kept
  5 % centre crop         2.5 % cut from each side of the upright picture
  5 % one-edge crop       5 % cut from one edge (right, bottom, left, top in turn)
  10 % crop               6 % left, 4 % right, 3 % top, 7 % bottom cut
  orientation tag changed stored pixels with another Orientation tag (rotations and flips in turn)
  rotation baked in       the upright picture stored rotated, with the tag that turns it back
  PNG at 1080 px          the upright picture at 1080 px on the long side, as PNG
  brightness +10 % / -10 %
  screenshot + status bar 1080 px wide with a 72 px status bar (clock, signal, battery) on top, PNG
A copy counts as found when the service's lookup would flag it (phash.same_picture): a canonical
region hash of the copy (or one of its close orientations) is within NEAR_DUPLICATE_DISTANCE of a
canonical region hash of the original (the index finds every such pair), and the nearest such pair is within FINE_DISTANCE
on the finer grid, read from both stored thumbnails; flat frames on either side never match. The old whole-frame dHash
(distance <= 4, no orientations) is shown beside it.

False pairs: every pair of distinct real pictures, looked up both ways, plus "same scene,
different shot" pairs made from each picture of at least 1000 px: two 75 % framings offset by a
step of 15 % of the picture (a fifth of the framing), sideways and upwards, standing for the
notice board shot twice a step apart. Goal: >= 95 % recall on every kind and 0 false pairs.
Recall counts the copies the pipeline accepts; a copy it refuses (smaller than its minimum size)
is shown apart, as it can never be stored.
This is a benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import sys
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.imaging import phash  # noqa: E402
from server.imaging.decode import PhotoRejected, ProcessedPhoto, process_photo  # noqa: E402

TESTDATA = ROOT.parent / "shared" / "testdata"
GOAL_RECALL = 0.95
OLD_DHASH_DISTANCE = 4


def jpeg(img: Image.Image, exif: Image.Exif | None = None, quality: int = 90) -> bytes:
    """img as a JPEG, with exif if given."""
    out = io.BytesIO()
    img.convert("RGB").save(out, "JPEG", quality=quality, exif=exif if exif is not None else b"")
    return out.getvalue()


def png(img: Image.Image) -> bytes:
    """img as a PNG."""
    out = io.BytesIO()
    img.convert("RGB").save(out, "PNG")
    return out.getvalue()


def real_pictures(limit: int | None) -> list[tuple[str, bytes]]:
    """(name, bytes) of every distinct real picture: one file per orientation set, duplicates once."""
    files = [TESTDATA / "corpus" / name for name in json.loads((TESTDATA / "corpus" / "exiftool.json").read_text())]
    files += sorted((TESTDATA / "photos").glob("*.jpg"))
    seen_bytes, seen_sets, out = set(), set(), []
    for path in files:
        data = path.read_bytes()
        digest = hashlib.sha256(data).digest()
        if digest in seen_bytes:
            continue
        seen_bytes.add(digest)
        orientation_set = re.search(r"(?i)(landscape|portrait)_\d\.jpg$", path.name)
        if orientation_set:
            key = (path.parent.name, orientation_set.group(1).lower())
            if key in seen_sets:
                continue
            seen_sets.add(key)
        out.append((str(path.relative_to(TESTDATA)), data))
    return out[:limit] if limit else out


def upright(data: bytes) -> tuple[Image.Image, Image.Image, Image.Exif, int]:
    """(stored pixels, upright picture, EXIF, orientation) of a file."""
    raw = Image.open(io.BytesIO(data))
    exif = raw.getexif()
    orientation = exif.get(0x0112, 1) if exif.get(0x0112, 1) in range(1, 9) else 1
    stored = raw.convert("RGB")
    return stored, ImageOps.exif_transpose(stored.copy()) if orientation != 1 else stored, exif, orientation


def status_bar_screenshot(img: Image.Image) -> bytes:
    """img shown full-width on a 1080 px phone screen, with the status bar above it, as a PNG screenshot."""
    width, bar = 1080, 72
    height = round(img.height * width / img.width)
    shot = Image.new("RGB", (width, height + bar), (20, 20, 20))
    shot.paste(img.resize((width, height), Image.Resampling.LANCZOS), (0, bar))
    draw = ImageDraw.Draw(shot)
    draw.text((40, 18), "9:41", fill=(255, 255, 255), font_size=36)
    draw.rectangle((960, 26, 1020, 48), outline=(255, 255, 255), width=3)
    draw.rectangle((964, 30, 1000, 44), fill=(255, 255, 255))
    for k in range(4):
        draw.rectangle((880 + 12 * k, 46 - 6 * k, 888 + 12 * k, 48), fill=(255, 255, 255))
    return png(shot)


def variants(data: bytes, i: int) -> dict[str, bytes]:
    """The altered copies of one picture (i picks the edge, the new tag)."""
    stored, up, exif, orientation = upright(data)
    w, h = up.size

    def cut(left: float, top: float, right: float, bottom: float) -> bytes:
        return jpeg(up.crop((round(w * left), round(h * top), round(w * (1 - right)), round(h * (1 - bottom)))))

    retagged = Image.Exif()
    retagged[0x0112] = [t for t in (6, 8, 3, 2, 4, 5, 7) if t != orientation][i % 6]
    baked = Image.Exif()
    baked[0x0112] = 6
    scale = 1080 / max(w, h)
    edges = ((0, 0, 0.05, 0), (0, 0, 0, 0.05), (0.05, 0, 0, 0), (0, 0.05, 0, 0))
    return {
        "resize 50%": jpeg(
            stored.resize((max(1, stored.width // 2), max(1, stored.height // 2)), Image.Resampling.LANCZOS), exif
        ),
        "quality 60": jpeg(stored, exif, 60),
        "5% centre crop": cut(0.025, 0.025, 0.025, 0.025),
        "5% one-edge crop": cut(*edges[i % 4]),
        "10% crop": cut(0.06, 0.03, 0.04, 0.07),
        "orientation tag changed": jpeg(stored, retagged),
        "rotation baked in": jpeg(up.transpose(Image.Transpose.ROTATE_90), baked),
        "PNG at 1080 px": png(
            up.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
        ),
        "brightness +10%": jpeg(ImageEnhance.Brightness(up).enhance(1.1)),
        "brightness -10%": jpeg(ImageEnhance.Brightness(up).enhance(0.9)),
        "screenshot + status bar": status_bar_screenshot(up),
    }


def scene_shots(data: bytes) -> list[tuple[bytes, bytes]]:
    """Two framings a step apart (sideways, upwards) of a picture of at least 1000 px; none for smaller ones."""
    _, up, _, _ = upright(data)
    w, h = up.size
    if min(w, h) < 1000:
        return []

    def frame(x: float, y: float) -> bytes:
        return jpeg(up.crop((round(w * x), round(h * y), round(w * (x + 0.75)), round(h * (y + 0.75)))))

    return [(frame(0, 0), frame(0.15, 0)), (frame(0, 0.15), frame(0, 0))]


def found(new: ProcessedPhoto, old: ProcessedPhoto) -> bool:
    """Whether complete() would flag new as a near-duplicate of old (flat frames never match)."""
    if phash.is_flat(new.structure, new.phash) or phash.is_flat(old.structure, old.phash):
        return False
    return phash.same_picture(
        Image.open(io.BytesIO(new.thumb_jpeg)),
        new.region_hashes,
        Image.open(io.BytesIO(old.thumb_jpeg)),
        old.region_hashes,
    )


def old_found(new: ProcessedPhoto, old: ProcessedPhoto) -> bool:
    """The previous rule: whole-frame dHash within 4 bits, new hash with 4..60 bits set."""
    return 4 <= new.phash.bit_count() <= 60 and phash.hamming(new.phash, old.phash) <= OLD_DHASH_DISTANCE


def process(data: bytes) -> ProcessedPhoto | None:
    """process_photo on bytes; None when the pipeline refuses the file."""
    try:
        return process_photo(io.BytesIO(data))
    except PhotoRejected:
        return None


def main(argv: list[str] | None = None) -> int:
    """Build the copies, look them up, print the table, the false pairs and the hashing cost."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, help="only the first N pictures (a quick run)")
    args = parser.parse_args(argv)
    if not TESTDATA.is_dir():
        print(f"{TESTDATA} is missing", file=sys.stderr)
        return 2

    pictures, refused = [], []
    for name, data in real_pictures(args.limit):
        result = process(data)
        (pictures if result else refused).append((name, data, result))
    flat = [name for name, _, r in pictures if phash.is_flat(r.structure, r.phash)]
    print(
        f"{len(pictures)} distinct real pictures ({len(refused)} refused by the pipeline: "
        f"{', '.join(n for n, _, _ in refused) or 'none'}; flat, matched by identical bytes only: "
        f"{', '.join(flat) or 'none'})",
        flush=True,
    )

    rows: dict[str, list[tuple[bool, bool]]] = {}
    refused_copies: dict[str, int] = {}
    for i, (name, data, original) in enumerate(pictures):
        if name in flat:
            continue
        for kind, copy_bytes in variants(data, i).items():
            copy = process(copy_bytes)
            rows.setdefault(kind, [])
            refused_copies.setdefault(kind, 0)
            if copy is None:
                # Below the pipeline's minimum size (a half or a crop of a small corpus file): the
                # copy is refused at upload, so it can be neither stored nor slip through as new.
                refused_copies[kind] += 1
                continue
            rows[kind].append((found(copy, original), old_found(copy, original)))
    print(f"\n{'altered copy':<26} {'found':>9} {'recall':>7} {'goal':>5}   {'old dHash':>9}   refused copies")
    for kind, results in rows.items():
        hits, old_hits, n = sum(r[0] for r in results), sum(r[1] for r in results), len(results)
        print(
            f"{kind:<26} {hits:>4}/{n:<4} {hits / n:>7.1%} {'yes' if hits / n >= GOAL_RECALL else 'NO':>5}"
            f"   {old_hits:>4}/{n:<4}   {refused_copies[kind]}"
        )

    false_pairs = [
        (a[0], b[0])
        for i, a in enumerate(pictures)
        for b in pictures[i + 1 :]
        if found(a[2], b[2]) or found(b[2], a[2])
    ]
    n_pairs = len(pictures) * (len(pictures) - 1) // 2
    scene_pairs, scene_false = 0, []
    for name, data, _ in pictures:
        for first, second in scene_shots(data):
            a, b = process(first), process(second)
            scene_pairs += 1
            if a and b and (found(a, b) or found(b, a)):
                scene_false.append(name)
    print(
        f"\nfalse pairs among {n_pairs} pairs of distinct real pictures: {len(false_pairs)}"
        f"{''.join(f'{chr(10)}  {a}  ~  {b}' for a, b in false_pairs)}"
    )
    print(
        f"false pairs among {scene_pairs} same-scene pairs a step apart: {len(scene_false)}"
        f"{''.join(f'{chr(10)}  two framings of {n}' for n in scene_false)}"
    )

    thumbs = []
    for _, data, _ in pictures:
        with Image.open(io.BytesIO(data)) as img:
            img.draft("RGB", (320, 320))
            thumbs.append(ImageOps.exif_transpose(img.convert("RGB")).resize((320, 240)))
    t0 = time.process_time()
    for thumb in thumbs:
        phash.dhash(thumb)
    t1 = time.process_time()
    probes = 0
    for thumb in thumbs:
        probes += len(phash.query_hashes(phash.region_hashes(thumb)[0]))
    t2 = time.process_time()
    for _, data, _ in pictures:
        process(data)
    t3 = time.process_time()
    for thumb in thumbs:
        phash.confirmed(thumb, thumb, [(0, 0, 0, 0)])
    t4 = time.process_time()
    n = len(thumbs)
    print(
        f"\nCPU per photo (one core): dHash {(t1 - t0) / n * 1000:.2f} ms, canonical region hashes and "
        f"their probes {(t2 - t1) / n * 1000:.2f} ms ({probes / n:.1f} probed hashes per photo); whole process_photo {(t3 - t2) / n * 1000:.1f} ms "
        f"(hashes {(t2 - t0) / (t3 - t2):.0%} of it); the finer look at a coarse match "
        f"{(t4 - t3) / n * 1000:.1f} ms per candidate"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
