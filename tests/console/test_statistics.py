"""The console's 统计报表 page and its XLSX: the hand-built year's figures, filters, scope and the workbook's cells."""

from __future__ import annotations

import html
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from server import clock
from server.db import db
from server.models import AuditEntry
from tests.services.test_statistics import build_year

URL = "/console/statistics"


@pytest.fixture
def year(app, world):
    """The hand-built 2025 of tests/services/test_statistics.py."""
    with app.app_context():
        return build_year(world)


def table_row(page: str, table: str, key: str) -> list[str]:
    """The text of the cells of one row (data-township=key) of one table."""
    body = re.search(rf'<table id="{table}">(.*?)</table>', page, re.S).group(1)
    row = re.search(rf'<tr[^>]*data-township="{key}"[^>]*>(.*?)</tr>', body, re.S)
    assert row, f"no row {key} in {table}"
    return [
        html.unescape(re.sub(r"<[^>]+>|\s+", "", c)) for c in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    ]


def test_page_shows_the_funnel_per_township_and_charts(console, world, year):
    """Admins see every township's funnel, the total's sentence and the SVG charts."""
    page = console("admin").get(URL, query_string={"year": 2025}).get_data(as_text=True)
    assert "申报 9 个,立项 6 个,实施 5 个,验收 1 个" in page
    assert table_row(page, "funnel-table", str(world.t1))[:5] == ["永阳镇", "3", "2", "2", "1"]
    assert table_row(page, "funnel-table", str(world.t2))[:7] == ["桐坪镇", "5", "3", "2", "0", "1", "1"]
    assert table_row(page, "grades-table", "total")[-6:] == ["4", "1", "1", "1", "1", "1"]
    assert page.count('<svg class="chart"') == 6
    assert "大栗村党支部" in page and "连续两年位于后 5%" in page


def test_filters_narrow_the_page(console, world, year):
    """Level and category filters narrow the rows' figures; the filter form keeps what was chosen."""
    page = console("admin").get(URL, query_string={"year": 2025, "level": "county"}).get_data(as_text=True)
    assert table_row(page, "funnel-table", "total")[:3] == ["合计", "3", "3"]
    assert '<option value="county" selected' in page
    page = console("admin").get(URL, query_string={"year": 2025, "category": "重点性"}).get_data(as_text=True)
    assert table_row(page, "funnel-table", "total")[:2] == ["合计", "1"]
    assert "本年度没有列入软弱涣散的党组织" in page


def test_reviewer_sees_only_their_township(console, world, year):
    """A township reviewer's page has their township's row and totals, no other township's, and no 未归属乡镇."""
    page = console("reviewer1").get(URL, query_string={"year": 2025}).get_data(as_text=True)
    assert table_row(page, "funnel-table", "total")[:2] == ["合计", "3"]
    assert "桐坪镇" not in page and "未归属乡镇" not in page and "大栗村党支部" not in page


def test_secretaries_have_no_statistics(console, world, year):
    """Project secretaries are not the department's staff: the page and the workbook are refused."""
    secretary = console("secretary")
    assert secretary.get(URL).status_code == 403
    assert secretary.get(f"{URL}.xlsx").status_code == 403


def test_workbook_has_the_page_figures(app, console, world, year):
    """The XLSX under the same filters: summary, a row per township with the total, the lists; audited."""
    r = console("admin").get(f"{URL}.xlsx", query_string={"year": 2025, "level": "county"})
    assert r.status_code == 200
    assert "attachment" in r.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(r.data))
    assert wb.sheetnames == ["汇总", "分乡镇", "软弱涣散", "考核扣分", "导出说明"]
    summary = {row[0]: row[1] for row in wb["汇总"].iter_rows(min_row=2, values_only=True)}
    assert summary["项目情况"] == "申报 3 个,立项 3 个,实施 2 个,验收 0 个"
    assert summary["特等(个)"] == 1 and summary["三等(个)"] == 1 and summary["后5%(个)"] == 1
    rows = list(wb["分乡镇"].iter_rows(values_only=True))
    header = rows[0]
    by_name = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert set(by_name) == {"永阳镇", "桐坪镇", "合计"}
    assert (by_name["永阳镇"]["申报"], by_name["桐坪镇"]["申报"], by_name["合计"]["立项"]) == (1, 2, 3)
    assert by_name["永阳镇"]["第1季度观摩"] == 1 and by_name["永阳镇"]["第2季度观摩"] == 1
    assert by_name["合计"]["已督导项目"] == 2 and by_name["合计"]["满意"] == 2
    weak = list(wb["软弱涣散"].iter_rows(min_row=2, values_only=True))
    assert [(w[0], w[1]) for w in weak] == [("大栗村党支部", "桐坪镇")]
    cover = {row[0]: row[1] for row in wb["导出说明"].iter_rows(min_row=2, values_only=True)}
    assert "层级:县级" in cover["筛选条件"] and "年度:2025" in cover["筛选条件"]
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "export.statistics")).one()
        assert entry.data["filters"]["year"] == 2025


def test_reviewer_workbook_is_scoped(console, world, year):
    """A reviewer's workbook holds their township and total only."""
    r = console("reviewer2").get(f"{URL}.xlsx", query_string={"year": 2025})
    names = [row[0] for row in load_workbook(io.BytesIO(r.data))["分乡镇"].iter_rows(min_row=2, values_only=True)]
    assert names == ["桐坪镇", "合计"]


def test_bad_filters_in_the_url_are_dropped(console, world, year):
    """A typed URL with an unknown level, a year out of range or an overlong id shows this year's county figures."""
    r = console("admin").get(URL, query_string={"year": "1999", "level": "省级", "township_id": "9" * 40})
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert f"<h1>{clock.today().year} 年书记项目统计</h1>" in page
    assert "永阳镇" in page and "桐坪镇" in page
