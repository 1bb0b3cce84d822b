"""The admin API (/api/v1/admin) across its resources: access, paging and search, request bodies, audit."""

import pytest

from tests.api.conftest import A, audit_count, audit_entries, error_of, site_id_of
from tests.factories import Api

RESOURCES = ("townships", "villages", "sites", "organizations", "projects", "users", "assignments")
NON_ADMINS = ("insp_a", "reviewer1", "leader", "secretary", "villager")


@pytest.mark.parametrize("role", NON_ADMINS)
@pytest.mark.parametrize("resource", RESOURCES)
def test_non_admins_are_forbidden(client, world, resource, role):
    """Every non-admin role gets 403 forbidden on listing and creating each admin resource."""
    api = Api(client, world.tokens[role])
    for r in (api.get(f"{A}/{resource}"), api.post(f"{A}/{resource}", {})):
        assert r.status_code == 403
        assert error_of(r)["code"] == "forbidden"


@pytest.mark.parametrize("resource", RESOURCES)
def test_admin_resources_need_a_token(client, world, resource):
    """Without a token each admin resource answers 401 unauthorized."""
    r = client.get(f"{A}/{resource}")
    assert r.status_code == 401
    assert error_of(r)["code"] == "unauthorized"


def test_non_admin_write_changes_nothing(app, client, world):
    """A refused PATCH by a reviewer leaves the record and the audit log untouched."""
    before = audit_count(app)
    r = Api(client, world.tokens["reviewer1"]).patch(f"{A}/townships/{world.t1}", {"name": "改名镇"})
    assert r.status_code == 403
    assert audit_count(app) == before
    items = Api(client, world.tokens["admin"]).get(f"{A}/townships").get_json()["items"]
    assert next(t for t in items if t["id"] == world.t1)["name"] == "永阳镇"


@pytest.mark.parametrize(
    "resource,total",
    [
        ("townships", 2),
        ("villages", 2),
        ("sites", 1),
        ("organizations", 0),
        ("projects", 3),
        ("users", 9),
        ("assignments", 3),
    ],
)
@pytest.mark.both_databases
def test_list_reports_page_and_total(admin, resource, total):
    """Each list answers items with page, per_page and the total count."""
    r = admin.get(f"{A}/{resource}")
    assert r.status_code == 200
    body = r.get_json()
    assert (body["page"], body["per_page"], body["total"]) == (1, 50, total)
    assert len(body["items"]) == total


@pytest.mark.both_databases
def test_list_pages_through_users(admin):
    """per_page and page cut the list into pages that together hold every row once."""
    seen = []
    for page in (1, 2, 3):
        body = admin.get(f"{A}/users", query_string={"page": page, "per_page": 3}).get_json()
        assert body["total"] == 9 and body["per_page"] == 3 and body["page"] == page
        seen += [u["id"] for u in body["items"]]
    assert len(seen) == 9 and len(set(seen)) == 9


@pytest.mark.both_databases
def test_list_beyond_the_last_page_is_empty(admin):
    """A page past the end answers no items but the real total."""
    body = admin.get(f"{A}/townships", query_string={"page": 5, "per_page": 10}).get_json()
    assert body["items"] == [] and body["total"] == 2


@pytest.mark.parametrize("args", [{"per_page": 0}, {"per_page": 201}, {"page": 0}, {"page": "x"}])
def test_list_rejects_bad_paging(admin, args):
    """Out-of-range or non-integer page/per_page answers 400 validation_failed."""
    r = admin.get(f"{A}/townships", query_string=args)
    assert r.status_code == 400
    assert error_of(r)["code"] == "validation_failed"


@pytest.mark.parametrize(
    "resource,q,expected",
    [
        ("townships", "桐坪", ["桐坪镇"]),
        ("townships", "360821100000", ["永阳镇"]),
        ("villages", "江南", ["江南村"]),
        ("sites", "党群", ["高新区党群服务中心"]),
        ("projects", "旱厕", ["旱厕改造"]),
        ("users", "reviewer", ["reviewer1", "reviewer2"]),
    ],
)
@pytest.mark.both_databases
def test_list_search(admin, resource, q, expected):
    """q finds rows by name (and code or username) and nothing else."""
    body = admin.get(f"{A}/{resource}", query_string={"q": q}).get_json()
    names = [i.get("title") or i.get("username") or i["name"] for i in body["items"]]
    assert names == expected and body["total"] == len(expected)


@pytest.mark.both_databases
def test_list_search_treats_wildcards_literally(admin):
    """A q of % or _ matches names containing that character, not every row."""
    for q in ("%", "_"):
        body = admin.get(f"{A}/townships", query_string={"q": q}).get_json()
        assert body["total"] == 0, q


@pytest.mark.parametrize(
    "raw",
    [
        '{"code": "360821104000", "name": "万福镇", "lat": NaN, "lng": 114.9}',
        '{"code": "360821104000", "name": "万福镇", "lat": Infinity, "lng": 114.9}',
        '{"code": "360821104000", "name": "万福镇",',
        '["360821104000"]',
        "",
    ],
)
def test_body_that_is_not_a_strict_json_object(admin, raw):
    """NaN/Infinity, broken JSON, a non-object and an empty body answer 400 invalid_json."""
    r = admin.post(f"{A}/townships", data=raw, content_type="application/json")
    assert r.status_code == 400
    assert error_of(r)["code"] == "invalid_json"
    assert admin.get(f"{A}/townships").get_json()["total"] == 2


@pytest.mark.parametrize(
    "resource,body",
    [
        ("townships", {"code": "360821104000", "name": "万福镇", "population": 1}),
        ("villages", {"township_id": 1, "code": "360821100209", "name": "新村", "lat": 27, "lng": 114, "alias": "x"}),
        ("projects", {"title": "项目", "year": 2026, "village_ids": [1], "budget": 100}),
        ("users", {"name": "某人", "roles": ["inspector"], "is_admin": True}),
    ],
)
def test_unknown_fields_are_refused(admin, resource, body):
    """A field the schema does not know answers 400 naming it."""
    r = admin.post(f"{A}/{resource}", body)
    assert r.status_code == 400
    assert error_of(r)["code"] == "validation_failed"
    assert "不支持的字段" in error_of(r)["message"]


@pytest.mark.parametrize(
    "resource", ["townships", "villages", "sites", "organizations", "projects", "users", "assignments"]
)
def test_patch_of_missing_record(admin, resource):
    """PATCH of an id that does not exist answers 404 not_found."""
    r = admin.patch(f"{A}/{resource}/99999", {})
    assert r.status_code == 404
    assert error_of(r)["code"] == "not_found"


def _writes(world, site_id):
    """Every kind of admin write: (method, path, body, audit action)."""
    return [
        ("post", "townships", {"code": "360821104000", "name": "万福镇"}, "township.create"),
        ("patch", f"townships/{world.t1}", {"name": "永阳"}, "township.update"),
        (
            "post",
            "villages",
            {"township_id": world.t1, "code": "360821100203", "name": "城西村", "lat": 27.0, "lng": 114.9},
            "village.create",
        ),
        ("patch", f"villages/{world.v1}", {"radius_m": 600}, "village.update"),
        ("post", "sites", {"name": "县医院", "lat": 27.0, "lng": 114.9}, "site.create"),
        ("patch", f"sites/{site_id}", {"radius_m": 200}, "site.update"),
        ("post", "organizations", {"name": "某支部"}, "organization.create"),
        ("post", "projects", {"title": "新项目", "year": 2026, "village_ids": [world.v1]}, "project.create"),
        (
            "post",
            "projects",
            {"title": "单位项目", "year": 2026, "site": {"name": "县局", "lat": 27.0, "lng": 114.9}},
            "project.create",
        ),
        ("patch", f"projects/{world.p1}", {"title": "蜜柚产业二期"}, "project.update"),
        ("post", "users", {"name": "新人", "roles": ["inspector"]}, "user.create"),
        ("patch", f"users/{world.ids['insp_b']}", {"reset_invite": True}, "user.update"),
        ("post", "assignments", {"project_id": world.p2, "inspector_ids": [world.ids["insp_c"]]}, "assignment.create"),
        ("patch", f"assignments/{world.a1}", {"status": "closed"}, "assignment.update"),
    ]


def test_every_admin_write_is_audited(app, admin, world):
    """Each successful admin write appends an entry naming the action, the object and the admin."""
    site_id = site_id_of(admin, world.p3)
    for method, path, body, action in _writes(world, site_id):
        before = audit_count(app)
        r = getattr(admin, method)(f"{A}/{path}", body)
        assert r.status_code in (200, 201), (path, r.get_json())
        new = audit_entries(app)[before:]
        assert new, path
        last = new[-1]
        assert (last.action, last.object_id, last.actor_id) == (action, str(r.get_json()["id"]), world.ids["admin"])


def test_refused_writes_are_not_audited(app, admin, world):
    """Writes answered with 400, 404 or 409 leave the audit log as it was."""
    before = audit_count(app)
    assert admin.post(f"{A}/townships", {"code": "360821100000", "name": "重复"}).status_code == 409
    assert (
        admin.post(
            f"{A}/villages", {"township_id": 99999, "code": "360821100205", "name": "无", "lat": 27.0, "lng": 114.9}
        ).status_code
        == 404
    )
    assert (
        admin.post(
            f"{A}/projects",
            {
                "title": "两头",
                "year": 2026,
                "village_ids": [world.v1],
                "site": {"name": "某", "lat": 27.0, "lng": 114.9},
            },
        ).status_code
        == 400
    )
    assert (
        admin.post(f"{A}/assignments", {"project_id": world.p1, "inspector_ids": [world.ids["insp_c"]]}).status_code
        == 409
    )
    assert audit_count(app) == before
