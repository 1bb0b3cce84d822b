"""Command-line tasks: init-db, create-user, import-places, demo-data."""

import math
import re

import pytest
from openpyxl import Workbook
from sqlalchemy import create_engine, func, inspect, select, text

from server import create_app, geo
from server.auth import invite_code_hash
from server.db import db
from server.models import Assignment, AuditEntry, Project, Site, Township, User, Village
from server.services import audit
from tests.conftest import SECRET

INVITE = re.compile(r"invite code: ([2-9A-Z]{4}-[2-9A-Z]{4})")
CN_HEADER = ["类型", "编码", "名称", "所属乡镇编码", "纬度", "经度", "坐标系", "半径"]
EN_HEADER = ["type", "code", "name", "township_code", "lat", "lng", "coord_type", "radius_m"]
# GCJ-02 points as read off a Chinese map.
PLACES = [
    ["乡镇", "360821104000", "万福镇", "", "26.9702", "114.9915", "gcj02", ""],
    ["村", "360821104201", "许家村", "360821104000", "26.9766", "115.0031", "gcj02", "700"],
    ["行政村", "360821104202", "万福村", "360821104000", "26.9650", "114.9850", "", ""],
    ["单位", "XRMYY", "县人民医院", "360821104000", "27.0500", "114.9500", "GCJ02", "300"],
]


def invoke(app, *args):
    """Run a CLI command of the app as `flask <args>` would."""
    return app.test_cli_runner().invoke(args=list(args))


def failed_cleanly(result) -> bool:
    """True when the command exited 1 on purpose (CliRunner also answers 1 for a crash)."""
    return result.exit_code == 1 and isinstance(result.exception, SystemExit)


def write_csv(path, header, rows, encoding="utf-8-sig"):
    """A CSV file as Excel saves it (UTF-8 with BOM by default); answers its path."""
    lines = [",".join(header)] + [",".join(r) for r in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def _number(cell: str):
    """A cell typed as a number when it reads as a finite one, else the text as typed."""
    try:
        value = float(cell)
    except ValueError:
        return cell
    return value if math.isfinite(value) else cell


def write_xlsx(path, header, rows):
    """An XLSX file with one sheet; numbers are stored as numbers, as a spreadsheet would."""
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append([_number(c) if i in (4, 5, 7) else c for i, c in enumerate(r)])
    wb.save(path)
    return path


def counts(app) -> tuple[int, int, int]:
    """How many townships, villages and sites are stored."""
    with app.app_context():
        return tuple(db.session.scalar(select(func.count(m.id))) for m in (Township, Village, Site))


def audit_count(app) -> int:
    """How many audit entries are stored."""
    with app.app_context():
        return db.session.scalar(select(func.count(AuditEntry.id)))


# ---- init-db -------------------------------------------------------------------------------


def test_init_db_is_idempotent(tmp_path):
    """init-db migrates a fresh SQLite file and running it again changes nothing."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    app = create_app(
        {
            "SECRET_KEY": SECRET,
            "DATABASE_URL": url,
            "STORAGE_BACKEND": "local",
            "STORAGE_DIR": str(tmp_path / "storage"),
            "WECHAT_APPID": "",
            "LOG_LEVEL": "WARNING",
        }
    )
    try:
        for _ in range(2):
            result = invoke(app, "init-db")
            assert result.exit_code == 0, result.output
            assert "数据库已是最新结构" in result.output
        engine = create_engine(url)
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            heads = conn.execute(text("SELECT chain, seq, hash FROM audit_head ORDER BY chain")).all()
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        engine.dispose()
        assert {"users", "townships", "villages", "visits", "audit_log", "audit_head"} <= tables
        # The first county's chain and the deployment's (chain 0), each at its start.
        assert heads == [(0, 0, "0" * 64), (1, 0, "0" * 64)]
        assert len(versions) == 1
    finally:
        app.extensions["db"]["engine"].dispose()


@pytest.mark.both_databases
def test_init_db_on_a_migrated_database(app):
    """init-db on an already migrated database (SQLite or MariaDB) succeeds and keeps the data."""
    with app.app_context():
        audit.append(db.session, None, "test.marker", "test", 1, {})
        db.session.commit()
    result = invoke(app, "init-db")
    assert result.exit_code == 0, result.output
    assert audit_count(app) == 1


# ---- create-user ---------------------------------------------------------------------------


def test_create_user(app, client, world):
    """create-user makes the account with its roles and township scope and, with --invite, prints a working code."""
    result = invoke(
        app,
        "create-user",
        "--username",
        "u",
        "--password",
        "p",
        "--role",
        "inspector",
        "--township",
        "360821100000",
        "--home-township",
        "360821103000",
        "--name",
        "新督查",
        "--invite",
    )
    assert result.exit_code == 0, result.output
    code = INVITE.search(result.output).group(1)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "u"))
        assert (user.name, user.roles) == ("新督查", ["inspector"])
        assert [t.id for t in user.townships] == [world.t1] and user.home_township_id == world.t2
        assert user.invite_code_hash == invite_code_hash(code)
    r = client.post("/api/v1/auth/login", json={"username": "u", "password": "p"})
    assert r.status_code == 200


def test_create_user_issues_invites_on_demand_to_miniprogram_accounts_only(app, world):
    """Without --invite no code is issued; --invite for an admin is refused, nothing created."""
    plain = invoke(app, "create-user", "--username", "w", "--role", "inspector")
    assert plain.exit_code == 0 and "invite code" not in plain.output
    refused = invoke(app, "create-user", "--username", "boss", "--role", "admin", "--invite")
    assert refused.exit_code != 0 and "邀请码" in refused.output
    with app.app_context():
        assert db.session.scalar(select(User.invite_code_hash).where(User.username == "w")) is None
        assert db.session.scalar(select(User.id).where(User.username == "boss")) is None


def test_create_user_with_several_roles(app, world):
    """--role is repeatable."""
    result = invoke(app, "create-user", "--username", "multi", "--role", "reviewer", "--role", "leader")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "multi")).roles == ["leader", "reviewer"]


@pytest.mark.parametrize("option", ["--township", "--home-township"])
def test_create_user_with_unknown_township(app, world, option):
    """An unknown township code exits 1 with a message naming it and creates no one."""
    result = invoke(app, "create-user", "--username", "u", "--role", "inspector", option, "999999999999")
    assert failed_cleanly(result), result.exception
    assert "999999999999" in result.output
    with app.app_context():
        assert db.session.scalar(select(User).where(User.username == "u")) is None


@pytest.mark.both_databases
def test_create_user_with_taken_username(app, world):
    """A username already in use exits 1 with the service's Chinese message."""
    result = invoke(app, "create-user", "--username", "insp_a", "--role", "inspector")
    assert failed_cleanly(result), result.exception
    assert "已存在" in result.output


def test_create_user_with_unknown_role(app, world):
    """An unknown role exits 1 naming it."""
    result = invoke(app, "create-user", "--username", "x", "--role", "boss")
    assert failed_cleanly(result), result.exception
    assert "boss" in result.output


# ---- import-places -------------------------------------------------------------------------


def _assert_imported(app):
    """The PLACES rows are stored, converted from GCJ-02 to WGS-84 and linked to their township."""
    with app.app_context():
        s = db.session
        t = s.scalar(select(Township).where(Township.code == "360821104000"))
        assert t.name == "万福镇"
        assert (t.lat, t.lng) == pytest.approx(geo.gcj02_to_wgs84(26.9702, 114.9915), abs=1e-9)
        v = s.scalar(select(Village).where(Village.code == "360821104201"))
        assert (v.name, v.township_id, v.radius_m) == ("许家村", t.id, 700)
        assert (v.lat, v.lng) == pytest.approx(geo.gcj02_to_wgs84(26.9766, 115.0031), abs=1e-9)
        v2 = s.scalar(select(Village).where(Village.code == "360821104202"))
        assert v2.radius_m == 500  # default geofence; coord_type left empty means GCJ-02
        assert (v2.lat, v2.lng) == pytest.approx(geo.gcj02_to_wgs84(26.9650, 114.9850), abs=1e-9)
        site = s.scalar(select(Site).where(Site.code == "XRMYY"))
        assert (site.name, site.township_id, site.radius_m) == ("县人民医院", t.id, 300)
        assert (site.lat, site.lng) == pytest.approx(geo.gcj02_to_wgs84(27.05, 114.95), abs=1e-9)


def test_import_csv_with_bom_and_chinese_headers(app, tmp_path):
    """A UTF-8 CSV with BOM and Chinese headers imports townships, villages and sites in WGS-84."""
    path = write_csv(tmp_path / "places.csv", CN_HEADER, PLACES)
    result = invoke(app, "import-places", str(path))
    assert result.exit_code == 0, result.output
    assert "imported: 1 townships, 2 villages, 1 sites" in result.output
    assert counts(app) == (1, 2, 1)
    _assert_imported(app)


def test_import_csv_with_english_headers_and_wgs84(app, tmp_path):
    """English headers and type words work, and points marked wgs84 are stored as given."""
    rows = [
        ["township", "360821104000", "万福镇", "", "", "", "", ""],
        ["village", "360821104201", "许家村", "360821104000", "26.97", "115.0", "wgs84", "650"],
        ["site", "", "某企业", "", "27.05", "114.95", "WGS84", ""],
    ]
    path = write_csv(tmp_path / "places.csv", EN_HEADER, rows, encoding="utf-8")
    result = invoke(app, "import-places", str(path))
    assert result.exit_code == 0, result.output
    with app.app_context():
        t = db.session.scalar(select(Township))
        v = db.session.scalar(select(Village))
        site = db.session.scalar(select(Site))
        assert (t.lat, t.lng) == (None, None)
        assert (v.lat, v.lng, v.radius_m, v.township_id) == (26.97, 115.0, 650, t.id)
        assert (site.code, site.township_id, site.lat, site.lng) == (None, None, 27.05, 114.95)


def test_import_gbk_csv(app, tmp_path):
    """A CSV saved as GBK by Excel on Chinese Windows is read too."""
    path = write_csv(tmp_path / "places.csv", CN_HEADER, PLACES, encoding="gbk")
    result = invoke(app, "import-places", str(path))
    assert result.exit_code == 0, result.output
    _assert_imported(app)


def test_import_xlsx(app, tmp_path):
    """An XLSX workbook with numeric coordinates imports like the CSV."""
    path = write_xlsx(tmp_path / "places.xlsx", CN_HEADER, PLACES)
    result = invoke(app, "import-places", str(path))
    assert result.exit_code == 0, result.output
    assert counts(app) == (1, 2, 1)
    _assert_imported(app)


def test_import_is_audited(app, tmp_path):
    """An import appends one places.import entry with its counts."""
    invoke(app, "import-places", str(write_csv(tmp_path / "p.csv", CN_HEADER, PLACES)))
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry)).all()
        assert [(e.action, e.data) for e in entries] == [("places.import", {"townships": 1, "villages": 2, "sites": 1})]


@pytest.mark.both_databases
def test_reimport_updates_by_code(app, tmp_path):
    """Importing again updates the rows with the same codes instead of adding duplicates."""
    invoke(app, "import-places", str(write_csv(tmp_path / "first.csv", CN_HEADER, PLACES)))
    changed = [r.copy() for r in PLACES]
    changed[1][2], changed[1][4], changed[1][7] = "许家新村", "26.9800", "900"
    changed[3][2] = "县第一人民医院"
    result = invoke(app, "import-places", str(write_xlsx(tmp_path / "second.xlsx", CN_HEADER, changed)))
    assert result.exit_code == 0, result.output
    assert counts(app) == (1, 2, 1)
    with app.app_context():
        v = db.session.scalar(select(Village).where(Village.code == "360821104201"))
        assert (v.name, v.radius_m) == ("许家新村", 900)
        assert v.lat == pytest.approx(geo.gcj02_to_wgs84(26.98, 115.0031)[0], abs=1e-9)
        assert db.session.scalar(select(Site.name).where(Site.code == "XRMYY")) == "县第一人民医院"


def test_import_updates_places_made_through_the_api(app, world, tmp_path):
    """A row with the code of an existing village renames it in place."""
    rows = [["村", "360821100201", "江南村(新)", "360821100000", "27.02", "114.88", "wgs84", ""]]
    result = invoke(app, "import-places", str(write_csv(tmp_path / "p.csv", CN_HEADER, rows)))
    assert result.exit_code == 0, result.output
    with app.app_context():
        v = db.session.get(Village, world.v1)
        assert (v.name, v.radius_m) == ("江南村(新)", 500)
        assert db.session.scalar(select(func.count(Village.id))) == 2


BAD_ROWS = [
    ["乡镇", "360821104000", "万福镇", "", "26.9702", "114.9915", "gcj02", ""],
    ["村", "36082110420", "短码村", "360821104000", "26.97", "115.0", "", ""],
    ["村", "360821104203", "孤村", "360821999000", "26.97", "115.0", "", ""],
    ["村", "360821104204", "极地村", "360821104000", "200", "115.0", "", ""],
    ["村", "360821104205", "小圈村", "360821104000", "26.97", "115.0", "", "5"],
    ["单位", "", "名" * 129, "", "27.0", "114.9", "", ""],
    ["村", "360821104206", "好村", "360821104000", "26.97", "115.0", "", "inf"],
]


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_import_with_bad_rows_writes_nothing(app, tmp_path, suffix):
    """Any bad row refuses the whole file: exit 1, each bad row named with a Chinese reason, nothing stored."""
    writer = write_csv if suffix == "csv" else write_xlsx
    path = writer(tmp_path / f"bad.{suffix}", CN_HEADER, BAD_ROWS)
    result = invoke(app, "import-places", str(path))
    assert failed_cleanly(result), result.exception
    out = result.output
    assert "第 3 行:区划代码“36082110420”应为 12 位数字" in out
    assert "第 4 行:找不到所属乡镇编码“360821999000”" in out
    assert "第 5 行:纬度必须在 -90 到 90 之间" in out
    assert "第 6 行:半径" in out
    assert "第 7 行:名称最多 128 个字" in out
    assert "第 8 行:半径“inf”不是数字" in out
    assert "第 2 行" not in out
    assert "6 行有错误,未导入任何数据" in out
    assert counts(app) == (0, 0, 0)
    assert audit_count(app) == 0


def test_import_error_row_numbers_count_blank_lines(app, tmp_path):
    """Row numbers in errors are the file's own lines, even after blank lines."""
    path = tmp_path / "gaps.csv"
    path.write_text(
        "类型,编码,名称,所属乡镇编码,纬度,经度\n\n乡镇,360821104000,万福镇,,,\n,,,,,\n"
        "村,360821104201,许家村,360821104000,abc,115.0\n",
        encoding="utf-8-sig",
    )
    result = invoke(app, "import-places", str(path))
    assert failed_cleanly(result), result.exception
    assert "第 5 行:纬度“abc”不是数字" in result.output


def test_import_village_without_coordinates(app, tmp_path):
    """A village row without a centre is refused: the geofence needs one."""
    rows = [
        ["乡镇", "360821104000", "万福镇", "", "", "", "", ""],
        ["村", "360821104201", "许家村", "360821104000", "", "", "", ""],
    ]
    result = invoke(app, "import-places", str(write_csv(tmp_path / "p.csv", CN_HEADER, rows)))
    assert failed_cleanly(result), result.exception
    assert "第 3 行:缺少经纬度" in result.output


def test_import_with_unknown_type(app, tmp_path):
    """A row whose type is neither 乡镇, 村 nor 单位 is refused."""
    rows = [["县", "360821000000", "吉安县", "", "", "", "", ""]]
    result = invoke(app, "import-places", str(write_csv(tmp_path / "p.csv", CN_HEADER, rows)))
    assert failed_cleanly(result), result.exception
    assert "第 2 行:类型“县”无法识别" in result.output


def test_import_without_required_columns(app, tmp_path):
    """A header without the code column stops with a Chinese message and no traceback."""
    path = write_csv(tmp_path / "p.csv", ["类型", "名称"], [["乡镇", "万福镇"]])
    result = invoke(app, "import-places", str(path))
    assert failed_cleanly(result), result.exception
    assert "表头缺少列:code" in result.output


def test_import_of_other_file_types(app, tmp_path):
    """A file that is neither CSV nor XLSX is refused with a Chinese message."""
    path = tmp_path / "places.txt"
    path.write_text("类型,编码,名称\n", encoding="utf-8")
    result = invoke(app, "import-places", str(path))
    assert failed_cleanly(result), result.exception
    assert "只支持 .xlsx 或 .csv 文件" in result.output


def test_import_dry_run_writes_nothing(app, tmp_path):
    """--dry-run checks every row, reports what it would import and stores nothing."""
    result = invoke(app, "import-places", "--dry-run", str(write_csv(tmp_path / "p.csv", CN_HEADER, PLACES)))
    assert result.exit_code == 0, result.output
    assert "would import: 1 townships, 2 villages, 1 sites" in result.output
    assert counts(app) == (0, 0, 0)
    assert audit_count(app) == 0


def test_import_dry_run_reports_bad_rows(app, tmp_path):
    """--dry-run with a bad row exits 1 with the same row messages."""
    result = invoke(app, "import-places", "--dry-run", str(write_csv(tmp_path / "p.csv", CN_HEADER, BAD_ROWS)))
    assert failed_cleanly(result), result.exception
    assert "第 4 行:找不到所属乡镇编码" in result.output


# ---- demo-data -----------------------------------------------------------------------------


@pytest.mark.both_databases
def test_demo_data_twice(app):
    """demo-data loads the demo county, runs again without duplicating anything, and prints an invite code."""
    first = invoke(app, "demo-data")
    assert first.exit_code == 0, first.output
    code1 = re.search(r"邀请码 invite code: ([2-9A-Z]{4}-[2-9A-Z]{4})", first.output).group(1)
    loaded = counts(app)
    second = invoke(app, "demo-data")
    assert second.exit_code == 0, second.output
    code2 = re.search(r"邀请码 invite code: ([2-9A-Z]{4}-[2-9A-Z]{4})", second.output).group(1)
    # 吉安县's 4 townships and 6 villages, and the second county's (吉水县) township and village.
    assert loaded == counts(app) == (5, 7, 1)
    with app.app_context():
        s = db.session
        # Four running projects and one application under review (申报) by the demo secretary, and 吉水县's one.
        assert s.scalar(select(func.count(Project.id))) == 6
        assert s.scalar(select(Project.status).where(Project.applicant_id.is_not(None))) == "submitted"
        assert s.scalar(select(func.count(Assignment.id))) == 2
        # Six from the core demo, two liaison cadres (胡颖, 刘亮), the roadshow's three experts, four
        # from the teams' (two inspectors, two 带队领导), the villager whose ratings 统计报表 counts and the
        # villager whose question is answered in public; 吉水县's administrator and the city leader.
        assert s.scalar(select(func.count(User.id))) == 19
        inspector = s.scalar(select(User).where(User.username == "inspector"))
        assert inspector.invite_code_hash == invite_code_hash(code2) != invite_code_hash(code1)
        assert all(audit.verify(s, chain=chain).ok for chain in audit.chains(s))


def test_demo_roadshow_has_two_speakers_scored(app):
    """demo-data holds one live 路演评审会: two speakers scored by all three experts, the third one up."""
    from server.models import Roadshow
    from server.services.grading import roadshow

    assert invoke(app, "demo-data").exit_code == 0
    with app.app_context():
        rs = db.session.scalar(select(Roadshow))
        rows = roadshow.results(db.session, rs)
        assert [(r.finalized, r.final_centi is not None) for r in rows] == [(3, True), (3, True), (0, False)]
        assert rs.status == "live" and rs.current_speaker_id == rows[2].speaker.id


def test_demo_has_two_teams_and_a_declared_conflict(app):
    """demo-data makes 第一督查组 and 第二督查组, each with a 组长 and 带队领导, and one 亲属 conflict in 江南村."""
    from server.models import ConflictDeclaration, InspectionTeam
    from server.services import teams

    assert invoke(app, "demo-data").exit_code == 0
    with app.app_context():
        found = db.session.scalars(select(InspectionTeam).order_by(InspectionTeam.name)).all()
        assert [(t.name, t.leader.name, t.lead_official.name, len(t.members)) for t in found] == [
            ("第一督查组", "张督查", "刘建军", 2),
            ("第二督查组", "王督查", "许文华", 2),
        ]
        c = db.session.scalar(select(ConflictDeclaration))
        assert (c.user.name, c.kind, teams.place_name(db.session, c)) == ("李督查", "relative", "永阳镇江南村")


def test_demo_shows_a_public_answer_an_open_order_and_outcome_tables(app, client):
    """demo-data answers a question on the 蜜柚 project in public, gives its secretary an order to answer,
    and sets the year's 考核加分 and 奖补资金 per grade."""
    from server.models import GradingSession, RectificationOrder

    assert invoke(app, "demo-data").exit_code == 0
    with app.app_context():
        project = db.session.scalar(select(Project).where(Project.title.contains("井冈蜜柚")))
        order = db.session.scalar(select(RectificationOrder).where(RectificationOrder.project_id == project.id))
        assert order.status == "issued" and project.secretary_id is not None
        gs = db.session.scalar(select(GradingSession))
        assert gs.grade_points["特等"] == 3 and gs.grade_amounts["特等"] == 50000
    page = client.get(f"/p/{project.id}").get_data(as_text=True)
    assert "分拣打包岗位优先安排本村留守妇女" in page and "已完成 <strong>1</strong> / 3 步" in page


def test_demo_accounts_log_in(app, client):
    """The admin account printed by demo-data logs in with the printed password."""
    result = invoke(app, "demo-data")
    match = re.search(r"管理员 admin / (\S+)", result.output)
    r = client.post("/api/v1/auth/login", json={"username": "admin", "password": match.group(1)})
    assert r.status_code == 200
    assert r.get_json()["user"]["roles"] == ["admin"]


# ---- DATA_KEY rotation ---------------------------------------------------------------------------

NEW_DATA_KEY = "rotated-data-key-for-the-cli-test"


@pytest.fixture
def personal(app, client, world) -> dict:
    """An interview's household and a feedback's phone, stored encrypted with the suite's DATA_KEY."""
    from tests.api.test_feedback import PHONE, sent
    from tests.factories import Api, now_iso, start_visit, uid

    insp = Api(client, world.tokens["insp_a"])
    visit = start_visit(insp, world.a1)
    r = insp.post(
        f"/api/v1/visits/{visit['id']}/interviews",
        {"client_id": uid(), "sent_at": now_iso(), "household": "王大明家", "satisfaction": "满意", "answers": {}},
    )
    assert r.status_code == 201, r.get_json()
    fb = sent(Api(client, world.tokens["villager"]), world.p1, contact_phone=PHONE)
    return {"interview": r.get_json()["id"], "feedback": fb["id"], "phone": PHONE}


def decrypted(app, ids: dict) -> tuple[str, str]:
    """The household and the phone as the given app decrypts them (ValueError when its key does not fit)."""
    from server.crypto import cipher
    from server.models import Feedback, Interview

    with app.app_context():
        return (
            cipher().decrypt(db.session.get(Interview, ids["interview"]).household_enc),
            cipher().decrypt(db.session.get(Feedback, ids["feedback"]).phone_enc),
        )


def rotated_app(app, fake_wechat):
    """The same database and storage with DATA_KEY set to the new key."""
    from tests.support.apps import make_app

    storage = {k: app.config[k] for k in ("STORAGE_BACKEND", "STORAGE_DIR")}
    return make_app(app.config["DATABASE_URL"], storage, fake_wechat, DATA_KEY=NEW_DATA_KEY)


@pytest.mark.both_databases
def test_reencrypt_rotates_data_key(app, personal, fake_wechat, monkeypatch):
    """reencrypt moves every encrypted value to the new DATA_KEY; a second run finds nothing left to do."""
    new = rotated_app(app, fake_wechat)
    with pytest.raises(ValueError):
        decrypted(new, personal)  # before: the new key cannot read the data
    monkeypatch.setenv("OLD_DATA_KEY", SECRET)
    result = invoke(new, "reencrypt")
    assert result.exit_code == 0, result.output
    assert "re-encrypted 2 values; 0 were already" in result.output
    assert decrypted(new, personal) == ("王大明家", personal["phone"])
    with pytest.raises(ValueError):
        decrypted(app, personal)  # the old key no longer opens anything
    again = invoke(new, "reencrypt")
    assert again.exit_code == 0 and "re-encrypted 0 values; 2 were already" in again.output
    with new.app_context():
        assert audit.verify(db.session).ok
        assert db.session.scalar(select(func.count()).where(AuditEntry.action == "data_key.rotate")) == 2
    new.extensions["db"]["engine"].dispose()


def test_reencrypt_reports_values_neither_key_opens(app, personal, fake_wechat, monkeypatch):
    """With the wrong old key nothing is rewritten and the command exits 1 naming the rows."""
    new = rotated_app(app, fake_wechat)
    monkeypatch.setenv("OLD_DATA_KEY", "not-the-old-key")
    result = invoke(new, "reencrypt")
    assert failed_cleanly(result)
    assert "2 values open with neither key" in result.output and f"interviews #{personal['interview']}" in result.output
    assert decrypted(app, personal)[0] == "王大明家"
    new.extensions["db"]["engine"].dispose()


def test_reencrypt_needs_the_old_key_and_a_new_one(app, monkeypatch):
    """Without OLD_DATA_KEY, or with it equal to DATA_KEY, reencrypt refuses before touching anything."""
    monkeypatch.delenv("OLD_DATA_KEY", raising=False)
    assert "set OLD_DATA_KEY" in invoke(app, "reencrypt").output
    monkeypatch.setenv("OLD_DATA_KEY", SECRET)
    assert "equals DATA_KEY" in invoke(app, "reencrypt").output


# ---- expire-uploads --------------------------------------------------------------------------


def test_expire_uploads_sweeps_old_local_uploads(app):
    """On local storage expire-uploads removes uploads past the retention and keeps sealed originals."""
    import os
    import time

    from server.storage import UPLOAD_RETENTION_DAYS

    storage = app.extensions["storage"]
    storage.put("uploads/visit/old.jpg", b"left behind", content_type="image/jpeg")
    storage.put_sealed("sealed/visit/old.jpg", b"evidence", content_type="image/jpeg")
    old = time.time() - (UPLOAD_RETENTION_DAYS + 1) * 86400
    for key in ("uploads/visit/old.jpg", "sealed/visit/old.jpg"):
        os.utime(storage.root / key, (old, old))
    result = invoke(app, "expire-uploads")
    assert result.exit_code == 0 and "removed 1 uploads" in result.output, result.output
    assert storage.head("uploads/visit/old.jpg") is None and storage.head("sealed/visit/old.jpg") is not None
