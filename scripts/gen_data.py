"""Generate a county's worth of review data in MariaDB: visits, flags, photos and their hash bands.

Run from the project root:
    .venv/bin/python scripts/gen_data.py --visits 1000000 --photos-per-visit 5       # private MariaDB
    .venv/bin/python scripts/gen_data.py --mysql-url URL --visits 100000             # a given, empty database
    .venv/bin/python scripts/gen_data.py --visits 20000 --uniform-photos 4900000 --counties 100   # a province's 5 M photos

The schema comes from the app's migrations (server.db.upgrade). Places, projects and accounts
are created through the services; the bulk (assignments, team members, visits, visit flags,
review decisions, photos, hash bands) is written with multi-row INSERTs (pymysql executemany),
bypassing the services and the audit log, which the review queries never read. Distributions:
20 townships of 8-25 villages, 100 projects a year over 3 years, 200 inspectors in teams of 2,
visit start times spread over the last 3 years (fewer in winter), 97 % submitted, ~15 % of
visits flagged, ~8 % of photos flagged, 2 % rejected/pending photos, dHashes half drawn near a
few "scenes" per village (what repeated photos of one site look like), half uniform.

Without --mysql-url a private mariadbd is started with its datadir under a temp dir and kept
running until Enter (or --stop) so that scripts/bench_review.py can be pointed at it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts import benchlib  # noqa: E402
from server.imaging.phash import REGIONS, RegionHash, db_hash, format_hashes, hash_bands  # noqa: E402

YEARS = 3
SUBMITTED_SHARE = 0.97
FLAGGED_VISIT_SHARE = 0.15
FLAGGED_PHOTO_SHARE = 0.08
SCENE_SHARE = 0.5
SCENES_PER_VILLAGE = 10
VISIT_FLAGS = ("far_from_village", "low_accuracy", "clock_skew", "impossible_speed", "zero_accuracy")
PHOTO_FLAGS = ("capture_far", "exif_gps_far", "exif_time_mismatch", "no_exif", "duplicate")
VERIFY_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
BATCH = 2000
BASE_LAT, BASE_LNG = 27.0, 114.8


# ---- pure row builders (tested in tests/test_bench_scripts.py) -----------------------------


def verify_code(n: int) -> str:
    """A distinct 10-character verification code for every n < 31**10 (a bijection, so never a collision)."""
    # Multiplying by a number coprime to 31**10 permutes the codes, so neighbours do not look alike.
    x = (n * 7_777_777_777) % (31**10)
    out = []
    for _ in range(10):
        x, r = divmod(x, 31)
        out.append(VERIFY_ALPHABET[r])
    return "".join(out)


def scene_hash(rng: random.Random, scenes: list[int]) -> int:
    """A 64-bit dHash: near one of the scenes (0-12 bits flipped) or, at times, uniform."""
    if scenes and rng.random() < SCENE_SHARE:
        h = rng.choice(scenes)
        for bit in rng.sample(range(64), rng.randrange(13)):
            h ^= 1 << bit
        return h
    return rng.getrandbits(64)


def visit_time(rng: random.Random, start: datetime, days: int) -> datetime:
    """A visit start time: a weekday-ish working hour, fewer visits in the winter months."""
    while True:
        day = start + timedelta(days=rng.randrange(days))
        if day.month in (1, 2, 12) and rng.random() < 0.4:
            continue
        if day.weekday() >= 5 and rng.random() < 0.7:
            continue
        # 08:00-18:00 China time is 00:00-10:00 UTC.
        return day.replace(hour=0, minute=0, second=0) + timedelta(seconds=rng.randrange(10 * 3600))


@dataclass(frozen=True)
class Shape:
    """The base data's size: a county by default; the tests ask for a few of each (services write it row by row)."""

    townships: int = 20
    villages_per_township: tuple[int, int] = (8, 25)
    inspectors: int = 200
    projects_per_year: int = 100
    assignments_per_project: int = 30


COUNTY = Shape()


@dataclass(frozen=True)
class AssignmentInfo:
    """What a visit copies from its assignment."""

    id: int
    project_id: int
    village_id: int
    township_id: int
    members: tuple[int, ...]


def visit_row(vid: int, a: AssignmentInfo, started: datetime, rng: random.Random) -> tuple:
    """One visits row: (id, assignment, project, village, township, client_id, status, started, by, created, submitted_at, submitted_by)."""
    by = rng.choice(a.members)
    submitted = rng.random() < SUBMITTED_SHARE
    submitted_at = started + timedelta(minutes=rng.randrange(30, 240)) if submitted else None
    return (
        vid,
        a.id,
        a.project_id,
        a.village_id,
        a.township_id,
        str(uuid.UUID(int=rng.getrandbits(128))),
        "submitted" if submitted else "in_progress",
        started,
        by,
        started,
        submitted_at,
        by if submitted else None,
    )


def visit_flag_rows(vid: int, rng: random.Random) -> list[tuple[int, str]]:
    """The visit's flags (most visits have none)."""
    if rng.random() >= FLAGGED_VISIT_SHARE:
        return []
    return [(vid, f) for f in sorted(rng.sample(VISIT_FLAGS, rng.choice((1, 1, 1, 2))))]


def photo_row(pid: int, visit: tuple, village_point: tuple[float, float], phash: int, rng: random.Random) -> tuple:
    """One photos row of a visit (see PHOTO_COLUMNS for the order)."""
    vid, started, uploader = visit[0], visit[7], visit[8]
    r = rng.random()
    status = "ready" if r < 0.98 else ("rejected" if r < 0.99 else "pending")
    taken = started + timedelta(minutes=rng.randrange(5, 120))
    ready = status == "ready"
    name = f"visit/{taken:%Y/%m}/{uuid.UUID(int=rng.getrandbits(128)).hex}"
    key = f"sealed/{name}"
    flags = sorted(rng.sample(PHOTO_FLAGS, 1)) if ready and rng.random() < FLAGGED_PHOTO_SHARE else []
    lat = village_point[0] + rng.uniform(-0.003, 0.003)
    lng = village_point[1] + rng.uniform(-0.003, 0.003)
    exif = (
        {
            "taken_at": taken.isoformat(),
            "lat": lat,
            "lng": lng,
            "make": "Xiaomi",
            "model": "Redmi Note 12",
            "orientation": 6,
        }
        if ready and "no_exif" not in flags
        else None
    )
    size = rng.randrange(2_000_000, 6_000_000)
    return (
        pid,
        "visit",
        vid,
        vid,
        uploader,
        str(uuid.UUID(int=rng.getrandbits(128))),
        status,
        "photo_truncated" if status == "rejected" else None,
        "照片文件不完整或已损坏，请重新上传。" if status == "rejected" else None,
        "image/jpeg",
        size,
        size if ready else None,
        f"uploads/{name}.jpg",
        key + ".jpg",
        key + ".thumb.jpg" if ready else None,
        key + ".preview.jpg" if ready else None,
        f"{rng.getrandbits(256):064x}" if ready else None,
        f"{rng.getrandbits(256):064x}" if ready else None,
        f"{phash:016x}" if ready else None,
        format_hashes(region_hashes(phash)) if ready else None,
        verify_code(pid),
        taken,
        lat,
        lng,
        "wgs84",
        3024 if ready else None,
        4032 if ready else None,
        "JPEG" if ready else None,
        json.dumps(exif) if exif else None,
        json.dumps(flags),
        None,
        taken,
        taken,
        taken + timedelta(seconds=rng.randrange(2, 600)) if status != "pending" else None,
    )


PHOTO_COLUMNS = (
    "id",
    "owner_kind",
    "owner_id",
    "visit_id",
    "uploader_id",
    "client_id",
    "status",
    "reject_code",
    "reject_reason",
    "content_type",
    "declared_size",
    "size",
    "upload_key",
    "object_key",
    "thumb_key",
    "preview_key",
    "sha256",
    "preview_sha256",
    "phash",
    "region_hashes",
    "verify_code",
    "taken_at",
    "lat",
    "lng",
    "input_coord_type",
    "width",
    "height",
    "format",
    "exif",
    "flags",
    "duplicate_of_id",
    "sent_at",
    "created_at",
    "completed_at",
)
VISIT_COLUMNS = (
    "id",
    "assignment_id",
    "project_id",
    "village_id",
    "township_id",
    "client_id",
    "status",
    "started_at",
    "created_by_id",
    "created_at",
    "submitted_at",
    "submitted_by_id",
)


def region_hashes(phash: int) -> tuple[RegionHash, ...]:
    """A photo's ten canonical region hashes, made from its generated hash so that photos of one scene stay near."""
    return tuple(
        RegionHash(phash ^ random.Random(f"region-{kind}").getrandbits(64) if kind else phash, 0)
        for kind in range(len(REGIONS))
    )


def band_rows(pid: int, phash: int, county_id: int) -> list[tuple[int, int, int, int, int, int]]:
    """The photo_hash_bands rows (photo_id, kind, band, value, hash, county_id) of a photo's region hashes."""
    return [
        (pid, kind, band, value, db_hash(h.value), county_id)
        for kind, h in enumerate(region_hashes(phash))
        for band, value in enumerate(hash_bands(h.value))
    ]


def insert_sql(table: str, columns: tuple[str, ...]) -> str:
    """An INSERT statement for pymysql's executemany (which sends it as multi-row INSERTs)."""
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"


# ---- generation --------------------------------------------------------------------------


def base_data(
    url: str, rng: random.Random, shape: Shape = COUNTY
) -> tuple[list[AssignmentInfo], dict[int, tuple[float, float]]]:
    """Townships, villages, projects and accounts through the services; assignments in bulk."""
    os.environ.setdefault("SECRET_KEY", "gen-data-secret-" + "x" * 32)
    from sqlalchemy import insert, select

    from server.app import create_app
    from server.db import db
    from server.models import Assignment, assignment_members
    from server.services import places, projects, users

    app = create_app(
        {
            "DATABASE_URL": url,
            "STORAGE_BACKEND": "local",
            "STORAGE_DIR": tempfile.gettempdir() + "/sp-gen-storage-unused",
        }
    )
    with app.app_context():
        s = db.session
        admin, _ = users.create_user(
            s, None, {"username": "admin", "name": "管理员", "roles": ["admin"], "password": "admin-password"}
        )
        users.create_user(
            s, admin, {"username": "leader", "name": "领导", "roles": ["leader"], "password": "leader-password"}
        )
        villages: list[tuple[int, int]] = []
        points: dict[int, tuple[float, float]] = {}
        for t in range(shape.townships):
            town = places.create_township(s, admin, {"code": f"3608211{t:02d}000", "name": f"第{t + 1}镇"})
            users.create_user(
                s,
                admin,
                {
                    "username": f"reviewer{t}",
                    "name": f"审核员{t}",
                    "roles": ["reviewer"],
                    "password": f"reviewer{t}-password",
                    "township_ids": [town.id],
                },
            )
            for v in range(rng.randint(*shape.villages_per_township)):
                lat, lng = BASE_LAT + rng.uniform(0, 0.6), BASE_LNG + rng.uniform(0, 0.6)
                village = places.create_village(
                    s,
                    admin,
                    {
                        "township_id": town.id,
                        "code": f"3608211{t:02d}{v:03d}",
                        "name": f"{t + 1}镇{v + 1}村",
                        "lat": lat,
                        "lng": lng,
                    },
                )
                villages.append((village.id, town.id))
                points[village.id] = (lat, lng)
        inspectors = [
            users.create_user(s, admin, {"username": f"insp{i}", "name": f"督查员{i:03d}", "roles": ["inspector"]})[
                0
            ].id
            for i in range(shape.inspectors)
        ]
        this_year = datetime.now(UTC).year
        project_rows = []
        for year in range(this_year - YEARS + 1, this_year + 1):
            for n in range(shape.projects_per_year):
                vid, tid = rng.choice(villages)
                p = projects.create_project(
                    s, admin, {"title": f"{year}年书记项目{n + 1}", "year": year, "village_ids": [vid]}
                )
                project_rows.append((p.id, vid, tid))
        out = []
        next_id = (s.scalar(select(Assignment.id).order_by(Assignment.id.desc()).limit(1)) or 0) + 1
        rows, members = [], []
        for pid, vid, tid in project_rows:
            for _ in range(shape.assignments_per_project):
                team = tuple(rng.sample(inspectors, 2))
                rows.append(
                    {
                        "id": next_id,
                        "project_id": pid,
                        "village_id": vid,
                        "check_items": ["公示栏是否张贴"],
                        "status": "open",
                        "created_by_id": admin.id,
                        "created_at": datetime.now(UTC),
                    }
                )
                members += [{"assignment_id": next_id, "user_id": u} for u in team]
                out.append(AssignmentInfo(next_id, pid, vid, tid, team))
                next_id += 1
        s.execute(insert(Assignment), rows)
        s.execute(insert(assignment_members), members)
        s.commit()
    return out, points


def generate(url: str, visits: int, photos_per_visit: int, seed: int = 1, shape: Shape = COUNTY) -> None:
    """Fill the database at url (already migrated) with base data of `shape`, `visits` visits and their photos."""
    import pymysql
    from sqlalchemy.engine import make_url

    rng = random.Random(seed)
    t0 = time.monotonic()
    assignments, points = base_data(url, rng, shape)
    print(f"base data: {len(assignments)} assignments in {time.monotonic() - t0:.0f} s", flush=True)
    scenes = {v: [rng.getrandbits(64) for _ in range(SCENES_PER_VILLAGE)] for v in points}
    # Busier assignments: a few teams make many visits, most make some.
    weights = [rng.paretovariate(1.5) for _ in assignments]
    u = make_url(url)
    conn = pymysql.connect(
        host=u.host,
        port=u.port or 3306,
        user=u.username,
        password=u.password,
        database=u.database,
        charset="utf8mb4",
        autocommit=False,
    )
    cur = conn.cursor()
    # Rows are generated consistent: skip the per-row checks while loading.
    cur.execute("SET unique_checks=0, foreign_key_checks=0")
    cur.execute("SELECT MIN(id) FROM counties")
    (county,) = cur.fetchone()
    start = datetime.now(UTC) - timedelta(days=365 * YEARS)
    days = 365 * YEARS
    visit_sql, flag_sql = insert_sql("visits", VISIT_COLUMNS), insert_sql("visit_flags", ("visit_id", "flag"))
    photo_sql = insert_sql("photos", PHOTO_COLUMNS)
    band_sql = insert_sql("photo_hash_bands", ("photo_id", "kind", "band", "value", "hash", "county_id"))
    decision_sql = insert_sql(
        "review_decisions", ("visit_id", "target_kind", "target_id", "decision", "reason", "reviewer_id", "created_at")
    )
    pid, done, t1 = 0, 0, time.monotonic()
    while done < visits:
        n = min(BATCH, visits - done)
        chosen = rng.choices(assignments, weights=weights, k=n)
        vrows, frows, prows, brows, drows = [], [], [], [], []
        for i, a in enumerate(chosen):
            vid = done + i + 1
            row = visit_row(vid, a, visit_time(rng, start, days), rng)
            vrows.append(row)
            frows += visit_flag_rows(vid, rng)
            for _ in range(photos_per_visit):
                pid += 1
                phash = scene_hash(rng, scenes[a.village_id])
                prow = photo_row(pid, row, points[a.village_id], phash, rng)
                prows.append(prow)
                if prow[6] == "ready":
                    brows += band_rows(pid, phash, county)
            if row[6] == "submitted" and rng.random() < 0.3:
                drows.append(
                    (
                        vid,
                        "visit",
                        vid,
                        "accepted" if rng.random() < 0.9 else "questioned",
                        "",
                        1,
                        row[10] + timedelta(days=rng.randrange(1, 10)),
                    )
                )
        cur.executemany(visit_sql, vrows)
        if frows:
            cur.executemany(flag_sql, frows)
        cur.executemany(photo_sql, prows)
        cur.executemany(band_sql, brows)
        if drows:
            cur.executemany(decision_sql, drows)
        conn.commit()
        done += n
        if done % (BATCH * 25) == 0 or done == visits:
            rate = done / (time.monotonic() - t1)
            print(
                f"  {done:>9,} visits, {pid:>10,} photos  ({rate:,.0f} visits/s, eta {(visits - done) / rate:.0f} s)",
                flush=True,
            )
    conn.commit()
    conn.close()
    # The bulk INSERTs bypassed the ORM listener that keeps the dashboard's monthly counts.
    t2 = time.monotonic()
    rebuild_stats(url)
    print(f"dashboard counts recounted in {time.monotonic() - t2:.0f} s", flush=True)
    conn = pymysql.connect(
        host=u.host, port=u.port or 3306, user=u.username, password=u.password, database=u.database, charset="utf8mb4"
    )
    cur = conn.cursor()
    cur.execute(
        "ANALYZE TABLE visits, visit_flags, photos, photo_hash_bands, review_decisions, "
        "assignment_members, visit_month_stats"
    )
    cur.fetchall()
    conn.close()
    print(f"generated {visits:,} visits and {pid:,} photos in {time.monotonic() - t0:.0f} s", flush=True)


def add_uniform_photos(url: str, n: int, counties: int = 1, chunk: int = 20_000) -> None:
    """Add n ready photos with uniformly random hashes and their band rows, computed by MariaDB itself.

    Rows as photo_row/band_rows would make them (region k = hash XOR a constant), but built with
    INSERT ... SELECT over the sequence engine, about three times generate()'s rate and without its
    visits. They lengthen every band value's index range as a larger county's photos would; with
    `counties` > 1 they are dealt round the generated county and counties-1 others (ids after it,
    index rows only: no County row), as a province's photos are.
    """
    import pymysql
    from sqlalchemy.engine import make_url

    u = make_url(url)
    conn = pymysql.connect(
        host=u.host, port=u.port or 3306, user=u.username, password=u.password, database=u.database, autocommit=True
    )
    cur = conn.cursor()
    cur.execute("SET unique_checks=0, foreign_key_checks=0")
    cur.execute("SELECT COALESCE(MAX(id), 0), (SELECT MIN(id) FROM users), (SELECT MIN(id) FROM counties) FROM photos")
    last, uploader, home = cur.fetchone()
    hexes = ", ".join(f"CONCAT(LPAD(HEX(h ^ {r.value}), 16, '0'), '0')" for r in region_hashes(0))  # XOR constants
    widths = [m.bit_length() for m in hash_bands((1 << 64) - 1)]
    shift = " ".join(f"WHEN {band} THEN {sum(widths[band + 1 :])}" for band in range(len(widths)))
    mask = " ".join(f"WHEN {band} THEN {m}" for band, m in enumerate(hash_bands((1 << 64) - 1)))
    t0 = time.monotonic()
    for a in range(last + 1, last + n + 1, chunk):
        b = min(a + chunk, last + n + 1) - 1
        cur.execute(
            "INSERT INTO photos (id, owner_kind, owner_id, uploader_id, client_id, status, content_type, declared_size,"
            " upload_key, object_key, thumb_key, verify_code, phash, region_hashes, flags, created_at)"
            f" SELECT id, 'visit', 0, {uploader}, CONCAT('uniform-', id), 'ready', 'image/jpeg', 4000000,"
            " CONCAT('uploads/', id), CONCAT('sealed/', id), CONCAT('sealed/', id, '.thumb.jpg'),"
            f" CONCAT('#', LPAD(id, 9, '0')), LPAD(HEX(h), 16, '0'), CONCAT_WS(',', {hexes}), '[]', NOW()"
            " FROM (SELECT seq AS id, CAST(CONV(SUBSTRING(SHA1(seq), 1, 16), 16, 10) AS UNSIGNED) AS h"
            f" FROM seq_{a}_to_{b}) g"
        )
        cur.execute(
            "INSERT INTO photo_hash_bands (photo_id, kind, band, value, hash, county_id)"
            f" SELECT x.id, x.kind, bb.seq, (x.rh >> CASE bb.seq {shift} END) & CASE bb.seq {mask} END,"
            f" CAST(x.rh AS SIGNED), {home} + x.id % {max(1, counties)}"
            " FROM (SELECT p.id, k.seq AS kind,"
            " CAST(CONV(SUBSTRING(p.region_hashes, k.seq * 18 + 1, 16), 16, 10) AS UNSIGNED) AS rh"
            f" FROM photos p JOIN seq_0_to_{len(REGIONS) - 1} k WHERE p.id BETWEEN {a} AND {b}) x"
            f" JOIN seq_0_to_{len(hash_bands(0)) - 1} bb"
        )
        print(f"  {b - last:>10,} uniform photos ({time.monotonic() - t0:.0f} s)", flush=True)
    cur.execute("ANALYZE TABLE photos, photo_hash_bands")
    cur.fetchall()
    conn.close()


def rebuild_stats(url: str) -> None:
    """Recount services.visit_stats' table from the generated rows."""
    from sqlalchemy.orm import Session

    from server.db import make_engine
    from server.services import visit_stats

    engine = make_engine(url)
    with Session(engine) as session:
        visit_stats.rebuild(session)
        session.commit()
    engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Migrate, generate, and (for a private server) wait before stopping it."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--visits", type=int, default=1_000_000)
    p.add_argument("--photos-per-visit", type=int, default=5)
    p.add_argument("--mysql-url", help="an empty, existing database to fill")
    p.add_argument("--workdir", help="where the private MariaDB keeps its datadir (default: a new temp dir)")
    p.add_argument("--buffer-pool", default="4G", help="innodb buffer pool of the private MariaDB")
    p.add_argument("--stop", action="store_true", help="stop the private MariaDB when done (and delete it)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--uniform-photos", type=int, default=0, help="then this many photos with random hashes, built in SQL (fast)"
    )
    p.add_argument(
        "--counties",
        type=int,
        default=1,
        help="deal the uniform photos round this many counties: the generated one and counties-1 others (a province)",
    )
    args = p.parse_args(argv)

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})  # handled by sigwait below
    servers = None
    url = args.mysql_url
    if url is None:
        workdir = Path(args.workdir or tempfile.mkdtemp(prefix="sp-gen-data."))
        workdir.mkdir(parents=True, exist_ok=True)
        servers = benchlib.Servers(workdir)
        url = benchlib.start_mariadb(servers, buffer_pool=args.buffer_pool)
        print(f"private MariaDB: {url}\n  datadir {workdir / 'mariadb'} (pid {servers.mariadb_pid})", flush=True)
    try:
        from server.db import upgrade

        upgrade(url)
        generate(url, args.visits, args.photos_per_visit, args.seed)
        if args.uniform_photos:
            add_uniform_photos(url, args.uniform_photos, args.counties)
        if servers is not None and not args.stop:
            print(
                f"\nMariaDB keeps running for scripts/bench_review.py --mysql-url '{url}'\n"
                f"stop it and delete its data with Ctrl-C or: kill {os.getpid()}",
                flush=True,
            )
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        if servers is not None:
            servers.stop()
            shutil.rmtree(servers.workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
