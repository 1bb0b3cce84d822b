"""Review at scale: time the console's real queries on a large database and show their EXPLAIN.

Run from the project root, against a database filled by scripts/gen_data.py:
    .venv/bin/python scripts/bench_review.py --mysql-url URL [--runs 300] [--budget 60]

Times the service functions the console calls, each over --runs runs with varied filters (or
until --budget seconds are spent on it), as admin and as a township reviewer:
  visit list      review.page_of_visits + review.flag_counts (what /console/visits runs)
  near-duplicate  services.photos.find_duplicate for region hashes near an existing photo's
  near-duplicate, before 0029  the same probes as before migration 0029 (a baseline: every row sharing
                  a band value fetched, at most 2000, and compared in Python; without the finer look)
  near-duplicate, before 0017  the same probes sent as before migration 0017 (a baseline: all 8
                  orientations of every region against every stored region, in one OR of IN lists)
  dashboard       dashboard.build for one of the last three years
then prints p50/p95/max per operation beside the goal (p95 < 100 ms), the near-duplicate lookup's
p50/p95 against both baselines, and the EXPLAIN of every distinct statement each one sends. This is a benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from PIL import Image  # noqa: E402

from scripts import gen_data  # noqa: E402
from scripts.bench_load import fmt_ms, goal_row, table  # noqa: E402
from scripts.benchlib import percentile  # noqa: E402
from server.imaging import phash  # noqa: E402

GOAL_P95_MS = 100.0


def vary_filters(rng: random.Random, ids: dict[str, list[int]], year: int) -> dict:
    """One realistic combination of the visit list's filters (sometimes none)."""
    choice = rng.randrange(9)
    if choice == 0:
        return {}
    if choice == 1:
        return {"township_id": rng.choice(ids["townships"])}
    if choice == 2:
        return {"village_id": rng.choice(ids["villages"])}
    if choice == 3:
        return {"project_id": rng.choice(ids["projects"])}
    if choice == 4:
        return {"flag": rng.choice(("far_from_village", "low_accuracy", "clock_skew", "impossible_speed"))}
    if choice == 5:
        return {"inspector_id": rng.choice(ids["inspectors"])}
    if choice == 6:
        month = rng.randrange(1, 12)
        return {"date_from": date(year, month, 1), "date_to": date(year, month + 1, 1) - timedelta(days=1)}
    if choice == 7:
        return {
            "township_id": rng.choice(ids["townships"]),
            "status": "submitted",
            "flag": rng.choice(("far_from_village", "low_accuracy")),
        }
    return {"status": rng.choice(("submitted", "in_progress")), "date_from": date(year, 1, 1)}


def timed(fn: Callable[[int], None], runs: int, budget: float) -> list[float]:
    """Seconds per call of fn(i), for up to `runs` calls or `budget` seconds."""
    out: list[float] = []
    deadline = time.monotonic() + budget
    for i in range(runs):
        start = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - start)
        if time.monotonic() > deadline:
            break
    return out


def band_rows_before_0029(session, photo, query: list[int]) -> tuple[list, dict[tuple[int, int], list[int]]]:
    """The indexed query as sent before migration 0029: every row sharing a band value with a query hash
    (at most 2000), joined to its photo, and for each (band, value) the query hashes that have it."""
    from sqlalchemy import and_, or_, select

    from server.models import Photo, PhotoHashBand

    wanted: dict[tuple[int, int], list[int]] = {}
    for h in query:
        for band, value in enumerate(phash.hash_bands(h)):
            wanted.setdefault((band, value), []).append(h)
    by_band: dict[int, set[int]] = {}
    for band, value in wanted:
        by_band.setdefault(band, set()).add(value)
    rows = session.execute(
        select(
            PhotoHashBand.photo_id,
            PhotoHashBand.kind,
            PhotoHashBand.band,
            PhotoHashBand.value,
            Photo.region_hashes,
            Photo.thumb_key,
        )
        .join(Photo, PhotoHashBand.photo_id == Photo.id)
        .where(
            or_(
                *(
                    and_(PhotoHashBand.band == band, PhotoHashBand.value.in_(sorted(values)))
                    for band, values in sorted(by_band.items())
                )
            ),
            Photo.id != photo.id,
            or_(Photo.owner_kind != photo.owner_kind, Photo.owner_id != photo.owner_id),
        )
        .limit(2000)
    ).all()
    return rows, wanted


def lookup_before_0029(session, photo, query: list[int]) -> int:
    """The near-duplicate candidates as found before migration 0029 (the rows of band_rows_before_0029,
    each region's distance checked in Python), without the finer look; answers how many."""
    rows, wanted = band_rows_before_0029(session, photo, query)
    candidates = set()
    for photo_id, kind, band, value, stored, _ in rows:
        if photo_id in candidates:
            continue
        if any(
            phash.hamming(q, phash.parse_hash(stored, kind)) <= phash.NEAR_DUPLICATE_DISTANCE
            for q in wanted[(band, value)]
        ):
            candidates.add(photo_id)
    return len(candidates)


def lookup_before_0017(session, photo, region_hashes: list[int]) -> int:
    """The near-duplicate query as sent before migration 0017, on today's rows; answers the candidates it finds.

    Every region hash in all 8 orientations (80 hashes, 400 band values), each against every
    stored region, in one OR of IN lists, then the same distance check of every row found.
    """
    # Every region hash in all 8 orientations, through the indexed query of that time.
    rows, wanted = band_rows_before_0029(session, photo, [v for h in region_hashes for v in phash.orientations(h)])
    candidates = set()
    for photo_id, kind, band, value, stored, _ in rows:
        if photo_id in candidates:
            continue
        hashes = tuple(int(part[:16], 16) for part in stored.split(","))  # parsed as before 0017: all ten
        if any(phash.hamming(q, hashes[kind]) <= phash.NEAR_DUPLICATE_DISTANCE for q in wanted[(band, value)]):
            candidates.add(photo_id)
    return len(candidates)


def main(argv: list[str] | None = None) -> int:
    """Time each operation, print the goals table and the EXPLAINs."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mysql-url", required=True)
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--budget", type=float, default=60, help="seconds at most per operation")
    p.add_argument("--no-explain", action="store_true")
    args = p.parse_args(argv)

    os.environ.setdefault("SECRET_KEY", "bench-review-secret-" + "x" * 32)
    from sqlalchemy import event, func, select, text

    from server.app import create_app
    from server.db import db
    from server.imaging.decode import ProcessedPhoto
    from server.models import Photo, Project, Township, User, UserRole, Village, Visit
    from server.services import dashboard, review
    from server.services import photos as photo_service

    app = create_app(
        {"DATABASE_URL": args.mysql_url, "STORAGE_BACKEND": "local", "STORAGE_DIR": "/tmp/sp-bench-review-storage"}
    )
    rng = random.Random(7)
    with app.app_context():
        s = db.session
        visits = s.scalar(select(func.count(Visit.id)))
        photos = s.scalar(select(func.max(Photo.id))) or 0
        print(f"database: {visits:,} visits, {photos:,} photos", flush=True)
        admin = s.scalar(select(User).where(User.username == "admin"))
        reviewer = s.scalar(select(User).join(UserRole).where(UserRole.role == "reviewer").limit(1))
        ids = {
            "townships": list(s.scalars(select(Township.id))),
            "villages": list(s.scalars(select(Village.id))),
            "projects": list(s.scalars(select(Project.id))),
            "inspectors": list(s.scalars(select(UserRole.user_id).where(UserRole.role == "inspector"))),
        }
        year = datetime.now(UTC).year
        s.commit()

        by_kind: dict[str, list[float]] = {}

        def visit_list(i: int) -> None:
            user = admin if i % 2 == 0 else reviewer
            filters = vary_filters(rng, ids, year - rng.randrange(3))
            sort = rng.choice(("-started_at", "-started_at", "started_at", "-submitted_at"))
            start = time.perf_counter()
            review.page_of_visits(s, user, filters, sort, rng.choice((1, 1, 1, 2, 5)), 50)
            review.flag_counts(s, user, filters)
            s.rollback()
            kind = ("admin " if user is admin else "reviewer ") + ("+".join(sorted(filters)) or "no filter")
            by_kind.setdefault(kind, []).append((time.perf_counter() - start) * 1000)

        # Probes near existing photos' hashes (0-3 bits off), looked up before the timing starts.
        sample = [rng.randrange(1, photos + 1) for _ in range(args.runs + 1)]
        known = [int(h, 16) for h in s.scalars(select(Photo.phash).where(Photo.id.in_(sample))) if h]
        s.commit()

        # The generated photos have no thumbnails in storage: a coarse match's finer look fails to
        # read one and lets the match stand, after the storage call a real lookup makes too.
        thumb_buffer = io.BytesIO()
        Image.new("RGB", (320, 240), (90, 120, 60)).save(thumb_buffer, "JPEG")
        thumb = thumb_buffer.getvalue()

        def probe_hashes(i: int) -> tuple[int, tuple[phash.RegionHash, ...]]:
            """The i-th probe: an existing photo's hash 0-3 bits off, its regions with close orientations as real photos have."""
            h = known[i % len(known)] if known else rng.getrandbits(64)
            for bit in rng.sample(range(64), rng.randrange(4)):
                h ^= 1 << bit
            # Real regions have a close canonical decision about once in three (scripts/bench_reuse.py).
            regions = tuple(
                phash.RegionHash(r.value, 0, (1,) if (i + kind) % 3 == 0 else ())
                for kind, r in enumerate(gen_data.region_hashes(h))
            )
            return h, regions

        def near_duplicate(i: int) -> None:
            h, regions = probe_hashes(i)
            probe = Photo(id=photos + 1 + i, owner_kind="visit", owner_id=10**9)
            processed = ProcessedPhoto(
                format="JPEG",
                width=3024,
                height=4032,
                exif=None,
                phash=h,
                region_hashes=regions,
                structure=1000.0,
                thumb_jpeg=thumb,
                preview_jpeg=b"",
                preview_sha256="",
            )
            photo_service.find_duplicate(s, probe, f"{rng.getrandbits(256):064x}", processed)
            s.rollback()

        def near_duplicate_before_0029(i: int) -> None:
            _, regions = probe_hashes(i)
            probe = Photo(id=photos + 1 + i, owner_kind="visit", owner_id=10**9)
            lookup_before_0029(s, probe, list(phash.query_hashes(regions)))
            s.rollback()

        def near_duplicate_before(i: int) -> None:
            _, regions = probe_hashes(i)
            probe = Photo(id=photos + 1 + i, owner_kind="visit", owner_id=10**9)
            lookup_before_0017(s, probe, [r.value for r in regions])
            s.rollback()

        def dash(i: int) -> None:
            dashboard.build(s, admin if i % 2 == 0 else reviewer, year - i % 3)
            s.rollback()

        operations = [
            ("visit list (page + flag counts)", visit_list),
            ("near-duplicate lookup", near_duplicate),
            ("near-duplicate lookup, before 0029 (baseline)", near_duplicate_before_0029),
            ("near-duplicate lookup, before 0017 (baseline)", near_duplicate_before),
            ("dashboard (one year)", dash),
        ]
        percentiles: dict[str, tuple[float, float]] = {}
        statements: dict[str, list[tuple[str, object]]] = {}
        current: list[str] = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            bucket = statements.setdefault(current[0], []) if current else None
            if (
                bucket is not None
                and statement.lstrip().upper().startswith("SELECT")
                and all(statement != st for st, _ in bucket)
            ):
                bucket.append((statement, parameters))

        rows = []
        for name, fn in operations:
            event.listen(db.engine, "before_cursor_execute", capture)
            current[:] = [name]
            fn(10**6)  # one warm run, whose statements are explained below
            current.clear()
            event.remove(db.engine, "before_cursor_execute", capture)
            ms = [t * 1000 for t in timed(fn, args.runs, args.budget)]
            p95 = percentile(ms, 95)
            percentiles[name] = (percentile(ms, 50), p95)
            print(
                f"{name}: {len(ms)} runs, p50 {fmt_ms(percentile(ms, 50))} ms, p95 {fmt_ms(p95)} ms, "
                f"max {fmt_ms(max(ms))} ms",
                flush=True,
            )
            rows.append(
                goal_row(
                    f"{name} p95 < {GOAL_P95_MS:.0f} ms",
                    f"p95 {fmt_ms(p95)} ms (p50 {fmt_ms(percentile(ms, 50))}, n {len(ms)})",
                    p95 < GOAL_P95_MS,
                )
            )
        new50, new95 = percentiles["near-duplicate lookup"]
        for baseline in ("before 0029", "before 0017"):
            old50, old95 = percentiles[f"near-duplicate lookup, {baseline} (baseline)"]
            print(
                f"\n== near-duplicate lookup against the lookup {baseline} on the same data: p50 {fmt_ms(new50)} ms "
                f"vs {fmt_ms(old50)} ms ({old50 / new50:.1f}x faster), p95 {fmt_ms(new95)} ms vs {fmt_ms(old95)} ms "
                f"({old95 / new95:.1f}x faster)"
            )
        print("\n== visit list by caller and filters")
        print(
            table(
                [
                    (k, len(v), fmt_ms(percentile(v, 50)), fmt_ms(percentile(v, 95)), fmt_ms(max(v)))
                    for k, v in sorted(by_kind.items())
                ],
                ("filters", "n", "p50 ms", "p95 ms", "max ms"),
            )
        )
        print(f"\n== goals at {visits:,} visits / {photos:,} photos")
        print(table(rows, ("goal", "measured", "met?")))

        if not args.no_explain:
            raw = db.engine.raw_connection()
            try:
                cur = raw.cursor()
                for name, stmts in statements.items():
                    print(f"\n== EXPLAIN: {name}")
                    for sql, params in stmts:
                        cur.execute("EXPLAIN " + sql, params)
                        cols = [d[0] for d in cur.description]
                        print("-- " + " ".join(sql.split())[:400])
                        print(table([tuple(r) for r in cur.fetchall()], tuple(cols)))
            finally:
                raw.close()
        s.execute(text("SELECT 1"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
