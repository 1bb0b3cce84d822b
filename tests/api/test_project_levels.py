"""Project levels (县级/镇级/村级/县委书记领办) in the admin API, and the 书记领办事项 API."""

from __future__ import annotations

from datetime import date

import pytest

from server import clock
from server.db import db
from server.models import User
from server.services import projects
from tests.api.conftest import A, error_of
from tests.factories import Api


def test_level_is_set_on_create_and_edit(admin: Api, world):
    """An admin creates a project with a level, changes it, and clears it back to 未定级 (null)."""
    r = admin.post(
        f"{A}/projects", json={"title": "村级活动场所提升", "year": 2026, "village_ids": [world.v1], "level": "village"}
    )
    assert r.status_code == 201 and r.get_json()["level"] == "village"
    pid = r.get_json()["id"]
    assert (
        admin.patch(f"{A}/projects/{pid}", json={"level": "county_secretary"}).get_json()["level"] == "county_secretary"
    )
    assert admin.patch(f"{A}/projects/{pid}", json={"level": None}).get_json()["level"] is None


def test_an_unknown_level_is_refused(admin: Api, world):
    """A level outside the four is a 400 naming the field."""
    r = admin.post(f"{A}/projects", json={"title": "x", "year": 2026, "village_ids": [world.v1], "level": "province"})
    assert r.status_code == 400


def test_projects_filter_by_level(admin: Api, world):
    """GET /admin/projects?level= lists the projects of that level only; an unknown level is a 400."""
    admin.patch(f"{A}/projects/{world.p1}", json={"level": "township"})
    admin.patch(f"{A}/projects/{world.p2}", json={"level": "village"})
    items = admin.get(f"{A}/projects", query_string={"level": "township"}).get_json()["items"]
    assert [p["id"] for p in items] == [world.p1]
    assert admin.get(f"{A}/projects", query_string={"level": "nation"}).status_code == 400


def test_lifecycle_project_shows_its_level(admin: Api, world):
    """The lifecycle's project answer carries the level and its Chinese label (未定级 when none)."""
    assert admin.get(f"/api/v1/projects/{world.p2}").get_json()["level_label"] == "未定级"
    admin.patch(f"{A}/projects/{world.p2}", json={"level": "county"})
    body = admin.get(f"/api/v1/projects/{world.p2}").get_json()
    assert (body["level"], body["level_label"]) == ("county", "县级")


# ---- 书记领办事项 ------------------------------------------------------------------------------


@pytest.fixture
def org_id(app, world):
    """An organization to lead items in."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        return projects.create_organization(db.session, admin, {"name": "深村党总支", "township_id": world.t2}).id


def item_body(org_id: int, **extra) -> dict:
    """A new item's body."""
    return {
        "title": "百名博士进老区",
        "started_on": "2024-03-01",
        "organization_id": org_id,
        "level": "county_secretary",
        "leader_name": "县委书记",
        **extra,
    }


def test_lead_item_flow_through_the_api(admin: Api, world, org_id, monkeypatch):
    """Create, record a visible result, see the rule's dates, then a suggestion confirmed into a warning."""
    monkeypatch.setattr(clock, "today", lambda: date(2024, 3, 1))
    r = admin.post("/api/v1/lead-items", json=item_body(org_id))
    assert r.status_code == 201, r.get_json()
    item = r.get_json()
    assert item["rule"] == {"since": "2024-03-01", "last_result": None, "due": "2026-03-01", "suggested": False}
    monkeypatch.setattr(clock, "today", lambda: date(2024, 9, 1))
    r = admin.post(f"/api/v1/lead-items/{item['id']}/progress", json={"text": "引进博士 22 名", "visible_result": True})
    assert r.status_code == 201 and r.get_json()["rule"]["due"] == "2026-09-01"
    monkeypatch.setattr(clock, "today", lambda: date(2026, 9, 1))
    [suggested] = admin.get("/api/v1/lead-items/suggestions").get_json()["items"]
    assert suggested["id"] == item["id"] and suggested["rule"]["suggested"] is True
    r = admin.post(f"/api/v1/lead-items/{item['id']}/suggestion", json={"decision": "confirm"})
    assert r.status_code == 200
    [decision] = r.get_json()["decisions"]
    assert decision["decision"] == "confirmed" and decision["warning_id"]
    again = admin.post(f"/api/v1/lead-items/{item['id']}/suggestion", json={"decision": "dismiss", "reason": "x"})
    assert again.status_code == 409
    assert admin.get("/api/v1/lead-items/suggestions").get_json()["items"] == []


def test_lead_items_list_filters(admin: Api, world, org_id):
    """The list filters by level and status."""
    admin.post("/api/v1/lead-items", json=item_body(org_id))
    admin.post("/api/v1/lead-items", json=item_body(org_id, title="红叶谷撂荒地复垦", level="village", status="done"))
    assert admin.get("/api/v1/lead-items", query_string={"level": "village"}).get_json()["total"] == 1
    [done] = admin.get("/api/v1/lead-items", query_string={"status": "done"}).get_json()["items"]
    assert done["title"] == "红叶谷撂荒地复垦"


def test_lead_items_roles(client, admin: Api, world, org_id):
    """Leaders read but do not write; reviewers and secretaries are refused."""
    item_id = admin.post("/api/v1/lead-items", json=item_body(org_id)).get_json()["id"]
    leader = Api(client, world.tokens["leader"])
    assert leader.get(f"/api/v1/lead-items/{item_id}").status_code == 200
    r = leader.post(f"/api/v1/lead-items/{item_id}/progress", json={"text": "x"})
    assert r.status_code == 403
    for who in ("reviewer1", "secretary"):
        assert Api(client, world.tokens[who]).get("/api/v1/lead-items").status_code == 403


def test_dismiss_without_reason_is_refused(admin: Api, world, org_id, monkeypatch):
    """Dismissing a suggestion needs a reason."""
    monkeypatch.setattr(clock, "today", lambda: date(2024, 3, 1))
    item_id = admin.post("/api/v1/lead-items", json=item_body(org_id)).get_json()["id"]
    monkeypatch.setattr(clock, "today", lambda: date(2026, 3, 1))
    r = admin.post(f"/api/v1/lead-items/{item_id}/suggestion", json={"decision": "dismiss"})
    assert r.status_code == 400 and error_of(r)["details"]["field"] == "reason"
