"""Scope in the browser: a reviewer cannot open another township's visit, nor one not yet submitted,
by guessing its URL; both answer 404, exactly like a visit that does not exist."""

from __future__ import annotations

from tests.browser.helpers import login


def test_reviewer_of_another_township_gets_404(new_page, live_server, seeded):
    """reviewer2 (桐坪镇) sees nothing of a 永阳镇 visit: not its page, print view, photos ZIP or order form."""
    visit_id = seeded.visit["id"]
    page = new_page()
    login(page, live_server, "reviewer2", "reviewer2-password")
    page.goto(f"{live_server}/console/visits")
    assert page.locator("table.visits tbody tr[data-visit-id]").count() == 0

    response = page.goto(f"{live_server}/console/visits/{visit_id}")
    assert response.status == 404
    assert "找不到" in page.locator("main").inner_text() and "江南村" not in page.content()
    for path in (
        f"/console/visits/{visit_id}/print",
        f"/console/visits/{visit_id}/evidence.zip",
        f"/console/rectifications/new?visit_id={visit_id}",
    ):
        assert page.request.get(f"{live_server}{path}").status == 404, path
    # The same answer as for a visit that does not exist at all: nothing to learn from guessing.
    assert page.goto(f"{live_server}/console/visits/999999").status == 404


def test_reviewer_sees_own_township_submitted_visit_but_not_one_in_progress(new_page, live_server, seeded):
    """reviewer1 (永阳镇) opens the submitted visit; the one still under way is a 404 and not listed."""
    page = new_page()
    login(page, live_server, "reviewer1", "reviewer1-password")
    page.goto(f"{live_server}/console/visits")
    listed = page.locator("table.visits tbody tr[data-visit-id]")
    assert [listed.nth(i).get_attribute("data-visit-id") for i in range(listed.count())] == [str(seeded.visit["id"])]

    response = page.goto(f"{live_server}/console/visits/{seeded.open_visit['id']}")
    assert response.status == 404
    assert "找不到" in page.locator("main").inner_text()

    response = page.goto(f"{live_server}/console/visits/{seeded.visit['id']}")
    assert response.status == 200
    assert "江南村" in page.locator("main").inner_text()
    assert page.locator("#photos img").count() == 3
