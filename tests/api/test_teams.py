"""Standing inspection teams and declared conflicts: CRUD, scope, rounds that send teams, replay, refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from server import draw
from server.auth import issue_token
from server.db import db
from server.errors import ApiError
from server.models import Assignment, AuditEntry, InspectionRound, Project, User
from server.services import projects, rounds, teams
from tests.api.conftest import A, error_of
from tests.api.test_rounds import BANK, add_inspectors, draw_day, step
from tests.factories import Api

ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def crew(app, world):
    """Four inspectors without a home township: 张伟, 李娜 (team A's) and 王强, 刘洋 (team B's)."""
    with app.app_context():
        ids = add_inspectors(world, ["zhangwei", "lina", "wangqiang", "liuyang"])
        for uid_, name in zip(ids, ["张伟", "李娜", "王强", "刘洋"], strict=True):
            db.session.get(User, uid_).name = name
        db.session.commit()
    return dict(zip(["zhang", "li", "wang", "liu"], ids, strict=True))


def make_team(admin: Api, name: str, members: list[int], leader: int, official: int | None = None) -> dict:
    """A team created through the API."""
    r = admin.post(
        f"{A}/teams", {"name": name, "member_ids": members, "leader_id": leader, "lead_official_id": official}
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()


@pytest.fixture
def two_teams(admin, world, crew):
    """第一督查组 (张伟 leads, 李娜; 带队领导 the leader account) and 第二督查组 (王强 leads, 刘洋)."""
    a = make_team(admin, "第一督查组", [crew["zhang"], crew["li"]], crew["zhang"], world.ids["leader"])
    b = make_team(admin, "第二督查组", [crew["wang"], crew["liu"]], crew["wang"])
    return a, b


def declare(admin: Api, user_id: int, scope: str, place_id: int, kind: str = "relative", note: str = "") -> dict:
    """A conflict recorded by the admin."""
    r = admin.post(
        f"{A}/conflicts", {"user_id": user_id, "kind": kind, "scope": scope, "place_id": place_id, "note": note}
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def team_round(app, world, team_ids: list[int], **overrides) -> int:
    """A draft round of the given teams over 永阳镇 (江南村 and the unit site), one site per team."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        data = {
            "name": "2026年第二轮按组抽查",
            "sites_per_group": 1,
            "items_per_visit": 2,
            "check_items": BANK,
            "team_ids": team_ids,
            "filters": {"township_ids": [world.t1]},
            **overrides,
        }
        return rounds.create_round(db.session, admin, data).id


# ---- teams ------------------------------------------------------------------------------------------


@pytest.mark.both_databases
def test_team_is_created_listed_and_edited(admin, world, crew, app):
    """A team keeps its name, members, 组长 and 带队领导; edits are audited."""
    t = make_team(admin, "第一督查组", [crew["zhang"], crew["li"]], crew["zhang"], world.ids["leader"])
    assert t["leader"]["name"] == "张伟" and t["lead_official"]["id"] == world.ids["leader"]
    assert [m["name"] for m in t["members"]] == ["张伟", "李娜"]
    r = admin.patch(f"{A}/teams/{t['id']}", {"member_ids": [crew["li"], crew["wang"]], "leader_id": crew["li"]})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["leader"]["name"] == "李娜"
    r = admin.patch(f"{A}/teams/{t['id']}", {"active": False})
    assert r.get_json()["active"] is False
    listed = admin.get(f"{A}/teams").get_json()["items"]
    assert [(i["name"], [m["name"] for m in i["members"]]) for i in listed] == [("第一督查组", ["李娜", "王强"])]
    with app.app_context():
        actions = list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "team")))
    assert actions == ["team.create", "team.update", "team.update"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"leader_id": "outsider"}, "leader_id"),
        ({"lead_official_id": "inspector"}, "lead_official_id"),
        ({"member_ids": "one"}, "member_ids"),
        ({"member_ids": "with_leader_account"}, "member_ids"),
    ],
)
def test_team_rules_are_enforced(admin, world, crew, change, field):
    """组长 among the members, 带队领导 a leader account, at least two members who are all inspectors."""
    body = {"name": "第三督查组", "member_ids": [crew["zhang"], crew["li"]], "leader_id": crew["zhang"]}
    key, what = next(iter(change.items()))
    body[key] = {
        "outsider": crew["wang"],
        "inspector": crew["wang"],
        "one": [crew["zhang"]],
        "with_leader_account": [crew["zhang"], world.ids["leader"]],
    }[what]
    r = admin.post(f"{A}/teams", body)
    assert r.status_code == 400, r.get_json()
    assert error_of(r)["details"]["field"] == field


@pytest.mark.both_databases
def test_team_names_are_unique(admin, two_teams, crew):
    """A second 第一督查组 is refused."""
    r = admin.post(
        f"{A}/teams", {"name": "第一督查组", "member_ids": [crew["zhang"], crew["liu"]], "leader_id": crew["liu"]}
    )
    assert r.status_code == 409


def test_teams_are_for_admins(client, world):
    """A leader may not create teams through the API."""
    r = Api(client, world.tokens["leader"]).get(f"{A}/teams")
    assert r.status_code == 403


# ---- declared conflicts -----------------------------------------------------------------------------


def test_inspector_declares_and_withdraws_their_own_conflict(client, world, admin):
    """POST /me/conflicts records the caller's conflict; they list and withdraw only their own."""
    me = Api(client, world.tokens["insp_a"])
    r = me.post(
        "/api/v1/me/conflicts", {"kind": "relative", "scope": "village", "place_id": world.v1, "note": "岳父母"}
    )
    assert r.status_code == 201, r.get_json()
    mine = r.get_json()
    assert mine["user"]["id"] == world.ids["insp_a"] and mine["place_name"] == "永阳镇江南村"
    assert mine["declared_by"]["id"] == world.ids["insp_a"]
    other = declare(admin, world.ids["insp_b"], "township", world.t1, kind="former_post")
    assert [c["id"] for c in me.get("/api/v1/me/conflicts").get_json()["items"]] == [mine["id"]]
    assert me.post(f"/api/v1/me/conflicts/{other['id']}/withdraw").status_code == 404
    assert me.post(f"/api/v1/me/conflicts/{mine['id']}/withdraw").status_code == 200
    assert me.get("/api/v1/me/conflicts").get_json()["items"] == []
    assert me.post(f"/api/v1/me/conflicts/{mine['id']}/withdraw").status_code == 409


def test_conflict_needs_a_place_and_a_note_for_other(client, world):
    """An unknown place is 404; kind "other" without a note is 400; non-inspectors cannot declare."""
    me = Api(client, world.tokens["insp_a"])
    assert (
        me.post("/api/v1/me/conflicts", {"kind": "relative", "scope": "village", "place_id": 9999}).status_code == 404
    )
    r = me.post("/api/v1/me/conflicts", {"kind": "other", "scope": "township", "place_id": world.t1})
    assert r.status_code == 400 and error_of(r)["details"]["field"] == "note"
    leader = Api(client, world.tokens["leader"])
    assert (
        leader.post("/api/v1/me/conflicts", {"kind": "relative", "scope": "village", "place_id": world.v1}).status_code
        == 403
    )


def test_conflict_scope_bars_village_township_or_organization(app, world, admin):
    """A village bars its own site, a township every site in it, an organization its projects."""
    with app.app_context():
        actor = db.session.get(User, world.ids["admin"])
        org = projects.create_organization(db.session, actor, {"name": "大栗村党支部", "township_id": world.t2})
        db.session.get(Project, world.p2).organization_id = org.id
        db.session.commit()
        org_id = org.id
    declare(admin, world.ids["insp_a"], "village", world.v1)
    declare(admin, world.ids["insp_b"], "township", world.t1, kind="former_post")
    declare(admin, world.ids["insp_c"], "organization", org_id, kind="former_post")
    withdrawn = declare(admin, world.ids["insp_c"], "village", world.v1)
    admin.post(f"{A}/conflicts/{withdrawn['id']}/withdraw")
    with app.app_context():
        found = rounds.candidates(db.session, {})
        site = db.session.get(Project, world.p3).site_id
        got = teams.recusals_for(db.session, found, [world.ids[k] for k in ("insp_a", "insp_b", "insp_c")])
    assert {(r["inspector_id"], r["scope"], tuple(r["keys"])) for r in got} == {
        (world.ids["insp_a"], "village", (f"p{world.p1}-v{world.v1}",)),
        (world.ids["insp_b"], "township", tuple(sorted([f"p{world.p1}-v{world.v1}", f"p{world.p3}-s{site}"]))),
        (world.ids["insp_c"], "organization", (f"p{world.p2}-v{world.v2}",)),
    }


def test_conflict_audit_keeps_no_note(app, admin, world):
    """The audit log records who declared what scope, never the personal note."""
    declare(admin, world.ids["insp_a"], "village", world.v1, note="表哥住在该村")
    with app.app_context():
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "conflict.declare"))
        assert "表哥" not in json.dumps(entry.data, ensure_ascii=False)


# ---- rounds that send teams ------------------------------------------------------------------------


def _draw(app, world, rid: int, value: str = "2026088"):
    step(app, world, rid, "freeze")
    step(app, world, rid, "run_draw", value)


@pytest.mark.both_databases
def test_round_sends_the_other_team_where_a_member_declared_a_conflict(app, world, admin, client, crew, two_teams):
    """李娜's relatives live in 江南村: it always goes to 第二督查组, whose members get it and whose 组长 is shown."""
    a, b = two_teams
    declare(admin, crew["li"], "village", world.v1, note="姑母")
    for value in ("1", "2", "3", "4", "5", "6", "7", "8"):
        rid = team_round(app, world, [a["id"], b["id"]])
        _draw(app, world, rid, value)
        with app.app_context():
            drawn = list(db.session.scalars(select(Assignment).where(Assignment.round_id == rid)))
            by_village = {x.village_id: sorted(m.id for m in x.members) for x in drawn}
        assert by_village[world.v1] == sorted([crew["wang"], crew["liu"]])
        assert by_village[None] == sorted([crew["zhang"], crew["li"]])
    with app.app_context():
        token = issue_token(db.session.get(User, crew["liu"]))
    items = Api(client, token).get("/api/v1/assignments").get_json()["items"]
    latest = [i for i in items if i["round_id"] == rid]
    assert latest[0]["team"] == {"team_id": b["id"], "name": "第二督查组", "leader_id": crew["wang"], "leader": "王强"}


def test_round_with_teams_and_conflicts_replays_with_the_verifier(app, world, admin, client, crew, two_teams, tmp_path):
    """The closed record carries the teams and the applied conflicts; verify_draw.py reproduces it."""
    a, b = two_teams
    declare(admin, crew["li"], "village", world.v1, note="姑母")
    rid = team_round(app, world, [a["id"], b["id"]])
    _draw(app, world, rid)
    step(app, world, rid, "close")
    summary = client.get(f"/api/v1/public/rounds/{rid}").get_json()
    inputs = summary["record"]["inputs"]
    assert inputs["format"] == "sp-draw/2"
    assert [t["name"] for t in inputs["teams"]] == ["第一督查组", "第二督查组"]
    assert inputs["recusals"] == [
        {"inspector_id": crew["li"], "scope": "village", "keys": [f"p{world.p1}-v{world.v1}"]}
    ]
    path = tmp_path / "round.json"
    # The record alone: the test draws before the source's day (run_draw's today=draw_day()).
    record = summary["record"]
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "verify_draw.py"), str(path)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    # Dropping the frozen conflict from the record breaks the hash: it was committed before the draw.
    record["inputs"]["recusals"] = []
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "verify_draw.py"), str(path)], capture_output=True, text=True
    )
    assert out.returncode == 1


def test_public_record_lists_recusals_without_personal_details(app, world, admin, client, crew, two_teams):
    """After close the summary says which team had a member recused from which site, with no name or note."""
    a, b = two_teams
    declare(admin, crew["li"], "village", world.v1, note="姑母王秀英")
    rid = team_round(app, world, [a["id"], b["id"]])
    _draw(app, world, rid)
    before = client.get(f"/api/v1/public/rounds/{rid}").get_json()
    assert before["counts"]["recusals"] == 1 and before["recusals"] is None
    step(app, world, rid, "close")
    text = client.get(f"/api/v1/public/rounds/{rid}").get_data(as_text=True)
    body = json.loads(text)
    assert body["recusals"] == [
        {
            "team": "第一督查组",
            "scope": "village",
            "sites": ["蜜柚产业项目 · 江南村"],
            "text": "第一督查组某成员申报回避",
        }
    ]
    assert [w for w in ("李娜", "姑母", "王秀英", "lina", "relative", "亲属") if w in text] == []


def test_freeze_refuses_when_every_team_has_a_conflicted_member(app, world, admin, crew, two_teams):
    """Both teams recused from 江南村: the freeze is refused, naming the site, and the round stays a draft."""
    a, b = two_teams
    declare(admin, crew["li"], "village", world.v1)
    declare(admin, crew["liu"], "township", world.t1, kind="former_post")
    rid = team_round(app, world, [a["id"], b["id"]])
    with pytest.raises(ApiError) as exc:
        step(app, world, rid, "freeze")
    assert exc.value.status == 422
    assert "江南村" in exc.value.message and "督查组" in exc.value.message
    assert exc.value.details["sites"] == [f"p{world.p1}-v{world.v1}"]
    with app.app_context():
        assert rounds.get_round(db.session, rid).status == "draft"


def test_team_round_settings_are_checked(app, world, admin, crew, two_teams):
    """One person in two chosen teams, or an inactive team, is refused; groups follow the number of teams."""
    a, b = two_teams
    c = make_team(admin, "第三督查组", [crew["li"], crew["wang"]], crew["li"])
    with pytest.raises(ApiError, match="同时在"):
        team_round(app, world, [a["id"], c["id"]])
    admin.patch(f"{A}/teams/{c['id']}", {"active": False})
    with pytest.raises(ApiError, match="停用"):
        team_round(app, world, [c["id"]])
    rid = team_round(app, world, [a["id"], b["id"]], groups=7, inspector_ids=[world.ids["insp_a"]])
    with app.app_context():
        r = rounds.get_round(db.session, rid)
        assert (r.groups, r.inspector_ids, r.team_ids) == (2, [], sorted([a["id"], b["id"]]))


def test_frozen_team_is_kept_when_the_team_changes(app, world, admin, crew, two_teams):
    """Editing a team after freeze changes nothing in the round: its members come from the frozen inputs."""
    a, b = two_teams
    rid = team_round(app, world, [a["id"], b["id"]])
    step(app, world, rid, "freeze")
    admin.patch(f"{A}/teams/{a['id']}", {"member_ids": [crew["zhang"], world.ids["insp_c"]]})
    step(app, world, rid, "run_draw", "9")
    with app.app_context():
        members = {
            m.id for x in db.session.scalars(select(Assignment).where(Assignment.round_id == rid)) for m in x.members
        }
    assert members == set(crew.values())


# ---- rounds frozen before teams existed -------------------------------------------------------------


@pytest.mark.both_databases
def test_round_frozen_before_teams_still_draws_and_verifies(app, world, client):
    """A round whose stored inputs are sp-draw/1 (no teams, no recusals key) draws as before and replays."""
    legacy = json.loads((ROOT / "tests" / "data" / "draw_record_v1.json").read_text(encoding="utf-8"))["record"]
    with app.app_context():
        pool = add_inspectors(world, [f"old{i}" for i in range(7)])
        inputs = json.loads(json.dumps(legacy["inputs"]))
        # The stored v1 inputs of a real round in this database, frozen the old way.
        inputs["candidates"] = rounds.candidates(db.session, {})
        inputs["groups"], inputs["sites_per_group"] = 1, 2
        inputs["inspectors"] = [{"id": i, "home_township_id": None} for i in pool]
        inputs["public_value_source"]["date"] = draw_day().isoformat()
        r = InspectionRound(
            name="旧轮次",
            status="frozen",
            filters={},
            groups=1,
            sites_per_group=2,
            team_size=2,
            items_per_visit=2,
            check_items=inputs["check_items"],
            inspector_ids=pool,
            inputs=inputs,
            input_hash=draw.input_hash(inputs),
        )
        db.session.add(r)
        db.session.commit()
        rid = r.id
        assert "teams" not in inputs and inputs["format"] == "sp-draw/1"
    step(app, world, rid, "run_draw", "42")
    step(app, world, rid, "close")
    record = client.get(f"/api/v1/public/rounds/{rid}/record").get_json()
    assert dict(draw.verify(record)) == {"input_hash": True, "seed": True, "result": True}
    assert record["result"] == draw.run(inputs, draw.make_seed(draw.input_hash(inputs), "42"))
