"""Standing teams in a real browser: create two teams, declare a member's relatives in 江南村, freeze and draw a
round that sends both teams over 永阳镇, and see 江南村 go to the other team."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest

from server import clock
from server.clock import today as today_china
from server.db import db
from server.models import User
from tests.api.test_rounds import BANK, add_inspectors
from tests.browser.helpers import login


@pytest.fixture
def seeded(app, world):
    """build_world plus four inspectors without a home township: 张伟, 李娜, 王强, 刘洋."""
    with app.app_context():
        ids = add_inspectors(world, ["zhangwei", "lina", "wangqiang", "liuyang"])
        for user_id, name in zip(ids, ["张伟", "李娜", "王强", "刘洋"], strict=True):
            db.session.get(User, user_id).name = name
        db.session.commit()
    return SimpleNamespace(world=world, crew=dict(zip(["zhang", "li", "wang", "liu"], ids, strict=True)))


def create_team(page, base: str, name: str, members: list[int], leader: int) -> None:
    """Fill in and submit the new-team form."""
    page.goto(f"{base}/console/teams")
    form = page.locator("form.card", has_text="新建督查组")
    form.locator('input[name="name"]').fill(name)
    for member in members:
        form.locator(f'input[name="member_ids"][value="{member}"]').check()
    form.locator('select[name="leader_id"]').select_option(str(leader))
    form.get_by_role("button", name="创建").click()
    page.wait_for_url(re.compile(r"/console/teams$"))
    assert f"已创建督查组:{name}" in page.content()


def test_conflicted_site_goes_to_the_other_team(new_page, live_server, seeded, monkeypatch, artifacts_dir):
    """李娜 declares relatives in 江南村; a round of both teams gives 江南村 to 第二督查组 and the unit site to 第一督查组."""
    crew, world = seeded.crew, seeded.world
    admin = new_page()
    login(admin, live_server, "admin", "admin-password")
    create_team(admin, live_server, "第一督查组", [crew["zhang"], crew["li"]], crew["zhang"])
    create_team(admin, live_server, "第二督查组", [crew["wang"], crew["liu"]], crew["wang"])

    admin.screenshot(path=str(artifacts_dir / "teams-list.png"), full_page=True)
    admin.get_by_role("link", name="查看和登记回避申报 →").click()
    form = admin.locator("form.card", has_text="登记回避申报")
    form.locator('select[name="user_id"]').select_option(str(crew["li"]))
    form.locator('select[name="kind"]').select_option("relative")
    form.locator('select[name="place"]').select_option(f"village:{world.v1}")
    form.locator('input[name="note"]').fill("姑母一家居住在该村")
    form.get_by_role("button", name="登记").click()
    admin.wait_for_url(re.compile(r"/console/conflicts$"))
    assert "村:永阳镇江南村" in admin.locator("table").inner_text()
    admin.screenshot(path=str(artifacts_dir / "teams-conflicts.png"), full_page=True)

    admin.goto(f"{live_server}/console/rounds")
    new = admin.locator("form", has=admin.locator('input[name="team_ids"]')).first
    new.locator('input[name="name"]').fill("2026年第二季度按组暗访")
    new.locator('select[name="township_ids"]').select_option(str(world.t1))
    for label in ("第一督查组", "第二督查组"):
        new.locator("#round-teams label", has_text=label).locator("input").check()
    new.locator('input[name="sites_per_group"]').fill("1")
    new.locator('input[name="items_per_visit"]').fill("2")
    new.locator('textarea[name="check_items"]').fill("\n".join(BANK))
    new.locator('button[type="submit"]').click()
    admin.wait_for_url(re.compile(r"/console/rounds/\d+$"))
    assert "派出督查组 2 个" in admin.locator("#round-team-list").inner_text()

    tomorrow = today_china() + timedelta(days=1)
    admin.locator('input[name="public_value_source"]').fill("中国福利彩票双色球第2026141期开奖号码")
    admin.locator('input[name="public_value_date"]').fill(tomorrow.isoformat())
    admin.locator("#freeze").click()
    admin.wait_for_url(re.compile(r"/console/rounds/\d+$"))
    assert admin.locator("#round-status").inner_text() == "已冻结"
    assert "1 项回避申报已计入抽取输入" in admin.content()

    # The draw is allowed from the day the source names: the live server runs in this process.
    monkeypatch.setattr(clock, "today", lambda: tomorrow)
    admin.locator('input[name="public_value"]').fill("03 07 12 19 25 31 + 09")
    admin.locator("#draw").click()
    admin.wait_for_url(re.compile(r"/console/rounds/\d+$"))
    assert admin.locator("#round-status").inner_text() == "已抽取"
    rows = admin.locator("#result tr").all_inner_texts()[1:]
    admin.screenshot(path=str(artifacts_dir / "teams-round-result.png"), full_page=True)
    village_row = next(r for r in rows if "江南村" in r)
    site_row = next(r for r in rows if "高新区党群服务中心" in r)
    assert "第二督查组" in village_row and "组长 王强" in village_row
    assert "第一督查组" in site_row and "组长 张伟" in site_row
