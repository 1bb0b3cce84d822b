"""The inspector's visit: access rules, idempotent writes, check-in flags, submit, reading and listing."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from server import geo
from server.db import db
from server.models import CheckIn, ClientWrite, Interview, Visit
from tests.factories import SITE, V1, V2, Api, checkin_body, now_iso, start_visit, uid

# The visit write path: INSERT IGNORE per dialect, retries, DOUBLE coordinates, time ordering.
pytestmark = pytest.mark.both_databases


@pytest.fixture
def insp(client, world):
    """Inspector A, on the teams of assignments a1 (village 江南村) and a3 (a unit site)."""
    return Api(client, world.tokens["insp_a"])


def checkin(api, visit_id, lat, lng, **extra):
    """POST a check-in and return the response."""
    return api.post(f"/api/v1/visits/{visit_id}/checkins", checkin_body(lat, lng, **extra))


def offset(point, metres_north):
    """A point this many metres north of another."""
    return (point[0] + metres_north / 111_320, point[1])


# ---- assignments and access -----------------------------------------------------------------


def test_assignments_list_only_my_teams_with_gcj02(insp, world):
    """An inspector sees their teams' open assignments, with a GCJ-02 point for navigation."""
    items = insp.get("/api/v1/assignments").get_json()["items"]
    assert {a["id"] for a in items} == {world.a1, world.a3}
    a1 = next(a for a in items if a["id"] == world.a1)
    glat, glng = geo.wgs84_to_gcj02(*V1)
    assert a1["place"]["gcj02"] == pytest.approx({"lat": glat, "lng": glng}, abs=1e-6)
    assert (a1["place"]["lat"], a1["place"]["lng"]) == V1
    assert a1["check_items"] == ["公示栏是否张贴", "进度是否符合计划"]


def test_assignments_need_inspector_role(client, world):
    """A villager or reviewer cannot list assignments (403); no token is 401."""
    assert Api(client, world.tokens["villager"]).get("/api/v1/assignments").status_code == 403
    assert Api(client, world.tokens["reviewer1"]).get("/api/v1/assignments").status_code == 403
    assert Api(client).get("/api/v1/assignments").status_code == 401


def test_outsider_inspector_gets_404(client, insp, world):
    """An inspector outside the team can neither start nor write nor read the visit."""
    other = Api(client, world.tokens["insp_c"])
    r = other.post("/api/v1/visits", {"client_id": uid(), "assignment_id": world.a1, "started_at": now_iso()})
    assert r.status_code == 404
    visit = start_visit(insp, world.a1)
    assert checkin(other, visit["id"], *V1).status_code == 404
    assert other.get(f"/api/v1/visits/{visit['id']}").status_code == 404


def test_teammate_reads_and_writes_the_visit(client, insp, world):
    """Every member of the team may write to a visit a colleague started."""
    visit = start_visit(insp, world.a1)
    mate = Api(client, world.tokens["insp_b"])
    assert checkin(mate, visit["id"], *V1).status_code == 201
    assert len(mate.get(f"/api/v1/visits/{visit['id']}").get_json()["checkins"]) == 1


# ---- idempotency --------------------------------------------------------------------------


def test_retry_returns_same_object_and_conflict_is_409(insp, world):
    """Same client_id and body → 200 with the same object; a different body → 409 client_id_conflict."""
    body = {"client_id": uid(), "sent_at": now_iso(), "assignment_id": world.a1, "started_at": now_iso()}
    first = insp.post("/api/v1/visits", body)
    assert first.status_code == 201
    retry = insp.post("/api/v1/visits", {**body, "sent_at": now_iso(timedelta(minutes=30))})
    assert retry.status_code == 200 and retry.get_json()["id"] == first.get_json()["id"]
    clash = insp.post("/api/v1/visits", {**body, "started_at": now_iso(timedelta(hours=-1))})
    assert clash.status_code == 409
    assert clash.get_json()["error"]["code"] == "client_id_conflict"


def test_ten_retries_store_one_checkin(app, insp, world):
    """A phone retrying a check-in ten times leaves exactly one row."""
    visit = start_visit(insp, world.a1)
    body = checkin_body(*V1)
    codes = [insp.post(f"/api/v1/visits/{visit['id']}/checkins", body).status_code for _ in range(10)]
    assert codes == [201] + [200] * 9
    with app.app_context():
        assert len(db.session.scalars(select(CheckIn)).all()) == 1


def test_client_id_reused_for_another_kind_is_409(insp, world):
    """A client_id already used for a check-in cannot become an interview."""
    visit = start_visit(insp, world.a1)
    body = checkin_body(*V1)
    insp.post(f"/api/v1/visits/{visit['id']}/checkins", body)
    r = insp.post(
        f"/api/v1/visits/{visit['id']}/interviews",
        {"client_id": body["client_id"], "sent_at": now_iso(), "household": "王家", "satisfaction": "满意"},
    )
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "client_id_conflict"


def test_failed_write_leaves_nothing(app, insp, world):
    """A refused write stores neither the object nor its client_id, so a corrected retry works."""
    visit = start_visit(insp, world.a1)
    body = {"client_id": uid(), "sent_at": now_iso(), "items": [{"item": "不存在的事项", "result": "pass"}]}
    assert insp.put(f"/api/v1/visits/{visit['id']}/checklist", body).status_code == 400
    with app.app_context():
        assert db.session.get(ClientWrite, body["client_id"]) is None
    body["items"] = [{"item": "公示栏是否张贴", "result": "pass"}]
    assert insp.put(f"/api/v1/visits/{visit['id']}/checklist", body).status_code == 201


# ---- check-ins ------------------------------------------------------------------------------


def test_checkin_inside_geofence(insp, world):
    """A fix 100 m from the centre is within the 500 m geofence and unflagged."""
    visit = start_visit(insp, world.a1)
    r = checkin(insp, visit["id"], *offset(V1, 100))
    body = r.get_json()
    assert r.status_code == 201
    assert body["within_geofence"] is True and body["flags"] == []
    assert body["distance_m"] == pytest.approx(100, abs=2)


def test_checkin_gcj02_converted_to_wgs84(insp, world):
    """A GCJ-02 fix is stored as WGS-84; the raw input is kept beside it."""
    visit = start_visit(insp, world.a1)
    glat, glng = geo.wgs84_to_gcj02(*V1)
    body = checkin(insp, visit["id"], glat, glng, coord_type="gcj02").get_json()
    assert body["lat"] == pytest.approx(V1[0], abs=1e-6) and body["lng"] == pytest.approx(V1[1], abs=1e-6)
    assert body["input"] == {"lat": glat, "lng": glng, "coord_type": "gcj02"}
    assert body["distance_m"] < 1


def test_checkin_far_from_village(insp, world):
    """A fix 2 km away is outside the geofence and flagged far_from_village."""
    visit = start_visit(insp, world.a1)
    body = checkin(insp, visit["id"], *offset(V1, 2000)).get_json()
    assert body["within_geofence"] is False and "far_from_village" in body["flags"]


def test_checkin_inside_boundary_counts_as_zero(client, insp, world):
    """Inside the village's boundary polygon the distance is 0, even far from the centre."""
    admin = Api(client, world.tokens["admin"])
    lat, lng = V1
    ring = [
        [lng - 0.03, lat - 0.03],
        [lng + 0.03, lat - 0.03],
        [lng + 0.03, lat + 0.03],
        [lng - 0.03, lat + 0.03],
        [lng - 0.03, lat - 0.03],
    ]
    r = admin.patch(f"/api/v1/admin/villages/{world.v1}", {"boundary": {"type": "Polygon", "coordinates": [ring]}})
    assert r.status_code == 200, r.get_json()
    visit = start_visit(insp, world.a1)
    body = checkin(insp, visit["id"], *offset(V1, 2000)).get_json()
    assert body["distance_m"] == 0 and body["within_geofence"] is True


def test_checkin_accuracy_flags(insp, world):
    """Accuracy above 100 m is low_accuracy; exactly 0 is a mock-location sign."""
    visit = start_visit(insp, world.a1)
    low = checkin(insp, visit["id"], *V1, accuracy_m=250).get_json()
    zero = checkin(insp, visit["id"], *V1, accuracy_m=0).get_json()
    assert "low_accuracy" in low["flags"] and "zero_accuracy" not in low["flags"]
    assert "zero_accuracy" in zero["flags"]


def test_clock_skew_flag_but_not_for_late_sync(insp, world):
    """sent_at hours off is clock_skew; an old fix sent now from the offline queue is not."""
    visit = start_visit(insp, world.a1)
    skewed = checkin(
        insp, visit["id"], *V1, sent_at=now_iso(timedelta(hours=3)), client_time=now_iso(timedelta(hours=3))
    ).get_json()
    late = checkin(insp, visit["id"], *V1, client_time=now_iso(timedelta(hours=-5))).get_json()
    assert "clock_skew" in skewed["flags"]
    assert "clock_skew" not in late["flags"]


def test_impossible_speed_across_visits(insp, world):
    """Two fixes 4 km apart one minute apart (≈ 250 km/h), in different visits, flag impossible_speed."""
    v_site = start_visit(insp, world.a3)
    v_village = start_visit(insp, world.a1)
    t0 = now_iso(timedelta(minutes=-6))
    first = checkin(insp, v_site["id"], *SITE, client_time=t0).get_json()
    second = checkin(insp, v_village["id"], *V1, client_time=now_iso(timedelta(minutes=-5))).get_json()
    assert geo.distance_m(SITE, V1) > 4000
    assert "impossible_speed" not in first["flags"]
    assert "impossible_speed" in second["flags"]


def test_neighbour_in_time_order_not_arrival_order(insp, world):
    """A fix synced late is compared with its neighbours by client_time, not by arrival."""
    visit = start_visit(insp, world.a1)
    checkin(insp, visit["id"], *V1, client_time=now_iso(timedelta(hours=-2)))
    checkin(insp, visit["id"], *V1, client_time=now_iso())
    # An hour before "now", 1 km away: 1 km/h from both neighbours — plausible.
    body = checkin(insp, visit["id"], *offset(V1, 1000), client_time=now_iso(timedelta(hours=-1))).get_json()
    assert "impossible_speed" not in body["flags"]


def test_gps_jitter_is_not_speed(insp, world):
    """Two fixes 60 m apart one second apart with 40 m accuracy are jitter, not travel."""
    visit = start_visit(insp, world.a1)
    checkin(insp, visit["id"], *V1, accuracy_m=40, client_time=now_iso(timedelta(seconds=-1)))
    body = checkin(insp, visit["id"], *offset(V1, 60), accuracy_m=40, client_time=now_iso()).get_json()
    assert "impossible_speed" not in body["flags"]


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"lat": 91}, "lat"),
        ({"lng": -181}, "lng"),
        ({"lat": "27.0"}, "lat"),
        ({"accuracy_m": -1}, "accuracy_m"),
        ({"coord_type": "bd09"}, "coord_type"),
        ({"client_time": "2026-11-22 10:00"}, "client_time"),
        ({"client_id": "not-a-uuid"}, "client_id"),
    ],
)
def test_checkin_bad_input_is_400_with_field(insp, world, patch, field):
    """Out-of-range or malformed fields are a 400 naming the field, with a Chinese message."""
    visit = start_visit(insp, world.a1)
    r = insp.post(f"/api/v1/visits/{visit['id']}/checkins", {**checkin_body(*V1), **patch})
    err = r.get_json()["error"]
    assert r.status_code == 400 and err["code"] == "validation_failed"
    assert err["details"]["field"] == field
    assert any("\u4e00" <= ch <= "\u9fff" for ch in err["message"])


def test_nan_and_malformed_json_are_400(insp, world):
    """NaN is not JSON; a cut-off body is not JSON either."""
    visit = start_visit(insp, world.a1)
    url = f"/api/v1/visits/{visit['id']}/checkins"
    headers = {"Authorization": f"Bearer {insp.token}", "Content-Type": "application/json"}
    for raw in ('{"lat": NaN, "lng": 114.9}', '{"lat": 27.0, "lng":', "[1, 2]", ""):
        r = insp.client.post(url, data=raw, headers=headers)
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_json", raw


def test_missing_field_is_named(insp, world):
    """A missing required field is reported by name."""
    visit = start_visit(insp, world.a1)
    body = checkin_body(*V1)
    del body["accuracy_m"]
    err = insp.post(f"/api/v1/visits/{visit['id']}/checkins", body).get_json()["error"]
    assert err["details"]["field"] == "accuracy_m" and "accuracy_m" in err["message"]


def test_unknown_visit_is_404(insp):
    """Writing to a visit that does not exist is a 404 with the error shape."""
    r = checkin(insp, 999999, *V1)
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"


# ---- interviews and checklist ---------------------------------------------------------------


def test_household_encrypted_at_rest(app, insp, world):
    """The household name is stored encrypted and returned decrypted to the team."""
    visit = start_visit(insp, world.a1)
    r = insp.post(
        f"/api/v1/visits/{visit['id']}/interviews",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "household": "罗焕敬家",
            "answers": {"是否知道书记项目": "知道", "旱厕是否拆除": "已拆除"},
            "satisfaction": "满意",
            "notes": "群众反映良好",
        },
    )
    assert r.status_code == 201 and r.get_json()["household"] == "罗焕敬家"
    with app.app_context():
        stored = db.session.scalars(select(Interview)).one()
        assert "罗焕敬" not in stored.household_enc
        raw = db.session.execute(select(Interview.household_enc)).scalar_one()
        assert "罗焕敬" not in raw
    detail = insp.get(f"/api/v1/visits/{visit['id']}").get_json()
    assert detail["interviews"][0]["household"] == "罗焕敬家"


def test_satisfaction_must_be_known(insp, world):
    """Satisfaction is one of 满意/基本满意/不满意."""
    visit = start_visit(insp, world.a1)
    r = insp.post(
        f"/api/v1/visits/{visit['id']}/interviews",
        {"client_id": uid(), "sent_at": now_iso(), "household": "王家", "satisfaction": "很好"},
    )
    assert r.status_code == 400 and r.get_json()["error"]["details"]["field"] == "satisfaction"


def test_checklist_versions_are_kept(insp, world):
    """A second checklist PUT adds a version; the latest counts and nothing is overwritten."""
    visit = start_visit(insp, world.a1)
    url = f"/api/v1/visits/{visit['id']}/checklist"
    insp.put(
        url,
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "items": [{"item": "公示栏是否张贴", "result": "fail", "note": "未张贴"}],
        },
    )
    insp.put(
        url,
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "items": [{"item": "公示栏是否张贴", "result": "pass"}, {"item": "进度是否符合计划", "result": "na"}],
        },
    )
    detail = insp.get(f"/api/v1/visits/{visit['id']}").get_json()
    assert detail["checklist_versions"] == 2
    assert [i["result"] for i in detail["checklist"]["items"]] == ["pass", "na"]


# ---- submit ---------------------------------------------------------------------------------


def submit(api, visit_id, client_id=None):
    """Submit a visit."""
    return api.post(f"/api/v1/visits/{visit_id}/submit", {"client_id": client_id or uid(), "sent_at": now_iso()})


def test_submit_then_writes_are_409(insp, world):
    """After submit, new check-ins, interviews, checklists and photo tickets are 409 visit_submitted."""
    visit = start_visit(insp, world.a1)
    assert submit(insp, visit["id"]).get_json()["status"] == "submitted"
    vid = visit["id"]
    attempts = [
        insp.post(f"/api/v1/visits/{vid}/checkins", checkin_body(*V1)),
        insp.post(
            f"/api/v1/visits/{vid}/interviews",
            {"client_id": uid(), "sent_at": now_iso(), "household": "王家", "satisfaction": "满意"},
        ),
        insp.put(
            f"/api/v1/visits/{vid}/checklist",
            {"client_id": uid(), "sent_at": now_iso(), "items": [{"item": "公示栏是否张贴", "result": "pass"}]},
        ),
        insp.post(
            f"/api/v1/visits/{vid}/photos",
            {
                "client_id": uid(),
                "sent_at": now_iso(),
                "content_type": "image/jpeg",
                "size": 1000,
                "taken_at": now_iso(),
                "lat": V1[0],
                "lng": V1[1],
            },
        ),
    ]
    for r in attempts:
        assert r.status_code == 409 and r.get_json()["error"]["code"] == "visit_submitted"


def test_submit_is_idempotent_and_retries_of_earlier_writes_succeed(insp, world):
    """A repeated submit is 200; a write stored before submit, retried after, is 200 with the same object."""
    visit = start_visit(insp, world.a1)
    body = checkin_body(*V1)
    first = insp.post(f"/api/v1/visits/{visit['id']}/checkins", body).get_json()
    submit_id = uid()
    one, two = submit(insp, visit["id"], submit_id), submit(insp, visit["id"], submit_id)
    three = submit(insp, visit["id"])
    assert one.status_code == two.status_code == three.status_code == 200
    assert one.get_json()["submitted_at"] == two.get_json()["submitted_at"] == three.get_json()["submitted_at"]
    retry = insp.post(f"/api/v1/visits/{visit['id']}/checkins", body)
    assert retry.status_code == 200 and retry.get_json()["id"] == first["id"]


def test_notes_allowed_after_submit(insp, world):
    """Append-only notes may still be added after submit."""
    visit = start_visit(insp, world.a1)
    submit(insp, visit["id"])
    r = insp.post(
        f"/api/v1/visits/{visit['id']}/notes",
        {"client_id": uid(), "sent_at": now_iso(), "text": "补充:村委会提供了会议记录"},
    )
    assert r.status_code == 201
    assert insp.get(f"/api/v1/visits/{visit['id']}").get_json()["notes"][0]["text"].startswith("补充")


# ---- staff reading ------------------------------------------------------------------------


def test_reviewer_sees_only_submitted_visits_in_scope(client, insp, world):
    """A reviewer of the village's township sees a visit only once submitted; another township's reviewer never."""
    visit = start_visit(insp, world.a1)
    checkin(insp, visit["id"], *offset(V1, 3000))
    r1, r2 = Api(client, world.tokens["reviewer1"]), Api(client, world.tokens["reviewer2"])
    assert r1.get(f"/api/v1/visits/{visit['id']}").status_code == 404
    assert r1.get("/api/v1/visits").get_json()["total"] == 0
    submit(insp, visit["id"])
    assert r1.get(f"/api/v1/visits/{visit['id']}").status_code == 200
    assert r1.get("/api/v1/visits").get_json()["total"] == 1
    assert r2.get(f"/api/v1/visits/{visit['id']}").status_code == 404
    assert r2.get("/api/v1/visits").get_json()["total"] == 0


def test_staff_list_filters_by_flag_and_village(client, insp, world):
    """The staff list filters by flag, village and project, and shows each visit's flags."""
    far = start_visit(insp, world.a1)
    checkin(insp, far["id"], *offset(V1, 3000))
    near = start_visit(insp, world.a1)
    checkin(insp, near["id"], *V1)
    admin = Api(client, world.tokens["admin"])
    flagged = admin.get("/api/v1/visits?flag=far_from_village").get_json()
    assert [v["id"] for v in flagged["items"]] == [far["id"]]
    assert flagged["items"][0]["flags"] == ["far_from_village"]
    assert admin.get(f"/api/v1/visits?village_id={world.v1}").get_json()["total"] == 2
    assert admin.get(f"/api/v1/visits?village_id={world.v2}").get_json()["total"] == 0
    assert admin.get(f"/api/v1/visits?project_id={world.p1}&per_page=1").get_json()["total"] == 2
    assert Api(client, world.tokens["insp_a"]).get("/api/v1/visits").status_code == 403


def test_visit_record_links_project_and_village(app, insp, world):
    """Every visit is linked to its project, village and township."""
    visit = start_visit(insp, world.a1)
    with app.app_context():
        stored = db.session.get(Visit, visit["id"])
        assert (stored.project_id, stored.village_id, stored.township_id) == (world.p1, world.v1, world.t1)


def test_unit_site_assignment_measures_to_the_site(insp, world):
    """A project at a unit's own site measures check-ins to the site, not a village."""
    visit = start_visit(insp, world.a3)
    body = checkin(insp, visit["id"], *SITE).get_json()
    assert body["distance_m"] < 1 and body["within_geofence"] is True
    assert "far_from_village" in checkin(insp, visit["id"], *V2).get_json()["flags"]
