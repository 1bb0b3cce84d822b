"""Assignments through /api/v1/admin/assignments: teams, recusal, check items, status."""

import pytest

from tests.api.conftest import A, error_of
from tests.factories import V2, Api, start_visit


def test_list_assignments_by_project(admin, world):
    """project_id narrows the assignment list to that project."""
    body = admin.get(f"{A}/assignments", query_string={"project_id": world.p3}).get_json()
    assert [a["id"] for a in body["items"]] == [world.a3]
    assert body["items"][0]["place"]["kind"] == "site"


def test_create_assignment(admin, world):
    """POST sends a team to the project's only village and answers the place with a GCJ-02 point."""
    r = admin.post(
        f"{A}/assignments",
        {
            "project_id": world.p2,
            "inspector_ids": [world.ids["insp_c"]],
            "due_date": "2026-12-31",
            "check_items": ["公示栏", "台账"],
        },
    )
    assert r.status_code == 201, r.get_json()
    body = r.get_json()
    assert body["village"]["id"] == world.v2 and body["place"]["kind"] == "village"
    assert (body["place"]["lat"], body["place"]["lng"]) == V2
    assert body["due_date"] == "2026-12-31" and body["check_items"] == ["公示栏", "台账"]
    assert [m["id"] for m in body["inspectors"]] == [world.ids["insp_c"]]


def test_assignment_needs_inspectors(admin, world):
    """A reviewer among inspector_ids answers 400 naming that user."""
    r = admin.post(
        f"{A}/assignments", {"project_id": world.p1, "inspector_ids": [world.ids["insp_a"], world.ids["reviewer1"]]}
    )
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
    r = admin.post(
        f"{A}/assignments", {"project_id": world.p1, "inspector_ids": [world.ids["insp_a"], world.ids["insp_c"]]}
    )
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
    assert sorted(m["id"] for m in body["items"][0]["inspectors"]) == sorted([world.ids["insp_a"], world.ids["insp_b"]])


def test_village_outside_the_project(admin, world):
    """A village_id the project does not cover answers 400."""
    r = admin.post(
        f"{A}/assignments", {"project_id": world.p1, "village_id": world.v2, "inspector_ids": [world.ids["insp_c"]]}
    )
    assert r.status_code == 400
    assert error_of(r)["details"]["field"] == "village_id"


def test_project_with_several_villages_needs_village_id(admin, world):
    """A project at several villages answers 400 unless village_id picks one."""
    project = admin.post(
        f"{A}/projects", {"title": "两村联建", "year": 2026, "village_ids": [world.v1, world.v2]}
    ).get_json()
    r = admin.post(f"{A}/assignments", {"project_id": project["id"], "inspector_ids": [world.ids["insp_c"]]})
    assert r.status_code == 400
    assert error_of(r)["details"]["field"] == "village_id"
    r = admin.post(
        f"{A}/assignments",
        {"project_id": project["id"], "village_id": world.v2, "inspector_ids": [world.ids["insp_c"]]},
    )
    assert r.status_code == 201
    assert r.get_json()["village"]["id"] == world.v2


@pytest.mark.both_databases
def test_duplicate_check_items(admin, world):
    """The same check item twice answers 400."""
    r = admin.post(
        f"{A}/assignments",
        {"project_id": world.p2, "inspector_ids": [world.ids["insp_c"]], "check_items": ["台账", " 台账 "]},
    )
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
