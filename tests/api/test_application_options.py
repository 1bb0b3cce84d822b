"""The choices a secretary's application form offers on the phone: own organizations and their places."""

from __future__ import annotations

import pytest

from tests.factories import Api, build_lifecycle

URL = "/api/v1/projects/application-options"


@pytest.fixture
def lc(app, world):
    """The base world plus organizations, their secretaries and reporting-unit reviewers."""
    with app.app_context():
        return build_lifecycle(world)


def test_secretary_gets_own_organization_and_its_townships_places(client, lc):
    """Only the caller's organization, with the villages and unit sites of its township."""
    body = Api(client, lc.tokens["secretary"]).get(URL).get_json()
    assert [o["id"] for o in body["organizations"]] == [lc.org1]
    assert body["organizations"][0]["village_id"] == lc.v1
    assert [v["id"] for v in body["villages"]] == [lc.v1]
    assert [s["name"] for s in body["sites"]] == ["高新区党群服务中心"]


def test_other_secretary_sees_only_the_other_township(client, lc):
    """sec2 of org2 (桐坪镇) is offered 大栗村 and no site of 永阳镇."""
    body = Api(client, lc.tokens["sec2"]).get(URL).get_json()
    assert [o["id"] for o in body["organizations"]] == [lc.org2]
    assert [v["id"] for v in body["villages"]] == [lc.v2] and body["sites"] == []


def test_secretary_without_organization_gets_nothing(client, lc):
    """A secretary of no organization is offered no place at all."""
    token = Api(client, lc.tokens["admin"]).post(
        "/api/v1/admin/users",
        {"name": "新书记", "username": "newsec", "password": "newsec-password-1", "role": "secretary"},
    )
    assert token.status_code == 201
    login = client.post("/api/v1/auth/login", json={"username": "newsec", "password": "newsec-password-1"})
    body = Api(client, login.get_json()["token"]).get(URL).get_json()
    assert body == {"organizations": [], "villages": [], "sites": []}


def test_other_roles_are_refused(client, lc):
    """Only secretaries fill applications on the phone."""
    assert Api(client, lc.tokens["insp_a"]).get(URL).status_code == 403
