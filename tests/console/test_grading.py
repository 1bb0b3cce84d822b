"""The console's grading pages: sessions, panels, finalizing, the assessment XLSX, warnings,
notices, and the experts' own scoring pages with who may see what."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

# Load the API package first: services.photos imports api.validation, whose package imports
# services that need services.photos complete (the app factory loads them in this order too).
import server.api  # noqa: F401, I001
from server.db import db
from server.models import GradingScore, PanelSeat, Project, PublicNotice, User, WeakOrgWarning
from server.services import grading, projects, users
from tests.console.conftest import csrf, login

CRITERIA_TEXT = "推进 60\n成效 40"


def post(client, url: str, data: dict | None = None, **kw):
    """POST a console form with the session's CSRF token."""
    return client.post(url, data={"csrf_token": csrf(client), **(data or {})}, **kw)


def text_of(response) -> str:
    """The response body as text."""
    return response.get_data(as_text=True)


@pytest.fixture
def setup(app, world):
    """An opened 2026 session with organizations, three experts seated on p1 and p2, expert3 on p1 only."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        for pid in (world.p1, world.p2, world.p3):
            project = db.session.get(Project, pid)
            project.organization_id = projects.create_organization(
                db.session, admin, {"name": f"{project.title}党支部"}
            ).id
        db.session.commit()
        experts = {}
        for name in ("expert1", "expert2", "expert3"):
            experts[name] = users.create_user(
                db.session,
                admin,
                {"username": name, "name": f"专家{name[-1]}", "roles": ["expert"], "password": f"{name}-password"},
            )[0].id
        gs = grading.create_session(
            db.session,
            admin,
            {
                "year": 2026,
                "criteria": [{"name": "推进", "weight": 60}, {"name": "成效", "weight": 40}],
                "quota_mode": "count",
                "quotas": {"特等": 1, "一等": 1, "二等": 1, "三等": 0},
            },
        )
        grading.open_session(db.session, admin, gs.id)
        entries = {e.project_id: e.id for e in grading.entries_of(db.session, gs)}
        seats = {}
        for name, eid in experts.items():
            for pid in (world.p1, world.p2) if name != "expert3" else (world.p1,):
                seats[name, pid] = grading.assign_expert(db.session, admin, gs.id, entries[pid], eid).id
        return {"session": gs.id, "entries": entries, "seats": seats, "experts": experts}


def expert(app, name: str):
    """A test client logged in as one of the setup's experts."""
    return login(app.test_client(), name, f"{name}-password")


def test_an_expert_lists_only_their_own_projects(app, world, setup):
    """expert3 sits on p1's panel only: p2 is not on their list."""
    page = text_of(expert(app, "expert3").get("/console/scoring"))
    assert "蜜柚产业项目" in page and "旱厕改造" not in page


def test_an_expert_cannot_open_another_experts_sheet(app, world, setup):
    """expert3 asking for expert1's seat gets a 404."""
    seat = setup["seats"]["expert1", world.p1]
    assert expert(app, "expert3").get(f"/console/scoring/{seat}").status_code == 404


def test_an_expert_cannot_save_into_another_experts_sheet(app, world, setup):
    """Posting scores to another expert's seat is a 404 and stores nothing."""
    seat = setup["seats"]["expert1", world.p1]
    r = post(expert(app, "expert3"), f"/console/scoring/{seat}", {"c1": "90", "c2": "90"})
    assert r.status_code == 404
    with app.app_context():
        assert db.session.scalar(select(GradingScore).where(GradingScore.seat_id == seat)) is None


def test_an_expert_scores_a_project(app, world, setup):
    """Saved scores are stored in tenths and the page shows the weighted total (90×60% + 80.5×40% = 86.20)."""
    client = expert(app, "expert1")
    seat = setup["seats"]["expert1", world.p1]
    r = post(client, f"/console/scoring/{seat}", {"c1": "90", "c2": "80.5", "comment": "特色鲜明"})
    assert r.status_code == 302
    assert "86.20" in text_of(client.get(f"/console/scoring/{seat}"))
    with app.app_context():
        assert {s.criterion: s.tenths for s in db.session.get(PanelSeat, seat).scores} == {"c1": 900, "c2": 805}


def test_a_bad_score_is_shown_in_chinese(app, world, setup):
    """A score above 100 is refused with the criterion named, and the typed values stay in the form."""
    seat = setup["seats"]["expert1", world.p1]
    r = post(expert(app, "expert1"), f"/console/scoring/{seat}", {"c1": "120", "c2": "80"})
    assert r.status_code == 400
    assert "推进:分数“120”应在 0 到 100 之间" in text_of(r) and 'value="120"' in text_of(r)


def test_an_expert_has_no_staff_pages(app, world, setup):
    """The grading administration is not an expert's: 403."""
    assert expert(app, "expert1").get("/console/grading").status_code == 403


def test_an_expert_lands_on_their_scoring_page(app, world, setup):
    """The console's start page sends an expert to 专家评分."""
    r = expert(app, "expert1").get("/console/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/scoring")


def test_a_reviewer_has_no_access(app, world, console, setup):
    """Reviewers neither see the grading entry nor open its pages."""
    client = console("reviewer1")
    assert "评分与考核" not in text_of(client.get("/console/visits"))
    for path in (
        "/console/grading",
        f"/console/grading/{setup['session']}",
        "/console/grading/warnings",
        "/console/grading/notices",
    ):
        assert client.get(path).status_code == 403, path


def test_a_leader_reads_without_forms(app, world, console, setup):
    """Leaders see the session with its panels but no assign or finalize forms."""
    page = text_of(console("leader").get(f"/console/grading/{setup['session']}"))
    assert "专家1" in page and "安排专家" not in page and "定等</button>" not in page


def test_a_leader_cannot_finalize(app, world, console, setup):
    """A leader's POST is a 403."""
    assert post(console("leader"), f"/console/grading/{setup['session']}/finalize").status_code == 403


def test_admin_creates_and_configures_a_session(app, world, console):
    """A new year starts in draft; criteria typed as lines are saved with their weights."""
    client = console("admin")
    r = post(client, "/console/grading", {"year": "2027"})
    assert r.status_code == 302
    sid = int(re.search(r"/grading/(\d+)", r.headers["Location"]).group(1))
    r = post(
        client,
        f"/console/grading/{sid}/settings",
        {
            "title": "2027 年度评审",
            "criteria": CRITERIA_TEXT,
            "quota_mode": "percent",
            "quota_特等": "5",
            "quota_一等": "20",
            "quota_二等": "40",
            "quota_三等": "35",
            "deduction_points": "3",
        },
    )
    assert r.status_code == 302
    with app.app_context():
        gs = grading.get_session(db.session, sid)
        assert [(c["name"], c["weight"]) for c in gs.criteria] == [("推进", 60), ("成效", 40)]
        assert gs.deduction_points == 3


def test_weights_not_summing_to_100_are_refused(app, world, console):
    """The settings form shows the sum and keeps what was typed."""
    client = console("admin")
    sid = int(
        re.search(r"/grading/(\d+)", post(client, "/console/grading", {"year": "2027"}).headers["Location"]).group(1)
    )
    r = post(
        client,
        f"/console/grading/{sid}/settings",
        {"title": "评审", "criteria": "推进 60\n成效 30", "quota_mode": "percent"},
    )
    assert r.status_code == 400 and "各项权重之和应为 100,现为 90" in text_of(r) and "成效 30" in text_of(r)


def test_finalizing_with_missing_scores_is_refused(app, world, console, setup):
    """Nobody has scored yet: finalizing answers 409 with the reason in Chinese."""
    r = post(console("admin"), f"/console/grading/{setup['session']}/finalize")
    assert r.status_code == 409 and "完成评分的专家不足 3 人" in text_of(r)


def _score_everything(app, world, setup) -> None:
    """Three experts score all three projects (p3 gets expert3 seated as well): 90 / 80 / 70."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        sid, entries = setup["session"], setup["entries"]
        seats = dict(setup["seats"])
        seats["expert3", world.p2] = grading.assign_expert(
            db.session, admin, sid, entries[world.p2], setup["experts"]["expert3"]
        ).id
        for name in ("expert1", "expert2", "expert3"):
            seats[name, world.p3] = grading.assign_expert(
                db.session, admin, sid, entries[world.p3], setup["experts"][name]
            ).id
        for (name, pid), seat in seats.items():
            value = {world.p1: "90", world.p2: "80", world.p3: "70"}[pid]
            grading.save_scores(
                db.session, db.session.get(User, setup["experts"][name]), seat, {"c1": value, "c2": value}, ""
            )


def test_the_assessment_table_downloads_after_finalizing(app, world, console, setup):
    """The XLSX has one row per project with score, grade and bottom flag, best first."""
    _score_everything(app, world, setup)
    client = console("admin")
    assert post(client, f"/console/grading/{setup['session']}/finalize").status_code == 302
    assert "下载年度考核表" in text_of(client.get(f"/console/grading/{setup['session']}"))
    r = client.get(f"/console/grading/{setup['session']}/assessment.xlsx")
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.data))["2026年度考核"]
    rows = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    assert [(r[1], r[5], r[6], r[7]) for r in rows] == [
        ("蜜柚产业项目", "90.00", "特等", None),
        ("旱厕改造", "80.00", "一等", None),
        ("非公企业党建", "70.00", "二等", "是"),
    ]


def test_an_expert_sees_the_result_once_finalized(app, world, console, setup):
    """After finalizing, the sheet shows the final score and grade and no longer accepts scores."""
    _score_everything(app, world, setup)
    post(console("admin"), f"/console/grading/{setup['session']}/finalize")
    client = expert(app, "expert1")
    seat = setup["seats"]["expert1", world.p1]
    page = text_of(client.get(f"/console/scoring/{seat}"))
    assert "最终得分 <strong>90.00</strong>" in page and "特等" in page
    assert post(client, f"/console/scoring/{seat}", {"c1": "10", "c2": "10"}).status_code == 409


def test_admin_lists_a_weak_organization(app, world, console, setup):
    """A warning is listed with a deadline three months after the listing date."""
    with app.app_context():
        org_id = db.session.get(Project, world.p1).organization_id
    r = post(
        console("admin"),
        "/console/grading/warnings",
        {"organization_id": str(org_id), "reason": "推进不力", "listed_on": "2026-03-31"},
    )
    assert r.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(WeakOrgWarning.deadline)).isoformat() == "2026-06-30"


def test_admin_issues_a_notice_of_200_yuan(app, world, console, setup):
    """A 通报 is stored with its 200-yuan deduction and listed on the notices page."""
    with app.app_context():
        org_id = db.session.get(Project, world.p1).organization_id
    client = console("admin")
    r = post(
        client,
        "/console/grading/notices",
        {"organization_id": str(org_id), "reason": "弄虚作假", "secretary_id": str(world.ids["secretary"])},
    )
    assert r.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(PublicNotice.deduction_yuan)) == 200
    assert "弄虚作假" in text_of(client.get("/console/grading/notices"))


def test_admin_can_create_an_expert_account(app, world, console):
    """The user form offers the expert role, and the new expert can sign in."""
    post(
        console("admin"),
        "/console/users",
        {"name": "周专家", "username": "zhou", "roles": ["expert"], "password": "zhou-password"},
    )
    assert login(app.test_client(), "zhou", "zhou-password").get("/console/scoring").status_code == 200
