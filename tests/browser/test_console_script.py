"""The console's behaviour lives in static/console.js under a Content-Security-Policy without
'unsafe-inline': confirmations, auto-submitting filters, select-all and the village list all
work in Chromium, and no page of a tour trips the policy."""

from __future__ import annotations

from sqlalchemy import select

from server.db import db
from server.models import User
from tests.browser.helpers import login

TOUR = (
    "/console/visits",
    "/console/dashboard",
    "/console/users",
    "/console/assignments",
    "/console/cases",
    "/console/projects",
    "/console/rectifications",
    "/console/places",
)


def watch_policy(page) -> list[str]:
    """Collect every CSP violation the page reports (console messages and DOM events)."""
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => "
        "console.log('Content Security Policy violation: ' + e.violatedDirective))"
    )
    return violations


def test_console_pages_run_under_a_policy_without_inline_scripts(page, live_server, seeded):
    violations = watch_policy(page)
    login(page, live_server, "admin", "admin-password")
    for path in TOUR:
        response = page.goto(live_server + path)
        assert response.status == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    # An injected inline script is refused, so the policy really is in force.
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';
                             document.body.appendChild(s); }""")
    assert page.evaluate("() => window.__ran") is None
    assert any("script-src" in v for v in violations)
    violations.clear()
    page.goto(live_server + "/console/dashboard")
    assert violations == []


def test_confirmations_ask_and_a_no_writes_nothing(page, live_server, seeded, app):
    login(page, live_server, "admin", "admin-password")
    page.goto(live_server + "/console/users")
    row = page.locator("tr", has_text="insp_b")
    asked: list[str] = []

    def answer(accept: bool):
        def handler(dialog):
            asked.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        return handler

    page.once("dialog", answer(False))
    row.get_by_role("button", name="停用").click()
    page.wait_for_timeout(300)
    with app.app_context():
        assert db.session.scalar(select(User.active).where(User.username == "insp_b")) is True
    page.once("dialog", answer(True))
    row.get_by_role("button", name="停用").click()
    page.wait_for_load_state("load")
    page.locator("tr", has_text="insp_b").get_by_text("已停用").wait_for()
    assert asked == ["停用后该账号将立即退出所有设备,确定吗?"] * 2
    with app.app_context():
        assert db.session.scalar(select(User.active).where(User.username == "insp_b")) is False


def test_filters_select_all_and_village_choices(page, live_server, seeded):
    login(page, live_server, "admin", "admin-password")
    page.goto(live_server + "/console/dashboard")
    years = page.locator('select[name="year"]')
    last_year = years.locator("option").nth(1).get_attribute("value")
    years.select_option(last_year)
    page.wait_for_url(f"**/console/dashboard?year={last_year}*")

    page.goto(live_server + "/console/cases")
    boxes = page.locator('input[name="project_id"]')
    assert boxes.count() >= 1
    page.locator("#select-all").check()
    assert all(boxes.nth(i).is_checked() for i in range(boxes.count()))
    page.locator("#select-all").uncheck()
    assert not any(boxes.nth(i).is_checked() for i in range(boxes.count()))

    page.goto(live_server + "/console/assignments")
    project = page.locator("#project_id")
    chosen = project.locator("option").nth(1).get_attribute("value")
    project.select_option(chosen)
    options = page.locator("#village_id option[data-project]")
    shown = [
        options.nth(i).get_attribute("data-project")
        for i in range(options.count())
        if options.nth(i).evaluate("o => !o.hidden")
    ]
    assert shown and set(shown) == {chosen}
