"""Starting a year in a real browser: an admin uploads a party organizations file, reads the preview,
confirms it, and finds the organizations listed under their reporting unit."""

from __future__ import annotations

import re

import pytest

from server.db import db
from server.models import User
from server.services import units
from tests.browser.helpers import login

ORGS = (
    "名称,领域,乡镇编码,村编码,归口单位,书记用户名\n"
    "江南村党支部,农村,,360821100201,永阳镇党委,secretary\n"
    "大栗村党支部,农村,,360821103201,桐坪镇党委,\n"
    "永阳中学党支部,中小学校,360821100000,,县委教育工委,\n"
)


@pytest.fixture
def seeded(app, world):
    """build_world plus three reporting units, and no organization yet."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        for name, kind, township in (
            ("永阳镇党委", "乡镇党委", world.t1),
            ("桐坪镇党委", "乡镇党委", world.t2),
            ("县委教育工委", "教育工委", None),
        ):
            units.create_unit(db.session, admin, {"name": name, "kind": kind, "township_id": township})
    return world


def test_admin_imports_organizations_from_a_file(page, live_server, seeded, tmp_path):
    """Upload → preview (three new rows, nothing written) → confirm → the list shows them with their units."""
    path = tmp_path / "党组织.csv"
    path.write_text(ORGS, encoding="utf-8-sig")
    login(page, live_server, "admin", "admin-password")
    page.goto(f"{live_server}/console/organizations")
    assert "没有符合条件的党组织" in page.locator("#organizations").inner_text()
    page.get_by_role("link", name="从 Excel / CSV 批量导入").click()
    page.wait_for_url(re.compile(r"/console/organizations/import$"))

    page.locator('input[type="file"]').set_input_files(str(path))
    page.get_by_role("button", name="上传并预览").click()
    page.wait_for_selector("table.import-preview")
    assert "预览:文件没有问题" in page.locator("main").inner_text()
    rows = page.locator("table.import-preview tr[data-row]")
    assert rows.count() == 3
    assert all("新增党组织" in rows.nth(i).inner_text() for i in range(3))

    page.get_by_role("button", name="确认导入").click()
    page.wait_for_url(re.compile(r"/console/organizations$"))
    assert "导入完成:新增党组织 3 个,更新 0 个" in page.locator("main").inner_text()
    listed = page.locator("#organizations tr[data-org-id]")
    assert listed.count() == 3
    school = page.locator("#organizations tr", has_text="永阳中学党支部").inner_text()
    assert "中小学校" in school and "县委教育工委" in school

    # The unit's page lists the organization filed under it.
    page.get_by_role("link", name="永阳镇党委").first.click()
    page.wait_for_url(re.compile(r"/console/units/\d+$"))
    assert "江南村党支部" in page.locator("#unit-organizations").inner_text()
