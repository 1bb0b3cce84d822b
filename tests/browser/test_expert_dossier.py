"""An expert scores in a real browser with the project's dossier beside the form (issue 18 §5)."""

from __future__ import annotations

import re

import pytest

from tests.browser.helpers import login
from tests.console.test_expert_dossier import evidence  # noqa: F401 - the fixture
from tests.console.test_grading import setup  # noqa: F401 - the fixture


@pytest.fixture
def seeded(evidence):  # noqa: F811
    """The grading session with its experts, and p1's application, 月报, visit and feedback."""
    return evidence


def test_expert_reads_the_dossier_then_scores(new_page, live_server, seeded, artifacts_dir):
    """expert1 opens p1 from 专家评分: the dossier shows the application, the 月报 photo (loaded), the visit's
    failed item; the scores saved beside it stay on the sheet."""
    page = new_page()
    login(page, live_server, "expert1", "expert1-password")
    page.goto(f"{live_server}/console/scoring")
    page.get_by_role("link", name=re.compile("蜜柚")).first.click()
    page.wait_for_url(re.compile(r"/console/scoring/\d+$"))

    dossier = page.locator("#dossier")
    assert "蜜柚销路不畅,群众增收难" in dossier.inner_text()
    assert "公示栏内容未更新" in dossier.inner_text()
    photo = dossier.get_by_alt_text(f"月报照片 {seeded['report_photo']}")
    photo.scroll_into_view_if_needed()
    for _ in range(100):  # the thumbnail comes from photo storage: loaded, not a broken image
        if photo.evaluate("img => img.complete && img.naturalWidth > 0"):
            break
        page.wait_for_timeout(100)
    assert photo.evaluate("img => img.naturalWidth") > 0
    # The form sits beside the dossier, not below a page of it, on a 1366 px screen.
    form = page.locator("form.card").filter(has=page.locator("#score-c1"))
    assert form.bounding_box()["y"] < dossier.bounding_box()["y"] + dossier.bounding_box()["height"]

    form.locator("#score-c1").fill("88")
    form.locator("#score-c2").fill("91.5")
    form.get_by_role("button", name="保存评分").click()
    page.wait_for_url(re.compile(r"/console/scoring/\d+$"))
    assert "评分已保存" in page.locator(".flash").inner_text()
    assert page.locator("#score-c1").input_value() == "88"
    page.screenshot(path=str(artifacts_dir / "expert-dossier.png"), full_page=True)
