"""Password logins: one counter for the API and the console, locks per username and address,
a growing delay per username, and usernames trimmed and case-folded before lookup and counting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

import server.auth
from server.db import db
from server.models import RateEvent
from tests.console.conftest import csrf

# Login counters under locks; MariaDB's collation ignores case and trailing spaces.
pytestmark = pytest.mark.both_databases

LOGIN = "/api/v1/auth/login"


def api_login(client, username: str, password: str, ip: str):
    """POST the API's login from an address."""
    return client.post(LOGIN, json={"username": username, "password": password}, environ_base={"REMOTE_ADDR": ip})


def console_login(client, username: str, password: str, ip: str):
    """POST the console's login form from an address."""
    token = csrf(client)
    return client.post(
        "/console/login",
        data={"csrf_token": token, "username": username, "password": password},
        environ_base={"REMOTE_ADDR": ip},
    )


def fail(client, username: str, ip: str, times: int) -> None:
    """Wrong passwords through the API, each answered 401."""
    for _ in range(times):
        assert api_login(client, username, "wrong-password", ip).status_code == 401


def time_passes(app, seconds: int) -> None:
    """Move every counted failure `seconds` into the past (as if that time had gone by)."""
    with app.app_context():
        for event in db.session.scalars(select(RateEvent)):
            event.at -= timedelta(seconds=seconds)
        db.session.commit()


def test_api_failures_count_for_the_console_login(app, client, world):
    """Five wrong passwords on the API lock the same username at that address on the console too."""
    fail(client, "admin", "10.1.1.1", 5)
    r = console_login(app.test_client(), "admin", "admin-password", "10.1.1.1")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert "登录失败次数过多" in r.get_data(as_text=True)


def test_console_failures_count_for_the_api_login(app, client, world):
    """Three wrong passwords on the console and two on the API make the five that lock the pair."""
    browser = app.test_client()
    for _ in range(3):
        assert console_login(browser, "admin", "wrong-password", "10.1.1.2").status_code == 401
    fail(client, "admin", "10.1.1.2", 2)
    r = api_login(client, "admin", "admin-password", "10.1.1.2")
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "rate_limited"


def test_a_stranger_cannot_lock_an_official_out(app, client, world):
    """A stranger's five failures lock only the stranger's address; the official logs in from elsewhere."""
    fail(client, "reviewer1", "203.0.113.66", 5)
    time_passes(app, 120)  # the username's short pause is over; the pair's 15-minute lock is not
    assert api_login(client, "reviewer1", "reviewer1-password", "203.0.113.66").status_code == 429
    assert api_login(client, "reviewer1", "reviewer1-password", "10.2.2.2").status_code == 200
    r = console_login(app.test_client(), "reviewer1", "reviewer1-password", "10.2.2.3")
    assert r.status_code == 302


def test_a_username_guessed_from_many_addresses_is_slowed_down(app, client, world):
    """Past five failures the username waits a growing pause after each, whatever the address."""
    fail(client, "leader", "198.51.100.1", 5)
    first = api_login(client, "leader", "leader-password", "198.51.100.2")
    assert first.status_code == 429 and int(first.headers["Retry-After"]) == 1
    for _ in range(5):
        time_passes(app, 61)
        fail(client, "leader", "198.51.100.2", 1)
    # Ten failures: a 32-second pause after the latest, never a lock.
    later = api_login(client, "leader", "leader-password", "198.51.100.3")
    assert later.status_code == 429 and 16 < int(later.headers["Retry-After"]) <= 32
    assert "秒后再试" in later.get_json()["error"]["message"]
    time_passes(app, 32)
    assert api_login(client, "leader", "leader-password", "198.51.100.3").status_code == 200


def test_spelling_variants_of_a_username_share_one_counter(app, client, world):
    """'Admin ' and 'ADMIN' are admin for the lookup and the counters alike (MariaDB ignores both)."""
    fail(client, "admin", "10.4.4.1", 5)
    for _ in range(5):
        time_passes(app, 61)
        fail(client, "Admin ", "10.4.4.2", 1)
    r = api_login(client, "admin ", "admin-password", "10.4.4.3")
    assert r.status_code == 429
    with app.app_context():
        keys = set(db.session.scalars(select(RateEvent.key)))
    assert keys == {
        "login:user:admin",
        "login:pair:admin:10.4.4.1",
        "login:pair:admin:10.4.4.2",
        "login:ip:10.4.4.1",
        "login:ip:10.4.4.2",
    }
    time_passes(app, 32)
    ok = api_login(client, " ADMIN ", "admin-password", "10.4.4.3")
    assert ok.status_code == 200 and ok.get_json()["user"]["id"] == world.ids["admin"]
    assert console_login(app.test_client(), "Admin ", "admin-password", "10.4.4.1").status_code == 429


def test_one_address_guessing_many_usernames_is_stopped(app, client, world):
    """Thirty failures from one address across usernames stop that address, not the others."""
    names = ["admin", "leader", "reviewer1", "reviewer2", "secretary", "insp_a", "insp_b"]
    for i in range(30):
        assert api_login(client, names[i % len(names)], "wrong", "192.0.2.7").status_code == 401
    time_passes(app, 120)
    assert api_login(client, "insp_c", "insp_c-password", "192.0.2.7").status_code == 429
    assert api_login(client, "insp_c", "insp_c-password", "192.0.2.8").status_code == 200


def test_an_overlong_username_is_counted_without_breaking_the_counter(app, client, world):
    """A username of thousands of characters on the console form is refused as a wrong login (401),
    not a server error, and still counts towards the address's lock."""
    browser = app.test_client()
    for _ in range(5):
        assert console_login(browser, "x" * 5000, "wrong", "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe").status_code == 401
    r = console_login(browser, "x" * 5000, "wrong", "2001:db8:ffff:ffff:ffff:ffff:ffff:fffe")
    assert r.status_code == 429


def test_an_unknown_username_costs_a_check_of_the_configured_kind(app, client, world, monkeypatch):
    """A name that is not there is answered after checking a hash made like the real ones (the
    configured method), so the answer's timing does not tell which usernames exist."""
    checked = []
    real_check = server.auth.check_password_hash

    def recording(pwhash: str, password: str) -> bool:
        checked.append(pwhash.split("$", 1)[0])
        return real_check(pwhash, password)

    monkeypatch.setattr(server.auth, "check_password_hash", recording)
    assert api_login(client, "admin", "wrong-password", "10.1.9.1").status_code == 401
    assert api_login(client, "no-such-official", "wrong-password", "10.1.9.2").status_code == 401
    method = app.config["PASSWORD_HASH_METHOD"]
    assert checked == [method, method]
