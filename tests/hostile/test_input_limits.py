"""Numbers no database column can hold are bad input (4xx), not a driver crash (500)."""

from __future__ import annotations

import pytest

from tests.factories import Api

HUGE = "9" * 25


@pytest.fixture
def admin(shared_app):
    """The administrator's API (request parsing, so one database suffices)."""
    app, world = shared_app
    return Api(app.test_client(), world.tokens["admin"])


@pytest.mark.parametrize(
    "path, field",
    [
        (f"/api/v1/admin/townships?page={HUGE}", "page"),
        ("/api/v1/admin/townships?page=100001", "page"),
        (f"/api/v1/admin/villages?township_id={HUGE}", "township_id"),
    ],
)
def test_huge_query_integers_are_400(admin, path, field):
    """A page or filter id beyond 64 bits (or an absurd page) is a 400 naming the parameter."""
    r = admin.get(path)
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["error"]["details"]["field"] == field


def test_huge_path_id_is_404(admin):
    """An id in the URL beyond 64 bits is simply not found."""
    assert admin.get(f"/api/v1/visits/{HUGE}").status_code == 404
    assert admin.get(f"/api/v1/feedback/{HUGE}").status_code == 404


@pytest.mark.parametrize(
    "raw",
    [
        f'{{"project_id": {HUGE}, "inspector_ids": [1]}}',
        '{"project_id": 1, "inspector_ids": [1], "due_date": 1e400}',
    ],
)
def test_json_numbers_beyond_storage_are_400(admin, raw):
    """An integer beyond 64 bits or a float that overflows to infinity in a JSON body is invalid JSON."""
    r = admin.post("/api/v1/admin/assignments", data=raw, content_type="application/json")
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_json", r.get_json()
