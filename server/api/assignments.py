"""The inspector's open assignments."""

from __future__ import annotations

from server.api import endpoint, serialize
from server.api.schemas import obj
from server.db import db
from server.services import assignments, evidence, rounds
from server.services.projects import place_of


@endpoint(
    "/assignments",
    "GET",
    summary="Open assignments of the caller's teams (place with a GCJ-02 point; drawn ones sealed until check-in; "
    "evidence_policy: the minimum photos and home interviews; team: the standing team a round sent, with its 组长)",
    tag="visits",
    roles=("inspector",),
    response=obj({"items": {"type": "array", "items": {"type": "object"}}}),
    errors=(401, 403),
)
def my_assignments(user):
    items = assignments.open_assignments_for(db.session, user)
    visits = assignments.visits_of(db.session, [a.id for a in items])
    opened = assignments.unsealed_assignment_ids(db.session, [a.id for a in items if a.origin == "drawn"])
    teams = rounds.teams_of(db.session, items)
    return {
        "items": [
            {
                **serialize.assignment(
                    a,
                    place_of(db.session, a),
                    sealed=assignments.is_sealed(a, a.id in opened),
                    policy=evidence.policy_of(db.session, a),
                    team=teams.get(a.id),
                ),
                "visits": [{"id": v.id, "status": v.status, "client_id": v.client_id} for v in visits[a.id]],
            }
            for a in items
        ]
    }
