"""The public side: a project's record (公示), notice-board codes and poster, photo verification (验真)."""

from __future__ import annotations

import io
import math
import re
import time
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from PIL import Image
from sqlalchemy import select

from server import clock, posters
from server.api import ENDPOINTS
from server.db import db
from server.models import Photo, ProjectUpdate
from server.posters import qr_png
from server.services import public
from tests.conftest import missing_component
from tests.factories import V1, Api, checkin_body, now_iso, start_visit, uid
from tests.support.apps import make_app
from tests.support.images import phone_jpeg
from tests.support.upload import upload

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RESPONSIBLE = {"主管领导": "李县长", "牵头书记": "张书记", "联系组工干部": "王干事", "工作队伍": "驻村工作队"}
# Everything the public record may contain, as key paths ("[]" stands for any list item).
RECORD_KEYS = {
    "id",
    "title",
    "year",
    "domain",
    "status",
    "status_label",
    "accepting_feedback",
    "allow_album",
    "organization",
    "places",
    "places[].kind",
    "places[].name",
    "places[].township",
    "steps",
    "steps[].name",
    "steps[].deadline",
    "steps[].responsible",
    "steps[].status",
    "targets",
    "targets[]",
    "responsible",
    *(f"responsible.{role}" for role in RESPONSIBLE),
    "updates",
    "updates[].text",
    "updates[].date",
    "feedback_counts",
    "feedback_counts.满意",
    "feedback_counts.基本满意",
    "feedback_counts.不满意",
    "progress",
    "progress.done",
    "progress.total",
    "progress.current",
    "progress.current.name",
    "progress.current.deadline",
    "stages",
    "stages[].status",
    "stages[].label",
    "stages[].reached",
    "public_replies",
    "public_replies[].text",
    "public_replies[].status_label",
    "public_replies[].category",
    "public_replies[].date",
}
SCENE_KEYS = {"project_id", "page"}
# Names of every integrity flag the server raises on visits, check-ins and photos.
FLAGS = (
    "capture_far",
    "clock_skew",
    "duplicate",
    "exif_edited",
    "exif_gps_far",
    "exif_time_mismatch",
    "far_from_village",
    "impossible_speed",
    "low_accuracy",
    "no_exif",
    "zero_accuracy",
)


@pytest.fixture
def admin(client, world) -> Api:
    """The county administrator."""
    return Api(client, world.tokens["admin"])


@pytest.fixture
def anyone(client) -> Api:
    """A caller without a token."""
    return Api(client)


def key_paths(value, prefix: str = "") -> set[str]:
    """Every key path in a JSON value: {"a": [{"b": 1}]} → {"a", "a[].b"}."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            paths |= {path} | key_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            inner = key_paths(item, f"{prefix}[]")
            paths |= inner or ({f"{prefix}[]"} if not isinstance(item, dict | list) else set())
    return paths


def scene_of(app, project_id: int) -> str:
    """The signed scene of a project's code."""
    with app.app_context():
        return public.scene_for(project_id)


def visit_photo(api: Api, visit_id: int, data: bytes) -> dict:
    """Ticket, upload and complete a visit photo; returns the completed photo."""
    r = api.post(
        f"/api/v1/visits/{visit_id}/photos",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "content_type": "image/jpeg",
            "size": len(data),
            "taken_at": now_iso(),
            "lat": V1[0],
            "lng": V1[1],
        },
    )
    assert r.status_code == 201, r.get_json()
    assert upload(api.client, r.get_json()["upload"], data) == 204
    done = api.post(f"/api/v1/photos/{r.get_json()['photo_id']}/complete")
    assert done.status_code == 200 and done.get_json()["status"] == "ready", done.get_json()
    return done.get_json()


def stored_bytes(app, photo_id: int, which: str) -> bytes:
    """The stored original ('object_key') or preview ('preview_key') of a photo."""
    with app.app_context():
        key = getattr(db.session.get(Photo, photo_id), which)
        with app.extensions["storage"].open(key) as f:
            return f.read()


def feedback(api: Api, project_id: int, **over) -> dict:
    """Send feedback that must be accepted."""
    body = {
        "client_id": uid(),
        "sent_at": now_iso(),
        "rating": "满意",
        "category": "表扬",
        "text": "路修好了,谢谢。",
        "anonymous": False,
        **over,
    }
    r = api.post(f"/api/v1/public/projects/{project_id}/feedback", body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def fill_in(admin: Api, project_id: int, **extra) -> None:
    """Give a project commitments and responsible people through the admin API."""
    r = admin.patch(
        f"/api/v1/admin/projects/{project_id}",
        {
            "steps": [
                {"name": "修建灌溉水渠", "deadline": "2026-06-30", "responsible": "张书记", "status": "进行中"},
                "采购蜜柚苗",
            ],
            "targets": ["新增蜜柚种植 300 亩", {"text": "带动 50 户增收"}],
            "responsible": RESPONSIBLE,
            **extra,
        },
    )
    assert r.status_code == 200, r.get_json()


# ---- the public record -------------------------------------------------------------------------


def test_public_record_needs_no_login(admin, anyone, world):
    """Anyone reads the commitments, deadlines and the four responsible people without a token."""
    fill_in(admin, world.p1)
    r = anyone.get(f"/api/v1/public/projects/{world.p1}")
    assert r.status_code == 200
    record = r.get_json()
    assert (record["title"], record["year"], record["status"]) == ("蜜柚产业项目", 2026, "in_progress")
    assert record["places"] == [{"kind": "village", "name": "江南村", "township": "永阳镇"}]
    assert record["steps"] == [
        {"name": "修建灌溉水渠", "deadline": "2026-06-30", "responsible": "张书记", "status": "进行中"},
        {"name": "采购蜜柚苗", "deadline": "", "responsible": "", "status": ""},
    ]
    assert record["targets"] == ["新增蜜柚种植 300 亩", "带动 50 户增收"]
    assert record["responsible"] == RESPONSIBLE and record["accepting_feedback"] is True


def test_missing_responsible_people_are_empty_not_absent(anyone, world):
    """All four roles are always listed, empty when not entered yet."""
    record = anyone.get(f"/api/v1/public/projects/{world.p2}").get_json()
    assert record["responsible"] == dict.fromkeys(RESPONSIBLE, "")


def test_unit_site_project_names_its_site(anyone, world):
    """A unit's project is placed at its own site."""
    record = anyone.get(f"/api/v1/public/projects/{world.p3}").get_json()
    assert [(p["kind"], p["name"]) for p in record["places"]] == [("site", "高新区党群服务中心")]


def test_unknown_project_is_404(anyone):
    """An unknown project id is a 404 in the common error shape."""
    r = anyone.get("/api/v1/public/projects/999999")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"


def test_closed_project_no_longer_accepts_feedback(admin, anyone, world):
    """A closed project keeps its public record but says it takes no more feedback, in JSON and HTML."""
    r = admin.post(f"/api/v1/projects/{world.p1}/transitions", {"action": "close", "opinion": "项目终止"})
    assert r.status_code == 200
    record = anyone.get(f"/api/v1/public/projects/{world.p1}").get_json()
    assert record["status"] == "closed" and record["accepting_feedback"] is False
    assert "该项目已结束,不再接收反馈" in anyone.get(f"/p/{world.p1}").get_data(as_text=True)


def test_feedback_counts_leave_out_held_feedback(client, anyone, fake_wechat, world):
    """The rating counts count released feedback only: held feedback is not public yet."""
    villager = Api(client, world.tokens["villager"])
    feedback(villager, world.p1, rating="满意")
    feedback(villager, world.p1, rating="基本满意")
    marker = f"标记{uid()[:8]}"
    fake_wechat.add_sec_check_rule(marker, "review")
    try:
        assert feedback(villager, world.p1, rating="不满意", text=f"反映{marker}")["status"] == "held"
    finally:
        fake_wechat.sec_check_rules.pop(marker, None)
    counts = anyone.get(f"/api/v1/public/projects/{world.p1}").get_json()["feedback_counts"]
    assert counts == {"满意": 1, "基本满意": 1, "不满意": 0}


# ---- status, step progress and public answers ---------------------------------------------------


def test_status_stages_and_step_progress(admin, anyone, world):
    """The record says which stage the project has reached and how many steps are done, and which is next."""
    fill_in(
        admin,
        world.p1,
        steps=[
            {"name": "成立合作社", "deadline": "2026-03-31", "status": "已完成"},
            {"name": "修建灌溉水渠", "deadline": "2026-06-30", "status": "进行中"},
            {"name": "采购蜜柚苗", "deadline": "2026-09-30"},
        ],
    )
    record = anyone.get(f"/api/v1/public/projects/{world.p1}").get_json()
    assert [(s["label"], s["reached"]) for s in record["stages"]] == [
        ("立项", True),
        ("实施中", True),
        ("已验收", False),
    ]
    assert record["progress"] == {
        "done": 1,
        "total": 3,
        "current": {"name": "修建灌溉水渠", "deadline": "2026-06-30"},
    }
    page = anyone.get(f"/p/{world.p1}").get_data(as_text=True)
    assert "已完成 <strong>1</strong> / 3 步" in page and "当前:修建灌溉水渠" in page
    assert 'aria-current="step">实施中</li>' in page


def test_only_replies_marked_public_are_shown(client, admin, anyone, world):
    """A public answer appears with its date and category; a private one and the villager's words do not."""
    villager = Api(client, world.tokens["villager"])
    first = feedback(villager, world.p1, category="建议", text="建议路灯晚上多开一小时")
    second = feedback(villager, world.p1, category="投诉", text="水渠边的垃圾没人清理")
    public_answer = {"text": "已协调延长路灯开放时间", "status": "resolved", "public": True}
    private_answer = {"text": "已转交村委会处理,请留意电话", "status": "processing"}
    assert admin.post(f"/api/v1/feedback/{first['id']}/replies", public_answer).status_code == 201
    assert admin.post(f"/api/v1/feedback/{second['id']}/replies", private_answer).status_code == 201
    replies = anyone.get(f"/api/v1/public/projects/{world.p1}").get_json()["public_replies"]
    today = datetime.now(clock.CHINA).date().isoformat()
    assert replies == [{"text": "已协调延长路灯开放时间", "status_label": "已办结", "category": "建议", "date": today}]
    page = anyone.get(f"/p/{world.p1}").get_data(as_text=True)
    assert "已协调延长路灯开放时间" in page
    assert "已转交村委会处理" not in page and "建议路灯晚上多开一小时" not in page


# ---- progress updates ----------------------------------------------------------------------------


def test_progress_updates_appear_newest_first(admin, anyone, world):
    """Updates an administrator publishes appear on the record, newest first, with their date."""
    for text in ("水渠开工", "水渠完工"):
        r = admin.post(f"/api/v1/admin/projects/{world.p1}/updates", {"text": text})
        assert r.status_code == 201 and r.get_json()["text"] == text
    updates = anyone.get(f"/api/v1/public/projects/{world.p1}").get_json()["updates"]
    today = datetime.now(clock.CHINA).date().isoformat()
    assert updates == [{"text": "水渠完工", "date": today}, {"text": "水渠开工", "date": today}]


def test_update_date_is_the_china_date(app, admin, anyone, world):
    """An update published at 04:00 Beijing time (20:00 UTC the day before) is dated the Beijing day."""
    r = admin.post(f"/api/v1/admin/projects/{world.p1}/updates", {"text": "清晨发布"})
    with app.app_context():
        db.session.get(ProjectUpdate, r.get_json()["id"]).created_at = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
        db.session.commit()
    updates = anyone.get(f"/api/v1/public/projects/{world.p1}").get_json()["updates"]
    assert updates == [{"text": "清晨发布", "date": "2026-03-02"}]


@pytest.mark.parametrize("role, status", [("reviewer1", 403), ("villager", 403), (None, 401)])
def test_only_admin_publishes_updates(client, world, role, status):
    """Reviewers and villagers cannot publish updates (403); no token is 401."""
    api = Api(client, world.tokens[role] if role else None)
    assert api.post(f"/api/v1/admin/projects/{world.p1}/updates", {"text": "进展"}).status_code == status


def test_update_of_unknown_project_is_404(admin):
    """Publishing on an unknown project is a 404."""
    assert admin.post("/api/v1/admin/projects/999999/updates", {"text": "进展"}).status_code == 404


def test_blank_update_is_refused(admin, anyone, world):
    """An update of only spaces is a 400 and is not published."""
    r = admin.post(f"/api/v1/admin/projects/{world.p1}/updates", {"text": "  \n "})
    assert r.status_code == 400 and r.get_json()["error"]["details"]["field"] == "text"
    assert anyone.get(f"/api/v1/public/projects/{world.p1}").get_json()["updates"] == []


# ---- nothing private in public -----------------------------------------------------------------


def test_public_endpoints_are_the_ones_checked_for_leaks(app):
    """The leak test below covers every unauthenticated public API endpoint and web page."""
    # Login, health, OpenAPI and signed storage URLs aside, this is everything reachable without a token.
    api = {e.path for e in ENDPOINTS if not e.auth and e.tag not in ("auth", "ops", "photos")}
    # The round endpoints are checked in tests/api/test_rounds.py (no villages before close, no people ever).
    assert api == {
        "/api/v1/public/projects/<int:project_id>",
        "/api/v1/public/scene/<scene>",
        "/api/v1/public/rounds",
        "/api/v1/public/rounds/<int:round_id>",
        "/api/v1/public/rounds/<int:round_id>/record",
    }
    pages = {rule.rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("web.")}
    # /audit shows the newest audit checkpoint: a seq, a hash and a time (tests/services/test_audit.py).
    assert pages == {"/p/<int:project_id>", "/verify/<code>", "/audit"}


def test_no_public_response_leaks_private_data(app, client, admin, anyone, world):
    """Record, scene, project page and verify page show allow-listed keys and no private value."""
    phone = "13987654321"
    fill_in(
        admin,
        world.p1,
        responsible={**RESPONSIBLE, "牵头书记": {"name": "张书记", "phone": phone}, "暗访组": "insp_b"},
        steps=[
            {
                "name": "修建灌溉水渠",
                "deadline": "2026-06-30",
                "status": "滞后",
                "responsible": {"name": "张书记", "phone": phone},
                "inspector_note": "暗访发现进度滞后",
            }
        ],
        targets=[{"text": "带动 50 户增收", "contact": phone}],
    )
    insp = Api(client, world.tokens["insp_a"])
    visit = start_visit(insp, world.a1)
    far = (V1[0] + 0.05, V1[1])
    assert insp.post(f"/api/v1/visits/{visit['id']}/checkins", checkin_body(*far)).status_code == 201
    photo = visit_photo(insp, visit["id"], phone_jpeg(size=(800, 600)))  # no EXIF: flagged no_exif
    assert photo["flags"]
    r = insp.post(
        f"/api/v1/visits/{visit['id']}/interviews",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "household": "罗焕敬家",
            "satisfaction": "不满意",
            "notes": "反映水渠漏水",
        },
    )
    assert r.status_code == 201
    villager = Api(client, world.tokens["villager"])
    leak = feedback(villager, world.p1, contact_phone="13812345678", text="水渠漏水严重,请尽快处理")
    answer = {"text": "已安排维修", "status": "processing", "public": True}
    assert admin.post(f"/api/v1/feedback/{leak['id']}/replies", answer).status_code == 201
    assert admin.post(f"/api/v1/admin/projects/{world.p1}/updates", {"text": "水渠开工"}).status_code == 201

    record = anyone.get(f"/api/v1/public/projects/{world.p1}")
    scene = anyone.get(f"/api/v1/public/scene/{scene_of(app, world.p1)}")
    assert key_paths(record.get_json()) <= RECORD_KEYS
    assert set(scene.get_json()) == SCENE_KEYS
    assert record.get_json()["responsible"]["牵头书记"] == "张书记"
    assert [r["text"] for r in record.get_json()["public_replies"]] == ["已安排维修"]
    app.test_cli_runner().invoke(args=["audit-checkpoint"])
    pages = [anyone.get(f"/p/{world.p1}"), anyone.get(f"/verify/{photo['verify_code']}"), anyone.get("/audit")]
    assert [p.status_code for p in pages] == [200, 200, 200]
    texts = [record.get_data(as_text=True), scene.get_data(as_text=True)] + [p.get_data(as_text=True) for p in pages]
    private = [
        "insp_a",
        "insp_b",
        "罗焕敬",
        "反映水渠漏水",
        "水渠漏水严重",
        "13812345678",
        "138****5678",
        phone,
        "暗访",
        "openid-villager-1",
        photo["sha256"],
        *FLAGS,
    ]
    for text in texts:
        assert [p for p in private if p in text] == []


# ---- scene tokens ------------------------------------------------------------------------------------


def test_scene_round_trip(app, anyone, world):
    """A project's scene is ≤ 32 characters of WeChat's alphabet and resolves to the project and page."""
    scene = scene_of(app, world.p2)
    assert re.fullmatch(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}", scene)
    r = anyone.get(f"/api/v1/public/scene/{scene}")
    assert r.status_code == 200 and r.get_json() == {"project_id": world.p2, "page": "pages/project/project"}


@pytest.mark.parametrize(
    "forge",
    [
        lambda s, other: other.split(".")[0] + "." + s.split(".")[1],  # another project's id, this mac
        lambda s, other: s[:-1] + ("a" if s[-1] != "a" else "b"),  # one character of the mac changed
        lambda s, other: s.split(".")[0],  # no mac
        lambda s, other: s + "x",  # mac too long
        lambda s, other: "x" + s[1:],  # not a project payload
        lambda s, other: s.upper(),  # case matters
        lambda s, other: "p1.中文乱码",  # not ASCII
        lambda s, other: "%00" * 3,  # control characters
        lambda s, other: "a" * 300,  # garbage
    ],
    ids=["swapped", "mac", "no-mac", "long-mac", "payload", "upper", "non-ascii", "nul", "garbage"],
)
def test_forged_or_garbled_scene_is_404(app, anyone, world, forge):
    """A scene not signed by this server for this project is a 404 in the common shape, never a 500."""
    scene = forge(scene_of(app, world.p1), scene_of(app, world.p2))
    r = anyone.get(f"/api/v1/public/scene/{quote(scene, safe='%')}")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"


def test_scene_signed_with_another_key_is_404(database_url, storage_config, fake_wechat, anyone, world):
    """A scene made by a server with another SECRET_KEY does not resolve here."""
    other = make_app(database_url, storage_config, fake_wechat, SECRET_KEY="another-secret-key-of-another-server")
    try:
        scene = scene_of(other, world.p1)
    finally:
        other.extensions["db"]["engine"].dispose()
    assert anyone.get(f"/api/v1/public/scene/{scene}").status_code == 404


def test_scene_of_unknown_project_is_404(app, anyone):
    """A validly signed scene of a project that does not exist is a 404."""
    assert anyone.get(f"/api/v1/public/scene/{scene_of(app, 999999)}").status_code == 404


# ---- the notice-board code and poster ----------------------------------------------------------------


def test_wxacode_comes_from_wechat_with_the_signed_scene(app, admin, anyone, fake_wechat, world):
    """code.png is WeChat's mini-program code for the project page, whose scene resolves to the project."""
    r = admin.get(f"/api/v1/admin/projects/{world.p1}/code.png")
    assert r.status_code == 200 and r.mimetype == "image/png" and r.data.startswith(PNG_MAGIC)
    Image.open(io.BytesIO(r.data)).verify()
    call = fake_wechat.calls("/wxa/getwxacodeunlimit")[-1]["json"]
    assert call["scene"] == scene_of(app, world.p1) and call["page"] == "pages/project/project"
    assert anyone.get(f"/api/v1/public/scene/{call['scene']}").get_json()["project_id"] == world.p1


def test_wxacode_failure_is_a_502(admin, fake_wechat, world):
    """When WeChat answers an error, code.png is a 502 in the common shape."""
    fake_wechat.fail_next(1)
    r = admin.get(f"/api/v1/admin/projects/{world.p1}/code.png")
    assert r.status_code == 502 and r.get_json()["error"]["code"] == "wechat_error"


@pytest.mark.parametrize("path", ["code.png", "poster.png"])
@pytest.mark.parametrize("role, status", [("reviewer1", 403), ("villager", 403), (None, 401)])
def test_code_and_poster_are_for_admins(client, world, path, role, status):
    """Only administrators print codes and posters."""
    api = Api(client, world.tokens[role] if role else None)
    assert api.get(f"/api/v1/admin/projects/{world.p1}/{path}").status_code == status


def test_code_of_unknown_project_is_404(admin, fake_wechat):
    """No code is made for an unknown project, and WeChat is not asked."""
    before = len(fake_wechat.calls("/wxa/getwxacodeunlimit"))
    assert admin.get("/api/v1/admin/projects/999999/code.png").status_code == 404
    assert len(fake_wechat.calls("/wxa/getwxacodeunlimit")) == before


def dark(pixel) -> bool:
    """A pixel of ink: dark in every channel."""
    return max(pixel) < 100


def test_poster_is_a4_and_renders(admin, world):
    """The poster is a 1240×1754 PNG with white title text on the red band, the title in ink and the code."""
    fill_in(admin, world.p1)
    r = admin.get(f"/api/v1/admin/projects/{world.p1}/poster.png")
    assert r.status_code == 200 and r.mimetype == "image/png"
    img = Image.open(io.BytesIO(r.data)).convert("RGB")
    assert img.size == (1240, 1754)
    band = img.crop((0, 0, 1240, 170)).get_flattened_data()
    assert sum(1 for p in band if p != (255, 255, 255)) > 0.9 * len(band)  # the red band
    assert sum(1 for p in band if min(p) > 200) > 500  # "书记项目公示" in white on it
    title = img.crop((90, 210, 1150, 280)).get_flattened_data()
    assert sum(1 for p in title if dark(p)) > 1000  # the project title in ink
    code = img.crop((420, 1234, 820, 1634)).get_flattened_data()
    assert sum(1 for p in code if dark(p)) > 1000  # the scanned code


def test_poster_uses_the_simplified_chinese_face(admin, world):
    """The poster's font is the CJK font's Simplified Chinese face, not the Japanese one first in the file."""
    if posters.find_cjk_font() is None:
        missing_component("no CJK font installed (scripts/test.sh installs fonts-noto-cjk)")
    assert "SC" in posters._font(54).getname()[0].split()


def test_poster_of_unknown_project_is_404(admin):
    """No poster for an unknown project."""
    assert admin.get("/api/v1/admin/projects/999999/poster.png").status_code == 404


@pytest.mark.parametrize("app_settings", [{"WECHAT_APPID": "", "WECHAT_SECRET": ""}])
def test_plain_qr_to_the_public_page_without_wechat(admin, anyone, fake_wechat, world):
    """Without WeChat, code.png is a plain QR code of /p/{id}, and that page shows the record."""
    before = len(fake_wechat.calls("/wxa/getwxacodeunlimit"))
    r = admin.get(f"/api/v1/admin/projects/{world.p1}/code.png")
    assert r.status_code == 200 and r.data.startswith(PNG_MAGIC)
    assert r.data == qr_png(f"http://localhost/p/{world.p1}")
    assert len(fake_wechat.calls("/wxa/getwxacodeunlimit")) == before
    page = anyone.get(f"/p/{world.p1}")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "<title>蜜柚产业项目 · 书记项目公示</title>" in page.get_data(as_text=True)
    poster = admin.get(f"/api/v1/admin/projects/{world.p1}/poster.png")
    assert poster.status_code == 200 and Image.open(io.BytesIO(poster.data)).size == (1240, 1754)


@pytest.mark.parametrize(
    "app_settings", [{"WECHAT_APPID": "", "WECHAT_SECRET": "", "PUBLIC_BASE_URL": "https://dj.example.gov.cn"}]
)
def test_plain_qr_uses_the_public_base_url(admin, world):
    """PUBLIC_BASE_URL, when set, is the address in the plain QR code."""
    r = admin.get(f"/api/v1/admin/projects/{world.p1}/code.png")
    assert r.data == qr_png(f"https://dj.example.gov.cn/p/{world.p1}")


def test_public_page_shows_the_record(admin, anyone, world):
    """/p/{id} shows title, place, steps, the four responsible people and updates."""
    fill_in(admin, world.p1)
    admin.post(f"/api/v1/admin/projects/{world.p1}/updates", {"text": "水渠开工"})
    html = anyone.get(f"/p/{world.p1}").get_data(as_text=True)
    for text in (
        "蜜柚产业项目",
        "永阳镇江南村",
        "修建灌溉水渠",
        "2026-06-30",
        "新增蜜柚种植 300 亩",
        "李县长",
        "驻村工作队",
        "水渠开工",
    ):
        assert text in html


def test_public_page_escapes_html(admin, anyone, world):
    """Text entered by staff is escaped on the page."""
    assert admin.patch(f"/api/v1/admin/projects/{world.p1}", {"title": "<script>alert(1)</script>"}).status_code == 200
    html = anyone.get(f"/p/{world.p1}").get_data(as_text=True)
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_public_page_of_unknown_project_is_404(anyone):
    """/p/ of an unknown project is a 404."""
    assert anyone.get("/p/999999").status_code == 404


# ---- photo verification (验真) ----------------------------------------------------------------------


@pytest.fixture
def checked(client, world) -> dict:
    """A ready visit photo of project 蜜柚产业项目 at 江南村, with its original bytes."""
    insp = Api(client, world.tokens["insp_a"])
    visit = start_visit(insp, world.a1)
    data = phone_jpeg(size=(1200, 900), seed=7, gps=V1, taken=datetime.now().replace(microsecond=0))
    return {**visit_photo(insp, visit["id"], data), "original": data}


def verify_file(anyone: Api, code: str, data: bytes | None):
    """POST a file to the verify page."""
    form = {"file": (io.BytesIO(data), "photo.jpg")} if data is not None else {}
    return anyone.client.post(f"/verify/{code}", data=form, content_type="multipart/form-data")


def test_verify_page_shows_when_where_and_project(anyone, checked):
    """The verify page shows server time (Beijing), village and project, and nothing of the visit."""
    r = anyone.get(f"/verify/{checked['verify_code']}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and r.mimetype == "text/html"
    completed = datetime.fromisoformat(checked["completed_at"]).astimezone(clock.CHINA)
    assert completed.strftime("%Y-%m-%d %H:%M") in html
    assert "永阳镇 江南村" in html and "蜜柚产业项目" in html and checked["verify_code"] in html
    assert "insp_a" not in html and checked["sha256"] not in html


def test_verify_code_is_read_leniently(anyone, checked):
    """Lower case and a separator, as people type what they read on a watermark, still find the photo."""
    code = checked["verify_code"].lower()
    assert anyone.get(f"/verify/{code[:5]}-{code[5:]}").status_code == 200


def test_verify_recognizes_the_original(anyone, checked):
    """The very file that was uploaded is recognized as the original."""
    r = verify_file(anyone, checked["verify_code"], checked["original"])
    assert r.status_code == 200 and "与系统保存的原始照片完全一致" in r.get_data(as_text=True)


def test_verify_recognizes_the_watermarked_preview(app, anyone, checked):
    """The watermarked preview the system made is recognized as such."""
    preview = stored_bytes(app, checked["id"], "preview_key")
    r = verify_file(anyone, checked["verify_code"], preview)
    assert r.status_code == 200 and "与系统生成的带水印照片完全一致" in r.get_data(as_text=True)


def test_verify_rejects_another_file(anyone, checked):
    """A re-encoded copy is not identical to anything stored."""
    img = Image.open(io.BytesIO(checked["original"]))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80)
    r = verify_file(anyone, checked["verify_code"], out.getvalue())
    assert r.status_code == 200 and "与系统保存的照片不一致" in r.get_data(as_text=True)


def test_verify_without_a_file_asks_for_one(anyone, checked):
    """Posting the form without a file asks for one."""
    r = verify_file(anyone, checked["verify_code"], None)
    assert r.status_code == 200 and "请选择要核对的照片文件" in r.get_data(as_text=True)


@pytest.mark.parametrize("code", ["23456789AB", "ABC", "0000000000", "!!!!!!!!!!!!"])
def test_unknown_verify_code_is_404(anyone, checked, code):
    """A code no photo has, or one of the wrong shape, is a 404 page."""
    r = anyone.get(f"/verify/{quote(code)}")
    assert r.status_code == 404 and "未找到验真码" in r.get_data(as_text=True)


def test_verify_code_of_a_pending_photo_is_404(app, client, anyone, world):
    """A photo not yet uploaded and checked cannot be verified."""
    insp = Api(client, world.tokens["insp_a"])
    visit = start_visit(insp, world.a1)
    r = insp.post(
        f"/api/v1/visits/{visit['id']}/photos",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "content_type": "image/jpeg",
            "size": 1000,
            "taken_at": now_iso(),
            "lat": V1[0],
            "lng": V1[1],
        },
    )
    assert anyone.get(f"/verify/{r.get_json()['photo']['verify_code']}").status_code == 404


def test_verify_codes_are_not_guessable(app, checked):
    """Codes are 10 characters of a 31-symbol alphabet without look-alikes (≈ 49 bits)."""
    with app.app_context():
        codes = db.session.scalars(select(Photo.verify_code)).all()
    assert all(re.fullmatch(r"[2-9A-HJKMNP-Z]{10}", c) for c in codes)


def test_verify_of_a_feedback_photo_names_no_place(client, anyone, world):
    """A villager's feedback photo verifies with its project but no place (their home stays private)."""
    villager = Api(client, world.tokens["villager"])
    data = phone_jpeg(size=(800, 600), seed=11, gps=V1)
    t = villager.post(
        "/api/v1/feedback/photos", {"client_id": uid(), "content_type": "image/jpeg", "size": len(data)}
    ).get_json()
    assert upload(client, t["upload"], data) == 204
    photo = villager.post(f"/api/v1/photos/{t['photo_id']}/complete").get_json()
    feedback(villager, world.p1, photo_ids=[photo["id"]])
    html = anyone.get(f"/verify/{photo['verify_code']}").get_data(as_text=True)
    assert "蜜柚产业项目" in html and "江南村" not in html and "永阳镇" not in html


@pytest.mark.both_databases
@pytest.mark.parametrize("app_settings", [{"VERIFY_RATE_LIMITS": "3/minute"}])
def test_verify_lookups_are_rate_limited(anyone, checked):
    """Lookups per IP are limited (unknown codes count too): then 429 with the real Retry-After."""
    assert anyone.get(f"/verify/{checked['verify_code']}").status_code == 200
    assert anyone.get("/verify/23456789AB").status_code == 404
    assert verify_file(anyone, checked["verify_code"], b"x").status_code == 200
    r = anyone.get(f"/verify/{checked['verify_code']}")
    assert r.status_code == 429 and 55 <= int(r.headers["Retry-After"]) <= 60
    assert "查询过于频繁" in r.get_data(as_text=True) and "蜜柚产业项目" not in r.get_data(as_text=True)
    other_ip = anyone.client.get(f"/verify/{checked['verify_code']}", environ_base={"REMOTE_ADDR": "10.3.0.1"})
    assert other_ip.status_code == 200


@pytest.mark.both_databases
def test_verify_default_limit_is_thirty_an_hour(anyone, checked):
    """With the default VERIFY_RATE_LIMITS the 31st lookup within the hour is refused, until the first leaves the hour."""
    started = time.monotonic()
    for _ in range(30):
        assert anyone.get(f"/verify/{checked['verify_code']}").status_code == 200
    r = anyone.get(f"/verify/{checked['verify_code']}")
    # Retry-After counts from the first lookup, however long the 30 took (each re-hashes the original).
    taken = math.ceil(time.monotonic() - started)
    assert r.status_code == 429 and 3600 - taken - 1 <= int(r.headers["Retry-After"]) <= 3600


def test_verify_time_is_the_server_receipt_in_beijing_time(app, anyone, checked):
    """The page shows when the server received the photo, in Beijing time, not what the phone claimed."""
    with app.app_context():
        photo = db.session.get(Photo, checked["id"])
        photo.completed_at = datetime(2026, 3, 1, 20, 5, tzinfo=UTC)
        photo.taken_at = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
        db.session.commit()
    html = anyone.get(f"/verify/{checked['verify_code']}").get_data(as_text=True)
    assert "2026-03-02 04:05" in html and "2026-02-01" not in html
