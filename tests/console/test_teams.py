"""Console pages of standing teams (督查组) and declared conflicts (回避申报), and rounds that send teams."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook
from sqlalchemy import func, select

from server import clock
from server.db import db
from server.models import AuditEntry, ConflictDeclaration, InspectionTeam
from tests.api.test_rounds import BANK, add_inspectors, draw_day
from tests.api.test_teams import crew  # noqa: F401 - the fixture, shared with the API tests
from tests.console.conftest import csrf
from tests.console.test_rounds import freeze_form


def team_form(name: str, members: list[int], leader: int, official: int | str = "") -> dict:
    """The new-team form as a browser posts it."""
    return {
        "name": name,
        "member_ids": [str(i) for i in members],
        "leader_id": str(leader),
        "lead_official_id": str(official),
        "active": "1",
    }


def count(app, model) -> int:
    """Rows of a table."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_teams_and_conflicts_are_in_the_inspection_menu(console):
    """Admins find both pages under 督查; reviewers see the teams but not the conflicts."""
    page = console("admin").get("/console/teams").get_data(as_text=True)
    assert 'href="/console/teams"' in page and 'href="/console/conflicts"' in page
    reviewer = console("reviewer1")
    page = reviewer.get("/console/teams").get_data(as_text=True)
    assert 'href="/console/conflicts"' not in page and "新建督查组" not in page
    assert reviewer.get("/console/conflicts").status_code == 403


def test_admin_creates_and_edits_a_team_through_the_form(app, console, world, crew):  # noqa: F811
    """The form creates 第一督查组 with its 组长 and 带队领导; the edit form changes its members; both audited."""
    admin = console("admin")
    token = csrf(admin)
    r = admin.post(
        "/console/teams",
        data={
            "csrf_token": token,
            **team_form("第一督查组", [crew["zhang"], crew["li"]], crew["zhang"], world.ids["leader"]),
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    page = admin.get("/console/teams").get_data(as_text=True)
    assert "第一督查组" in page and "张伟" in page and "leader" in page
    with app.app_context():
        team_id = db.session.scalar(select(InspectionTeam.id))
    r = admin.post(
        f"/console/teams/{team_id}",
        data={"csrf_token": token, **team_form("第一督查组", [crew["zhang"], crew["wang"]], crew["wang"])},
    )
    assert r.status_code == 302
    with app.app_context():
        team = db.session.get(InspectionTeam, team_id)
        assert ([m.id for m in team.members], team.leader_id, team.lead_official_id) == (
            sorted([crew["zhang"], crew["wang"]]),
            crew["wang"],
            None,
        )
        actions = list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "team")))
    assert actions == ["team.create", "team.update"]


def test_bad_team_form_shows_the_reason(app, console, crew):  # noqa: F811
    """A 组长 outside the team is explained on the page, the typed name kept, nothing stored."""
    admin = console("admin")
    r = admin.post(
        "/console/teams",
        data={"csrf_token": csrf(admin), **team_form("第九督查组", [crew["zhang"], crew["li"]], crew["wang"])},
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and "组长须是本组成员" in page and 'value="第九督查组"' in page
    assert count(app, InspectionTeam) == 0


def test_team_form_needs_the_csrf_token(app, console, crew):  # noqa: F811
    """Posted without the session's token the form is refused."""
    r = console("admin").post(
        "/console/teams", data=team_form("第一督查组", [crew["zhang"], crew["li"]], crew["zhang"])
    )
    assert r.status_code == 400
    assert count(app, InspectionTeam) == 0


def test_admin_records_and_withdraws_a_conflict(app, console, world):
    """The conflicts form records 亲属 in 江南村 for an inspector; the list shows it; withdrawing keeps it in history."""
    admin = console("admin")
    token = csrf(admin)
    r = admin.post(
        "/console/conflicts",
        data={
            "csrf_token": token,
            "user_id": str(world.ids["insp_a"]),
            "kind": "relative",
            "place": f"village:{world.v1}",
            "note": "岳父母居住",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    page = admin.get("/console/conflicts").get_data(as_text=True)
    assert "村:永阳镇江南村" in page and "岳父母居住" in page and "亲属" in page
    leader_page = console("leader").get("/console/conflicts").get_data(as_text=True)
    assert "村:永阳镇江南村" in leader_page and "登记回避申报" not in leader_page
    with app.app_context():
        cid = db.session.scalar(select(ConflictDeclaration.id))
    assert admin.post(f"/console/conflicts/{cid}/withdraw", data={"csrf_token": token}).status_code == 302
    assert "村:永阳镇江南村" not in admin.get("/console/conflicts").get_data(as_text=True)
    assert "已撤回" in admin.get("/console/conflicts?all=1").get_data(as_text=True)
    bad = admin.post(
        "/console/conflicts",
        data={
            "csrf_token": token,
            "user_id": str(world.ids["insp_a"]),
            "kind": "other",
            "place": f"township:{world.t1}",
        },
    )
    assert bad.status_code == 400 and "请写明说明" in bad.get_data(as_text=True)


def test_round_of_teams_through_the_forms_shows_team_and_leader(app, console, world, crew, monkeypatch):  # noqa: F811
    """A round created with two teams draws one site per team; the result names each team and its 组长."""
    admin = console("admin")
    token = csrf(admin)
    for name, members, leader in (
        ("第一督查组", [crew["zhang"], crew["li"]], crew["zhang"]),
        ("第二督查组", [crew["wang"], crew["liu"]], crew["wang"]),
    ):
        admin.post("/console/teams", data={"csrf_token": token, **team_form(name, members, leader)})
    with app.app_context():
        team_ids = list(db.session.scalars(select(InspectionTeam.id).order_by(InspectionTeam.id)))
    r = admin.post(
        "/console/rounds",
        data={
            "csrf_token": token,
            "name": "按组抽查",
            "sites_per_group": "1",
            "items_per_visit": "2",
            "check_items": "\n".join(BANK),
            "team_ids": [str(i) for i in team_ids],
            "township_ids": [str(world.t1)],
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    rid = int(re.search(r"/rounds/(\d+)", r.headers["Location"]).group(1))
    page = admin.get(f"/console/rounds/{rid}").get_data(as_text=True)
    assert "派出督查组 2 个" in page
    admin.post(f"/console/rounds/{rid}/freeze", data={"csrf_token": token, **freeze_form()})
    monkeypatch.setattr(clock, "today", draw_day)
    admin.post(f"/console/rounds/{rid}/draw", data={"csrf_token": token, "public_value": "2026088"})
    page = admin.get(f"/console/rounds/{rid}").get_data(as_text=True)
    assert "<strong>第一督查组</strong>(组长 张伟)" in page and "<strong>第二督查组</strong>(组长 王强)" in page
    tasks = admin.get("/console/assignments").get_data(as_text=True)
    assert "<strong>第一督查组</strong>(组长 张伟)" in tasks and "<strong>第二督查组</strong>(组长 王强)" in tasks


def test_round_form_without_teams_still_needs_groups(app, console, world):
    """Loose-inspector mode keeps asking for the number of groups."""
    with app.app_context():
        pool = add_inspectors(world, ["insp_d", "insp_e"])
    admin = console("admin")
    r = admin.post(
        "/console/rounds",
        data={
            "csrf_token": csrf(admin),
            "name": "逐人抽查",
            "sites_per_group": "1",
            "team_size": "2",
            "items_per_visit": "2",
            "check_items": "\n".join(BANK),
            "inspector_ids": [str(i) for i in pool],
        },
    )
    assert r.status_code == 400 and "工作组数" in r.get_data(as_text=True)


def test_round_workbook_names_the_team_and_its_leader(app, console, world, crew):  # noqa: F811
    """A closed round sent as teams lists, per site, the team, its 组长 and its members in the XLSX."""
    from tests.api.test_rounds import step
    from tests.api.test_teams import team_round

    admin = console("admin")
    token = csrf(admin)
    for name, members, leader in (
        ("第一督查组", [crew["zhang"], crew["li"]], crew["zhang"]),
        ("第二督查组", [crew["wang"], crew["liu"]], crew["wang"]),
    ):
        admin.post("/console/teams", data={"csrf_token": token, **team_form(name, members, leader)})
    with app.app_context():
        team_ids = list(db.session.scalars(select(InspectionTeam.id).order_by(InspectionTeam.id)))
    rid = team_round(app, world, team_ids)
    step(app, world, rid, "freeze")
    step(app, world, rid, "run_draw", "7")
    step(app, world, rid, "close")
    wb = load_workbook(io.BytesIO(admin.get(f"/console/rounds/{rid}/round.xlsx").data))
    cells = {c for row in wb["抽取点位"].iter_rows(min_row=2, values_only=True) for c in row}
    assert {"第一督查组(组长 张伟):张伟、李娜", "第二督查组(组长 王强):王强、刘洋"} <= cells
