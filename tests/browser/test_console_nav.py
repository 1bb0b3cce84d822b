"""The console's navigation bar in Chromium at office-PC widths: every item on one line, nothing past the
right edge, every page still one or two clicks away, menus that open from the keyboard."""

from __future__ import annotations

import pytest

from server.db import db
from server.models import CONSOLE_ROLES
from server.services import users
from tests.browser.helpers import login

WIDTHS = (1280, 1920)
# The admin's thirteen pages (the role with the most entries), by address.
ADMIN_PAGES = {
    "/console/applications",
    "/console/dashboard",
    "/console/visits",
    "/console/rectifications",
    "/console/feedback",
    "/console/projects",
    "/console/reports",
    "/console/places",
    "/console/users",
    "/console/assignments",
    "/console/rounds",
    "/console/cases",
    "/console/grading",
}

# For each top-level item of the bar (a link, or a menu's summary) and of the section bar below it:
# its text's line boxes (a label broken mid-word has two), its top, its right edge; and the page's widths.
MEASURE = """() => {
  const lines = el => {
    const range = document.createRange();
    range.selectNodeContents(el);
    return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
  };
  const items = sel => [...document.querySelectorAll(sel)].map(el => {
    const box = el.getBoundingClientRect();
    return {text: el.textContent.trim(), lines: lines(el), top: Math.round(box.top), height: box.height,
            right: box.right};
  });
  return {
    top: items('header.top nav > a, header.top nav > details > summary'),
    sub: items('nav.sub a'),
    who: document.querySelector('header.top .who').getBoundingClientRect().right,
    viewport: window.innerWidth,
    scroll: document.documentElement.scrollWidth,
  };
}"""


@pytest.fixture
def everyone(app, seeded):
    """An account holding every console role: the most entries the bar can have."""
    with app.app_context():
        users.create_user(
            db.session,
            None,
            {"username": "everyone", "name": "全角色", "roles": list(CONSOLE_ROLES), "password": "everyone-password"},
        )
    return "everyone"


def assert_one_row(m: dict) -> None:
    """Every item on one line and at one height in its row, nothing past the right edge."""
    wrapped = [i["text"] for i in m["top"] + m["sub"] if i["lines"] != 1]
    assert not wrapped, f"labels broken over two lines: {wrapped}"
    for row in ("top", "sub"):
        assert len({i["top"] for i in m[row]}) <= 1, m[row]
        assert len({i["height"] for i in m[row]}) <= 1, m[row]
    assert m["scroll"] <= m["viewport"], "the page scrolls sideways"
    assert max(i["right"] for i in m["top"] + m["sub"]) <= m["who"] <= m["viewport"]


@pytest.mark.parametrize("who", ["admin", "everyone"])
def test_bar_fits_on_one_line_at_1280_and_1920(new_page, live_server, seeded, everyone, tmp_path, who):
    """The most entries a user can have fit on one row at 1280 and 1920 px, each menu opens inside the
    window with unbroken labels, and every page of the role is in the bar; screenshots are kept."""
    page = new_page()
    login(page, live_server, who, f"{who}-password")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server}/console/visits")
        assert_one_row(page.evaluate(MEASURE))
        page.screenshot(path=str(tmp_path / f"nav-{who}-{width}.png"))
        menus = page.locator("header.top nav details")
        assert menus.count() >= 3
        for i in range(menus.count()):
            menus.nth(i).locator("summary").click()
            links = menus.nth(i).locator("a")
            assert links.count() >= 2
            for j in range(links.count()):
                box = links.nth(j).bounding_box()
                assert links.nth(j).is_visible() and box["x"] >= 0 and box["x"] + box["width"] <= width
                assert page.evaluate("el => el.getClientRects().length", links.nth(j).element_handle()) == 1
            page.screenshot(path=str(tmp_path / f"nav-{who}-{width}-menu{i}.png"))
    hrefs = set(page.locator("header.top nav a").evaluate_all("els => els.map(a => a.getAttribute('href'))"))
    assert hrefs >= ADMIN_PAGES


def test_menus_work_from_the_keyboard(new_page, live_server, seeded):
    """Tab reaches a menu, Enter opens it, Tab walks into its links, Enter follows one; Escape closes a menu."""
    page = new_page()
    login(page, live_server, "admin", "admin-password")
    page.goto(f"{live_server}/console/visits")
    menu = page.locator("header.top nav details", has=page.locator("summary", has_text="基础数据"))
    menu.locator("summary").focus()
    page.keyboard.press("Enter")
    assert menu.get_attribute("open") is not None
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "乡镇与村"
    page.keyboard.press("Escape")
    assert menu.get_attribute("open") is None
    assert page.evaluate("document.activeElement.tagName") == "SUMMARY"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server}/console/users")
    # The section bar under the header shows the current menu's pages, the current one marked.
    assert page.locator("nav.sub a[aria-current=page]").inner_text() == "人员与邀请码"
