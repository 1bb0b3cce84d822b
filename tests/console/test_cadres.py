"""Console pages of 联系组工干部: the cadre's 我的联系项目 and contact form, the workload, linking free text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from server import clock
from server.db import db
from server.models import LiaisonContact, Project, User
from server.services import cadres, users
from tests.api.conftest import audit_count
from tests.console.conftest import csrf


@pytest.fixture
def huying(app, world):
    """Cadre 胡颖 (role cadre), liaison of p1 in 永阳镇, running for a year; p2 names 吴兰 by free text only."""
    with app.app_context():
        s = db.session
        admin = s.get(User, world.ids["admin"])
        user, _ = users.create_user(
            s, admin, {"username": "huying", "name": "胡颖", "roles": ["cadre"], "password": "huying-password"}
        )
        p1 = s.get(Project, world.p1)
        cadres.apply_liaison(s, p1, {"liaison_cadre_id": user.id})
        p1.started_at = datetime.now(UTC) - timedelta(days=400)
        s.get(Project, world.p2).responsible = {"联系组工干部": "县委组织部 吴兰"}
        s.commit()
        return user.id


def test_cadre_lands_on_my_projects_and_logs_a_phone_contact(app, console, world, huying):
    """A cadre's start page is 我的联系项目; the quick form logs a call and the week's call reads 已完成."""
    client = console("huying")
    assert client.get("/console/").headers["Location"].endswith("/console/liaison")
    page = client.get("/console/liaison").get_data(as_text=True)
    assert 'data-kind="phone" data-state="overdue"' in page
    r = client.post(
        "/console/liaison/contacts",
        data={
            "csrf_token": csrf(client),
            "project_id": world.p1,
            "kind": "phone",
            "contact_on": clock.today().isoformat(),
            "summary": "电话联络彭书记,了解流转中心进度",
        },
    )
    assert r.status_code == 302
    page = client.get("/console/liaison").get_data(as_text=True)
    assert 'data-kind="phone" data-state="done"' in page and "了解流转中心进度" in page
    assert client.get("/console/visits").status_code == 403  # a cadre reviews no visits


def test_contact_form_error_is_shown_and_nothing_written(app, console, world, huying):
    """A missing summary answers the page again with the message, 400, no row and no audit entry."""
    client = console("huying")
    before = audit_count(app)
    r = client.post(
        "/console/liaison/contacts",
        data={"csrf_token": csrf(client), "project_id": world.p1, "kind": "visit", "summary": ""},
    )
    assert r.status_code == 400 and "请填写联系情况" in r.get_data(as_text=True)
    assert audit_count(app) == before


def test_contact_form_for_another_cadres_project_is_404(app, console, world, huying):
    """胡颖 naming p2 (not hers) gets 404; a reviewer who is nobody's liaison 403."""
    client = console("huying")
    token = csrf(client)
    data = {"csrf_token": token, "project_id": world.p2, "kind": "phone", "summary": "x"}
    assert client.post("/console/liaison/contacts", data=data).status_code == 404
    reviewer = console("reviewer1")
    data["csrf_token"] = csrf(reviewer)
    assert reviewer.post("/console/liaison/contacts", data=data).status_code == 403
    with app.app_context():
        assert db.session.scalars(select(LiaisonContact)).all() == []


def test_workload_page_for_leaders_lists_cadres_and_unlinked_text(app, console, world, huying):
    """The leader sees 胡颖's row and p2's unlinked 吴兰, without link forms; a cadre gets 403."""
    page = console("leader").get(f"/console/cadres?cadre={huying}").get_data(as_text=True)
    assert f'data-cadre-id="{huying}"' in page and "胡颖 的联系项目" in page
    assert "县委组织部 吴兰" in page and "/console/cadres/link" not in page
    assert console("huying").get("/console/cadres").status_code == 403


def test_admin_links_free_text_to_an_account(app, console, world, huying):
    """The admin links p2's 吴兰 to an account; p2 leaves the unlinked list and shows the account's name."""
    with app.app_context():
        s = db.session
        wu, _ = users.create_user(
            s,
            s.get(User, world.ids["admin"]),
            {"username": "wulan", "name": "吴兰", "roles": ["cadre"], "password": "w" * 12},
        )
        wu_id = wu.id
    client = console("admin")
    before = audit_count(app)
    r = client.post(
        "/console/cadres/link", data={"csrf_token": csrf(client), "project_id": world.p2, "cadre_id": wu_id}
    )
    assert r.status_code == 302
    assert audit_count(app) == before + 1
    with app.app_context():
        p2 = db.session.get(Project, world.p2)
        assert (p2.liaison_cadre_id, p2.responsible["联系组工干部"]) == (wu_id, "吴兰")
        assert cadres.unlinked_projects(db.session) == []


def test_project_form_picks_the_liaison_account(app, console, world, huying):
    """The project form offers staff accounts for 联系组工干部 and saves the choice."""
    client = console("admin")
    page = client.get(f"/console/projects/{world.p2}").get_data(as_text=True)
    assert 'name="liaison_cadre_id"' in page and "尚未关联账号" in page
    r = client.post(
        f"/console/projects/{world.p2}",
        data={
            "csrf_token": csrf(client),
            "title": "旱厕改造",
            "year": "2026",
            "domain": "农村",
            "place_kind": "village",
            "village_ids": str(world.v2),
            "liaison_cadre_id": str(huying),
        },
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    with app.app_context():
        p2 = db.session.get(Project, world.p2)
        assert (p2.liaison_cadre_id, p2.responsible.get("联系组工干部")) == (huying, "胡颖")
