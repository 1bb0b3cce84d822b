"""Villagers' feedback: photos, sending, content check, rate limits, privacy, replies, deadlines."""

from __future__ import annotations

import io
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest
from flask import Flask
from PIL import Image
from sqlalchemy import func, select

from server.db import db
from server.models import ClientWrite, Feedback, FeedbackReply, Photo, PhotoHashBand, RateEvent, utcnow
from server.services.feedback import add_working_days
from tests.factories import V1, Api, now_iso, start_visit, uid
from tests.services.test_counties import county2  # noqa: F401  (a fixture)
from tests.support.apps import make_app
from tests.support.images import phone_jpeg
from tests.support.upload import upload

CHINA = timezone(timedelta(hours=8))
SUBMIT = "/api/v1/public/projects/{}/feedback"
PHONE = "13812345678"


@pytest.fixture
def app_settings(template_id) -> dict:
    """The feedback reply's subscribe template; a test changes the settings with
    @pytest.mark.parametrize("app_settings", …)."""
    return {"WECHAT_FEEDBACK_TEMPLATE_ID": template_id}


@pytest.fixture
def villager(client, world) -> Api:
    """The villager of the base data (openid-villager-1)."""
    return Api(client, world.tokens["villager"])


@pytest.fixture
def admin(client, world) -> Api:
    """The county administrator."""
    return Api(client, world.tokens["admin"])


@pytest.fixture
def sec_rule(fake_wechat):
    """Give text containing a marker of this test a msgSecCheck verdict; the rule goes afterwards."""
    added = []

    def add(suggest: str, label: int | None = None) -> str:
        marker = f"标记{uuid.uuid4().hex[:8]}"
        fake_wechat.add_sec_check_rule(marker, suggest, label)
        added.append(marker)
        return marker

    yield add
    for marker in added:
        fake_wechat.sec_check_rules.pop(marker, None)


def new_villager(client, fake_wechat, openid: str | None = None) -> Api:
    """Log a new villager in through wx.login and the fake WeChat server."""
    code = fake_wechat.code_for(openid or f"openid-{uuid.uuid4().hex}")
    r = client.post("/api/v1/auth/wechat", json={"code": code})
    assert r.status_code == 200, r.get_json()
    return Api(client, r.get_json()["token"])


def body(**over) -> dict:
    """A valid feedback body."""
    return {
        "client_id": uid(),
        "sent_at": now_iso(),
        "rating": "不满意",
        "category": "问题反映",
        "text": "蜜柚基地的灌溉水渠还没有修好。",
        "anonymous": False,
        **over,
    }


def send(api: Api, project_id: int, ip: str = "127.0.0.1", **over):
    """POST feedback from an IP address; returns the response."""
    return api.post(SUBMIT.format(project_id), body(**over), environ_base={"REMOTE_ADDR": ip})


def sent(api: Api, project_id: int, **over) -> dict:
    """Send feedback that must be accepted; returns the answer."""
    r = send(api, project_id, **over)
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def photo_ticket(api: Api, size: int = 1000) -> dict:
    """A feedback photo ticket."""
    r = api.post("/api/v1/feedback/photos", {"client_id": uid(), "content_type": "image/jpeg", "size": size})
    assert r.status_code == 201, r.get_json()
    return r.get_json()


def ready_photo(api: Api, seed: int = 1) -> dict:
    """Ticket, upload and complete a phone photo with GPS EXIF; returns the completed photo."""
    data = phone_jpeg(size=(800, 600), seed=seed, gps=V1, taken=datetime.now(CHINA).replace(tzinfo=None))
    t = photo_ticket(api, len(data))
    assert upload(api.client, t["upload"], data) == 204
    r = api.post(f"/api/v1/photos/{t['photo_id']}/complete")
    assert r.status_code == 200 and r.get_json()["status"] == "ready", r.get_json()
    return r.get_json()


def reply(api: Api, feedback_id: int, status: str = "accepted", text: str = "已转交村委会处理。", **extra):
    """POST a staff reply; returns the response."""
    return api.post(f"/api/v1/feedback/{feedback_id}/replies", {"text": text, "status": status, **extra})


def snapshot(app) -> dict:
    """What a refused request must not change: feedback, replies, rate events, writes, photo owners."""
    with app.app_context():
        s = db.session
        return {
            "feedback": s.scalar(select(func.count(Feedback.id))),
            "replies": s.scalar(select(func.count(FeedbackReply.id))),
            "rate_events": s.scalar(select(func.count(RateEvent.id))),
            "client_writes": s.scalar(select(func.count()).select_from(ClientWrite)),
            "photos": sorted(s.execute(select(Photo.id, Photo.owner_kind, Photo.owner_id, Photo.status)).all()),
        }


def stored_feedback(app, feedback_id: int) -> Feedback:
    """The feedback row, detached."""
    with app.app_context():
        fb = db.session.get(Feedback, feedback_id)
        db.session.expunge(fb)
        return fb


# ---- photos ----------------------------------------------------------------------------------


def test_feedback_photo_ticket_is_a_signed_form(app, villager):
    """A villager gets an upload form for a feedback photo, owned as a draft by them."""
    t = photo_ticket(villager)
    assert t["upload"]["file_field"] == "file" and "key" in t["upload"]["fields"]
    assert t["photo"]["status"] == "pending"
    with app.app_context():
        photo = db.session.get(Photo, t["photo_id"])
        assert (photo.owner_kind, photo.upload_key) == ("feedback_draft", t["upload"]["fields"]["key"])


@pytest.mark.both_databases
def test_feedback_photo_ticket_is_idempotent(villager):
    """Asking again with the same client_id answers the same photo and key with 200."""
    request = {"client_id": uid(), "content_type": "image/jpeg", "size": 1000}
    first = villager.post("/api/v1/feedback/photos", request)
    again = villager.post("/api/v1/feedback/photos", request)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["photo_id"] == first.get_json()["photo_id"]
    assert again.get_json()["upload"]["fields"]["key"] == first.get_json()["upload"]["fields"]["key"]


def test_feedback_photo_ticket_refuses_heic(villager):
    """A HEIC photo is refused at ticket time like a visit photo."""
    r = villager.post("/api/v1/feedback/photos", {"client_id": uid(), "content_type": "image/heic", "size": 1000})
    assert r.status_code == 400 and "HEIC" in r.get_json()["error"]["message"]


def test_feedback_photo_forgets_the_location(app, villager):
    """A completed feedback photo keeps no capture point and no EXIF GPS in the database or its answer."""
    photo = ready_photo(villager)
    assert photo["lat"] is None and photo["lng"] is None
    assert "lat" not in photo["exif"] and "lng" not in photo["exif"] and photo["exif"]["model"] == "iPhone 11"
    with app.app_context():
        row = db.session.get(Photo, photo["id"])
        assert row.lat is None and row.lng is None and "lat" not in row.exif and "lng" not in row.exif


def test_feedback_photo_derivatives_have_no_exif(app, villager):
    """The thumbnail and the watermarked preview in storage carry no EXIF, so no GPS."""
    photo = ready_photo(villager)
    with app.app_context():
        row = db.session.get(Photo, photo["id"])
        storage = app.extensions["storage"]
        for key in (row.thumb_key, row.preview_key):
            with storage.open(key) as f:
                img = Image.open(io.BytesIO(f.read()))
            assert not img.getexif() and "exif" not in img.info


def test_only_the_uploader_completes_a_feedback_photo(client, fake_wechat, villager):
    """Another villager cannot complete someone's feedback photo (404)."""
    t = photo_ticket(villager)
    other = new_villager(client, fake_wechat)
    assert other.post(f"/api/v1/photos/{t['photo_id']}/complete").status_code == 404


# ---- sending -----------------------------------------------------------------------------------


def test_feedback_is_stored_with_receipt_and_photos(app, villager, world):
    """Sending answers a receipt number and 待受理; the photos move from the draft to the feedback."""
    photo = ready_photo(villager)
    answer = sent(villager, world.p1, photo_ids=[photo["id"]], contact_phone=PHONE)
    assert re.fullmatch(r"FK\d{8}-[2-9A-HJKMNP-Z]{6}", answer["receipt_no"])
    assert (answer["status"], answer["status_label"]) == ("received", "待受理")
    with app.app_context():
        fb = db.session.get(Feedback, answer["id"])
        assert (fb.project_id, fb.township_id, fb.user_id) == (world.p1, world.t1, world.ids["villager"])
        assert (fb.rating, fb.category, fb.receipt_no) == ("不满意", "问题反映", answer["receipt_no"])
        attached = db.session.get(Photo, photo["id"])
        assert (attached.owner_kind, attached.owner_id) == ("feedback", fb.id)


def test_a_villagers_photo_joins_its_projects_county_when_the_feedback_is_sent(app, villager, world, county2):  # noqa: F811
    """With several counties a villager's draft photo is indexed in no county (a complete then searches
    every county's) until its feedback names the project: then it is in that project's county's index."""

    def counties(photo_id):
        with app.app_context():
            return set(db.session.scalars(select(PhotoHashBand.county_id).where(PhotoHashBand.photo_id == photo_id)))

    photo = ready_photo(villager)
    assert counties(photo["id"]) == {None}
    sent(villager, county2["project_id"], photo_ids=[photo["id"]])
    assert counties(photo["id"]) == {county2["county_id"]}


def test_content_check_is_msgseccheck_v2_with_the_openid(fake_wechat, villager, world):
    """The text goes to msgSecCheck v2 with the villager's openid before it is stored."""
    text = f"路灯坏了 {uid()}"
    sent(villager, world.p1, text=text)
    call = next(c for c in reversed(fake_wechat.calls("/wxa/msg_sec_check")) if c["json"]["content"] == text)
    assert call["json"]["version"] == 2 and call["json"]["openid"] == "openid-villager-1"


@pytest.mark.both_databases
def test_retry_with_same_client_id_answers_the_same_receipt(app, fake_wechat, villager, world):
    """A retry answers 200 with the same receipt, stores nothing, counts nothing and checks no text."""
    request = body()
    first = villager.post(SUBMIT.format(world.p1), request)
    before, checks = snapshot(app), len(fake_wechat.calls("/wxa/msg_sec_check"))
    again = villager.post(SUBMIT.format(world.p1), {**request, "sent_at": now_iso()})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json()["receipt_no"] == first.get_json()["receipt_no"]
    assert snapshot(app) == before and len(fake_wechat.calls("/wxa/msg_sec_check")) == checks


@pytest.mark.both_databases
def test_simultaneous_retries_store_one_feedback(app, villager, world):
    """Eight copies of one feedback at once (a flaky link): one 201, seven 200, one row, one receipt."""
    request = body()

    def one(_):
        r = Api(app.test_client(), villager.token).post(SUBMIT.format(world.p1), request)
        return r.status_code, r.get_json().get("receipt_no")

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(one, range(8)))
    assert sorted(code for code, _ in answers) == [200] * 7 + [201], answers
    assert len({receipt for _, receipt in answers}) == 1
    with app.app_context():
        assert db.session.scalar(select(func.count(Feedback.id))) == 1


@pytest.mark.both_databases
def test_client_id_reused_for_other_text_is_409(villager, world):
    """The same client_id with a different text is a conflict, not a replay."""
    request = body()
    assert villager.post(SUBMIT.format(world.p1), request).status_code == 201
    r = villager.post(SUBMIT.format(world.p1), {**request, "text": "另一条意见"})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "client_id_conflict"


def test_review_verdict_holds_feedback_for_moderation(app, villager, world, sec_rule):
    """Text msgSecCheck answers 'review' for is stored as held (待审核) with the label."""
    answer = sent(villager, world.p1, text=f"村干部{sec_rule('review')}收了钱")
    assert (answer["status"], answer["status_label"]) == ("held", "待审核")
    assert stored_feedback(app, answer["id"]).moderation_label == 21000


def test_risky_verdict_is_held_and_the_villager_told_it_was_received(app, villager, world, sec_rule):
    """Risky text (a report of gambling) is stored, held with WeChat's label; the villager reads 待受理."""
    photo = ready_photo(villager)
    answer = sent(villager, world.p1, text=f"村里有人聚众赌博{sec_rule('risky', 20006)}", photo_ids=[photo["id"]])
    assert (answer["status"], answer["status_label"]) == ("received", "待受理")
    fb = stored_feedback(app, answer["id"])
    assert (fb.status, fb.moderation_suggest, fb.moderation_label) == ("held", "risky", 20006)
    mine = next(f for f in villager.get("/api/v1/feedback/mine").get_json()["items"] if f["id"] == answer["id"])
    assert (mine["status"], mine["status_label"], len(mine["photos"])) == ("received", "待受理", 1)


def test_risky_feedback_is_for_county_staff_only(client, villager, world, sec_rule):
    """Held risky feedback: admin and leader read it with the reason; the township's reviewer does not."""
    fid = sent(villager, world.p1, text=f"有人打架{sec_rule('risky', 20006)}")["id"]
    for role in ("admin", "leader"):
        staff = Api(client, world.tokens[role])
        item = staff.get(f"/api/v1/feedback/{fid}").get_json()
        assert item["status"] == "held" and "风险内容" in item["held_reason"] and "违法犯罪" in item["held_reason"]
        assert fid in [f["id"] for f in staff.get("/api/v1/feedback?status=held").get_json()["items"]]
    reviewer = Api(client, world.tokens["reviewer1"])
    assert reviewer.get(f"/api/v1/feedback/{fid}").status_code == 404
    assert fid not in [f["id"] for f in reviewer.get("/api/v1/feedback").get_json()["items"]]


def test_risky_feedback_never_reaches_the_secretary_even_released(app, client, villager, admin, world, sec_rule):
    """The project's secretary never lists risky feedback, before or after county staff release it."""
    from server.models import Project

    with app.app_context():
        db.session.get(Project, world.p1).secretary_id = world.ids["secretary"]
        db.session.commit()
    fid = sent(villager, world.p1, text=f"书记家里开赌场{sec_rule('risky')}")["id"]
    secretary = Api(client, world.tokens["secretary"])
    assert secretary.get("/api/v1/projects/feedback").get_json()["items"] == []
    assert admin.post(f"/api/v1/feedback/{fid}/moderation", {"decision": "release"}).status_code == 200
    assert secretary.get("/api/v1/projects/feedback").get_json()["items"] == []
    assert Api(client, world.tokens["reviewer1"]).get(f"/api/v1/feedback/{fid}").status_code == 200


def test_wechat_unavailable_holds_feedback(fake_wechat, villager, world):
    """When msgSecCheck cannot answer, the feedback is kept but held for a person to look at."""
    fake_wechat.fail_next(1)
    assert sent(villager, world.p1)["status"] == "held"


# ---- rate limits -----------------------------------------------------------------------------


@pytest.mark.both_databases
def test_sixth_feedback_in_an_hour_is_429_with_retry_after(villager, world):
    """Per openid: five an hour, the sixth (even from another IP) is 429 with Retry-After ≈ 1 h."""
    for i in range(5):
        sent(villager, world.p1, ip=f"10.0.0.{i + 1}")
    r = send(villager, world.p1, ip="10.0.0.99")
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "rate_limited"
    retry = int(r.headers["Retry-After"])
    assert 3590 <= retry <= 3600 and r.get_json()["error"]["details"]["retry_after"] == retry


@pytest.mark.both_databases
def test_ip_limit_counts_every_villager_behind_it(client, fake_wechat, world):
    """Per IP: five different villagers from one address use it up; a sixth is 429, another IP is not."""
    for _ in range(5):
        sent(new_villager(client, fake_wechat), world.p1, ip="10.9.9.9")
    sixth = new_villager(client, fake_wechat)
    r = send(sixth, world.p1, ip="10.9.9.9")
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert send(sixth, world.p1, ip="10.9.9.10").status_code == 201


@pytest.mark.both_databases
def test_rate_limit_holds_across_two_app_instances(app, database_url, storage_config, fake_wechat, app_settings, world):
    """Two app objects on one database (two workers) share the count: the sixth is 429 on either."""
    other = make_app(database_url, storage_config, fake_wechat, **app_settings)
    try:
        token = world.tokens["villager"]
        workers = [Api(app.test_client(), token), Api(other.test_client(), token)]
        for i in range(5):
            sent(workers[i % 2], world.p1, ip=f"10.1.0.{i + 1}")
        for worker in workers:
            r = send(worker, world.p1, ip="10.1.1.1")
            assert r.status_code == 429 and "Retry-After" in r.headers
    finally:
        other.extensions["db"]["engine"].dispose()


@pytest.mark.both_databases
def test_simultaneous_sends_do_not_overrun_the_limit(
    app, database_url, storage_config, fake_wechat, app_settings, world
):
    """Eight sends at once through two workers: exactly five are stored, three are 429."""
    other = make_app(database_url, storage_config, fake_wechat, **app_settings)
    token = world.tokens["villager"]

    def one(i):
        worker = Api((app, other)[i % 2].test_client(), token)
        return send(worker, world.p1, ip=f"10.2.0.{i + 1}").status_code

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = sorted(pool.map(one, range(8)))
    finally:
        other.extensions["db"]["engine"].dispose()
    assert codes == [201] * 5 + [429] * 3
    with app.app_context():
        assert db.session.scalar(select(func.count(Feedback.id))) == 5


@pytest.mark.both_databases
def test_daily_limit_counts_events_older_than_an_hour(app, villager, world):
    """Twenty sends two hours ago leave the hour free but the day full: 429 until the first is a day old."""
    with app.app_context():
        at = utcnow() - timedelta(hours=2)
        db.session.add_all(RateEvent(key=f"feedback:user:{world.ids['villager']}", at=at) for _ in range(20))
        db.session.commit()
    r = send(villager, world.p1)
    assert r.status_code == 429
    assert 22 * 3600 - 60 <= int(r.headers["Retry-After"]) <= 22 * 3600


def test_hour_window_slides(app, villager, world):
    """Five sends 61 minutes ago no longer count against the hourly limit."""
    with app.app_context():
        at = utcnow() - timedelta(minutes=61)
        db.session.add_all(RateEvent(key=f"feedback:user:{world.ids['villager']}", at=at) for _ in range(5))
        db.session.commit()
    assert send(villager, world.p1).status_code == 201


def test_events_older_than_a_day_are_forgotten(app, villager, world):
    """Counting a send deletes the key's events no window can see any more."""
    key = f"feedback:user:{world.ids['villager']}"
    with app.app_context():
        db.session.add(RateEvent(key=key, at=utcnow() - timedelta(days=2)))
        db.session.commit()
    sent(villager, world.p1)
    with app.app_context():
        assert db.session.scalar(select(func.count(RateEvent.id)).where(RateEvent.key == key)) == 1


@pytest.mark.parametrize("app_settings", [{"FEEDBACK_RATE_LIMITS": "2/minute"}])
def test_rate_limits_are_configurable(villager, world):
    """FEEDBACK_RATE_LIMITS replaces the defaults."""
    sent(villager, world.p1)
    sent(villager, world.p1)
    r = send(villager, world.p1)
    assert r.status_code == 429 and 55 <= int(r.headers["Retry-After"]) <= 60


# ---- privacy: phone numbers and anonymity -------------------------------------------------------


def test_phone_is_encrypted_at_rest(app, villager, world):
    """The contact phone is stored encrypted: the digits are not in the row."""
    fid = sent(villager, world.p1, contact_phone=PHONE)["id"]
    with app.app_context():
        raw = db.session.scalar(select(Feedback.phone_enc).where(Feedback.id == fid))
    assert raw and PHONE not in raw and "5678" not in raw


@pytest.mark.parametrize("role, phone", [("admin", PHONE), ("leader", PHONE), ("reviewer1", "138****5678")])
def test_phone_in_full_only_for_county_staff(client, villager, world, role, phone):
    """Admin and leader read the phone in full; the township reviewer reads it masked, in list and detail."""
    fid = sent(villager, world.p1, contact_phone=PHONE)["id"]
    staff = Api(client, world.tokens[role])
    item = staff.get(f"/api/v1/feedback/{fid}").get_json()
    listed = next(f for f in staff.get("/api/v1/feedback").get_json()["items"] if f["id"] == fid)
    assert item["contact_phone"] == listed["contact_phone"] == phone
    assert item["author"] == {"user_id": world.ids["villager"]}


def test_landline_is_accepted_and_masked(client, villager, world):
    """A landline with area code is a valid contact number and is masked for the reviewer."""
    fid = sent(villager, world.p1, contact_phone="0796-8123456")["id"]
    item = Api(client, world.tokens["reviewer1"]).get(f"/api/v1/feedback/{fid}").get_json()
    assert item["contact_phone"] == "079*****3456"


def test_no_digit_of_a_phone_for_the_projects_secretary(app, villager, world):
    """The project's own secretary (a complaint may be about them) gets no digit of the phone."""
    from server.models import Project, User
    from server.services.feedback import phone_for

    fid = sent(villager, world.p1, contact_phone=PHONE)["id"]
    with app.app_context():
        db.session.get(Project, world.p1).secretary_id = world.ids["secretary"]
        secretary, fb = db.session.get(User, world.ids["secretary"]), db.session.get(Feedback, fid)
        assert phone_for(secretary, fb) is None


@pytest.mark.parametrize("role, visible", [("admin", True), ("leader", True), ("reviewer1", False)])
def test_anonymous_author_known_only_to_county_staff(client, villager, world, role, visible):
    """Anonymous feedback shows author and phone to admin and leader only; nobody else gets a trace."""
    fid = sent(villager, world.p1, contact_phone=PHONE, anonymous=True)["id"]
    staff = Api(client, world.tokens[role])
    for item in (
        staff.get(f"/api/v1/feedback/{fid}").get_json(),
        next(f for f in staff.get("/api/v1/feedback").get_json()["items"] if f["id"] == fid),
    ):
        assert item["anonymous"] is True
        if visible:
            assert item["author"] == {"user_id": world.ids["villager"]} and item["contact_phone"] == PHONE
        else:
            assert item["author"] is None and item["contact_phone"] is None
            assert "5678" not in str(item)


@pytest.mark.parametrize("role", ["secretary", "villager", "insp_a"])
def test_inbox_is_for_staff_only(client, world, role):
    """Secretaries, villagers and inspectors cannot read the feedback inbox (403)."""
    assert Api(client, world.tokens[role]).get("/api/v1/feedback").status_code == 403


def test_reviewer_sees_only_own_townships_feedback(client, villager, world):
    """A reviewer of another township neither lists nor reads the feedback (404)."""
    fid = sent(villager, world.p1)["id"]
    other = Api(client, world.tokens["reviewer2"])
    assert fid not in [f["id"] for f in other.get("/api/v1/feedback").get_json()["items"]]
    assert other.get(f"/api/v1/feedback/{fid}").status_code == 404
    assert reply(other, fid).status_code == 404


# ---- replies and statuses -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, label, closed",
    [("accepted", "已受理", False), ("processing", "处理中", False), ("resolved", "已办结", True)],
)
def test_reply_sets_the_status(app, client, villager, world, status, label, closed):
    """A reviewer's reply sets the status; resolving closes the item."""
    fid = sent(villager, world.p1)["id"]
    r = reply(Api(client, world.tokens["reviewer1"]), fid, status)
    assert r.status_code == 201 and (r.get_json()["status"], r.get_json()["status_label"]) == (status, label)
    fb = stored_feedback(app, fid)
    assert fb.status == status and (fb.closed_at is not None) == closed


def test_decline_needs_a_reason(app, admin, villager, world):
    """不予受理 without a reason is 400 and changes nothing; with one it closes the item."""
    fid = sent(villager, world.p1)["id"]
    before = snapshot(app)
    for extra in ({}, {"reason": "   "}):
        r = reply(admin, fid, "declined", **extra)
        assert r.status_code == 400 and r.get_json()["error"]["details"]["field"] == "reason"
    assert snapshot(app) == before and stored_feedback(app, fid).status == "received"
    r = reply(admin, fid, "declined", reason="不属于本项目范围")
    assert r.status_code == 201 and r.get_json()["reason"] == "不属于本项目范围"
    assert stored_feedback(app, fid).status == "declined"


@pytest.mark.parametrize("final", ["resolved", "declined"])
def test_closed_feedback_takes_no_more_replies(admin, villager, world, final):
    """After 已办结 or 不予受理 another reply is a 409."""
    fid = sent(villager, world.p1)["id"]
    assert reply(admin, fid, final, reason="理由").status_code == 201
    r = reply(admin, fid, "processing")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "conflict"


def test_reply_status_must_be_a_reply_status(admin, villager, world):
    """A reply cannot set 'received' or 'held' (400)."""
    fid = sent(villager, world.p1)["id"]
    assert reply(admin, fid, "held").status_code == 400
    assert reply(admin, fid, "received").status_code == 400


def test_leader_reads_but_does_not_reply(client, villager, world):
    """A leader can read feedback but replying is 403."""
    fid = sent(villager, world.p1)["id"]
    leader = Api(client, world.tokens["leader"])
    assert leader.get(f"/api/v1/feedback/{fid}").status_code == 200
    assert reply(leader, fid).status_code == 403


def test_inbox_filters_by_status_and_project(admin, villager, world, sec_rule):
    """status= and project_id= narrow the inbox."""
    held = sent(villager, world.p1, text=f"反映{sec_rule('review')}")["id"]
    p1 = sent(villager, world.p1)["id"]
    p2 = sent(villager, world.p2)["id"]

    def ids(query: str) -> list[int]:
        return [f["id"] for f in admin.get(f"/api/v1/feedback?{query}").get_json()["items"]]

    assert ids("status=held") == [held]
    assert sorted(ids(f"project_id={world.p1}")) == sorted([held, p1])
    assert ids(f"project_id={world.p2}&status=received") == [p2]


def test_replies_are_listed_oldest_first(admin, villager, world):
    """Every reply is kept, oldest first, and the last one sets the status."""
    fid = sent(villager, world.p1)["id"]
    reply(admin, fid, "accepted", text="已受理")
    reply(admin, fid, "resolved", text="水渠已修复")
    item = admin.get(f"/api/v1/feedback/{fid}").get_json()
    assert [r["text"] for r in item["replies"]] == ["已受理", "水渠已修复"] and item["status"] == "resolved"


# ---- moderation -----------------------------------------------------------------------------------


def test_held_feedback_is_released_before_a_reply(admin, villager, world, sec_rule):
    """Held feedback cannot be answered (409) until released; then it is 待受理 and answerable."""
    fid = sent(villager, world.p1, text=f"反映{sec_rule('review')}")["id"]
    assert reply(admin, fid).status_code == 409
    r = admin.post(f"/api/v1/feedback/{fid}/moderation", {"decision": "release"})
    assert r.status_code == 200 and r.get_json()["status"] == "received"
    assert reply(admin, fid).status_code == 201


def test_moderation_decline_needs_reason_and_the_author_reads_it(client, admin, villager, world, sec_rule):
    """Declining held feedback needs a reason, which the author then reads in /feedback/mine."""
    fid = sent(villager, world.p1, text=f"反映{sec_rule('review')}")["id"]
    r = admin.post(f"/api/v1/feedback/{fid}/moderation", {"decision": "decline"})
    assert r.status_code == 400
    r = admin.post(f"/api/v1/feedback/{fid}/moderation", {"decision": "decline", "reason": "含有不实信息"})
    assert r.status_code == 200 and r.get_json()["status"] == "declined"
    mine = next(f for f in villager.get("/api/v1/feedback/mine").get_json()["items"] if f["id"] == fid)
    assert mine["status_label"] == "不予受理" and mine["replies"][0]["reason"] == "含有不实信息"


def test_moderating_feedback_that_is_not_held_is_409(admin, villager, world):
    """Only held feedback can be moderated."""
    fid = sent(villager, world.p1)["id"]
    assert admin.post(f"/api/v1/feedback/{fid}/moderation", {"decision": "release"}).status_code == 409


def test_reviewer_moderates_only_own_township(client, villager, world, sec_rule):
    """A reviewer of another township cannot release held feedback (404)."""
    fid = sent(villager, world.p1, text=f"反映{sec_rule('review')}")["id"]
    other = Api(client, world.tokens["reviewer2"])
    assert other.post(f"/api/v1/feedback/{fid}/moderation", {"decision": "release"}).status_code == 404


# ---- deadlines and the overdue list -----------------------------------------------------------------


def deadline(start: datetime, days: int = 5, holidays: str = "") -> datetime:
    """add_working_days under a bare app configured with HOLIDAYS."""
    bare = Flask(__name__)
    bare.config["HOLIDAYS"] = holidays
    with bare.app_context():
        return add_working_days(start, days)


def china(*args) -> datetime:
    """A China-time datetime."""
    return datetime(*args, tzinfo=CHINA)


@pytest.mark.parametrize(
    "start, due",
    [
        (china(2026, 3, 2, 10, 0), china(2026, 3, 9, 23, 59, 59)),  # Monday → next Monday
        (china(2026, 3, 6, 22, 0), china(2026, 3, 13, 23, 59, 59)),  # Friday evening → next Friday
        (china(2026, 3, 7, 9, 0), china(2026, 3, 13, 23, 59, 59)),  # Saturday → Friday
        (china(2026, 3, 8, 9, 0), china(2026, 3, 13, 23, 59, 59)),  # Sunday → Friday
    ],
)
def test_five_working_days_skip_weekends(start, due):
    """Five working days end at 23:59:59 China time, weekends not counted."""
    assert deadline(start) == due


def test_working_days_count_from_the_china_date():
    """Thursday 17:30 UTC is already Friday in China: the count starts from Friday, not Thursday."""
    assert deadline(datetime(2026, 3, 5, 17, 30, tzinfo=UTC)) == china(2026, 3, 13, 23, 59, 59)
    assert deadline(datetime(2026, 3, 5, 15, 30, tzinfo=UTC)) == china(2026, 3, 12, 23, 59, 59)


def test_holidays_are_not_working_days():
    """National Day (HOLIDAYS 2026-10-01…07) is skipped: Wednesday 30 Sep → Wednesday 14 Oct."""
    holidays = ",".join(f"2026-10-0{d}" for d in range(1, 8))
    assert deadline(china(2026, 9, 30, 15, 0), holidays=holidays) == china(2026, 10, 14, 23, 59, 59)
    assert deadline(china(2026, 9, 30, 15, 0)) == china(2026, 10, 7, 23, 59, 59)


def test_holiday_list_tolerates_spaces():
    """HOLIDAYS may have spaces and an empty item."""
    assert deadline(china(2026, 3, 2, 10, 0), 1, " 2026-03-03 , ,2026-03-04") == china(2026, 3, 5, 23, 59, 59)


@pytest.mark.parametrize("app_settings", [{"FEEDBACK_REPLY_DAYS": 2}])
def test_feedback_due_date_uses_reply_days(app, villager, world):
    """due_at is FEEDBACK_REPLY_DAYS working days after receipt, at the end of the China day."""
    answer = sent(villager, world.p1)
    fb = stored_feedback(app, answer["id"])
    with app.app_context():
        assert fb.due_at == add_working_days(fb.created_at, 2)
    assert datetime.fromisoformat(answer["due_at"]) == fb.due_at
    assert fb.due_at.astimezone(CHINA).time().isoformat() == "23:59:59"


TODAY = datetime.now(CHINA).date()


@pytest.mark.parametrize("app_settings", [{"HOLIDAYS": ",".join(str(TODAY + timedelta(days=d)) for d in range(1, 11))}])
def test_feedback_due_date_skips_configured_holidays(app, villager, world):
    """With the next ten days configured as HOLIDAYS, the five working days start after them."""
    due = datetime.fromisoformat(sent(villager, world.p1)["due_at"]).astimezone(CHINA).date()
    assert (due - TODAY).days >= 15 and due.weekday() < 5


def test_overdue_lists_open_feedback_past_due(app, admin, villager, world):
    """overdue=1 lists open items past due; closed or not yet due ones are left out."""
    late, done, fresh = (sent(villager, world.p1)["id"] for _ in range(3))
    assert reply(admin, done, "resolved").status_code == 201
    with app.app_context():
        for fid in (late, done):
            db.session.get(Feedback, fid).due_at = utcnow() - timedelta(days=1)
        db.session.commit()
    items = admin.get("/api/v1/feedback?overdue=1").get_json()["items"]
    assert [f["id"] for f in items] == [late] and items[0]["overdue"] is True
    everything = {f["id"]: f["overdue"] for f in admin.get("/api/v1/feedback").get_json()["items"]}
    assert everything == {late: True, done: False, fresh: False}


def test_overdue_list_respects_the_reviewers_scope(app, client, villager, world):
    """A reviewer's overdue list has only their townships' items."""
    p1, p2 = sent(villager, world.p1)["id"], sent(villager, world.p2)["id"]
    with app.app_context():
        for fid in (p1, p2):
            db.session.get(Feedback, fid).due_at = utcnow() - timedelta(hours=1)
        db.session.commit()
    items = Api(client, world.tokens["reviewer2"]).get("/api/v1/feedback?overdue=1").get_json()["items"]
    assert [f["id"] for f in items] == [p2]


# ---- the subscribe message ---------------------------------------------------------------------------


def messages(fake_wechat, template_id: str) -> list[dict]:
    """Subscribe messages the fake WeChat server delivered for this template."""
    return [m for m in fake_wechat.sent_messages if m["template_id"] == template_id]


def test_reply_sends_the_consented_subscribe_message(app, fake_wechat, admin, villager, world, template_id):
    """With notify and the villager's consent, a reply sends one subscribe message with receipt and status."""
    answer = sent(villager, world.p1, notify=True)
    fake_wechat.consent("openid-villager-1", template_id)
    r = reply(admin, answer["id"], "accepted", text="已受理,三日内派人查看")
    assert r.status_code == 201 and r.get_json()["notified"] is True
    [message] = messages(fake_wechat, template_id)
    assert message["touser"] == "openid-villager-1"
    assert message["data"]["character_string1"]["value"] == answer["receipt_no"]
    assert message["data"]["phrase3"]["value"] == "已受理"
    assert message["data"]["thing2"]["value"] == "蜜柚产业项目"


def test_no_message_without_notify(fake_wechat, admin, villager, world, template_id):
    """Without notify: true no message is sent even if WeChat holds a consent."""
    fid = sent(villager, world.p1, notify=False)["id"]
    fake_wechat.consent("openid-villager-1", template_id)
    calls = len(fake_wechat.calls("/cgi-bin/message/subscribe/send"))
    assert reply(admin, fid).get_json()["notified"] is False
    assert len(fake_wechat.calls("/cgi-bin/message/subscribe/send")) == calls


@pytest.mark.parametrize("app_settings", [{"WECHAT_FEEDBACK_TEMPLATE_ID": ""}])
def test_no_message_without_a_template(fake_wechat, admin, villager, world):
    """Without WECHAT_FEEDBACK_TEMPLATE_ID nothing is sent; the reply still succeeds."""
    fid = sent(villager, world.p1, notify=True)["id"]
    calls = len(fake_wechat.calls("/cgi-bin/message/subscribe/send"))
    r = reply(admin, fid)
    assert r.status_code == 201 and r.get_json()["notified"] is False
    assert len(fake_wechat.calls("/cgi-bin/message/subscribe/send")) == calls


def test_one_consent_one_message(fake_wechat, admin, villager, world, template_id):
    """A consent is good for one message: a second reply does not send another."""
    fid = sent(villager, world.p1, notify=True)["id"]
    fake_wechat.consent("openid-villager-1", template_id)
    assert reply(admin, fid, "accepted").get_json()["notified"] is True
    calls = len(fake_wechat.calls("/cgi-bin/message/subscribe/send"))
    assert reply(admin, fid, "resolved").get_json()["notified"] is False
    assert len(fake_wechat.calls("/cgi-bin/message/subscribe/send")) == calls
    assert len(messages(fake_wechat, template_id)) == 1


def test_refused_message_does_not_fail_the_reply(app, fake_wechat, admin, villager, world, template_id):
    """When WeChat refuses the message (no consent, 43101) the reply is stored and not marked notified."""
    fid = sent(villager, world.p1, notify=True)["id"]
    r = reply(admin, fid)
    assert r.status_code == 201 and r.get_json()["notified"] is False
    assert messages(fake_wechat, template_id) == [] and stored_feedback(app, fid).status == "accepted"


# ---- the villager's own list ------------------------------------------------------------------------


def test_mine_lists_own_feedback_with_replies_status_and_due(client, fake_wechat, admin, villager, world):
    """/feedback/mine shows the caller's items, newest first, with replies, status and due date only."""
    first = sent(villager, world.p1, text="第一条")
    second = sent(villager, world.p2, text="第二条")
    other = sent(new_villager(client, fake_wechat), world.p1, text="别人的")
    reply(admin, first["id"], "processing", text="正在处理")
    page = villager.get("/api/v1/feedback/mine").get_json()
    assert page["total"] == 2 and [f["id"] for f in page["items"]] == [second["id"], first["id"]]
    item = page["items"][1]
    assert (item["status"], item["status_label"]) == ("processing", "处理中")
    assert datetime.fromisoformat(item["due_at"]) == datetime.fromisoformat(first["due_at"])
    assert [r["text"] for r in item["replies"]] == ["正在处理"]
    assert set(item["replies"][0]) == {"id", "text", "status", "status_label", "reason", "created_at", "notified"}
    assert other["id"] not in [f["id"] for f in page["items"]]


def test_mine_shows_attached_photos_without_the_original(villager, world):
    """The author sees thumbnails and previews of their photos, not the original file."""
    photo = ready_photo(villager)
    fid = sent(villager, world.p1, photo_ids=[photo["id"]])["id"]
    item = next(f for f in villager.get("/api/v1/feedback/mine").get_json()["items"] if f["id"] == fid)
    assert [p["id"] for p in item["photos"]] == [photo["id"]]
    assert item["photos"][0]["preview_url"] and "original_url" not in item["photos"][0]


def test_mine_needs_a_token(client):
    """/feedback/mine without a token is 401."""
    assert client.get("/api/v1/feedback/mine").status_code == 401


# ---- bad input -------------------------------------------------------------------------------------


def close_project(admin: Api, project_id: int) -> None:
    """Close (终止) the project through its lifecycle."""
    r = admin.post(f"/api/v1/projects/{project_id}/transitions", {"action": "close", "opinion": "项目终止"})
    assert r.status_code == 200, r.get_json()


@pytest.mark.parametrize(
    "case, status, code",
    [
        ("unknown_project", 404, "not_found"),
        ("closed_project", 409, "project_closed"),
        ("text_501", 400, "validation_failed"),
        ("blank_text", 400, "validation_failed"),
        ("seven_photos", 400, "validation_failed"),
        ("someone_elses_photo", 400, "validation_failed"),
        ("visit_photo", 400, "validation_failed"),
        ("photo_already_used", 400, "validation_failed"),
        ("photo_not_uploaded", 409, "photo_not_uploaded"),
        ("photo_rejected", 422, "photo_rejected"),
        ("invalid_phone", 400, "validation_failed"),
        ("unknown_rating", 400, "validation_failed"),
    ],
)
def test_bad_input_is_refused_and_nothing_stored(app, client, fake_wechat, admin, villager, world, case, status, code):
    """Each bad request is a clear 4xx and leaves no feedback, reply, rate event, write or photo change."""
    project, over = world.p1, {}
    if case == "unknown_project":
        project = 999_999
    elif case == "closed_project":
        close_project(admin, world.p1)
    elif case == "text_501":
        over = {"text": "字" * 501}
    elif case == "blank_text":
        over = {"text": "   \n "}
    elif case == "seven_photos":
        over = {"photo_ids": [ready_photo(villager, seed=i)["id"] for i in range(7)]}
    elif case == "someone_elses_photo":
        over = {"photo_ids": [ready_photo(new_villager(client, fake_wechat))["id"]]}
    elif case == "visit_photo":
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
        assert r.status_code == 201, r.get_json()
        over = {"photo_ids": [r.get_json()["photo_id"]]}
    elif case == "photo_already_used":
        photo = ready_photo(villager)
        sent(villager, world.p2, photo_ids=[photo["id"]])
        over = {"photo_ids": [photo["id"]]}
    elif case == "photo_not_uploaded":
        over = {"photo_ids": [ready_photo(villager)["id"], photo_ticket(villager)["photo_id"]]}
    elif case == "photo_rejected":
        t = photo_ticket(villager)
        assert upload(client, t["upload"], "不是照片".encode() * 100) == 204
        assert villager.post(f"/api/v1/photos/{t['photo_id']}/complete").status_code == 422
        over = {"photo_ids": [t["photo_id"]]}
    elif case == "invalid_phone":
        over = {"contact_phone": "12345"}
    elif case == "unknown_rating":
        over = {"rating": "很好"}
    before = snapshot(app)
    request = body(**over)
    r = villager.post(SUBMIT.format(project), request)
    assert r.status_code == status and r.get_json()["error"]["code"] == code, r.get_json()
    assert r.get_json()["error"]["message"]
    assert snapshot(app) == before
    with app.app_context():
        assert db.session.get(ClientWrite, request["client_id"]) is None


def test_longest_text_and_most_photos_are_accepted(villager, world):
    """500 characters and 6 photos are within the limits."""
    ids = [ready_photo(villager, seed=i)["id"] for i in range(6)]
    answer = sent(villager, world.p1, text="字" * 500, photo_ids=ids)
    item = next(f for f in villager.get("/api/v1/feedback/mine").get_json()["items"] if f["id"] == answer["id"])
    assert len(item["photos"]) == 6 and len(item["text"]) == 500


def test_feedback_needs_a_login(client, world):
    """Sending feedback without a token is 401."""
    assert client.post(SUBMIT.format(world.p1), json=body()).status_code == 401


@pytest.mark.both_databases
def test_refused_request_does_not_use_up_the_limit(villager, world):
    """Ten refused requests (bad phone) leave all five sends of the hour."""
    for _ in range(10):
        assert send(villager, world.p1, contact_phone="123").status_code == 400
    for _ in range(5):
        sent(villager, world.p1)
