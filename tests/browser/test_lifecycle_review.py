"""一报二审三定 in a real browser: a secretary applies from the console, the reporting unit reviews it from its
queue, the department approves it with a score, and the project's public page then shows its targets."""

from __future__ import annotations

import re

import pytest

from tests.browser.helpers import login
from tests.factories import build_lifecycle

TARGET = "村集体年收入达到10万元"


@pytest.fixture
def seeded(app, world):
    """build_world plus party organizations, their secretaries and reporting-unit reviewers (unit1 for org1)."""
    with app.app_context():
        return build_lifecycle(world)


def test_application_reviewed_and_approved_in_the_console(new_page, live_server, seeded, artifacts_dir):
    """Secretary applies and submits; unit1 approves from its queue; admin approves with a score; /p/<id> is public."""
    secretary = new_page()
    login(secretary, live_server, "secretary", "secretary-password")
    assert secretary.url.endswith("/console/my-projects")
    secretary.get_by_role("link", name="申报新项目").click()
    form = secretary.locator("main form")
    form.locator('input[name="title"]').fill("蜜柚合作社增收项目")
    form.get_by_label("重点性").check()
    form.locator('textarea[name="problem"]').fill("村集体经济薄弱,年收入不足5万元")
    form.locator('select[name="village_ids"]').select_option(str(seeded.v1))
    form.get_by_label("项目目标").fill(TARGET)
    form.get_by_label("实施步骤").fill("成立合作社 | 2026-03-31 | 李书记\n建成加工厂 | 2026-09-30")
    for i, person in enumerate(("张镇长", "李书记", "王干部", "驻村工作队")):
        form.locator(f'input[name="responsible_{i}"]').fill(person)
    form.get_by_role("button", name="提交申报").click()
    secretary.wait_for_url(re.compile(r"/console/projects/\d+/lifecycle$"))
    project_id = int(re.search(r"/projects/(\d+)/", secretary.url).group(1))
    assert "待归口单位审核" in secretary.locator("h1").inner_text()

    unit = new_page()
    login(unit, live_server, "unit1", "unit1-password")
    assert unit.url.endswith("/console/applications")
    row = unit.locator(f'tr[data-project-id="{project_id}"]')
    assert "蜜柚合作社增收项目" in row.inner_text()
    row.get_by_role("link", name="审核").click()
    approve = unit.locator('form[data-action="unit_approve"]')
    approve.locator("textarea").fill("同意上报,目标明确")
    approve.get_by_role("button", name="归口单位审核通过").click()
    unit.wait_for_url(re.compile(r"/lifecycle$"))
    assert "待组织部审定" in unit.locator("h1").inner_text()

    admin = new_page()
    login(admin, live_server, "admin", "admin-password")
    admin.goto(f"{live_server}/console/applications")
    admin.locator(f'tr[data-project-id="{project_id}"]').get_by_role("link", name="审核").click()
    decide = admin.locator('form[data-action="approve"]')
    decide.get_by_label("组织部预评分").fill("90")
    decide.locator("textarea").fill("同意立项")
    decide.get_by_role("button", name="审定立项").click()
    admin.wait_for_url(re.compile(r"/lifecycle$"))
    assert "已立项" in admin.locator("h1").inner_text()
    history = admin.locator("#history").inner_text()
    assert "同意上报,目标明确" in history and "90" in history
    # Keep the decided project's page (application, history, next moves) as a test artifact.
    shot = artifacts_dir / "console-project-lifecycle.png"
    shot.unlink(missing_ok=True)
    admin.screenshot(path=str(shot), full_page=True)
    assert shot.exists()

    public = new_page()
    assert public.goto(f"{live_server}/p/{project_id}").status == 200
    assert TARGET in public.locator("body").inner_text()
