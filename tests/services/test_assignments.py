"""services/assignments.py: the assignment list, scoped to what the viewer may see."""

from __future__ import annotations

from server.db import db
from server.models import User
from server.services import assignments


def _listed(app, world, viewer: str, **filters) -> list[int]:
    with app.app_context():
        found = assignments.list_assignments(db.session, db.session.get(User, world.ids[viewer]), **filters)
        return [a.id for a in found.items]


def test_plan_readers_see_every_assignment_newest_first(app, world):
    """Admins and leaders see the whole plan, open assignments included, newest first."""
    for viewer in ("admin", "leader"):
        assert _listed(app, world, viewer) == [world.a3, world.a2, world.a1]


def test_reviewers_see_only_closed_assignments_of_their_townships(app, world):
    """A reviewer sees no open assignment, and closed ones only where its village or site lies in their townships."""
    assert _listed(app, world, "reviewer1") == []
    with app.app_context():
        for a in (world.a1, world.a2, world.a3):
            assignments.set_status(assignments.get_assignment(db.session, a), "closed")
        db.session.commit()
    # a1 (江南村) and a3 (the unit site) lie in 永阳镇, reviewer1's; a2 (大栗村) in 桐坪镇, reviewer2's.
    assert _listed(app, world, "reviewer1") == [world.a3, world.a1]
    assert _listed(app, world, "reviewer2") == [world.a2]


def test_list_assignments_filters_and_pages(app, world):
    """project_id and status narrow the list; per_page cuts a page and total counts them all."""
    assert _listed(app, world, "admin", project_id=world.p2) == [world.a2]
    assert _listed(app, world, "admin", status="closed") == []
    with app.app_context():
        page = assignments.list_assignments(db.session, db.session.get(User, world.ids["admin"]), page=2, per_page=2)
        assert ([a.id for a in page.items], page.total) == ([world.a1], 3)
