"""Random inspection rounds: status machine, audit, publication, drawn assignments and sealed items."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from server import draw

# Bound once: console tests patch server.clock.today with draw_day, which reads the real day.
from server.clock import today as today_china
from server.db import db
from server.models import Assignment, AuditEntry, Project, User
from server.services import rounds, users
from server.services.projects import place_of
from tests.factories import Api, checkin_body, now_iso, start_visit, uid

BANK = ["公示栏是否张贴", "进度是否符合计划", "群众是否知晓项目", "资金是否专款专用"]


def add_inspectors(world, names: list[str], home: int | None = None) -> list[int]:
    """Extra active inspectors (no home township unless given); returns their ids."""
    admin = db.session.get(User, world.ids["admin"])
    out = []
    for name in names:
        user, _ = users.create_user(
            db.session,
            admin,
            {
                "username": name,
                "name": name,
                "roles": ["inspector"],
                "password": f"{name}-password",
                **({"home_township_id": home} if home else {}),
            },
        )
        out.append(user.id)
    return out


def new_round(world, **overrides) -> int:
    """A draft round over the whole county: 1 group of 2 sites, teams of 2, 2 items of BANK."""
    admin = db.session.get(User, world.ids["admin"])
    pool = overrides.pop("inspector_ids", None) or add_inspectors(world, ["insp_d", "insp_e"])
    data = {
        "name": "2026年第一轮",
        "groups": 1,
        "sites_per_group": 2,
        "team_size": 2,
        "items_per_visit": 2,
        "check_items": BANK,
        "inspector_ids": pool,
        **overrides,
    }
    return rounds.create_round(db.session, admin, data).id


def source(days: int = 1) -> dict:
    """Where the public value will come from: a lottery draw `days` after today (China time)."""
    return {
        "description": "中国福利彩票双色球第2026141期开奖号码",
        "date": (today_china() + timedelta(days=days)).isoformat(),
    }


def draw_day():
    """The day source() names: the first day a draw is allowed."""
    return today_china() + timedelta(days=1)


def drawn_round(app, world, value="2026088") -> int:
    """A round frozen and drawn through the service (drawn on the day its source names)."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        rid = new_round(world)
        rounds.freeze(db.session, admin, rid, source())
        rounds.run_draw(db.session, admin, rid, value, today=draw_day())
        return rid


def step(app, world, rid: int, action: str, *args, **kw):
    """Run one transition as the admin inside an app context (freeze names source(), a draw runs on its day)."""
    if action == "freeze" and not args:
        args = (source(),)
    if action == "run_draw":
        kw.setdefault("today", draw_day())
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        return getattr(rounds, action)(db.session, admin, rid, *args, **kw)


def audit_actions(app) -> list[str]:
    """The audit log's actions in order."""
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


# ---- status machine --------------------------------------------------------------------------


def test_freeze_publishes_the_hash_of_the_stored_inputs(app, world):
    """Freezing stores canonical inputs and their SHA-256; the round is then frozen."""
    with app.app_context():
        rid = new_round(world)
    step(app, world, rid, "freeze")
    with app.app_context():
        r = rounds.get_round(db.session, rid)
        assert r.status == "frozen"
        assert r.input_hash == draw.input_hash(r.inputs)
        site_id = db.session.get(Project, world.p3).site_id
        assert {c["key"] for c in r.inputs["candidates"]} == {
            f"p{world.p1}-v{world.v1}",
            f"p{world.p2}-v{world.v2}",
            f"p{world.p3}-s{site_id}",
        }


def test_every_transition_is_audited(app, world):
    """create, freeze, draw and close each leave an audit entry."""
    rid = drawn_round(app, world)
    step(app, world, rid, "close")
    assert [a for a in audit_actions(app) if a.startswith("round.")] == [
        "round.create",
        "round.freeze",
        "round.draw",
        "round.close",
    ]


@pytest.mark.parametrize(
    ("reached", "action"),
    [
        ("draft", "run_draw"),
        ("draft", "close"),
        ("frozen", "freeze"),
        ("frozen", "close"),
        ("drawn", "freeze"),
        ("drawn", "run_draw"),
    ],
)
def test_illegal_transitions_are_409(app, world, reached, action):
    """A step from the wrong status is refused with 409 and a Chinese reason."""
    from server.errors import ApiError

    with app.app_context():
        rid = new_round(world)
    if reached in ("frozen", "drawn"):
        step(app, world, rid, "freeze")
    if reached == "drawn":
        step(app, world, rid, "run_draw", "1")
    args = ("1",) if action == "run_draw" else (source(),) if action == "freeze" else ()
    with pytest.raises(ApiError) as exc:
        step(app, world, rid, action, *args)
    assert exc.value.status == 409 and "不能" in exc.value.message


def test_a_frozen_round_cannot_be_edited(app, world):
    """Settings are fixed by the published hash."""
    from server.errors import ApiError

    with app.app_context():
        rid = new_round(world)
    step(app, world, rid, "freeze")
    with app.app_context(), pytest.raises(ApiError) as exc:
        admin = db.session.get(User, world.ids["admin"])
        rounds.update_round(
            db.session,
            admin,
            rid,
            {
                "name": "改名",
                "groups": 1,
                "sites_per_group": 1,
                "team_size": 2,
                "items_per_visit": 1,
                "check_items": BANK,
                "inspector_ids": [],
            },
        )
    assert exc.value.status == 409


def test_too_small_a_pool_is_refused_at_freeze_with_the_reason(app, world):
    """Two groups of two need four inspectors: 422 naming the numbers."""
    from server.errors import ApiError

    with app.app_context():
        rid = new_round(world, groups=2, sites_per_group=1)
    with pytest.raises(ApiError) as exc:
        step(app, world, rid, "freeze")
    assert exc.value.status == 422
    assert "督查人员库只有 2 人" in exc.value.message


def test_recusal_that_cannot_be_met_is_refused_at_freeze(app, world):
    """Inspectors who all live in the candidate townships cannot form a team: 422 at freeze, naming the sites."""
    from server.errors import ApiError

    with app.app_context():
        pool = add_inspectors(world, ["home1"], home=world.t1) + add_inspectors(world, ["home2"], home=world.t2)
        rid = new_round(world, inspector_ids=pool)
    with pytest.raises(ApiError) as exc:
        step(app, world, rid, "freeze")
    assert exc.value.status == 422 and "回避" in exc.value.message and "江南村" in exc.value.message
    with app.app_context():
        assert rounds.get_round(db.session, rid).status == "draft"
        assert db.session.scalar(select(Assignment.id).where(Assignment.round_id == rid)) is None


# ---- where the public value comes from ----------------------------------------------------------


def test_freeze_commits_to_the_public_value_source(app, world, client):
    """The source and its day are in the hashed inputs, the audit entry and the public summary from freeze on."""
    with app.app_context():
        rid = new_round(world)
    step(app, world, rid, "freeze", source(3))
    with app.app_context():
        r = rounds.get_round(db.session, rid)
        assert r.inputs["public_value_source"] == source(3)
        moved = {**r.inputs, "public_value_source": source(4)}
        assert draw.input_hash(moved) != r.input_hash == draw.input_hash(r.inputs)
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "round.freeze"))
        assert entry.data["public_value_source"] == source(3)
    public = client.get(f"/api/v1/public/rounds/{rid}").get_json()
    assert public["public_value_source"] == source(3) and public["public_value"] is None


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"description": "双色球", "date": None}, "public_value_date"),
        ({"description": "双色球", "date": "2026-13-01"}, "public_value_date"),
        ({"description": "", "date": "tomorrow"}, "public_value_source"),
        ({"description": "双" * 201, "date": "tomorrow"}, "public_value_source"),
        ({"description": "双色球", "date": "today"}, "public_value_date"),
        ({"description": "双色球", "date": "yesterday"}, "public_value_date"),
        ({"description": "双色球", "date": "in two years"}, "public_value_date"),
    ],
)
def test_freeze_refuses_a_missing_or_already_public_source(app, world, given, field):
    """No source, or a day that is today or past (a value that can be picked), is refused with 400 naming the field."""
    from server.errors import ApiError

    days = {"tomorrow": 1, "today": 0, "yesterday": -1, "in two years": 730}
    if given["date"] in days:
        given = {**given, "date": (today_china() + timedelta(days=days[given["date"]])).isoformat()}
    with app.app_context():
        rid = new_round(world)
    with pytest.raises(ApiError) as exc:
        step(app, world, rid, "freeze", given)
    assert (exc.value.status, exc.value.details["field"]) == (400, field)
    with app.app_context():
        assert rounds.get_round(db.session, rid).status == "draft"


def test_draw_before_the_source_day_is_refused(app, world):
    """A draw before the day the source is published is 409 and changes nothing; on that day it runs."""
    from server.errors import ApiError

    with app.app_context():
        rid = new_round(world)
    step(app, world, rid, "freeze", source(2))
    for early in (today_china(), draw_day()):
        with pytest.raises(ApiError) as exc:
            step(app, world, rid, "run_draw", "2026088", today=early)
        assert exc.value.status == 409 and exc.value.details["reason"] == "public_value_not_yet_published"
        assert source(2)["date"] in exc.value.message
    with app.app_context():
        assert rounds.get_round(db.session, rid).status == "frozen"
    step(app, world, rid, "run_draw", "2026088", today=today_china() + timedelta(days=2))
    with app.app_context():
        assert rounds.get_round(db.session, rid).status == "drawn"


def test_draw_and_close_each_write_an_audit_checkpoint(app, world):
    """Right after the draw and the close a signed checkpoint of the chain's head is in storage."""
    from server.services import checkpoints

    rid = drawn_round(app, world)
    step(app, world, rid, "close")
    stored, problems = checkpoints.read_all(app.extensions["storage"], app.config["AUDIT_KEY"])
    assert problems == []
    assert [cp.reason for _, cp in stored] == ["round.draw", "round.close"]
    with app.app_context():
        close_seq = db.session.scalar(select(AuditEntry.seq).where(AuditEntry.action == "round.close"))
    assert stored[-1][1].seq == close_seq


# ---- the draw's assignments --------------------------------------------------------------------


def test_draw_creates_marked_assignments_stratified_and_recused(app, world):
    """One site per township, teams of two from the pool, none at home; marked drawn with the round."""
    rid = drawn_round(app, world)
    with app.app_context():
        made = list(db.session.scalars(select(Assignment).where(Assignment.round_id == rid)))
        assert len(made) == 2 and all(a.origin == "drawn" for a in made)
        places = [place_of(db.session, a) for a in made]
        assert {p.township_id for p in places} == {world.t1, world.t2}
        for a, p in zip(made, places, strict=True):
            assert len(a.members) == 2 and len(a.check_items) == 2 and set(a.check_items) <= set(BANK)
            assert all(m.home_township_id != p.township_id for m in a.members)
        manual = db.session.get(Assignment, world.a1)
        assert manual.origin == "manual" and manual.round_id is None


def test_drawn_team_and_items_cannot_be_changed(app, world):
    """Editing a drawn assignment's team or items would falsify the record: 409."""
    rid = drawn_round(app, world)
    with app.app_context():
        a = db.session.scalar(select(Assignment).where(Assignment.round_id == rid))
        api = Api(app.test_client())
        token = world.tokens["admin"]
        r = api.as_(token).patch(f"/api/v1/admin/assignments/{a.id}", {"check_items": ["别的事项"]})
    assert r.status_code == 409, r.get_json()


def test_closing_closes_the_round_assignments(app, world):
    """Open drawn assignments close with their round."""
    rid = drawn_round(app, world)
    step(app, world, rid, "close")
    with app.app_context():
        assert {a.status for a in db.session.scalars(select(Assignment).where(Assignment.round_id == rid))} == {
            "closed"
        }


# ---- publication -----------------------------------------------------------------------------------


def test_public_round_before_close_shows_hash_and_counts_but_no_villages(app, world, client):
    """Before close: the hash and counts, never a village, project or the record."""
    rid = drawn_round(app, world)
    body = client.get(f"/api/v1/public/rounds/{rid}")
    assert body.status_code == 200
    data = body.get_json()
    with app.app_context():
        assert data["input_hash"] == rounds.get_round(db.session, rid).input_hash
    assert data["counts"]["candidates"] == 3 and data["counts"]["sites"] == 2 and data["record"] is None
    text = body.get_data(as_text=True)
    for name in ("江南村", "大栗村", "蜜柚", "旱厕", "高新区"):
        assert name not in text


def test_round_list_before_close_names_no_village(app, world, client):
    """The public list of rounds shows the hash of a running round and no place."""
    rid = drawn_round(app, world)
    body = client.get("/api/v1/public/rounds")
    assert [i["id"] for i in body.get_json()["items"]] == [rid]
    assert not any(name in body.get_data(as_text=True) for name in ("江南村", "大栗村", "蜜柚", "旱厕"))


def test_public_record_names_no_person(app, world, client):
    """Even after close, inspectors appear by id and home township only, never by name or username."""
    rid = drawn_round(app, world)
    step(app, world, rid, "close")
    texts = [client.get(f"/api/v1/public/rounds/{rid}{tail}").get_data(as_text=True) for tail in ("", "/record")]
    texts.append(client.get("/api/v1/public/rounds").get_data(as_text=True))
    for text in texts:
        assert [n for n in ("insp_d", "insp_e", "管理员", "admin") if n in text] == []


def test_the_record_is_withheld_until_close(app, world, client):
    """GET …/record is 409 while the round runs."""
    rid = drawn_round(app, world)
    assert client.get(f"/api/v1/public/rounds/{rid}/record").status_code == 409


def test_drafts_are_not_public(app, world, client):
    """A draft round is 404 in public and missing from the list."""
    with app.app_context():
        rid = new_round(world)
    assert client.get(f"/api/v1/public/rounds/{rid}").status_code == 404
    assert client.get("/api/v1/public/rounds").get_json()["items"] == []


def test_closed_record_replays_with_the_verifier(app, world, client):
    """After close the published record reproduces hash, seed and result."""
    rid = drawn_round(app, world, value=" 03 11 25 ")
    step(app, world, rid, "close")
    record = client.get(f"/api/v1/public/rounds/{rid}/record").get_json()
    assert record["public_value"] == "03 11 25"
    assert dict(draw.verify(record)) == {"input_hash": True, "seed": True, "result": True}
    assert client.get(f"/api/v1/public/rounds/{rid}").get_json()["record"] == record


# ---- sealed items ----------------------------------------------------------------------------------


def _team_token(app, world, rid: int) -> tuple[str, Assignment]:
    """A bearer token of a member of the round's first assignment, and that assignment."""
    from server.auth import issue_token

    with app.app_context():
        a = db.session.scalar(select(Assignment).where(Assignment.round_id == rid).order_by(Assignment.id))
        return issue_token(a.members[0]), a


def _checklist(item: str) -> dict:
    return {"client_id": uid(), "sent_at": now_iso(), "items": [{"item": item, "result": "pass"}]}


def test_drawn_assignment_shows_only_the_number_of_items(app, world, client):
    """The team's task list hides drawn items and tells how many there are."""
    rid = drawn_round(app, world)
    token, a = _team_token(app, world, rid)
    items = Api(client, token).get("/api/v1/assignments").get_json()["items"]
    mine = next(i for i in items if i["id"] == a.id)
    assert mine["check_items"] == [] and mine["check_items_sealed"] is True and mine["check_items_count"] == 2


def test_manual_assignments_are_not_sealed(app, world, client):
    """Hand-made assignments show their items as before."""
    items = Api(client, world.tokens["insp_a"]).get("/api/v1/assignments").get_json()["items"]
    a1 = next(i for i in items if i["id"] == world.a1)
    assert a1["check_items"] == ["公示栏是否张贴", "进度是否符合计划"] and a1["check_items_sealed"] is False


def test_checklist_before_an_in_geofence_checkin_is_409(app, world, client):
    """A far check-in does not open the seal; the checklist write is refused in Chinese."""
    rid = drawn_round(app, world)
    token, a = _team_token(app, world, rid)
    api = Api(client, token)
    mine = next(i for i in api.get("/api/v1/assignments").get_json()["items"] if i["id"] == a.id)
    visit = start_visit(api, a.id)
    far = api.post(
        f"/api/v1/visits/{visit['id']}/checkins", checkin_body(mine["place"]["lat"] + 0.2, mine["place"]["lng"])
    )
    assert far.status_code == 201 and "far_from_village" in far.get_json()["flags"]
    assert api.get(f"/api/v1/visits/{visit['id']}").get_json()["assignment"]["check_items_sealed"] is True
    r = api.put(f"/api/v1/visits/{visit['id']}/checklist", _checklist(a.check_items[0]))
    assert r.status_code == 409
    assert r.get_json()["error"]["details"]["reason"] == "sealed" and "签到" in r.get_json()["error"]["message"]


def test_in_geofence_checkin_unseals_the_items(app, world, client):
    """After a check-in inside the geofence the visit and the task list show the items, and checklists save."""
    rid = drawn_round(app, world)
    token, a = _team_token(app, world, rid)
    api = Api(client, token)
    mine = next(i for i in api.get("/api/v1/assignments").get_json()["items"] if i["id"] == a.id)
    visit = start_visit(api, a.id)
    near = api.post(f"/api/v1/visits/{visit['id']}/checkins", checkin_body(mine["place"]["lat"], mine["place"]["lng"]))
    assert near.status_code == 201 and near.get_json()["within_geofence"] is True
    shown = api.get(f"/api/v1/visits/{visit['id']}").get_json()["assignment"]
    assert shown["check_items"] == a.check_items and shown["check_items_sealed"] is False
    listed = next(i for i in api.get("/api/v1/assignments").get_json()["items"] if i["id"] == a.id)
    assert listed["check_items"] == a.check_items
    assert api.put(f"/api/v1/visits/{visit['id']}/checklist", _checklist(a.check_items[0])).status_code == 201


def test_staff_read_the_items_of_a_drawn_visit(app, world, client):
    """Sealing is for the team's phones: an admin reading the visit sees the items."""
    rid = drawn_round(app, world)
    token, a = _team_token(app, world, rid)
    visit = start_visit(Api(client, token), a.id)
    shown = Api(client, world.tokens["admin"]).get(f"/api/v1/visits/{visit['id']}").get_json()["assignment"]
    assert shown["check_items"] == a.check_items
