"""Grades turned into outcomes: 年度考核加分 per organization and 奖补资金 per project, set per session,
shown on the results page and exported as XLSX."""

from __future__ import annotations

import io

from openpyxl import load_workbook

# Load the API package first (see tests/console/test_grading.py).
import server.api  # noqa: F401, I001
from server.db import db
from server.models import GradingEntry, GradingSession, Project
from tests.console.test_grading import _score_everything, post, setup, text_of

__all__ = ["setup"]  # the fixture, imported for these tests

TABLES = {
    "points_特等": "3",
    "points_一等": "2",
    "points_二等": "1.5",
    "points_三等": "",
    "amount_特等": "50000",
    "amount_一等": "30000",
    "amount_二等": "10000",
    "amount_三等": "",
}


def finalized(app, world, console, setup, *, share_org: bool = False):
    """Scores 90/80/70 → 特等 p1, 一等 p2, 二等 p3, finalized; with share_org p2 belongs to p1's organization."""
    if share_org:
        with app.app_context():
            # The entry holds the organization taken in when the session opened: move both.
            org = db.session.get(Project, world.p1).organization_id
            db.session.get(Project, world.p2).organization_id = org
            db.session.get(GradingEntry, setup["entries"][world.p2]).organization_id = org
            db.session.commit()
    _score_everything(app, world, setup)
    client = console("admin")
    assert post(client, f"/console/grading/{setup['session']}/finalize").status_code == 302
    return client


def test_admin_sets_the_tables_and_the_results_show_points_and_money(app, world, console, setup):
    """Tables saved (empty grade = not used); each organization gets its grade's points and its money."""
    client = finalized(app, world, console, setup)
    url = f"/console/grading/{setup['session']}"
    assert post(client, f"{url}/outcomes", TABLES).status_code == 302
    with app.app_context():
        gs = db.session.get(GradingSession, setup["session"])
        assert gs.grade_points == {"特等": 3, "一等": 2, "二等": 1.5}
        assert gs.grade_amounts == {"特等": 50000, "一等": 30000, "二等": 10000}
    page = text_of(client.get(url))
    assert "<td>蜜柚产业项目党支部</td><td>特等</td><td>3</td><td>50000</td>" in page
    assert "<td>非公企业党建党支部</td><td>二等</td><td>1.5</td><td>10000</td>" in page
    assert "奖补资金合计 <strong>90000</strong> 元" in page


def test_an_organization_with_two_projects_gets_its_best_grades_points_and_both_sums(app, world, console, setup):
    """p1 (特等) and p2 (一等) of one organization: 3 points (not 5), 80000 yuan."""
    client = finalized(app, world, console, setup, share_org=True)
    post(client, f"/console/grading/{setup['session']}/outcomes", TABLES)
    page = text_of(client.get(f"/console/grading/{setup['session']}"))
    assert "<td>蜜柚产业项目党支部</td><td>特等、一等</td><td>3</td><td>80000</td>" in page


def test_the_outcomes_workbook_opens_with_both_sheets(app, world, console, setup):
    """The XLSX holds 年度考核加分 per organization and 奖补资金 per project with the total."""
    client = finalized(app, world, console, setup)
    post(client, f"/console/grading/{setup['session']}/outcomes", TABLES)
    r = client.get(f"/console/grading/{setup['session']}/outcomes.xlsx")
    assert r.status_code == 200
    wb = load_workbook(io.BytesIO(r.data))
    assert wb.sheetnames == ["年度考核加分", "奖补资金", "导出说明"]
    orgs = [[c.value for c in row] for row in wb["年度考核加分"].iter_rows(min_row=1)]
    assert orgs == [
        ["党组织", "项目等次", "年度考核加分", "奖补资金(元)"],
        ["蜜柚产业项目党支部", "特等", 3, 50000],
        ["旱厕改造党支部", "一等", 2, 30000],
        ["非公企业党建党支部", "二等", 1.5, 10000],
    ]
    money = [[c.value for c in row] for row in wb["奖补资金"].iter_rows(min_row=2)]
    assert [(m[1], m[4], m[5]) for m in money] == [
        ("蜜柚产业项目", "特等", 50000),
        ("旱厕改造", "一等", 30000),
        ("非公企业党建", "二等", 10000),
        ("合计", None, 90000),
    ]


def test_bad_numbers_are_refused_in_chinese(app, world, console, setup):
    """Points with two decimals or text, or money that is not whole yuan: 400, nothing stored."""
    client = finalized(app, world, console, setup)
    url = f"/console/grading/{setup['session']}/outcomes"
    r = post(client, url, {**TABLES, "points_一等": "1.25"})
    assert r.status_code == 400 and "最多一位小数" in text_of(r)
    r = post(client, url, {**TABLES, "amount_特等": "五万"})
    assert r.status_code == 400 and "奖补资金应为" in text_of(r)
    with app.app_context():
        gs = db.session.get(GradingSession, setup["session"])
        assert gs.grade_points is None and gs.grade_amounts is None


def test_a_leader_downloads_but_cannot_set_tables(app, world, console, setup):
    """Leaders read the results and the XLSX; setting the tables is the admin's: 403."""
    admin = finalized(app, world, console, setup)
    post(admin, f"/console/grading/{setup['session']}/outcomes", TABLES)
    leader = console("leader")
    assert post(leader, f"/console/grading/{setup['session']}/outcomes", TABLES).status_code == 403
    assert leader.get(f"/console/grading/{setup['session']}/outcomes.xlsx").status_code == 200


def test_no_workbook_before_finalizing(app, world, console, setup):
    """While scoring, the export is refused with 409 (the grades are not fixed yet)."""
    client = console("admin")
    post(client, f"/console/grading/{setup['session']}/outcomes", TABLES)
    r = client.get(f"/console/grading/{setup['session']}/outcomes.xlsx")
    assert r.status_code == 409 and "定等后" in text_of(r)
