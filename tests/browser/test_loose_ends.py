"""Loose ends in a real browser: the public page /p/<id> on a 375 px phone (status, step progress, public
answers, dates on one line, no sideways scroll), and a secretary handing in the 月报 from the console."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.db import db
from server.models import Project, User
from server.services import feedback, projects
from tests.browser.helpers import login
from tests.factories import Api, now_iso, uid

# For every element of class "date": does it sit on one line (one client rect, no taller than a line)?
ONE_LINE = """() => [...document.querySelectorAll('.date')].map(el => {
  const rects = el.getClientRects();
  const line = parseFloat(getComputedStyle(el).lineHeight) || parseFloat(getComputedStyle(el).fontSize) * 1.6;
  return {text: el.innerText, rects: rects.length, tall: el.getBoundingClientRect().height > line * 1.5};
})"""


@pytest.fixture
def public_project(app, client, world) -> int:
    """p1 with long step names (one done), a long progress note, and one public and one private answer."""
    with app.app_context():
        s = db.session
        admin = s.get(User, world.ids["admin"])
        projects.update_project(
            s,
            admin,
            world.p1,
            {
                "steps": [
                    {"name": "成立蜜柚种植专业合作社并完成工商登记", "deadline": "2026-03-31", "status": "已完成"},
                    {"name": "修建灌溉水渠一千二百米,配套建设蓄水池两座", "deadline": "2026-06-30"},
                    {"name": "采购蜜柚苗三万株并组织党员示范户带头种植", "deadline": "2026-09-30"},
                ],
                "responsible": {"主管领导": "永阳镇党委副书记 刘强", "牵头书记": "江南村党支部书记 彭建华"},
            },
        )
    villager = Api(client, world.tokens["villager"])
    ids = []
    for text in ("水渠什么时候修到我们组?", "请问苗子怎么分配"):
        body = {"client_id": uid(), "sent_at": now_iso(), "rating": "基本满意", "category": "建议", "text": text}
        r = villager.post(f"/api/v1/public/projects/{world.p1}/feedback", body)
        assert r.status_code == 201, r.get_json()
        ids.append(r.get_json()["id"])
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        answer = "水渠第二段预计六月底前通到三组,届时在公示栏公布具体施工时间,欢迎群众监督。"
        feedback.reply(db.session, admin, ids[0], {"text": answer, "status": "processing", "public": True})
        feedback.reply(db.session, admin, ids[1], {"text": "已电话联系您说明", "status": "resolved"})
    return world.p1


def test_public_page_reads_well_on_a_375px_phone(new_page, live_server, public_project, artifacts_dir):
    """Status stages, 1/3 steps with the current one, the public answer only; dates on one line, no sideways scroll."""
    phone = new_page()
    phone.set_viewport_size({"width": 375, "height": 812})
    phone.goto(f"{live_server}/p/{public_project}")
    stages = phone.locator("#project-status li")
    assert stages.all_inner_texts() == ["立项", "实施中", "已验收"]
    assert phone.locator('#project-status li[aria-current="step"]').inner_text() == "实施中"
    progress = phone.locator("#progress").inner_text()
    assert "已完成 1 / 3 步" in progress and "当前:修建灌溉水渠" in progress
    replies = phone.locator("#replies").inner_text()
    assert "水渠第二段预计六月底前通到三组" in replies and "已电话联系您说明" not in replies
    assert "水渠什么时候修到我们组" not in phone.content()
    dates = phone.evaluate(ONE_LINE)
    assert len(dates) >= 4  # three step deadlines, the current step's, the answer's date
    assert [d for d in dates if d["rects"] != 1 or d["tall"]] == []
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    phone.screenshot(path=str(artifacts_dir / "public-page-375.png"), full_page=True)


@pytest.fixture
def reporting_secretary(app, world) -> int:
    """The world's secretary answers for p1, which started forty days ago (reports are owed)."""
    with app.app_context():
        p1 = db.session.get(Project, world.p1)
        p1.secretary_id = world.ids["secretary"]
        p1.started_at = datetime.now(UTC) - timedelta(days=40)
        db.session.commit()
    return world.p1


def test_secretary_hands_in_the_monthly_report_from_the_console(
    new_page, live_server, reporting_secretary, artifacts_dir
):
    """我的项目 → 填写月报 → save a draft → hand it in (confirmed) → the report is listed as 已提交 and read-only."""
    page = new_page()
    login(page, live_server, "secretary", "secretary-password")
    page.goto(f"{live_server}/console/my-projects")
    page.locator(f'tr[data-project-id="{reporting_secretary}"]').get_by_role("link", name="填写月报").click()
    form = page.locator("#report-form")
    month = form.locator('input[name="month"]').get_attribute("value")
    form.get_by_label("本月工作进展").fill("合作社完成注册,水渠开挖 300 米")
    form.get_by_role("button", name="保存草稿").click()
    assert f"{month} 月报草稿已保存" in page.locator(".flash").inner_text()
    assert page.locator("#report-form").get_by_label("本月工作进展").input_value() == "合作社完成注册,水渠开挖 300 米"
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#report-form").get_by_role("button", name="提交月报").click()
    page.wait_for_load_state()
    assert f"{month} 月报已提交" in page.locator(".flash").inner_text()
    report = page.locator("#report-form")
    assert "已提交" in report.locator(".badge").inner_text() and "水渠开挖 300 米" in report.inner_text()
    assert report.locator("textarea").count() == 0
    page.screenshot(path=str(artifacts_dir / "secretary-report.png"), full_page=True)
