"""Console imports: reporting units, party organizations and staff accounts (preview → confirm, all or
nothing, audit), the places import's old → new diff and rename warning, and the XLSX templates."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from server.auth import invite_code_hash
from server.db import db
from server.models import AuditEntry, Organization, ReportingUnit, Township, User
from server.services import places, units
from tests.api.test_rounds import draw_day, new_round, source
from tests.console.conftest import csrf
from tests.factories import Api, start_visit

TOKEN = re.compile(r'name="token" value="([^"]+)"')
INVITES = re.compile(r'<td>([a-z0-9_.@-]+)</td><td>[^<]*</td><td class="invite-code">([0-9A-Z]{4}-[0-9A-Z]{4})</td>')


def post(client, url: str, data: dict | None = None, **kw):
    """POST a console form with the session's CSRF token."""
    return client.post(url, data={"csrf_token": csrf(client), **(data or {})}, **kw)


def upload(client, url: str, text: str, name: str = "file.csv"):
    """Upload `text` as a UTF-8 CSV to an import page (the preview)."""
    return post(client, url, {"file": (io.BytesIO(text.encode("utf-8-sig")), name)}, content_type="multipart/form-data")


def confirm(client, url: str, preview) -> object:
    """Confirm the import previewed in `preview`."""
    token = TOKEN.search(preview.get_data(as_text=True)).group(1)
    return post(client, f"{url}/confirm", {"token": token, "suffix": ".csv"})


def count(app, model, *where) -> int:
    """How many rows of `model` match."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def audit_actions(app) -> list[str]:
    """Every audit entry's action, in order."""
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq)))


@pytest.fixture
def unit_world(app, world):
    """build_world plus two reporting units (永阳镇党委 for 永阳镇, 县直机关工委)."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        world.u1 = units.create_unit(
            db.session, admin, {"name": "永阳镇党委", "kind": "乡镇党委", "township_id": world.t1}
        ).id
        world.u2 = units.create_unit(db.session, admin, {"name": "县直机关工委", "kind": "机关工委"}).id
    return world


# ---- places: the diff and the rename warning --------------------------------------------------


@pytest.fixture
def wanfu(app, world):
    """永阳镇 renamed 万福镇, with one visit in its village and one drawn round over it."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        places.update_township(db.session, admin, world.t1, {"name": "万福镇"})
        rid = new_round(world, filters={"township_ids": [world.t1]})
    start_visit(Api(app.test_client(), world.tokens["insp_a"]), world.a1)
    with app.app_context():
        from server.services import rounds

        admin = db.session.get(User, world.ids["admin"])
        rounds.freeze(db.session, admin, rid, source())
        rounds.run_draw(db.session, admin, rid, "2026088", today=draw_day())
    return world


RENAME = "类型,编码,名称,所属乡镇编码,纬度,经度\n乡镇,360821100000,油田镇,,,\n"


def test_places_preview_shows_the_rename_and_warns_of_its_visits_and_rounds(app, console, wanfu):
    """Renaming 万福镇 previews "万福镇 → 油田镇" and warns that 1 visit and 1 drawn round will read the new name."""
    r = upload(console("admin"), "/console/places/import", RENAME)
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "名称:万福镇 → 油田镇" in page
    assert "乡镇“万福镇”已有 1 条暗访记录、1 个已抽取的督查批次" in page
    with app.app_context():
        assert db.session.get(Township, wanfu.t1).name == "万福镇"  # the preview wrote nothing


def test_places_preview_of_a_place_without_visits_has_a_diff_but_no_warning(app, console, world):
    """A renamed village nobody visited shows its diff and radius change, without a warning."""
    text = "类型,编码,名称,所属乡镇编码,纬度,经度,坐标系,半径\n村,360821103201,大栗新村,360821103000,27.0,114.8,wgs84,800\n"
    page = upload(console("admin"), "/console/places/import", text).get_data(as_text=True)
    assert "名称:大栗村 → 大栗新村" in page
    assert "半径:500 米 → 800 米" in page
    assert "已抽取的督查批次" not in page


# ---- reporting units ----------------------------------------------------------------------


UNITS = "名称,类型,所属乡镇编码\n桐坪镇党委,乡镇党委,360821103000\n县委教育工委,教育工委,\n"


def test_units_import_previews_then_creates_with_audit(app, console, unit_world):
    """A units file previews without writing; the confirm creates them and audits each and the import."""
    client = console("admin")
    r = upload(client, "/console/units/import", UNITS)
    assert r.status_code == 200 and "新增归口单位" in r.get_data(as_text=True)
    assert count(app, ReportingUnit) == 2
    r = confirm(client, "/console/units/import", r)
    assert r.status_code == 302 and r.headers["Location"].endswith("/console/units")
    with app.app_context():
        unit = db.session.scalar(select(ReportingUnit).where(ReportingUnit.name == "桐坪镇党委"))
        assert (unit.kind, unit.township_id) == ("乡镇党委", unit_world.t2)
    assert audit_actions(app)[-3:] == ["unit.create", "unit.create", "units.import"]
    assert "桐坪镇党委" in client.get("/console/units").get_data(as_text=True)


def test_units_import_with_one_bad_row_writes_nothing(app, console, unit_world):
    """An unknown township code on one row names row, column and value; no unit is created."""
    text = UNITS + "某单位,乡镇党委,360821999000\n"
    before = len(audit_actions(app))
    r = upload(console("admin"), "/console/units/import", text)
    assert r.status_code == 400
    assert "第 4 行(所属乡镇编码):找不到乡镇编码“360821999000”" in r.get_data(as_text=True)
    assert count(app, ReportingUnit) == 2 and len(audit_actions(app)) == before


def test_unit_page_lists_its_organizations_and_accounts_and_renames(app, console, unit_world):
    """A unit's page shows its organizations and accounts; an admin renames it (audited)."""
    client = console("admin")
    upload_and_confirm(
        client,
        "/console/organizations/import",
        "名称,领域,村编码,归口单位\n江南村党支部,农村,360821100201,永阳镇党委\n",
    )
    upload_and_confirm(
        client, "/console/users/import", "用户名,姓名,角色,归口单位\nyy-unit,王芳,归口单位审核员,永阳镇党委\n"
    )
    page = client.get(f"/console/units/{unit_world.u1}").get_data(as_text=True)
    assert "江南村党支部" in page and "yy-unit" in page
    r = post(
        client,
        f"/console/units/{unit_world.u1}",
        {"name": "中共永阳镇委员会", "kind": "乡镇党委", "township_id": str(unit_world.t1)},
    )
    assert r.status_code == 302
    assert audit_actions(app)[-1] == "unit.update"
    assert "中共永阳镇委员会" in client.get("/console/units").get_data(as_text=True)


def upload_and_confirm(client, url: str, text: str):
    """Preview and confirm a file that must be clean; returns the confirm's response."""
    preview = upload(client, url, text)
    assert preview.status_code == 200, preview.get_data(as_text=True)
    return confirm(client, url, preview)


# ---- party organizations ------------------------------------------------------------------


ORGS = (
    "名称,领域,乡镇编码,村编码,归口单位,书记用户名\n"
    "江南村党支部,农村,,360821100201,永阳镇党委,secretary\n"
    "县人民医院党委,医院,,,县直机关工委,\n"
)


def test_organizations_import_creates_them_under_their_unit_and_links_the_secretary(app, console, unit_world):
    """Organizations are placed by village (township from it), filed under their unit, and the secretary linked."""
    client = console("admin")
    r = upload_and_confirm(client, "/console/organizations/import", ORGS)
    assert r.status_code == 302
    with app.app_context():
        org = db.session.scalar(select(Organization).where(Organization.name == "江南村党支部"))
        assert (org.township_id, org.village_id, org.unit_id) == (unit_world.t1, unit_world.v1, unit_world.u1)
        hospital = db.session.scalar(select(Organization).where(Organization.name == "县人民医院党委"))
        assert (hospital.domain, hospital.unit_id) == ("公立医院", unit_world.u2)
        assert org in db.session.get(User, unit_world.ids["secretary"]).organizations
    assert audit_actions(app)[-3:] == ["organization.create", "organization.create", "organizations.import"]


def test_organizations_reimport_updates_and_shows_the_change(app, console, unit_world):
    """The same name in the same township updates the organization: the preview shows its old → new unit."""
    client = console("admin")
    upload_and_confirm(client, "/console/organizations/import", ORGS)
    moved = "名称,村编码,归口单位\n江南村党支部,360821100201,县直机关工委\n"
    page = upload(client, "/console/organizations/import", moved).get_data(as_text=True)
    assert "更新党组织" in page and "归口单位:永阳镇党委 → 县直机关工委" in page
    upload_and_confirm(client, "/console/organizations/import", moved)
    assert count(app, Organization, Organization.name == "江南村党支部") == 1
    assert count(app, Organization, Organization.unit_id == unit_world.u2) == 2


@pytest.mark.both_databases
def test_organizations_import_with_one_bad_row_writes_nothing(app, console, unit_world):
    """One row naming an unknown unit: every row is refused, nothing is written, on SQLite and MariaDB."""
    text = ORGS + "某村党支部,农村,360821100000,,不存在的工委,\n"
    client = console("admin")
    before = len(audit_actions(app))
    r = upload(client, "/console/organizations/import", text)
    assert r.status_code == 400
    assert "第 4 行(归口单位):找不到归口单位“不存在的工委”" in r.get_data(as_text=True)
    assert "确认导入" not in r.get_data(as_text=True)
    assert count(app, Organization) == 0 and len(audit_actions(app)) == before
    with app.app_context():
        assert db.session.get(User, unit_world.ids["secretary"]).organizations == []


def test_organizations_page_is_scoped_to_a_reviewers_townships(app, console, unit_world):
    """A township reviewer lists the organizations of their townships only."""
    upload_and_confirm(
        console("admin"),
        "/console/organizations/import",
        "名称,乡镇编码\n永阳镇机关党支部,360821100000\n桐坪镇机关党支部,360821103000\n",
    )
    page = console("reviewer1").get("/console/organizations").get_data(as_text=True)
    assert "永阳镇机关党支部" in page and "桐坪镇机关党支部" not in page
    assert "添加党组织" not in page


def test_organization_create_and_edit_in_the_console(app, console, unit_world):
    """An admin adds an organization from the form and files it under a unit by editing it."""
    client = console("admin")
    r = post(client, "/console/organizations", {"name": "县国资党委", "domain": "国企", "township_id": ""})
    assert r.status_code == 302
    with app.app_context():
        org_id = db.session.scalar(select(Organization.id).where(Organization.name == "县国资党委"))
    r = post(
        client,
        f"/console/organizations/{org_id}",
        {"name": "县国资委党委", "domain": "国企", "unit_id": str(unit_world.u2)},
    )
    assert r.status_code == 302
    with app.app_context():
        org = db.session.get(Organization, org_id)
        assert (org.name, org.unit_id) == ("县国资委党委", unit_world.u2)
    assert audit_actions(app)[-2:] == ["organization.create", "organization.update"]


# ---- staff accounts -----------------------------------------------------------------------


STAFF = (
    "用户名,姓名,角色,乡镇编码,党组织,归口单位\n"
    "zhangwei,张伟,审核员,360821100000、360821103000,,\n"
    "liming,李明,督查人员,,,\n"
    "yy-unit,王芳,归口单位审核员,,,永阳镇党委\n"
)


def test_staff_import_creates_accounts_and_shows_each_invite_once(app, console, unit_world):
    """New accounts get their scope; mini-program ones an invite code shown once on the confirm page, which binds."""
    client = console("admin")
    preview = upload(client, "/console/users/import", STAFF)
    assert preview.status_code == 200 and "新增账号(发邀请码)" in preview.get_data(as_text=True)
    r = confirm(client, "/console/users/import", preview)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    codes = dict(INVITES.findall(r.get_data(as_text=True)))
    assert list(codes) == ["liming"]  # console accounts get no invite
    with app.app_context():
        liming = db.session.scalar(select(User).where(User.username == "liming"))
        assert liming.invite_code_hash == invite_code_hash(codes["liming"])
        zhangwei = db.session.scalar(select(User).where(User.username == "zhangwei"))
        assert (zhangwei.roles, sorted(t.id for t in zhangwei.townships)) == (
            ["reviewer"],
            [unit_world.t1, unit_world.t2],
        )
        assert db.session.scalar(select(User).where(User.username == "yy-unit")).unit_id == unit_world.u1
    assert audit_actions(app)[-4:] == ["user.create", "user.create", "user.create", "users.import"]
    assert codes["liming"] not in client.get("/console/users").get_data(as_text=True)


def test_staff_reimport_updates_scope_instead_of_duplicating(app, console, unit_world):
    """Importing an existing username replaces its scope (shown old → new) and adds no account."""
    client = console("admin")
    upload_and_confirm(client, "/console/users/import", STAFF)
    before = count(app, User)
    change = "用户名,角色,乡镇编码\nZhangWei,审核员,360821103000\n"
    page = upload(client, "/console/users/import", change).get_data(as_text=True)
    assert "更新账号" in page and "乡镇:永阳镇、桐坪镇 → 桐坪镇" in page
    upload_and_confirm(client, "/console/users/import", change)
    assert count(app, User) == before
    with app.app_context():
        zhangwei = db.session.scalar(select(User).where(User.username == "zhangwei"))
        assert [t.id for t in zhangwei.townships] == [unit_world.t2]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("wangwu,王五,督察长,,,", "第 5 行(角色):未知角色“督察长”"),
        ("wangwu,王五,审核员,360821999000,,", "第 5 行(乡镇编码):找不到乡镇编码“360821999000”"),
        ("wangwu,王五,归口单位审核员,,,不存在的工委", "第 5 行(归口单位):找不到归口单位“不存在的工委”"),
        ("wangwu,王五,项目书记,,不存在的支部,", "第 5 行(党组织):找不到党组织“不存在的支部”"),
        ("wangwu,王五,督查人员,,,永阳镇党委", "第 5 行(归口单位):填写了归口单位“永阳镇党委”,角色须包含 归口单位审核员"),
        ("LiMing,李明,督查人员,,,", "第 5 行(用户名):用户名“liming”在文件中重复出现"),
    ],
    ids=["role", "township", "unit", "organization", "unit-without-role", "repeated-username"],
)
def test_staff_import_refuses_a_bad_row_and_writes_nothing(app, console, unit_world, row, expected):
    """One bad row is named by row, column and value, and no account of the file is created."""
    before, audited = count(app, User), len(audit_actions(app))
    r = upload(console("admin"), "/console/users/import", STAFF + row + "\n")
    assert r.status_code == 400
    assert expected in r.get_data(as_text=True)
    assert count(app, User) == before and len(audit_actions(app)) == audited


def test_staff_import_cannot_take_the_admin_role_from_oneself(app, console, unit_world):
    """An admin importing their own username without 管理员 is refused on that row."""
    r = upload(console("admin"), "/console/users/import", "用户名,角色\nadmin,领导\n")
    assert "第 2 行(角色):不能取消自己的管理员角色" in r.get_data(as_text=True)


# ---- templates and permissions --------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/console/places/import", ["类型", "编码", "名称", "所属乡镇编码", "纬度", "经度", "坐标系", "半径"]),
        ("/console/units/import", ["名称", "类型", "所属乡镇编码"]),
        ("/console/organizations/import", ["名称", "领域", "乡镇编码", "村编码", "归口单位", "书记用户名"]),
        ("/console/users/import", ["用户名", "姓名", "角色", "乡镇编码", "党组织", "归口单位"]),
        (
            "/console/projects/import",
            ["年度", "项目名称", "党组织", "层级", "领域", "必选/自选", "类别", "项目书记", "村编码", "单位地点编码"],
        ),
    ],
)
def test_templates_are_xlsx_with_chinese_headers_that_import_back(app, console, unit_world, url, headers):
    """Each template is a workbook with the Chinese headers, a notes sheet, and headers the import reads."""
    client = console("admin")
    r = client.get(f"{url}/template.xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(r.data))
    assert [c.value for c in wb.worksheets[0][1]] == headers
    assert wb.sheetnames[1] == "填写说明"
    only_header = io.BytesIO()
    wb.worksheets[0].delete_rows(2, wb.worksheets[0].max_row)
    wb.worksheets[0].append(["x"] * len(headers))
    wb.save(only_header)
    only_header.seek(0)
    page = post(client, url, {"file": (only_header, "t.xlsx")}, content_type="multipart/form-data").get_data(
        as_text=True
    )
    assert "表头缺少列" not in page


@pytest.mark.parametrize(
    "url",
    ["/console/units/import", "/console/organizations/import", "/console/users/import", "/console/projects/import"],
)
@pytest.mark.parametrize("username", ["leader", "reviewer1"])
def test_only_admins_import(app, console, unit_world, url, username):
    """Leaders and reviewers may not preview or confirm an import (403), nor fetch the template."""
    client = console(username)
    assert upload(client, url, UNITS).status_code == 403
    assert post(client, f"{url}/confirm", {"token": "A" * 22, "suffix": ".csv"}).status_code == 403
    assert client.get(f"{url}/template.xlsx").status_code == 403
