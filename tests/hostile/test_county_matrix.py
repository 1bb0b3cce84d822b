"""Two counties in one deployment: another county's staff get nothing of this one, a city leader reads all.

The objects of both matrices live in county 1 (the test world's 永阳镇 and 桐坪镇). A second county
(吉水县) gets its own administrator and a township of its own; a city leader (an account of no
county) reads both. Every API endpoint and console page aimed at county 1's objects by county 2's
administrator is a 404 (or the 403 of a role they lack), lists they open name nothing of county 1,
and no form of theirs writes to county 1's audit chain. The city leader opens what a county leader
opens and writes nothing anywhere.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from server.auth import issue_token
from server.db import db
from server.models import AuditEntry, Township, User
from server.services import counties, users
from tests.console.conftest import csrf, login
from tests.factories import Api
from tests.hostile.test_authorization_matrix import (
    ALLOWED,
    _holds,
    body_for,
    call,
    fill,
    protected_endpoints,
)
from tests.hostile.test_authorization_matrix import (
    others as api_objects,  # noqa: F401 - the shared fixture
)
from tests.hostile.test_console_matrix import (
    OWN_WORK_PAGES,
    form_rules,
    others,  # noqa: F401 - the shared fixture
    page_rules,
    url_of,
)

# Names only county 1's rows carry: none may reach county 2's administrator.
COUNTY_1_MARKERS = ("桐坪镇", "江南村", "大栗村", "蜜柚产业项目", "旱厕改造", "insp_c")


@pytest.fixture(scope="module")
def county2(shared_app, others):  # noqa: F811
    """County 2 with its administrator and a township, and a city leader: their tokens in world.tokens."""
    app, world = shared_app
    with app.app_context():
        s = db.session
        county = counties.add_county(s, None, {"code": "360822", "name": "吉水县"})
        admin_b, _ = users.create_user(
            s,
            None,
            {"username": "admin_b", "roles": ["admin"], "password": "admin_b-password", "county_id": county.id},
        )
        city, _ = users.create_user(
            s,
            None,
            {"username": "city_leader", "roles": ["leader"], "password": "city-password", "deployment_wide": True},
        )
        world.tokens["admin_b"], world.tokens["city_leader"] = issue_token(admin_b), issue_token(city)
        world.ids["city_leader"] = city.id
        county_id = county.id
    own = Api(app.test_client(), world.tokens["admin_b"]).post(
        "/api/v1/admin/townships", {"code": "360822100000", "name": "文峰镇"}
    )
    assert own.status_code == 201, own.get_json()
    return {"county_id": county_id, "township_id": own.get_json()["id"]}


def text_of(response) -> str:
    """A response's body as text (binary bodies such as images decode to nothing readable)."""
    return response.get_data().decode("utf-8", "replace")


def chain_length(app, chain: int) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.chain == chain))


def test_a_countys_rows_take_its_county(shared_app, county2):
    """County 2's administrator creates a township: it is county 2's, and its audit entry is in chain 2."""
    app, _ = shared_app
    with app.app_context():
        township = db.session.get(Township, county2["township_id"])
        assert township.county_id == county2["county_id"]
        entry = db.session.scalar(
            select(AuditEntry).where(AuditEntry.object_type == "township", AuditEntry.object_id == str(township.id))
        )
        assert entry.chain == county2["county_id"]


def test_another_countys_admin_gets_nothing_from_the_api(shared_app, others, county2):  # noqa: F811
    """Every endpoint naming county 1's objects: 404 (403 without the role); lists and forms name none of them."""
    app, world = shared_app
    before = chain_length(app, 1)
    wrong = []
    for ep in protected_endpoints():
        url = fill(ep.path, others)
        r = call(app, ep, world.tokens["admin_b"], url, body_for(ep, world, others))
        if ep.roles and not _holds("admin", ep.roles):
            expected = {403}
        elif "<" in ep.path:
            # A body refused before the object is looked up (400) tells nothing of the object.
            expected = {404} if ep.method == "GET" else {400, 404}
        else:
            expected = None  # a list or a form of their own county: anything but a leak or a 5xx
        text = text_of(r)
        leaked = [m for m in COUNTY_1_MARKERS if m in text]
        if r.status_code >= 500 or leaked or (expected is not None and r.status_code not in expected):
            wrong.append((ep.method, url, r.status_code, leaked))
    assert wrong == [], "\n".join(map(str, wrong))
    assert chain_length(app, 1) == before


def test_another_countys_admin_gets_nothing_from_the_console(shared_app, others, county2):  # noqa: F811
    """Every console page about county 1's objects is a 404 for county 2's administrator; lists name none."""
    app, _ = shared_app
    client = login(app.test_client(), "admin_b", "admin_b-password")
    wrong = []
    for rule in page_rules(app):
        r = client.get(url_of(rule, others), follow_redirects=True)
        text = text_of(r)
        leaked = [m for m in COUNTY_1_MARKERS if m in text]
        if rule.arguments:
            expected = {403} if rule.endpoint in OWN_WORK_PAGES else {404}
        else:
            expected = {403} if rule.endpoint in OWN_WORK_PAGES else {200}
        if r.status_code not in expected or leaked:
            wrong.append((rule.rule, r.status_code, leaked))
    assert wrong == [], wrong


def test_another_countys_admin_cannot_change_this_county_from_any_form(shared_app, others, county2):  # noqa: F811
    """Every console form aimed at county 1's objects, with a valid CSRF token: 4xx, never a 5xx, and county 1's
    audit chain does not grow."""
    app, _ = shared_app
    before = chain_length(app, 1)
    client = login(app.test_client(), "admin_b", "admin_b-password")
    token = csrf(client)
    wrong = []
    for rule in form_rules(app):
        status = client.post(url_of(rule, others), data={"csrf_token": token}).status_code
        if rule.arguments and status not in (403, 404) or status >= 500:
            wrong.append((rule.rule, status))
    assert wrong == [], wrong
    assert chain_length(app, 1) == before


def test_city_leader_reads_every_county_and_writes_nothing(shared_app, others, county2):  # noqa: F811
    """The city leader reads what a county leader reads (both counties' lists), and every write is a 403."""
    app, world = shared_app
    wrong = []
    for ep in protected_endpoints():
        url = fill(ep.path, others)
        r = call(app, ep, world.tokens["city_leader"], url, body_for(ep, world, others))
        if ep.method != "GET" or ep.roles and not _holds("leader", ep.roles):
            expected = {403}
        elif "leader" in ALLOWED.get((ep.method, ep.path), frozenset()):
            expected = "ok"
        else:
            continue  # the county leader's own refusals (404s of lists of their own) are the matrix's business
        fine = r.status_code < 300 if expected == "ok" else r.status_code in expected
        if not fine:
            wrong.append((ep.method, url, r.status_code, (r.get_json(silent=True) or {}).get("error")))
    assert wrong == [], wrong
    client = login(app.test_client(), "city_leader", "city-password")
    overview = client.get("/console/counties")
    assert overview.status_code == 200
    text = text_of(overview)
    assert "吉水县" in text and 'data-county-id="1"' in text
    token = csrf(client)
    before = chain_length(app, 1), chain_length(app, county2["county_id"])
    posted = [(r.rule, client.post(url_of(r, others), data={"csrf_token": token}).status_code) for r in form_rules(app)]
    assert [p for p in posted if p[1] != 403] == []
    assert (chain_length(app, 1), chain_length(app, county2["county_id"])) == before


def test_a_county_leader_sees_only_their_countys_line(shared_app, county2):
    """各县概况 for a county's own leader lists that county alone."""
    app, _ = shared_app
    client = login(app.test_client(), "leader", "leader-password")
    text = text_of(client.get("/console/counties"))
    assert 'data-county-id="1"' in text and "吉水县" not in text


def test_counties_neither_see_nor_change_the_city_leader_or_each_others_villagers(shared_app, others, county2):  # noqa: F811
    """County 2's administrator lists no villager of county 1 and no city leader, and changes neither; county 1's
    administrator sees the villager who gave feedback there, and cannot touch the city leader either."""
    app, world = shared_app
    with app.app_context():
        villager = db.session.scalar(select(User).where(User.openid == "openid-villager-2"))
        villager_id, city_id = villager.id, world.ids["city_leader"]
    admin_b = Api(app.test_client(), world.tokens["admin_b"])
    listed = {u["id"] for u in admin_b.get("/api/v1/admin/users?per_page=200").get_json()["items"]}
    assert villager_id not in listed and city_id not in listed
    for target in (villager_id, city_id):
        assert admin_b.patch(f"/api/v1/admin/users/{target}", {"active": False}).status_code == 404
    admin = Api(app.test_client(), world.tokens["admin"])
    assert villager_id in {u["id"] for u in admin.get("/api/v1/admin/users?per_page=200").get_json()["items"]}
    assert admin.patch(f"/api/v1/admin/users/{city_id}", {"active": False}).status_code == 404
    with app.app_context():
        assert db.session.get(User, city_id).active and db.session.get(User, villager_id).active
