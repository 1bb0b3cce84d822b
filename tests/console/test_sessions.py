"""Console sessions live on the server: logout, a new password and deactivation end them,
copied cookies included, and the next request says "已在其他位置退出"."""

from __future__ import annotations

from sqlalchemy import func, select

from server.db import db
from server.models import ConsoleSession
from tests.console.conftest import csrf, login

SIGNED_OUT = "已在其他位置退出"


def copy_of(app, browser):
    """A second client carrying the same session cookie (a stolen or copied cookie)."""
    thief = app.test_client()
    thief.set_cookie("session", browser.get_cookie("session").value)
    return thief


def assert_signed_out(client) -> None:
    """The next page redirects to the login form, which says the session was ended elsewhere."""
    r = client.get("/console/visits")
    assert r.status_code == 302 and "/console/login" in r.headers["Location"]
    page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert SIGNED_OUT in page
    assert client.get("/console/visits").status_code == 302


def test_a_copied_cookie_stops_working_at_logout(app, console, world):
    """After POST /console/logout a copy of the session cookie is signed out too."""
    browser = console("reviewer1")
    thief = copy_of(app, browser)
    assert thief.get("/console/visits").status_code == 200
    r = browser.post("/console/logout", data={"csrf_token": csrf(browser)})
    assert r.status_code == 302
    assert_signed_out(thief)


def test_logout_ends_only_that_browsers_session(app, console, world):
    """Logging out in one browser leaves the same user's other browser signed in."""
    office, home = console("reviewer1"), console("reviewer1")
    office.post("/console/logout", data={"csrf_token": csrf(office)})
    assert home.get("/console/visits").status_code == 200


def test_a_new_password_ends_every_session_of_the_account(app, console, world):
    """An admin setting a new password signs the user's browsers (and copies of them) out."""
    browser = console("reviewer1")
    thief = copy_of(app, browser)
    admin = console("admin")
    r = admin.post(
        f"/console/users/{world.ids['reviewer1']}",
        data={
            "csrf_token": csrf(admin),
            "name": "reviewer1",
            "username": "reviewer1",
            "roles": ["reviewer"],
            "township_ids": [str(world.t1)],
            "password": "brand-new-password",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:400]
    assert_signed_out(thief)
    assert_signed_out(browser)
    assert login(app.test_client(), "reviewer1", "brand-new-password").get("/console/visits").status_code == 200


def test_changing_ones_own_password_keeps_this_session_only(app, console, world):
    """Setting one's own password keeps the browser it was set in and signs out the others."""
    here, elsewhere = console("admin"), console("admin")
    r = here.post(
        f"/console/users/{world.ids['admin']}",
        data={
            "csrf_token": csrf(here),
            "name": "管理员",
            "username": "admin",
            "roles": ["admin"],
            "password": "admin-new-password",
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)[:400]
    assert here.get("/console/visits").status_code == 200
    assert_signed_out(elsewhere)


def test_deactivation_ends_every_session_of_the_account(app, console, world):
    """Deactivating an account signs its console sessions out and removes their rows."""
    browser = console("leader")
    admin = console("admin")
    r = admin.post(f"/console/users/{world.ids['leader']}/active", data={"csrf_token": csrf(admin), "active": "0"})
    assert r.status_code == 302
    with app.app_context():
        left = db.session.scalar(
            select(func.count(ConsoleSession.id)).where(ConsoleSession.user_id == world.ids["leader"])
        )
    assert left == 0
    assert_signed_out(browser)


def test_the_cookie_holds_no_session_row_key_in_clear(app, console, world):
    """Only the SHA-256 of the cookie's session id is stored, so the table cannot be replayed as cookies."""
    browser = console("leader")
    with browser.session_transaction() as sess:
        sid = sess["sid"]
    with app.app_context():
        stored = set(db.session.scalars(select(ConsoleSession.sid_hash)))
    assert sid not in stored and len(stored) == 1
