"""1+1 蹲点 in a real browser: a liaison cadre on a phone-sized screen logs this week's call from 我的联系项目,
and the leader's workload view then shows that cadre's call done and the contact counted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.db import db
from server.models import Project, User
from server.services import cadres, users
from tests.browser.helpers import login


@pytest.fixture
def cadre(app, world) -> int:
    """胡颖 (role cadre), liaison of p1 (蜜柚产业项目), which has run for a year with no contact logged."""
    with app.app_context():
        s = db.session
        user, _ = users.create_user(
            s,
            s.get(User, world.ids["admin"]),
            {"username": "huying", "name": "胡颖", "roles": ["cadre"], "password": "huying-password"},
        )
        p1 = s.get(Project, world.p1)
        cadres.apply_liaison(s, p1, {"liaison_cadre_id": user.id})
        p1.started_at = datetime.now(UTC) - timedelta(days=365)
        s.commit()
        return user.id


def test_cadre_logs_a_phone_call_and_the_workload_shows_it_done(new_page, live_server, world, cadre, artifacts_dir):
    """Cadre: overdue call → quick form on a 390 px screen → 已完成; leader: the cadre's row counts 1 this month."""
    phone = new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    login(phone, live_server, "huying", "huying-password")
    assert phone.url.endswith("/console/liaison")
    row = phone.locator(f'tr[data-project-id="{world.p1}"]')
    assert row.locator('[data-kind="phone"]').get_attribute("data-state") == "overdue"
    form = phone.locator("form", has=phone.locator('select[name="kind"]'))
    form.get_by_label("方式").select_option(label="电话")
    form.get_by_label("联系情况").fill("电话联络江南村彭建华书记:分拣线本周试运行")
    # The form fits the phone's width: nothing to scroll sideways.
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    form.get_by_role("button", name="保存").click()
    phone.wait_for_url(lambda url: url.endswith("/console/liaison"))
    assert "已记录电话联系" in phone.locator(".flash").inner_text()
    assert row.locator('[data-kind="phone"]').inner_text() == "每周电话联络:已完成"
    phone.screenshot(path=str(artifacts_dir / "cadre-liaison-phone.png"), full_page=True)

    leader = new_page()
    login(leader, live_server, "leader", "leader-password")
    leader.goto(f"{live_server}/console/cadres")
    cells = leader.locator(f'tr[data-cadre-id="{cadre}"] td').all_inner_texts()
    assert cells[:3] == ["胡颖", "1", "1"]
    leader.locator(f'tr[data-cadre-id="{cadre}"]').get_by_role("link", name="查看").click()
    detail = leader.locator("#cadre")
    assert detail.locator(f'tr[data-project-id="{world.p1}"] [data-kind="phone"]').get_attribute("data-state") == "done"
    assert "分拣线本周试运行" in detail.inner_text()
    leader.screenshot(path=str(artifacts_dir / "cadre-workload.png"), full_page=True)
