"""Party organizations and projects through /api/v1/admin: creation, edits, where a project takes place."""

from tests.api.conftest import A, audit_entries, error_of, site_id_of
from tests.factories import Api, start_visit


def test_create_and_edit_organization(admin, world):
    """POST creates a party organization and PATCH edits it."""
    r = admin.post(f"{A}/organizations", {"name": "江南村党支部", "township_id": world.t1, "village_id": world.v1})
    assert r.status_code == 201
    org = r.get_json()
    assert (org["domain"], org["village_id"]) == ("农村", world.v1)
    r = admin.patch(f"{A}/organizations/{org['id']}", {"name": "江南村党总支"})
    assert r.status_code == 200
    assert r.get_json()["name"] == "江南村党总支"


def test_organization_of_unknown_village(admin):
    """An organization in a village that does not exist answers 404."""
    r = admin.post(f"{A}/organizations", {"name": "某支部", "village_id": 99999})
    assert r.status_code == 404


def test_organization_domain_is_validated(admin):
    """A domain outside the seven fields answers 400."""
    r = admin.post(f"{A}/organizations", {"name": "某支部", "domain": "外星"})
    assert r.status_code == 400
    assert error_of(r)["details"]["field"] == "domain"


def test_create_project_at_villages(admin, world):
    """A project at two villages answers both village ids and no site."""
    r = admin.post(
        f"{A}/projects",
        {"title": "两村联建", "year": 2026, "village_ids": [world.v1, world.v2], "steps": [{"name": "立项"}]},
    )
    assert r.status_code == 201
    body = r.get_json()
    assert body["village_ids"] == sorted([world.v1, world.v2]) and body["site"] is None
    assert body["steps"] == [{"name": "立项"}] and body["status"] == "in_progress"


def test_create_project_with_new_site(admin, world):
    """A project given a site object creates that site."""
    r = admin.post(
        f"{A}/projects",
        {
            "title": "国企党建",
            "year": 2026,
            "domain": "国企",
            "site": {"name": "县供电公司", "lat": 27.1, "lng": 114.95},
        },
    )
    assert r.status_code == 201
    body = r.get_json()
    assert body["village_ids"] == [] and body["site"]["name"] == "县供电公司"
    sites = admin.get(f"{A}/sites").get_json()
    assert sites["total"] == 2 and body["site"]["id"] in [s["id"] for s in sites["items"]]


def test_create_project_at_existing_site(admin, world):
    """A site object with only an id places the project at that site without a new one."""
    site_id = site_id_of(admin, world.p3)
    r = admin.post(f"{A}/projects", {"title": "二期", "year": 2027, "site": {"id": site_id}})
    assert r.status_code == 201
    assert r.get_json()["site"]["id"] == site_id
    assert admin.get(f"{A}/sites").get_json()["total"] == 1


def test_project_with_villages_and_site(admin, world):
    """A project given both village_ids and a site answers 400."""
    r = admin.post(
        f"{A}/projects",
        {
            "title": "两头",
            "year": 2026,
            "village_ids": [world.v1],
            "site": {"name": "某单位", "lat": 27.0, "lng": 114.9},
        },
    )
    assert r.status_code == 400
    assert error_of(r)["code"] == "validation_failed"
    assert admin.get(f"{A}/sites").get_json()["total"] == 1


def test_project_without_place(admin):
    """A project with neither village_ids nor a site answers 400."""
    r = admin.post(f"{A}/projects", {"title": "无处", "year": 2026})
    assert r.status_code == 400
    assert error_of(r)["code"] == "validation_failed"


def test_project_at_unknown_village(admin, world):
    """A project at a village that does not exist answers 404 listing it."""
    r = admin.post(f"{A}/projects", {"title": "某项目", "year": 2026, "village_ids": [world.v1, 99999]})
    assert r.status_code == 404
    assert error_of(r)["details"]["village_ids"] == [99999]


def test_update_project(admin, world):
    """PATCH edits a project's title and keeps its status and villages."""
    r = admin.patch(f"{A}/projects/{world.p1}", {"title": "井冈蜜柚产业项目"})
    assert r.status_code == 200
    body = r.get_json()
    assert (body["title"], body["status"], body["village_ids"]) == ("井冈蜜柚产业项目", "in_progress", [world.v1])


def test_project_place_is_fixed_once_visited(client, admin, world):
    """Moving a project to other villages after a visit was made for it answers 409."""
    start_visit(Api(client, world.tokens["insp_a"]), world.a1)
    r = admin.patch(f"{A}/projects/{world.p1}", {"village_ids": [world.v2]})
    assert r.status_code == 409
    assert error_of(r)["code"] == "conflict"
    assert admin.patch(f"{A}/projects/{world.p1}", {"title": "仍可改名"}).status_code == 200


def test_project_place_resent_unchanged_after_a_visit(client, admin, world):
    """A PATCH repeating the project's current villages after a visit is not a move and succeeds."""
    start_visit(Api(client, world.tokens["insp_a"]), world.a1)
    r = admin.patch(f"{A}/projects/{world.p1}", {"title": "整表提交", "village_ids": [world.v1]})
    assert r.status_code == 200
    assert r.get_json()["village_ids"] == [world.v1]


def test_project_place_editable_before_any_visit(admin, world):
    """Before any visit a project can move to other villages."""
    r = admin.patch(f"{A}/projects/{world.p2}", {"village_ids": [world.v1, world.v2]})
    assert r.status_code == 200
    assert r.get_json()["village_ids"] == sorted([world.v1, world.v2])


def test_organization_edit_is_audited(app, admin):
    """Editing an organization appends an organization.update entry listing the changed fields."""
    org = admin.post(f"{A}/organizations", {"name": "某支部"}).get_json()
    admin.patch(f"{A}/organizations/{org['id']}", {"name": "某总支", "domain": "机关"})
    last = audit_entries(app)[-1]
    assert (last.action, last.object_id, last.data) == (
        "organization.update",
        str(org["id"]),
        {"fields": ["domain", "name"]},
    )


def test_project_secretary_must_hold_the_secretary_role(client, world):
    """A project's secretary in charge is set through the API only to an active secretary."""
    admin = Api(client, world.tokens["admin"])
    ok = admin.patch(f"/api/v1/admin/projects/{world.p1}", {"secretary_id": world.ids["secretary"]})
    assert ok.status_code == 200
    bad = admin.patch(f"/api/v1/admin/projects/{world.p1}", {"secretary_id": world.ids["insp_a"]})
    assert bad.status_code == 400 and bad.get_json()["error"]["details"]["field"] == "secretary_id"
