"""The console's feedback inbox: held items first, moderation, replies with status, overdue, privacy, scope."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

# Load the API package first: services.photos imports api.validation, whose package imports
# services that need services.photos complete (the app factory loads them in this order too).
import server.api  # noqa: F401, I001
from server.db import db
from server.models import Feedback, FeedbackReply, utcnow
from tests.console.conftest import csrf
from tests.factories import Api, now_iso, uid

PHONE = "13812345678"


@pytest.fixture
def held_marker(fake_wechat):
    """A marker that makes the fake content check answer "review"; the rule goes afterwards."""
    marker = f"待审{uuid.uuid4().hex[:8]}"
    fake_wechat.add_sec_check_rule(marker, "review")
    yield marker
    fake_wechat.sec_check_rules.pop(marker, None)


def send(client, world, project_id: int | None = None, **over) -> int:
    """The world's villager leaves feedback on a project (p1 by default); returns its id."""
    body = {
        "client_id": uid(),
        "sent_at": now_iso(),
        "rating": "不满意",
        "category": "问题反映",
        "text": "蜜柚基地的灌溉水渠还没有修好。",
        "anonymous": False,
        **over,
    }
    r = Api(client, world.tokens["villager"]).post(f"/api/v1/public/projects/{project_id or world.p1}/feedback", body)
    assert r.status_code == 201, r.get_json()
    return r.get_json()["id"]


def post(client, path: str, **data):
    """POST a console form with the session's CSRF token."""
    return client.post(path, data={"csrf_token": csrf(client), **data})


def stored(app, feedback_id: int) -> Feedback:
    """The feedback row, detached."""
    with app.app_context():
        fb = db.session.get(Feedback, feedback_id)
        db.session.expunge(fb)
        return fb


def test_held_items_are_listed_first(client, world, console, held_marker):
    """Feedback held by the content check is in the 待审核 section above the inbox."""
    normal = send(client, world)
    held = send(client, world, text=f"村干部{held_marker}")
    page = console("admin").get("/console/feedback").get_data(as_text=True)
    held_section = page[page.index('id="held"') : page.index('id="inbox"')]
    assert f'/console/feedback/{held}"' in held_section and f'/console/feedback/{normal}"' not in held_section
    assert page.index(f'/console/feedback/{held}"') < page.index(f'/console/feedback/{normal}"')


@pytest.fixture
def risky_marker(fake_wechat):
    """A marker that makes the fake content check answer "risky" (违法犯罪); the rule goes afterwards."""
    marker = f"风险{uuid.uuid4().hex[:8]}"
    fake_wechat.add_sec_check_rule(marker, "risky", 20006)
    yield marker
    fake_wechat.sec_check_rules.pop(marker, None)


def test_risky_feedback_is_held_for_county_staff_with_its_reason(client, world, console, risky_marker):
    """Risky text waits in the admin's 待审核 section with the reason; the township reviewer never sees it."""
    fid = send(client, world, text=f"村里有人聚众赌博{risky_marker}")
    page = console("admin").get("/console/feedback").get_data(as_text=True)
    held_section = page[page.index('id="held"') : page.index('id="inbox"')]
    assert f'/console/feedback/{fid}"' in held_section and "风险内容(违法犯罪)" in held_section
    detail = console("leader").get(f"/console/feedback/{fid}").get_data(as_text=True)
    assert 'id="held-reason"' in detail and "仅县级工作人员可见" in detail
    reviewer = console("reviewer1")
    assert f'/console/feedback/{fid}"' not in reviewer.get("/console/feedback").get_data(as_text=True)
    assert reviewer.get(f"/console/feedback/{fid}").status_code == 404
    assert post(reviewer, f"/console/feedback/{fid}/moderation", decision="release").status_code == 404


def test_release_puts_held_feedback_in_the_inbox(app, client, world, console, held_marker):
    """审核通过 turns a held item into 待受理."""
    held = send(client, world, text=f"反映问题{held_marker}")
    r = post(console("reviewer1"), f"/console/feedback/{held}/moderation", decision="release")
    assert r.status_code == 302 and stored(app, held).status == "received"


def test_declining_held_feedback_needs_a_reason(app, client, world, console, held_marker):
    """不予受理 without a reason is refused on the page; with one the item is declined."""
    held = send(client, world, text=f"反映问题{held_marker}")
    c = console("admin")
    r = post(c, f"/console/feedback/{held}/moderation", decision="decline", reason="")
    assert r.status_code == 400 and "不予受理须说明理由" in r.get_data(as_text=True)
    assert stored(app, held).status == "held"
    assert post(c, f"/console/feedback/{held}/moderation", decision="decline", reason="与项目无关").status_code == 302
    assert stored(app, held).status == "declined"


def test_held_feedback_cannot_be_replied_to(app, client, world, console, held_marker):
    """A held item offers moderation only: a reply is 409."""
    held = send(client, world, text=f"反映问题{held_marker}")
    r = post(console("admin"), f"/console/feedback/{held}/reply", text="收到", status="accepted")
    assert r.status_code == 409 and stored(app, held).status == "held"


def test_reply_sets_the_status(app, client, world, console):
    """A reply stores the text and moves the item to the chosen status."""
    fid = send(client, world)
    c = console("reviewer1")
    assert post(c, f"/console/feedback/{fid}/reply", text="已转交村委会。", status="processing").status_code == 302
    assert stored(app, fid).status == "processing"
    page = c.get(f"/console/feedback/{fid}").get_data(as_text=True)
    assert "已转交村委会。" in page and "处理中" in page


def test_reply_form_offers_the_four_statuses(client, world, console):
    """The status select holds 已受理/处理中/已办结/不予受理 in that order."""
    fid = send(client, world)
    page = console("admin").get(f"/console/feedback/{fid}").get_data(as_text=True)
    select = page[page.index('<select name="status"') :]
    select = select[: select.index("</select>")]
    assert re.findall(r">([^<]+)</option>", select) == ["已受理", "处理中", "已办结", "不予受理"]


def test_declining_by_reply_needs_a_reason(app, client, world, console):
    """不予受理 without a reason is refused (400) and nothing is stored."""
    fid = send(client, world)
    r = post(console("admin"), f"/console/feedback/{fid}/reply", text="不予受理", status="declined", reason=" ")
    assert r.status_code == 400 and "不予受理须说明理由" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(FeedbackReply).count() == 0


def test_overdue_feedback_is_highlighted_and_counted(app, client, world, console):
    """An unanswered item past its reply deadline is in an "overdue" row and the overdue count."""
    late, fresh = send(client, world), send(client, world)
    with app.app_context():
        db.session.get(Feedback, late).due_at = utcnow() - timedelta(hours=1)
        db.session.commit()
    c = console("admin")
    page = c.get("/console/feedback").get_data(as_text=True)
    rows = re.findall(r'<tr class="([^"]*)">\s*<td><a href="/console/feedback/(\d+)"', page)
    assert {int(i): cls for cls, i in rows} == {late: "overdue", fresh: ""}
    assert re.search(r'id="overdue-count">1<', page)
    only_late = c.get("/console/feedback?overdue=1").get_data(as_text=True)
    assert f'/console/feedback/{late}"' in only_late and f'/console/feedback/{fresh}"' not in only_late


def test_status_filter(app, client, world, console):
    """?status=resolved lists only resolved items."""
    done, open_ = send(client, world), send(client, world)
    c = console("admin")
    post(c, f"/console/feedback/{done}/reply", text="已修好。", status="resolved")
    page = c.get("/console/feedback?status=resolved").get_data(as_text=True)
    assert f'/console/feedback/{done}"' in page and f'/console/feedback/{open_}"' not in page


def test_phone_in_full_for_county_staff_masked_for_reviewers(client, world, console):
    """Admins read the contact phone in full; a township reviewer reads it masked."""
    fid = send(client, world, contact_phone=PHONE)
    assert PHONE in console("admin").get(f"/console/feedback/{fid}").get_data(as_text=True)
    page = console("reviewer1").get(f"/console/feedback/{fid}").get_data(as_text=True)
    assert PHONE not in page and "138****5678" in page


def test_anonymous_author_hidden_from_township_staff(client, world, console):
    """An anonymous author and phone are shown to county staff only."""
    fid = send(client, world, anonymous=True, contact_phone=PHONE)
    author = f"用户编号 {world.ids['villager']}"
    assert author in console("leader").get(f"/console/feedback/{fid}").get_data(as_text=True)
    page = console("reviewer1").get(f"/console/feedback/{fid}").get_data(as_text=True)
    assert author not in page and "138****5678" not in page and "匿名" in page


def test_reviewer_of_another_township_gets_404(client, world, console):
    """reviewer2 neither lists nor opens nor answers p1's feedback."""
    fid = send(client, world)
    c = console("reviewer2")
    assert f'/console/feedback/{fid}"' not in c.get("/console/feedback").get_data(as_text=True)
    assert c.get(f"/console/feedback/{fid}").status_code == 404
    assert post(c, f"/console/feedback/{fid}/reply", text="x", status="accepted").status_code == 404


def test_leader_reads_but_cannot_answer(app, client, world, console):
    """A leader opens the inbox and an item, sees no forms, and a POST is 403."""
    fid = send(client, world)
    c = console("leader")
    page = c.get(f"/console/feedback/{fid}")
    assert page.status_code == 200 and "提交答复" not in page.get_data(as_text=True)
    assert post(c, f"/console/feedback/{fid}/reply", text="x", status="accepted").status_code == 403
    assert stored(app, fid).status == "received"


def test_reply_without_csrf_token_is_400(app, client, world, console):
    """A reply posted without the session's token changes nothing."""
    fid = send(client, world)
    r = console("admin").post(f"/console/feedback/{fid}/reply", data={"text": "x", "status": "accepted"})
    assert r.status_code == 400 and stored(app, fid).status == "received"


def test_public_reply_checkbox_puts_the_answer_on_the_public_page(app, client, world, console):
    """Ticking 公开答复: the answer is stored public and shown on /p/<id>; unticked it stays private."""
    c = console("admin")
    assert 'name="public" value="1"' in c.get(f"/console/feedback/{send(client, world)}").get_data(as_text=True)
    shown, hidden = send(client, world), send(client, world)
    assert (
        post(c, f"/console/feedback/{shown}/reply", text="路灯已修复。", status="resolved", public="1").status_code
        == 302
    )
    assert post(c, f"/console/feedback/{hidden}/reply", text="已联系您本人。", status="processing").status_code == 302
    with app.app_context():
        replies = {r.feedback_id: r.public for r in db.session.scalars(select(FeedbackReply))}
    assert replies[shown] is True and replies[hidden] is False
    page = client.get(f"/p/{world.p1}").get_data(as_text=True)
    assert "路灯已修复。" in page and "已联系您本人。" not in page
