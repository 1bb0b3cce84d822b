"""The console dashboard: per-township figures, scope, charts and a query count independent of data."""

from __future__ import annotations

import html
import re
import secrets
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import event

from server.db import db
from server.models import Feedback, Photo, RectificationOrder, Village, Visit
from tests.factories import uid

URL = "/console/dashboard"


def add_visit(
    world,
    *,
    township: str = "t1",
    village: str | None = "v1",
    status: str = "submitted",
    started: datetime | None = None,
    assignment: str | None = None,
) -> int:
    """A visit row straight in the database (the API is tested elsewhere); returns its id."""
    a = assignment or {"t1": "a1", "t2": "a2"}[township]
    project = {"a1": world.p1, "a2": world.p2, "a3": world.p3}[a]
    v = Visit(
        assignment_id=getattr(world, a),
        project_id=project,
        village_id=getattr(world, village) if village else None,
        township_id=getattr(world, township),
        client_id=uid(),
        status=status,
        started_at=started or datetime.now(UTC),
        created_by_id=world.ids["insp_a"],
        submitted_at=datetime.now(UTC) if status == "submitted" else None,
    )
    db.session.add(v)
    db.session.flush()
    return v.id


def add_photo(world, visit_id: int, flags: list[str], status: str = "ready") -> None:
    """A photo row of a visit with the given flags."""
    db.session.add(
        Photo(
            owner_kind="visit",
            owner_id=visit_id,
            visit_id=visit_id,
            uploader_id=world.ids["insp_a"],
            client_id=uid(),
            status=status,
            content_type="image/jpeg",
            declared_size=1000,
            upload_key=f"uploads/visit/{uid()}.jpg",
            object_key=f"sealed/visit/{uid()}.jpg",
            verify_code=secrets.token_hex(5),
            flags=flags,
        )
    )


def add_order(world, township: str, status: str, days_to_deadline: int) -> None:
    """A rectification order row with a deadline relative to today (China date)."""
    from server.clock import today as today_china

    project = {"t1": world.p1, "t2": world.p2}[township]
    db.session.add(
        RectificationOrder(
            project_id=project,
            township_id=getattr(world, township),
            items=["公示栏未更新"],
            deadline=today_china() + timedelta(days=days_to_deadline),
            status=status,
            issued_by_id=world.ids["admin"],
        )
    )


def add_feedback(
    world, township: str, rating: str, *, status: str = "received", created: datetime | None = None
) -> None:
    """A feedback row on the township's project."""
    project = {"t1": world.p1, "t2": world.p2}[township]
    now = datetime.now(UTC)
    db.session.add(
        Feedback(
            project_id=project,
            township_id=getattr(world, township),
            user_id=world.ids["villager"],
            client_id=uid(),
            receipt_no=f"FK{secrets.token_hex(6)}",
            rating=rating,
            category="建议",
            text="路灯还没装好",
            status=status,
            due_at=now + timedelta(days=5),
            sent_at=now,
            created_at=created or now,
        )
    )


def row_cells(page: str, township_id: int) -> list[str]:
    """The text of each cell in the dashboard table's row of one township."""
    row = re.search(rf'<tr[^>]*data-township="{township_id}"[^>]*>(.*?)</tr>', page, re.S)
    assert row, f"no row for township {township_id}"
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    return [html.unescape(re.sub(r"<[^>]+>|\s+", "", c)) for c in cells]


@pytest.fixture
def known(app, world):
    """A known year: visits, photos, rectifications and feedback in both townships."""
    last_year = datetime.now(UTC) - timedelta(days=400)
    with app.app_context():
        s = db.session
        s.add(Village(township_id=world.t1, code="360821100202", name="东坑村", lat=27.03, lng=114.89))
        s.flush()
        first = add_visit(world)
        add_visit(world)
        add_visit(world, village=None, assignment="a3")  # the site of a non-public enterprise in t1
        add_visit(world, village="v1", started=last_year)  # last year: not counted
        second = add_visit(world, township="t2", village="v2")
        add_visit(world, township="t2", village="v2", status="in_progress")  # admins see it, reviewers not
        add_photo(world, first, ["capture_far"])
        add_photo(world, first, ["duplicate", "no_exif"])
        add_photo(world, first, [])
        add_photo(world, first, [], status="pending")
        add_photo(world, second, ["exif_time_mismatch"])
        add_order(world, "t1", "issued", -1)  # overdue
        add_order(world, "t1", "responded", 3)  # open, in time
        add_order(world, "t1", "closed", -30)
        add_order(world, "t1", "verified", -30)
        add_order(world, "t2", "responded", -2)  # overdue
        for rating in ("满意", "满意", "基本满意", "不满意"):
            add_feedback(world, "t1", rating)
        add_feedback(world, "t1", "不满意", status="held")  # not yet moderated
        add_feedback(world, "t1", "满意", created=last_year)
        s.commit()
    return world


def test_numbers_per_township_are_right(console, known):
    """Villages visited/total, visits, flagged photos, open/overdue orders and satisfaction shares per township."""
    page = console("admin").get(URL).get_data(as_text=True)
    assert row_cells(page, known.t1) == [
        "永阳镇",
        "1/2",
        "50%",
        "3",
        "3(2)",
        "2",
        "1",
        "4",
        "2(50%)",
        "1(25%)",
        "1(25%)",
        "75%",
    ]
    assert row_cells(page, known.t2) == [
        "桐坪镇",
        "1/1",
        "100%",
        "2",
        "1(1)",
        "1",
        "1",
        "0",
        "0(—)",
        "0(—)",
        "0(—)",
        "—",
    ]


def test_other_year_counts_that_year(console, known):
    """?year= shows that year's visits and feedback; open rectifications are today's whatever the year."""
    year = (datetime.now(UTC) - timedelta(days=400)).astimezone(timezone(timedelta(hours=8))).year
    page = console("admin").get(f"{URL}?year={year}").get_data(as_text=True)
    cells = row_cells(page, known.t1)
    assert cells[1:4] == ["1/2", "50%", "1"] and cells[5] == "2" and cells[7] == "1"


def test_reviewer_sees_only_own_townships(console, known):
    """A reviewer of 永阳镇 gets its row and totals, nothing of 桐坪镇."""
    page = console("reviewer1").get(URL).get_data(as_text=True)
    assert row_cells(page, known.t1)[:4] == ["永阳镇", "1/2", "50%", "3"]
    assert f'data-township="{known.t2}"' not in page and "桐坪镇" not in page


def test_reviewer_counts_submitted_visits_only(console, known):
    """A visit still under way is unannounced: the township's reviewer does not see it counted."""
    page = console("reviewer2").get(URL).get_data(as_text=True)
    assert row_cells(page, known.t2)[:4] == ["桐坪镇", "1/1", "100%", "1"]


def test_page_draws_svg_charts(console, known):
    """The coverage and satisfaction charts are inline SVG naming the townships."""
    page = console("leader").get(URL).get_data(as_text=True)
    charts = re.findall(r"<svg[^>]*>.*?</svg>", page, re.S)
    assert len(charts) == 2
    assert "永阳镇" in charts[0] and "1/2 村 · 50%" in charts[0]
    assert "满意" in charts[1] and "50%" in charts[1]


def test_needs_login(client, world):
    """Anonymous visitors are sent to the login page."""
    r = client.get(URL)
    assert r.status_code == 302 and "/console/login" in r.headers["Location"]


def _statements(app, client) -> int:
    """How many SQL statements one dashboard request runs."""
    engine = app.extensions["db"]["engine"]
    count = 0

    def counter(*_args, **_kw):
        nonlocal count
        count += 1

    event.listen(engine, "before_cursor_execute", counter)
    try:
        assert client.get(URL).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", counter)
    return count


def test_query_count_does_not_grow_with_data(app, world, console):
    """5 visits or 20 visits (with photos, orders and feedback): the same number of statements."""
    admin = console("admin")

    def add(n: int) -> None:
        with app.app_context():
            for i in range(n):
                township = ("t1", "t2")[i % 2]
                vid = add_visit(world, township=township, village={"t1": "v1", "t2": "v2"}[township])
                add_photo(world, vid, ["capture_far"] if i % 3 else [])
                add_order(world, township, "issued", i - 3)
                add_feedback(world, township, ("满意", "基本满意", "不满意")[i % 3])
            db.session.commit()

    add(5)
    few = _statements(app, admin)
    add(15)
    assert _statements(app, admin) == few
