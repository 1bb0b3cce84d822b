"""The quarterly cycle (每季度调度一次、实地督导一次、反馈通报一次): generation, edits, completion, overdue, reminders."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from pymysql.err import OperationalError as MySQLError
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from server import clock
from server.db import db
from server.models import AuditEntry, InspectionRound, QuarterlyReminder, QuarterlyTask, User
from server.services import quarterly
from tests.api.test_reports import _openid, running_project
from tests.factories import Api, build_lifecycle

Q = "/api/v1/quarterly"


@pytest.fixture
def app_settings(template_id) -> dict:
    """The reminders' subscribe template."""
    return {"WECHAT_REPORT_TEMPLATE_ID": template_id}


def api(client, world, who: str) -> Api:
    """The API as one of the world's users."""
    return Api(client, world.tokens[who])


def this_year() -> int:
    """The current year in China."""
    return clock.today().year


def generated(client, world) -> dict[tuple[int, str], dict]:
    """Generate this year's schedule as the admin; the tasks by (quarter, kind)."""
    r = api(client, world, "admin").post(f"{Q}/generate", {"year": this_year()})
    assert r.status_code == 200, r.get_json()
    return {(t["quarter"], t["kind"]): t for t in r.get_json()["items"]}


def add_round(world, status: str, drawn: date, closed: date | None = None) -> int:
    """An inspection round row drawn (and closed) on the given China days."""
    noon = lambda d: datetime(d.year, d.month, d.day, 4, tzinfo=UTC)  # noqa: E731 - 12:00 China time
    r = InspectionRound(
        name=f"{drawn.isoformat()} 双随机抽查",
        status=status,
        groups=1,
        sites_per_group=1,
        items_per_visit=1,
        drawn_at=noon(drawn),
        closed_at=noon(closed) if closed else None,
        created_by_id=world.ids["admin"],
    )
    db.session.add(r)
    db.session.commit()
    return r.id


# ---- quarters and default days (pure) ----------------------------------------------------------


def test_default_due_days_follow_the_quarter():
    """调度 on the 20th of the quarter's first month, 督导 on the 25th of its second, 通报 on its last day."""
    assert quarterly.default_due(2026, 1, "dispatch") == date(2026, 1, 20)
    assert quarterly.default_due(2026, 1, "supervision") == date(2026, 2, 25)
    assert quarterly.default_due(2026, 1, "bulletin") == date(2026, 3, 31)
    assert quarterly.default_due(2026, 2, "bulletin") == date(2026, 6, 30)
    assert quarterly.default_due(2026, 4, "dispatch") == date(2026, 10, 20)
    assert quarterly.default_due(2026, 4, "bulletin") == date(2026, 12, 31)
    assert [quarterly.quarter_of(date(2026, m, 1)) for m in (1, 3, 4, 6, 7, 10, 12)] == [1, 1, 2, 2, 3, 4, 4]


# ---- generating the year -----------------------------------------------------------------------


def test_generating_the_year_makes_twelve_tasks_with_default_days(app, client, world):
    """One action: four quarters × 调度/实地督导/反馈通报, each due on its default day, open and audited."""
    tasks = generated(client, world)
    year = this_year()
    assert len(tasks) == 12
    for (q, kind), t in tasks.items():
        assert t["due_date"] == quarterly.default_due(year, q, kind).isoformat()
        assert t["done_at"] is None and t["owner_id"] is None
    assert tasks[(2, "dispatch")]["label"] == f"{year} 年第二季度调度"
    with app.app_context():
        [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "quarterly.generate")).all()
        assert entry.data == {"created": 12} and entry.object_id == str(year)


def test_a_second_click_duplicates_nothing(app, client, world):
    """Generating the same year again creates no task and writes no audit entry; an edited day is kept."""
    tasks = generated(client, world)
    admin = api(client, world, "admin")
    first = quarterly.quarter_bounds(this_year(), 1)[0]
    assert admin.patch(f"{Q}/tasks/{tasks[(1, 'dispatch')]['id']}", {"due_date": first.isoformat()}).status_code == 200
    again = admin.post(f"{Q}/generate", {"year": this_year()}).get_json()
    assert again["created"] == 0 and len(again["items"]) == 12
    with app.app_context():
        assert db.session.scalar(select(func.count(QuarterlyTask.id))) == 12
        assert (
            db.session.scalar(
                select(QuarterlyTask.due_date).where(QuarterlyTask.quarter == 1, QuarterlyTask.kind == "dispatch")
            )
            == first
        )
        assert db.session.scalar(select(func.count()).where(AuditEntry.action == "quarterly.generate")) == 1


@pytest.mark.both_databases
def test_simultaneous_generation_creates_each_task_once(app, world):
    """Six admins' clicks at once: twelve tasks, one generation in the audit log, nobody sees an error."""
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []
    created: list[int] = []

    def one() -> None:
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                admin = db.session.get(User, world.ids["admin"])
                created.append(quarterly.generate_year(db.session, admin, this_year())[1])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(created) == [0, 0, 0, 0, 0, 12]
    with app.app_context():
        rows = db.session.execute(select(QuarterlyTask.quarter, QuarterlyTask.kind)).all()
        assert len(rows) == 12 and len(set(rows)) == 12
        assert db.session.scalar(select(func.count()).where(AuditEntry.action == "quarterly.generate")) == 1


@pytest.mark.both_databases
def test_a_deadlock_victim_reads_the_year_again(app, world, monkeypatch):
    """MariaDB may pick one of several simultaneous generations as a deadlock victim (1213, seen on CI):
    that run rolls back and reads the year again instead of showing the admin an error."""
    refused: list[int] = []

    with app.app_context():
        session = db.session
        real_flush = session.flush

        def flush_refused_once(*args, **kwargs):
            if not refused and any(isinstance(o, QuarterlyTask) for o in session.new):
                refused.append(1)
                raise OperationalError("INSERT INTO quarterly_tasks", {}, MySQLError(1213, "Deadlock found"))
            return real_flush(*args, **kwargs)

        monkeypatch.setattr(session, "flush", flush_refused_once)
        admin = db.session.get(User, world.ids["admin"])
        items, created = quarterly.generate_year(db.session, admin, this_year())
        assert refused and created == 12 and len(items) == 12
        monkeypatch.undo()
        assert db.session.scalar(select(func.count(QuarterlyTask.id))) == 12
        assert db.session.scalar(select(func.count()).where(AuditEntry.action == "quarterly.generate")) == 1


def test_an_unreachable_database_is_no_race(app, world, monkeypatch):
    """Only a deadlock or lock-wait timeout is run again; a lost connection is reported at once."""
    calls: list[int] = []

    with app.app_context():
        session = db.session
        real_flush = session.flush

        def flush_lost(*args, **kwargs):
            if any(isinstance(o, QuarterlyTask) for o in session.new):
                calls.append(1)
                raise OperationalError("INSERT INTO quarterly_tasks", {}, MySQLError(2013, "Lost connection"))
            return real_flush(*args, **kwargs)

        monkeypatch.setattr(session, "flush", flush_lost)
        admin = db.session.get(User, world.ids["admin"])
        with pytest.raises(OperationalError):
            quarterly.generate_year(db.session, admin, this_year())
        assert len(calls) == 1
        monkeypatch.undo()
        assert db.session.scalar(select(func.count(QuarterlyTask.id))) == 0


def test_only_admins_plan_the_year(client, world):
    """Leaders and reviewers may not generate or edit; non-staff may not even read."""
    tasks = generated(client, world)
    tid = tasks[(1, "dispatch")]["id"]
    for who in ("leader", "reviewer1"):
        assert api(client, world, who).post(f"{Q}/generate", {"year": this_year()}).status_code == 403
        assert api(client, world, who).patch(f"{Q}/tasks/{tid}", {"notes": "x"}).status_code in (403, 404)
    for who in ("secretary", "insp_a", "villager"):
        assert api(client, world, who).get(Q).status_code == 403
    assert api(client, world, "admin").post(f"{Q}/generate", {"year": this_year() + 3}).status_code == 400


# ---- editing and completing ----------------------------------------------------------------------


def test_admin_edits_due_day_owner_and_plan_with_an_audit_entry(app, client, world):
    """A new due day inside the quarter, a staff owner and the plan are kept and audited; bad values are 400."""
    tasks = generated(client, world)
    admin = api(client, world, "admin")
    t = tasks[(3, "dispatch")]
    day = date(this_year(), 7, 15).isoformat()
    r = admin.patch(
        f"{Q}/tasks/{t['id']}", {"due_date": day, "owner_id": world.ids["leader"], "notes": "县委党校三楼会议室"}
    )
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["due_date"], r.get_json()["owner_id"]) == (day, world.ids["leader"])
    assert admin.patch(f"{Q}/tasks/{t['id']}", {"due_date": f"{this_year()}-12-01"}).status_code == 400
    assert admin.patch(f"{Q}/tasks/{t['id']}", {"owner_id": world.ids["secretary"]}).status_code == 400
    with app.app_context():
        [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "quarterly.update")).all()
        assert entry.data["due_date"][1] == day and entry.data["owner_id"] == [None, world.ids["leader"]]


def test_marking_done_records_who_when_and_evidence(app, client, world):
    """Done needs evidence; it keeps the person, the time and the round; a second time is 409."""
    tasks = generated(client, world)
    admin = api(client, world, "admin")
    with app.app_context():
        rid = add_round(world, "drawn", quarterly.default_due(this_year(), 1, "supervision"))
    tid = tasks[(1, "supervision")]["id"]
    assert admin.post(f"{Q}/tasks/{tid}/done", {}).status_code == 400
    r = admin.post(f"{Q}/tasks/{tid}/done", {"round_id": rid, "note": "三个工作组深入 19 个乡镇 38 个行政村"})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["state"] == "done" and body["done_by_id"] == world.ids["admin"] and body["round_id"] == rid
    assert body["done_at"] is not None
    assert admin.post(f"{Q}/tasks/{tid}/done", {"note": "again"}).status_code == 409
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "quarterly.complete")).one()
        assert entry.data["round_id"] == rid and entry.object_id == str(tid)


def test_evidence_round_must_be_of_the_quarter_and_closed_for_a_bulletin(app, client, world):
    """A round of another quarter is refused; a bulletin links only a closed round (its notice exists)."""
    tasks = generated(client, world)
    admin = api(client, world, "admin")
    year = this_year()
    with app.app_context():
        q2_drawn = add_round(world, "drawn", date(year, 5, 10))
        q2_closed = add_round(world, "closed", date(year, 5, 10), date(year, 6, 20))
    assert admin.post(f"{Q}/tasks/{tasks[(1, 'supervision')]['id']}/done", {"round_id": q2_drawn}).status_code == 400
    bulletin = tasks[(2, "bulletin")]["id"]
    assert admin.post(f"{Q}/tasks/{bulletin}/done", {"round_id": q2_drawn}).status_code == 400
    r = admin.post(
        f"{Q}/tasks/{bulletin}/done", {"round_id": q2_closed, "document": "关于第二季度书记项目督查情况的通报"}
    )
    assert r.status_code == 200 and r.get_json()["evidence_document"].startswith("关于")


def test_reopen_undoes_a_completion_and_keeps_the_record(app, client, world):
    """An admin reopens a task marked by mistake; the audit log keeps who had marked it."""
    tasks = generated(client, world)
    admin = api(client, world, "admin")
    tid = tasks[(1, "dispatch")]["id"]
    admin.post(f"{Q}/tasks/{tid}/done", {"note": "调度会"})
    r = admin.post(f"{Q}/tasks/{tid}/reopen")
    assert r.status_code == 200 and r.get_json()["done_at"] is None and r.get_json()["evidence_note"] == ""
    assert admin.post(f"{Q}/tasks/{tid}/reopen").status_code == 409
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "quarterly.reopen")).one()
        assert entry.data["done_by_id"] == world.ids["admin"]


def test_a_reviewer_sees_and_completes_only_own_tasks(client, world):
    """A township reviewer sees only the tasks they own (not when the county supervises), and may mark them done."""
    tasks = generated(client, world)
    admin = api(client, world, "admin")
    mine, other = tasks[(1, "dispatch")]["id"], tasks[(1, "supervision")]["id"]
    admin.patch(f"{Q}/tasks/{mine}", {"owner_id": world.ids["reviewer1"]})
    reviewer = api(client, world, "reviewer1")
    assert [t["id"] for t in reviewer.get(f"{Q}?year={this_year()}").get_json()["items"]] == [mine]
    assert reviewer.get(f"{Q}/tasks/{other}").status_code == 404
    assert reviewer.post(f"{Q}/tasks/{other}/done", {"note": "x"}).status_code == 404
    assert reviewer.patch(f"{Q}/tasks/{mine}", {"notes": "x"}).status_code == 403
    assert reviewer.post(f"{Q}/tasks/{mine}/done", {"note": "永阳镇调度会已召开"}).status_code == 200
    assert api(client, world, "reviewer2").get(f"{Q}?year={this_year()}").get_json()["items"] == []
    assert len(api(client, world, "leader").get(f"{Q}?year={this_year()}").get_json()["items"]) == 12


# ---- overdue at the day boundary (China time) ------------------------------------------------------


def at_utc(monkeypatch, moment: datetime) -> None:
    """Make the service's clock read `moment` (aware)."""
    monkeypatch.setattr(clock, "now", lambda: moment.astimezone(clock.CHINA))


def test_overdue_begins_at_midnight_china_time(app, client, world, monkeypatch):
    """Due 31 March: still open at 23:59 China time (15:59 UTC), overdue at 00:00 on 1 April (16:00 UTC)."""
    year = this_year()
    tasks = generated(client, world)
    tid = tasks[(1, "bulletin")]["id"]
    admin = api(client, world, "admin")
    at_utc(monkeypatch, datetime(year, 3, 31, 15, 59, tzinfo=UTC))
    assert admin.get(f"{Q}/tasks/{tid}").get_json()["state"] == "due"
    with app.app_context():
        user = db.session.get(User, world.ids["admin"])
        assert [t.id for t in quarterly.tile(db.session, user).overdue] == [
            tasks[(1, "dispatch")]["id"],
            tasks[(1, "supervision")]["id"],
        ]
    at_utc(monkeypatch, datetime(year, 3, 31, 16, 0, tzinfo=UTC))
    assert admin.get(f"{Q}/tasks/{tid}").get_json()["state"] == "overdue"
    with app.app_context():
        tile = quarterly.tile(db.session, db.session.get(User, world.ids["admin"]))
        assert tid in [t.id for t in tile.overdue] and tile.quarter == 2


# ---- reminders -------------------------------------------------------------------------------------


@pytest.fixture
def dispatch_world(app, client, world, fake_wechat, template_id):
    """The year generated, Q-of-today's dispatch owned by the leader and due in 3 days; a running project whose
    secretary consented to one subscribe message."""
    with app.app_context():
        build_lifecycle(world)
    tasks = generated(client, world)
    today = clock.today()
    task = tasks[(quarterly.quarter_of(today), "dispatch")]
    with app.app_context():
        row = db.session.get(QuarterlyTask, task["id"])
        row.due_date, row.owner_id = today + timedelta(days=3), world.ids["leader"]
        # Every other task done, so only this one is reminded of.
        for other in db.session.scalars(select(QuarterlyTask).where(QuarterlyTask.id != task["id"])):
            other.done_at = datetime.now(UTC)
        db.session.commit()
    running_project(client, world)
    openid = _openid(app, world.ids["secretary"])
    fake_wechat.consent(openid, template_id)
    assert (
        api(client, world, "secretary")
        .post("/api/v1/me/subscriptions", {"template": "report_reminder", "accepted": 2})
        .status_code
        == 200
    )
    world.task_id, world.openid = task["id"], openid
    return world


def test_dispatch_due_soon_reminds_the_owner_and_the_secretaries_once(app, dispatch_world, fake_wechat, template_id):
    """Days before a 调度: a console notice to its owner and a subscribe message to each running project's
    secretary; the next runs send nothing more."""
    w = dispatch_world
    with app.app_context():
        assert quarterly.send_reminders(db.session) == {"sent": 2}
        assert quarterly.send_reminders(db.session) == {}
        rows = db.session.scalars(select(QuarterlyReminder).order_by(QuarterlyReminder.id)).all()
        assert [(r.user_id, r.channel, r.kind, r.outcome) for r in rows] == [
            (w.ids["leader"], "console", "due", "sent"),
            (w.ids["secretary"], "wechat", "due", "sent"),
        ]
    sent = [m for m in fake_wechat.sent_messages if m["template_id"] == template_id]
    assert len(sent) == 1 and sent[0]["touser"] == w.openid and "调度" in sent[0]["data"]["thing1"]["value"]


def test_overdue_task_reminds_its_owner_once_and_not_the_secretaries(app, dispatch_world, fake_wechat, template_id):
    """Past its day the owner gets one more notice (overdue); the secretaries are not told the department is late."""
    w = dispatch_world
    with app.app_context():
        quarterly.send_reminders(db.session)
        later = clock.today() + timedelta(days=4)
        assert quarterly.send_reminders(db.session, later) == {"sent": 1}
        assert quarterly.send_reminders(db.session, later) == {}
        kinds = db.session.execute(
            select(QuarterlyReminder.channel, QuarterlyReminder.kind).where(QuarterlyReminder.task_id == w.task_id)
        ).all()
        assert sorted(kinds) == [("console", "due"), ("console", "overdue"), ("wechat", "due")]
    assert len([m for m in fake_wechat.sent_messages if m["template_id"] == template_id]) == 1


def test_unsent_wechat_reminder_is_tried_again_but_a_sent_one_never(app, client, world, fake_wechat, template_id):
    """Without consent the secretary's reminder is recorded as no_consent and retried the next run."""
    with app.app_context():
        build_lifecycle(world)
    tasks = generated(client, world)
    today = clock.today()
    tid = tasks[(quarterly.quarter_of(today), "dispatch")]["id"]
    with app.app_context():
        db.session.execute(QuarterlyTask.__table__.update().values(done_at=datetime.now(UTC)))
        row = db.session.get(QuarterlyTask, tid)
        row.done_at, row.due_date, row.owner_id = None, today, world.ids["admin"]
        db.session.commit()
    running_project(client, world)
    openid = _openid(app, world.ids["secretary"])
    with app.app_context():
        assert quarterly.send_reminders(db.session) == {"sent": 1, "no_consent": 1}
    fake_wechat.consent(openid, template_id)
    api(client, world, "secretary").post("/api/v1/me/subscriptions", {"template": "report_reminder", "accepted": 1})
    with app.app_context():
        assert quarterly.send_reminders(db.session) == {"sent": 1}
        assert quarterly.send_reminders(db.session) == {}


def test_done_task_is_not_reminded(app, dispatch_world):
    """A task marked done before its reminder day is not reminded at all."""
    with app.app_context():
        db.session.get(QuarterlyTask, dispatch_world.task_id).done_at = datetime.now(UTC)
        db.session.commit()
        assert quarterly.send_reminders(db.session) == {}


def test_cli_sends_the_reminders_once(app, dispatch_world):
    """`flask remind-quarterly` prints what it sent; a second run finds nothing due."""
    runner = app.test_cli_runner()
    first = runner.invoke(args=["remind-quarterly", "--days", "7"])
    assert first.exit_code == 0 and "sent 2" in first.output, first.output
    assert "none due" in runner.invoke(args=["remind-quarterly"]).output


# ---- demo data -------------------------------------------------------------------------------------


def test_demo_data_shows_the_cycle_in_use(app):
    """demo-data generates this year: the tasks past their day are done with evidence but the latest, overdue."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["demo-data"]).exit_code == 0
    assert runner.invoke(args=["demo-data"]).exit_code == 0
    today = clock.today()
    with app.app_context():
        tasks = db.session.scalars(select(QuarterlyTask).order_by(QuarterlyTask.due_date)).all()
        assert len(tasks) == 12 and all(t.owner_id for t in tasks)
        past = [t for t in tasks if t.due_date < today]
        states = [t.state(today) for t in past]
        assert states == ["done"] * (len(past) - 1) + ["overdue"] * min(len(past), 1)
        assert all(t.evidence_note or t.evidence_document for t in past[:-1])
