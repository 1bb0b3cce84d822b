"""GET /api/v1/statistics: the hand-built year's figures as JSON, its filters, scope and refusals."""

from __future__ import annotations

import pytest

from tests.api.conftest import error_of
from tests.factories import Api
from tests.services.test_statistics import build_year

URL = "/api/v1/statistics"


@pytest.fixture
def year(app, world):
    """The hand-built 2025 of tests/services/test_statistics.py."""
    with app.app_context():
        return build_year(world)


def test_figures_per_township_and_total(client, world, year):
    """The funnel, coverage, orders, satisfaction, grades and lists of the year."""
    body = Api(client, world.tokens["admin"]).get(URL, query_string={"year": 2025}).get_json()
    total = body["total"]
    assert body["summary"] == "申报 9 个,立项 6 个,实施 5 个,验收 1 个"
    assert total["funnel"] == {"applied": 9, "approved": 6, "running": 5, "accepted": 1, "rejected": 1, "closed": 1}
    assert total["inspection"] == {"under_way": 5, "inspected": 2, "visits": 3, "rate": 0.4}
    assert total["observation"]["per_quarter"] == [2, 3, 0, 0]
    assert total["feedback"]["ratings"] == {"满意": 2, "基本满意": 1, "不满意": 1}
    assert total["grades"] == {"graded": 4, "by_grade": {"特等": 1, "一等": 1, "二等": 1, "三等": 1}, "bottom": 1}
    assert [t["name"] for t in body["townships"]] == ["永阳镇", "桐坪镇", "未归属乡镇"]
    assert body["weak_organizations"][0]["organization"] == "大栗村党支部"
    assert body["deductions"] == [
        {"organization": "大栗村党支部", "township": "桐坪镇", "points": 2, "reason": "连续两年位于后 5%"}
    ]


def test_filters_and_reviewer_scope(client, world, year):
    """township_id, domain, level and category narrow; a reviewer gets their township only."""
    admin = Api(client, world.tokens["admin"])
    body = admin.get(URL, query_string={"year": 2025, "township_id": world.t2, "level": "county"}).get_json()
    assert [t["name"] for t in body["townships"]] == ["桐坪镇"]
    assert body["total"]["funnel"]["applied"] == 2
    assert body["filters"] == {"year": 2025, "township_id": world.t2, "level": "county"}
    body = admin.get(URL, query_string={"year": 2025, "domain": "机关", "category": "常规性"}).get_json()
    assert body["total"]["funnel"]["applied"] == 1
    mine = Api(client, world.tokens["reviewer1"]).get(URL, query_string={"year": 2025}).get_json()
    assert [t["name"] for t in mine["townships"]] == ["永阳镇"]
    assert mine["total"]["funnel"]["applied"] == 3 and mine["weak_organizations"] == []


def test_refusals(client, world, year):
    """A level outside the list is 400; a secretary or inspector is 403; no token is 401."""
    r = Api(client, world.tokens["admin"]).get(URL, query_string={"level": "province"})
    assert r.status_code == 400 and error_of(r)["details"]["field"] == "level"
    assert Api(client, world.tokens["secretary"]).get(URL).status_code == 403
    assert Api(client, world.tokens["insp_a"]).get(URL).status_code == 403
    assert client.get(URL).status_code == 401


def test_documented_in_openapi(client):
    """The endpoint, its filters and its response schema are in the OpenAPI document."""
    op = client.get("/api/v1/openapi.json").get_json()["paths"]["/api/v1/statistics"]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"year", "township_id", "domain", "level", "category"} <= names
    assert "total" in op["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
