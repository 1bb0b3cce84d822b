"""Many counties in one deployment: what each county has on its own, and what the first county inherits.

The authorization matrices (tests/hostile/test_county_matrix.py) show that nothing of one county
reaches another's staff; here: new rows take their county, each county has its own audit chain
(checkpointed and verified apart, never waiting on another's head row), 文号 sequences, gradings,
quarterly tasks and names; a villager's feedback is the project's county's; and the data of a
deployment from before counties becomes the first county.
"""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import create_engine, select, text

from server import tenancy
from server.auth import issue_token
from server.db import db
from server.models import AuditEntry, County, Feedback, Township, User
from server.services import audit, counties, grading, quarterly, units, users
from server.services.documents import numbers
from tests.factories import Api, now_iso, uid


@pytest.fixture
def county2(app, world):
    """County 2 (吉水县) with its administrator, a township, a village and an approved project."""
    with app.app_context():
        county = counties.add_county(db.session, None, {"code": "360822", "name": "吉水县", "doc_prefix": "吉水组字"})
        admin_b, _ = users.create_user(
            db.session,
            None,
            {"username": "admin_b", "roles": ["admin"], "password": "admin_b-password", "county_id": county.id},
        )
        world.tokens["admin_b"] = issue_token(admin_b)
        ids = {"county_id": county.id, "admin_b": admin_b.id}
    api = Api(app.test_client(), world.tokens["admin_b"])
    t = api.post("/api/v1/admin/townships", {"code": "360822100000", "name": "文峰镇"})
    assert t.status_code == 201, t.get_json()
    v = api.post(
        "/api/v1/admin/villages",
        {"township_id": t.get_json()["id"], "code": "360822100201", "name": "城南村", "lat": 27.12, "lng": 115.13},
    )
    assert v.status_code == 201, v.get_json()
    p = api.post("/api/v1/admin/projects", {"title": "吉水茶园", "year": 2026, "village_ids": [v.get_json()["id"]]})
    assert p.status_code == 201, p.get_json()
    return {
        **ids,
        "township_id": t.get_json()["id"],
        "village_id": v.get_json()["id"],
        "project_id": p.get_json()["id"],
    }


def as_admin_b(app, county2):
    """County 2's administrator as a request would see them: the session limited to county 2."""
    admin_b = db.session.get(User, county2["admin_b"])
    tenancy.enter(db.session, admin_b)
    return admin_b


def test_new_rows_take_the_county_of_who_makes_them(app, world, county2):
    """Rows made by county 2's administrator are county 2's, to the village and project; county 1's stay county 1's."""
    with app.app_context():
        rows = db.session.execute(
            text("SELECT county_id FROM villages WHERE id = :v UNION ALL SELECT county_id FROM projects WHERE id = :p"),
            {"v": county2["village_id"], "p": county2["project_id"]},
        ).scalars()
        assert set(rows) == {county2["county_id"]}
        assert db.session.get(Township, world.t1).county_id == 1


def test_each_county_appends_to_its_own_audit_chain(app, world, county2):
    """County 2's actions are chain 2, county 1's chain 1: each verifies on its own, seq counting from 1."""
    Api(app.test_client(), world.tokens["admin"]).post(
        "/api/v1/admin/townships", {"code": "360821104000", "name": "敦厚镇"}
    )
    with app.app_context():
        for chain in (1, county2["county_id"]):
            report = audit.verify(db.session, chain=chain)
            assert report.ok, (chain, report)
        seqs = db.session.scalars(
            select(AuditEntry.seq).where(AuditEntry.chain == county2["county_id"]).order_by(AuditEntry.seq)
        ).all()
        assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 4  # user, township, village, project
        created = db.session.scalar(
            select(AuditEntry.chain).where(
                AuditEntry.object_type == "township", AuditEntry.data["name"].as_string() == "敦厚镇"
            )
        )
        assert created == 1
        assert (
            db.session.scalar(
                select(AuditEntry.chain).where(AuditEntry.object_type == "county", AuditEntry.action == "county.create")
            )
            == tenancy.DEPLOYMENT_CHAIN
        )


def test_checkpoints_are_per_chain_and_one_chains_cannot_stand_in_for_anothers(app, world, county2):
    """audit-checkpoint signs every chain apart; verify-audit checks each; chain 2's checkpoint copied among
    chain 1's is reported invalid."""
    runner = app.test_cli_runner()
    assert runner.invoke(args=["audit-checkpoint"]).exit_code == 0
    result = runner.invoke(args=["verify-audit"])
    assert result.exit_code == 0, result.output
    assert f"chain {county2['county_id']}: audit chain intact" in result.output
    storage = app.extensions["storage"]
    key2 = sorted(storage.iter_keys(f"audit/chains/{county2['county_id']}/checkpoints/"))[0]
    with storage.open(key2) as fh:
        body = fh.read()
    assert json.loads(body)["chain"] == county2["county_id"]
    storage.put("audit/checkpoints/999999999999-copied.json", body, content_type="application/json")
    result = runner.invoke(args=["verify-audit", "--chain", "1"])
    assert result.exit_code == 1
    assert "a checkpoint of chain 2 among chain 1's" in result.output


@pytest.mark.mariadb
def test_a_county_appends_while_another_holds_its_head(app, world, county2, database_url):
    """County 1's head row locked by a long transaction: county 2's administrator still writes at once.

    On SQLite every writer queues on the one database lock, so this is about MariaDB only.
    """
    engine = create_engine(database_url)
    locked, release = threading.Event(), threading.Event()

    def hold_county_1() -> None:
        with engine.begin() as conn:
            conn.exec_driver_sql("SELECT seq FROM audit_head WHERE chain = 1 FOR UPDATE")
            locked.set()
            release.wait(30)

    holder = threading.Thread(target=hold_county_1)
    holder.start()
    try:
        assert locked.wait(10)
        with app.app_context():
            db.session.execute(text("SET SESSION innodb_lock_wait_timeout = 2"))
            admin_b = as_admin_b(app, county2)
            units.create_unit(db.session, admin_b, {"name": "文峰镇党委", "township_id": county2["township_id"]})
        # And county 1's own write waits for its head, as it must.
        with app.app_context():
            db.session.execute(text("SET SESSION innodb_lock_wait_timeout = 1"))
            admin = db.session.get(User, world.ids["admin"])
            tenancy.enter(db.session, admin)
            with pytest.raises(Exception, match="Lock wait timeout"):
                units.create_unit(db.session, admin, {"name": "永阳镇党委", "township_id": world.t1})
    finally:
        release.set()
        holder.join()
        engine.dispose()


def test_document_numbers_run_per_county_with_its_own_prefix(app, world, county2):
    """Both counties' first rectification notice of the year is number 1, each under its own 代字."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        tenancy.enter(db.session, admin)
        first = numbers.number(db.session, admin, "rectification", "order-a")
        second = numbers.number(db.session, admin, "rectification", "order-b")
    with app.app_context():
        admin_b = as_admin_b(app, county2)
        theirs = numbers.number(db.session, admin_b, "rectification", "order-a")
    assert (first.number, second.number, theirs.number) == (1, 2, 1)
    assert theirs.reference.startswith("吉水组字〔") and not first.reference.startswith("吉水组字")
    assert first.subject == theirs.subject and first.id != theirs.id


def test_gradings_quarterly_tasks_and_names_are_per_county(app, world, county2):
    """Each county grades the same year, generates its own quarterly tasks and may name a unit like another's;
    division codes stay unique in the whole deployment."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        tenancy.enter(db.session, admin)
        grading.create_session(db.session, admin, {"year": 2026})
        quarterly.generate_year(db.session, admin, 2026)
        units.create_unit(db.session, admin, {"name": "组织部机关党支部"})
    with app.app_context():
        admin_b = as_admin_b(app, county2)
        gs = grading.create_session(db.session, admin_b, {"year": 2026})
        tasks, _ = quarterly.generate_year(db.session, admin_b, 2026)
        unit = units.create_unit(db.session, admin_b, {"name": "组织部机关党支部"})
        assert {gs.county_id, unit.county_id, *(t.county_id for t in tasks)} == {county2["county_id"]}
        assert len(tasks) == 12
    taken = Api(app.test_client(), world.tokens["admin_b"]).post(
        "/api/v1/admin/townships", {"code": "360821100000", "name": "同码镇"}
    )
    assert taken.status_code == 409, taken.get_json()


def test_a_villagers_feedback_belongs_to_the_projects_county(app, world, county2):
    """A villager (of no county) gives feedback on county 2's project: the record and its audit entry are county 2's."""
    with app.app_context():
        db.session.execute(text("UPDATE projects SET status = 'approved' WHERE id = :p"), {"p": county2["project_id"]})
        db.session.commit()
        villager = users.wechat_login(db.session, "openid-villager-county2")
        token = issue_token(villager)
    r = Api(app.test_client(), token).post(
        f"/api/v1/public/projects/{county2['project_id']}/feedback",
        {"client_id": uid(), "sent_at": now_iso(), "rating": "满意", "category": "建议", "text": "茶园修好了"},
    )
    assert r.status_code == 201, r.get_json()
    with app.app_context():
        fb = db.session.get(Feedback, r.get_json()["id"])
        assert fb.county_id == county2["county_id"]
        chain = db.session.scalar(
            select(AuditEntry.chain).where(AuditEntry.object_type == "feedback", AuditEntry.object_id == str(fb.id))
        )
        assert chain == county2["county_id"]
        assert db.session.get(User, villager.id).county_id is None


def test_a_row_of_no_county_is_refused_when_there_are_several(app, world, county2):
    """With two counties and nobody to say which, a new township is not written with no county."""
    with app.app_context():
        db.session.add(Township(code="360899100000", name="无县镇"))
        with pytest.raises(RuntimeError, match="has no county"):
            db.session.flush()
        db.session.rollback()


@pytest.mark.both_databases
def test_a_deployment_from_before_counties_becomes_the_first_county(app, world, database_url):
    """Downgrade below 0030 with the world's rows, upgrade again: every row is county 1's, staff too, villagers none."""
    from alembic import command

    from server.db import alembic_config, upgrade

    with app.app_context():
        users.wechat_login(db.session, "openid-before-counties")
    command.downgrade(alembic_config(database_url), "0029")
    upgrade(database_url, audit_key=app.config["AUDIT_KEY"])
    engine = create_engine(database_url)
    with engine.connect() as conn:
        for table in ("townships", "villages", "projects", "assignments", "visits", "organizations"):
            counts = conn.execute(text(f"SELECT county_id, COUNT(*) FROM {table} GROUP BY county_id")).all()
            assert [c for c, _ in counts] in ([1], []), (table, counts)
        staff = (
            conn.execute(
                text(
                    "SELECT DISTINCT u.county_id FROM users u JOIN user_roles r ON r.user_id = u.id "
                    "WHERE r.role <> 'villager'"
                )
            )
            .scalars()
            .all()
        )
        assert staff == [1]
        assert (
            conn.execute(text("SELECT county_id FROM users WHERE openid = 'openid-before-counties'")).scalar() is None
        )
        assert conn.execute(text("SELECT chain, seq FROM audit_head ORDER BY chain")).all()[0][0] == 0
    engine.dispose()
    with app.app_context():
        assert db.session.get(County, 1) is not None
        assert audit.verify(db.session, chain=1).ok


def test_a_places_import_cannot_take_over_another_countys_code(app, world, county2):
    """County 2 imports a row with county 1's township code: the row is refused by name, county 1's township stays."""
    from tests.console.conftest import login
    from tests.console.test_imports import upload

    client = login(app.test_client(), "admin_b", "admin_b-password")
    r = upload(client, "/console/places/import", "类型,编码,名称,所属乡镇编码,纬度,经度\n乡镇,360821100000,油田镇,,,\n")
    assert r.status_code in (200, 400)
    assert "编码“360821100000”已属于其他县(区)" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Township, world.t1).name == "永阳镇"


def test_a_countys_draw_picks_only_its_own_projects_and_inspectors(app, world, county2):
    """County 2 draws a round over "the whole county": its one project, its own inspectors; county 1's are not in it."""
    from server.models import Assignment
    from server.services import rounds
    from tests.api.test_rounds import BANK, draw_day, source

    with app.app_context():
        admin_b = as_admin_b(app, county2)
        pool = [
            users.create_user(db.session, admin_b, {"username": name, "roles": ["inspector"], "name": name})[0].id
            for name in ("jishui_insp_1", "jishui_insp_2")
        ]
        db.session.execute(
            text("UPDATE projects SET status = 'in_progress' WHERE id = :p"), {"p": county2["project_id"]}
        )
        db.session.commit()
        r = rounds.create_round(
            db.session,
            admin_b,
            {
                "name": "吉水县第一轮",
                "groups": 1,
                "sites_per_group": 1,
                "team_size": 2,
                "items_per_visit": 1,
                "check_items": BANK,
                "inspector_ids": pool,
            },
        )
        assert [c["project_id"] for c in rounds.candidates(db.session, {})] == [county2["project_id"]]
        rounds.freeze(db.session, admin_b, r.id, source())
        rounds.run_draw(db.session, admin_b, r.id, "2026088", today=draw_day())
        drawn = db.session.scalars(select(Assignment).where(Assignment.round_id == r.id)).all()
        assert [a.project_id for a in drawn] == [county2["project_id"]]
        assert {m.id for a in drawn for m in a.members} == set(pool)
        assert {a.county_id for a in drawn} == {county2["county_id"]}
        # County 1's inspectors cannot be named in county 2's pool.
        with pytest.raises(Exception, match="找不到|not_found|督查"):
            rounds.create_round(
                db.session,
                admin_b,
                {
                    "name": "借用外县督查员",
                    "groups": 1,
                    "sites_per_group": 1,
                    "team_size": 2,
                    "items_per_visit": 1,
                    "check_items": BANK,
                    "inspector_ids": [world.ids["insp_a"], pool[0]],
                },
            )
