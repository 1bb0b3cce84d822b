"""Townships, villages and unit sites through /api/v1/admin: lists, creation, edits, validation."""

import pytest

from server import geo
from tests.api.conftest import A, error_of, site_id_of
from tests.factories import V1

SQUARE = {
    "type": "Polygon",
    "coordinates": [[[114.87, 27.01], [114.89, 27.01], [114.89, 27.03], [114.87, 27.03], [114.87, 27.01]]],
}


def test_list_villages_of_a_township(admin, world):
    """township_id narrows the village list to that township."""
    body = admin.get(f"{A}/villages", query_string={"township_id": world.t2}).get_json()
    assert [v["id"] for v in body["items"]] == [world.v2]


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


def test_create_village_in_wgs84(admin, world):
    """A village given in WGS-84 is stored as given, with its radius."""
    r = admin.post(
        f"{A}/villages",
        {
            "township_id": world.t1,
            "code": "360821100203",
            "name": "城西村",
            "lat": 27.011,
            "lng": 114.861,
            "radius_m": 800,
        },
    )
    assert r.status_code == 201
    body = r.get_json()
    assert (body["lat"], body["lng"], body["radius_m"]) == (27.011, 114.861, 800)


def test_village_given_in_gcj02_is_stored_as_wgs84(admin, world):
    """A GCJ-02 centre is converted to WGS-84 for storage and answered back as the gcj02 point."""
    glat, glng = 27.0161, 114.8803
    r = admin.post(
        f"{A}/villages",
        {
            "township_id": world.t1,
            "code": "360821100204",
            "name": "江北村",
            "lat": glat,
            "lng": glng,
            "coord_type": "gcj02",
        },
    )
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
    r = admin.post(
        f"{A}/villages",
        {
            "township_id": world.t1,
            "code": "360821100206",
            "name": "精度村",
            "lat": 27.0123456789,
            "lng": 114.8765432101,
        },
    )
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
    r = admin.post(
        f"{A}/villages", {"township_id": 99999, "code": "360821100205", "name": "无主村", "lat": 27.0, "lng": 114.9}
    )
    assert r.status_code == 404
    assert error_of(r)["code"] == "not_found"


@pytest.mark.both_databases
def test_duplicate_village_code(admin, world):
    """A village code already in use answers 409 conflict."""
    r = admin.post(
        f"{A}/villages", {"township_id": world.t1, "code": "360821100201", "name": "重名村", "lat": 27.0, "lng": 114.9}
    )
    assert r.status_code == 409
    assert error_of(r)["code"] == "conflict"


def test_village_with_boundary(admin, world):
    """A valid GeoJSON polygon is stored and answered as the boundary."""
    r = admin.patch(f"{A}/villages/{world.v1}", {"boundary": SQUARE})
    assert r.status_code == 200
    assert r.get_json()["boundary"] == SQUARE


@pytest.mark.parametrize(
    "boundary",
    [
        {"type": "Point", "coordinates": [114.88, 27.02]},
        {"type": "Polygon", "coordinates": [[[114.87, 27.01], [114.89, 27.01], [114.87, 27.01]]]},
        {"type": "Polygon", "coordinates": [[[114.87, 27.01], [114.89, 27.01], [114.89, 27.03], [114.87, 27.03]]]},
        {"type": "Polygon", "coordinates": [[[114.87, 27.01], [114.89, 91.0], [114.89, 27.03], [114.87, 27.01]]]},
        {"type": "Polygon", "coordinates": []},
    ],
)
def test_bad_boundary(admin, world, boundary):
    """A boundary that is not a closed, valid polygon answers 400 invalid_coordinate."""
    r = admin.patch(f"{A}/villages/{world.v1}", {"boundary": boundary})
    assert r.status_code == 400
    assert error_of(r)["code"] == "invalid_coordinate"
    assert error_of(r)["details"]["field"] == "boundary"


def test_create_site(admin, world):
    """POST creates a unit site, converting a GCJ-02 point."""
    r = admin.post(
        f"{A}/sites",
        {
            "name": "县人民医院",
            "code": "XRMYY",
            "township_id": world.t1,
            "lat": 27.05,
            "lng": 114.9,
            "coord_type": "gcj02",
        },
    )
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


def test_village_centre_matches_the_factory(admin, world):
    """The village list answers the stored WGS-84 centre unchanged."""
    body = admin.get(f"{A}/villages", query_string={"township_id": world.t1}).get_json()
    assert (body["items"][0]["lat"], body["items"][0]["lng"]) == V1
