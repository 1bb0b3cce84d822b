"""The expert's scoring page shows the project's dossier beside the form: application, 月报 excerpts,
visit findings, photos and feedback figures — only for their own seats, and never a villager's data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

# Load the API package first (see tests/console/test_grading.py).
import server.api  # noqa: F401, I001
from server.db import db
from server.models import Project, User
from tests.api.test_field_sync import send_photo, submit
from tests.console.test_grading import expert, setup, text_of
from tests.factories import V1, Api, checkin_body, now_iso, start_visit, uid
from tests.support.images import phone_jpeg
from tests.support.upload import upload

__all__ = ["setup"]  # the fixture, imported for these tests

VILLAGER_PHONE = "13812345678"


@pytest.fixture
def evidence(app, client, world, setup) -> dict:
    """p1 with its application, a handed-in 月报 with a photo, a submitted visit (failed item, photo, home
    interview) and two pieces of feedback, one carrying the villager's phone."""
    with app.app_context():
        p1 = db.session.get(Project, world.p1)
        p1.problem = "蜜柚销路不畅,群众增收难"
        p1.targets = ["新增蜜柚种植 300 亩"]
        p1.steps = [{"name": "修建灌溉水渠", "deadline": "2026-06-30", "status": "已完成"}]
        p1.responsible = {"牵头书记": "彭建华"}
        p1.secretary_id = world.ids["secretary"]
        p1.started_at = datetime.now(UTC) - timedelta(days=40)
        db.session.commit()
    secretary = Api(client, world.tokens["secretary"])
    data = phone_jpeg(seed=21)
    ticket = secretary.post(
        "/api/v1/projects/reports/photos",
        {"client_id": uid(), "sent_at": now_iso(), "content_type": "image/jpeg", "size": len(data)},
    ).get_json()
    assert upload(client, ticket["upload"], data) == 204
    assert secretary.post(f"/api/v1/photos/{ticket['photo_id']}/complete").status_code == 200
    month = (datetime.now(UTC) + timedelta(hours=8)).strftime("%Y-%m")
    body = {"text": "水渠完工一千二百米," * 40, "photo_ids": [ticket["photo_id"]], "submit": True}
    assert secretary.put(f"/api/v1/projects/{world.p1}/reports/{month}", body).status_code == 201

    insp = Api(client, world.tokens["insp_a"])
    visit = start_visit(insp, world.a1)
    assert insp.post(f"/api/v1/visits/{visit['id']}/checkins", checkin_body(*V1)).status_code == 201
    visit_photo = send_photo(insp, visit["id"], seed=22)
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
    items = [
        {"item": "公示栏是否张贴", "result": "fail", "note": "公示栏内容未更新"},
        {"item": "进度是否符合计划", "result": "pass"},
    ]
    r = insp.put(f"/api/v1/visits/{visit['id']}/checklist", {"client_id": uid(), "sent_at": now_iso(), "items": items})
    assert r.status_code == 201
    assert submit(insp, visit["id"]).status_code in (200, 201)

    villager = Api(client, world.tokens["villager"])
    for rating, text in (("满意", "路修好了"), ("不满意", "水渠漏水严重,请尽快处理")):
        body = {"client_id": uid(), "sent_at": now_iso(), "rating": rating, "category": "建议", "text": text}
        body["contact_phone"] = VILLAGER_PHONE
        assert villager.post(f"/api/v1/public/projects/{world.p1}/feedback", body).status_code == 201
    return {"report_photo": ticket["photo_id"], "visit_photo": visit_photo["id"], "visit": visit["id"]}


def test_the_expert_sees_the_dossier_beside_the_form(app, world, setup, evidence):
    """Application fields, a shortened 月报 with its thumbnail, the visit's failed item and photo, rating counts."""
    page = text_of(expert(app, "expert1").get(f"/console/scoring/{setup['seats']['expert1', world.p1]}"))
    dossier = page[page.index('id="dossier"') : page.index("<h2>评分</h2>")]
    assert "蜜柚销路不畅,群众增收难" in dossier and "新增蜜柚种植 300 亩" in dossier and "修建灌溉水渠" in dossier
    assert "已提交 1 期" in dossier and "水渠完工一千二百米" in dossier and "……" in dossier
    assert f'alt="月报照片 {evidence["report_photo"]}"' in dossier
    assert "公示栏内容未更新" in dossier and "不符合" in dossier
    assert f'alt="暗访照片 {evidence["visit_photo"]}"' in dossier
    assert "满意 <strong>1</strong>" in dossier and "不满意 <strong>1</strong>" in dossier
    assert "合计 <strong>2</strong>" in dossier
    assert 'name="c1"' in page  # the form is still there, beside it


def test_no_villager_data_reaches_the_expert(app, world, setup, evidence):
    """Neither the household interviewed, what they said, the feedback text nor a phone is on the page."""
    page = text_of(expert(app, "expert1").get(f"/console/scoring/{setup['seats']['expert1', world.p1]}"))
    for private in ("罗焕敬", "反映水渠漏水", "水渠漏水严重", "路修好了", VILLAGER_PHONE, "138****5678", "insp_a"):
        assert private not in page, private


def test_an_expert_gets_no_dossier_of_a_project_off_their_panel(app, world, setup, evidence):
    """expert3 sits on p1 only: p2's seat of another expert is a 404, and so is a made-up seat."""
    client = expert(app, "expert3")
    assert client.get(f"/console/scoring/{setup['seats']['expert1', world.p2]}").status_code == 404
    assert client.get(f"/console/scoring/{setup['seats']['expert1', world.p1]}").status_code == 404
    assert client.get("/console/scoring/999999").status_code == 404


def test_only_experts_open_scoring_pages(app, world, console, setup, evidence):
    """A leader (and any non-expert) cannot open an expert's page with its dossier: 403."""
    assert console("leader").get(f"/console/scoring/{setup['seats']['expert1', world.p1]}").status_code == 403
    with app.app_context():
        assert db.session.get(User, world.ids["leader"]).has_role("expert") is False
