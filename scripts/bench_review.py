"""Review at scale: time the console's real queries on a large database and show their EXPLAIN.

Run from the project root, against a database filled by scripts/gen_data.py:
    .venv/bin/python scripts/bench_review.py --mysql-url URL [--runs 300] [--budget 60]

Times the service functions the console calls, each over --runs runs with varied filters (or
until --budget seconds are spent on it), as admin and as a township reviewer:
  visit list      review.page_of_visits + review.flag_counts (what /console/visits runs)
  near-duplicate  services.photos.find_duplicate for region hashes near an existing photo's (of
                  any county), searched as a complete searches: in the generated county's photos
  near-duplicate candidates, own county  its indexed query alone (services.photos.near_candidates)
  near-duplicate candidates  the same query across every county: what the nightly pass
                  (services.cross_county) sends per photo; no 100 ms goal, it runs at night
  near-duplicate candidates, IN lists  the same probes written out as IN lists, as sent from 0031 until the probe join (a baseline)
  near-duplicate candidates, before 0031  the same probes as before migration 0031 (a baseline, unless --no-0029-baseline:
                  five 13-bit bands, one exact band value per probe and band), on a copy of the
                  index in that layout (table bench_hash_bands_0029, built from photo_hash_bands'
                  whole hashes on the first run and kept)
  dashboard       dashboard.build for one of the last three years
then prints p50/p95/max per operation beside the goal (p95 < 100 ms), the cross-county candidate query's p50/p95
and index rows read per lookup (InnoDB handler reads) against the baseline, and the EXPLAIN of every
distinct statement each one sends. This is a benchmark, not a test: it asserts nothing.
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


# The band layout before migration 0031: five bands of 13, 13, 13, 13 and 12 bits, as (shift, mask).
NARROW_BANDS = ((51, (1 << 13) - 1), (38, (1 << 13) - 1), (25, (1 << 13) - 1), (12, (1 << 13) - 1), (0, (1 << 12) - 1))
BASELINE_TABLE = "bench_hash_bands_0029"


def build_baseline_index(conn, chunk: int = 50_000) -> None:
    """Create bench_hash_bands_0029 (the index as migration 0029 left it) from photo_hash_bands' whole hashes, unless it exists."""
    cur = conn.cursor()
    cur.execute(f"SHOW TABLES LIKE '{BASELINE_TABLE}'")
    if cur.fetchone():
        return
    t0 = time.monotonic()
    cur.execute(
        f"CREATE TABLE {BASELINE_TABLE} (photo_id INT NOT NULL, kind SMALLINT NOT NULL, band SMALLINT NOT NULL,"
        " value INT NOT NULL, hash BIGINT NOT NULL, PRIMARY KEY (photo_id, kind, band))"
    )
    cur.execute("SELECT MIN(photo_id), MAX(photo_id) FROM photo_hash_bands")
    low, high = cur.fetchone()
    value = " ".join(
        f"WHEN {band} THEN (b.hash >> {shift}) & {mask}" for band, (shift, mask) in enumerate(NARROW_BANDS)
    )
    for first in range(low or 1, (high or 0) + 1, chunk):
        cur.execute(
            f"INSERT INTO {BASELINE_TABLE} (photo_id, kind, band, value, hash)"
            f" SELECT b.photo_id, b.kind, n.seq, CASE n.seq {value} END, b.hash"
            f" FROM photo_hash_bands b FORCE INDEX (PRIMARY) JOIN seq_0_to_{len(NARROW_BANDS) - 1} n"
            f" WHERE b.band = 0 AND b.photo_id BETWEEN {first} AND {first + chunk - 1}"
        )
        conn.commit()
    cur.execute(f"CREATE INDEX ix_near ON {BASELINE_TABLE} (band, value, hash, photo_id, kind)")
    cur.execute(f"ANALYZE TABLE {BASELINE_TABLE}")
    cur.fetchall()
    conn.commit()
    print(f"baseline index {BASELINE_TABLE} built in {time.monotonic() - t0:.0f} s", flush=True)


def ratio(baseline: float, measured: float) -> str:
    """'2.0x faster' or '1.5x slower': measured against the baseline."""
    return f"{baseline / measured:.1f}x faster" if measured <= baseline else f"{measured / baseline:.1f}x slower"


def candidates_in_lists(session, photo, query) -> list:
    """services.photos.near_candidates as sent from migration 0031 until the probe join: the same index
    and the same probes, each probed band value written out in one IN list per query hash and band."""
    from sqlalchemy import literal_column, select, union

    from server.db import hamming_distance
    from server.models import PhotoHashBand
    from server.services import photos

    bands = PhotoHashBand.__table__.c
    probes = [(band, values, phash.db_hash(h)) for h in query for band, values in enumerate(phash.band_probes(h))]
    near = union(
        *(
            select(bands.photo_id).where(
                bands.band == literal_column(str(band)),
                bands.value.op("IN")(literal_column(f"({','.join(map(str, values))})")),
                hamming_distance(bands.hash, h) <= literal_column(str(phash.NEAR_DUPLICATE_DISTANCE)),
            )
            for band, values, h in probes
        )
    )
    return photos.earliest_candidates(session, photo, near)


def candidates_before_0031(session, photo, query) -> list:
    """services.photos.near_candidates as sent before migration 0031, on the baseline index: one exact band value per probe and band."""
    from sqlalchemy import column, literal_column, select, table, union

    from server.db import hamming_distance
    from server.services import photos

    bands = table(BASELINE_TABLE, column("photo_id"), column("band"), column("value"), column("hash"))
    probes = sorted(
        {
            (band, (h >> shift) & mask, phash.db_hash(h))
            for h in query
            for band, (shift, mask) in enumerate(NARROW_BANDS)
        }
    )
    near = union(
        *(
            select(bands.c.photo_id).where(
                bands.c.band == literal_column(str(band)),
                bands.c.value == value,
                hamming_distance(bands.c.hash, h) <= literal_column(str(phash.NEAR_DUPLICATE_DISTANCE)),
            )
            for band, value, h in probes
        )
    )
    return photos.earliest_candidates(session, photo, near)


def handler_reads(session) -> int:
    """The session's InnoDB index reads so far (Handler_read_key + _next + _prev): rows a query walked."""
    from sqlalchemy import text

    rows = session.execute(text("SHOW SESSION STATUS LIKE 'Handler_read%'")).all()
    return sum(int(v) for k, v in rows if k in ("Handler_read_key", "Handler_read_next", "Handler_read_prev"))


def main(argv: list[str] | None = None) -> int:
    """Time each operation, print the goals table and the EXPLAINs."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mysql-url", required=True)
    p.add_argument("--runs", type=int, default=300)
    p.add_argument("--budget", type=float, default=60, help="seconds at most per operation")
    p.add_argument("--no-explain", action="store_true")
    p.add_argument(
        "--no-0029-baseline",
        action="store_true",
        help="skip the before-0031 baseline (its five-band copy of the index takes ~50 rows per photo to build)",
    )
    args = p.parse_args(argv)
    old_layout = not args.no_0029_baseline

    os.environ.setdefault("SECRET_KEY", "bench-review-secret-" + "x" * 32)
    from sqlalchemy import event, func, select, text

    from server.app import create_app
    from server.db import db
    from server.imaging.decode import ProcessedPhoto
    from server.models import County, Photo, Project, Township, User, UserRole, Village, Visit
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
        home = s.scalar(select(func.min(County.id)))  # the generated county (gen_data --counties adds others)
        print(f"  a complete searches county {home}'s photos", flush=True)
        reviewer = s.scalar(select(User).join(UserRole).where(UserRole.role == "reviewer").limit(1))
        ids = {
            "townships": list(s.scalars(select(Township.id))),
            "villages": list(s.scalars(select(Village.id))),
            "projects": list(s.scalars(select(Project.id))),
            "inspectors": list(s.scalars(select(UserRole.user_id).where(UserRole.role == "inspector"))),
        }
        year = datetime.now(UTC).year
        s.commit()
        if old_layout:
            raw = db.engine.raw_connection()
            try:
                build_baseline_index(raw)
            finally:
                raw.close()

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
            photo_service.find_duplicate(s, probe, f"{rng.getrandbits(256):064x}", processed, home)
            s.rollback()

        def candidates(i: int) -> None:
            _, regions = probe_hashes(i)
            probe = Photo(id=photos + 1 + i, owner_kind="visit", owner_id=10**9)
            photo_service.near_candidates(s, probe, phash.query_hashes(regions))
            s.rollback()

        def candidates_in_county(i: int) -> None:
            _, regions = probe_hashes(i)
            probe = Photo(id=photos + 1 + i, owner_kind="visit", owner_id=10**9)
            photo_service.near_candidates(s, probe, phash.query_hashes(regions), home)
            s.rollback()

        def candidates_lists(i: int) -> None:
            _, regions = probe_hashes(i)
            probe = Photo(id=photos + 1 + i, owner_kind="visit", owner_id=10**9)
            candidates_in_lists(s, probe, phash.query_hashes(regions))
            s.rollback()

        def candidates_before(i: int) -> None:
            _, regions = probe_hashes(i)
            probe = Photo(id=photos + 1 + i, owner_kind="visit", owner_id=10**9)
            candidates_before_0031(s, probe, phash.query_hashes(regions))
            s.rollback()

        def dash(i: int) -> None:
            dashboard.build(s, admin if i % 2 == 0 else reviewer, year - i % 3)
            s.rollback()

        # (name, operation, held to the p95 goal): the queries across every county are the nightly
        # pass's (and their baselines'), not a complete's.
        operations = [
            ("visit list (page + flag counts)", visit_list, True),
            ("near-duplicate lookup", near_duplicate, True),
            ("near-duplicate candidates, own county", candidates_in_county, True),
            ("near-duplicate candidates", candidates, False),
            ("near-duplicate candidates, IN lists (baseline)", candidates_lists, False),
            *([("near-duplicate candidates, before 0031 (baseline)", candidates_before, False)] if old_layout else []),
            ("dashboard (one year)", dash, True),
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
        for name, fn, held in operations:
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
            measured = f"p95 {fmt_ms(p95)} ms (p50 {fmt_ms(percentile(ms, 50))}, n {len(ms)})"
            if held:
                rows.append(goal_row(f"{name} p95 < {GOAL_P95_MS:.0f} ms", measured, p95 < GOAL_P95_MS))
            else:
                rows.append(goal_row(f"{name} (nightly, every county)", measured, None))
        # Rows each candidate query walks in the index, counted apart from the timed runs.
        counted = {"now": candidates, "IN lists": candidates_lists, "own county": candidates_in_county}
        if old_layout:
            counted["before 0031"] = candidates_before
        walked: dict[str, list[int]] = {key: [] for key in counted}
        for i in range(min(args.runs, 50)):
            for key, fn in counted.items():
                before = handler_reads(s)
                fn(i)
                walked[key].append(handler_reads(s) - before)
        s.rollback()
        new50, new95 = percentiles["near-duplicate candidates"]
        baselines = [("IN lists", "IN lists (baseline)", "against IN lists (the same probes and index)")]
        if old_layout:
            baselines.append(
                ("before 0031", "before 0031 (baseline)", "against the query before 0031 on the same data")
            )
        for key, operation, against in baselines:
            base50, base95 = percentiles[f"near-duplicate candidates, {operation}"]
            rows_now, rows_base = (sum(walked[k]) / len(walked[k]) for k in ("now", key))
            # Handler reads count index entries, and for the probe join also its two small row sources.
            print(
                f"\n== near-duplicate candidates, probe join {against}: p50 {fmt_ms(new50)} ms vs "
                f"{fmt_ms(base50)} ms ({ratio(base50, new50)}), p95 {fmt_ms(new95)} ms vs {fmt_ms(base95)} ms "
                f"({ratio(base95, new95)}); handler reads per lookup {rows_now:,.0f} vs {rows_base:,.0f}"
            )
        own50, own95 = percentiles["near-duplicate candidates, own county"]
        own_rows, all_rows = (sum(walked[k]) / len(walked[k]) for k in ("own county", "now"))
        print(
            f"\n== near-duplicate candidates in the complete's own county against every county's (the nightly pass):"
            f" p50 {fmt_ms(own50)} vs {fmt_ms(new50)} ms, p95 {fmt_ms(own95)} vs {fmt_ms(new95)} ms;"
            f" handler reads per lookup {own_rows:,.0f} vs {all_rows:,.0f}"
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
