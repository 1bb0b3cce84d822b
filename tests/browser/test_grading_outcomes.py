"""Grades turned into outcomes in a real browser: the admin sets points and money per grade on a finalized
session, reads each organization's figures and downloads the workbook (issue 18 §5)."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

# Load the API package first (see tests/console/test_grading.py).
import server.api  # noqa: F401, I001
from tests.browser.helpers import login
from tests.console.conftest import login as console_login
from tests.console.test_grading import _score_everything, post, setup  # noqa: F401 - setup is a fixture


@pytest.fixture
def seeded(app, world, setup):  # noqa: F811
    """Scores 90/80/70 → 特等 p1, 一等 p2, 二等 p3, finalized."""
    _score_everything(app, world, setup)
    client = console_login(app.test_client(), "admin", "admin-password")
    assert post(client, f"/console/grading/{setup['session']}/finalize").status_code == 302
    return setup


def test_admin_sets_points_and_money_and_downloads_the_table(new_page, live_server, seeded, artifacts_dir, tmp_path):
    """Points 3/2/1.5 and 50000/30000/10000 yuan: the organizations' rows, the total and the XLSX agree."""
    page = new_page()
    login(page, live_server, "admin", "admin-password")
    page.goto(f"{live_server}/console/grading/{seeded['session']}#outcomes")
    form = page.locator("#outcome-tables")
    for grade, points, amount in (("特等", "3", "50000"), ("一等", "2", "30000"), ("二等", "1.5", "10000")):
        form.get_by_label(f"{grade}加分").fill(points)
        form.get_by_label(f"{grade}奖补资金").fill(amount)
    form.get_by_role("button", name="保存加分与奖补标准").click()
    page.wait_for_load_state()

    rows = page.locator("#org-outcomes tbody tr")
    assert rows.count() == 3
    first = rows.filter(has_text="蜜柚产业项目党支部").inner_text()
    assert "特等" in first and "3" in first and "50000" in first
    assert "90000" in page.get_by_text("奖补资金合计").inner_text()
    page.screenshot(path=str(artifacts_dir / "grading-outcomes.png"), full_page=True)

    with page.expect_download() as info:
        page.get_by_role("link", name="下载考核加分与奖补资金(XLSX)").click()
    path = tmp_path / "outcomes.xlsx"
    info.value.save_as(path)
    workbook = load_workbook(path)
    cells = [c for sheet in workbook.worksheets for row in sheet.iter_rows(values_only=True) for c in row]
    assert "蜜柚产业项目党支部" in cells and 50000 in cells and 90000 in cells
