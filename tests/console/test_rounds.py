"""Console pages of random inspection rounds: define, freeze, draw, close, secrecy, notice and workbook."""

from __future__ import annotations

import io
import re

from docx import Document
from openpyxl import load_workbook
from sqlalchemy import select

from server import clock
from server.auth import issue_token
from server.db import db
from server.models import Assignment, InspectionRound, User
from server.services import rectification, rounds
from tests.api.test_rounds import BANK, add_inspectors, draw_day, drawn_round, source, step
from tests.console.conftest import csrf
from tests.factories import Api, checkin_body, now_iso, start_visit, uid


def round_form(pool: list[int], **extra) -> dict:
    """The new-round form as a browser posts it."""
    return {
        "name": "第一轮双随机",
        "groups": "1",
        "sites_per_group": "2",
        "team_size": "2",
        "items_per_visit": "2",
        "check_items": "\n".join(BANK),
        "inspector_ids": [str(i) for i in pool],
        **extra,
    }


def test_rounds_are_in_the_staff_navigation(console):
    """Staff find the rounds page in the menu."""
    page = console("leader").get("/console/rounds")
    assert page.status_code == 200
    assert 'href="/console/rounds"' in page.get_data(as_text=True)


def freeze_form(days: int = 1) -> dict:
    """The freeze form's source fields for a lottery draw `days` after today."""
    s = source(days)
    return {"public_value_source": s["description"], "public_value_date": s["date"]}


def test_admin_runs_a_round_through_the_forms(app, console, world, monkeypatch):
    """Create, freeze (hash and source shown), draw on the source's day with a public value, close."""
    with app.app_context():
        pool = add_inspectors(world, ["insp_d", "insp_e"])
    admin = console("admin")
    token = csrf(admin)
    r = admin.post("/console/rounds", data={"csrf_token": token, **round_form(pool)})
    assert r.status_code == 302
    rid = int(re.search(r"/rounds/(\d+)", r.headers["Location"]).group(1))
    admin.post(f"/console/rounds/{rid}/freeze", data={"csrf_token": token, **freeze_form()})
    page = admin.get(f"/console/rounds/{rid}").get_data(as_text=True)
    with app.app_context():
        r_hash = rounds.get_round(db.session, rid).input_hash
    assert r_hash in page
    assert f"中国福利彩票双色球第2026141期开奖号码</strong>,{source()['date']} 公布" in page
    early = admin.post(f"/console/rounds/{rid}/draw", data={"csrf_token": token, "public_value": "2026088"})
    assert early.status_code == 409 and f"将于 {source()['date']} 公布" in early.get_data(as_text=True)
    monkeypatch.setattr(clock, "today", draw_day)
    admin.post(f"/console/rounds/{rid}/draw", data={"csrf_token": token, "public_value": "2026088"})
    page = admin.get(f"/console/rounds/{rid}").get_data(as_text=True)
    assert 'id="result"' in page and "2026088" in page
    admin.post(f"/console/rounds/{rid}/close", data={"csrf_token": token})
    with app.app_context():
        assert db.session.get(InspectionRound, rid).status == "closed"


def test_round_form_sets_the_evidence_policy(app, console, world):
    """The round form's minimum photos and interviews are stored (defaults 2 and 1 when left empty)."""
    with app.app_context():
        pool = add_inspectors(world, ["insp_d", "insp_e"])
    admin = console("admin")
    token = csrf(admin)
    made = []
    for extra in ({"min_photos": "4", "min_interviews": "2"}, {"min_photos": "", "min_interviews": ""}):
        r = admin.post("/console/rounds", data={"csrf_token": token, **round_form(pool, **extra)})
        assert r.status_code == 302
        made.append(int(re.search(r"/rounds/(\d+)", r.headers["Location"]).group(1)))
    with app.app_context():
        assert [
            (db.session.get(InspectionRound, i).min_photos, db.session.get(InspectionRound, i).min_interviews)
            for i in made
        ] == [(4, 2), (2, 1)]
    assert 'name="min_photos" min="0" max="50" value="4"' in admin.get(f"/console/rounds/{made[0]}").get_data(
        as_text=True
    )


def test_a_bad_form_shows_the_reason(app, console, world):
    """Too few inspectors for the teams is explained on the page at freeze, in Chinese."""
    with app.app_context():
        pool = add_inspectors(world, ["insp_d"])
        admin_user = db.session.get(User, world.ids["admin"])
        rid = rounds.create_round(
            db.session,
            admin_user,
            {
                "name": "人手不足",
                "groups": 1,
                "sites_per_group": 1,
                "team_size": 2,
                "items_per_visit": 1,
                "check_items": BANK,
                "inspector_ids": pool,
            },
        ).id
    admin = console("admin")
    r = admin.post(f"/console/rounds/{rid}/freeze", data={"csrf_token": csrf(admin), **freeze_form()})
    assert r.status_code == 422
    assert "督查人员库只有 1 人" in r.get_data(as_text=True)


def test_freeze_without_a_later_source_day_is_explained(app, console, world):
    """A source day of today is refused on the page, the typed source kept in the form; the round stays a draft."""
    with app.app_context():
        from tests.api.test_rounds import new_round

        rid = new_round(world)
    admin = console("admin")
    r = admin.post(f"/console/rounds/{rid}/freeze", data={"csrf_token": csrf(admin), **freeze_form(0)})
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "须晚于冻结当天" in page
    assert 'value="中国福利彩票双色球第2026141期开奖号码"' in page
    with app.app_context():
        assert db.session.get(InspectionRound, rid).status == "draft"


def test_reviewers_cannot_act_on_rounds(app, console, world):
    """Only admins freeze, draw and close."""
    with app.app_context():
        from tests.api.test_rounds import new_round

        rid = new_round(world)
    reviewer = console("reviewer1")
    assert reviewer.post(f"/console/rounds/{rid}/freeze", data={"csrf_token": csrf(reviewer)}).status_code == 403


def test_reviewers_do_not_see_where_teams_go_before_close(app, console, world):
    """Before close the result is hidden from reviewers; the drawn assignments stay off their list even when closed."""
    rid = drawn_round(app, world)
    with app.app_context():
        made = list(db.session.scalars(select(Assignment).where(Assignment.round_id == rid)))
        for a in made:
            a.status = "closed"
        db.session.commit()
        titles = {a.project.title for a in made}
    reviewer = console("reviewer1")
    page = reviewer.get(f"/console/rounds/{rid}").get_data(as_text=True)
    assert 'id="result"' not in page and not any(t in page for t in titles)
    listed = reviewer.get("/console/assignments").get_data(as_text=True)
    assert "抽签" not in listed
    step(app, world, rid, "close")
    assert 'id="result"' in reviewer.get(f"/console/rounds/{rid}").get_data(as_text=True)


def test_assignments_list_marks_drawn_and_manual(app, console, world):
    """Drawn assignments carry the 抽签 badge; hand-made ones stay visibly manual."""
    drawn_round(app, world)
    page = console("admin").get("/console/assignments").get_data(as_text=True)
    assert "抽签" in page and "手工" in page


def _visit_with_failure(app, client, world, rid: int) -> int:
    """The first drawn site visited in-geofence with one failed item, submitted; returns the visit id."""
    with app.app_context():
        a = db.session.scalar(select(Assignment).where(Assignment.round_id == rid).order_by(Assignment.id))
        api, items = Api(client, issue_token(a.members[0])), list(a.check_items)
    place = next(i for i in api.get("/api/v1/assignments").get_json()["items"] if i["id"] == a.id)["place"]
    visit = start_visit(api, a.id)
    api.post(f"/api/v1/visits/{visit['id']}/checkins", checkin_body(place["lat"], place["lng"]))
    r = api.put(
        f"/api/v1/visits/{visit['id']}/checklist",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "items": [{"item": items[0], "result": "fail", "note": "未见公示"}, {"item": items[1], "result": "pass"}],
        },
    )
    assert r.status_code == 201, r.get_json()
    api.post(f"/api/v1/visits/{visit['id']}/submit", {"client_id": uid(), "sent_at": now_iso()})
    return visit["id"]


def test_notice_docx_reports_coverage_findings_orders_and_outstanding(app, client, console, world):
    """The 通报 names coverage by township, the failed item, the order and the unvisited site."""
    rid = drawn_round(app, world)
    visit_id = _visit_with_failure(app, client, world, rid)
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        order = rectification.issue(db.session, admin, visit_id=visit_id, items=["补设公示栏"])
        order_id = order.id
    step(app, world, rid, "close")
    r = console("leader").get(f"/console/rounds/{rid}/notice.docx")
    assert r.status_code == 200 and r.headers["Content-Disposition"].startswith("attachment")
    doc = Document(io.BytesIO(r.data))
    text = "\n".join(p.text for p in doc.paragraphs)
    cells = "\n".join(c.text for t in doc.tables for row in t.rows for c in row.cells)
    assert "一、覆盖情况" in text and "共抽取 2 个点位,已完成暗访 1 个" in text
    assert "永阳镇" in cells and "桐坪镇" in cells
    assert "未见公示" in cells
    assert f"#{order_id}" in cells
    assert "抽取后未完成暗访" in text and f"整改通知 #{order_id}" in text


def test_notice_waits_for_the_round_to_close(app, console, world):
    """Before close there is no notice yet: 409."""
    rid = drawn_round(app, world)
    assert console("admin").get(f"/console/rounds/{rid}/notice.docx").status_code == 409


def test_round_workbook_lists_every_drawn_site(app, console, world):
    """The XLSX holds one row per drawn site and the coverage sheet."""
    rid = drawn_round(app, world)
    step(app, world, rid, "close")
    r = console("admin").get(f"/console/rounds/{rid}/round.xlsx")
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.data))
    assert wb["抽取点位"].max_row == 3
    assert {row[0] for row in wb["覆盖情况"].iter_rows(min_row=2, values_only=True)} == {"永阳镇", "桐坪镇"}


def test_visits_synced_after_the_close_are_listed_as_late_in_the_notice(app, client, console, world):
    """Visits started before the round closed and submitted after it are 补传 in the notice and the
    workbook; one arriving after the notice was first issued says so."""
    rid = drawn_round(app, world)
    with app.app_context():
        drawn = db.session.scalars(select(Assignment).where(Assignment.round_id == rid).order_by(Assignment.id)).all()
        teams = [(a.id, Api(client, issue_token(a.members[0]))) for a in drawn]
    visits = [start_visit(api, aid)["id"] for aid, api in teams]
    step(app, world, rid, "close")

    def submit(n: int) -> None:
        r = teams[n][1].post(f"/api/v1/visits/{visits[n]}/submit", {"client_id": uid(), "sent_at": now_iso()})
        assert r.status_code == 200 and r.get_json()["late_sync_s"] is not None, r.get_json()

    def notice() -> tuple[str, str]:
        doc = Document(io.BytesIO(console("admin").get(f"/console/rounds/{rid}/notice.docx").data))
        return (
            "\n".join(p.text for p in doc.paragraphs),
            "\n".join(c.text for t in doc.tables for row in t.rows for c in row.cells),
        )

    submit(0)
    text, cells = notice()
    assert "已完成暗访 1 个(50%),其中 1 个为轮次结束后补传" in text and "五、补传的暗访记录" in text
    assert "补传" in cells and "通报印发后补传" not in cells
    submit(1)
    text, cells = notice()
    assert "其中 2 个为轮次结束后补传" in text and cells.count("通报印发后补传") == 1
    wb = load_workbook(io.BytesIO(console("admin").get(f"/console/rounds/{rid}/round.xlsx").data))
    header = [c.value for c in next(wb["抽取点位"].iter_rows(max_row=1))]
    notes = {row[0]: row[header.index("补传")] for row in wb["抽取点位"].iter_rows(min_row=2, values_only=True)}
    assert sorted(notes.values()) == ["补传", "通报印发后补传"]
