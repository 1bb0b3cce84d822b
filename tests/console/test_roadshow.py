"""路演评审 in the console: the host runs the order, experts score live and finalize, the hall sees
results as they are finalized, and the year's grading is computed from the copied scores."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

# Load the API package first, as the app factory does (see tests/console/test_grading.py).
import server.api  # noqa: F401, I001
from server.db import db
from server.models import (
    AuditEntry,
    GradingEntry,
    GradingScore,
    PanelSeat,
    Project,
    RoadshowSheet,
    RoadshowSpeaker,
    User,
)
from server.services import grading, users
from server.services.grading import roadshow
from tests.console.conftest import csrf, login


def post(client, url: str, data: dict | None = None):
    """POST a console form with the session's CSRF token."""
    return client.post(url, data={"csrf_token": csrf(client), **(data or {})})


def text_of(response) -> str:
    """The response body as text."""
    return response.get_data(as_text=True)


def build(app, world, *, drop: bool = False, experts: int = 3, start: bool = True) -> dict:
    """An opened 2026 session (推进 60 / 成效 40), a roadshow of p1, p2, p3 in that order and `experts` experts."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        ids = [
            users.create_user(
                db.session,
                admin,
                {"username": f"expert{n}", "name": f"专家{n}", "roles": ["expert"], "password": f"expert{n}-password"},
            )[0].id
            for n in range(1, experts + 1)
        ]
        gs = grading.create_session(
            db.session,
            admin,
            {
                "year": 2026,
                "criteria": [{"name": "推进", "weight": 60}, {"name": "成效", "weight": 40}],
                "drop_extremes": drop,
                "quota_mode": "count",
                "quotas": {"特等": 1, "一等": 1, "二等": 1, "三等": 0},
            },
        )
        grading.open_session(db.session, admin, gs.id)
        entries = {e.project_id: e.id for e in grading.entries_of(db.session, gs)}
        rs = roadshow.create_roadshow(
            db.session,
            admin,
            {
                "session_id": gs.id,
                "title": "2026 年度书记项目路演评审",
                "held_on": "2026-12-10",
                "venue": "县委党校报告厅",
            },
        )
        speakers = {
            pid: roadshow.add_speaker(db.session, admin, rs.id, entries[pid]).id
            for pid in (world.p1, world.p2, world.p3)
        }
        for eid in ids:
            roadshow.add_expert(db.session, admin, rs.id, eid)
        if start:
            roadshow.start(db.session, admin, rs.id)
        return {"session": gs.id, "roadshow": rs.id, "speakers": speakers, "experts": ids, "entries": entries}


@pytest.fixture
def show(app, world):
    """A started roadshow: p1 is up, p2 and p3 wait; three experts (the session keeps every total)."""
    return build(app, world)


def expert(app, n: int):
    """A test client logged in as expert n."""
    return login(app.test_client(), f"expert{n}", f"expert{n}-password")


def score(client, show: dict, speaker: int, c1: str, c2: str, action: str = "finalize"):
    """An expert's POST of a sheet: save or finalize."""
    return post(
        client, f"/console/roadshows/{show['roadshow']}/score/{speaker}", {"c1": c1, "c2": c2, "action": action}
    )


def results(client, show: dict) -> dict:
    """The hall screen's JSON."""
    r = client.get(f"/console/roadshows/{show['roadshow']}/results.json")
    assert r.status_code == 200
    return r.get_json()


def speaker_row(data: dict, speaker_id: int) -> dict:
    """One speaker's row of the results JSON."""
    return next(s for s in data["speakers"] if s["id"] == speaker_id)


def test_scoring_a_speaker_not_yet_up_is_refused(app, world, show):
    """p2 waits its turn: a sheet for it is refused in Chinese with 409, and nothing is stored."""
    r = score(expert(app, 1), show, show["speakers"][world.p2], "90", "80")
    assert r.status_code == 409
    assert "该项目还没有开始路演,不能评分" in text_of(r)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RoadshowSheet)) == 0


def test_a_finalized_sheet_is_locked(app, world, show):
    """After finalizing, saving or finalizing again is refused in Chinese and the first scores stay."""
    client, sp = expert(app, 1), show["speakers"][world.p1]
    assert score(client, show, sp, "90", "80").status_code == 302
    for action in ("save", "finalize"):
        r = score(client, show, sp, "10", "10", action)
        assert r.status_code == 409
        assert "您已提交该项目的最终评分,评分表已锁定,不能修改" in text_of(r)
    with app.app_context():
        assert db.session.scalar(select(RoadshowSheet.scores)) == {"c1": 900, "c2": 800}


def test_finalizing_needs_every_criterion(app, world, show):
    """A sheet with a blank criterion may be saved but not finalized."""
    client, sp = expert(app, 1), show["speakers"][world.p1]
    assert score(client, show, sp, "90", "", "save").status_code == 302
    r = score(client, show, sp, "90", "")
    assert r.status_code == 400 and "成效未评分" in text_of(r)


def test_a_closed_speaker_refuses_late_sheets(app, world, console, show):
    """Once the host closes p1, an expert who had not finalized is told so."""
    admin = console("admin")
    assert (
        post(admin, f"/console/roadshows/{show['roadshow']}/speakers/{show['speakers'][world.p1]}/close").status_code
        == 302
    )
    r = score(expert(app, 2), show, show["speakers"][world.p1], "90", "80")
    assert r.status_code == 409 and "主持人已结束该项目的评分" in text_of(r)


def test_results_appear_once_every_expert_has_finalized(app, world, console, show):
    """Two of three finalized: no score yet; the third: the mean of the weighted totals, ranked first."""
    sp = show["speakers"][world.p1]
    score(expert(app, 1), show, sp, "90", "80")  # 86
    score(expert(app, 2), show, sp, "80", "70")  # 76
    score(expert(app, 3), show, sp, "70.5", "60", "save")
    hall = console("leader")
    row = speaker_row(results(hall, show), sp)
    assert (row["finalized"], row["shown"], row["score"]) == (2, False, None)
    score(expert(app, 3), show, sp, "70.5", "60")  # 66.3
    data = results(hall, show)
    row = speaker_row(data, sp)
    assert row["shown"] and row["score"] == "76.10" and row["rank"] == 1
    assert row["expert_totals"] == ["86.00", "76.00", "66.30"]
    assert [s["id"] for s in data["ranking"]] == [sp]
    page = text_of(hall.get(f"/console/roadshows/{show['roadshow']}/results"))
    assert "76.10" in page and "data-roadshow-results" in page


def test_drop_high_low_follows_the_session(app, world, console):
    """With the session's drop-high-low rule, five finalized sheets give the mean of the middle three."""
    show = build(app, world, drop=True, experts=5)
    sp = show["speakers"][world.p1]
    for n, (c1, c2) in enumerate((("100", "100"), ("90", "90"), ("80", "80"), ("70", "70"), ("0", "0")), start=1):
        assert score(expert(app, n), show, sp, c1, c2).status_code == 302
    assert speaker_row(results(console("admin"), show), sp)["score"] == "80.00"


def test_advancing_moves_the_expert_to_the_next_speaker(app, world, console, show):
    """After the host advances, p2 can be scored and the expert page shows it as the one up."""
    assert post(console("admin"), f"/console/roadshows/{show['roadshow']}/advance").status_code == 302
    client = expert(app, 1)
    page = text_of(client.get(f"/console/roadshows/{show['roadshow']}/score"))
    assert "旱厕改造" in page and "正在路演" in page
    assert score(client, show, show["speakers"][world.p2], "88", "77").status_code == 302


def test_an_expert_sees_only_roadshows_they_sit_on(app, world, show):
    """An expert off the panel: the list is empty, the pages and the JSON are 404."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        users.create_user(
            db.session,
            admin,
            {"username": "outsider", "name": "局外专家", "roles": ["expert"], "password": "outsider-password"},
        )
    client = login(app.test_client(), "outsider", "outsider-password")
    assert "2026 年度书记项目路演评审" not in text_of(client.get("/console/roadshows"))
    for path in ("score", "results", "results.json"):
        assert client.get(f"/console/roadshows/{show['roadshow']}/{path}").status_code == 404
    assert score(client, show, show["speakers"][world.p1], "90", "90").status_code == 404
    assert "2026 年度书记项目路演评审" in text_of(expert(app, 1).get("/console/roadshows"))


def test_only_admins_host(app, world, console, show):
    """A leader reads the host page without its forms and may not advance; a reviewer has no access."""
    leader = console("leader")
    page = text_of(leader.get(f"/console/roadshows/{show['roadshow']}"))
    assert "蜜柚产业项目" in page and "下一个项目" not in page
    assert post(leader, f"/console/roadshows/{show['roadshow']}/advance").status_code == 403
    assert console("reviewer1").get("/console/roadshows").status_code == 403


def test_the_order_is_moved_and_drawn_in_draft(app, world, console):
    """In draft, moving p3 up puts it second; a draw keeps the same speakers and is audited with its seed."""
    show = build(app, world, start=False)
    admin = console("admin")
    url = f"/console/roadshows/{show['roadshow']}"
    assert post(admin, f"{url}/speakers/{show['speakers'][world.p3]}/move", {"step": "-1"}).status_code == 302
    with app.app_context():
        order = db.session.scalars(select(RoadshowSpeaker.entry_id).order_by(RoadshowSpeaker.position)).all()
        assert order == [show["entries"][p] for p in (world.p1, world.p3, world.p2)]
    assert post(admin, f"{url}/draw").status_code == 302
    with app.app_context():
        drawn = db.session.scalars(select(RoadshowSpeaker.entry_id).order_by(RoadshowSpeaker.position)).all()
        entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "roadshow.draw"))
        assert sorted(drawn) == sorted(order) and entry.data["order"] == drawn and entry.data["seed"]


def test_starting_needs_a_full_panel(app, world, console):
    """A session that drops extremes needs five experts: three are refused in Chinese."""
    show = build(app, world, drop=True, experts=3, start=False)
    r = post(console("admin"), f"/console/roadshows/{show['roadshow']}/start")
    assert r.status_code == 409 and "评审专家不足 5 人" in text_of(r)


# Each project's marks (推进, 成效) by expert 1..5; a three-expert roadshow uses the first three.
MARKS = {
    "p1": (("90", "80"), ("80", "70"), ("70.5", "60"), ("99", "99"), ("10", "20")),
    "p2": (("95", "90"), ("85", "85"), ("91", "88"), ("60", "65"), ("100", "100")),
    "p3": (("60", "60"), ("65", "70"), ("50", "55"), ("58", "61"), ("0", "30")),
}


def _score_all(app, world, console, show) -> dict[int, str]:
    """Every expert finalizes every speaker in turn; the host advances and ends. Returns the hall's scores."""
    admin = console("admin")
    for i, name in enumerate(("p1", "p2", "p3")):
        if i:
            assert post(admin, f"/console/roadshows/{show['roadshow']}/advance").status_code == 302
        sp = show["speakers"][getattr(world, name)]
        for n, (c1, c2) in enumerate(MARKS[name][: len(show["experts"])], start=1):
            assert score(expert(app, n), show, sp, c1, c2).status_code == 302
    assert post(admin, f"/console/roadshows/{show['roadshow']}/end").status_code == 302
    return {s["id"]: s["score"] for s in results(admin, show)["speakers"]}


@pytest.mark.parametrize("drop", [False, True], ids=["mean", "drop-high-low"])
def test_the_years_grades_come_from_the_roadshow(app, world, console, drop):
    """Copy, then finalize the session: each project's final score and rank equal the hall's, with either rule."""
    show = build(app, world, drop=drop, experts=5 if drop else 3)
    shown = _score_all(app, world, console, show)
    admin = console("admin")
    assert post(admin, f"/console/roadshows/{show['roadshow']}/copy").status_code == 302
    assert post(admin, f"/console/grading/{show['session']}/finalize").status_code == 302
    hall = {s["id"]: s for s in results(admin, show)["speakers"]}
    assert all(shown.values()) and len(set(shown.values())) == 3
    with app.app_context():
        for pid, sp in show["speakers"].items():
            entry = db.session.get(GradingEntry, show["entries"][pid])
            assert grading.format_score(entry.final_centi) == shown[sp]
            assert entry.rank == hall[sp]["rank"] and entry.expert_count == len(show["experts"])
        ranked = sorted(
            grading.entries_of(db.session, grading.get_session(db.session, show["session"])), key=lambda e: e.rank
        )
        assert [e.grade for e in ranked] == ["特等", "一等", "二等"]


def test_copying_twice_changes_nothing(app, world, console, show):
    """A second copy creates and changes no seat; both runs are audited."""
    _score_all(app, world, console, show)
    admin = console("admin")
    post(admin, f"/console/roadshows/{show['roadshow']}/copy")
    with app.app_context():
        before = sorted(
            db.session.execute(select(GradingScore.seat_id, GradingScore.criterion, GradingScore.tenths)).all()
        )
    r = post(admin, f"/console/roadshows/{show['roadshow']}/copy")
    assert "新增评审安排 0 个,更新评分 0 份" in text_of(admin.get(r.headers["Location"]))
    with app.app_context():
        after = sorted(
            db.session.execute(select(GradingScore.seat_id, GradingScore.criterion, GradingScore.tenths)).all()
        )
        runs = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "roadshow.copy_to_grading")).all()
        assert after == before and len(before) == 18
        assert db.session.scalar(select(func.count()).select_from(PanelSeat)) == 9
        assert [(e.data["seats_created"], e.data["seats_changed"]) for e in runs] == [(9, 9), (0, 0)]


def test_copying_is_refused_when_a_panel_has_an_outsider(app, world, console, show):
    """An expert seated in the session but not at the roadshow would change the grade: the copy is refused."""
    _score_all(app, world, console, show)
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        other = users.create_user(
            db.session,
            admin,
            {"username": "outsider", "name": "局外专家", "roles": ["expert"], "password": "outsider-password"},
        )[0]
        grading.assign_expert(db.session, admin, show["session"], show["entries"][world.p2], other.id)
    r = post(console("admin"), f"/console/roadshows/{show['roadshow']}/copy")
    assert r.status_code == 409 and "局外专家" in text_of(r)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(GradingScore)) == 0


@pytest.mark.both_databases
def test_experts_finalizing_while_the_host_advances_lose_nothing(app, world, show):
    """Two experts finalize p1 at the same moment as the host advances: both sheets count, p2 is up."""
    clients = [expert(app, 1), expert(app, 2), login(app.test_client(), "admin", "admin-password")]
    tokens = [csrf(c) for c in clients]
    sp = show["speakers"][world.p1]
    gate = threading.Barrier(3)

    def run(i: int) -> int:
        client = clients[i]
        url = (
            f"/console/roadshows/{show['roadshow']}/advance"
            if i == 2
            else f"/console/roadshows/{show['roadshow']}/score/{sp}"
        )
        data = (
            {"csrf_token": tokens[i]}
            if i == 2
            else {"csrf_token": tokens[i], "c1": f"{80 + i}", "c2": "70", "action": "finalize"}
        )
        gate.wait()
        return client.post(url, data=data).status_code

    with ThreadPoolExecutor(max_workers=3) as pool:
        codes = list(pool.map(run, range(3)))
    assert codes == [302, 302, 302]
    with app.app_context():
        sheets = db.session.scalars(select(RoadshowSheet).where(RoadshowSheet.speaker_id == sp)).all()
        assert sorted(s.scores["c1"] for s in sheets) == [800, 810]
        assert all(s.finalized_at is not None for s in sheets)
        assert db.session.get(RoadshowSpeaker, show["speakers"][world.p2]).status == "up"
    score(expert(app, 3), show, sp, "82", "70")
    row = speaker_row(results(login(app.test_client(), "leader", "leader-password"), show), sp)
    assert row["finalized"] == 3 and row["score"] == "76.60"


def test_a_speakers_secretary_may_not_sit_on_the_panel(app, world, console):
    """An expert who is p1's secretary is refused a seat while p1 speaks, and p1 is refused while they sit."""
    show = build(app, world, start=False)
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        own = users.create_user(
            db.session,
            admin,
            {"username": "sec-expert", "name": "彭书记", "roles": ["expert", "secretary"], "password": "sec-expert-pw"},
        )[0]
        db.session.get(Project, world.p1).secretary_id = own.id
        db.session.commit()
    client, url = console("admin"), f"/console/roadshows/{show['roadshow']}"
    r = post(client, f"{url}/experts", {"expert_id": str(own.id)})
    assert r.status_code == 400 and "彭书记是路演项目“蜜柚产业项目”的书记,应当回避" in text_of(r)
    assert post(client, f"{url}/speakers/{show['speakers'][world.p1]}/delete").status_code == 302
    assert post(client, f"{url}/experts", {"expert_id": str(own.id)}).status_code == 302
    r = post(client, f"{url}/speakers", {"entry_id": str(show["entries"][world.p1])})
    assert r.status_code == 400 and "“蜜柚产业项目”的书记是本场评审专家,应当回避" in text_of(r)
