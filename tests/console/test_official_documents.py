"""Official documents (公文) downloaded from the console: the round 通报, the 整改通知书 with its 回执,
the 立项通知 to a 归口单位 and the grading 通报, each opened with python-docx and read back."""

from __future__ import annotations

import io
import re

import pytest
from docx import Document
from docx.oxml.ns import qn
from sqlalchemy import func, select

# Load the API package first, as the app factory does (see tests/console/test_grading.py).
import server.api  # noqa: F401, I001
from server import clock
from server.db import db
from server.models import AuditEntry, Organization, Project, User
from server.services import rectification, rounds, units
from server.services.documents.official import document_date
from tests.api.test_rounds import drawn_round, step
from tests.console.conftest import csrf
from tests.console.test_grading import _score_everything, setup  # noqa: F401 - the grading fixture

DEPARTMENT = "中共吉安县委组织部"
REFERENCE = re.compile(r"^吉县组字〔(\d{4})〕([1-9]\d*)号$")


@pytest.fixture(autouse=True)
def department(app):
    """The county's department and its 代字, as a deployment sets them."""
    app.config.update(DEPARTMENT_NAME=DEPARTMENT, DOC_NUMBER_PREFIX="吉县组字")


def open_docx(response):
    """The downloaded DOCX, after checking it is one."""
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.headers["Content-Disposition"].startswith("attachment")
    return Document(io.BytesIO(response.data))


def texts(doc) -> list[str]:
    """The body's paragraph texts, in order."""
    return [p.text for p in doc.paragraphs]


def cells(doc) -> str:
    """Every table cell's text."""
    return "\n".join(c.text for t in doc.tables for row in t.rows for c in row.cells)


def paragraph(doc, text: str):
    """The first paragraph whose text is exactly `text`."""
    return next(p for p in doc.paragraphs if p.text == text)


def east_asia(run) -> tuple[str | None, str | None, str | None]:
    """The (eastAsia, ascii, hAnsi) font names written in a run's own rPr."""
    fonts = run._r.rPr.rFonts
    return fonts.get(qn("w:eastAsia")), fonts.get(qn("w:ascii")), fonts.get(qn("w:hAnsi"))


def reference_of(doc) -> str:
    """The 发文字号 (the paragraph matching 吉县组字〔YYYY〕N号)."""
    return next(t for t in texts(doc) if REFERENCE.match(t))


def assert_official_form(doc, *, title: str, recipients: str) -> str:
    """版头 in red, 文号 over the red line, 标题, 主送, 落款 and 成文日期, fonts and page numbers; the 文号."""
    head = doc.paragraphs[0]
    assert head.text == f"{DEPARTMENT}文件"
    assert all(str(r.font.color.rgb) == "FF0000" for r in head.runs)
    assert east_asia(head.runs[0]) == ("方正小标宋简体",) * 3
    reference = reference_of(doc)
    assert REFERENCE.match(reference).group(1) == str(clock.today().year)
    line = paragraph(doc, reference)._p.pPr.find(qn("w:pBdr")).find(qn("w:bottom"))
    assert line.get(qn("w:color")) == "FF0000"
    tags = [child.tag for child in paragraph(doc, reference)._p.pPr]
    assert tags.index(qn("w:pBdr")) < tags.index(qn("w:jc"))  # the schema's order, or Word refuses the file
    heading = paragraph(doc, title)
    assert east_asia(heading.runs[0])[0] == "方正小标宋简体"
    assert paragraph(doc, recipients).paragraph_format.first_line_indent is None
    body = [p for p in doc.paragraphs if p.paragraph_format.first_line_indent and p.runs]
    assert body and {east_asia(p.runs[0])[0] for p in body} <= {"仿宋_GB2312", "黑体", "楷体_GB2312"}
    assert all(east_asia(p.runs[0]) == ("仿宋_GB2312",) * 3 for p in body if p.text.startswith("请") or "。" in p.text)
    day = document_date(clock.today())
    assert re.fullmatch(r"\d{4}年[1-9]\d?月[1-9]\d?日", day)
    i = texts(doc).index(day)
    assert texts(doc)[i - 1] == DEPARTMENT  # 署名 right above the 成文日期
    section = doc.sections[0]
    assert round(section.page_width.mm) == 210 and round(section.top_margin.mm) == 37
    assert round(section.left_margin.mm) == 28
    grid = section._sectPr.find(qn("w:docGrid"))
    assert grid.get(qn("w:type")) == "linesAndChars" and grid.get(qn("w:linePitch")) == "579"
    footer = section.footer.paragraphs[0]
    assert footer.text.startswith("— ") and footer.text.endswith(" —") and "PAGE" in footer._p.xml
    return reference


def fallbacks(doc) -> dict[str, str]:
    """The font table's fallback (w:altName) per font."""
    part = next(r.target_part for r in doc.part.rels.values() if r.reltype.endswith("/fontTable"))
    root = part.element if hasattr(part, "element") else __import__("lxml.etree").etree.fromstring(part.blob)
    out = {}
    for font in root.findall(qn("w:font")):
        alt = font.find(qn("w:altName"))
        if alt is not None:
            out[font.get(qn("w:name"))] = alt.get(qn("w:val"))
    return out


# ---- the round 通报 ----------------------------------------------------------------------------


def test_round_notice_is_an_official_document_with_the_replay_in_an_annex(app, console, world):
    """The 通报 has the red 版头, 文号, 标题, 主送, 落款 and date; the replay instructions are only in its annex."""
    rid = drawn_round(app, world)
    step(app, world, rid, "close")
    doc = open_docx(console("leader").get(f"/console/rounds/{rid}/notice.docx"))
    with app.app_context():
        r = rounds.get_round(db.session, rid)
        name, input_hash = r.name, r.input_hash
    assert_official_form(doc, title=f"关于{name}随机督查情况的通报", recipients="各乡镇党委、县直各单位党组织:")
    lines = texts(doc)
    annex = lines.index("附件")
    body, appendix = "\n".join(lines[:annex]), "\n".join(lines[annex:])
    assert "附件:随机抽取复核说明" in body
    for word in ("verify_draw", "scripts/", "python", "脚本", "运行"):
        assert word not in body, word
    assert "python3 scripts/verify_draw.py 记录.json" in appendix and input_hash in appendix
    assert f"/api/v1/public/rounds/{rid}/record" in appendix
    assert paragraph(doc, "附件").runs[0]._r.rPr.rFonts.get(qn("w:eastAsia")) == "黑体"
    assert fallbacks(doc)["仿宋_GB2312"] == "仿宋" and fallbacks(doc)["方正小标宋简体"] == "小标宋"


def test_round_notice_keeps_its_number_when_downloaded_again(app, console, world):
    """The second download prints the same 文号; the number was given (and audited) once."""
    rid = drawn_round(app, world)
    step(app, world, rid, "close")
    client = console("admin")
    first = reference_of(open_docx(client.get(f"/console/rounds/{rid}/notice.docx")))
    app.config["DOC_NUMBER_PREFIX"] = "另一代字"  # a later change of setting renumbers nothing
    again = reference_of(open_docx(client.get(f"/console/rounds/{rid}/notice.docx")))
    assert first == again == f"吉县组字〔{clock.today().year}〕1号"
    with app.app_context():
        given = select(func.count()).where(AuditEntry.action == "document.number")
        assert db.session.scalar(given) == 1


# ---- 整改通知书 and 回执 --------------------------------------------------------------------------


def _order(app, world, items=("公示栏未更新", "台账不全")) -> int:
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        return rectification.issue(db.session, admin, project_id=world.p1, items=list(items)).id


def test_rectification_notice_has_its_findings_deadline_and_receipt(app, console, world):
    """The 整改通知书 names the organization, lists the items and the deadline; its 回执 carries the 文号."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        org = Organization(name="江南村党支部")
        db.session.add(org)
        db.session.flush()
        db.session.get(Project, world.p1).organization_id = org.id
        db.session.commit()
        order = rectification.issue(db.session, admin, project_id=world.p1, items=["公示栏未更新", "台账不全"])
        order_id, deadline = order.id, order.deadline
    client = console("admin")
    page = client.get(f"/console/rectifications/{order_id}").get_data(as_text=True)
    assert f"/console/rectifications/{order_id}/notice.docx" in page
    doc = open_docx(client.get(f"/console/rectifications/{order_id}/notice.docx"))
    reference = assert_official_form(doc, title="关于《蜜柚产业项目》限期整改的通知", recipients="江南村党支部:")
    lines = texts(doc)
    assert "1.公示栏未更新" in lines and "2.台账不全" in lines
    assert any(f"于{document_date(deadline)}前整改到位" in t for t in lines)
    assert "附件:整改通知书回执" in lines
    receipt = "\n".join(lines[lines.index("附件") :])
    assert "整改通知书回执" in receipt and "(党组织盖章)" in receipt
    table = cells(doc)
    assert reference in table and "签收人(签字)" in table and document_date(deadline) in table


def test_rectification_notice_is_scoped_like_the_order(app, console, world):
    """A reviewer of another township cannot download the order's notice: 404, and no number is used."""
    order_id = _order(app, world)
    assert console("reviewer2").get(f"/console/rectifications/{order_id}/notice.docx").status_code == 404
    first = reference_of(open_docx(console("reviewer1").get(f"/console/rectifications/{order_id}/notice.docx")))
    assert first.endswith("〕1号")


def test_each_kind_of_document_counts_on_its_own(app, console, world):
    """Two orders get 1 and 2; a round notice of the same year starts again at 1."""
    client = console("admin")
    refs = [
        reference_of(open_docx(client.get(f"/console/rectifications/{_order(app, world)}/notice.docx")))
        for _ in range(2)
    ]
    assert [REFERENCE.match(r).group(2) for r in refs] == ["1", "2"]
    rid = drawn_round(app, world)
    step(app, world, rid, "close")
    assert reference_of(open_docx(client.get(f"/console/rounds/{rid}/notice.docx"))).endswith("〕1号")


# ---- 立项通知 ------------------------------------------------------------------------------------


@pytest.fixture
def unit(app, world) -> int:
    """永阳镇党委 with 江南村党支部 (蜜柚产业项目, 2026) filed under it."""
    with app.app_context():
        admin = db.session.get(User, world.ids["admin"])
        u = units.create_unit(db.session, admin, {"name": "永阳镇党委", "kind": "乡镇党委", "township_id": world.t1})
        org = Organization(name="江南村党支部", unit_id=u.id, township_id=world.t1)
        db.session.add(org)
        db.session.flush()
        db.session.get(Project, world.p1).organization_id = org.id
        db.session.commit()
        return u.id


def test_approval_notice_lists_the_units_approved_projects(app, console, world, unit):
    """The unit's page offers the year's 立项通知; it is addressed to the unit and lists its projects."""
    client = console("admin")
    page = client.get(f"/console/units/{unit}").get_data(as_text=True)
    assert f"/console/units/{unit}/approval.docx?year=2026" in page
    doc = open_docx(client.get(f"/console/units/{unit}/approval.docx?year=2026"))
    assert_official_form(doc, title="关于2026年度书记项目立项的通知", recipients="永阳镇党委:")
    table = cells(doc)
    assert "江南村党支部" in table and "蜜柚产业项目" in table
    assert "旱厕改造" not in table  # another unit's (here: no unit's) project


def test_approval_notice_refuses_a_year_without_projects(app, console, world, unit):
    """No approved project that year: 409 and no number taken; leaders read, reviewers are refused."""
    assert console("admin").get(f"/console/units/{unit}/approval.docx?year=2019").status_code == 409
    assert console("reviewer1").get(f"/console/units/{unit}/approval.docx?year=2026").status_code == 403
    doc = open_docx(console("leader").get(f"/console/units/{unit}/approval.docx?year=2026"))
    assert reference_of(doc).endswith("〕1号")


# ---- the grading 通报 ------------------------------------------------------------------------------


def test_grading_notice_reports_grades_and_the_bottom_five_percent(app, console, world, setup):  # noqa: F811
    """Before finalizing: 409. After: grades per project, the bottom 5% named, the official form."""
    client = console("admin")
    url = f"/console/grading/{setup['session']}/notice.docx"
    assert client.get(url).status_code == 409
    _score_everything(app, world, setup)
    r = client.post(f"/console/grading/{setup['session']}/finalize", data={"csrf_token": csrf(client)})
    assert r.status_code == 302
    assert url in client.get(f"/console/grading/{setup['session']}").get_data(as_text=True)
    doc = open_docx(client.get(url))
    assert_official_form(doc, title="关于2026年度书记项目评审结果的通报", recipients="各乡镇党委、县直各单位党组织:")
    lines = texts(doc)
    assert any("评出特等 1 个、一等 1 个、二等 1 个、三等 0 个" in t for t in lines)
    rows = [[c.text for c in row.cells] for row in doc.tables[0].rows[1:]]
    assert [(row[1], row[3], row[4]) for row in rows] == [
        ("特等", "蜜柚产业项目", "90.00"),
        ("一等", "旱厕改造", "80.00"),
        ("二等", "非公企业党建", "70.00"),
    ]
    bottom = lines[lines.index("二、排名后5%的项目") + 1]
    assert "非公企业党建" in bottom
