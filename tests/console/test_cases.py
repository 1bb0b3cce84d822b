"""The console's 案例集 page: who may open it, the project list and its filters, the DOCX download."""

from __future__ import annotations

import io
from datetime import date
from urllib.parse import quote

import pytest
from docx import Document
from sqlalchemy import func, select

# Load the API package first: services.photos imports api.validation, whose package imports
# services that need services.photos complete (the app factory loads them in this order too).
import server.api  # noqa: F401, I001
from server import clock
from server.db import db
from server.models import AuditEntry, User
from server.services import lifecycle
from tests.console.conftest import csrf

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def export(client, **form):
    """POST the page's form with the session's CSRF token."""
    return client.post("/console/cases", data={"csrf_token": csrf(client), **form})


def listed(page) -> set[str]:
    """The project ids offered as checkboxes on the page."""
    html = page.get_data(as_text=True)
    return {part.split('"', 1)[0] for part in html.split('name="project_id" value="')[1:]}


@pytest.mark.parametrize("who", ["admin", "leader"])
def test_page_lists_running_projects_for_admin_and_leader(world, console, who):
    """Admins and leaders see every running project to pick from, and the page in the navigation."""
    page = console(who).get("/console/cases")
    assert page.status_code == 200
    assert listed(page) == {str(world.p1), str(world.p2), str(world.p3)}
    assert 'href="/console/cases"' in page.get_data(as_text=True)


def test_reviewer_gets_403(world, console):
    """Reviewers neither open the page nor export."""
    client = console("reviewer1")
    assert client.get("/console/cases").status_code == 403
    assert export(client, project_id=world.p1).status_code == 403


def test_filters_by_domain_and_acceptance_rating(app, world, console):
    """The domain filter keeps the 非公企业 project; the rating filter keeps the one accepted as 优秀."""
    with app.app_context():
        lifecycle.record_acceptance(
            db.session,
            db.session.get(User, world.ids["admin"]),
            world.p1,
            {"accepted_on": date.today(), "rating": "优秀", "opinion": "成效明显"},
        )
    client = console("admin")
    assert listed(client.get("/console/cases?domain=非公企业")) == {str(world.p3)}
    page = client.get("/console/cases?rating=优秀")
    assert listed(page) == {str(world.p1)} and "<td>优秀</td>" in page.get_data(as_text=True)


def test_post_downloads_the_docx(app, world, console):
    """The chosen projects come back as 案例集-<date>.docx with an RFC 5987 name, one chapter each."""
    r = export(console("admin"), project_id=[world.p2, world.p1], title="优秀案例")
    assert r.status_code == 200 and r.mimetype == DOCX
    day = clock.today().isoformat()
    assert r.headers["Content-Disposition"] == (
        f"attachment; filename=\"cases-{day}.docx\"; filename*=UTF-8''{quote(f'案例集-{day}.docx')}"
    )
    assert r.headers["Cache-Control"] == "private, no-store"
    doc = Document(io.BytesIO(r.data))
    assert doc.paragraphs[0].text == "优秀案例"
    assert [p.text for p in doc.paragraphs if p.style.name == "Heading 1"][1:] == ["一、蜜柚产业项目", "二、旱厕改造"]


def test_refused_selection_shows_the_page_with_the_reason(world, console):
    """Posting with nothing ticked answers 400 with the page and the message, keeping the title typed."""
    r = export(console("admin"), title="我的标题")
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and "请至少选择一个项目" in html and 'value="我的标题"' in html


def test_post_without_csrf_is_400(app, world, console):
    """A form posted without the session's token exports nothing and logs nothing."""
    r = console("admin").post("/console/cases", data={"project_id": world.p1})
    assert r.status_code == 400
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "project.case_export")
            )
            == 0
        )
