"""路演评审 in a real browser: the host starts the roadshow, an expert scores on a 375 px phone screen, and
the hall's results page, already open, shows the score by itself once every expert has finalized."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from server.db import db
from server.models import User
from server.services.grading import roadshow
from tests.browser.helpers import login
from tests.console.test_roadshow import build

PHONE = {"width": 375, "height": 740}


@pytest.fixture
def seeded(app, world):
    """A roadshow of p1, p2, p3 in draft with three experts, in an opened 2026 session (推进 60 / 成效 40)."""
    return build(app, world, start=False)


def test_host_starts_expert_scores_on_a_phone_and_the_hall_sees_it(
    app, world, browser, new_page, live_server, seeded, artifacts_dir
):
    """Admin starts; the results page waits; two experts finalize, expert1 scores at 375 px and is offered the
    next speaker when the host advances; the hall's page shows the score without a reload."""
    host = new_page()
    login(host, live_server, "admin", "admin-password")
    host.goto(f"{live_server}/console/roadshows")
    host.get_by_role("link", name="2026 年度书记项目路演评审").click()
    host.get_by_role("button", name="开始路演").click()
    host.wait_for_url(re.compile(r"/console/roadshows/\d+$"))
    assert "进行中" in host.locator("h1").inner_text()

    hall = new_page()
    login(hall, live_server, "leader", "leader-password")
    hall.goto(f"{live_server}/console/roadshows/{seeded['roadshow']}/results")
    row = hall.locator(f'#results tr[data-speaker-id="{seeded["speakers"][world.p1]}"]')
    expect(row.locator("td.score")).to_have_text("—")

    with app.app_context():
        for n, (c1, c2) in ((2, ("80", "70")), (3, ("70.5", "60"))):
            expert = db.session.scalar(select(User).where(User.username == f"expert{n}"))
            roadshow.finalize_sheet(
                db.session, expert, seeded["roadshow"], seeded["speakers"][world.p1], {"c1": c1, "c2": c2}
            )

    context = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    phone = context.new_page()
    phone.on("dialog", lambda dialog: dialog.accept())
    try:
        login(phone, live_server, "expert1", "expert1-password")
        phone.goto(f"{live_server}/console/roadshows")
        phone.get_by_role("link", name="进入评分").click()
        sheet = phone.locator("form.sheet")
        expect(sheet.locator("h2")).to_contain_text("蜜柚产业项目")
        sheet.get_by_label("推进(权重 60%)").fill("90")
        sheet.get_by_label("成效(权重 40%)").fill("80")
        submit = sheet.get_by_role("button", name="提交最终评分")
        box = submit.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 120, box
        # Laid out for the phone: nothing wider than the screen, so no sideways scrolling.
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        phone.screenshot(path=str(artifacts_dir / "console-roadshow-phone.png"), full_page=True)
        submit.click()
        expect(phone.locator("main > .flash")).to_contain_text("评分已提交并锁定")
        expect(phone.locator("form.sheet")).to_contain_text("加权总分 86.00")
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        # The host puts the next speaker up: the phone, polling, offers to reload onto it.
        host.get_by_role("button", name="下一个项目").click()
        expect(phone.locator("#roadshow-moved")).to_be_visible(timeout=15_000)
        phone.locator("#roadshow-moved").get_by_role("link", name="点此刷新").click()
        expect(phone.locator("form.sheet h2").first).to_contain_text("旱厕改造")
    finally:
        context.close()

    # No reload: console.js polls results.json and redraws the table and the ranking.
    expect(row.locator("td.score")).to_have_text("76.10", timeout=15_000)
    expect(hall.locator("#ranking li").first).to_contain_text("第 1 名 蜜柚产业项目 76.10")
