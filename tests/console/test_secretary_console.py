"""The secretary's own 月报 and rectification replies from the console: the same services and rules as
the mini-program's API, only their own projects and orders, photos picked from those checked on the phone."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from server.db import db
from server.models import AuditEntry, Photo, ProjectReport, RectificationOrder, User, utcnow
from server.services import rectification
from tests.console.test_lifecycle import post, project_at, text_of
from tests.factories import Api, build_lifecycle, now_iso, uid
from tests.support.images import phone_jpeg
from tests.support.upload import upload

REPORT = "/console/my-projects/{}/reports"


@pytest.fixture
def lc(app, world):
    """The lifecycle world: org1 with secretary "secretary", org2 with "sec2"."""
    with app.app_context():
        return build_lifecycle(world)


@pytest.fixture
def console(app, lc):
    """console(username) → a test client logged in to the console as that user."""
    from tests.console.conftest import login

    return lambda username: login(app.test_client(), username, f"{username}-password")


def this_month() -> str:
    """The China calendar month of today."""
    return (utcnow() + timedelta(hours=8)).strftime("%Y-%m")


def phone_photo(client, token: str, path: str, seed: int) -> int:
    """A photo taken on the phone through the API's ticket flow and checked; its id (a draft of its uploader)."""
    api = Api(client, token)
    data = phone_jpeg(seed=seed)
    r = api.post(path, {"client_id": uid(), "sent_at": now_iso(), "content_type": "image/jpeg", "size": len(data)})
    assert r.status_code == 201, r.get_json()
    ticket = r.get_json()
    assert upload(client, ticket["upload"], data) == 204
    assert api.post(f"/api/v1/photos/{ticket['photo_id']}/complete").status_code == 200
    return ticket["photo_id"]


def order_for(app, lc, pid: int) -> int:
    """A rectification order issued by the admin for project `pid`; its id."""
    with app.app_context():
        admin = db.session.get(User, lc.ids["admin"])
        return rectification.issue(db.session, admin, project_id=pid, items=["公示栏未更新", "台账不全"]).id


# ---- 月报 --------------------------------------------------------------------------------------


def test_secretary_saves_then_submits_a_report_from_the_console(app, client, console, lc):
    """A draft is saved, then handed in with a phone photo; the same report row and audit as the API."""
    pid = project_at(app, lc, "in_progress")
    photo_id = phone_photo(client, lc.tokens["secretary"], "/api/v1/projects/reports/photos", seed=3)
    sec = console("secretary")
    page = text_of(sec.get(REPORT.format(pid)))
    assert f'value="{photo_id}"' in page and this_month() in page
    month = this_month()
    r = post(sec, REPORT.format(pid), month=month, text="完成合作社注册", intent="save")
    assert r.status_code == 302
    r = post(
        sec,
        REPORT.format(pid),
        month=month,
        text="完成合作社注册,召开村民大会",
        photo_ids=str(photo_id),
        intent="submit",
    )
    assert r.status_code == 302
    with app.app_context():
        report = db.session.scalars(select(ProjectReport).where(ProjectReport.project_id == pid)).one()
        assert (report.month, report.status, report.text) == (month, "submitted", "完成合作社注册,召开村民大会")
        assert db.session.get(Photo, photo_id).owner_id == report.id
        actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(pid))).all()
        assert "project.report_save" in actions and "project.report_submit" in actions
    assert "完成合作社注册,召开村民大会" in text_of(sec.get(REPORT.format(pid) + f"?month={month}"))


def test_submitting_an_empty_report_is_refused_with_the_api_message(app, console, lc):
    """Handing in without text: 400 with the service's own message, nothing stored."""
    pid = project_at(app, lc, "in_progress")
    r = post(console("secretary"), REPORT.format(pid), month=this_month(), text="  ", intent="submit")
    assert r.status_code == 400 and "请填写本月工作进展" in text_of(r)
    with app.app_context():
        assert db.session.scalars(select(ProjectReport).where(ProjectReport.project_id == pid)).first() is None


def test_submitted_report_is_final_in_the_console_too(app, console, lc):
    """Changing a handed-in report answers 409 as the API does."""
    pid = project_at(app, lc, "in_progress")
    sec = console("secretary")
    assert post(sec, REPORT.format(pid), month=this_month(), text="第一版", intent="submit").status_code == 302
    r = post(sec, REPORT.format(pid), month=this_month(), text="改过的", intent="submit")
    assert r.status_code == 409 and "已提交" in text_of(r)


def test_report_of_another_secretarys_project_is_refused(app, console, lc):
    """sec2 can neither open nor write org1's report: the project is out of their scope (404)."""
    pid = project_at(app, lc, "in_progress")
    sec2 = console("sec2")
    assert sec2.get(REPORT.format(pid)).status_code == 404
    assert post(sec2, REPORT.format(pid), month=this_month(), text="冒名", intent="submit").status_code == 404
    with app.app_context():
        assert db.session.scalars(select(ProjectReport).where(ProjectReport.project_id == pid)).first() is None


def test_staff_cannot_use_the_secretary_pages(app, console, lc):
    """The admin is not a secretary: the pages answer 403."""
    pid = project_at(app, lc, "in_progress")
    admin = console("admin")
    assert admin.get(REPORT.format(pid)).status_code == 403
    assert admin.get("/console/my-rectifications").status_code == 403


def test_another_secretarys_draft_photo_cannot_be_attached(app, client, console, lc):
    """A photo id of someone else's draft is refused by the service's own check."""
    pid = project_at(app, lc, "in_progress")
    other = phone_photo(client, lc.tokens["sec2"], "/api/v1/projects/reports/photos", seed=5)
    r = post(
        console("secretary"), REPORT.format(pid), month=this_month(), text="进展", photo_ids=str(other), intent="save"
    )
    assert r.status_code == 400 and "不属于您" in text_of(r)


# ---- rectification replies ----------------------------------------------------------------------


def test_secretary_answers_a_rectification_order_with_a_photo(app, client, console, lc):
    """The order is listed, answered with text and a phone photo; it becomes 已反馈 with the audit entry."""
    pid = project_at(app, lc, "in_progress")
    order_id = order_for(app, lc, pid)
    photo_id = phone_photo(client, lc.tokens["secretary"], "/api/v1/rectifications/photos", seed=9)
    sec = console("secretary")
    assert f'data-order-id="{order_id}"' in text_of(sec.get("/console/my-rectifications"))
    page = text_of(sec.get(f"/console/my-rectifications/{order_id}"))
    assert "公示栏未更新" in page and f'value="{photo_id}"' in page
    client_id = re.search(r'name="client_id" value="([^"]+)"', page).group(1)
    form = {"client_id": client_id, "text": "已更新公示栏并补齐台账", "photo_ids": str(photo_id)}
    assert post(sec, f"/console/my-rectifications/{order_id}", **form).status_code == 302
    # The same form sent twice (a double click) answers as the first did.
    assert post(sec, f"/console/my-rectifications/{order_id}", **form).status_code == 302
    with app.app_context():
        order = db.session.get(RectificationOrder, order_id)
        assert (order.status, order.response_text) == ("responded", "已更新公示栏并补齐台账")
        assert db.session.get(Photo, photo_id).owner_id == order_id
        assert db.session.scalars(select(AuditEntry).where(AuditEntry.action == "rectification.respond")).all()
    assert "已更新公示栏并补齐台账" in text_of(sec.get(f"/console/my-rectifications/{order_id}"))


def test_answering_twice_with_a_new_form_is_409(app, console, lc):
    """Once answered, a second reply (new form) is refused by the service: 409."""
    pid = project_at(app, lc, "in_progress")
    order_id = order_for(app, lc, pid)
    sec = console("secretary")
    assert post(sec, f"/console/my-rectifications/{order_id}", client_id=uid(), text="整改完毕").status_code == 302
    r = post(sec, f"/console/my-rectifications/{order_id}", client_id=uid(), text="再说一次")
    assert r.status_code == 409


def test_empty_reply_is_refused(app, console, lc):
    """No text: 400 with the service's message."""
    order_id = order_for(app, lc, project_at(app, lc, "in_progress"))
    r = post(console("secretary"), f"/console/my-rectifications/{order_id}", client_id=uid(), text=" ")
    assert r.status_code == 400 and "请填写整改情况" in text_of(r)


def test_other_secretarys_order_is_not_found(app, console, lc):
    """sec2 neither sees nor answers org1's order (404), and it is not on their list."""
    order_id = order_for(app, lc, project_at(app, lc, "in_progress"))
    sec2 = console("sec2")
    assert f'data-order-id="{order_id}"' not in text_of(sec2.get("/console/my-rectifications"))
    assert sec2.get(f"/console/my-rectifications/{order_id}").status_code == 404
    assert post(sec2, f"/console/my-rectifications/{order_id}", client_id=uid(), text="冒名").status_code == 404
    with app.app_context():
        assert db.session.get(RectificationOrder, order_id).status == "issued"
