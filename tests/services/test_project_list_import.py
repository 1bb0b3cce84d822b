"""The approved project list (立项名单) import: rows checked, applied all or none, re-import updates."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

# Load the API package first, as the app factory does (see tests/services/test_grading.py).
import server.api  # noqa: F401, I001
from server.db import db
from server.models import AuditEntry, Project, User
from server.services import imports, lifecycle, places, projects, users
from server.services.imports.projects import ProjectListImporter


@pytest.fixture
def ctx(app, world):
    """An app context with the admin, two organizations and a secretary account."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        projects.create_organization(db.session, admin, {"name": "江南村党支部", "township_id": world.t1})
        projects.create_organization(db.session, admin, {"name": "县财政局机关党委", "domain": "机关"})
        users.create_user(
            db.session,
            admin,
            {"username": "pengenquan", "name": "彭恩全", "roles": ["secretary"], "password": "x" * 12},
        )
        yield admin


def row(n: int, **values) -> dict:
    """A file row as imports.read_rows gives it (line `n`)."""
    base = {
        "year": "2026",
        "title": "“一领办三参与”蜜柚产业项目",
        "organization": "江南村党支部",
        "level": "村级",
        "domain": "",
        "selection": "必选",
        "category": "重点性",
        "secretary": "pengenquan",
        "village_codes": "360821100201",
        "site_code": "",
    }
    return {**base, **values, "_row": n}


def import_list(actor: User, rows: list[dict], *, dry_run: bool = False):
    """Run the 立项名单 import as the console does."""
    return imports.run(db.session, actor, ProjectListImporter(), rows, dry_run=dry_run)


def count_projects() -> int:
    """How many projects the database holds."""
    return db.session.scalar(select(func.count(Project.id)))


def test_import_creates_approved_projects_with_their_fields(ctx):
    """Each row becomes an approved project with its level, domain, selection, category, secretary and places."""
    before = count_projects()
    places.create_site(db.session, ctx, {"name": "县财政局", "code": "YX-CZJ", "lat": 30.85, "lng": 116.36})
    rows = [
        row(2),
        row(
            3,
            title="党建引领四服务一提升",
            organization="县财政局机关党委",
            level="县级",
            village_codes="",
            site_code="YX-CZJ",
            secretary="",
        ),
    ]
    report = import_list(ctx, rows)
    assert (report.created, report.updated, report.errors) == (len(rows), 0, [])
    assert count_projects() == before + len(rows)
    p = db.session.scalar(select(Project).where(Project.title == "“一领办三参与”蜜柚产业项目"))
    assert (p.status, p.level, p.domain, p.selection, p.category, p.year) == (
        "approved",
        "village",
        "农村",
        "必选",
        "重点性",
        2026,
    )
    assert p.decided_at is not None and p.started_at is None
    assert [v.code for v in p.villages] == ["360821100201"] and p.site_id is None
    assert db.session.get(User, p.secretary_id).username == "pengenquan"
    unit = db.session.scalar(select(Project).where(Project.title == "党建引领四服务一提升"))
    assert (unit.level, unit.domain, unit.villages, unit.site.code) == ("county", "机关", [], "YX-CZJ")
    entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "projects.import")).one()
    assert entry.data == {"created": len(rows)}
    created = db.session.scalars(select(AuditEntry.object_id).where(AuditEntry.action == "project.create")).all()
    assert str(p.id) in created and str(unit.id) in created


@pytest.mark.both_databases
def test_reimport_updates_instead_of_duplicating(ctx):
    """The same list imported twice leaves one project per year + organization + title, with the new values."""
    import_list(ctx, [row(2)])
    before = count_projects()
    report = import_list(ctx, [row(2, level="镇级", category="创新性")])
    assert (report.created, report.updated) == (0, 1)
    # The preview and the audit trail say what changed, old → new.
    assert report.rows[0].action == "更新项目"
    assert report.rows[0].changes == [("层级", "村级", "镇级"), ("类别", "重点性", "创新性")]
    assert count_projects() == before
    p = db.session.scalar(select(Project).where(Project.title == "“一领办三参与”蜜柚产业项目"))
    assert (p.level, p.category) == ("township", "创新性")
    # Another year of the same title is another project.
    report = import_list(ctx, [row(2, year="2027")])
    assert report.created == 1


@pytest.mark.parametrize(
    "bad,message",
    [
        ({"organization": "不存在党支部"}, "找不到党组织"),
        ({"level": "省级"}, "层级"),
        ({"secretary": "nobody"}, "找不到用户名"),
        ({"village_codes": "360821999999"}, "找不到村编码"),
        ({"village_codes": ""}, "请填写村编码"),
        ({"year": "26"}, "年度"),
        ({"domain": "部队"}, "领域"),
        ({"selection": "可选"}, "必选/自选"),
    ],
)
def test_a_bad_row_writes_nothing(ctx, bad, message):
    """One refused row (unknown organization, level, secretary, village…) keeps every row out, with its line."""
    before = count_projects()
    report = import_list(ctx, [row(2, title="旱厕改造提升"), row(3, **bad)])
    assert [e["row"] for e in report.errors] == [3]
    assert message in report.errors[0]["message"]
    assert count_projects() == before


def test_dry_run_writes_nothing(ctx):
    """The preview reports what would be created and writes nothing."""
    before = count_projects()
    report = import_list(ctx, [row(2)], dry_run=True)
    assert (report.created, [(p.row, p.action) for p in report.rows]) == (1, [(2, "新增项目")])
    assert count_projects() == before


def test_the_same_project_twice_in_a_file_is_refused(ctx):
    """Two rows naming the same year, organization and title point at each other."""
    report = import_list(ctx, [row(2), row(5)])
    assert report.errors == [{"row": 5, "message": "与第 2 行是同一个项目(年度、党组织和项目名称相同)"}]


def test_an_application_under_review_is_not_approved_by_the_list(ctx, world):
    """A project still in its application is the lifecycle's business: the row is refused."""
    org_id = projects.list_organizations(db.session, q="江南村").items[0].id
    lifecycle.create_application(
        db.session,
        ctx,
        {
            "client_id": "8b0b7c1e-8a3e-4e0e-9d44-8f5f6f0e0a01",
            "title": "“一领办三参与”蜜柚产业项目",
            "year": 2026,
            "organization_id": org_id,
        },
    )
    report = import_list(ctx, [row(2)])
    assert report.errors and "申报审核" in report.errors[0]["message"]


def test_only_admins_import(ctx, world):
    """A leader cannot import the list."""
    leader = db.session.get(User, world.ids["leader"])
    with pytest.raises(Exception) as exc:
        import_list(leader, [row(2)])
    assert getattr(exc.value, "status", None) == 403


def test_a_visited_project_keeps_its_place(ctx, app, world):
    """A project already inspected cannot be moved to other villages by the list (its visits are tied there)."""
    from tests.factories import Api, start_visit

    org_id = projects.list_organizations(db.session, q="江南村").items[0].id
    projects.update_project(db.session, ctx, world.p1, {"organization_id": org_id})
    moved = row(2, title="蜜柚产业项目", village_codes="360821103201")
    start_visit(Api(app.test_client(), world.tokens["insp_a"]), world.a1)
    report = import_list(ctx, [moved])
    assert report.errors == [{"row": 2, "message": "该项目已有暗访记录,实施地点不能再修改"}]
    # The same place is fine: the row updates the project's level.
    report = import_list(ctx, [row(2, title="蜜柚产业项目")])
    assert (report.updated, report.errors) == (1, [])
    assert db.session.get(Project, world.p1).level == "village"


def test_reimport_shows_each_change_and_audits_it(ctx, world):
    """A re-imported row that moves the project and names another secretary previews old → new; unchanged rows say so."""
    users.create_user(
        db.session, ctx, {"username": "luozhigang", "name": "罗志刚", "roles": ["secretary"], "password": "x" * 12}
    )
    import_list(ctx, [row(2)])
    p = db.session.scalar(select(Project).where(Project.title == "“一领办三参与”蜜柚产业项目"))
    report = import_list(ctx, [row(2)])
    assert (report.updated, report.rows[0].action, report.rows[0].changes) == (1, "无变化", [])
    report = import_list(ctx, [row(2, secretary="luozhigang", village_codes="360821100201、360821103201")])
    assert report.errors == []
    assert report.rows[0].changes == [
        ("项目书记", "彭恩全(pengenquan)", "罗志刚(luozhigang)"),
        ("村", "江南村", "江南村、大栗村"),
    ]
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "project.update", AuditEntry.object_id == str(p.id))
    ).one()
    assert entry.data == {"fields": ["项目书记", "村"], "import": True}


def test_village_codes_may_be_separated_by_full_width_commas(ctx):
    """Codes typed with a Chinese input method (full-width commas and semicolons) are separate villages."""
    report = import_list(ctx, [row(2, village_codes="360821100201\uff0c360821103201\uff1b360821103201")])
    assert report.errors == []
    p = db.session.scalar(select(Project).where(Project.title == "“一领办三参与”蜜柚产业项目"))
    assert sorted(v.code for v in p.villages) == ["360821100201", "360821103201"]
