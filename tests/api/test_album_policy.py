"""A project's album policy (allow_album): camera-only by default, set by admins, read by the phone."""

from __future__ import annotations

import pytest
from sqlalchemy import select

# The API package first, as create_app loads it: services.photos and the API import each other.
import server.api  # noqa: F401
from server.db import db
from server.models import AuditEntry, Project, User
from server.services import rectification
from tests.factories import Api

ADMIN_PROJECT = "/api/v1/admin/projects"


@pytest.fixture
def order(app, world) -> int:
    """A rectification order on project p1, whose secretary is "secretary"; returns its id."""
    with app.app_context():
        db.session.get(Project, world.p1).secretary_id = world.ids["secretary"]
        db.session.commit()
        admin = db.session.get(User, world.ids["admin"])
        return rectification.issue(db.session, admin, project_id=world.p1, items=["公示栏未按要求更新"]).id


def phone_answers(client, world, order_id: int) -> dict[str, object]:
    """allow_album as each page of the phone reads it: project (feedback), rectification, report."""
    sec = Api(client, world.tokens["secretary"])
    public = client.get(f"/api/v1/public/projects/{world.p1}")
    reply = sec.get(f"/api/v1/rectifications/{order_id}")
    reports = sec.get(f"/api/v1/projects/{world.p1}/reports")
    for r in (public, reply, reports):
        assert r.status_code == 200, r.get_json()
    return {
        "public": public.get_json()["allow_album"],
        "rectification": reply.get_json()["project"]["allow_album"],
        "report": reports.get_json()["allow_album"],
    }


def test_camera_only_is_the_default_everywhere_the_phone_reads(client, world, order):
    """A project nobody changed answers allow_album=false on the public record, the order and the reports."""
    assert phone_answers(client, world, order) == {"public": False, "rectification": False, "report": False}


def test_admin_allows_the_album_and_the_phone_sees_it(app, client, world, order):
    """An admin's PATCH allow_album=true reaches all three answers; the edit is audited with its value."""
    admin = Api(client, world.tokens["admin"])
    r = admin.patch(f"{ADMIN_PROJECT}/{world.p1}", {"allow_album": True})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["allow_album"] is True
    assert phone_answers(client, world, order) == {"public": True, "rectification": True, "report": True}
    assert admin.patch(f"{ADMIN_PROJECT}/{world.p1}", {"allow_album": False}).get_json()["allow_album"] is False
    assert phone_answers(client, world, order) == {"public": False, "rectification": False, "report": False}
    with app.app_context():
        entries = db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == "project.update", AuditEntry.object_id == str(world.p1))
            .order_by(AuditEntry.id)
        ).all()
    assert [(e.data["fields"], e.data["allow_album"]) for e in entries] == [
        (["allow_album"], True),
        (["allow_album"], False),
    ]


def test_admin_creates_a_project_with_the_album_allowed(app, client, world):
    """allow_album is taken at creation too, and is false when not given."""
    admin = Api(client, world.tokens["admin"])
    made = admin.post(
        ADMIN_PROJECT, {"title": "相册项目", "year": 2026, "village_ids": [world.v1], "allow_album": True}
    )
    plain = admin.post(ADMIN_PROJECT, {"title": "拍照项目", "year": 2026, "village_ids": [world.v1]})
    assert (made.status_code, plain.status_code) == (201, 201)
    assert (made.get_json()["allow_album"], plain.get_json()["allow_album"]) == (True, False)
    assert client.get(f"/api/v1/public/projects/{made.get_json()['id']}").get_json()["allow_album"] is True
    with app.app_context():
        entry = db.session.scalar(
            select(AuditEntry).where(
                AuditEntry.action == "project.create", AuditEntry.object_id == str(made.get_json()["id"])
            )
        )
    assert entry.data["allow_album"] is True


def test_allow_album_must_be_a_boolean(client, world):
    """ "yes" is not a policy: the admin API refuses it and the project stays camera-only."""
    r = Api(client, world.tokens["admin"]).patch(f"{ADMIN_PROJECT}/{world.p1}", {"allow_album": "yes"})
    assert r.status_code == 400
    assert client.get(f"/api/v1/public/projects/{world.p1}").get_json()["allow_album"] is False


@pytest.mark.parametrize("who", ["reviewer1", "secretary", "leader"])
def test_only_admins_change_the_policy(app, client, world, order, who):
    """A reviewer, the project's own secretary or a leader gets 403 and the project stays camera-only."""
    r = Api(client, world.tokens[who]).patch(f"{ADMIN_PROJECT}/{world.p1}", {"allow_album": True})
    assert r.status_code == 403
    assert r.get_json()["error"]["code"] == "forbidden"
    with app.app_context():
        assert db.session.get(Project, world.p1).allow_album is False
    assert phone_answers(client, world, order)["rectification"] is False


def test_the_workspace_carries_the_policy(client, world, order):
    """The secretary's workspace (my projects) says which projects allow the album."""
    Api(client, world.tokens["admin"]).patch(f"{ADMIN_PROJECT}/{world.p1}", {"allow_album": True})
    items = Api(client, world.tokens["secretary"]).get("/api/v1/projects/mine").get_json()["items"]
    assert [(p["id"], p["allow_album"]) for p in items] == [(world.p1, True)]
