"""Console pages of the quarterly cycle: the year's table, generation, edit, completion, the dashboard tile, scope."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from server import clock
from server.db import db
from server.models import AuditEntry, QuarterlyReminder, QuarterlyTask, User
from server.services import quarterly
from tests.console.conftest import csrf


def generate(app, world) -> dict[tuple[int, str], int]:
    """This year's schedule generated through the service; task ids by (quarter, kind)."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        tasks, _ = quarterly.generate_year(db.session, admin, clock.today().year)
        return {(t.quarter, t.kind): t.id for t in tasks}


def test_schedule_is_in_the_inspection_menu(console):
    """Staff find 季度调度督导 under 督查; a secretary may not open it."""
    page = console("leader").get("/console/quarterly")
    assert page.status_code == 200
    assert 'href="/console/quarterly"' in page.get_data(as_text=True)
    secretary = console("secretary")
    assert secretary.get("/console/quarterly").status_code == 403


def test_generate_button_fills_the_table_once(app, console, world):
    """The button makes the 4 × 3 table; a second click says it was already generated and adds nothing."""
    admin = console("admin")
    token = csrf(admin)
    year = clock.today().year
    empty = admin.get("/console/quarterly").get_data(as_text=True)
    assert 'id="quarterly-empty"' in empty and "生成" in empty
    r = admin.post("/console/quarterly/generate", data={"csrf_token": token, "year": str(year)}, follow_redirects=True)
    page = r.get_data(as_text=True)
    assert f"已生成 {year} 年季度工作安排 12 项" in page
    assert page.count("data-task=") == 12 and "第四季度" in page and "反馈通报" in page
    assert 'id="generate-year"' not in page  # nothing left to generate
    r = admin.post("/console/quarterly/generate", data={"csrf_token": token, "year": str(year)}, follow_redirects=True)
    assert "已生成过,未重复添加" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(QuarterlyTask.id))) == 12


def test_generate_needs_the_csrf_token_and_an_admin(app, console, world):
    """Without the form's token nothing is generated; a leader's click is refused."""
    admin = console("admin")
    assert admin.post("/console/quarterly/generate", data={"year": "2026"}).status_code == 400
    leader = console("leader")
    assert leader.post("/console/quarterly/generate", data={"csrf_token": csrf(leader)}).status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count(QuarterlyTask.id))) == 0


def test_edit_then_mark_done_through_the_forms(app, console, world):
    """The admin gives a task an owner and a day; the owner marks it done with a meeting note; both audited."""
    ids = generate(app, world)
    tid = ids[(2, "dispatch")]
    admin = console("admin")
    day = date(clock.today().year, 4, 18).isoformat()
    r = admin.post(
        f"/console/quarterly/tasks/{tid}",
        data={"csrf_token": csrf(admin), "due_date": day, "owner_id": str(world.ids["reviewer1"]), "notes": "县委党校"},
    )
    assert r.status_code == 302
    reviewer = console("reviewer1")
    page = reviewer.get(f"/console/quarterly/tasks/{tid}").get_data(as_text=True)
    assert 'id="done-form"' in page and 'id="edit-form"' not in page
    r = reviewer.post(f"/console/quarterly/tasks/{tid}/done", data={"csrf_token": csrf(reviewer)})
    assert r.status_code == 400 and "至少提供一项佐证" in r.get_data(as_text=True)
    r = reviewer.post(
        f"/console/quarterly/tasks/{tid}/done",
        data={"csrf_token": csrf(reviewer), "note": "听取 12 名书记汇报", "document": "第二季度调度会纪要"},
        follow_redirects=True,
    )
    text = r.get_data(as_text=True)
    assert "已标记完成" in text and "reviewer1 于" in text and "第二季度调度会纪要" in text
    with app.app_context():
        actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "quarterly_task")).all()
        assert actions == ["quarterly.update", "quarterly.complete"]


def test_a_bad_due_day_is_shown_on_the_form(app, console, world):
    """A day outside the quarter comes back on the task page with the reason, nothing saved."""
    tid = generate(app, world)[(1, "dispatch")]
    admin = console("admin")
    r = admin.post(f"/console/quarterly/tasks/{tid}", data={"csrf_token": csrf(admin), "due_date": "2026-09-01"})
    assert r.status_code == 400 and "截止日期须在" in r.get_data(as_text=True)


def test_a_reviewer_sees_only_own_tasks_and_cannot_edit(app, console, world):
    """Another person's task is 404 to a reviewer; the table shows only the reviewer's; the edit form is 403."""
    ids = generate(app, world)
    with app.app_context():
        db.session.get(QuarterlyTask, ids[(1, "dispatch")]).owner_id = world.ids["reviewer1"]
        db.session.commit()
    reviewer = console("reviewer1")
    page = reviewer.get("/console/quarterly").get_data(as_text=True)
    assert page.count("data-task=") == 1 and "仅显示由您负责的任务" in page
    assert reviewer.get(f"/console/quarterly/tasks/{ids[(1, 'supervision')]}").status_code == 404
    token = csrf(reviewer)
    assert (
        reviewer.post(f"/console/quarterly/tasks/{ids[(1, 'dispatch')]}", data={"csrf_token": token}).status_code == 403
    )
    assert console("reviewer2").get("/console/quarterly").get_data(as_text=True).count("data-task=") == 0


# ---- the dashboard tile -----------------------------------------------------------------------------


def test_tile_without_a_schedule_invites_to_generate(console):
    """Before the year is generated the tile says so and links to the schedule."""
    page = console("admin").get("/console/dashboard").get_data(as_text=True)
    assert 'id="quarterly-tile"' in page and 'id="quarterly-not-generated"' in page


def test_tile_shows_this_quarter_and_what_is_overdue_with_links(app, console, world):
    """This quarter's three tasks with their state, earlier quarters' overdue ones, each linked to its page."""
    ids = generate(app, world)
    today = clock.today()
    q = quarterly.quarter_of(today)
    with app.app_context():
        # This quarter: dispatch done, supervision overdue since yesterday, bulletin still ahead.
        admin = db.session.get(User, world.ids["admin"])
        quarterly.complete_task(db.session, admin, ids[(q, "dispatch")], {"note": "调度会"})
        db.session.get(QuarterlyTask, ids[(q, "supervision")]).due_date = today - timedelta(days=1)
        db.session.get(QuarterlyTask, ids[(q, "bulletin")]).due_date = today + timedelta(days=5)
        db.session.commit()
        earlier = [tid for (tq, _), tid in ids.items() if tq < q]
        # Every earlier task done but one.
        for tid in earlier[1:]:
            quarterly.complete_task(db.session, admin, tid, {"note": "已完成"})
    page = console("admin").get("/console/dashboard").get_data(as_text=True)
    tile = page[page.index('id="quarterly-tile"') : page.index("</div>", page.index('id="quarterly-tile"'))]
    assert f'data-task="{ids[(q, "dispatch")]}" data-state="done"' in tile
    assert f'data-task="{ids[(q, "supervision")]}" data-state="overdue"' in tile
    assert f'data-task="{ids[(q, "bulletin")]}" data-state="due"' in tile
    assert f'href="/console/quarterly/tasks/{ids[(q, "supervision")]}"' in tile
    if earlier:
        overdue = tile[tile.index('id="quarterly-overdue"') :]
        assert overdue.count("data-task=") == 1 and f'data-task="{earlier[0]}"' in overdue


def test_tile_of_a_reviewer_holds_only_own_tasks_and_notices(app, console, world):
    """A reviewer's tile lists only the tasks they own and the console notices addressed to them."""
    ids = generate(app, world)
    today = clock.today()
    q = quarterly.quarter_of(today)
    mine = ids[(q, "bulletin")]
    with app.app_context():
        db.session.execute(QuarterlyTask.__table__.update().values(done_at=datetime.now(UTC)))
        task = db.session.get(QuarterlyTask, mine)
        task.done_at, task.owner_id, task.due_date = None, world.ids["reviewer1"], today + timedelta(days=2)
        db.session.commit()
        assert quarterly.send_reminders(db.session) == {"sent": 1}
        assert db.session.scalar(select(QuarterlyReminder.user_id)) == world.ids["reviewer1"]
    page = console("reviewer1").get("/console/dashboard").get_data(as_text=True)
    tile = page[page.index('id="quarterly-tile"') :]
    assert tile.count("data-task=") == 1 and 'id="quarterly-notices"' in tile and "即将到期" in tile
    other = console("reviewer2").get("/console/dashboard").get_data(as_text=True)
    assert "data-task=" not in other and 'id="quarterly-notices"' not in other


def test_a_reassigned_task_takes_its_notice_away_from_the_old_owner(app, console, world):
    """The console notice belongs to the task's owner: given to someone else, it leaves the old owner's tile."""
    ids = generate(app, world)
    today = clock.today()
    tid = ids[(quarterly.quarter_of(today), "bulletin")]
    with app.app_context():
        db.session.execute(QuarterlyTask.__table__.update().values(done_at=datetime.now(UTC)))
        task = db.session.get(QuarterlyTask, tid)
        task.done_at, task.owner_id, task.due_date = None, world.ids["leader"], today + timedelta(days=1)
        db.session.commit()
        quarterly.send_reminders(db.session)
        admin = db.session.get(User, world.ids["admin"])
        quarterly.update_task(db.session, admin, tid, {"owner_id": world.ids["admin"]})
    assert 'id="quarterly-notices"' not in console("leader").get("/console/dashboard").get_data(as_text=True)
    with app.app_context():
        assert quarterly.send_reminders(db.session) == {"sent": 1}
    assert 'id="quarterly-notices"' in console("admin").get("/console/dashboard").get_data(as_text=True)
