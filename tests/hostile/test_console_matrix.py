"""The staff console's pages × callers: out-of-township objects are 404, the phone roles cannot sign in."""

from __future__ import annotations

import re

import pytest

from tests.console.conftest import csrf, login
from tests.hostile.test_authorization_matrix import others  # noqa: F401 - the shared fixture

# Pages about one object that a reviewer must not even learn exists outside their townships.
SCOPED = {"console.visit_detail", "console.visit_print", "console.export_visit_zip", "console.feedback_detail",
          "console.rectification_detail"}


def page_rules(app):
    """Every GET page of the console except the login form and static files."""
    return [r for r in app.url_map.iter_rules()
            if r.endpoint.startswith("console.") and "GET" in r.methods
            and r.endpoint not in ("console.login", "console.static")]


def url_of(rule, ids: dict[str, int]) -> str:
    """The page's URL with every parameter pointing at an object in township t2 (1 for unknown names)."""
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(ids.get(m.group(1), 1)), rule.rule)


def test_signed_out_visitor_is_sent_to_login_everywhere(shared_app, others):  # noqa: F811
    """Without a session every console page redirects to the login form."""
    app, _ = shared_app
    client = app.test_client()
    wrong = [(url_of(r, others), resp.status_code) for r in page_rules(app)
             if not ((resp := client.get(url_of(r, others))).status_code == 302
                     and "/console/login" in resp.headers["Location"])]
    assert wrong == []


@pytest.mark.parametrize("username", ["insp_a", "secretary"])
def test_phone_roles_cannot_sign_in(shared_app, username):
    """An inspector or a secretary with the right password is refused by the console."""
    app, _ = shared_app
    client = app.test_client()
    r = client.post("/console/login", data={"csrf_token": csrf(client), "username": username,
                                            "password": f"{username}-password"})
    assert r.status_code != 302
    assert client.get("/console/").status_code == 302


def test_reviewer_of_another_township_gets_404_or_403_never_the_page(shared_app, others):  # noqa: F811
    """Reviewer of 永阳镇 on 桐坪镇's visit, feedback and order: 404; on admin-only pages: 403; never a 5xx."""
    app, _ = shared_app
    client = login(app.test_client(), "reviewer1", "reviewer1-password")
    wrong = []
    for rule in page_rules(app):
        if not rule.arguments:
            status = client.get(url_of(rule, others)).status_code
            if status >= 500:
                wrong.append((rule.rule, status))
            continue
        status = client.get(url_of(rule, others)).status_code
        expected = {404} if rule.endpoint in SCOPED else {403, 404}
        if status not in expected:
            wrong.append((rule.rule, status, expected))
    assert wrong == []


def test_admin_opens_every_page(shared_app, others):  # noqa: F811
    """The administrator gets every console page for the same objects (so the 404s above are about scope)."""
    app, _ = shared_app
    client = login(app.test_client(), "admin", "admin-password")
    wrong = [(url_of(r, others), s) for r in page_rules(app)
             if (s := client.get(url_of(r, others), follow_redirects=True).status_code) != 200]
    assert wrong == []
