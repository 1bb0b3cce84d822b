"""The dashboard's monthly counts (services.visit_stats) follow every write and can be recounted.

Every app test of the suite also checks, at teardown, that the kept counts equal a fresh
count (tests/conftest.py); these tests pin the rules and the paths that bypass the ORM.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import select, text, update

from server.db import alembic_config, db
from server.models import Photo, Visit, VisitListCount, VisitMonthStat
from server.services import dashboard, visit_stats
from tests.console.test_dashboard import add_photo, add_visit

# Upserts per dialect, one row under contention, MariaDB's index hints and plans.
pytestmark = pytest.mark.both_databases


def kept(session) -> dict:
    """The dashboard's non-zero monthly rows."""
    return {
        (r.month, r.township_id, r.village_id, r.status): (r.visits, r.photos, r.flagged_photos)
        for r in session.scalars(select(VisitMonthStat))
        if (r.visits, r.photos, r.flagged_photos) != (0, 0, 0)
    }


def listed(session) -> dict:
    """The visit list's non-zero monthly rows."""
    return {
        (r.month, r.township_id, r.status, r.flag): r.visits
        for r in session.scalars(select(VisitListCount))
        if r.visits
    }


def test_month_is_the_china_calendar_month():
    # 16:30 UTC on New Year's Eve is already 00:30 on 1 January in China.
    assert visit_stats.month_key(datetime(2025, 12, 31, 16, 30, tzinfo=UTC)) == 202601
    assert visit_stats.month_key(datetime(2025, 12, 31, 15, 59, tzinfo=UTC)) == 202512
    assert visit_stats.month_range(2026) == (202601, 202612)


def test_counts_follow_visits_and_photos_through_their_lives(app, world):
    with app.app_context():
        s = db.session
        vid = add_visit(world, status="in_progress", started=datetime(2025, 12, 31, 16, 30, tzinfo=UTC))
        add_photo(world, vid, [], status="pending")
        add_photo(world, vid, ["no_exif"])
        add_photo(world, vid, [])
        s.commit()
        key_open = (202601, world.t1, world.v1, "in_progress")
        assert kept(s) == {key_open: (1, 2, 1)}

        # A pending photo turning ready, and a flag cleared on another.
        pending, flagged = s.scalars(select(Photo).where(Photo.visit_id == vid).order_by(Photo.id)).all()[:2]
        pending.status, pending.flags = "ready", ["duplicate"]
        flagged.flags = []
        s.commit()
        assert kept(s) == {key_open: (1, 3, 1)}

        # Submitting moves the visit and all its photos to the submitted row of its month.
        s.get(Visit, vid).status = "submitted"
        s.commit()
        assert kept(s) == {(202601, world.t1, world.v1, "submitted"): (1, 3, 1)}

        # A photo rejected or deleted stops counting; a visit deleted takes its photos along.
        pending.status = "rejected"
        s.commit()
        assert kept(s) == {(202601, world.t1, world.v1, "submitted"): (1, 2, 0)}
        for p in s.scalars(select(Photo).where(Photo.visit_id == vid)):
            s.delete(p)
        s.flush()
        s.delete(s.get(Visit, vid))
        s.commit()
        assert kept(s) == {}
        assert visit_stats.drift(s) == {}


def test_a_rolled_back_write_leaves_the_counts_as_they_were(app, world):
    with app.app_context():
        s = db.session
        add_visit(world)
        s.commit()
        before = kept(s)
        add_visit(world)
        s.flush()
        assert kept(s) != before  # counted inside the transaction...
        s.rollback()
        assert kept(s) == before  # ...and gone with it


def test_the_dashboard_reads_the_kept_counts_with_the_visit_list_scope(app, world):
    with app.app_context():
        s = db.session
        year = datetime.now(UTC).year
        for status in ("submitted", "submitted", "in_progress"):
            add_photo(world, add_visit(world, status=status), ["capture_far"])
        add_visit(world, township="t2", village="v2")
        s.commit()
        from server.models import User

        admin = s.get(User, world.ids["admin"])
        reviewer = s.get(User, world.ids["reviewer1"])
        rows = {r.id: r for r in dashboard.build(s, admin, year).rows}
        assert (rows[world.t1].visits, rows[world.t1].photos, rows[world.t1].flagged_photos) == (3, 3, 3)
        assert rows[world.t1].villages_visited == 1
        assert rows[world.t2].visits == 1
        # A township reviewer counts only submitted visits of their townships.
        rows = {r.id: r for r in dashboard.build(s, reviewer, year).rows}
        assert set(rows) == {world.t1}
        assert (rows[world.t1].visits, rows[world.t1].photos) == (2, 2)


def test_bulk_writes_past_the_orm_are_recounted_by_rebuild_stats(app, world):
    with app.app_context():
        s = db.session
        vid = add_visit(world, status="in_progress")
        s.commit()
        # What a bulk loader or a hand-made SQL fix does: the listener never sees it.
        s.execute(update(Visit).where(Visit.id == vid).values(status="submitted"))
        s.commit()
        assert visit_stats.drift(s)
    result = app.test_cli_runner().invoke(args=["rebuild-stats"])
    assert result.exit_code == 0, result.output
    # The in-progress and submitted rows of both tables.
    assert "4 differed" in result.output
    with app.app_context():
        assert visit_stats.drift(db.session) == {}
        month = visit_stats.month_key(datetime.now(UTC))
        assert kept(db.session) == {(month, world.t1, world.v1, "submitted"): (1, 0, 0)}


def test_the_migration_counts_the_visits_already_there(app, world, database_url):
    with app.app_context():
        add_photo(world, add_visit(world), ["no_exif"])
        add_visit(world, township="t2", village="v2")
        db.session.commit()
        expected = kept(db.session)
    app.extensions["db"]["engine"].dispose()
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0007")
    command.upgrade(cfg, "head")
    with app.app_context():
        assert kept(db.session) == expected
        assert len(expected) == 2


def test_simultaneous_writes_to_one_row_all_count(app, world):
    """Ten transactions adding visits to the same month row at once: none is lost."""
    with app.app_context():
        ids = {"assignment": world.a1}
    barrier = threading.Barrier(10)
    errors: list[BaseException] = []

    def one() -> None:
        try:
            barrier.wait(timeout=30)
            with app.app_context():
                add_visit(world)  # flushes: the row's upsert waits for the row lock here
                db.session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with app.app_context():
        n = db.session.scalar(text("SELECT COUNT(*) FROM visits WHERE assignment_id = :a"), {"a": ids["assignment"]})
        assert sum(v[0] for v in kept(db.session).values()) == n
        assert visit_stats.drift(db.session) == {}


def test_list_counts_equal_counting_the_visits_for_any_filters(app, world):
    """Totals and flag counts from the kept months (plus partial months counted) equal a direct count."""
    import random
    from datetime import date, timedelta

    from server.models import User
    from server.services import review
    from server.services.visits import flag_visit

    rng = random.Random(5)
    with app.app_context():
        s = db.session
        start = datetime(2025, 10, 20, 12, tzinfo=UTC)
        for i in range(60):
            township = rng.choice(("t1", "t2"))
            vid = add_visit(
                world,
                township=township,
                village="v1" if township == "t1" else "v2",
                status=rng.choice(("submitted", "submitted", "in_progress")),
                # Some just before/after midnight China time at a month's end.
                started=start + timedelta(days=rng.randrange(100), hours=rng.choice((0, 3.75, 4.25))),
            )
            flag_visit(s, vid, rng.sample(("far_from_village", "low_accuracy", "clock_skew"), rng.randrange(3)))
            if i % 7 == 0:
                flag_visit(s, vid, ["far_from_village"])  # again: already there, not counted twice
        s.commit()
        users = [s.get(User, world.ids[k]) for k in ("admin", "reviewer1", "leader", "insp_a")]
        days = [
            None,
            date(2025, 11, 1),
            date(2025, 11, 30),
            date(2025, 10, 31),
            date(2025, 12, 15),
            date(2026, 1, 1),
            date(2026, 1, 31),
            date(2025, 12, 31),
        ]
        checked = 0
        for _ in range(150):
            filters = {}
            for key, choices in (
                ("township_id", [world.t1, world.t2]),
                ("status", ["submitted", "in_progress"]),
                ("flag", ["far_from_village", "low_accuracy"]),
                ("date_from", days[1:]),
                ("date_to", days[1:]),
            ):
                if rng.random() < 0.4:
                    filters[key] = rng.choice(choices)
            user = rng.choice(users)
            assert review.count_visits(s, user, filters) == review._direct_count(s, user, filters), filters
            others = {k: v for k, v in filters.items() if k != "flag"}
            assert review.flag_counts(s, user, filters) == dict(
                sorted(review._direct_flag_counts(s, user, others).items())
            ), filters
            checked += review.count_visits(s, user, filters) > 0
        assert checked > 30  # the filters did select visits, not only empty sets


def test_every_plan_of_the_visit_list_gives_the_same_page(app, world, monkeypatch):
    """The index hints and walks chosen for MariaDB at scale change how a page is found, never which."""
    import random
    from datetime import date, timedelta

    from server.models import User
    from server.services import review
    from server.services.visits import flag_visit

    rng = random.Random(11)
    with app.app_context():
        s = db.session
        start = datetime(2025, 11, 1, 2, tzinfo=UTC)
        for _ in range(90):
            township = rng.choice(("t1", "t2"))
            status = rng.choice(("submitted", "submitted", "in_progress"))
            vid = add_visit(
                world,
                township=township,
                village="v1" if township == "t1" else "v2",
                status=status,
                started=start + timedelta(hours=rng.randrange(24 * 70)),
            )
            if status == "submitted":  # submitted some hours after the start, not in start order
                v = s.get(Visit, vid)
                v.submitted_at = v.started_at + timedelta(hours=rng.randrange(1, 200))
            flag_visit(s, vid, rng.sample(("far_from_village", "low_accuracy"), rng.randrange(3)))
        s.commit()
        users = [s.get(User, world.ids[k]) for k in ("admin", "reviewer1")]

        def plain(user, filters, sort, page):
            order = review.SORTS[sort if sort in review.SORTS else review.DEFAULT_SORT]
            if sort.endswith("submitted_at") and filters.get("status") == "in_progress":
                order = review.SORTS[sort.replace("submitted_at", "started_at")]
            stmt = review.filtered_visits(user, filters).with_only_columns(Visit.id).order_by(*order)
            page = max(1, min(page, -(-review._direct_count(s, user, filters) // 10)))  # as the list clamps it
            return list(s.scalars(stmt.limit(10).offset((page - 1) * 10)))

        for _ in range(60):
            filters = {}
            for key, choices in (
                ("township_id", [world.t1, world.t2]),
                ("status", ["submitted", "in_progress"]),
                ("flag", ["far_from_village", "low_accuracy"]),
                ("date_from", [date(2025, 11, 10), date(2025, 12, 1)]),
                ("date_to", [date(2025, 12, 20), date(2026, 1, 31)]),
            ):
                if rng.random() < 0.4:
                    filters[key] = rng.choice(choices)
            user, sort, page = rng.choice(users), rng.choice(list(review.SORTS)), rng.choice((1, 2))
            expected = plain(user, filters, sort, page)
            for walk_max, in_memory_max in ((0, 0), (10**9, 10**9)):
                monkeypatch.setattr(review, "WALK_MAX", walk_max)
                monkeypatch.setattr(review, "SORT_IN_MEMORY_MAX", in_memory_max)
                got = [r.visit.id for r in review.page_of_visits(s, user, filters, sort, page, 10).rows]
                assert got == expected, (filters, sort, page, walk_max)
