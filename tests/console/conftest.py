"""Console fixtures: staff log in through the login form, as a browser would."""

from __future__ import annotations

import re

import pytest

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf(client) -> str:
    """The session's CSRF token, read from the login form (the same token every form of the session carries)."""
    page = client.get("/console/login")
    return _TOKEN.search(page.get_data(as_text=True)).group(1)


def login(client, username: str, password: str):
    """Log `client` in through POST /console/login with the form's CSRF token; returns the client."""
    r = client.post("/console/login", data={"csrf_token": csrf(client), "username": username, "password": password})
    assert r.status_code == 302, r.get_data(as_text=True)
    return client


@pytest.fixture
def console(app, world):
    """console(username) → a fresh test client logged in as that world user (password f"{username}-password")."""
    return lambda username: login(app.test_client(), username, f"{username}-password")
