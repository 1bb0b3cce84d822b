"""Console base-data pages: places (with import), projects, users and invite codes, assignments."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from server import geo
from server.auth import invite_code_hash
from server.db import db
from server.models import Assignment, AuditEntry, Project, Site, Township, User, Village
from tests.console.conftest import csrf, login
from tests.factories import Api

PASTED = (27.0161, 114.8803)  # read off a Chinese map: GCJ-02
INVITE = re.compile(r'id="invite-code">([0-9A-Z]{4}-[0-9A-Z]{4})<')
TOKEN = re.compile(r'name="token" value="([^"]+)"')


def post(client, url: str, data: dict | None = None, **kw):
    """POST a console form with the session's CSRF token."""
    return client.post(url, data={"csrf_token": csrf(client), **(data or {})}, **kw)


def text_of(response) -> str:
    """The response body as text."""
    return response.get_data(as_text=True)


def count(app, model) -> int:
    """How many rows the table holds."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def get(app, model, **where):
    """The one row matching the keyword filters, or None."""
    with app.app_context():
        row = db.session.scalar(select(model).filter_by(**where))
        if row is not None:
            db.session.expunge(row)
        return row


def village_form(world, **extra) -> dict:
    """A valid new-village form in the first township."""
    return {
        "township_id": str(world.t1),
        "code": "360821100299",
        "name": "新建村",
        "radius_m": "400",
        "coord_type": "gcj02",
        "coords": f"{PASTED[0]}, {PASTED[1]}",
        **extra,
    }


def csv_upload(text: str, name: str = "places.csv") -> dict:
    """A multipart form field holding `text` as a UTF-8 CSV file."""
    return {"file": (io.BytesIO(text.encode("utf-8-sig")), name)}


def imports_dir(app) -> Path:
    """Where previewed import files wait for their confirmation."""
    return Path(app.config["INSTANCE_DIR"]) / "imports"


def files_in(path: Path) -> set[Path]:
    """The files in a directory (none when it does not exist)."""
    return set(path.glob("*")) if path.exists() else set()


# ---- places -----------------------------------------------------------------------------


def test_places_page_shows_wgs84_and_gcj02(app, console, world):
    """The places list shows each village's stored WGS-84 centre and its GCJ-02 equivalent."""
    r = console("admin").get("/console/places")
    assert r.status_code == 200
    glat, glng = geo.wgs84_to_gcj02(27.02, 114.88)
    assert "27.020000, 114.880000" in text_of(r)
    assert f"{glat:.6f}, {glng:.6f}" in text_of(r)


@pytest.mark.parametrize(
    "fields",
    [
        {"coords": "27.0161, 114.8803"},
        {"coords": "27.0161,114.8803"},
        {"coords": "27.0161，114.8803"},
        {"coords": "114.8803,27.0161"},
        {"coords": "", "lat": "27.0161", "lng": "114.8803"},
    ],
    ids=["comma-space", "comma", "chinese-comma", "lng-first", "two-fields"],
)
def test_village_create_with_pasted_gcj02_stores_wgs84(app, console, world, fields):
    """A village created with GCJ-02 coordinates, however pasted, is stored as their WGS-84 point."""
    r = post(console("admin"), "/console/places/villages", village_form(world, **fields))
    assert r.status_code == 302, text_of(r)
    village = get(app, Village, code="360821100299")
    expected = geo.gcj02_to_wgs84(*PASTED)
    assert village.lat == pytest.approx(expected[0], abs=1e-9)
    assert village.lng == pytest.approx(expected[1], abs=1e-9)
    assert village.radius_m == 400


def test_village_create_with_wgs84_stores_as_typed(app, console, world):
    """Coordinates marked WGS-84 are stored unchanged."""
    r = post(console("admin"), "/console/places/villages", village_form(world, coord_type="wgs84"))
    assert r.status_code == 302
    village = get(app, Village, code="360821100299")
    assert (village.lat, village.lng) == PASTED


@pytest.mark.parametrize(
    ("coords", "message"),
    [
        ("abc", "无法识别"),
        ("27.0161", "无法识别"),
        ("27.0161, 114.8803, 3", "无法识别"),
        ("95, 200", "纬度必须在 -90 到 90 之间"),
        ("nan, 114.8", "纬度必须是有限的数字"),
    ],
)
def test_village_create_with_bad_coordinates_stores_nothing(app, console, world, coords, message):
    """Bad coordinates re-render the form with a Chinese message and the typed values; nothing is stored."""
    before = count(app, Village)
    r = post(console("admin"), "/console/places/villages", village_form(world, coords=coords))
    assert r.status_code == 400
    assert message in text_of(r)
    assert 'value="新建村"' in text_of(r)
    assert count(app, Village) == before


def test_village_create_with_a_used_code_names_the_code(app, console, world):
    """A village code already in use answers 409 with a Chinese message naming it."""
    r = post(console("admin"), "/console/places/villages", village_form(world, code="360821100201"))
    assert r.status_code == 409
    assert "编码“360821100201”已被使用" in text_of(r)


def test_village_edit_moves_the_centre_from_gcj02(app, console, world):
    """Editing a village with pasted GCJ-02 coordinates stores their WGS-84 point."""
    r = post(
        console("admin"),
        f"/console/places/villages/{world.v1}",
        {
            "township_id": str(world.t1),
            "code": "360821100201",
            "name": "江南村",
            "radius_m": "600",
            "coord_type": "gcj02",
            "coords": "27.0161,114.8803",
        },
    )
    assert r.status_code == 302, text_of(r)
    village = get(app, Village, id=world.v1)
    assert (village.lat, village.lng) == pytest.approx(geo.gcj02_to_wgs84(*PASTED), abs=1e-9)
    assert village.radius_m == 600


def test_village_edit_with_empty_coordinates_keeps_the_centre(app, console, world):
    """Leaving the coordinates empty when editing changes the name but not the centre."""
    r = post(
        console("admin"),
        f"/console/places/villages/{world.v1}",
        {"township_id": str(world.t1), "code": "360821100201", "name": "江南新村", "coord_type": "gcj02", "coords": ""},
    )
    assert r.status_code == 302
    village = get(app, Village, id=world.v1)
    assert (village.name, village.lat, village.lng) == ("江南新村", 27.02, 114.88)


def test_village_edit_with_bad_coordinates_changes_nothing(app, console, world):
    """A bad coordinate on the edit form re-renders it with the error; the name change is not kept."""
    r = post(
        console("admin"),
        f"/console/places/villages/{world.v1}",
        {"township_id": str(world.t1), "code": "360821100201", "name": "改名村", "coords": "27.0, x"},
    )
    assert r.status_code == 400
    assert "无法识别" in text_of(r)
    assert get(app, Village, id=world.v1).name == "江南村"


def test_township_create_without_coordinates(app, console, world):
    """A township may be created without a centre."""
    r = post(console("admin"), "/console/places/townships", {"code": "360821104000", "name": "敦厚镇", "coords": ""})
    assert r.status_code == 302
    township = get(app, Township, code="360821104000")
    assert (township.name, township.lat) == ("敦厚镇", None)


def test_site_create_with_pasted_coordinates(app, console, world):
    """A unit site is created with its GCJ-02 coordinates converted to WGS-84."""
    r = post(
        console("admin"),
        "/console/places/sites",
        {
            "name": "县人民医院",
            "code": "HOSP-1",
            "township_id": "",
            "radius_m": "200",
            "coord_type": "gcj02",
            "coords": "27.0161, 114.8803",
        },
    )
    assert r.status_code == 302, text_of(r)
    site = get(app, Site, code="HOSP-1")
    assert (site.lat, site.lng) == pytest.approx(geo.gcj02_to_wgs84(*PASTED), abs=1e-9)
    assert site.township_id is None


# ---- places import ----------------------------------------------------------------------

CLEAN_CSV = (
    "类型,编码,名称,所属乡镇编码,纬度,经度,坐标系,半径\n"
    "乡镇,360821100000,永阳镇(新名),,,,,\n"
    "村,360821100288,导入村,360821100000,27.0161,114.8803,gcj02,450\n"
    "单位,IMP-1,导入单位,,27.03,114.92,wgs84,\n"
)
BAD_CSV = (
    "类型,编码,名称,所属乡镇编码,纬度,经度,坐标系,半径\n"
    "村,360821100288,导入村,360821100000,27.0161,114.8803,gcj02,450\n"
    "村,123,短编码村,360821100000,27.0,114.8,,\n"
    "\n"
    "村,360821100289,无坐标村,360821100000,,,,\n"
    "城堡,X,奇怪,,27,114,,\n"
)


def test_import_preview_lists_row_errors_and_writes_nothing(app, console, world):
    """A file with bad rows previews every error with its line number, writes nothing and keeps no file."""
    client = console("admin")
    before, kept = count(app, Village), files_in(imports_dir(app))
    r = post(client, "/console/places/import", csv_upload(BAD_CSV), content_type="multipart/form-data")
    assert r.status_code == 400
    page = text_of(r)
    assert "第 3 行:区划代码“123”应为 12 位数字" in page
    assert "第 5 行:缺少经纬度" in page  # line 4 is blank: numbers are the file's own lines
    assert "第 6 行:类型“城堡”无法识别" in page
    assert "第 2 行" not in page
    assert "确认导入" not in page
    assert count(app, Village) == before
    assert files_in(imports_dir(app)) == kept


def test_import_clean_file_previews_then_imports(app, console, world):
    """A clean file previews what it would create or update without writing; confirming imports it."""
    client = console("admin")
    r = post(client, "/console/places/import", csv_upload(CLEAN_CSV), content_type="multipart/form-data")
    assert r.status_code == 200, text_of(r)
    page = text_of(r)
    assert "更新乡镇" in page and "新增村" in page and "新增单位地点" in page
    assert get(app, Village, code="360821100288") is None
    token = TOKEN.search(page).group(1)

    r = post(client, "/console/places/import/confirm", {"token": token, "suffix": ".csv"})
    assert r.status_code == 302
    village = get(app, Village, code="360821100288")
    assert (village.lat, village.lng) == pytest.approx(geo.gcj02_to_wgs84(*PASTED), abs=1e-9)
    assert village.radius_m == 450
    assert get(app, Township, code="360821100000").name == "永阳镇(新名)"
    assert get(app, Site, code="IMP-1") is not None
    assert not any(token in p.name for p in files_in(imports_dir(app)))


def test_import_accepts_xlsx(app, console, world):
    """An Excel workbook previews like a CSV file."""
    wb = Workbook()
    for row in (
        ["类型", "编码", "名称", "所属乡镇编码", "纬度", "经度"],
        ["村", "360821100277", "表格村", "360821100000", 27.0161, 114.8803],
    ):
        wb.active.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    r = post(
        console("admin"), "/console/places/import", {"file": (buf, "places.xlsx")}, content_type="multipart/form-data"
    )
    assert r.status_code == 200, text_of(r)
    assert "表格村" in text_of(r) and "新增村" in text_of(r)


def test_import_refuses_other_file_types(app, console, world):
    """A file that is neither .xlsx nor .csv is refused with a Chinese message."""
    r = post(
        console("admin"), "/console/places/import", csv_upload("x", "places.txt"), content_type="multipart/form-data"
    )
    assert r.status_code == 400
    assert "只支持 .xlsx 或 .csv 文件" in text_of(r)


def test_import_confirm_of_an_unknown_token_asks_for_the_file_again(app, console, world):
    """Confirming a preview that is not there (expired, other machine) imports nothing and asks again."""
    client = console("admin")
    r = post(client, "/console/places/import/confirm", {"token": "A" * 22, "suffix": ".csv"})
    assert r.status_code == 302
    assert r.headers["Location"].endswith("/console/places/import")
    assert "重新上传" in text_of(client.get("/console/places/import"))


# ---- projects ---------------------------------------------------------------------------


def project_form(world, **extra) -> dict:
    """A valid new-project form at the first village."""
    return {
        "title": "油茶低改",
        "year": "2026",
        "domain": "农村",
        "place_kind": "village",
        "village_ids": [str(world.v1), str(world.v2)],
        "secretary_id": str(world.ids["secretary"]),
        "responsible_0": "李县长",
        "responsible_1": "王书记",
        # 联系组工干部 is a staff account (a select), not text: services/cadres.py
        "liaison_cadre_id": str(world.ids["reviewer1"]),
        "responsible_3": "村两委 5 人",
        "steps": "完成选址 | 2026-05-31 | 张三\n\n苗木采购 | 2026/7/1 | 李四 | 已完成\n验收",
        "targets": "低改 300 亩\n带动 40 户增收",
        **extra,
    }


def test_project_create_shows_steps_and_responsible_on_the_public_record(app, client, console, world):
    """A project created in the console publishes its steps, targets and four responsible people."""
    r = post(console("admin"), "/console/projects/new", project_form(world))
    assert r.status_code == 302, text_of(r)
    project = get(app, Project, title="油茶低改")
    assert project.secretary_id == world.ids["secretary"]
    record = client.get(f"/api/v1/public/projects/{project.id}").get_json()
    assert record["steps"] == [
        {"name": "完成选址", "deadline": "2026-05-31", "responsible": "张三", "status": ""},
        {"name": "苗木采购", "deadline": "2026-07-01", "responsible": "李四", "status": "已完成"},
        {"name": "验收", "deadline": "", "responsible": "", "status": ""},
    ]
    assert record["targets"] == ["低改 300 亩", "带动 40 户增收"]
    assert record["responsible"] == {
        "主管领导": "李县长",
        "牵头书记": "王书记",
        "联系组工干部": "reviewer1",
        "工作队伍": "村两委 5 人",
    }
    assert project.liaison_cadre_id == world.ids["reviewer1"]
    assert {p["name"] for p in record["places"]} == {"江南村", "大栗村"}


def test_project_create_at_a_unit_site(app, console, world):
    """A project can be placed at an existing unit site instead of villages."""
    with app.app_context():
        site_id = db.session.scalar(select(Site.id))
    r = post(
        console("admin"),
        "/console/projects/new",
        project_form(world, place_kind="site", site_id=str(site_id), domain="非公企业"),
    )
    assert r.status_code == 302, text_of(r)
    project = get(app, Project, title="油茶低改")
    assert project.site_id == site_id


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("steps", "完成选址 | 2026-02-30 | 张三", "实施步骤第 1 行的截止日期“2026-02-30”无效"),
        ("steps", "a | b | c | d | e", "最多 4 栏"),
        ("village_ids", [], "至少选择一个村"),
        ("secretary_id", "WORLD_INSPECTOR", "所选人员不是有效的项目书记"),
        ("year", "1999", "年度应在 2000 到 2100 之间"),
    ],
)
def test_project_create_with_bad_input_stores_nothing(app, console, world, field, value, message):
    """A bad field re-renders the project form with a Chinese message; no project is created."""
    if value == "WORLD_INSPECTOR":
        value = str(world.ids["insp_a"])
    before = count(app, Project)
    r = post(console("admin"), "/console/projects/new", project_form(world, **{field: value}))
    assert r.status_code == 400
    assert message in text_of(r)
    assert count(app, Project) == before


def test_project_edit_form_shows_steps_one_per_line(app, console, world):
    """The edit form gives the steps back in the line format it accepts."""
    client = console("admin")
    post(client, "/console/projects/new", project_form(world))
    project = get(app, Project, title="油茶低改")
    page = text_of(client.get(f"/console/projects/{project.id}"))
    assert "完成选址 | 2026-05-31 | 张三\n苗木采购 | 2026-07-01 | 李四 | 已完成\n验收" in page


def test_project_edit_changes_the_secretary(app, console, world):
    """Saving a project with no secretary clears it (a status in the form is ignored); the change is audited."""
    client = console("admin")
    post(client, "/console/projects/new", project_form(world))
    project = get(app, Project, title="油茶低改")
    r = post(client, f"/console/projects/{project.id}", project_form(world, secretary_id="", status="accepted"))
    assert r.status_code == 302, text_of(r)
    project = get(app, Project, id=project.id)
    assert (project.secretary_id, project.status) == (None, "in_progress")
    with app.app_context():
        entries = db.session.scalars(
            select(AuditEntry).where(
                AuditEntry.object_type == "project",
                AuditEntry.object_id == str(project.id),
                AuditEntry.action == "project.update",
            )
        ).all()
    assert any("secretary_id" in e.data["fields"] for e in entries)


def test_project_form_sets_and_clears_the_album_policy(app, client, console, world):
    """The 允许从相册选择照片 box turns the album on; saving the form without it turns it off again."""
    admin = console("admin")
    page = text_of(admin.get("/console/projects/new"))
    assert 'name="allow_album"' in page and "允许从相册选择照片" in page and "无法证明拍摄的时间和地点" in page
    assert post(admin, "/console/projects/new", project_form(world, allow_album="1")).status_code == 302
    project = get(app, Project, title="油茶低改")
    assert project.allow_album is True
    assert client.get(f"/api/v1/public/projects/{project.id}").get_json()["allow_album"] is True
    edit = text_of(admin.get(f"/console/projects/{project.id}"))
    assert re.search(r'<input type="checkbox" name="allow_album" value="1" checked>', edit)
    assert post(admin, f"/console/projects/{project.id}", project_form(world)).status_code == 302
    assert get(app, Project, id=project.id).allow_album is False
    assert client.get(f"/api/v1/public/projects/{project.id}").get_json()["allow_album"] is False
    assert not re.search(r'name="allow_album" value="1" checked', text_of(admin.get(f"/console/projects/{project.id}")))
    with app.app_context():
        changes = [
            e.data.get("allow_album")
            for e in db.session.scalars(
                select(AuditEntry)
                .where(AuditEntry.object_type == "project", AuditEntry.object_id == str(project.id))
                .order_by(AuditEntry.id)
            )
        ]
    assert changes == [True, False]


def test_project_form_without_the_box_stays_camera_only(app, console, world):
    """A project added without ticking the box takes photos from the camera only."""
    assert post(console("admin"), "/console/projects/new", project_form(world)).status_code == 302
    assert get(app, Project, title="油茶低改").allow_album is False


@pytest.mark.parametrize("username", ["leader", "reviewer1"])
def test_reviewer_cannot_allow_the_album_in_the_console(app, console, world, username):
    """Posting the project form with the box ticked as a reviewer or leader answers 403; nothing changes."""
    r = post(console(username), f"/console/projects/{world.p1}", project_form(world, allow_album="1"))
    assert r.status_code == 403
    assert get(app, Project, id=world.p1).allow_album is False


def test_project_update_appears_on_the_public_record(app, client, console, world):
    """A progress update published in the console is on the project's public record."""
    r = post(console("admin"), f"/console/projects/{world.p1}/updates", {"text": "已完成蜜柚基地选址"})
    assert r.status_code == 302
    record = client.get(f"/api/v1/public/projects/{world.p1}").get_json()
    assert record["updates"][0]["text"] == "已完成蜜柚基地选址"


def test_empty_project_update_is_refused(app, console, world):
    """An empty progress update re-renders the page with the service's Chinese message."""
    r = post(console("admin"), f"/console/projects/{world.p1}/updates", {"text": "  "})
    assert r.status_code == 400
    assert "请填写进展内容" in text_of(r)


# ---- users ------------------------------------------------------------------------------


def test_user_create_shows_an_invite_code_that_binds(app, client, console, world, fake_wechat):
    """Creating an account shows its invite code once (not cached); the code binds a WeChat user to it."""
    r = post(
        console("admin"),
        "/console/users",
        {
            "name": "周督查",
            "username": "zhou",
            "roles": ["inspector"],
            "home_township_id": str(world.t2),
            "township_ids": [str(world.t1)],
            "password": "",
            "issue_invite": "1",
        },
    )
    assert r.status_code == 200, text_of(r)
    assert r.headers["Cache-Control"] == "no-store"
    assert "只显示这一次" in text_of(r)
    code = INVITE.search(text_of(r)).group(1)
    user = get(app, User, username="zhou")
    with app.app_context():
        assert user.invite_code_hash == invite_code_hash(code)

    villager = client.post("/api/v1/auth/wechat", json={"code": fake_wechat.code_for("openid-zhou")}).get_json()
    bound = Api(client, villager["token"]).post("/api/v1/auth/bind", {"invite_code": code})
    assert bound.status_code == 200, bound.get_json()
    assert bound.get_json()["user"]["id"] == user.id
    assert bound.get_json()["user"]["roles"] == ["inspector"]


def test_user_create_with_a_password_can_log_in(app, console, world):
    """An account created with a username and password logs in to the console."""
    post(
        console("admin"),
        "/console/users",
        {"name": "钱领导", "username": "qian", "roles": ["leader"], "password": "qian-password"},
    )
    assert login(app.test_client(), "qian", "qian-password").get("/console/places").status_code == 200


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "重名", "username": "insp_a", "roles": ["inspector"]}, "用户名“insp_a”已被使用"),
        ({"name": "无角色", "username": "norole"}, "请至少选择一个角色"),
        ({"name": "短密码", "username": "shortpw", "roles": ["leader"], "password": "1234"}, "密码至少 8 位"),
        ({"name": "无用户名", "roles": ["leader"], "password": "long-enough-1"}, "设置密码需要同时填写用户名"),
        ({"name": "怪名", "username": "张三", "roles": ["leader"]}, "用户名只能由字母"),
        ({"name": "群众", "roles": ["villager"]}, "角色不正确"),
    ],
)
def test_user_create_with_bad_input_stores_nothing(app, console, world, form, message):
    """A bad account form re-renders with a Chinese message and creates nobody."""
    before = count(app, User)
    r = post(console("admin"), "/console/users", form)
    assert r.status_code in (400, 409)
    assert message in text_of(r)
    assert count(app, User) == before


def test_reset_invite_replaces_the_old_code(app, console, world):
    """Resetting an invite shows a new code; only the new one matches the stored hash."""
    r = post(console("admin"), f"/console/users/{world.ids['insp_a']}/invite")
    assert r.status_code == 200
    code = INVITE.search(text_of(r)).group(1)
    stored = get(app, User, id=world.ids["insp_a"]).invite_code_hash
    with app.app_context():
        assert stored == invite_code_hash(code)
        assert stored != invite_code_hash(world.invite_a)


def test_reset_invite_of_a_bound_account_is_refused(app, console, world):
    """An account already bound to WeChat gets no new invite code."""
    with app.app_context():
        db.session.get(User, world.ids["insp_b"]).openid = "openid-insp-b"
        db.session.commit()
    r = post(console("admin"), f"/console/users/{world.ids['insp_b']}/invite")
    assert r.status_code == 302
    assert get(app, User, id=world.ids["insp_b"]).invite_code_hash is None
    assert INVITE.search(text_of(r)) is None


def test_invites_only_for_miniprogram_accounts_and_only_when_asked(app, console, world):
    """Without the box ticked no code is made; a leader gets none even when asked; the list offers
    the button for inspectors and secretaries only."""
    admin = console("admin")
    r = post(admin, "/console/users", {"name": "孙督查", "username": "sun", "roles": ["inspector"]})
    assert r.status_code == 302 and get(app, User, username="sun").invite_code_hash is None
    r = post(admin, "/console/users", {"name": "钱领导", "username": "qian2", "roles": ["leader"], "issue_invite": "1"})
    assert r.status_code == 409 and "不发邀请码" in text_of(r)
    assert get(app, User, username="qian2") is None
    r = post(admin, f"/console/users/{world.ids['leader']}/invite")
    assert r.status_code == 302 and get(app, User, id=world.ids["leader"]).invite_code_hash is None
    page = text_of(admin.get("/console/users"))
    for key, offered in (("insp_b", True), ("secretary", True), ("leader", False), ("reviewer1", False)):
        assert (f'/console/users/{world.ids[key]}/invite"' in page) is offered, key


def test_deactivate_user_signs_them_out(app, console, world):
    """Deactivating an account ends its console session."""
    leader = console("leader")
    r = post(console("admin"), f"/console/users/{world.ids['leader']}/active", {"active": "0"})
    assert r.status_code == 302
    assert get(app, User, id=world.ids["leader"]).active is False
    assert leader.get("/console/places").status_code == 302


def test_admin_cannot_deactivate_themselves(app, console, world):
    """An admin's own deactivation is refused, so the console is never left without its admin."""
    r = post(console("admin"), f"/console/users/{world.ids['admin']}/active", {"active": "0"})
    assert r.status_code == 409
    assert "不能停用自己的账号" in text_of(r)
    assert get(app, User, id=world.ids["admin"]).active is True


def test_user_edit_changes_roles_and_scope(app, console, world):
    """Editing an account changes its roles, scope and home township."""
    r = post(
        console("admin"),
        f"/console/users/{world.ids['reviewer1']}",
        {
            "name": "审核一",
            "username": "reviewer1",
            "roles": ["reviewer", "inspector"],
            "township_ids": [str(world.t1), str(world.t2)],
            "home_township_id": str(world.t2),
        },
    )
    assert r.status_code == 302, text_of(r)
    with app.app_context():
        user = db.session.get(User, world.ids["reviewer1"])
        assert (user.name, user.roles, user.home_township_id) == ("审核一", ["inspector", "reviewer"], world.t2)
        assert {t.id for t in user.townships} == {world.t1, world.t2}


# ---- assignments ------------------------------------------------------------------------


def test_assignment_create(app, console, world):
    """An admin sends inspectors to a project's village with a due date and check items."""
    r = post(
        console("admin"),
        "/console/assignments",
        {
            "project_id": str(world.p1),
            "village_id": str(world.v1),
            "inspector_ids": [str(world.ids["insp_b"])],
            "due_date": "2026-06-30",
            "check_items": "公示栏是否张贴\n\n  群众是否知晓  ",
        },
    )
    assert r.status_code == 302, text_of(r)
    with app.app_context():
        a = db.session.scalars(select(Assignment).order_by(Assignment.id.desc())).first()
        assert (a.project_id, a.village_id, a.due_date.isoformat()) == (world.p1, world.v1, "2026-06-30")
        assert [m.id for m in a.members] == [world.ids["insp_b"]]
        assert a.check_items == ["公示栏是否张贴", "群众是否知晓"]


def test_assignment_in_the_inspectors_own_township_is_refused(app, console, world):
    """Sending an inspector to their home township shows the recusal message naming them; nothing is stored."""
    before = count(app, Assignment)
    r = post(
        console("admin"),
        "/console/assignments",
        {"project_id": str(world.p1), "inspector_ids": [str(world.ids["insp_c"])], "check_items": ""},
    )
    assert r.status_code == 409
    assert "督查人员不能督查本人所在乡镇(回避):insp_c" in text_of(r)
    assert count(app, Assignment) == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"village_id": "WORLD_V2"}, "该村不在项目的实施范围内"),
        ({"inspector_ids": []}, "请至少选择一名督查人员"),
        ({"due_date": "2026-13-01"}, "截止日期“2026-13-01”不是有效日期"),
        ({"check_items": "一\n一"}, "督查事项有重复"),
        ({"inspector_ids": ["WORLD_LEADER"]}, "所选人员不是有效的督查人员"),
    ],
)
def test_assignment_create_with_bad_input_stores_nothing(app, console, world, extra, message):
    """Service and form errors show in Chinese and create no assignment."""
    form = {"project_id": str(world.p1), "inspector_ids": [str(world.ids["insp_a"])], **extra}
    if form.get("village_id") == "WORLD_V2":
        form["village_id"] = str(world.v2)
    if form["inspector_ids"] == ["WORLD_LEADER"]:
        form["inspector_ids"] = [str(world.ids["leader"])]
    before = count(app, Assignment)
    r = post(console("admin"), "/console/assignments", form)
    assert r.status_code == 400
    assert message in text_of(r)
    assert count(app, Assignment) == before


def test_assignment_edit_closes_it(app, console, world):
    """Editing an assignment changes its team and status; unchanged items are not resent."""
    r = post(
        console("admin"),
        f"/console/assignments/{world.a1}",
        {
            "inspector_ids": [str(world.ids["insp_a"])],
            "status": "closed",
            "due_date": "",
            "check_items": "公示栏是否张贴\n进度是否符合计划",
        },
    )
    assert r.status_code == 302, text_of(r)
    with app.app_context():
        a = db.session.get(Assignment, world.a1)
        assert (a.status, a.due_date, [m.id for m in a.members]) == ("closed", None, [world.ids["insp_a"]])
        assert a.closed_at is not None


def test_assignment_evidence_policy_is_set_and_cleared_in_the_form(app, console, world):
    """The edit form overrides the minimum photos and interviews; left empty, the defaults come back."""
    admin = console("admin")
    form = {
        "inspector_ids": [str(world.ids["insp_a"])],
        "status": "open",
        "due_date": "",
        "check_items": "公示栏是否张贴\n进度是否符合计划",
    }
    assert (
        post(admin, f"/console/assignments/{world.a1}", {**form, "min_photos": "3", "min_interviews": "0"}).status_code
        == 302
    )
    with app.app_context():
        a = db.session.get(Assignment, world.a1)
        assert (a.min_photos, a.min_interviews) == (3, 0)
    page = text_of(admin.get(f"/console/assignments/{world.a1}"))
    assert 'name="min_photos" min="0" max="50" value="3"' in page
    r = post(admin, f"/console/assignments/{world.a1}", {**form, "min_photos": "99"})
    assert r.status_code == 400 and "至少照片数应在 0 到 50 之间" in text_of(r)
    assert (
        post(admin, f"/console/assignments/{world.a1}", {**form, "min_photos": "", "min_interviews": ""}).status_code
        == 302
    )
    with app.app_context():
        a = db.session.get(Assignment, world.a1)
        assert (a.min_photos, a.min_interviews) == (None, None)


def test_reviewer_sees_only_closed_assignments_of_their_townships(app, console, world):
    """Open assignments stay hidden from reviewers; closed ones in their townships are listed."""
    post(
        console("admin"),
        f"/console/assignments/{world.a1}",
        {
            "inspector_ids": [str(world.ids["insp_a"])],
            "status": "closed",
            "check_items": "公示栏是否张贴\n进度是否符合计划",
        },
    )
    page = text_of(console("reviewer1").get("/console/assignments"))
    assert "蜜柚产业项目" in page  # a1, closed, in t1
    assert "旱厕改造" not in page.split("<table>")[1]  # a2 is open and in t2
    assert "高新区党群服务中心" not in page  # a3 is open


# ---- access -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/console/places", "/console/projects", "/console/users", "/console/assignments"])
@pytest.mark.parametrize("username", ["leader", "reviewer1"])
def test_leader_and_reviewer_read_the_lists_without_forms(app, console, world, path, username):
    """Leaders and reviewers read the lists; the create forms are not shown to them."""
    r = console(username).get(path)
    assert r.status_code == 200
    assert 'method="post" action="/console/' not in text_of(r).split("</header>")[1]


WRITES = [
    ("/console/places/villages", {"coords": "27,114"}),
    ("/console/places/townships/{t1}", {}),
    ("/console/places/import", {}),
    ("/console/projects/new", {}),
    ("/console/projects/{p1}/updates", {"text": "x"}),
    ("/console/users", {"name": "x", "roles": ["admin"]}),
    ("/console/users/{insp_a}/invite", {}),
    ("/console/users/{insp_a}/active", {"active": "0"}),
    ("/console/assignments", {}),
    ("/console/assignments/{a1}", {"status": "closed"}),
]


@pytest.mark.parametrize(("path", "form"), WRITES)
@pytest.mark.parametrize("username", ["leader", "reviewer1"])
def test_leader_and_reviewer_writes_are_forbidden(app, console, world, path, form, username):
    """A POST by a leader or a reviewer answers 403 and changes nothing."""
    url = path.format(t1=world.t1, p1=world.p1, a1=world.a1, insp_a=world.ids["insp_a"])
    before = (count(app, User), count(app, Assignment), count(app, AuditEntry))
    r = post(console(username), url, form)
    assert r.status_code == 403
    assert (count(app, User), count(app, Assignment), count(app, AuditEntry)) == before


def test_post_without_csrf_token_is_refused(app, console, world):
    """A form posted without the session's CSRF token answers 400 and stores nothing."""
    before = count(app, Village)
    r = console("admin").post("/console/places/villages", data=village_form(world))
    assert r.status_code == 400
    assert count(app, Village) == before


@pytest.mark.parametrize(
    "path",
    [
        "/console/places",
        "/console/places/import",
        "/console/projects",
        "/console/projects/new",
        "/console/users",
        "/console/assignments",
    ],
)
def test_pages_need_a_login(client, world, path):
    """Without a session every page redirects to the login form."""
    r = client.get(path)
    assert r.status_code == 302
    assert "/console/login" in r.headers["Location"]
