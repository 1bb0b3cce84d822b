"""The start of a year in a real browser: the department imports its approved project list (立项名单),
previews it, confirms, and finds the projects in the list with their levels."""

from __future__ import annotations

import re

import pytest

from server.db import db
from server.models import User
from server.services import projects
from tests.browser.helpers import login

LIST_CSV = (
    "年度,项目名称,党组织,层级,领域,必选/自选,类别,项目书记,村编码,单位地点编码\n"
    "2026,江南村“红色代办”便民服务,江南村党支部,村级,农村,自选,创新性,secretary,360821100201,\n"
    "2026,基层党建“第三方”满意度测评,永阳镇党委,县委书记领办,农村,必选,重点性,,360821100201、360821103201,\n"
)


@pytest.fixture
def organizations(app, world):
    """The two organizations the list names."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        for name in ("江南村党支部", "永阳镇党委"):
            projects.create_organization(db.session, admin, {"name": name, "township_id": world.t1})


def test_import_the_project_list_and_filter_by_level(new_page, live_server, organizations, tmp_path, artifacts_dir):
    """Upload → preview (nothing written) → confirm → the list shows both, and the level filter finds each."""
    path = tmp_path / "立项名单.csv"
    path.write_text(LIST_CSV, encoding="utf-8-sig")
    page = new_page()
    login(page, live_server, "admin", "admin-password")
    page.goto(f"{live_server}/console/projects")
    page.get_by_role("link", name="导入立项名单").click()
    page.locator('input[name="file"]').set_input_files(str(path))
    page.get_by_role("button", name="上传并预览").click()
    assert "确认后将处理 新增项目 2 个,更新 0 个" in page.locator("main").inner_text()
    page.get_by_role("button", name="确认导入").click()
    page.wait_for_url(re.compile(r"/console/projects$"))
    assert "导入完成:新增项目 2 个" in page.locator("main").inner_text()

    page.locator('select[name="level"]').select_option(label="县委书记领办")
    page.get_by_role("button", name="筛选").click()
    rows = page.locator("main table tr")
    body = rows.all_inner_texts()
    assert any("基层党建“第三方”满意度测评" in r and "县委书记领办" in r and "已立项" in r for r in body)
    assert not any("红色代办" in r for r in body)
    page.screenshot(path=str(artifacts_dir / "project_list_import.png"), full_page=True)
