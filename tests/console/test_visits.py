"""The console's visit review: list filters and counts, scope, the evidence page, print view, decisions."""

from __future__ import annotations

import html
import re
from datetime import date, datetime, time, timedelta
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import event, func, select

# Load the API package first: services.photos imports api.validation, whose package imports
# services that need services.photos complete (the app factory loads them in this order too).
import server.api  # noqa: F401, I001
from server.clock import CHINA
from server.console import svgmap
from server.db import db
from server.models import ReviewDecision
from server.services import flag_words as flag_text
from tests.console.conftest import csrf
from tests.factories import V1, V2, Api, checkin_body, now_iso, uid
from tests.support.images import phone_jpeg
from tests.support.s3server import s3_settings
from tests.support.upload import upload

FAR = (V1[0] + 0.05, V1[1])  # about 5.5 km north of village 1


# ---- helpers ---------------------------------------------------------------------------------


@pytest.fixture
def api(client, world):
    """api(who) → the JSON API client acting as that world user."""
    return lambda who: Api(client, world.tokens[who])


def new_visit(api, assignment_id: int, started_at: datetime | None = None) -> int:
    """Start a visit (optionally at a given time) and return its id."""
    started = (started_at or datetime.now(CHINA)).isoformat()
    r = api.post(
        "/api/v1/visits",
        {"client_id": uid(), "sent_at": now_iso(), "assignment_id": assignment_id, "started_at": started},
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def submit(api, visit_id: int) -> None:
    """Submit a visit."""
    r = api.post(f"/api/v1/visits/{visit_id}/submit", {"client_id": uid(), "sent_at": now_iso()})
    assert r.status_code == 200, r.get_json()


def checkin(api, visit_id: int, point, **extra) -> dict:
    """Check in at a WGS-84 point."""
    r = api.post(f"/api/v1/visits/{visit_id}/checkins", checkin_body(*point, **extra))
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def send_photo(api, visit_id: int, data: bytes, **extra) -> dict:
    """Ticket, upload and complete one photo of the visit (extra fields set to None are left out);
    returns the completed photo."""
    body = {
        "client_id": uid(),
        "sent_at": now_iso(),
        "content_type": "image/jpeg",
        "size": len(data),
        "taken_at": now_iso(),
        "lat": V1[0],
        "lng": V1[1],
        **extra,
    }
    body = {k: v for k, v in body.items() if v is not None}
    t = api.post(f"/api/v1/visits/{visit_id}/photos", body).get_json()
    assert upload(api.client, t["upload"], data) == 204
    r = api.post(f"/api/v1/photos/{t['photo_id']}/complete")
    assert r.status_code == 200 and r.get_json()["status"] == "ready", r.get_json()
    return r.get_json()


def listed(page) -> list[int]:
    """The visit ids of a list page, in order."""
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    return [int(i) for i in re.findall(r'data-visit-id="(\d+)"', page.get_data(as_text=True))]


def decide(client, visit_id: int, **form):
    """POST a decision with the session's CSRF token."""
    return client.post(f"/console/visits/{visit_id}/decisions", data={"csrf_token": csrf(client), **form})


def text_of(response) -> str:
    """The page's text with entities decoded."""
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def two_townships(api, world):
    """Submitted visits: one on a1 (township 1), one on a2 (township 2), one on a3 (township 1, a unit site)."""
    a1 = new_visit(api("insp_a"), world.a1)
    a2 = new_visit(api("insp_c"), world.a2)
    a3 = new_visit(api("insp_a"), world.a3)
    for who, vid in (("insp_a", a1), ("insp_c", a2), ("insp_a", a3)):
        submit(api(who), vid)
    return {"a1": a1, "a2": a2, "a3": a3}


@pytest.fixture
def record(api, world):
    """A submitted visit on a1: check-ins (one far); photos: one with EXIF, its duplicate, one without EXIF
    taken far away; an interview, a checklist and a note."""
    insp = api("insp_a")
    vid = new_visit(insp, world.a1)
    checkin(insp, vid, V1)
    checkin(insp, vid, (V1[0] + 0.001, V1[1]))
    checkin(insp, vid, FAR, client_time=now_iso(timedelta(hours=2)))
    taken = datetime(2026, 5, 1, 9, 30, 0, tzinfo=CHINA)
    data = phone_jpeg(seed=11, taken=taken, gps=V1)
    first = send_photo(insp, vid, data, taken_at=(taken + timedelta(hours=3)).isoformat())
    second = send_photo(insp, vid, data)
    third = send_photo(insp, vid, phone_jpeg(seed=12), lat=FAR[0], lng=FAR[1])
    r = insp.post(
        f"/api/v1/visits/{vid}/interviews",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "household": "刘桂英家",
            "satisfaction": "不满意",
            "answers": {"是否知道该项目": "知道"},
            "notes": "路灯坏了",
        },
    )
    assert r.status_code == 201
    r = insp.put(
        f"/api/v1/visits/{vid}/checklist",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "items": [
                {"item": "公示栏是否张贴", "result": "pass"},
                {"item": "进度是否符合计划", "result": "fail", "note": "工期滞后两个月"},
            ],
        },
    )
    assert r.status_code == 201
    r = insp.post(f"/api/v1/visits/{vid}/notes", {"client_id": uid(), "sent_at": now_iso(), "text": "村委会无人值班"})
    assert r.status_code == 201
    submit(insp, vid)
    return {"id": vid, "first": first, "second": second, "third": third, "taken": taken}


# ---- the list: filters -----------------------------------------------------------------------


@pytest.mark.both_databases
def test_filter_by_township(console, world, two_townships):
    """township_id keeps only that township's visits."""
    ids = listed(console("admin").get(f"/console/visits?township_id={world.t2}"))
    assert ids == [two_townships["a2"]]


@pytest.mark.both_databases
def test_filter_by_village(console, world, two_townships):
    """village_id keeps only visits to that village (not the unit site of the same township)."""
    ids = listed(console("admin").get(f"/console/visits?village_id={world.v1}"))
    assert ids == [two_townships["a1"]]


@pytest.mark.both_databases
def test_filter_by_project(console, world, two_townships):
    """project_id keeps only that project's visits."""
    ids = listed(console("admin").get(f"/console/visits?project_id={world.p3}"))
    assert ids == [two_townships["a3"]]


@pytest.mark.both_databases
def test_filter_by_inspector(console, world, two_townships):
    """inspector_id keeps the visits of the teams that inspector is on."""
    c = console("admin")
    assert listed(c.get(f"/console/visits?inspector_id={world.ids['insp_c']}")) == [two_townships["a2"]]
    assert set(listed(c.get(f"/console/visits?inspector_id={world.ids['insp_a']}"))) == {
        two_townships["a1"],
        two_townships["a3"],
    }


@pytest.mark.both_databases
def test_filter_by_date_range(console, api, world):
    """date_from/date_to are inclusive China calendar days of the visit's start."""
    today = datetime.now(CHINA).date()

    def at(day: date) -> datetime:
        return datetime.combine(day, time(23, 30), CHINA)  # late evening: UTC is still the same day

    old, mid, new = (new_visit(api("insp_a"), world.a1, at(today - timedelta(days=d))) for d in (10, 3, 0))
    page = console("admin").get(
        f"/console/visits?date_from={today - timedelta(days=5)}&date_to={today - timedelta(days=1)}"
    )
    assert listed(page) == [mid]
    assert old not in listed(console("admin").get(f"/console/visits?date_from={today - timedelta(days=3)}"))
    assert new in listed(console("admin").get(f"/console/visits?date_from={today}&date_to={today}"))


@pytest.mark.both_databases
def test_filter_by_status(console, api, world, two_townships):
    """status=in_progress shows only visits not yet submitted."""
    open_id = new_visit(api("insp_a"), world.a1)
    c = console("admin")
    assert listed(c.get("/console/visits?status=in_progress")) == [open_id]
    assert open_id not in listed(c.get("/console/visits?status=submitted"))


@pytest.mark.both_databases
def test_filter_by_flag(console, api, world):
    """flag keeps only visits carrying that flag."""
    far = new_visit(api("insp_a"), world.a1)
    checkin(api("insp_a"), far, FAR)
    near = new_visit(api("insp_a"), world.a1)
    checkin(api("insp_a"), near, V1)
    assert listed(console("admin").get("/console/visits?flag=far_from_village")) == [far]


@pytest.mark.both_databases
def test_flag_counts(console, api, world):
    """Each flag is counted once per visit among the filtered visits, ignoring the flag filter itself."""
    insp, other = api("insp_a"), api("insp_c")
    one = new_visit(insp, world.a1)
    checkin(insp, one, FAR)
    checkin(insp, one, FAR, client_time=now_iso(timedelta(minutes=1)))  # the same flag again: still one visit
    two = new_visit(insp, world.a1)
    checkin(insp, two, FAR, accuracy_m=500.0, client_time=now_iso(timedelta(hours=3)))
    three = new_visit(other, world.a2)
    checkin(other, three, (V2[0] + 0.05, V2[1]))

    def counts(query: str) -> dict[str, int]:
        body = console("admin").get(f"/console/visits?{query}").get_data(as_text=True)
        found = re.findall(r'data-flag="(\w+)"[^>]*>(?:<strong>)?[^<]*?(\d+)(?:</strong>)?<', body)
        return {code: int(n) for code, n in found}

    everything = counts("")
    assert everything["far_from_village"] == 3 and everything["low_accuracy"] == 1
    assert everything["duplicate"] == 0
    in_t1 = counts(f"township_id={world.t1}&flag=low_accuracy")
    assert in_t1["far_from_village"] == 2 and in_t1["low_accuracy"] == 1


@pytest.mark.both_databases
def test_pagination(console, api, world):
    """Pages hold per_page visits without overlap and together list every visit once."""
    made = {new_visit(api("insp_a"), world.a1) for _ in range(23)}
    c = console("admin")
    first = listed(c.get("/console/visits?per_page=20"))
    second_page = c.get("/console/visits?per_page=20&page=2")
    second = listed(second_page)
    assert len(first) == 20 and len(second) == 3
    assert set(first) | set(second) == made and not set(first) & set(second)
    assert "第 2 / 2 页" in second_page.get_data(as_text=True)
    assert listed(c.get("/console/visits?per_page=20&page=99")) == second  # past the end: the last page


@pytest.mark.both_databases
def test_sort(console, api, world):
    """The default is newest start first; sort=started_at reverses it."""
    now = datetime.now(CHINA)
    ids = [new_visit(api("insp_a"), world.a1, now - timedelta(hours=h)) for h in (5, 1, 3)]
    c = console("admin")
    newest_first = [ids[1], ids[2], ids[0]]
    assert listed(c.get("/console/visits")) == newest_first
    assert listed(c.get("/console/visits?sort=started_at")) == newest_first[::-1]


@pytest.mark.both_databases
def test_list_query_count_does_not_grow_with_visits(app, console, api, world):
    """Listing 25 visits takes as many SQL statements as listing 5 (no query per row)."""
    admin = console("admin")
    engine = app.extensions["db"]["engine"]

    def make(n: int) -> None:
        for i in range(n):
            who, assignment = [("insp_a", world.a1), ("insp_c", world.a2), ("insp_a", world.a3)][i % 3]
            vid = new_visit(api(who), assignment)
            checkin(api(who), vid, FAR, client_time=now_iso(timedelta(hours=i + 1)))
            if i % 2:
                submit(api(who), vid)
                assert decide(admin, vid, target_kind="visit", target_id=vid, decision="accepted").status_code == 303

    def statements() -> int:
        seen = []

        def count(*_args):
            seen.append(1)

        admin.get("/console/visits")  # warm up caches outside the count
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert admin.get("/console/visits").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len(seen)

    make(5)
    few = statements()
    make(20)
    assert len(listed(admin.get("/console/visits"))) == 25
    assert statements() == few


# ---- scope and access ------------------------------------------------------------------------


def test_reviewer_lists_only_submitted_visits_of_their_townships(console, api, world, two_townships):
    """A reviewer of township 1 sees its submitted visits, not township 2's and not unsubmitted ones."""
    unsubmitted = new_visit(api("insp_a"), world.a1)
    ids = listed(console("reviewer1").get("/console/visits"))
    assert set(ids) == {two_townships["a1"], two_townships["a3"]}
    assert unsubmitted not in ids
    # Asking for the other township by filter does not widen the scope.
    assert listed(console("reviewer1").get(f"/console/visits?township_id={world.t2}")) == []


@pytest.mark.parametrize("kind", ["detail", "print", "decision"])
def test_reviewer_gets_404_outside_scope(console, api, world, two_townships, kind):
    """Another township's visit and an unsubmitted one are 404 for a reviewer on every visit URL."""
    unsubmitted = new_visit(api("insp_a"), world.a1)
    c = console("reviewer1")
    for vid in (two_townships["a2"], unsubmitted):
        if kind == "decision":
            r = decide(c, vid, target_kind="visit", target_id=vid, decision="accepted")
        else:
            r = c.get(f"/console/visits/{vid}" + ("/print" if kind == "print" else ""))
        assert r.status_code == 404
        assert "找不到该暗访记录" in r.get_data(as_text=True)
    assert c.get(f"/console/visits/{two_townships['a1']}").status_code == 200


def test_unknown_visit_is_404(console):
    """A visit id that does not exist is 404, as an out-of-scope one is."""
    assert console("admin").get("/console/visits/999999").status_code == 404


def test_leader_reads_but_cannot_decide(app, console, world, two_townships):
    """A leader sees every township's visits and their pages; a decision POST is 403 and stores nothing."""
    c = console("leader")
    assert set(listed(c.get("/console/visits"))) == set(two_townships.values())
    page = c.get(f"/console/visits/{two_townships['a2']}")
    assert page.status_code == 200 and 'name="decision"' not in page.get_data(as_text=True)
    r = decide(c, two_townships["a2"], target_kind="visit", target_id=two_townships["a2"], decision="accepted")
    assert r.status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ReviewDecision)) == 0


def test_decision_without_csrf_is_400(console, two_townships):
    """A decision POST without the CSRF token is refused with 400."""
    vid = two_townships["a1"]
    r = console("admin").post(
        f"/console/visits/{vid}/decisions", data={"target_kind": "visit", "target_id": vid, "decision": "accepted"}
    )
    assert r.status_code == 400


def test_pages_need_login(client, two_townships):
    """Without a session the list and the evidence page redirect to the login form."""
    for path in ("/console/visits", f"/console/visits/{two_townships['a1']}"):
        r = client.get(path)
        assert r.status_code == 302 and "/console/login" in r.headers["Location"]


# ---- the evidence page -----------------------------------------------------------------------


def test_detail_shows_presigned_thumbnails(console, record):
    """Each photo shows its thumbnail through a short-lived presigned URL that serves the JPEG."""
    c = console("reviewer1")
    body = c.get(f"/console/visits/{record['id']}").get_data(as_text=True)
    srcs = [html.unescape(s) for s in re.findall(r'<img class="thumb" src="([^"]+)"', body)]
    assert len(srcs) == 3
    for src in srcs:
        assert ".thumb.jpg" in src and "expires=" in src and "sig=" in src
        got = c.get(urlsplit(src).path + "?" + urlsplit(src).query)
        assert got.status_code == 200 and got.data[:2] == b"\xff\xd8"


def test_detail_explains_flags_in_chinese(console, record):
    """Flags carry Chinese explanations, with the distance for a far check-in and the original of a duplicate."""
    page = text_of(console("admin").get(f"/console/visits/{record['id']}"))
    assert "签到位置在地理围栏之外" in page and "围栏半径 500 米" in page
    assert f"与第 {record['first']['id']} 号照片重复" in page
    assert "照片 EXIF 记录的拍摄时间与手机上报的拍摄时间相差超过 10 分钟" in page
    assert "照片没有相机写入的 EXIF 信息" in page and "拍照时手机所在位置距江南村中心约 5" in page


def test_detail_shows_exif_time_and_camera(console, record):
    """The EXIF capture time is shown in Beijing time next to the phone's time, with the camera model."""
    page = text_of(console("admin").get(f"/console/visits/{record['id']}"))
    assert record["taken"].strftime("%Y-%m-%d %H:%M:%S") in page
    assert "比手机早 3 小时" in page
    assert "Apple iPhone 11" in page


def test_detail_reads_a_gap_of_years_in_days(api, world, console):
    """A camera clock years behind the phone reads as whole days ('比手机早 2027 天'), not days, hours and minutes."""
    insp = api("insp_a")
    vid = new_visit(insp, world.a1)
    phone = datetime.now(CHINA).replace(microsecond=0)
    camera = phone - timedelta(days=2027, hours=23, minutes=5)
    send_photo(insp, vid, phone_jpeg(seed=13, taken=camera, gps=V1), taken_at=phone.isoformat())
    submit(insp, vid)
    page = text_of(console("admin").get(f"/console/visits/{vid}"))
    assert "比手机早 2027 天" in page and "2027 天 23 小时" not in page


def test_detail_map_is_inline_svg(console, record):
    """The map is inline SVG with the geofence circle and one marker per check-in, no external resources."""
    body = console("admin").get(f"/console/visits/{record['id']}").get_data(as_text=True)
    svg = body[body.index("<svg") : body.index("</svg>")]
    assert '<circle class="geofence"' in svg and 'r="' in svg
    assert svg.count('class="marker checkin') == 3
    assert svg.count('class="marker checkin outside"') == 1
    assert svg.count('class="marker photo"') == 3
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")


def test_detail_shows_interviews_checklist_and_notes(console, record):
    """Interviews with the decrypted household name, the latest checklist and the notes are on the page."""
    page = text_of(console("reviewer1").get(f"/console/visits/{record['id']}"))
    assert "刘桂英家" in page and "不满意" in page and "路灯坏了" in page
    assert "公示栏是否张贴" in page and "不符合" in page and "工期滞后两个月" in page
    assert "村委会无人值班" in page


def test_detail_shows_audit_timeline(console, record):
    """The audit timeline lists the visit's own entries and those of its check-ins, photos and records."""
    page = text_of(console("admin").get(f"/console/visits/{record['id']}"))
    timeline = page[page.index('id="timeline"') :]
    for label in (
        "开始暗访",
        "定位签到",
        "申请上传照片",
        "照片校验完成",
        "入户走访",
        "填写督查事项",
        "追加备注",
        "提交暗访记录",
    ):
        assert label in timeline, label
    assert timeline.count("定位签到") == 3


def test_detail_of_unit_site_visit(console, two_townships):
    """A visit to a unit's own site (no village) renders with the site as its place."""
    page = text_of(console("admin").get(f"/console/visits/{two_townships['a3']}"))
    assert "高新区党群服务中心" in page and "<svg" in page


# ---- decisions -------------------------------------------------------------------------------


def test_questioning_a_photo_needs_a_reason(app, console, record):
    """Questioning without a reason is refused with a message and stores nothing."""
    c = console("reviewer1")
    r = decide(
        c, record["id"], target_kind="photo", target_id=record["first"]["id"], decision="questioned", reason="  "
    )
    assert r.status_code == 303
    assert "必须填写理由" in text_of(c.get(r.headers["Location"]))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ReviewDecision)) == 0


def test_questioned_photo_is_visible_to_the_inspector(console, api, world, record):
    """A questioned photo's reason is stored and shown to the team in GET /api/v1/visits/{id}, without the reviewer."""
    c = console("reviewer1")
    photo_id = record["second"]["id"]
    r = decide(
        c, record["id"], target_kind="photo", target_id=photo_id, decision="questioned", reason="与上一张是同一张照片"
    )
    assert r.status_code == 303 and r.headers["Location"].endswith(f"#photo-{photo_id}")
    assert "与上一张是同一张照片" in text_of(c.get(f"/console/visits/{record['id']}"))
    decisions = api("insp_b").get(f"/api/v1/visits/{record['id']}").get_json()["decisions"]
    assert len(decisions) == 1
    d = decisions[0]
    assert (d["target_kind"], d["target_id"], d["decision"], d["reason"]) == (
        "photo",
        photo_id,
        "questioned",
        "与上一张是同一张照片",
    )
    assert set(d) == {"target_kind", "target_id", "decision", "reason", "created_at"}


def test_latest_decision_counts(console, api, record):
    """A later decision on the same target replaces the earlier one in what the inspector sees."""
    c = console("admin")
    vid = record["id"]
    assert (
        decide(c, vid, target_kind="visit", target_id=vid, decision="questioned", reason="走访户数不足").status_code
        == 303
    )
    assert decide(c, vid, target_kind="visit", target_id=vid, decision="accepted").status_code == 303
    decisions = api("insp_a").get(f"/api/v1/visits/{vid}").get_json()["decisions"]
    assert [(d["target_kind"], d["decision"]) for d in decisions] == [("visit", "accepted")]
    listed_page = text_of(c.get("/console/visits"))
    assert "认可" in listed_page[listed_page.index(f'data-visit-id="{vid}"') :]


def test_decision_is_in_the_audit_timeline(console, record):
    """A decision is logged against its photo and shows in the visit's audit timeline with its reason."""
    c = console("reviewer1")
    decide(
        c,
        record["id"],
        target_kind="photo",
        target_id=record["first"]["id"],
        decision="questioned",
        reason="EXIF时间对不上",
    )
    page = text_of(c.get(f"/console/visits/{record['id']}"))
    timeline = page[page.index('id="timeline"') :]
    assert "审核结论" in timeline and "存疑:EXIF时间对不上" in timeline


def test_decision_on_another_visits_photo_is_refused(app, console, api, world, record, two_townships):
    """A photo id that belongs to a different visit is refused and nothing is stored."""
    c = console("admin")
    r = decide(c, two_townships["a1"], target_kind="photo", target_id=record["first"]["id"], decision="accepted")
    assert r.status_code == 303 and "找不到该照片" in text_of(c.get(r.headers["Location"]))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ReviewDecision)) == 0


def test_unsubmitted_visit_cannot_be_decided(app, console, api, world):
    """An admin may open a visit under way but not decide on it before it is submitted."""
    vid = new_visit(api("insp_a"), world.a1)
    c = console("admin")
    page = c.get(f"/console/visits/{vid}")
    assert page.status_code == 200 and 'name="decision"' not in page.get_data(as_text=True)
    r = decide(c, vid, target_kind="visit", target_id=vid, decision="accepted")
    assert "尚未提交" in text_of(c.get(r.headers["Location"]))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ReviewDecision)) == 0


# ---- print view ------------------------------------------------------------------------------


def test_print_view_has_every_section(console, record):
    """The print view carries the summary, map, check-ins, photos with thumbnails, interviews,
    checklist, notes and audit trail."""
    c = console("reviewer1")
    decide(c, record["id"], target_kind="visit", target_id=record["id"], decision="questioned", reason="签到异常")
    page = text_of(c.get(f"/console/visits/{record['id']}/print"))
    for heading in (
        "一、基本情况",
        "二、位置与签到",
        "三、照片",
        "四、入户走访",
        "五、督查事项",
        "六、备注",
        "七、审计记录",
    ):
        assert heading in page, heading
    assert "<svg" in page and page.count(".thumb.jpg") == 3
    assert "刘桂英家" in page and "工期滞后两个月" in page and "村委会无人值班" in page
    assert "签到异常" in page and 'name="decision"' not in page


# ---- S3 storage ------------------------------------------------------------------------------


@pytest.fixture
def storage_config(request, tmp_path):
    """Local storage, or the S3 HTTP server for tests marked `s3_storage`."""
    if not request.node.get_closest_marker("s3_storage"):
        return {"STORAGE_BACKEND": "local", "STORAGE_DIR": str(tmp_path / "storage")}
    from tests.support.s3server import make_bucket, s3_endpoint

    endpoint, bucket = s3_endpoint(), f"console-{uid()[:8]}"
    make_bucket(endpoint, bucket)
    return {
        **s3_settings(endpoint, bucket),
    }


@pytest.mark.s3_storage
def test_s3_thumbnails_are_presigned_bucket_urls(app, console, api, world):
    """With S3 storage the page links the bucket directly with presigned URLs that work."""
    insp = api("insp_a")
    vid = new_visit(insp, world.a1)
    send_photo(insp, vid, phone_jpeg(seed=21))
    submit(insp, vid)
    body = console("admin").get(f"/console/visits/{vid}").get_data(as_text=True)
    src = html.unescape(re.search(r'<img class="thumb" src="([^"]+)"', body).group(1))
    assert src.startswith(app.config["S3_ENDPOINT_URL"]) and "X-Amz-Signature=" in src
    got = requests.get(src, timeout=10)
    assert got.status_code == 200 and got.content[:2] == b"\xff\xd8"


# ---- pure parts --------------------------------------------------------------------------------


def test_every_flag_has_a_chinese_explanation():
    """Every flag the pipeline raises has a label and a filled-in Chinese sentence."""
    for code in (
        "far_from_village",
        "low_accuracy",
        "zero_accuracy",
        "clock_skew",
        "impossible_speed",
        "capture_far",
        "no_exif",
        "exif_gps_far",
        "exif_time_mismatch",
        "exif_edited",
        "duplicate",
        "late_sync",
        "no_fix",
        "compressed",
        "evidence_short",
    ):
        assert flag_text.label(code) != code
        sentence = flag_text.explain(
            code,
            place="江南村",
            distance=812,
            radius=500,
            accuracy=150,
            duplicate_of=7,
            evidence="编辑软件“GIMP”写入了 Software 标记",
        )
        assert "{" not in sentence and re.search(r"[\u4e00-\u9fff]", sentence)
        general = flag_text.explain(code)  # a whole visit: no numbers to fill in
        assert "{" not in general and "?" not in general
    assert "第 42 号照片" in flag_text.explain("duplicate", duplicate_of=42)
    assert "约 1.25 公里" in flag_text.explain("far_from_village", place="江南村", distance=1250, radius=500)
    evidence = flag_text.edit_evidence({"software": "GIMP 2.4.5", "modified_at": "2026-03-01T02:00:00+00:00"})
    assert "“GIMP 2.4.5”" in evidence and "2026-03-01 10:00" in evidence
    assert evidence in flag_text.explain("exif_edited", place="江南村", evidence=evidence)
    assert flag_text.edit_evidence(None) is None
    assert "任务结束后 2 天 3 小时 才收到" in flag_text.explain("late_sync", delay="2 天 3 小时")
    assert "照片 1/2 张" in flag_text.explain("evidence_short", short="照片 1/2 张")


def test_detail_explains_a_late_visit_what_was_given_up_and_the_short_evidence(app, console, api, world):
    """A late-synced visit submitted with given-up items and too little evidence: the evidence page
    names the delay, the missing records with their reasons and what the evidence policy lacks."""
    from tests.api.test_field_sync import close, start_body

    insp = api("insp_a")
    close(app, world.a1, timedelta(hours=3))
    r = insp.post("/api/v1/visits", start_body(world.a1, timedelta(hours=4)))
    assert r.status_code == 201, r.get_json()
    vid = r.get_json()["id"]
    send_photo(insp, vid, phone_jpeg(seed=81), no_fix=True, lat=None, lng=None)
    r = insp.post(
        f"/api/v1/visits/{vid}/submit",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "missing": [{"kind": "photo", "client_id": "photo-lost-1", "reason": "原图已被删除"}],
        },
    )
    assert r.status_code == 200, r.get_json()
    page = text_of(console("admin").get(f"/console/visits/{vid}"))
    assert "任务结束后补传" in page and re.search(r"督查任务结束后 3 小时( \d+ 秒)? 才收到", page)
    assert "证据不足" in page and "照片 1/2 张、入户走访 0/1 户" in page
    assert "提交时放弃的记录(1 条)" in page and "photo-lost-1" in page and "原图已被删除" in page
    assert "拍照时无定位" in page and "没有及时取得定位" in page
    listed_page = console("admin").get("/console/visits?flag=late_sync")
    assert listed(listed_page) == [vid]


def test_svg_map_pins_far_points_and_escapes_names():
    """A point kilometres away is pinned inside the frame; names are escaped; a boundary is drawn as a path."""
    ring = [[114.879, 27.019], [114.881, 27.019], [114.881, 27.021], [114.879, 27.021], [114.879, 27.019]]
    svg = svgmap.render(
        center=V1,
        radius_m=500,
        boundary={"type": "Polygon", "coordinates": [ring]},
        checkins=[
            svgmap.Marker(V1[0], V1[1], "1", "签到 1"),
            svgmap.Marker(V1[0] + 0.5, V1[1], "2", "签到 2", ok=False),
        ],
        photos=[svgmap.Marker(V1[0], V1[1] + 0.001, "P1", "<b>照片</b>")],
        place_name="江南村<script>",
    )
    assert "<script>" not in svg and "&lt;b&gt;照片&lt;/b&gt;" in svg
    assert '<path class="boundary"' in svg and '<circle class="geofence"' in svg
    for cx, cy in re.findall(r'<circle cx="([\d.-]+)" cy="([\d.-]+)" r="9"', svg):
        assert 0 <= float(cx) <= svgmap.WIDTH and 0 <= float(cy) <= svgmap.HEIGHT
    assert "在图外" in svg
