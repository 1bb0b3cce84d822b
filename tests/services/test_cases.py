"""案例集: the DOCX of selected projects — chapter text, figures, the photos chosen, scope and status rules."""

from __future__ import annotations

import hashlib
import io
from datetime import date, datetime, timedelta
from types import SimpleNamespace

import pytest
from docx import Document
from docx.oxml.ns import qn
from sqlalchemy import select

# The API package first, as create_app loads it: services.photos and the API import each other.
import server.api  # noqa: F401
from server import clock
from server.clock import CHINA
from server.db import db
from server.errors import ApiError
from server.models import AuditEntry, Photo, Project, User, Visit
from server.services import (
    assignments,
    audit,
    cases,
    feedback,
    lifecycle,
    rectification,
    reports,
    review,
)
from tests.factories import (
    V1,
    Api,
    application_body,
    build_lifecycle,
    checkin_body,
    now_iso,
    start_visit,
    uid,
)
from tests.support.images import phone_jpeg
from tests.support.upload import upload

TITLE = "村集体经济增收项目"
OUTCOMES = "村集体年收入达到12万元,带动30户群众就业"
OPINION = "项目目标全部完成,群众认可度高"


def user(world, name: str) -> User:
    """A world user's row in the current app context."""
    return db.session.get(User, world.ids[name])


def export(app, world, ids, who: str = "admin", title: str = "2026年书记项目案例集") -> Document:
    """Run the export as `who` and open the DOCX."""
    with app.app_context():
        return Document(io.BytesIO(cases.case_collection(db.session, user(world, who), ids, title=title)))


def running_project(world) -> int:
    """An application of org1 at 江南村 walked to in_progress (secretary: "secretary")."""
    s = db.session
    project, _ = lifecycle.create_application(s, user(world, "secretary"), application_body(world, title=TITLE))
    s.commit()
    for who, action in (
        ("secretary", "submit"),
        ("unit1", "unit_approve"),
        ("admin", "approve"),
        ("secretary", "start"),
    ):
        lifecycle.transition(s, user(world, who), project.id, action, {"opinion": "同意"})
    return project.id


def photo_jpeg(seed: int, *, clean: bool = True) -> bytes:
    """A phone photo taken now at 江南村; without EXIF (flagged no_exif) unless clean."""
    if not clean:
        return phone_jpeg(size=(800, 600), seed=seed)
    return phone_jpeg(size=(800, 600), seed=seed, gps=V1, taken=datetime.now(CHINA).replace(tzinfo=None))


def ready_photo(api: Api, ticket_path: str, data: bytes) -> int:
    """Ticket, upload and complete one photo; returns its id."""
    r = api.post(
        ticket_path,
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
    ticket = r.get_json()
    assert upload(api.client, ticket["upload"], data) == 204
    r = api.post(f"/api/v1/photos/{ticket['photo_id']}/complete")
    assert r.status_code == 200 and r.get_json()["status"] == "ready", r.get_json()
    return ticket["photo_id"]


def submit_report(api: Api, pid: int, month: str, photo_ids=()) -> None:
    """Hand in the monthly report for `month`."""
    r = api.put(
        f"/api/v1/projects/{pid}/reports/{month}",
        {
            "sent_at": now_iso(),
            "text": f"{month} 工作进展:合作社运转正常,新增订单。",
            "photo_ids": list(photo_ids),
            "submit": True,
        },
    )
    assert r.status_code == 201, r.get_json()


@pytest.fixture
def case(app, client, world) -> SimpleNamespace:
    """An accepted project with four monthly reports, visits, photos, feedback and rectification orders.

    Photos: latest report — one clean (r_new) and one flagged (r_flagged); the report before — one
    clean (r_old); a submitted visit — three clean (v1 < v2 < v3) and one never uploaded.
    """
    with app.app_context():
        build_lifecycle(world)
        pid = running_project(world)
        s = db.session
        # Started months ago, so four months of reports are owed.
        s.get(Project, pid).started_at -= timedelta(days=100)
        s.commit()
        months = reports.owed_months(s.get(Project, pid), clock.today())[-4:]
        orders = [
            rectification.issue(s, user(world, "admin"), project_id=pid, items=[item]).id
            for item in ("公示栏未更新", "台账不完整")
        ]
        rectification.respond(
            s, user(world, "secretary"), orders[0], {"client_id": uid(), "sent_at": now_iso(), "text": "已整改"}
        )
        assignment = assignments.create_assignment(
            s, user(world, "admin"), {"project_id": pid, "inspector_ids": [world.ids["insp_a"]]}
        ).id
        for rating in ("满意", "满意", "不满意"):
            feedback.submit(
                s,
                user(world, "villager"),
                pid,
                {
                    "client_id": uid(),
                    "sent_at": now_iso(),
                    "rating": rating,
                    "category": "建议",
                    "text": "希望继续办好合作社",
                },
                "127.0.0.1",
            )
    sec = Api(client, world.tokens["secretary"])
    for month in months[:-2]:
        submit_report(sec, pid, month)
    r_old = ready_photo(sec, "/api/v1/projects/reports/photos", photo_jpeg(1))
    submit_report(sec, pid, months[-2], [r_old])
    r_new = ready_photo(sec, "/api/v1/projects/reports/photos", photo_jpeg(2))
    r_flagged = ready_photo(sec, "/api/v1/projects/reports/photos", photo_jpeg(3, clean=False))
    submit_report(sec, pid, months[-1], [r_new, r_flagged])

    insp = Api(client, world.tokens["insp_a"])
    start_visit(insp, assignment)  # a second visit, still in progress
    visit = start_visit(insp, assignment)
    assert insp.post(f"/api/v1/visits/{visit['id']}/checkins", checkin_body(*V1)).status_code == 201
    visit_photos = [ready_photo(insp, f"/api/v1/visits/{visit['id']}/photos", photo_jpeg(seed)) for seed in (4, 5, 6)]
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
    assert r.status_code == 201, r.get_json()  # a ticket whose photo never arrives
    assert (
        insp.post(f"/api/v1/visits/{visit['id']}/submit", {"client_id": uid(), "sent_at": now_iso()}).status_code == 200
    )

    with app.app_context():
        s = db.session
        rectification.verify(s, user(world, "admin"), orders[0], visit["id"])
        rectification.close(s, user(world, "admin"), orders[0], "已销号")
        lifecycle.record_acceptance(
            s,
            user(world, "admin"),
            pid,
            {"accepted_on": date.today(), "rating": "优秀", "opinion": OPINION, "outcomes": OUTCOMES},
        )
    return SimpleNamespace(
        pid=pid,
        months=months,
        visit=visit["id"],
        r_old=r_old,
        r_new=r_new,
        r_flagged=r_flagged,
        v=visit_photos,
        world=world,
    )


def text_of(doc: Document) -> str:
    """Every paragraph of the body, one per line."""
    return "\n".join(p.text for p in doc.paragraphs)


def table_dict(table) -> dict[str, str]:
    """A two-column table as {label: value}."""
    return {row.cells[0].text: row.cells[1].text for row in table.rows}


def embedded_sha256(doc: Document) -> list[str]:
    """SHA-256 of each picture in the body, in document order."""
    out = []
    for shape in doc.inline_shapes:
        rid = shape._inline.graphic.graphicData.pic.blipFill.blip.embed
        out.append(hashlib.sha256(doc.part.related_parts[rid].blob).hexdigest())
    return out


def preview_sha256(app, photo_ids: list[int]) -> list[str]:
    """The stored hashes of these photos' watermarked previews, in the given order."""
    with app.app_context():
        return [db.session.get(Photo, i).preview_sha256 for i in photo_ids]


# ---- the chapter ----------------------------------------------------------------------------


def test_chapter_tells_the_project_story(app, case):
    """Title, organization, place, background, steps, the latest three reports and the acceptance are in the chapter."""
    doc = export(app, case.world, [case.pid])
    body = text_of(doc)
    assert f"一、{TITLE}" in [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]
    info = table_dict(doc.tables[0])
    assert (info["实施党组织"], info["实施地点"], info["项目年度"]) == ("江南村党支部", "永阳镇江南村", "2026年")
    assert info["领域与类型"] == "农村 · 自选 · 重点性" and info["项目状态"] == "已验收(验收等次:优秀)"
    assert "村集体经济薄弱,年收入不足5万元" in body
    assert "1. 成立合作社(完成时限:2026-03-31)" in body
    for month in case.months[-3:]:
        assert f"{month} 工作进展" in body
    assert f"{case.months[0]} 工作进展" not in body
    assert OUTCOMES in body and OPINION in body and "等次为“优秀”" in body
    assert "1. 村集体年收入达到10万元" in body


def test_figures_table_counts_what_was_handed_in(app, case):
    """Reports, visits, ready photos of submitted work, released feedback by rating and orders are counted."""
    figures = table_dict(export(app, case.world, [case.pid]).tables[1])
    assert figures == {
        "提交月报(份)": "4",
        "开展暗访(次)": "2",
        "其中已提交暗访(次)": "1",
        "照片佐证(张)": "6",
        "群众反馈·满意(条)": "2",
        "群众反馈·基本满意(条)": "0",
        "群众反馈·不满意(条)": "1",
        "下发整改通知(份)": "2",
        "其中已销号(份)": "1",
    }


def test_best_photos_prefer_reports_then_visits_newest_first(app, case):
    """Three unflagged previews are embedded: the latest report's, the earlier report's, then the newest visit photo."""
    doc = export(app, case.world, [case.pid])
    assert embedded_sha256(doc) == preview_sha256(app, [case.r_new, case.r_old, case.v[2]])


def test_questioned_visit_photo_is_left_out(app, case):
    """A visit photo whose latest review is 存疑 gives way to the next one."""
    with app.app_context():
        review.record_decision(
            db.session,
            user(case.world, "admin"),
            db.session.get(Visit, case.visit),
            {"target_kind": "photo", "target_id": case.v[2], "decision": "questioned", "reason": "疑似摆拍"},
        )
    doc = export(app, case.world, [case.pid])
    assert embedded_sha256(doc) == preview_sha256(app, [case.r_new, case.r_old, case.v[1]])


def test_missing_preview_is_skipped(app, case):
    """A preview gone from storage is passed over for the next candidate."""
    with app.app_context():
        app.extensions["storage"].delete(db.session.get(Photo, case.r_new).preview_key)
    doc = export(app, case.world, [case.pid])
    assert embedded_sha256(doc) == preview_sha256(app, [case.r_old, case.v[2], case.v[1]])


# ---- the document as a whole ---------------------------------------------------------------


def test_cover_shows_title_department_and_date(app, world):
    """The cover carries the title, the configured department and the month of export."""
    app.config["DEPARTMENT_NAME"] = "中共吉安县委组织部"
    doc = export(app, world, [world.p1], title="  优秀书记项目  案例集 ")
    today = clock.today()
    assert [p.text for p in doc.paragraphs[:3]] == [
        "优秀书记项目 案例集",
        "中共吉安县委组织部",
        f"{today.year}年{today.month}月",
    ]
    assert doc.core_properties.title == "优秀书记项目 案例集"


def test_chinese_text_has_east_asian_fonts(app, world):
    """Body text is set in 宋体 and headings in 黑体 through rFonts eastAsia, with no theme font overriding."""
    doc = export(app, world, [world.p1])
    for style, face in (("Normal", "宋体"), ("Heading 1", "黑体"), ("Heading 2", "黑体")):
        fonts = doc.styles[style].element.rPr.rFonts
        assert fonts.get(qn("w:eastAsia")) == face
        assert fonts.get(qn("w:eastAsiaTheme")) is None


def test_running_project_without_records(app, world):
    """A running project with nothing handed in says it is not yet accepted, shows zeros and no pictures."""
    doc = export(app, world, [world.p1])
    body = text_of(doc)
    assert "项目正在实施,尚未验收。" in body and "暂无可用的现场照片。" in body
    assert set(table_dict(doc.tables[1]).values()) == {"0"}
    assert len(doc.inline_shapes) == 0


def test_contents_list_every_chapter_in_order(app, world):
    """The contents list and the chapter headings follow the same order (newest year first, then id)."""
    with app.app_context():
        db.session.get(Project, world.p3).year = 2027
        db.session.commit()
    doc = export(app, world, [world.p1, world.p3, world.p2])
    headings = [p.text for p in doc.paragraphs if p.style.name == "Heading 1"]
    assert headings == ["目录", "一、非公企业党建", "二、蜜柚产业项目", "三、旱厕改造"]


# ---- who and what may be exported ----------------------------------------------------------


def test_export_is_audited_with_the_ids(app, world):
    """The export is logged as project.case_export with the project ids, and the chain stays intact."""
    export(app, world, [world.p2, world.p1])
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "project.case_export")).one()
        assert entry.data["project_ids"] == [world.p1, world.p2] and entry.actor_id == world.ids["admin"]
        assert audit.verify(db.session).ok


def test_out_of_scope_project_is_404(app, world):
    """A reviewer of 桐坪镇 cannot export 永阳镇's project, and an unknown id is not found either."""
    for who, ids in (("reviewer2", [world.p2, world.p1]), ("admin", [world.p1, 999999])):
        with app.app_context(), pytest.raises(ApiError) as err:
            cases.case_collection(db.session, user(world, who), ids, title="案例集")
        assert err.value.status == 404 and err.value.details["ids"] == [ids[1]]


def test_draft_project_is_409_naming_it(app, world):
    """A project that is not running or accepted is refused with its title and status in the message."""
    with app.app_context():
        build_lifecycle(world)
        project, _ = lifecycle.create_application(
            db.session, user(world, "secretary"), application_body(world, title="草稿项目")
        )
        db.session.commit()
        with pytest.raises(ApiError) as err:
            cases.case_collection(db.session, user(world, "admin"), [world.p1, project.id], title="案例集")
    assert err.value.status == 409 and "《草稿项目》(草稿)" in err.value.message
    assert err.value.details["ids"] == [project.id]


@pytest.mark.parametrize("ids", [[], list(range(1, cases.MAX_PROJECTS + 2))])
def test_selection_size_is_bounded(app, world, ids):
    """An empty selection or one over the limit is a validation error, before anything is read."""
    with app.app_context(), pytest.raises(ApiError) as err:
        cases.case_collection(db.session, user(world, "admin"), ids, title="案例集")
    assert err.value.status == 400 and err.value.details["field"] == "project_ids"


def test_chinese_numbers():
    """Chapter numbers read as Chinese numerals."""
    assert [cases.chinese_number(n) for n in (1, 9, 10, 11, 20, 23, 50)] == [
        "一",
        "九",
        "十",
        "十一",
        "二十",
        "二十三",
        "五十",
    ]
