"""联系组工干部 as an account and the 1+1 蹲点 routine: linking, contacts and their scope, what is due at
week, month and quarter boundaries (China time), reminders once per item and period, the workload."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from server import clock
from server.db import db
from server.models import CadreReminder, LiaisonContact, Project, SubscribeCredit, User
from server.services import cadres, users
from tests.api.conftest import A, audit_count, error_of
from tests.factories import Api


@pytest.fixture
def app_settings(template_id) -> dict:
    """The reminders' subscribe template."""
    return {"WECHAT_REPORT_TEMPLATE_ID": template_id}


@pytest.fixture
def crew(app, world):
    """Cadres 胡颖 (p1, 永阳镇) and 刘亮 (p2, 桐坪镇), both projects running for over a year."""
    from server.auth import issue_token

    with app.app_context():
        s = db.session
        admin = s.get(User, world.ids["admin"])
        made = {}
        for username, name in (("huying", "胡颖"), ("liuliang", "刘亮")):
            user, _ = users.create_user(
                s, admin, {"username": username, "name": name, "roles": ["cadre"], "password": f"{username}-password"}
            )
            made[username] = user
        for pid, who in ((world.p1, "huying"), (world.p2, "liuliang")):
            project = s.get(Project, pid)
            cadres.apply_liaison(s, project, {"liaison_cadre_id": made[who].id})
            project.started_at = datetime.now(UTC) - timedelta(days=400)
        s.commit()
        return {k: (u.id, issue_token(u)) for k, u in made.items()}


def as_(client, crew, who: str) -> Api:
    """The API as one of the crew's cadres."""
    return Api(client, crew[who][1])


def log(app, pid: int, cadre_id: int, kind: str, day: date) -> None:
    """A contact logged through the service by the project's cadre."""
    with app.app_context():
        cadre = db.session.get(User, cadre_id)
        cadres.log_contact(db.session, cadre, pid, {"kind": kind, "contact_on": day.isoformat(), "summary": "联络"})


def states(app, pid: int, today: date) -> dict[str, str]:
    """kind -> state of the project's routine on `today`."""
    with app.app_context():
        project = db.session.get(Project, pid)
        return {i.kind: i.state for i in cadres.routine(db.session, [project], today)[pid]}


# ---- periods ----------------------------------------------------------------------------------------


def test_periods_follow_iso_weeks_months_and_quarters():
    """A week runs Monday to Sunday and belongs to its ISO year; months and quarters are the calendar's."""
    assert cadres.period_of("phone", date(2026, 12, 31)).key == "2026-W53"
    assert cadres.period_of("phone", date(2027, 1, 3)) == cadres.Period(
        "2026-W53", date(2026, 12, 28), date(2027, 1, 3)
    )
    assert cadres.period_of("phone", date(2027, 1, 4)).key == "2027-W01"
    assert cadres.period_of("visit", date(2028, 2, 29)) == cadres.Period("2028-02", date(2028, 2, 1), date(2028, 2, 29))
    assert cadres.period_of("report", date(2026, 3, 31)) == cadres.Period("2026Q1", date(2026, 1, 1), date(2026, 3, 31))
    assert cadres.period_of("report", date(2026, 4, 1)).key == "2026Q2"


def test_phone_call_done_then_due_then_overdue_across_week_boundaries(app, crew, world):
    """A call on Sunday: done that day; due on Monday (last week had one); overdue the Monday after."""
    today = clock.today()
    sunday = today - timedelta(days=today.weekday() + 8)  # the Sunday before last
    log(app, world.p1, crew["huying"][0], "phone", sunday)
    assert states(app, world.p1, sunday)["phone"] == "done"
    assert states(app, world.p1, sunday + timedelta(days=1))["phone"] == "due"
    assert states(app, world.p1, sunday + timedelta(days=7))["phone"] == "due"  # that week's Sunday: still due
    assert states(app, world.p1, sunday + timedelta(days=8))["phone"] == "overdue"


def test_visit_month_boundary(app, crew, world):
    """A visit on the month's last day counts for that month; the next month it is due, the one after overdue."""
    last = clock.today().replace(day=1) - timedelta(days=1)
    log(app, world.p1, crew["huying"][0], "visit", last)
    assert states(app, world.p1, last)["visit"] == "done"
    assert states(app, world.p1, last + timedelta(days=1))["visit"] == "due"
    assert states(app, world.p1, clock.add_months(last + timedelta(days=1), 1))["visit"] == "overdue"


def test_report_quarter_boundary(app, crew, world):
    """A report on a quarter's last day: done then; due through the next quarter; overdue the quarter after."""
    start = cadres.period_of("report", clock.today()).starts
    last = start - timedelta(days=1)
    log(app, world.p1, crew["huying"][0], "report", last)
    assert states(app, world.p1, last)["report"] == "done"
    assert states(app, world.p1, start)["report"] == "due"
    assert states(app, world.p1, clock.add_months(start, 3) - timedelta(days=1))["report"] == "due"
    assert states(app, world.p1, clock.add_months(start, 3))["report"] == "overdue"


def test_nothing_is_overdue_before_the_project_started(app, crew, world):
    """A project started this week owes nothing for last week, last month or last quarter."""
    with app.app_context():
        db.session.get(Project, world.p1).started_at = datetime.now(UTC)
        db.session.commit()
    assert states(app, world.p1, clock.today()) == {"phone": "due", "visit": "due", "report": "due"}
    assert set(states(app, world.p2, clock.today()).values()) == {"overdue"}


def test_contact_without_a_date_is_todays(app, crew, world):
    """A call logged through the API without a date is on today's China day and makes this week's call done."""
    r = as_(app.test_client(), crew, "huying").post(
        f"/api/v1/projects/{world.p1}/contacts", {"kind": "phone", "summary": "电话了解进度"}
    )
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["contact_on"] == clock.today().isoformat()
    assert states(app, world.p1, clock.today())["phone"] == "done"


# ---- linking the liaison to an account --------------------------------------------------------------


def test_admin_links_the_liaison_and_the_public_page_shows_the_name_only(app, client, world, crew):
    """PATCH liaison_cadre_id: responsible shows the account's name; the public record no username or id."""
    admin = Api(client, world.tokens["admin"])
    r = admin.patch(f"{A}/projects/{world.p3}", {"liaison_cadre_id": crew["liuliang"][0]})
    assert r.status_code == 200, r.get_json()
    assert (r.get_json()["liaison_cadre_id"], r.get_json()["responsible"]["联系组工干部"]) == (
        crew["liuliang"][0],
        "刘亮",
    )
    record = Api(client).get(f"/api/v1/public/projects/{world.p3}")
    assert record.get_json()["responsible"]["联系组工干部"] == "刘亮"
    assert "liuliang" not in record.get_data(as_text=True)
    assert "liaison_cadre_id" not in record.get_json()


def test_a_secretary_cannot_be_liaison_cadre(client, world):
    """Only staff accounts (admin, leader, reviewer, cadre) may be linked."""
    r = Api(client, world.tokens["admin"]).patch(
        f"{A}/projects/{world.p1}", {"liaison_cadre_id": world.ids["secretary"]}
    )
    assert r.status_code == 400 and error_of(r)["details"]["field"] == "liaison_cadre_id"


def test_editing_other_fields_keeps_unlinked_free_text(app, client, world):
    """A project form that sends the other responsible people keeps the liaison's free text until linked."""
    with app.app_context():
        db.session.get(Project, world.p1).responsible = {"联系组工干部": "县委组织部 吴兰"}
        db.session.commit()
    r = Api(client, world.tokens["admin"]).patch(f"{A}/projects/{world.p1}", {"responsible": {"主管领导": "刘强"}})
    assert r.get_json()["responsible"] == {"主管领导": "刘强", "联系组工干部": "县委组织部 吴兰"}
    with app.app_context():
        assert [p.id for p in cadres.unlinked_projects(db.session)] == [world.p1]


def test_link_by_name_links_only_unambiguous_text(app, world, crew):
    """ "县委组织部 胡颖" names one account and is linked; "王芳" names two and stays for the admin."""
    with app.app_context():
        s = db.session
        admin = s.get(User, world.ids["admin"])
        for username in ("wangfang1", "wangfang2"):
            users.create_user(
                s, admin, {"username": username, "name": "王芳", "roles": ["reviewer"], "password": "x" * 12}
            )
        p1, p3 = s.get(Project, world.p1), s.get(Project, world.p3)
        p1.liaison_cadre_id, p1.responsible = None, {"联系组工干部": "县委组织部 胡颖"}
        p3.responsible = {"联系组工干部": "王芳"}
        s.commit()
        before = audit_count(app)
        assert cadres.link_by_name(s, admin) == 1
        assert s.get(Project, world.p1).liaison_cadre_id == crew["huying"][0]
        assert [p.id for p in cadres.unlinked_projects(s)] == [world.p3]
    assert audit_count(app) == before + 1


# ---- contacts and their scope ----------------------------------------------------------------------


def test_cadre_sees_only_their_projects_contacts(app, client, world, crew):
    """胡颖 reads and logs p1's contacts; p2 (刘亮's) is 404 to her for both, and nothing is written."""
    hu = as_(client, crew, "huying")
    assert hu.post(f"/api/v1/projects/{world.p1}/contacts", {"kind": "visit", "summary": "到村调研"}).status_code == 201
    log(app, world.p2, crew["liuliang"][0], "phone", clock.today())
    assert [c["kind"] for c in hu.get(f"/api/v1/projects/{world.p1}/contacts").get_json()["items"]] == ["visit"]
    before = audit_count(app)
    assert hu.get(f"/api/v1/projects/{world.p2}/contacts").status_code == 404
    assert hu.post(f"/api/v1/projects/{world.p2}/contacts", {"kind": "phone", "summary": "x"}).status_code == 404
    assert audit_count(app) == before
    mine = hu.get("/api/v1/liaison/projects").get_json()["items"]
    assert [p["id"] for p in mine] == [world.p1]
    assert {i["kind"]: i["state"] for i in mine[0]["routine"]}["visit"] == "done"


def test_township_reviewer_reads_only_their_townships_contacts(app, client, world, crew):
    """reviewer1 (永阳镇) reads p1's contacts but gets 404 for p2 in 桐坪镇; a secretary 403."""
    log(app, world.p1, crew["huying"][0], "phone", clock.today())
    log(app, world.p2, crew["liuliang"][0], "phone", clock.today())
    reviewer = Api(client, world.tokens["reviewer1"])
    assert len(reviewer.get(f"/api/v1/projects/{world.p1}/contacts").get_json()["items"]) == 1
    assert reviewer.get(f"/api/v1/projects/{world.p2}/contacts").status_code == 404
    assert Api(client, world.tokens["secretary"]).get(f"/api/v1/projects/{world.p1}/contacts").status_code == 403
    assert Api(client, world.tokens["leader"]).get(f"/api/v1/projects/{world.p2}/contacts").status_code == 200


def test_contact_in_the_future_or_without_summary_is_refused(client, world, crew):
    """The day cannot be after today; a summary is required."""
    hu = as_(client, crew, "huying")
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    r = hu.post(f"/api/v1/projects/{world.p1}/contacts", {"kind": "phone", "summary": "x", "contact_on": tomorrow})
    assert r.status_code == 400 and error_of(r)["details"]["field"] == "contact_on"
    r = hu.post(f"/api/v1/projects/{world.p1}/contacts", {"kind": "phone", "summary": "   "})
    assert r.status_code == 400 and error_of(r)["details"]["field"] == "summary"


def test_workload_counts_contacts_and_overdue_items(app, client, world, crew):
    """Leaders see each cadre: projects, contacts this month and quarter, overdue routine items."""
    today = clock.today()
    log(app, world.p1, crew["huying"][0], "phone", today)
    log(app, world.p1, crew["huying"][0], "visit", today)
    log(app, world.p1, crew["huying"][0], "report", today)
    rows = Api(client, world.tokens["leader"]).get("/api/v1/cadres/workload").get_json()["items"]
    by_name = {r["cadre"]["name"]: r for r in rows}
    assert (by_name["胡颖"]["contacts_month"], by_name["胡颖"]["contacts_quarter"], by_name["胡颖"]["overdue"]) == (
        3,
        3,
        0,
    )
    assert (by_name["刘亮"]["contacts_month"], by_name["刘亮"]["overdue"]) == (0, 3)
    assert Api(client, world.tokens["reviewer1"]).get("/api/v1/cadres/workload").status_code == 403
    assert as_(client, crew, "huying").get("/api/v1/cadres/workload").status_code == 403


# ---- reminders ------------------------------------------------------------------------------------


@pytest.mark.both_databases
def test_reminders_once_per_item_and_period(app, world, crew):
    """Three overdue items of 刘亮's project: three console notices; a rerun sends nothing; rows are unique."""
    today = clock.today()
    log(app, world.p1, crew["huying"][0], "phone", today)
    log(app, world.p1, crew["huying"][0], "visit", today)
    log(app, world.p1, crew["huying"][0], "report", today)
    with app.app_context():
        s = db.session
        assert cadres.send_reminders(s, today) == {"notice": 3}
        assert cadres.send_reminders(s, today) == {}
        rows = s.scalars(select(CadreReminder).order_by(CadreReminder.kind)).all()
        assert [(r.project_id, r.kind, r.state, r.cadre_id) for r in rows] == [
            (world.p2, kind, "overdue", crew["liuliang"][0]) for kind in ("phone", "report", "visit")
        ]
        # Next week's phone call is a new item: one more reminder, and only one.
        next_week = today + timedelta(days=7)
        assert cadres.send_reminders(s, next_week).get("notice") >= 1
        assert cadres.send_reminders(s, next_week) == {}
        keys = s.execute(select(CadreReminder.project_id, CadreReminder.kind, CadreReminder.period)).all()
        assert len(keys) == len(set(keys))
        notices = cadres.notices(s, s.get(User, crew["liuliang"][0]), today)
        assert {n.kind for n, _ in notices} == {"phone", "visit", "report"}


@pytest.mark.both_databases
def test_a_second_reminder_row_of_the_same_period_is_refused_by_the_database(app, world, crew):
    """The unique key (project, kind, period) holds even if two runs raced past the lookup."""
    from sqlalchemy.exc import IntegrityError

    with app.app_context():
        s = db.session
        row = dict(project_id=world.p2, kind="phone", period="2026-W49", state="due", cadre_id=crew["liuliang"][0])
        s.add(CadreReminder(**row, outcome="notice"))
        s.commit()
        s.add(CadreReminder(**row, outcome="pending"))
        with pytest.raises(IntegrityError):
            s.commit()
        s.rollback()
        assert s.scalar(select(func.count()).select_from(CadreReminder)) == 1


def test_reminder_reaches_a_cadre_bound_to_wechat_once(app, world, crew, fake_wechat, template_id):
    """刘亮 bound to WeChat with consents: one subscribe message per item, none on a rerun."""
    openid = f"openid-cadre-{uuid.uuid4().hex[:8]}"
    with app.app_context():
        s = db.session
        s.get(User, crew["liuliang"][0]).openid = openid
        s.add(SubscribeCredit(user_id=crew["liuliang"][0], template=cadres.TEMPLATE, credits=5))
        s.get(Project, world.p1).status = "accepted"  # 胡颖's project: no routine
        s.commit()
        for _ in range(3):
            fake_wechat.consent(openid, template_id)
        assert cadres.send_reminders(s) == {"sent": 3}
        assert cadres.send_reminders(s) == {}
        assert s.get(SubscribeCredit, (crew["liuliang"][0], cadres.TEMPLATE)).credits == 2
    sent = [m for m in fake_wechat.sent_messages if m["template_id"] == template_id]
    assert len(sent) == 3 and {m["touser"] for m in sent} == {openid}
    assert any("每周电话联络已逾期" in m["data"]["thing3"]["value"] for m in sent)


def test_due_item_is_reminded_only_near_the_end_of_its_period(app, world, crew):
    """A due phone call is not reminded on Monday, but is on Friday (two days left)."""
    today = clock.today()
    monday = today - timedelta(days=today.weekday())
    with app.app_context():
        s = db.session
        s.get(Project, world.p2).status = "accepted"
        p1 = s.get(Project, world.p1)
        p1.started_at = datetime.now(UTC) - timedelta(days=3)  # nothing owed for earlier periods
        s.commit()
        items = {i.kind: i for i in cadres.routine(s, [p1], monday)[world.p1]}
        assert not cadres.wanted(items["phone"], monday)
        assert cadres.wanted(items["phone"], monday + timedelta(days=4))
        assert s.scalar(select(func.count()).select_from(LiaisonContact)) == 0
