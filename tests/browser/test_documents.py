"""Official documents in a real browser: a reviewer opens an order from the list, downloads its 整改通知书,
and the file read back is the 公文 with its 文号, which a second download repeats."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from docx import Document

from server import clock
from server.db import db
from server.models import User
from server.services import rectification
from tests.browser.helpers import login


@pytest.fixture
def seeded(app, world):
    """build_world, the department's name, and one order on 蜜柚产业项目 (永阳镇)."""
    app.config.update(DEPARTMENT_NAME="中共吉安县委组织部", DOC_NUMBER_PREFIX="吉县组字")
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        order = rectification.issue(db.session, admin, project_id=world.p1, items=["公示栏未更新"])
        return SimpleNamespace(world=world, order=order.id)


def download(page, tmp_path, name: str):
    """Click the named link, save what it downloads, and open it as a Word document."""
    with page.expect_download() as info:
        page.get_by_role("link", name=name).click()
    saved = tmp_path / f"{len(list(tmp_path.iterdir()))}-{info.value.suggested_filename}"
    info.value.save_as(saved)
    assert saved.suffix == ".docx"
    return Document(str(saved))


def test_reviewer_downloads_the_rectification_notice(new_page, live_server, seeded, tmp_path, artifacts_dir):
    """From the list to the order to the DOCX: 版头, 文号, 标题, 回执; the same 文号 the second time."""
    page = new_page()
    login(page, live_server, "reviewer1", "reviewer1-password")
    page.goto(f"{live_server}/console/rectifications")
    page.get_by_role("link", name=f"#{seeded.order}").click()
    page.wait_for_url(re.compile(rf"/console/rectifications/{seeded.order}$"))
    page.screenshot(path=str(artifacts_dir / "rectification-notice-button.png"), full_page=True)
    doc = download(page, tmp_path, "下载整改通知书及回执(DOCX)")
    lines = [p.text for p in doc.paragraphs]
    reference = f"吉县组字〔{clock.today().year}〕1号"
    assert lines[0] == "中共吉安县委组织部文件" and reference in lines
    assert "关于《蜜柚产业项目》限期整改的通知" in lines and "整改通知书回执" in lines
    page.reload()
    again = download(page, tmp_path, "下载整改通知书及回执(DOCX)")
    assert reference in [p.text for p in again.paragraphs]
