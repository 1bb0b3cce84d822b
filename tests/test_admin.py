"""Administration of base data under /api/v1/admin: lists, creation, edits, validation, audit."""

import re

import pytest
from sqlalchemy import func, select

from server import geo
from server.db import db
from server.models import AuditEntry
from tests.factories import V1, V2, Api, start_visit

A = "/api/v1/admin"
RESOURCES = ("townships", "villages", "sites", "organizations", "projects", "users", "assignments")
NON_ADMINS = ("insp_a", "reviewer1", "leader", "secretary", "villager")
INVITE = re.compile(r"^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{4}$")
SQUARE = {"type": "Polygon", "coordinates": [[[114.87, 27.01], [114.89, 27.01], [114.89, 27.03],
                                               [114.87, 27.03], [114.87, 27.01]]]}


@pytest.fixture
def admin(client, world) -> Api:
    """The API as the administrator."""
    return Api(client, world.tokens["admin"])


def error_of(response) -> dict:
    """The `error` object of an error response."""
    return response.get_json()["error"]


def audit_entries(app) -> list[AuditEntry]:
    """Every audit entry, oldest first."""
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def audit_count(app) -> int:
    """How many entries the audit log holds."""
    with app.app_context():
        return db.session.scalar(select(func.count(AuditEntry.id)))


def site_id_of(admin: Api, project_id: int) -> int:
    """The site of a project placed at a unit's site."""
    items = admin.get(f"{A}/projects", query_string={"per_page": 200}).get_json()["items"]
    return next(p for p in items if p["id"] == project_id)["site"]["id"]


# ---- access --------------------------------------------------------------------------------

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


# ---- lists ---------------------------------------------------------------------------------

@pytest.mark.parametrize("resource,total", [
    ("townships", 2), ("villages", 2), ("sites", 1), ("organizations", 0), ("projects", 3),
    ("users", 9), ("assignments", 3),
])
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


@pytest.mark.parametrize("resource,q,expected", [
    ("townships", "桐坪", ["桐坪镇"]),
    ("townships", "360821100000", ["永阳镇"]),
    ("villages", "江南", ["江南村"]),
    ("sites", "党群", ["高新区党群服务中心"]),
    ("projects", "旱厕", ["旱厕改造"]),
    ("users", "reviewer", ["reviewer1", "reviewer2"]),
])
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


def test_list_villages_of_a_township(admin, world):
    """township_id narrows the village list to that township."""
    body = admin.get(f"{A}/villages", query_string={"township_id": world.t2}).get_json()
    assert [v["id"] for v in body["items"]] == [world.v2]


def test_list_users_by_role(admin, world):
    """role narrows the user list to holders of that role."""
    body = admin.get(f"{A}/users", query_string={"role": "inspector"}).get_json()
    assert sorted(u["id"] for u in body["items"]) == sorted(world.ids[k] for k in ("insp_a", "insp_b", "insp_c"))


def test_list_assignments_by_project(admin, world):
    """project_id narrows the assignment list to that project."""
    body = admin.get(f"{A}/assignments", query_string={"project_id": world.p3}).get_json()
    assert [a["id"] for a in body["items"]] == [world.a3]
    assert body["items"][0]["place"]["kind"] == "site"


# ---- townships -----------------------------------------------------------------------------

def test_create_township(admin):
    """POST creates a township and answers it with 201."""
    r = admin.post(f"{A}/townships", {"code": "360821104000", "name": "万福镇", "lat": 26.97, "lng": 114.99})
    assert r.status_code == 201
    body = r.get_json()
    assert body["code"] == "360821104000" and body["name"] == "万福镇" and body["lat"] == 26.97
    assert admin.get(f"{A}/townships").get_json()["total"] == 3


def test_update_township(admin, world):
    """PATCH renames a township."""
    r = admin.patch(f"{A}/townships/{world.t1}", {"name": "永阳镇人民政府"})
    assert r.status_code == 200
    assert r.get_json()["name"] == "永阳镇人民政府"
    assert r.get_json()["code"] == "360821100000"


@pytest.mark.parametrize("code", ["36082110000", "3608211000000", "36082110000A", ""])
def test_township_code_must_be_12_digits(admin, code):
    """A code that is not exactly 12 digits answers 400 validation_failed naming the field."""
    r = admin.post(f"{A}/townships", {"code": code, "name": "某镇"})
    assert r.status_code == 400
    assert error_of(r)["code"] == "validation_failed"
    assert error_of(r)["details"]["field"] == "code"


def test_township_code_is_required(admin):
    """A township without a code answers 400 naming the missing field in Chinese."""
    r = admin.post(f"{A}/townships", {"name": "某镇"})
    assert r.status_code == 400
    assert error_of(r)["details"]["field"] == "code"
    assert "缺少必填字段" in error_of(r)["message"]


@pytest.mark.both_databases
def test_duplicate_township_code(admin):
    """A code already in use answers 409 conflict."""
    r = admin.post(f"{A}/townships", {"code": "360821100000", "name": "重复镇"})
    assert r.status_code == 409
    assert error_of(r)["code"] == "conflict"
    assert error_of(r)["details"]["field"] == "code"


@pytest.mark.both_databases
def test_patch_to_a_duplicate_code(admin, world):
    """Changing a township's code to another township's code answers 409 conflict."""
    r = admin.patch(f"{A}/townships/{world.t2}", {"code": "360821100000"})
    assert r.status_code == 409
    assert error_of(r)["code"] == "conflict"


def test_latitude_out_of_range(admin):
    """lat 91 answers 400 validation_failed on the lat field."""
    r = admin.post(f"{A}/townships", {"code": "360821104000", "name": "万福镇", "lat": 91, "lng": 114.9})
    assert r.status_code == 400
    assert error_of(r)["code"] == "validation_failed"
    assert error_of(r)["details"]["field"] == "lat"


def test_township_longitude_without_latitude(admin, world):
    """A PATCH with lng but no lat answers 400 instead of being silently ignored."""
    r = admin.patch(f"{A}/townships/{world.t1}", {"lng": 114.9})
    assert r.status_code == 400
    assert error_of(r)["code"] == "invalid_coordinate"


@pytest.mark.parametrize("raw", [
    '{"code": "360821104000", "name": "万福镇", "lat": NaN, "lng": 114.9}',
    '{"code": "360821104000", "name": "万福镇", "lat": Infinity, "lng": 114.9}',
    '{"code": "360821104000", "name": "万福镇",',
    '["360821104000"]',
    "",
])
def test_body_that_is_not_a_strict_json_object(admin, raw):
    """NaN/Infinity, broken JSON, a non-object and an empty body answer 400 invalid_json."""
    r = admin.post(f"{A}/townships", data=raw, content_type="application/json")
    assert r.status_code == 400
    assert error_of(r)["code"] == "invalid_json"
    assert admin.get(f"{A}/townships").get_json()["total"] == 2


@pytest.mark.parametrize("resource,body", [
    ("townships", {"code": "360821104000", "name": "万福镇", "population": 1}),
    ("villages", {"township_id": 1, "code": "360821100209", "name": "新村", "lat": 27, "lng": 114, "alias": "x"}),
    ("projects", {"title": "项目", "year": 2026, "village_ids": [1], "budget": 100}),
    ("users", {"name": "某人", "roles": ["inspector"], "is_admin": True}),
])
def test_unknown_fields_are_refused(admin, resource, body):
    """A field the schema does not know answers 400 naming it."""
    r = admin.post(f"{A}/{resource}", body)
    assert r.status_code == 400
    assert error_of(r)["code"] == "validation_failed"
    assert "不支持的字段" in error_of(r)["message"]


@pytest.mark.parametrize("resource", ["townships", "villages", "sites", "organizations", "projects", "users",
                                      "assignments"])
def test_patch_of_missing_record(admin, resource):
    """PATCH of an id that does not exist answers 404 not_found."""
    r = admin.patch(f"{A}/{resource}/99999", {})
    assert r.status_code == 404
    assert error_of(r)["code"] == "not_found"


# ---- villages ------------------------------------------------------------------------------

def test_create_village_in_wgs84(admin, world):
    """A village given in WGS-84 is stored as given, with its radius."""
    r = admin.post(f"{A}/villages", {"township_id": world.t1, "code": "360821100203", "name": "城西村",
                                     "lat": 27.011, "lng": 114.861, "radius_m": 800})
    assert r.status_code == 201
    body = r.get_json()
    assert (body["lat"], body["lng"], body["radius_m"]) == (27.011, 114.861, 800)


def test_village_given_in_gcj02_is_stored_as_wgs84(admin, world):
    """A GCJ-02 centre is converted to WGS-84 for storage and answered back as the gcj02 point."""
    glat, glng = 27.0161, 114.8803
    r = admin.post(f"{A}/villages", {"township_id": world.t1, "code": "360821100204", "name": "江北村",
                                     "lat": glat, "lng": glng, "coord_type": "gcj02"})
    assert r.status_code == 201
    body = r.get_json()
    wlat, wlng = geo.gcj02_to_wgs84(glat, glng)
    assert body["lat"] == pytest.approx(wlat, abs=1e-9) and body["lng"] == pytest.approx(wlng, abs=1e-9)
    assert abs(body["lat"] - glat) > 1e-4  # the datum shift in Jiangxi is hundreds of metres
    assert body["gcj02"] == {"lat": pytest.approx(glat, abs=2e-7), "lng": pytest.approx(glng, abs=2e-7)}
    listed = admin.get(f"{A}/villages", query_string={"q": "江北"}).get_json()["items"][0]
    assert listed["lat"] == pytest.approx(wlat, abs=1e-9)


def test_village_centre_keeps_full_precision(admin, world):
    """A centre read back from the database is the one stored, to the last digit (no FLOAT rounding)."""
    r = admin.post(f"{A}/villages", {"township_id": world.t1, "code": "360821100206", "name": "精度村",
                                     "lat": 27.0123456789, "lng": 114.8765432101})
    assert r.status_code == 201
    listed = admin.get(f"{A}/villages", query_string={"q": "精度"}).get_json()["items"][0]
    assert (listed["lat"], listed["lng"]) == (27.0123456789, 114.8765432101)


def test_patch_village_point_in_gcj02(admin, world):
    """PATCH with a GCJ-02 centre stores the WGS-84 equivalent."""
    r = admin.patch(f"{A}/villages/{world.v1}", {"lat": 27.03, "lng": 114.89, "coord_type": "gcj02"})
    assert r.status_code == 200
    wlat, wlng = geo.gcj02_to_wgs84(27.03, 114.89)
    assert r.get_json()["lat"] == pytest.approx(wlat, abs=1e-9)
    assert r.get_json()["lng"] == pytest.approx(wlng, abs=1e-9)


def test_patch_village_lat_needs_lng(admin, world):
    """A PATCH moving only the latitude answers 400: a centre is changed as a pair."""
    r = admin.patch(f"{A}/villages/{world.v1}", {"lat": 27.03})
    assert r.status_code == 400
    assert error_of(r)["code"] == "validation_failed"


def test_village_of_unknown_township(admin):
    """A village in a township that does not exist answers 404 not_found."""
    r = admin.post(f"{A}/villages", {"township_id": 99999, "code": "360821100205", "name": "无主村",
                                     "lat": 27.0, "lng": 114.9})
    assert r.status_code == 404
    assert error_of(r)["code"] == "not_found"


@pytest.mark.both_databases
def test_duplicate_village_code(admin, world):
    """A village code already in use answers 409 conflict."""
    r = admin.post(f"{A}/villages", {"township_id": world.t1, "code": "360821100201", "name": "重名村",
                                     "lat": 27.0, "lng": 114.9})
    assert r.status_code == 409
    assert error_of(r)["code"] == "conflict"


def test_village_with_boundary(admin, world):
    """A valid GeoJSON polygon is stored and answered as the boundary."""
    r = admin.patch(f"{A}/villages/{world.v1}", {"boundary": SQUARE})
    assert r.status_code == 200
    assert r.get_json()["boundary"] == SQUARE


@pytest.mark.parametrize("boundary", [
    {"type": "Point", "coordinates": [114.88, 27.02]},
    {"type": "Polygon", "coordinates": [[[114.87, 27.01], [114.89, 27.01], [114.87, 27.01]]]},
    {"type": "Polygon", "coordinates": [[[114.87, 27.01], [114.89, 27.01], [114.89, 27.03], [114.87, 27.03]]]},
    {"type": "Polygon", "coordinates": [[[114.87, 27.01], [114.89, 91.0], [114.89, 27.03], [114.87, 27.01]]]},
    {"type": "Polygon", "coordinates": []},
])
def test_bad_boundary(admin, world, boundary):
    """A boundary that is not a closed, valid polygon answers 400 invalid_coordinate."""
    r = admin.patch(f"{A}/villages/{world.v1}", {"boundary": boundary})
    assert r.status_code == 400
    assert error_of(r)["code"] == "invalid_coordinate"
    assert error_of(r)["details"]["field"] == "boundary"


# ---- sites ---------------------------------------------------------------------------------

def test_create_site(admin, world):
    """POST creates a unit site, converting a GCJ-02 point."""
    r = admin.post(f"{A}/sites", {"name": "县人民医院", "code": "XRMYY", "township_id": world.t1,
                                  "lat": 27.05, "lng": 114.9, "coord_type": "gcj02"})
    assert r.status_code == 201
    body = r.get_json()
    assert body["code"] == "XRMYY" and body["radius_m"] == 300
    assert body["lat"] == pytest.approx(geo.gcj02_to_wgs84(27.05, 114.9)[0], abs=1e-9)


def test_update_site(admin, world):
    """PATCH edits a site's name and radius."""
    site_id = site_id_of(admin, world.p3)
    r = admin.patch(f"{A}/sites/{site_id}", {"name": "高新区党群服务中心(新址)", "radius_m": 150})
    assert r.status_code == 200
    assert (r.get_json()["name"], r.get_json()["radius_m"]) == ("高新区党群服务中心(新址)", 150)


@pytest.mark.both_databases
def test_duplicate_site_code(admin, world):
    """A site code already in use answers 409 conflict, on create and on edit."""
    assert admin.post(f"{A}/sites", {"name": "甲", "code": "S-1", "lat": 27.0, "lng": 114.9}).status_code == 201
    assert admin.post(f"{A}/sites", {"name": "乙", "code": "S-1", "lat": 27.0, "lng": 114.9}).status_code == 409
    r = admin.patch(f"{A}/sites/{site_id_of(admin, world.p3)}", {"code": "S-1"})
    assert r.status_code == 409


def test_empty_site_code_clears_it(admin, world):
    """Two sites can both have their code cleared with an empty string."""
    first = admin.post(f"{A}/sites", {"name": "甲", "code": "S-1", "lat": 27.0, "lng": 114.9}).get_json()
    second = admin.post(f"{A}/sites", {"name": "乙", "code": "S-2", "lat": 27.0, "lng": 114.9}).get_json()
    for site in (first, second):
        r = admin.patch(f"{A}/sites/{site['id']}", {"code": ""})
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["code"] is None


def test_site_of_unknown_township(admin):
    """A site in a township that does not exist answers 404."""
    r = admin.post(f"{A}/sites", {"name": "甲", "township_id": 99999, "lat": 27.0, "lng": 114.9})
    assert r.status_code == 404


# ---- organizations -------------------------------------------------------------------------

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


# ---- projects ------------------------------------------------------------------------------

def test_create_project_at_villages(admin, world):
    """A project at two villages answers both village ids and no site."""
    r = admin.post(f"{A}/projects", {"title": "两村联建", "year": 2026, "village_ids": [world.v1, world.v2],
                                     "steps": [{"name": "立项"}]})
    assert r.status_code == 201
    body = r.get_json()
    assert body["village_ids"] == sorted([world.v1, world.v2]) and body["site"] is None
    assert body["steps"] == [{"name": "立项"}] and body["status"] == "in_progress"


def test_create_project_with_new_site(admin, world):
    """A project given a site object creates that site."""
    r = admin.post(f"{A}/projects", {"title": "国企党建", "year": 2026, "domain": "国企",
                                     "site": {"name": "县供电公司", "lat": 27.1, "lng": 114.95}})
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
    r = admin.post(f"{A}/projects", {"title": "两头", "year": 2026, "village_ids": [world.v1],
                                     "site": {"name": "某单位", "lat": 27.0, "lng": 114.9}})
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


# ---- users ---------------------------------------------------------------------------------

def test_create_user_answers_an_invite_code(admin, world):
    """An inspector created with issue_invite comes with a one-time invite code like K7M2-Q9PX."""
    r = admin.post(f"{A}/users", {"username": "insp_d", "name": "王督查", "roles": ["inspector"],
                                  "home_township_id": world.t1, "township_ids": [world.t2], "issue_invite": True})
    assert r.status_code == 201
    body = r.get_json()
    assert INVITE.match(body["invite_code"])
    assert body["roles"] == ["inspector"] and body["invite_pending"] is True and body["wechat_bound"] is False
    assert (body["home_township_id"], body["township_ids"]) == (world.t1, [world.t2])


def test_invites_are_issued_on_demand_to_miniprogram_accounts_only(admin, world):
    """No invite unless asked; none for accounts that do not use the mini-program (admin, leader, reviewer)."""
    plain = admin.post(f"{A}/users", {"username": "insp_e", "name": "赵督查", "roles": ["inspector"]})
    assert plain.status_code == 201
    assert "invite_code" not in plain.get_json() and plain.get_json()["invite_pending"] is False
    refused = admin.post(f"{A}/users", {"username": "leader3", "name": "部长", "roles": ["leader"],
                                        "issue_invite": True})
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "conflict"
    assert admin.get(f"{A}/users", query_string={"q": "leader3"}).get_json()["total"] == 0
    for key in ("admin", "reviewer1", "leader"):
        r = admin.patch(f"{A}/users/{world.ids[key]}", {"reset_invite": True})
        assert r.status_code == 409 and "invite_code" not in r.get_json(), key
    secretary = admin.patch(f"{A}/users/{world.ids['secretary']}", {"reset_invite": True})
    assert secretary.status_code == 200 and INVITE.match(secretary.get_json()["invite_code"])


def test_created_user_can_log_in_with_password(client, admin):
    """A staff account created with a password logs in with it."""
    admin.post(f"{A}/users", {"username": "leader2", "name": "副部长", "roles": ["leader"],
                              "password": "leader2-password"})
    r = client.post("/api/v1/auth/login", json={"username": "leader2", "password": "leader2-password"})
    assert r.status_code == 200
    assert r.get_json()["user"]["roles"] == ["leader"]


@pytest.mark.parametrize("body", [
    {"name": "某人", "roles": ["superuser"]},
    {"name": "某人", "roles": []},
    {"name": "某人"},
    {"name": "某人", "roles": ["inspector", "inspector"]},
    {"name": "某人", "role": "boss"},
])
def test_user_roles_are_validated(admin, body):
    """Unknown, empty, missing or repeated roles answer 400 validation_failed."""
    r = admin.post(f"{A}/users", body)
    assert r.status_code == 400
    assert error_of(r)["code"] == "validation_failed"


def test_user_with_several_roles(admin):
    """roles may hold several roles, answered sorted."""
    r = admin.post(f"{A}/users", {"name": "复合", "roles": ["reviewer", "inspector"]})
    assert r.status_code == 201
    assert r.get_json()["roles"] == ["inspector", "reviewer"]


def test_patch_user_roles(client, admin, world):
    """PATCH roles replaces the user's roles; the user's token then carries the new ones."""
    r = admin.patch(f"{A}/users/{world.ids['insp_a']}", {"roles": ["inspector", "reviewer"]})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["roles"] == ["inspector", "reviewer"]
    me = Api(client, world.tokens["insp_a"]).get("/api/v1/auth/me").get_json()
    assert me["roles"] == ["inspector", "reviewer"]


@pytest.mark.both_databases
def test_duplicate_username(admin):
    """A username already in use answers 409 conflict."""
    r = admin.post(f"{A}/users", {"username": "insp_a", "name": "重名", "roles": ["inspector"]})
    assert r.status_code == 409
    assert error_of(r)["code"] == "conflict"


@pytest.mark.parametrize("body", [
    {"username": "a", "name": "短", "roles": ["inspector"]},
    {"username": "有中文", "name": "中", "roles": ["inspector"]},
    {"username": "shortpw", "name": "短密码", "roles": ["inspector"], "password": "1234567"},
])
def test_username_and_password_rules(admin, body):
    """Usernames of the wrong shape and passwords under 8 characters answer 400."""
    r = admin.post(f"{A}/users", body)
    assert r.status_code == 400


def test_user_in_unknown_township(admin):
    """township_ids naming a township that does not exist answers 404."""
    r = admin.post(f"{A}/users", {"name": "某人", "roles": ["reviewer"], "township_ids": [99999]})
    assert r.status_code == 404
    assert error_of(r)["details"]["township_ids"] == [99999]


def test_reset_invite_issues_a_new_code(admin, world):
    """PATCH reset_invite answers a fresh invite code different from the first one."""
    r = admin.patch(f"{A}/users/{world.ids['insp_a']}", {"reset_invite": True})
    assert r.status_code == 200
    code = r.get_json()["invite_code"]
    assert INVITE.match(code) and code != world.invite_a


def test_plain_patch_answers_no_invite_code(admin, world):
    """A PATCH without reset_invite does not reveal or issue an invite code."""
    r = admin.patch(f"{A}/users/{world.ids['insp_a']}", {"name": "张三"})
    assert r.status_code == 200
    assert "invite_code" not in r.get_json() and r.get_json()["name"] == "张三"


# ---- assignments ---------------------------------------------------------------------------

def test_create_assignment(admin, world):
    """POST sends a team to the project's only village and answers the place with a GCJ-02 point."""
    r = admin.post(f"{A}/assignments", {"project_id": world.p2, "inspector_ids": [world.ids["insp_c"]],
                                        "due_date": "2026-12-31", "check_items": ["公示栏", "台账"]})
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["village"]["id"] == world.v2 and body["place"]["kind"] == "village"
    assert (body["place"]["lat"], body["place"]["lng"]) == V2
    assert body["due_date"] == "2026-12-31" and body["check_items"] == ["公示栏", "台账"]
    assert [m["id"] for m in body["inspectors"]] == [world.ids["insp_c"]]


def test_assignment_needs_inspectors(admin, world):
    """A reviewer among inspector_ids answers 400 naming that user."""
    r = admin.post(f"{A}/assignments", {"project_id": world.p1,
                                        "inspector_ids": [world.ids["insp_a"], world.ids["reviewer1"]]})
    assert r.status_code == 400
    assert error_of(r)["code"] == "validation_failed"
    assert error_of(r)["details"]["inspector_ids"] == [world.ids["reviewer1"]]


def test_assignment_of_deactivated_inspector(admin, world):
    """A deactivated inspector cannot be sent on an assignment."""
    admin.patch(f"{A}/users/{world.ids['insp_b']}", {"active": False})
    r = admin.post(f"{A}/assignments", {"project_id": world.p1, "inspector_ids": [world.ids["insp_b"]]})
    assert r.status_code == 400


def test_assignment_of_unknown_inspector(admin, world):
    """An inspector id that does not exist answers 404."""
    r = admin.post(f"{A}/assignments", {"project_id": world.p1, "inspector_ids": [99999]})
    assert r.status_code == 404


def test_recusal_on_create(admin, world):
    """An inspector from the village's own township answers 409 with reason recusal."""
    r = admin.post(f"{A}/assignments", {"project_id": world.p1,
                                        "inspector_ids": [world.ids["insp_a"], world.ids["insp_c"]]})
    assert r.status_code == 409
    details = error_of(r)["details"]
    assert details["reason"] == "recusal" and details["inspector_ids"] == [world.ids["insp_c"]]


def test_recusal_at_a_site(admin, world):
    """Recusal also applies to a unit site, by the site's township."""
    r = admin.post(f"{A}/assignments", {"project_id": world.p3, "inspector_ids": [world.ids["insp_c"]]})
    assert r.status_code == 409
    assert error_of(r)["details"]["reason"] == "recusal"


def test_recusal_on_team_change(admin, world):
    """Adding an inspector from the place's township to an existing team answers 409 recusal."""
    r = admin.patch(f"{A}/assignments/{world.a1}", {"inspector_ids": [world.ids["insp_a"], world.ids["insp_c"]]})
    assert r.status_code == 409
    assert error_of(r)["details"]["reason"] == "recusal"
    body = admin.get(f"{A}/assignments", query_string={"project_id": world.p1}).get_json()
    assert sorted(m["id"] for m in body["items"][0]["inspectors"]) == sorted(
        [world.ids["insp_a"], world.ids["insp_b"]])


def test_village_outside_the_project(admin, world):
    """A village_id the project does not cover answers 400."""
    r = admin.post(f"{A}/assignments", {"project_id": world.p1, "village_id": world.v2,
                                        "inspector_ids": [world.ids["insp_c"]]})
    assert r.status_code == 400
    assert error_of(r)["details"]["field"] == "village_id"


def test_project_with_several_villages_needs_village_id(admin, world):
    """A project at several villages answers 400 unless village_id picks one."""
    project = admin.post(f"{A}/projects", {"title": "两村联建", "year": 2026,
                                           "village_ids": [world.v1, world.v2]}).get_json()
    r = admin.post(f"{A}/assignments", {"project_id": project["id"], "inspector_ids": [world.ids["insp_c"]]})
    assert r.status_code == 400
    assert error_of(r)["details"]["field"] == "village_id"
    r = admin.post(f"{A}/assignments", {"project_id": project["id"], "village_id": world.v2,
                                        "inspector_ids": [world.ids["insp_c"]]})
    assert r.status_code == 201
    assert r.get_json()["village"]["id"] == world.v2


@pytest.mark.both_databases
def test_duplicate_check_items(admin, world):
    """The same check item twice answers 400."""
    r = admin.post(f"{A}/assignments", {"project_id": world.p2, "inspector_ids": [world.ids["insp_c"]],
                                        "check_items": ["台账", " 台账 "]})
    assert r.status_code == 400
    assert error_of(r)["details"]["field"] == "check_items"


def test_check_items_editable_before_a_visit(admin, world):
    """Before any visit the check items can be changed."""
    r = admin.patch(f"{A}/assignments/{world.a1}", {"check_items": ["群众知晓率"]})
    assert r.status_code == 200
    assert r.get_json()["check_items"] == ["群众知晓率"]


def test_check_items_frozen_once_a_visit_started(client, admin, world):
    """After a visit started, changing the check items answers 409 and leaves them as they were."""
    start_visit(Api(client, world.tokens["insp_a"]), world.a1)
    r = admin.patch(f"{A}/assignments/{world.a1}", {"check_items": ["新事项"]})
    assert r.status_code == 409
    assert error_of(r)["code"] == "conflict" and error_of(r)["details"]["field"] == "check_items"
    body = admin.get(f"{A}/assignments", query_string={"project_id": world.p1}).get_json()
    assert body["items"][0]["check_items"] == ["公示栏是否张贴", "进度是否符合计划"]


def test_close_assignment_after_a_visit(client, admin, world):
    """Status and due date stay editable after a visit started; closing hides it from the inspector."""
    api = Api(client, world.tokens["insp_a"])
    start_visit(api, world.a1)
    r = admin.patch(f"{A}/assignments/{world.a1}", {"status": "closed", "due_date": None})
    assert r.status_code == 200
    assert (r.get_json()["status"], r.get_json()["due_date"]) == ("closed", None)
    assert world.a1 not in [a["id"] for a in api.get("/api/v1/assignments").get_json()["items"]]


# ---- audit ---------------------------------------------------------------------------------

def _writes(world, site_id):
    """Every kind of admin write: (method, path, body, audit action)."""
    return [
        ("post", "townships", {"code": "360821104000", "name": "万福镇"}, "township.create"),
        ("patch", f"townships/{world.t1}", {"name": "永阳"}, "township.update"),
        ("post", "villages", {"township_id": world.t1, "code": "360821100203", "name": "城西村",
                              "lat": 27.0, "lng": 114.9}, "village.create"),
        ("patch", f"villages/{world.v1}", {"radius_m": 600}, "village.update"),
        ("post", "sites", {"name": "县医院", "lat": 27.0, "lng": 114.9}, "site.create"),
        ("patch", f"sites/{site_id}", {"radius_m": 200}, "site.update"),
        ("post", "organizations", {"name": "某支部"}, "organization.create"),
        ("post", "projects", {"title": "新项目", "year": 2026, "village_ids": [world.v1]}, "project.create"),
        ("post", "projects", {"title": "单位项目", "year": 2026,
                              "site": {"name": "县局", "lat": 27.0, "lng": 114.9}}, "project.create"),
        ("patch", f"projects/{world.p1}", {"title": "蜜柚产业二期"}, "project.update"),
        ("post", "users", {"name": "新人", "roles": ["inspector"]}, "user.create"),
        ("patch", f"users/{world.ids['insp_b']}", {"reset_invite": True}, "user.update"),
        ("post", "assignments", {"project_id": world.p2, "inspector_ids": [world.ids["insp_c"]]},
         "assignment.create"),
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


def test_organization_edit_is_audited(app, admin):
    """Editing an organization appends an organization.update entry listing the changed fields."""
    org = admin.post(f"{A}/organizations", {"name": "某支部"}).get_json()
    admin.patch(f"{A}/organizations/{org['id']}", {"name": "某总支", "domain": "机关"})
    last = audit_entries(app)[-1]
    assert (last.action, last.object_id, last.data) == ("organization.update", str(org["id"]),
                                                        {"fields": ["domain", "name"]})


def test_refused_writes_are_not_audited(app, admin, world):
    """Writes answered with 400, 404 or 409 leave the audit log as it was."""
    before = audit_count(app)
    assert admin.post(f"{A}/townships", {"code": "360821100000", "name": "重复"}).status_code == 409
    assert admin.post(f"{A}/villages", {"township_id": 99999, "code": "360821100205", "name": "无",
                                        "lat": 27.0, "lng": 114.9}).status_code == 404
    assert admin.post(f"{A}/projects", {"title": "两头", "year": 2026, "village_ids": [world.v1],
                                        "site": {"name": "某", "lat": 27.0, "lng": 114.9}}).status_code == 400
    assert admin.post(f"{A}/assignments", {"project_id": world.p1,
                                           "inspector_ids": [world.ids["insp_c"]]}).status_code == 409
    assert audit_count(app) == before


def test_user_audit_entry_has_no_password(app, admin):
    """Creating a user with a password records the username and roles, never the password."""
    admin.post(f"{A}/users", {"username": "pw_user", "name": "某人", "roles": ["leader"],
                              "password": "secret-password-9"})
    last = audit_entries(app)[-1]
    assert last.data == {"username": "pw_user", "roles": ["leader"]}
    assert "secret-password-9" not in repr(last.data)


def test_village_centre_matches_the_factory(admin, world):
    """The village list answers the stored WGS-84 centre unchanged."""
    body = admin.get(f"{A}/villages", query_string={"township_id": world.t1}).get_json()
    assert (body["items"][0]["lat"], body["items"][0]["lng"]) == V1


def test_project_secretary_must_hold_the_secretary_role(client, world):
    """A project's secretary in charge is set through the API only to an active secretary."""
    admin = Api(client, world.tokens["admin"])
    ok = admin.patch(f"/api/v1/admin/projects/{world.p1}", {"secretary_id": world.ids["secretary"]})
    assert ok.status_code == 200
    bad = admin.patch(f"/api/v1/admin/projects/{world.p1}", {"secretary_id": world.ids["insp_a"]})
    assert bad.status_code == 400 and bad.get_json()["error"]["details"]["field"] == "secretary_id"
