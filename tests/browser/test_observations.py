"""观摩 in a real browser: the admin plans an event with a route, a reviewer scores on a 375 px phone screen,
the admin closes it, and the ranking shows the places and the observations that came out of it."""

from __future__ import annotations

import re

import pytest

from server import clock
from tests.browser.helpers import login

PHONE = {"width": 375, "height": 812}


@pytest.fixture
def seeded(world):
    """The base world: 蜜柚产业项目 (永阳镇), 旱厕改造 (桐坪镇), 非公企业党建, reviewer1 of 永阳镇."""
    return world


def test_event_planned_scored_on_a_phone_closed_and_ranked(new_page, live_server, seeded, artifacts_dir):
    """Plan with a two-stop route → start → score at 375 px (no sideways scrolling) → close → ranking + observations."""
    admin = new_page()
    login(admin, live_server, "admin", "admin-password")
    admin.goto(f"{live_server}/console/observations")
    admin.get_by_role("link", name="新建观摩活动").click()
    form = admin.locator("main form")
    form.locator('select[name="kind"]').select_option("quarterly")
    form.locator('input[name="title"]').fill("2026年第四季度书记项目观摩")
    form.locator('input[name="held_on"]').fill(clock.today().isoformat())
    form.get_by_label("第 1 站项目").select_option(str(seeded.p1))
    form.get_by_label("第 1 站计划时间").fill("09:30")
    form.get_by_label("第 2 站项目").select_option(str(seeded.p3))
    form.get_by_label("第 2 站计划时间").fill("11:00")
    form.get_by_role("checkbox", name="reviewer1").check()
    form.get_by_role("checkbox", name="管理员").check()
    form.locator('textarea[name="outside_scoring"]').fill("王建国 永阳镇党委书记")
    form.get_by_role("button", name="建立观摩活动").click()
    admin.wait_for_url(re.compile(r"/console/observations/\d+$"))
    event_id = int(admin.url.rsplit("/", 1)[1])
    assert "计划中" in admin.locator("h1").inner_text()
    admin.get_by_role("button", name="开始观摩(开放现场评分)").click()
    assert "进行中" in admin.locator("h1").inner_text()

    phone = new_page()
    phone.set_viewport_size(PHONE)
    login(phone, live_server, "reviewer1", "reviewer1-password")
    phone.goto(f"{live_server}/console/observations/{event_id}/score")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    cards = phone.locator(".stop-card")
    assert cards.count() == 2 and "蜜柚产业项目" in cards.nth(0).inner_text()
    cards.nth(0).get_by_label("得分(0–100)").fill("92")
    cards.nth(0).get_by_label("评语").fill("公示栏规范,群众知晓率高")
    cards.nth(1).get_by_label("得分(0–100)").fill("78")
    save = phone.get_by_role("button", name="保存评分")
    assert save.bounding_box()["width"] <= PHONE["width"]
    save.click()
    assert "评分已保存" in phone.locator(".flash").inner_text()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot(path=str(artifacts_dir / "observation_score_375.png"), full_page=True)

    # The admin enters the outside participant's sheet, then closes the event.
    admin.goto(f"{live_server}/console/observations/{event_id}/score")
    admin.locator('select[name="participant"]').select_option(label="王建国(永阳镇党委书记)")
    admin.get_by_role("button", name="切换").click()
    admin.locator(".stop-card").nth(1).get_by_label("得分(0–100)").fill("84")
    admin.get_by_role("button", name="保存评分").click()
    admin.goto(f"{live_server}/console/observations/{event_id}")
    admin.get_by_role("button", name="结束观摩并锁定评分").click()
    admin.wait_for_url(re.compile(rf"/console/observations/{event_id}/ranking$"))
    rows = admin.locator("#ranking tr")
    assert "蜜柚产业项目" in rows.nth(1).inner_text() and "92.00" in rows.nth(1).inner_text()
    assert "非公企业党建" in rows.nth(2).inner_text() and "81.00" in rows.nth(2).inner_text()
    observations = admin.locator("#observations").inner_text()
    assert "蜜柚产业项目" in observations and "好" in observations and "较好" in observations
    admin.screenshot(path=str(artifacts_dir / "observation_ranking.png"), full_page=True)

    # The project's own page lists the observation the event wrote.
    admin.locator("#observations").get_by_role("link", name="蜜柚产业项目").click()
    assert "公示栏规范" in admin.locator("#observations").inner_text()
