"""services/users.py: the one account list behind the console's staff list and the admin API."""

from __future__ import annotations

import pytest

from server.db import db
from server.services import users
from tests.console.conftest import login
from tests.factories import Api

STAFF = ("admin", "insp_a", "insp_b", "insp_c", "reviewer1", "reviewer2", "leader", "secretary")


def test_list_users_hides_villagers_unless_asked(app, world):
    """include_villagers=False lists the staff only; True adds the villagers WeChat registered."""
    with app.app_context():
        staff = users.list_users(db.session, include_villagers=False)
        everyone = users.list_users(db.session, include_villagers=True)
    assert [u.id for u in staff.items] == sorted(world.ids[k] for k in STAFF) and staff.total == len(STAFF)
    assert [u.id for u in everyone.items] == sorted(world.ids.values()) and everyone.total == len(STAFF) + 1


def test_list_users_by_role_lists_villagers_when_that_role_is_asked(app, world):
    """A role asked for is listed whatever include_villagers says, villagers included."""
    with app.app_context():
        found = users.list_users(db.session, role="villager", include_villagers=False)
    assert [u.id for u in found.items] == [world.ids["villager"]]


def test_list_users_pages_and_searches(app, world):
    """q matches username or name (literally), per_page cuts a page, total counts them all."""
    with app.app_context():
        page = users.list_users(db.session, q="insp", include_villagers=False, page=2, per_page=2)
        literal = users.list_users(db.session, q="%", include_villagers=True)
    assert [u.id for u in page.items] == [world.ids["insp_c"]] and page.total == 3
    assert literal.total == 0


@pytest.fixture
def list_users_calls(monkeypatch) -> list[dict]:
    """Every call of services.users.list_users from here on, by its keyword arguments."""
    calls: list[dict] = []
    real = users.list_users

    def spy(session, **kwargs):
        calls.append(kwargs)
        return real(session, **kwargs)

    monkeypatch.setattr(users, "list_users", spy)
    return calls


def test_console_and_api_list_users_through_the_same_service(app, client, world, list_users_calls):
    """GET /api/v1/admin/users and the console's /console/users both call users.list_users; only
    include_villagers differs (the API lists villagers, the console's staff list does not)."""
    r = Api(client, world.tokens["admin"]).get("/api/v1/admin/users")
    assert r.status_code == 200 and r.get_json()["total"] == len(STAFF) + 1
    page = login(app.test_client(), "admin", "admin-password").get("/console/users")
    assert page.status_code == 200
    assert [c["include_villagers"] for c in list_users_calls] == [True, False]
