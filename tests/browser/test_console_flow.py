"""The console end to end in Chromium: log in, filter, open a visit with photos, question a photo,
issue a rectification order, download an export; a screenshot of the evidence page is kept."""

from __future__ import annotations

import re

from openpyxl import load_workbook

from tests.browser.helpers import login

ITEMS = "公示栏未张贴项目进度\n第 3 张照片拍摄位置距村 3 公里,请说明"
REASON = "拍摄位置距江南村约 3 公里,不像在项目现场"


def test_admin_reviews_a_visit_from_login_to_export(page, live_server, seeded, artifacts_dir, tmp_path):
    """An admin goes through the whole review of a flagged visit with real clicks in a real browser."""
    visit_id, far_photo = seeded.visit["id"], seeded.photos[2]["id"]

    # Log in through the form; the console lands on the visit list.
    login(page, live_server, "admin", "admin-password")
    page.get_by_role("link", name="暗访记录", exact=True).first.click()
    page.wait_for_url(re.compile(r"/console/visits"))
    rows = page.locator("table.visits tbody tr[data-visit-id]")
    assert rows.count() == 2  # the submitted visit and the one still in progress (admins see both)

    # Filter by the "captured far away" flag: only the flagged visit is left.
    page.locator("select[name=flag]").select_option("capture_far")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url(re.compile(r"flag=capture_far"))
    assert rows.count() == 1
    row = page.locator(f"tr[data-visit-id='{visit_id}']")
    assert "江南村" in row.inner_text() and "蜜柚产业项目" in row.inner_text()

    # Open the visit: its three thumbnails really load (decoded images, not broken icons).
    row.get_by_role("link", name=f"#{visit_id}").click()
    page.wait_for_url(re.compile(rf"/console/visits/{visit_id}(#.*)?$"))
    thumbs = page.locator("#photos img")
    assert thumbs.count() == 3
    for i in range(3):
        thumbs.nth(i).scroll_into_view_if_needed()  # the thumbnails load lazily
    page.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('#photos img')];"
        " return imgs.length === 3 && imgs.every(i => i.complete && i.naturalWidth > 0); }"
    )

    # Question the far-away photo with a reason; the page comes back showing it questioned.
    card = page.locator(f"#photo-{far_photo}")
    card.locator("input[name=reason]").fill(REASON)
    card.get_by_role("button", name="存疑").click()
    page.wait_for_url(re.compile(rf"/console/visits/{visit_id}#photo-{far_photo}$"))
    assert f"已将第 {far_photo} 号照片标记为“存疑”" in page.locator(".flash").inner_text()
    card = page.locator(f"#photo-{far_photo}")
    assert "questioned" in (card.get_attribute("class") or "")
    assert "存疑" in card.inner_text() and REASON in card.inner_text()

    # Keep a full-page screenshot of the evidence page (thumbnails loaded) as a test artifact.
    for i in range(3):
        page.locator("#photos img").nth(i).scroll_into_view_if_needed()
    page.wait_for_function(
        "() => [...document.querySelectorAll('#photos img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    shot = artifacts_dir / "console-visit-detail.png"
    shot.unlink(missing_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.exists() and shot.stat().st_size > 10 * 1024

    # Issue a rectification order from the visit: its findings come pre-filled, we write our own.
    issue = page.locator(f"a[href*='/console/rectifications/new?visit_id={visit_id}']")
    assert issue.count() > 0, "the visit page has no link to /console/rectifications/new?visit_id=N"
    issue.first.click()
    page.wait_for_url(re.compile(r"/console/rectifications/new"))
    page.locator("textarea[name=items]").fill(ITEMS)
    page.get_by_role("button", name="下发").click()
    page.wait_for_url(re.compile(r"/console/rectifications/\d+$"))
    assert "整改通知已下发" in page.locator("main").inner_text()
    page.get_by_role("link", name="整改通知", exact=True).first.click()
    page.wait_for_url(re.compile(r"/console/rectifications"))
    order_rows = page.locator("main table tbody tr").filter(has_text="蜜柚产业项目")
    assert order_rows.count() == 1 and "已下发" in order_rows.inner_text()

    # Export the visit list as filtered (capture_far only) and read the file back.
    page.goto(f"{live_server}/console/visits?flag=capture_far")
    with page.expect_download() as info:
        page.get_by_role("link", name="导出暗访记录").click()
    download = info.value
    assert download.suggested_filename.endswith(".xlsx")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    rows = list(load_workbook(saved, read_only=True)["暗访记录"].iter_rows(values_only=True))
    header = next(i for i, r in enumerate(rows) if "暗访编号" in r)
    records = {
        r[rows[header].index("暗访编号")]: dict(zip(rows[header], r, strict=False))
        for r in rows[header + 1 :]
        if any(c is not None for c in r)
    }
    assert set(records) == {visit_id}, records  # the filter applies: the unflagged visit is not in it
    assert records[visit_id]["村/地点"].endswith("江南村") and records[visit_id]["照片数"] == 3
    assert "拍摄地点偏远" in records[visit_id]["完整性标记"]
