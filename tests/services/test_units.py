"""Reporting units: a unit reviewer's scope is the unit's organizations plus those linked to the account."""

from __future__ import annotations

import pytest

from server.db import db
from server.models import Project, User
from server.services import lifecycle, projects, units, users
from tests.factories import build_lifecycle


@pytest.fixture
def two_units(app, world):
    """build_lifecycle plus units A and B, reviewer "unit_a" of A (no linked organizations), and one project
    of an organization of each unit, both created after the reviewer's account."""
    with app.app_context():
        build_lifecycle(world)
        s = db.session
        admin = s.get(User, world.ids["admin"])
        a = units.create_unit(s, admin, {"name": "永阳镇党委", "kind": "乡镇党委", "township_id": world.t1})
        b = units.create_unit(s, admin, {"name": "桐坪镇党委", "kind": "乡镇党委", "township_id": world.t2})
        reviewer, _ = users.create_user(s, admin, {"username": "unit_a", "roles": ["unit_reviewer"], "unit_id": a.id})
        org_a = projects.create_organization(s, admin, {"name": "新村党支部", "township_id": world.t1, "unit_id": a.id})
        org_b = projects.create_organization(s, admin, {"name": "外村党支部", "township_id": world.t2, "unit_id": b.id})
        pa = projects.create_project(
            s, admin, {"title": "新村项目", "year": 2026, "organization_id": org_a.id, "village_ids": [world.v1]}
        )
        pb = projects.create_project(
            s, admin, {"title": "外村项目", "year": 2026, "organization_id": org_b.id, "village_ids": [world.v2]}
        )
        world.unit_a, world.org_a, world.pa, world.pb = a.id, org_a.id, pa.id, pb.id
        world.ids["unit_a"] = reviewer.id
    return world


def visible(user_id: int) -> set[int]:
    """The ids of the projects this account may read."""
    user = db.session.get(User, user_id)
    return set(db.session.scalars(lifecycle.visible_projects(user).with_only_columns(Project.id)))


def test_unit_reviewer_sees_projects_of_an_organization_added_to_the_unit(app, two_units):
    """An organization filed under the unit after the account was made is in scope; another unit's is not."""
    with app.app_context():
        seen = visible(two_units.ids["unit_a"])
    assert two_units.pa in seen
    assert two_units.pb not in seen


def test_moving_an_organization_to_another_unit_moves_it_out_of_scope(app, two_units):
    """Filing the organization under another unit takes its projects out of the first unit's scope."""
    with app.app_context():
        admin = db.session.get(User, two_units.ids["admin"])
        other = units.create_unit(db.session, admin, {"name": "县直机关工委"})
        projects.update_organization(db.session, admin, two_units.org_a, {"unit_id": other.id})
        assert two_units.pa not in visible(two_units.ids["unit_a"])


def test_unit_reviewer_keeps_explicitly_linked_organizations(app, two_units):
    """unit1 (no unit, linked to org1) still sees org1's projects and none of unit A's."""
    with app.app_context():
        unit1 = db.session.get(User, two_units.ids["unit1"])
        assert lifecycle.organization_ids(unit1) == [two_units.org1]
        admin = db.session.get(User, two_units.ids["admin"])
        unit1, _ = users.update_user(db.session, admin, two_units.ids["unit1"], {"unit_id": two_units.unit_a})
        assert lifecycle.organization_ids(unit1) == sorted([two_units.org1, two_units.org_a])


def test_a_secretary_in_a_unit_gets_no_unit_scope(app, two_units):
    """The unit's organizations widen a unit reviewer's scope only, not a secretary's."""
    with app.app_context():
        admin = db.session.get(User, two_units.ids["admin"])
        sec, _ = users.update_user(db.session, admin, two_units.ids["secretary"], {"unit_id": two_units.unit_a})
        assert sec.unit is not None
        assert lifecycle.organization_ids(sec) == [two_units.org1]


def test_unit_names_are_unique(app, two_units):
    """A second unit with a taken name is refused."""
    from server.errors import ApiError

    with app.app_context():
        admin = db.session.get(User, two_units.ids["admin"])
        with pytest.raises(ApiError) as exc:
            units.create_unit(db.session, admin, {"name": "永阳镇党委"})
    assert exc.value.code == "conflict"
