"""Console: project levels on the form, list and filter; the 立项名单 import; the 书记领办事项 pages."""

from __future__ import annotations

import io
import re
from datetime import date

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from server import clock
from server.db import db
from server.models import LeadItem, Project, User, WeakOrgWarning
from server.services import lead_items, projects
from tests.console.conftest import csrf

TOKEN = re.compile(r'name="token" value="([^"]+)"')
LIST_CSV = (
    "年度,项目名称,党组织,层级,领域,必选/自选,类别,项目书记,村编码,单位地点编码\n"
    "2026,“一领办三参与”蜜柚产业项目,江南村党支部,村级,农村,自选,重点性,secretary,360821100201,\n"
    "2026,大栗村人居环境整治,永阳镇党委,镇级,,必选,常规性,,360821103201,\n"
)


def post(client, url: str, data: dict | None = None, **kw):
    """POST a console form with the session's CSRF token."""
    return client.post(url, data={"csrf_token": csrf(client), **(data or {})}, **kw)


def text_of(response) -> str:
    """The response body as text."""
    return response.get_data(as_text=True)


@pytest.fixture
def orgs(app, world):
    """The organizations the list names, by name → id."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        return {
            name: projects.create_organization(db.session, admin, {"name": name, "township_id": world.t1}).id
            for name in ("江南村党支部", "永阳镇党委")
        }


def upload(text: str, name: str = "list.csv") -> dict:
    """A multipart file field holding `text`."""
    return {"file": (io.BytesIO(text.encode("utf-8-sig")), name)}


def test_form_sets_the_level_and_the_list_filters_by_it(app, console, world):
    """An admin sets a project's level on its form; the list shows it and filters by it."""
    client = console("admin")
    r = post(
        client,
        f"/console/projects/{world.p1}",
        {
            "title": "蜜柚产业项目",
            "year": "2026",
            "domain": "农村",
            "level": "county_secretary",
            "village_ids": str(world.v1),
        },
    )
    assert r.status_code == 302, text_of(r)
    with app.app_context():
        assert db.session.get(Project, world.p1).level == "county_secretary"
    page = text_of(client.get("/console/projects", query_string={"level": "county_secretary"}))
    assert "蜜柚产业项目" in page and "县委书记领办" in page and "旱厕改造" not in page
    assert "未定级" in text_of(client.get("/console/projects"))
    assert "县委书记领办" in text_of(client.get(f"/console/projects/{world.p1}/lifecycle"))


def test_form_refuses_an_unknown_level(app, console, world):
    """A level that is none of the four is refused on the form."""
    r = post(
        console("admin"),
        f"/console/projects/{world.p1}",
        {"title": "蜜柚产业项目", "year": "2026", "domain": "农村", "level": "province", "village_ids": str(world.v1)},
    )
    assert r.status_code == 400 and "请选择项目层级" in text_of(r)


def test_project_list_import_previews_then_imports(app, console, world, orgs):
    """A clean list previews what it adds without writing; confirming imports approved projects with levels."""
    client = console("admin")
    with app.app_context():
        before = db.session.scalar(select(func.count(Project.id)))
    r = post(client, "/console/projects/import", upload(LIST_CSV), content_type="multipart/form-data")
    assert r.status_code == 200, text_of(r)
    assert text_of(r).count("新增") >= 2
    token = TOKEN.search(text_of(r)).group(1)
    with app.app_context():
        assert db.session.scalar(select(func.count(Project.id))) == before
    r = post(client, "/console/projects/import/confirm", {"token": token, "suffix": ".csv"})
    assert r.status_code == 302
    page = text_of(client.get("/console/projects", query_string={"level": "township"}))
    assert "大栗村人居环境整治" in page and "镇级" in page and "已立项" in page
    # The same file again: previewed as updates that change nothing, nothing added.
    r = post(client, "/console/projects/import", upload(LIST_CSV), content_type="multipart/form-data")
    assert "新增项目 0 个,更新 2 个" in text_of(r) and text_of(r).count("无变化") == 2


def test_project_list_import_with_an_unknown_organization_writes_nothing(app, console, world, orgs):
    """A row naming an organization not in the system is shown with its line, and no file is kept to confirm."""
    bad = LIST_CSV.replace("永阳镇党委", "不存在的党委")
    r = post(console("admin"), "/console/projects/import", upload(bad), content_type="multipart/form-data")
    assert r.status_code == 400
    assert "第 3 行(党组织):找不到党组织“不存在的党委”" in text_of(r) and "确认导入" not in text_of(r)


def test_only_admins_import_the_list(console, world):
    """Leaders may not open the import page."""
    assert console("leader").get("/console/projects/import").status_code == 403


def test_template_has_the_header(console, world):
    """The template workbook starts with the columns the import reads."""
    r = console("admin").get("/console/projects/import/template.xlsx")
    headers = [c.value for c in load_workbook(io.BytesIO(r.data)).worksheets[0][1]]
    assert headers[:4] == ["年度", "项目名称", "党组织", "层级"]


def test_reimport_preview_shows_the_change(app, console, world, orgs):
    """A project already on the list, re-imported at another level, previews 村级 → 镇级 before anything is written."""
    client = console("admin")
    r = post(client, "/console/projects/import", upload(LIST_CSV), content_type="multipart/form-data")
    post(client, "/console/projects/import/confirm", {"token": TOKEN.search(text_of(r)).group(1), "suffix": ".csv"})
    moved = LIST_CSV.replace("江南村党支部,村级", "江南村党支部,镇级")
    r = post(client, "/console/projects/import", upload(moved), content_type="multipart/form-data")
    assert "更新项目" in text_of(r) and "层级:村级 → 镇级" in text_of(r)
    with app.app_context():
        assert db.session.scalar(select(Project.level).where(Project.title.contains("一领办三参与"))) == "village"


# ---- 书记领办事项 ------------------------------------------------------------------------------


def test_lead_item_pages_add_progress_and_confirm(app, console, world, orgs, monkeypatch):
    """An admin adds an item, records progress; two years on it is suggested and confirming lists its organization."""
    client = console("admin")
    monkeypatch.setattr(clock, "today", lambda: date(2024, 3, 1))
    r = post(
        client,
        "/console/lead-items/new",
        {
            "title": "百名博士进老区",
            "started_on": "2024-03-01",
            "organization_id": str(orgs["江南村党支部"]),
            "level": "county_secretary",
            "leader_name": "县委书记",
            "milestones": "引进博士 22 名 | 2024-12-31 | 县委人才办",
        },
    )
    assert r.status_code == 302, text_of(r)
    item_id = int(r.headers["Location"].rsplit("/", 1)[1])
    r = post(client, f"/console/lead-items/{item_id}/progress", {"text": "召开推进会", "noted_on": "2024-03-01"})
    assert r.status_code == 302
    monkeypatch.setattr(clock, "today", lambda: date(2026, 3, 1))
    listing = text_of(client.get("/console/lead-items"))
    assert "建议列入软弱涣散名单(1)" in listing
    assert "建议将江南村党支部列入软弱涣散名单" in text_of(client.get(f"/console/lead-items/{item_id}"))
    r = post(client, f"/console/lead-items/{item_id}/suggestion", {"decision": "confirm"})
    assert r.status_code == 302
    with app.app_context():
        [warning] = db.session.scalars(select(WeakOrgWarning)).all()
        assert warning.organization_id == orgs["江南村党支部"]
    assert "建议列入软弱涣散名单(" not in text_of(client.get("/console/lead-items"))
    assert "已列入软弱涣散名单" in text_of(client.get(f"/console/lead-items/{item_id}"))


def test_lead_item_dismiss_needs_a_reason(app, console, world, orgs, monkeypatch):
    """Dismissing without a reason shows the error and lists nothing."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        monkeypatch.setattr(clock, "today", lambda: date(2024, 3, 1))
        item = lead_items.create_item(
            db.session,
            admin,
            {
                "title": "红叶谷复垦",
                "started_on": date(2024, 3, 1),
                "organization_id": orgs["永阳镇党委"],
                "level": "township",
                "leader_name": "彭恩全",
            },
        )
    monkeypatch.setattr(clock, "today", lambda: date(2026, 3, 1))
    r = post(console("admin"), f"/console/lead-items/{item.id}/suggestion", {"decision": "dismiss", "reason": ""})
    assert r.status_code == 400 and "请填写不列入的理由" in text_of(r)
    with app.app_context():
        assert db.session.scalar(select(func.count(WeakOrgWarning.id))) == 0


def test_lead_items_are_read_by_leaders_only(app, console, world, orgs):
    """Leaders read the list and an item without forms; reviewers and secretaries are refused."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        item = lead_items.create_item(
            db.session,
            admin,
            {
                "title": "红叶谷复垦",
                "started_on": date(2025, 3, 1),
                "organization_id": orgs["永阳镇党委"],
                "level": "township",
                "leader_name": "彭恩全",
            },
        )
    leader = console("leader")
    assert "红叶谷复垦" in text_of(leader.get("/console/lead-items"))
    page = text_of(leader.get(f"/console/lead-items/{item.id}"))
    assert "彭恩全" in page and "记录进展" not in page
    assert post(leader, f"/console/lead-items/{item.id}/progress", {"text": "x"}).status_code == 403
    assert console("reviewer1").get("/console/lead-items").status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count(LeadItem.id))) == 1
