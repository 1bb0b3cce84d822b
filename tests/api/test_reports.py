"""Monthly reports (月报), their deadlines and reminders, and the secretary's workspace."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from server import clock
from server.db import db
from server.models import Feedback, Photo, Project, ProjectReport, ReportReminder, User
from server.services import reports
from tests.factories import V1, Api, application_body, build_lifecycle, now_iso, uid
from tests.support.images import phone_jpeg
from tests.support.interleave import Meanwhile, before
from tests.support.upload import upload

P = "/api/v1/projects"
CHINA = timezone(timedelta(hours=8))


@pytest.fixture
def app_settings(template_id) -> dict:
    """The reminders' subscribe template."""
    return {"WECHAT_REPORT_TEMPLATE_ID": template_id}


@pytest.fixture
def lc(app, world):
    """Organizations, secretaries and unit reviewers on top of the base world."""
    with app.app_context():
        return build_lifecycle(world)


@pytest.fixture
def sec(client, lc) -> Api:
    """The secretary of org1."""
    return Api(client, lc.tokens["secretary"])


def running_project(client, lc, started: datetime | None = None) -> int:
    """An application of org1 walked to in_progress; `started` backdates its start."""
    as_ = lambda who: Api(client, lc.tokens[who])  # noqa: E731
    pid = as_("secretary").post(f"{P}/applications", application_body(lc)).get_json()["id"]
    for who, action in (
        ("secretary", "submit"),
        ("unit1", "unit_approve"),
        ("admin", "approve"),
        ("secretary", "start"),
    ):
        assert as_(who).post(f"{P}/{pid}/transitions", {"action": action}).status_code == 200
    if started is not None:
        with client.application.app_context():
            db.session.get(Project, pid).started_at = started
            db.session.commit()
    return pid


def this_month() -> str:
    """The current month in China."""
    return clock.month_of(datetime.now(CHINA).date())


def report_photo(api: Api, seed: int = 1) -> int:
    """Ticket, upload and complete a report photo; returns its id."""
    data = phone_jpeg(size=(800, 600), seed=seed, gps=V1, taken=datetime.now(CHINA).replace(tzinfo=None))
    r = api.post(
        f"{P}/reports/photos",
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "content_type": "image/jpeg",
            "size": len(data),
            "lat": V1[0],
            "lng": V1[1],
        },
    )
    assert r.status_code == 201, r.get_json()
    ticket = r.get_json()
    assert upload(api.client, ticket["upload"], data) == 204
    assert api.post(f"/api/v1/photos/{ticket['photo_id']}/complete").get_json()["status"] == "ready"
    return ticket["photo_id"]


# ---- months and deadlines (pure) -------------------------------------------------------------


def test_due_date_is_the_fifth_of_the_next_month(app):
    """The report for December is due on 5 January of the next year."""
    with app.app_context():
        assert reports.due_date("2026-12") == date(2027, 1, 5)
        assert reports.next_month("2026-12") == "2027-01"


def test_overdue_months_and_the_current_month(app, client, lc):
    """Started in September: on 10 November, September and October are overdue, November is current."""
    pid = running_project(client, lc, started=datetime(2026, 9, 3, tzinfo=UTC))
    with app.app_context():
        project = db.session.get(Project, pid)
        state = reports.report_state(db.session, project, date(2026, 11, 10))
        assert state.overdue_months == ["2026-09", "2026-10"]
        assert state.current_month == "2026-11" and state.current_due == date(2026, 12, 5)
        # On 3 November October's report is still within its deadline and is the one to write.
        early = reports.report_state(db.session, project, date(2026, 11, 3))
        assert early.overdue_months == ["2026-09"] and early.current_month == "2026-10"


def test_not_started_project_owes_nothing(app, client, lc):
    """An approved project that has not started owes no report."""
    with app.app_context():
        project = db.session.get(Project, lc.p1)
        project.started_at = None
        assert reports.owed_months(project, date(2026, 11, 10)) == []


# ---- writing reports --------------------------------------------------------------------------


def test_report_with_photos_is_saved_then_submitted(app, client, lc, sec):
    """A draft with a photo, then submit: one report, submitted, with its ready photos attached."""
    pid = running_project(client, lc)
    month = this_month()
    p1, p2 = report_photo(sec, 1), report_photo(sec, 2)
    r = sec.put(f"{P}/{pid}/reports/{month}", {"text": "合作社完成注册", "photo_ids": [p1]})
    assert r.status_code == 201 and r.get_json()["status"] == "draft"
    r = sec.put(
        f"{P}/{pid}/reports/{month}", {"text": "合作社完成注册,召开社员大会", "photo_ids": [p1, p2], "submit": True}
    )
    assert r.status_code == 200 and r.get_json()["status"] == "submitted"
    assert [p["id"] for p in r.get_json()["photos"]] == [p1, p2]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ProjectReport)) == 1
        owners = {(p.owner_kind, p.owner_id) for p in db.session.scalars(select(Photo).where(Photo.id.in_([p1, p2])))}
        assert owners == {("project_report", r.get_json()["id"])}


def test_resubmitting_the_same_report_answers_the_same(client, lc, sec):
    """A retried submit with identical content is a 200; a changed one is a 409."""
    pid = running_project(client, lc)
    month = this_month()
    body = {"text": "本月完成厂房选址", "submit": True}
    assert sec.put(f"{P}/{pid}/reports/{month}", body).status_code == 201
    assert sec.put(f"{P}/{pid}/reports/{month}", body).status_code == 200
    r = sec.put(f"{P}/{pid}/reports/{month}", {**body, "text": "改了"})
    assert r.status_code == 409


def test_report_for_a_month_not_owed_is_refused(client, lc, sec):
    """Next month, or a month before the start, is a 400 naming the field."""
    pid = running_project(client, lc)
    r = sec.put(f"{P}/{pid}/reports/2020-01", {"text": "x"})
    assert r.status_code == 400 and r.get_json()["error"]["details"]["field"] == "month"
    assert sec.put(f"{P}/{pid}/reports/2026-13", {"text": "x"}).status_code == 400


def test_submit_needs_text(client, lc, sec):
    """An empty report cannot be handed in."""
    pid = running_project(client, lc)
    r = sec.put(f"{P}/{pid}/reports/{this_month()}", {"text": "  ", "submit": True})
    assert r.status_code == 400


def test_only_the_projects_secretary_writes_reports(client, lc):
    """Another secretary gets 404; a unit reviewer may read but not write."""
    pid = running_project(client, lc)
    month = this_month()
    assert Api(client, lc.tokens["sec2"]).put(f"{P}/{pid}/reports/{month}", {"text": "x"}).status_code == 404
    assert Api(client, lc.tokens["unit1"]).put(f"{P}/{pid}/reports/{month}", {"text": "x"}).status_code == 403
    assert Api(client, lc.tokens["unit1"]).get(f"{P}/{pid}/reports").status_code == 200


def test_someone_elses_photo_cannot_be_attached(client, lc, sec):
    """A photo uploaded by another user is refused and the report is not written."""
    pid = running_project(client, lc)
    other = report_photo(Api(client, lc.tokens["sec2"]), 3)
    r = sec.put(f"{P}/{pid}/reports/{this_month()}", {"text": "x", "photo_ids": [other]})
    assert r.status_code == 400 and r.get_json()["error"]["details"]["photo_ids"] == [other]
    assert sec.get(f"{P}/{pid}/reports").get_json()["items"] == []


# ---- reminders ----------------------------------------------------------------------------------


def _openid(app, user_id: int) -> str:
    with app.app_context():
        user = db.session.get(User, user_id)
        user.openid = f"openid-sec-{uuid.uuid4().hex[:8]}"
        db.session.commit()
        return user.openid


def test_reminder_sent_once_per_consent_and_month(app, client, lc, sec, fake_wechat, template_id):
    """An overdue report sends one reminder paid by one consent; a second run sends nothing more."""
    pid = running_project(client, lc, started=datetime.now(UTC) - timedelta(days=70))
    openid = _openid(app, lc.ids["secretary"])
    fake_wechat.consent(openid, template_id)
    assert (
        sec.post("/api/v1/me/subscriptions", {"template": "report_reminder", "accepted": 1}).get_json()["credits"] == 1
    )
    with app.app_context():
        assert reports.send_reminders(db.session).get("sent") == 1
        assert reports.send_reminders(db.session) == {}
        rows = db.session.scalars(select(ReportReminder).where(ReportReminder.project_id == pid)).all()
        assert [(r.kind, r.outcome) for r in rows] == [("overdue", "sent")]
    [message] = [m for m in fake_wechat.sent_messages if m["template_id"] == template_id]
    assert message["touser"] == openid and "逾期" in message["data"]["thing3"]["value"]


def test_no_consent_no_message(app, client, lc, fake_wechat, template_id):
    """Without a recorded consent nothing is sent and the attempt is recorded as no_consent."""
    running_project(client, lc, started=datetime.now(UTC) - timedelta(days=70))
    _openid(app, lc.ids["secretary"])
    calls = len(fake_wechat.calls("/cgi-bin/message/subscribe/send"))
    with app.app_context():
        assert reports.send_reminders(db.session) == {"no_consent": 1}
    assert len(fake_wechat.calls("/cgi-bin/message/subscribe/send")) == calls


def test_submitted_report_is_not_reminded(app, client, lc, sec):
    """A project whose reports are all in gets no reminder."""
    pid = running_project(client, lc)
    assert sec.put(f"{P}/{pid}/reports/{this_month()}", {"text": "已完成", "submit": True}).status_code == 201
    with app.app_context():
        assert reports.send_reminders(db.session, reports.due_date(this_month()) - timedelta(days=1)) == {}


# ---- the workspace ------------------------------------------------------------------------------


def test_workspace_summarizes_my_projects(client, lc, sec):
    """My projects show this month's report, open orders and the moves I may make."""
    pid = running_project(client, lc)
    draft = sec.post(f"{P}/applications", application_body(lc, title="第二个申报")).get_json()["id"]
    items = {p["id"]: p for p in sec.get(f"{P}/mine").get_json()["items"]}
    assert set(items) == {pid, draft}
    assert items[pid]["report"]["month"] == this_month() and items[pid]["report"]["status"] is None
    assert items[pid]["rectifications"]["open"] == 0
    assert items[draft]["actions"] == ["submit"] and items[draft]["editable"] is True


def test_feedback_about_my_projects_hides_anonymous_authors_and_every_phone(app, client, lc, sec):
    """The secretary reads feedback on own projects: anonymous authors hidden, no digit of any phone."""
    pid = running_project(client, lc)
    villager = Api(client, lc.tokens["villager"])
    for anonymous in (True, False):
        r = villager.post(
            f"/api/v1/public/projects/{pid}/feedback",
            {
                "client_id": uid(),
                "sent_at": now_iso(),
                "rating": "不满意",
                "category": "问题反映",
                "text": "加工厂噪音大",
                "anonymous": anonymous,
                "contact_phone": "13812345678",
            },
        )
        assert r.status_code == 201, r.get_json()
    items = sec.get(f"{P}/feedback").get_json()["items"]
    by_anon = {f["anonymous"]: f for f in items}
    assert by_anon[True]["anonymous"] is True and by_anon[False]["anonymous"] is False
    assert "contact_phone" not in by_anon[False]
    # Server times carry microseconds ("…20.787138"): the phone is looked for in every other value.
    shown = str([{k: v for k, v in f.items() if not k.endswith("_at")} for f in items])
    assert "138" not in shown and "5678" not in shown
    assert Api(client, lc.tokens["sec2"]).get(f"{P}/feedback").get_json()["items"] == []
    assert Api(client, lc.tokens["sec2"]).get(f"{P}/feedback?project_id={pid}").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Feedback)) == 2


def test_photo_removed_from_a_draft_is_not_submitted(app, client, lc, sec):
    """Taking a photo off the draft hands it back; the submitted report has only the kept ones and a retry is 200."""
    pid = running_project(client, lc)
    month = this_month()
    p1, p2 = report_photo(sec, 1), report_photo(sec, 2)
    assert sec.put(f"{P}/{pid}/reports/{month}", {"text": "进展", "photo_ids": [p1, p2]}).status_code == 201
    body = {"text": "进展", "photo_ids": [p1], "submit": True}
    r = sec.put(f"{P}/{pid}/reports/{month}", body)
    assert r.status_code == 200 and [p["id"] for p in r.get_json()["photos"]] == [p1]
    assert sec.put(f"{P}/{pid}/reports/{month}", body).status_code == 200
    with app.app_context():
        assert db.session.get(Photo, p2).owner_kind == "report_draft"


def test_unsent_reminder_is_tried_again_after_consent(app, client, lc, sec, fake_wechat, template_id):
    """No consent on the first run records no_consent; after the secretary consents the next run sends it."""
    running_project(client, lc, started=datetime.now(UTC) - timedelta(days=70))
    openid = _openid(app, lc.ids["secretary"])
    with app.app_context():
        assert reports.send_reminders(db.session) == {"no_consent": 1}
    fake_wechat.consent(openid, template_id)
    sec.post("/api/v1/me/subscriptions", {"template": "report_reminder", "accepted": 1})
    with app.app_context():
        assert reports.send_reminders(db.session) == {"sent": 1}
        assert reports.send_reminders(db.session) == {}


def test_reassigned_secretary_no_longer_reports(app, client, lc, sec):
    """After the admin hands the project to another secretary, the applicant cannot write its reports."""
    pid = running_project(client, lc)
    admin = Api(client, lc.tokens["admin"])
    assert admin.patch(f"/api/v1/admin/projects/{pid}", {"secretary_id": lc.ids["sec2"]}).status_code == 200
    assert sec.put(f"{P}/{pid}/reports/{this_month()}", {"text": "x", "submit": True}).status_code == 403
    assert Api(client, lc.tokens["sec2"]).put(f"{P}/{pid}/reports/{this_month()}", {"text": "x"}).status_code == 201


def test_a_photo_taken_into_a_draft_while_it_completes_is_judged_at_the_projects_place(
    app, client, lc, sec, monkeypatch
):
    """The phone saves the draft with a photo whose complete is still running: the photo gets the project's place flags.

    The complete read the photo's owner (the secretary's drafts, with no place) before fetching
    the upload; saving the draft gave the photo its report, and judged its flags at the project's
    village, while the photo was still pending. The complete then judged them again with the
    owner it had read, and a photo taken 3 km away lost capture_far and exif_gps_far.
    """
    from server.services import photos as photo_service

    pid = running_project(client, lc)
    far = (V1[0] + 3000 / 111_320, V1[1])
    data = phone_jpeg(size=(800, 600), seed=5, gps=far, taken=datetime.now(CHINA).replace(tzinfo=None))
    body = {"client_id": uid(), "sent_at": now_iso(), "content_type": "image/jpeg", "size": len(data)}
    ticket = sec.post(f"{P}/reports/photos", {**body, "lat": far[0], "lng": far[1]}).get_json()
    assert upload(sec.client, ticket["upload"], data) == 204
    # The draft is saved (another request) between the complete's read and its fetch.
    draft = {"text": "合作社完成注册", "photo_ids": [ticket["photo_id"]]}
    saved = Meanwhile(
        lambda: Api(app.test_client(), lc.tokens["secretary"]).put(f"{P}/{pid}/reports/{this_month()}", draft)
    )
    before(monkeypatch, photo_service, "_fetch", saved)
    done = sec.post(f"/api/v1/photos/{ticket['photo_id']}/complete")
    assert saved.answer and saved.answer.status_code == 201, saved.answer and saved.answer.get_json()
    assert done.status_code == 200 and done.get_json()["status"] == "ready", done.get_json()
    with app.app_context():
        photo = db.session.get(Photo, ticket["photo_id"])
        assert (photo.owner_kind, photo.owner_id) == ("project_report", saved.answer.get_json()["id"])
        assert {"capture_far", "exif_gps_far"} <= set(photo.flags), photo.flags
