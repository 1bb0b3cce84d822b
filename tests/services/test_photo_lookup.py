"""The indexed near-duplicate lookup is exact: it finds every stored region hash within the distance, and nothing farther."""

import random

import pytest
from alembic import command
from sqlalchemy import create_engine, func, insert, select, text

from server.db import alembic_config, db
from server.imaging import phash
from server.models import Photo, PhotoHashBand, User
from server.services.photos import hash_rows, near_photo_ids

# Bit positions of each band (bit 63 is the hash's first), to place flips band by band.
BAND_POSITIONS = [[bit for bit in range(64) if phash.hash_bands(1 << bit)[band]] for band in range(phash.HASH_BANDS)]


def flipped(h: int, bits) -> int:
    """h with the given bit positions inverted."""
    for bit in bits:
        h ^= 1 << bit
    return h


def spread(rng: random.Random, distance: int) -> list[int]:
    """distance bit positions as evenly over the bands as they go (the hardest case for a band index)."""
    counts = [distance // phash.HASH_BANDS + (band < distance % phash.HASH_BANDS) for band in range(phash.HASH_BANDS)]
    rng.shuffle(counts)
    return [bit for band, n in enumerate(counts) for bit in rng.sample(BAND_POSITIONS[band], n)]


def near_and_far(rng: random.Random, q: int) -> list[int]:
    """Hashes at every distance 0..12 from q: flips anywhere, spread evenly over the bands, and all in one band."""
    out = []
    for distance in range(13):
        out.append(flipped(q, rng.sample(range(64), distance)))
        out.append(flipped(q, spread(rng, distance)))
        out.append(flipped(q, rng.sample(BAND_POSITIONS[rng.randrange(phash.HASH_BANDS)], distance)))
    return out


def store(hashes: list[int], county: int | None = None) -> dict[int, int]:
    """Store one photo per hash (a single region) with its band rows in `county`; answers photo_id -> hash."""
    uploader = db.session.scalar(select(func.min(User.id)))
    start = (db.session.scalar(select(func.max(Photo.id))) or 0) + 1
    photos, bands, stored = [], [], {}
    for pid, h in enumerate(hashes, start):
        stored[pid] = h
        photos.append(
            {
                "id": pid,
                "owner_kind": "feedback",
                "owner_id": 10**6,
                "uploader_id": uploader,
                "client_id": f"lookup-{pid}",
                "status": "ready",
                "content_type": "image/jpeg",
                "declared_size": 1000,
                "upload_key": f"lookup/{pid}",
                "object_key": f"lookup/{pid}",
                "verify_code": f"L{pid:09d}",
                "region_hashes": phash.format_hashes([phash.RegionHash(h, 0)]),
                "flags": [],
            }
        )
        bands += [
            {c.name: getattr(row, c.name) for c in row.__table__.columns}
            for row in hash_rows(pid, (phash.RegionHash(h, 0),), county)
        ]
    db.session.execute(insert(Photo), photos)
    db.session.execute(insert(PhotoHashBand), bands)
    db.session.commit()
    return stored


@pytest.mark.both_databases
def test_the_index_finds_every_stored_hash_within_the_distance_and_none_beyond(app, world):
    """Against a brute-force popcount: random probes, stored hashes 0..12 bits off (anywhere, spread over the bands, in one band)."""
    rng = random.Random(1913)
    stored: dict[int, int] = {}
    with app.app_context():
        for _ in range(6):
            probes = [rng.getrandbits(64) for _ in range(3)]
            # The sign bit set and clear among them: the database stores the hash as a signed BIGINT.
            probes[0] |= 1 << 63
            probes[1] &= (1 << 63) - 1
            stored |= store(
                [h for q in probes for h in near_and_far(rng, q)] + [rng.getrandbits(64) for _ in range(30)]
            )
            for query in ([probes[0]], probes):
                expected = {
                    pid
                    for pid, h in stored.items()
                    if any(phash.hamming(q, h) <= phash.NEAR_DUPLICATE_DISTANCE for q in query)
                }
                assert set(db.session.scalars(near_photo_ids(query))) == expected


def band_rows(database_url: str) -> set[tuple[int, int, int, int, int]]:
    """Every row of photo_hash_bands, read outside the app."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = {tuple(r) for r in conn.execute(text("SELECT photo_id, kind, band, value, hash FROM photo_hash_bands"))}
    engine.dispose()
    return rows


@pytest.mark.both_databases
def test_0031_recuts_the_band_rows_both_ways(app, world, database_url):
    """Down below 0031 each row's hash is cut into the five old 13-bit bands; up again, the rows are exactly hash_rows()'s."""
    rng = random.Random(31)
    with app.app_context():
        stored = store([rng.getrandbits(64) for _ in range(40)] + [0, (1 << 64) - 1, 1 << 63])
    app.extensions["db"]["engine"].dispose()
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0032")
    narrow = (13, 13, 13, 13, 12)
    assert band_rows(database_url) == {
        (pid, 0, band, h >> sum(narrow[band + 1 :]) & (1 << bits) - 1, phash.db_hash(h))
        for pid, h in stored.items()
        for band, bits in enumerate(narrow)
    }
    command.upgrade(cfg, "head")
    assert band_rows(database_url) == {
        (row.photo_id, row.kind, row.band, row.value, row.hash)
        for pid, h in stored.items()
        for row in hash_rows(pid, (phash.RegionHash(h, 0),), None)
    }


@pytest.mark.both_databases
def test_hashes_at_the_ends_of_the_64_bits_are_found(app, world):
    """The sign bit alone (the BIGINT minimum, written as an expression in the query), all ones and zero."""
    rng = random.Random(64)
    with app.app_context():
        ends = [1 << 63, (1 << 64) - 1, 0]
        stored = store([flipped(q, rng.sample(range(64), d)) for q in ends for d in (0, 3, 8, 9)])
        for q in ends:
            expected = {pid for pid, h in stored.items() if phash.hamming(q, h) <= phash.NEAR_DUPLICATE_DISTANCE}
            assert len(expected) >= 3
            assert set(db.session.scalars(near_photo_ids([q]))) == expected


@pytest.mark.both_databases
def test_the_lookup_reaches_the_index_by_band_and_value(app, world):
    """The probes and flips drive the join and the index is read by its (band, value) prefix, never scanned whole."""
    rng = random.Random(7)
    with app.app_context():
        store([rng.getrandbits(64) for _ in range(300)])
        stmt = near_photo_ids([rng.getrandbits(64) for _ in range(12)])
        sql = str(stmt.compile(db.session.get_bind(), compile_kwargs={"literal_binds": True}))
        if db.session.get_bind().dialect.name == "sqlite":
            plan = [row[3] for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
            index_steps = [step for step in plan if "photo_hash_bands" in step]
            assert index_steps == [
                "SEARCH photo_hash_bands USING COVERING INDEX ix_photo_hash_bands_near (band=? AND value=?)"
            ]
            assert plan.index("SCAN probes") < plan.index(index_steps[0])
        else:
            db.session.execute(text("ANALYZE TABLE photo_hash_bands"))
            plan = db.session.execute(text(f"EXPLAIN {sql}")).mappings().all()
            (index_step,) = [row for row in plan if row["table"] == "photo_hash_bands"]
            assert index_step["type"] == "ref" and index_step["key"] == "ix_photo_hash_bands_near"
            # Both (band, value) columns of the index, the value computed from the rows before it.
            assert len(index_step["ref"].split(",")) == 2 and "func" in index_step["ref"]
            assert plan.index(index_step) == len([row for row in plan if row["id"] == 1]) - 1  # joined last


@pytest.mark.both_databases
def test_the_benchmarks_in_list_baseline_finds_what_the_lookup_finds(app, world):
    """scripts/bench_review.py times the IN-list query the probe join replaced: it must answer the same."""
    from scripts.bench_review import candidates_in_lists
    from server.services.photos import near_candidates

    rng = random.Random(11)
    with app.app_context():
        queries = [[rng.getrandbits(64) for _ in range(4)] for _ in range(3)]
        store([h for q in queries for h0 in q for h in near_and_far(rng, h0)])
        probe = Photo(id=10**8, owner_kind="visit", owner_id=10**9)
        for query in queries:
            found = near_candidates(db.session, probe, query)
            assert found and candidates_in_lists(db.session, probe, query) == found


@pytest.mark.both_databases
def test_a_countys_lookup_reads_its_own_rows_and_the_unscoped_one_every_countys(app, world):
    """Within a county only its rows are found, through the index's (band, value, county_id) prefix;
    without one every county's and those of no county yet; the nightly pass's: every other county's."""
    rng = random.Random(33)
    with app.app_context():
        q = rng.getrandbits(64)
        here = store([flipped(q, rng.sample(range(64), d)) for d in (0, 4, 8, 9)], county=1)
        there = store([flipped(q, rng.sample(range(64), d)) for d in (0, 4, 8, 9)], county=2)
        unknown = store([flipped(q, rng.sample(range(64), 3))], county=None)

        def near(stored):
            return {pid for pid, h in stored.items() if phash.hamming(q, h) <= phash.NEAR_DUPLICATE_DISTANCE}

        assert len(near(here)) == 3
        assert set(db.session.scalars(near_photo_ids([q], 1))) == near(here)
        assert set(db.session.scalars(near_photo_ids([q], 2))) == near(there)
        assert set(db.session.scalars(near_photo_ids([q]))) == near(here) | near(there) | set(unknown)
        # The nightly pass for a photo of county 1: what its complete did not search.
        assert set(db.session.scalars(near_photo_ids([q], other_than=1))) == near(there) | set(unknown)
        sql = str(near_photo_ids([q], 1).compile(db.session.get_bind(), compile_kwargs={"literal_binds": True}))
        if db.session.get_bind().dialect.name == "sqlite":
            plan = [row[3] for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
            assert [step for step in plan if "photo_hash_bands" in step] == [
                "SEARCH photo_hash_bands USING COVERING INDEX ix_photo_hash_bands_near (band=? AND value=? AND county_id=?)"
            ]
        else:
            db.session.execute(text("ANALYZE TABLE photo_hash_bands"))
            plan = db.session.execute(text(f"EXPLAIN {sql}")).mappings().all()
            (index_step,) = [row for row in plan if row["table"] == "photo_hash_bands"]
            assert index_step["type"] == "ref" and len(index_step["ref"].split(",")) == 3


@pytest.mark.both_databases
def test_0033_puts_each_indexed_photo_in_its_owners_county(app, client, world, database_url):
    """Up from 0031: in a deployment of several counties a row takes its photo's owner's county (a visit's,
    a draft its uploader's, a draft of someone of no county none); in a deployment of one county every
    row is that county's."""
    from server.models import County
    from tests.factories import Api, start_visit

    visit = start_visit(Api(client, world.tokens["insp_a"]), world.a1)
    rng = random.Random(330)
    with app.app_context():
        (first,) = db.session.scalars(select(County.id)).all()
        uploader, other = db.session.scalars(select(User.id).order_by(User.id).limit(2)).all()
        stored = store([rng.getrandbits(64) for _ in range(3)])
    app.extensions["db"]["engine"].dispose()
    cfg = alembic_config(database_url)
    engine = create_engine(database_url)

    def counties_after_upgrade() -> dict[int, int | None]:
        command.downgrade(cfg, "0031")
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            return dict(conn.execute(text("SELECT DISTINCT photo_id, county_id FROM photo_hash_bands")).all())

    assert counties_after_upgrade() == dict.fromkeys(stored, first)
    staff, villager, visit_photo = sorted(stored)
    with engine.begin() as conn:
        second = conn.execute(
            text(
                "INSERT INTO counties (code, name, department_name, doc_prefix, created_at)"
                " VALUES ('360822', '吉水县', '', '吉水组字', '2026-12-07 00:00:00')"
            )
        ).lastrowid
        conn.execute(text("UPDATE users SET county_id = :c WHERE id = :u"), {"c": second, "u": uploader})
        conn.execute(
            text("UPDATE photos SET owner_kind = 'report_draft', owner_id = :u WHERE id = :p"),
            {"u": uploader, "p": staff},
        )
        conn.execute(text("UPDATE users SET county_id = NULL WHERE id = :u"), {"u": other})
        conn.execute(
            text("UPDATE photos SET owner_kind = 'feedback_draft', owner_id = :u WHERE id = :p"),
            {"u": other, "p": villager},
        )
        conn.execute(
            text("UPDATE photos SET owner_kind = 'visit', owner_id = :v WHERE id = :p"),
            {"v": visit["id"], "p": visit_photo},
        )
    counties = counties_after_upgrade()
    engine.dispose()
    assert (counties[staff], counties[villager], counties[visit_photo]) == (second, None, first)
