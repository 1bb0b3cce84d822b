"""统计报表 in a real browser: open it from 考核, filter by year and level, see the funnel, the charts, the XLSX link."""

from __future__ import annotations

import re

import pytest

from tests.browser.helpers import login
from tests.services.test_statistics import build_year


@pytest.fixture
def seeded(app, world):
    """The hand-built 2025 of tests/services/test_statistics.py."""
    with app.app_context():
        build_year(world)
    return world


def test_filter_the_year_and_read_the_figures(new_page, live_server, seeded, artifacts_dir):
    """The admin opens 考核 → 统计报表, picks 2025 and 县级, and reads the narrowed funnel and charts."""
    page = new_page()
    login(page, live_server, "admin", "admin-password")
    page.locator("nav").get_by_text("考核", exact=True).click()
    page.get_by_role("link", name="统计报表").first.click()
    page.wait_for_url(re.compile(r"/console/statistics"))

    form = page.locator("#statistics-filters")
    form.locator('select[name="year"]').select_option("2025")
    form.get_by_role("button", name="查看").click()
    page.wait_for_url(re.compile(r"year=2025"))
    assert "申报 9 个,立项 6 个,实施 5 个,验收 1 个" in page.locator("#summary").inner_text()
    assert page.locator("svg.chart").count() == 6
    page.screenshot(path=str(artifacts_dir / "statistics-2025.png"), full_page=True)

    form = page.locator("#statistics-filters")
    form.locator('select[name="level"]').select_option("county")
    form.get_by_role("button", name="查看").click()
    page.wait_for_url(re.compile(r"level=county"))
    assert "申报 3 个,立项 3 个,实施 2 个,验收 0 个" in page.locator("#summary").inner_text()
    total = page.locator('#funnel-table tr[data-township="total"] td')
    assert [total.nth(i).inner_text() for i in range(3)] == ["合计", "3", "3"]
    assert page.locator('#statistics-filters select[name="year"]').input_value() == "2025"
    link = page.get_by_role("link", name="导出 Excel").get_attribute("href")
    assert "year=2025" in link and "level=county" in link
    page.screenshot(path=str(artifacts_dir / "statistics-county.png"), full_page=True)
