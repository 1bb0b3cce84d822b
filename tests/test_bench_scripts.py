"""The benchmark scripts: pure helpers (percentiles, multipart bodies, generated rows) and a small generated database."""

from __future__ import annotations

import random
import socket
from datetime import UTC, datetime

from scripts import bench_load, benchlib, gen_data
from scripts.benchlib import cpu_seconds, free_port, percentile
from scripts.cluster import ComponentExited
from server.imaging.phash import HASH_BANDS, REGIONS, hamming, hash_bands

# Base data the services write row by row: a county's (gen_data.COUNTY) takes half a minute, and
# the bulk rows these tests check need only a few assignments to hang on.
FEW = gen_data.Shape(
    townships=2, villages_per_township=(2, 3), inspectors=4, projects_per_year=2, assignments_per_project=3
)


def test_percentile_interpolates_between_ranks():
    """p50 of an even count is the mean of the middle pair; p0/p100 are the extremes."""
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 50) == 2.5
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(list(range(1, 101)), 99) == 99.01


def test_percentile_of_nothing_is_none():
    """No samples give no percentile rather than a crash."""
    assert percentile([], 95) is None


def test_summarize_reports_milliseconds_per_endpoint():
    """Latencies recorded in seconds come out in milliseconds with their count."""
    out = bench_load.summarize({"login": [0.1, 0.2, 0.3]})
    assert out["login"]["count"] == 3
    assert out["login"]["p50"] == 200.0
    assert out["login"]["max"] == 300.0


def test_free_ports_are_never_ones_the_kernel_gives_outgoing_connections(monkeypatch):
    """A Galera joiner binds its rsync port half a minute after it is chosen: the port must not be one
    an outgoing connection can take meanwhile (a cluster start once failed "galera3 exited"), and a
    cluster choosing ~20 ports before binding any must not get one twice."""
    low, high = benchlib._ephemeral_range()
    assert 0 < low < high
    if low - 20000 < 2000:  # a host whose range leaves no room below it: Linux's default range instead
        low = 32768
        monkeypatch.setattr(benchlib, "_ephemeral_range", lambda: (low, 60999))
    ports = [free_port() for _ in range(50)]
    assert all(1024 < p < low for p in ports), sorted(ports)
    assert len(set(ports)) == len(ports)
    for port in ports:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))


def test_free_port_falls_back_to_any_free_port_when_the_range_leaves_no_room(monkeypatch):
    """A kernel whose ephemeral range starts low: a port the kernel chooses, still free."""
    monkeypatch.setattr(benchlib, "_ephemeral_range", lambda: (2048, 65000))
    ports = [free_port() for _ in range(5)]
    assert len(set(ports)) == 5
    for port in ports:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))


def test_a_component_that_exits_is_reported_with_the_end_of_its_log(tmp_path):
    """The cluster's folder is removed when its test fails: the error itself carries the log's end."""
    log = tmp_path / "galera3.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)) + "[ERROR] WSREP: rsync SST failed: Address in use\n")
    message = str(ComponentExited.of("galera3", log))
    assert message.startswith("galera3 exited")
    assert "rsync SST failed: Address in use" in message and "line 99" in message and "line 50" not in message
    assert "cannot be read" in str(ComponentExited.of("galera3", tmp_path / "missing.log"))


def test_multipart_body_puts_fields_before_the_file():
    """The presigned form's fields precede the file part, as S3 requires."""
    body = bench_load.multipart_body(
        {"key": "photos/a.jpg", "policy": "p"}, "file", "a.jpg", "image/jpeg", b"\xff\xd8DATA", "BOUNDARY"
    )
    assert body.index(b'name="key"') < body.index(b'name="policy"') < body.index(b'name="file"')
    assert b"Content-Type: image/jpeg\r\n\r\n\xff\xd8DATA\r\n--BOUNDARY--\r\n" in body


def test_goal_row_marks_informational_rows():
    """A goal without pass/fail shows '-', a failed one 'NO'."""
    assert bench_load.goal_row("g", "m", None)[2] == "-"
    assert bench_load.goal_row("g", "m", False)[2] == "NO"
    assert bench_load.goal_row("g", "m", True)[2] == "yes"


def test_cpu_seconds_of_a_missing_process_is_zero():
    """A process that has exited counts as having used no CPU (it left the tree)."""
    assert cpu_seconds(2**22 + 12345) == 0.0


def test_verify_codes_are_distinct_and_well_formed():
    """Generated verification codes never collide and use the app's alphabet."""
    codes = [gen_data.verify_code(n) for n in range(1, 20001)]
    assert len(set(codes)) == len(codes)
    assert all(len(c) == 10 and set(c) <= set(gen_data.VERIFY_ALPHABET) for c in codes)


def test_band_rows_match_the_apps_hash_bands():
    """The generator indexes ten region hashes exactly as the pipeline does (services.photos.hash_rows)."""
    from server.services.photos import hash_rows

    h = random.Random(3).getrandbits(64)
    regions = gen_data.region_hashes(h)
    rows = gen_data.band_rows(42, h, 7)
    assert rows == [(r.photo_id, r.kind, r.band, r.value, r.hash, r.county_id) for r in hash_rows(42, regions, 7)]
    assert (
        len(rows) == HASH_BANDS * len(REGIONS)
        and regions[0].value == h
        and len({r.value for r in regions}) == len(REGIONS)
    )


def test_scene_hashes_are_often_near_duplicates():
    """Photos drawn near one scene share a band often enough to exercise the near-duplicate index."""
    rng = random.Random(5)
    scene = rng.getrandbits(64)
    near = [h for h in (gen_data.scene_hash(rng, [scene]) for _ in range(400)) if hamming(h, scene) <= HASH_BANDS - 1]
    assert near
    assert all(set(hash_bands(h)) & set(hash_bands(scene)) for h in near)


def test_visit_and_photo_rows_fit_their_columns():
    """A generated visit and photo row have one value per column and consistent ids."""
    rng = random.Random(1)
    a = gen_data.AssignmentInfo(id=7, project_id=3, village_id=11, township_id=2, members=(5, 6))
    started = datetime(2026, 3, 2, 1, 30, tzinfo=UTC)
    visit = gen_data.visit_row(99, a, started, rng)
    assert len(visit) == len(gen_data.VISIT_COLUMNS)
    assert visit[:5] == (99, 7, 3, 11, 2) and visit[8] in (5, 6)
    photo = gen_data.photo_row(1234, visit, (27.0, 114.9), rng.getrandbits(64), rng)
    assert len(photo) == len(gen_data.PHOTO_COLUMNS)
    assert photo[0] == 1234 and photo[2] == photo[3] == 99
    assert photo[gen_data.PHOTO_COLUMNS.index("verify_code")] == gen_data.verify_code(1234)


def test_visit_times_fall_in_working_hours():
    """Generated visit start times lie within 08:00-18:00 China time."""
    rng = random.Random(2)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    hours = {gen_data.visit_time(rng, start, 365).hour for _ in range(500)}
    assert hours <= set(range(0, 10))


def test_generated_database_has_its_dashboard_counts(mariadb_url):
    """gen_data's bulk INSERTs bypass the ORM; it recounts the dashboard's table at the end."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from server.db import make_engine
    from server.models import Visit, VisitMonthStat
    from server.services import visit_stats
    from tests.conftest import _truncate_mariadb

    _truncate_mariadb(mariadb_url)
    gen_data.generate(mariadb_url, 400, 2, seed=3, shape=FEW)
    engine = make_engine(mariadb_url)
    with Session(engine) as s:
        assert s.scalar(select(func.count(Visit.id))) == 400
        assert s.scalar(select(func.sum(VisitMonthStat.visits))) == 400
        assert visit_stats.drift(s) == {}
    engine.dispose()
    _truncate_mariadb(mariadb_url)


def test_uniform_photos_are_indexed_as_the_app_indexes_them(mariadb_url):
    """The photos add_uniform_photos builds in SQL have the region hashes and band rows band_rows gives their hash,
    dealt round the generated county and the others."""
    import pymysql
    from sqlalchemy.engine import make_url

    from tests.conftest import _truncate_mariadb

    _truncate_mariadb(mariadb_url)
    gen_data.generate(mariadb_url, 20, 1, seed=4, shape=FEW)
    gen_data.add_uniform_photos(mariadb_url, 30, counties=3, chunk=12)
    u = make_url(mariadb_url)
    conn = pymysql.connect(host=u.host, port=u.port, user=u.username, password=u.password, database=u.database)
    cur = conn.cursor()
    cur.execute("SELECT id, phash, region_hashes FROM photos WHERE client_id LIKE 'uniform-%' ORDER BY id")
    photos = cur.fetchall()
    assert len(photos) == 30
    cur.execute("SELECT MIN(id) FROM counties")
    (home,) = cur.fetchone()
    cur.execute("SELECT DISTINCT county_id FROM photo_hash_bands WHERE photo_id < %s", (photos[0][0],))
    assert cur.fetchall() == ((home,),)  # generate()'s photos are the county's
    for pid, h, stored in photos:
        assert stored.lower() == gen_data.format_hashes(gen_data.region_hashes(int(h, 16)))
        cur.execute(
            "SELECT photo_id, kind, band, value, hash, county_id FROM photo_hash_bands WHERE photo_id = %s", (pid,)
        )
        assert sorted(cur.fetchall()) == sorted(gen_data.band_rows(pid, int(h, 16), home + pid % 3))
    conn.close()
    _truncate_mariadb(mariadb_url)


def test_review_baseline_index_is_the_layout_before_0031(mariadb_url):
    """bench_review's baseline table holds each region hash cut into the five 13-bit bands that 0029's lookup read."""
    import pymysql
    from sqlalchemy.engine import make_url

    from scripts import bench_review
    from tests.conftest import _truncate_mariadb

    _truncate_mariadb(mariadb_url)
    gen_data.generate(mariadb_url, 10, 1, seed=6, shape=FEW)
    u = make_url(mariadb_url)
    conn = pymysql.connect(host=u.host, port=u.port, user=u.username, password=u.password, database=u.database)
    cur = conn.cursor()
    try:
        bench_review.build_baseline_index(conn, chunk=3)
        cur.execute("SELECT photo_id, kind, hash FROM photo_hash_bands WHERE band = 0")
        expected = {
            (pid, kind, band, (h % (1 << 64)) >> sum((13, 13, 13, 13, 12)[band + 1 :]) & (1 << bits) - 1, h)
            for pid, kind, h in cur.fetchall()
            for band, bits in enumerate((13, 13, 13, 13, 12))
        }
        cur.execute(f"SELECT photo_id, kind, band, value, hash FROM {bench_review.BASELINE_TABLE}")
        assert expected and set(cur.fetchall()) == expected
    finally:
        cur.execute(f"DROP TABLE IF EXISTS {bench_review.BASELINE_TABLE}")
        conn.close()
        _truncate_mariadb(mariadb_url)


def test_review_ratio_says_slower_when_it_is():
    """bench_review prints a ratio below 1 as 'slower', never as '0.5x faster'."""
    from scripts.bench_review import ratio

    assert ratio(100.0, 50.0) == "2.0x faster"
    assert ratio(50.0, 100.0) == "2.0x slower"
