"""The console's project lifecycle pages: the 申报审核 queue, the lifecycle page and its moves, observations,
acceptance, monthly reports, and the secretary's own projects and application form — with their scopes."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from server.db import db
from server.models import (
    ClientWrite,
    Project,
    ProjectAcceptance,
    ProjectObservation,
    ProjectReview,
    User,
    utcnow,
)
from server.services import lifecycle
from tests.console.conftest import csrf, login
from tests.factories import Api, application_body, build_lifecycle, now_iso, uid
from tests.support.images import phone_jpeg
from tests.support.upload import upload

LC = "/console/projects/{}/lifecycle"
MOVE = "/console/projects/{}/lifecycle/move"
# The moves that bring a fresh application to each status, and who makes them.
PATH = {
    "draft": [],
    "submitted": [("secretary", "submit")],
    "unit_reviewed": [("secretary", "submit"), ("unit1", "unit_approve")],
    "approved": [("secretary", "submit"), ("unit1", "unit_approve"), ("admin", "approve")],
    "in_progress": [("secretary", "submit"), ("unit1", "unit_approve"), ("admin", "approve"), ("secretary", "start")],
}


@pytest.fixture
def lc(app, world):
    """The base world plus two party organizations, their secretaries and reporting-unit reviewers."""
    with app.app_context():
        return build_lifecycle(world)


@pytest.fixture
def console(app, lc):
    """console(username) → a test client logged in to the console as that user."""
    return lambda username: login(app.test_client(), username, f"{username}-password")


def project_at(app, lc, status: str, who: str = "secretary", **overrides) -> int:
    """An application of `who` (org1 by default) walked to `status` through the services; returns its id."""
    with app.app_context():
        user = db.session.get(User, lc.ids[who])
        project, _ = lifecycle.create_application(db.session, user, application_body(lc, **overrides))
        for actor, action in PATH[status]:
            actor = who if actor == "secretary" else actor
            lifecycle.transition(
                db.session, db.session.get(User, lc.ids[actor]), project.id, action, {"opinion": "同意"}
            )
        return project.id


def post(client, path: str, **data):
    """POST a console form with the session's CSRF token."""
    return client.post(path, data={"csrf_token": csrf(client), **data})


def text_of(response) -> str:
    """The page's text."""
    return response.get_data(as_text=True)


def reviews(app, pid: int) -> list[tuple[str, str]]:
    """The project's review history as (action, to_status)."""
    with app.app_context():
        return [(r.action, r.to_status) for r in lifecycle.reviews_of(db.session, pid)]


def status_of(app, pid: int) -> str:
    """The project's stored status."""
    with app.app_context():
        return db.session.get(Project, pid).status


def application_form(lc, **overrides) -> dict:
    """The console application form filled in completely (org1, village v1)."""
    form = {
        "title": "村集体经济增收项目",
        "year": "2026",
        "organization_id": str(lc.org1),
        "domain": "农村",
        "selection": "自选",
        "category": "重点性",
        "problem": "村集体经济薄弱",
        "targets": "村集体年收入达到10万元",
        "steps": "成立合作社 | 2026-03-31 | 李书记\n建成加工厂 | 2026-09-30",
        "place_kind": "village",
        "village_ids": str(lc.v1),
        "responsible_0": "张镇长",
        "responsible_1": "李书记",
        "responsible_2": "王干部",
        "responsible_3": "驻村工作队",
        "intent": "save",
    }
    form.update(overrides)
    return form


def new_form_client_id(client) -> str:
    """The client_id the new-application form was rendered with."""
    page = text_of(client.get("/console/my-projects/new"))
    return re.search(r'name="client_id" value="([^"]+)"', page).group(1)


# ---- who reaches which page --------------------------------------------------------------------

# Per role: pages it opens, pages that answer 403.
ROLE_PAGES = {
    "secretary": (
        ["/console/my-projects", "/console/my-projects/new"],
        [
            "/console/applications",
            "/console/reports",
            "/console/projects",
            "/console/visits",
            "/console/users",
            "/console/unit-projects",
        ],
    ),
    "unit1": (
        ["/console/applications", "/console/unit-projects"],
        ["/console/my-projects", "/console/reports", "/console/projects", "/console/visits"],
    ),
    "leader": (
        ["/console/applications", "/console/reports", "/console/projects"],
        ["/console/my-projects", "/console/unit-projects"],
    ),
    "reviewer1": (["/console/reports"], ["/console/applications", "/console/my-projects"]),
    "admin": (["/console/applications", "/console/reports", "/console/projects"], ["/console/my-projects/new"]),
}


def test_pages_by_role(console, lc):
    """Each role opens its own lifecycle pages and gets 403 on the others."""
    for who, (allowed, refused) in ROLE_PAGES.items():
        client = console(who)
        for path in allowed:
            assert client.get(path).status_code == 200, (who, path)
        for path in refused:
            assert client.get(path).status_code == 403, (who, path)


def test_secretary_and_unit_reviewer_land_on_their_pages(console, lc):
    """The console home sends them to their first page and the navigation holds only their entries."""
    for who, landing, entries in (
        ("secretary", "/console/my-projects", ["我的项目", "中期互评", "我的整改通知"]),
        ("unit1", "/console/applications", ["申报审核", "本单位项目"]),
    ):
        client = console(who)
        r = client.get("/console/")
        assert r.status_code == 302 and r.headers["Location"].endswith(landing), who
        nav = re.search(r"<nav>(.*?)</nav>", text_of(client.get(landing)), re.S).group(1)
        assert re.findall(r">([^<>]+)</a>", nav) == entries


def test_lifecycle_page_renders_for_every_reader_in_scope(app, console, lc):
    """Admin, leader, the township reviewer, the unit reviewer and the secretary all read a running project."""
    pid = project_at(app, lc, "in_progress")
    for who in ("admin", "leader", "reviewer1", "unit1", "secretary"):
        r = console(who).get(LC.format(pid))
        assert r.status_code == 200, who
        page = text_of(r)
        assert "村集体年收入达到10万元" in page and "驻村工作队" in page and "成立合作社" in page


def test_readers_out_of_scope_get_404(app, console, lc):
    """unit2 (org2) cannot read, move or list org1's application; a township reviewer cannot read it either."""
    pid = project_at(app, lc, "submitted")
    client = console("unit2")
    assert client.get(LC.format(pid)).status_code == 404
    assert post(client, MOVE.format(pid), action="unit_approve").status_code == 404
    assert f'data-project-id="{pid}"' not in text_of(client.get("/console/applications"))
    assert status_of(app, pid) == "submitted"
    # Applications are the department's and the unit's business until approved.
    assert console("reviewer1").get(LC.format(pid)).status_code == 404


def test_secretary_sees_only_own_projects(app, console, lc):
    """sec2 gets 404 for the other secretary's application and does not list it."""
    pid = project_at(app, lc, "draft")
    own = project_at(app, lc, "draft", who="sec2", organization_id=lc.org2, village_ids=[lc.v2])
    client = console("sec2")
    assert client.get(LC.format(pid)).status_code == 404
    assert client.get(f"/console/my-projects/{pid}").status_code == 404
    listed = re.findall(r'data-project-id="(\d+)"', text_of(client.get("/console/my-projects")))
    assert listed == [str(own)]


# ---- the queue ---------------------------------------------------------------------------------


def test_queue_holds_what_waits_for_the_caller(app, console, lc):
    """unit1 sees org1's submitted application; the admin sees it and the unit-reviewed one; drafts wait for no one."""
    submitted = project_at(app, lc, "submitted")
    reviewed = project_at(app, lc, "unit_reviewed")
    other = project_at(app, lc, "submitted", who="sec2", organization_id=lc.org2, village_ids=[lc.v2])
    project_at(app, lc, "draft")

    def listed(who, query=""):
        return {
            int(i)
            for i in re.findall(r'data-project-id="(\d+)"', text_of(console(who).get(f"/console/applications{query}")))
        }

    assert listed("unit1") == {submitted}
    assert listed("unit2") == {other}
    assert listed("admin") == {submitted, reviewed, other}
    assert listed("leader") == {submitted, reviewed, other}
    assert listed("admin", f"?organization_id={lc.org2}") == {other}
    assert listed("admin", "?status=unit_reviewed") == {reviewed}
    assert listed("unit1", "?status=unit_reviewed") == {reviewed}
    assert listed("admin", "?year=2025") == set()


def test_report_overview_filters_overdue_projects(app, console, lc):
    """A running project started months ago without reports is listed as overdue; the filter keeps only such."""
    late = project_at(app, lc, "in_progress")
    fresh = project_at(app, lc, "in_progress", title="新开工项目")
    with app.app_context():
        db.session.get(Project, late).started_at = utcnow() - timedelta(days=100)
        db.session.commit()
    client = console("admin")
    rows = re.findall(r'<tr class="(overdue)?" data-project-id="(\d+)"', text_of(client.get("/console/reports")))
    assert ("overdue", str(late)) in rows and ("", str(fresh)) in rows
    only = re.findall(r'data-project-id="(\d+)"', text_of(client.get("/console/reports?overdue=1")))
    assert only == [str(late)]


# ---- moves through the console -----------------------------------------------------------------

# (status the project starts at, who moves, move, form fields, status it ends at)
MOVES = [
    ("draft", "secretary", "submit", {}, "submitted"),
    ("submitted", "secretary", "withdraw", {}, "draft"),
    ("submitted", "unit1", "unit_approve", {"opinion": "同意上报"}, "unit_reviewed"),
    ("submitted", "unit1", "return", {"opinion": "目标不够具体"}, "draft"),
    ("unit_reviewed", "admin", "return", {"opinion": "请补充时间节点"}, "draft"),
    ("unit_reviewed", "admin", "approve", {"opinion": "同意立项", "score": "88"}, "approved"),
    ("unit_reviewed", "admin", "reject", {"opinion": "与往年项目重复"}, "rejected"),
    ("approved", "secretary", "start", {}, "in_progress"),
    ("in_progress", "admin", "close", {"opinion": "村班子调整,项目终止"}, "closed"),
]


def test_each_move_through_the_console_form(app, console, lc):
    """Every move's form offered on the page makes it: a review row with opinion and score, the new status."""
    clients = {who: console(who) for who in ("secretary", "unit1", "admin")}
    for start, who, action, extra, target in MOVES:
        pid = project_at(app, lc, start)
        assert f'data-action="{action}"' in text_of(clients[who].get(LC.format(pid))), action
        r = post(clients[who], MOVE.format(pid), action=action, **extra)
        assert r.status_code == 302, (action, text_of(r))
        with app.app_context():
            last = db.session.scalars(
                select(ProjectReview).where(ProjectReview.project_id == pid).order_by(ProjectReview.id.desc())
            ).first()
            assert (last.action, last.to_status, last.opinion, last.score) == (
                action,
                target,
                extra.get("opinion", ""),
                88 if action == "approve" else None,
            )
            assert db.session.get(Project, pid).status == target


def test_page_offers_exactly_the_allowed_moves(app, console, lc):
    """unit1 is offered unit_approve and return on a submitted application; the secretary only withdraw."""
    pid = project_at(app, lc, "submitted")
    offered = lambda who: re.findall(r'data-action="(\w+)"', text_of(console(who).get(LC.format(pid))))  # noqa: E731
    assert offered("unit1") == ["unit_approve", "return"]
    assert offered("secretary") == ["withdraw"]
    assert offered("leader") == []


def test_illegal_move_shows_the_error_with_409(app, console, lc):
    """Approving an application the reporting unit has not reviewed answers 409 with the Chinese reason."""
    pid = project_at(app, lc, "submitted")
    r = post(console("admin"), MOVE.format(pid), action="approve", opinion="同意")
    assert r.status_code == 409
    assert "项目当前为“待归口单位审核”,不能执行“审定立项”" in text_of(r)
    assert status_of(app, pid) == "submitted"


def test_forbidden_move_shows_the_error_with_403(app, console, lc):
    """A reporting unit cannot make the department's decision: 403 with the reason on the page."""
    pid = project_at(app, lc, "unit_reviewed")
    r = post(console("unit1"), MOVE.format(pid), action="approve")
    assert r.status_code == 403 and "您不能对该项目执行“审定立项”" in text_of(r)
    assert status_of(app, pid) == "unit_reviewed"


def test_bad_move_input_is_refused(app, console, lc):
    """A return without a reason and a score above 100 answer 400 with the message; the status stays."""
    submitted, reviewed = project_at(app, lc, "submitted"), project_at(app, lc, "unit_reviewed")
    r = post(console("unit1"), MOVE.format(submitted), action="return", opinion="  ")
    assert r.status_code == 400 and "请填写理由或意见" in text_of(r)
    r = post(console("admin"), MOVE.format(reviewed), action="approve", score="120")
    assert r.status_code == 400 and "预评分应为 0 到 100 的整数" in text_of(r)
    assert (status_of(app, submitted), status_of(app, reviewed)) == ("submitted", "unit_reviewed")


def test_double_click_on_a_move_answers_as_a_retry(app, console, lc):
    """The same page's form sent twice (same client_id) makes one move and redirects both times."""
    pid = project_at(app, lc, "submitted")
    client = console("unit1")
    client_id = re.search(r'name="client_id" value="([^"]+)"', text_of(client.get(LC.format(pid)))).group(1)
    for _ in range(2):
        r = post(client, MOVE.format(pid), action="unit_approve", opinion="同意", client_id=client_id)
        assert r.status_code == 302
    assert reviews(app, pid).count(("unit_approve", "unit_reviewed")) == 1


def test_leader_reads_but_cannot_post(app, console, lc):
    """Leaders see the page without forms; every lifecycle POST is 403 and changes nothing."""
    pid = project_at(app, lc, "in_progress")
    client = console("leader")
    page = text_of(client.get(LC.format(pid)))
    assert "data-action=" not in page and "记录观摩" not in page and "组织验收" not in page
    for path, data in (
        (MOVE.format(pid), {"action": "close", "opinion": "x"}),
        (f"/console/projects/{pid}/observations", {"observed_on": "2026-01-05", "rating": "好"}),
        (f"/console/projects/{pid}/acceptance", {"accepted_on": "2026-01-05", "rating": "合格", "opinion": "x"}),
    ):
        assert post(client, path, **data).status_code == 403, path
    assert status_of(app, pid) == "in_progress"


def test_csrf_token_is_required(app, console, lc):
    """A move posted without the session's CSRF token answers 400 and moves nothing."""
    pid = project_at(app, lc, "submitted")
    r = console("unit1").post(MOVE.format(pid), data={"action": "unit_approve"})
    assert r.status_code == 400
    assert status_of(app, pid) == "submitted"


# ---- observations and acceptance --------------------------------------------------------------


def test_observation_by_reviewer_in_scope(app, console, lc):
    """reviewer1 records an observation of a running 永阳镇 project; reviewer2 gets 404."""
    pid = project_at(app, lc, "in_progress")
    today = (utcnow() + timedelta(hours=8)).date()
    form = {"observed_on": today.isoformat(), "rating": "较好", "observers": "组织部 张三", "notes": "合作社已运营"}
    assert post(console("reviewer2"), f"/console/projects/{pid}/observations", **form).status_code == 404
    r = post(console("reviewer1"), f"/console/projects/{pid}/observations", **form)
    assert r.status_code == 302
    with app.app_context():
        obs = db.session.scalars(select(ProjectObservation).where(ProjectObservation.project_id == pid)).one()
        assert (obs.rating, obs.notes) == ("较好", "合作社已运营")
    assert "合作社已运营" in text_of(console("admin").get(LC.format(pid)))


def test_observation_of_an_application_is_409(app, console, lc):
    """An application not yet approved cannot be observed: 409 with the reason."""
    pid = project_at(app, lc, "unit_reviewed")
    r = post(console("admin"), f"/console/projects/{pid}/observations", observed_on="2026-01-05", rating="好")
    assert r.status_code == 409 and "不能记录观摩" in text_of(r)


def test_acceptance_from_the_page(app, console, lc):
    """A passing acceptance moves the project to accepted; 不合格 keeps it running; both are recorded."""
    client = console("admin")
    for rating, status in (("良好", "accepted"), ("不合格", "in_progress")):
        pid = project_at(app, lc, "in_progress")
        r = post(
            client,
            f"/console/projects/{pid}/acceptance",
            accepted_on="2026-12-20",
            rating=rating,
            members="组织部、乡镇党委",
            opinion="按计划完成",
            outcomes="村集体增收12万元",
        )
        assert r.status_code == 302
        assert status_of(app, pid) == status
        with app.app_context():
            record = db.session.scalars(select(ProjectAcceptance).where(ProjectAcceptance.project_id == pid)).one()
            assert (record.rating, record.passed) == (rating, status == "accepted")


def test_acceptance_needs_an_opinion(app, console, lc):
    """Acceptance without an opinion is refused with 400 and the form keeps what was typed."""
    pid = project_at(app, lc, "in_progress")
    r = post(
        console("admin"),
        f"/console/projects/{pid}/acceptance",
        accepted_on="2026-12-20",
        rating="合格",
        members="验收组甲",
        opinion="",
    )
    assert r.status_code == 400 and "请填写验收意见" in text_of(r) and 'value="验收组甲"' in text_of(r)
    assert status_of(app, pid) == "in_progress"


# ---- monthly reports ---------------------------------------------------------------------------


def test_lifecycle_page_shows_reports_with_thumbnails(app, client, console, lc):
    """A submitted monthly report appears with its text and its photo's thumbnail."""
    pid = project_at(app, lc, "in_progress")
    secretary = Api(client, lc.tokens["secretary"])
    data = phone_jpeg(seed=7)
    r = secretary.post(
        "/api/v1/projects/reports/photos",
        {"client_id": uid(), "sent_at": now_iso(), "content_type": "image/jpeg", "size": len(data)},
    )
    assert r.status_code == 201, r.get_json()
    ticket = r.get_json()
    assert upload(client, ticket["upload"], data) == 204
    assert secretary.post(f"/api/v1/photos/{ticket['photo_id']}/complete").status_code == 200
    month = (utcnow() + timedelta(hours=8)).strftime("%Y-%m")
    r = secretary.put(
        f"/api/v1/projects/{pid}/reports/{month}",
        {"text": "合作社完成注册", "photo_ids": [ticket["photo_id"]], "submit": True},
    )
    assert r.status_code == 201, r.get_json()
    page = text_of(console("unit1").get(LC.format(pid)))
    assert "合作社完成注册" in page and f'alt="月报照片 {ticket["photo_id"]}"' in page


# ---- the secretary's application form ---------------------------------------------------------


def test_secretary_saves_a_draft_once_per_form(app, console, lc):
    """The new-application form sent twice creates one draft; the applicant and secretary are the sender."""
    client = console("secretary")
    client_id = new_form_client_id(client)
    for _ in range(2):
        r = post(client, "/console/my-projects/new", client_id=client_id, **application_form(lc))
        assert r.status_code == 302
    with app.app_context():
        drafts = db.session.scalars(select(Project).where(Project.applicant_id == lc.ids["secretary"])).all()
        assert [(p.status, p.secretary_id, p.category) for p in drafts] == [("draft", lc.ids["secretary"], "重点性")]


def test_same_form_sent_again_with_changes_edits_the_draft(app, console, lc):
    """Going back and sending the form again with a new title edits the draft it made instead of failing."""
    client = console("secretary")
    client_id = new_form_client_id(client)
    post(client, "/console/my-projects/new", client_id=client_id, **application_form(lc))
    r = post(client, "/console/my-projects/new", client_id=client_id, **application_form(lc, title="改名后的项目"))
    assert r.status_code == 302
    with app.app_context():
        titles = db.session.scalars(select(Project.title).where(Project.applicant_id == lc.ids["secretary"])).all()
        assert titles == ["改名后的项目"]
        assert (
            db.session.scalar(select(func.count()).select_from(ClientWrite).where(ClientWrite.client_id == client_id))
            == 1
        )


def test_secretary_applies_and_submits_from_the_console(app, console, lc):
    """Save and submit in one go: the application waits for the reporting unit with all its fields."""
    client = console("secretary")
    r = post(
        client,
        "/console/my-projects/new",
        client_id=new_form_client_id(client),
        **application_form(lc, intent="submit"),
    )
    assert r.status_code == 302 and "/lifecycle" in r.headers["Location"]
    with app.app_context():
        project = db.session.scalars(select(Project).where(Project.applicant_id == lc.ids["secretary"])).one()
        assert project.status == "submitted"
        assert project.steps[0] == {"name": "成立合作社", "deadline": "2026-03-31", "responsible": "李书记"}
        assert project.responsible["联系组工干部"] == "王干部" and [v.id for v in project.villages] == [lc.v1]


def test_incomplete_application_is_saved_but_not_submitted(app, console, lc):
    """Submitting a form without targets and steps keeps the draft and answers 422 listing what is missing."""
    client = console("secretary")
    r = post(
        client,
        "/console/my-projects/new",
        client_id=new_form_client_id(client),
        **application_form(lc, intent="submit", targets="", steps=""),
    )
    assert r.status_code == 422
    assert "请至少填写一项目标" in text_of(r) and "草稿已保存" in text_of(r)
    with app.app_context():
        assert db.session.scalars(select(Project.status).where(Project.applicant_id == lc.ids["secretary"])).all() == [
            "draft"
        ]


def test_secretary_edits_and_submits_a_returned_draft(app, console, lc):
    """A draft opens in the form with its fields; saving and submitting sends it on and closes the form."""
    pid = project_at(app, lc, "draft")
    client = console("secretary")
    page = text_of(client.get(f"/console/my-projects/{pid}"))
    assert "成立合作社 | 2026-03-31" in page and 'value="驻村工作队"' in page
    r = post(client, f"/console/my-projects/{pid}", **application_form(lc, title="修改后的标题", intent="submit"))
    assert r.status_code == 302
    assert status_of(app, pid) == "submitted"
    assert "修改后的标题" in text_of(client.get(LC.format(pid)))
    # Once submitted the form is closed: it leads back to the lifecycle page.
    r = client.get(f"/console/my-projects/{pid}")
    assert r.status_code == 302 and r.headers["Location"].endswith(LC.format(pid))


def test_secretary_cannot_apply_for_another_organization(app, console, lc):
    """Choosing another party organization is refused with the service's message and nothing is saved."""
    client = console("secretary")
    r = post(
        client,
        "/console/my-projects/new",
        client_id=new_form_client_id(client),
        **application_form(lc, organization_id=str(lc.org2)),
    )
    assert r.status_code == 400 and "只能以本人所在党组织的名义申报" in text_of(r)
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count()).select_from(Project).where(Project.applicant_id == lc.ids["secretary"])
            )
            == 0
        )


# ---- accounts of reporting units ---------------------------------------------------------------


def test_admin_creates_a_unit_reviewer_with_organizations(app, console, lc):
    """The users page creates a 归口单位审核员 scoped to a party organization, who then sees its queue."""
    r = post(
        console("admin"),
        "/console/users",
        name="归口单位甲",
        username="unit_new",
        password="unit_new-password",
        roles="unit_reviewer",
        organization_ids=str(lc.org2),
    )
    # A unit reviewer signs in on a PC: no mini-program invite is issued (issue 14, item 4).
    assert r.status_code == 302
    with app.app_context():
        created = db.session.scalar(select(User).where(User.username == "unit_new"))
        assert created.invite_code_hash is None
    other = project_at(app, lc, "submitted", who="sec2", organization_id=lc.org2, village_ids=[lc.v2])
    page = text_of(console("unit_new").get("/console/applications"))
    assert re.findall(r'data-project-id="(\d+)"', page) == [str(other)]


def test_admin_edits_a_secretarys_organizations(app, console, lc):
    """Editing an account sets its party organizations (and shows the current ones ticked)."""
    client = console("admin")
    uid_ = lc.ids["sec2"]
    assert f'name="organization_ids" value="{lc.org2}" checked' in text_of(client.get(f"/console/users/{uid_}"))
    r = post(
        client,
        f"/console/users/{uid_}",
        name="sec2",
        username="sec2",
        roles="secretary",
        organization_ids=[str(lc.org1), str(lc.org2)],
    )
    assert r.status_code == 302
    with app.app_context():
        assert sorted(o.id for o in db.session.get(User, uid_).organizations) == sorted([lc.org1, lc.org2])
