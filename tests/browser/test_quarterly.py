"""The quarterly cycle in a real browser: generate the year, mark this quarter's 调度 done, see the dashboard tile change."""

from __future__ import annotations

import re

import pytest

from server import clock
from server.services import quarterly
from tests.browser.helpers import login


@pytest.fixture
def seeded(world):
    """The base world only: the admin builds the schedule in the browser."""
    return world


def test_generate_the_year_then_mark_a_task_done(new_page, live_server, seeded, artifacts_dir):
    """Admin generates the year from 督查 → 季度调度督导, marks this quarter's 调度 done, and the tile says 已完成."""
    q = quarterly.quarter_of(clock.today())
    page = new_page()
    login(page, live_server, "admin", "admin-password")
    page.goto(f"{live_server}/console/dashboard")
    assert page.locator("#quarterly-not-generated").is_visible()

    page.locator("nav").get_by_text("督查", exact=True).click()
    page.get_by_role("link", name="季度调度督导").first.click()
    page.wait_for_url(re.compile(r"/console/quarterly"))
    page.locator("#generate-year").click()
    assert "季度工作安排 12 项" in page.locator(".flash").inner_text()
    assert page.locator("#quarterly-table td[data-task]").count() == 12

    page.locator(f'#quarterly-table tr[data-quarter="{q}"] td[data-task]').first.get_by_role("link").click()
    page.wait_for_url(re.compile(r"/console/quarterly/tasks/\d+$"))
    task_id = int(page.url.rsplit("/", 1)[1])
    assert "调度" in page.locator("h1").inner_text()
    form = page.locator("#done-form")
    form.locator('textarea[name="note"]').fill("召开季度调度会,听取 3 名项目书记汇报")
    form.locator('input[name="document"]').fill("季度调度会议纪要")
    form.get_by_role("button", name="标记完成").click()
    page.wait_for_url(re.compile(rf"/console/quarterly/tasks/{task_id}$"))
    assert page.locator("#task-state").inner_text() == "已完成"
    page.goto(f"{live_server}/console/quarterly")
    assert page.locator(f'td[data-task="{task_id}"]').get_attribute("data-state") == "done"
    page.screenshot(path=str(artifacts_dir / "quarterly-schedule.png"), full_page=True)

    page.goto(f"{live_server}/console/dashboard")
    item = page.locator(f'#quarterly-due li[data-task="{task_id}"]')
    assert item.get_attribute("data-state") == "done" and "已完成" in item.inner_text()
    page.screenshot(path=str(artifacts_dir / "quarterly-tile.png"), full_page=True)
