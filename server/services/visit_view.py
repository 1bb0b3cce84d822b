"""One visit as its team and the staff read it through the API: the records, what the caller may see
of the assignment, presigned photo URLs and the latest review verdicts.

The console's fuller review page (audit trail, distances, duplicates) is `services.review.evidence`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from server.models import CheckIn, ChecklistResult, Interview, Photo, ReviewDecision, User, Visit, VisitNote
from server.services import assignments, evidence, photos, review, visits
from server.services.projects import Place, place_of


@dataclass(frozen=True)
class VisitView:
    """Everything `GET /visits/{id}` answers, before serialization."""

    visit: Visit
    flags: list[str]
    place: Place
    sealed: bool  # the drawn assignment's check items stay hidden from the team (no in-geofence check-in yet)
    plan: bool  # the caller may read the assignment's plan (services.assignments.plan_visible)
    policy: dict[str, int]  # the evidence policy, so the phone can warn before submit
    checkins: list[CheckIn]
    photos: list[tuple[Photo, dict[str, str | None]]]  # each with its short-lived URLs
    waiting: list[Photo]  # tickets issued, upload not completed yet
    interviews: list[tuple[Interview, str]]  # each with its decrypted household name
    checklist: ChecklistResult | None  # the latest version
    checklist_versions: int
    notes: list[VisitNote]
    decisions: list[ReviewDecision]  # the latest verdict per photo and on the visit


def visit_view(session: Session, caller: User, visit_id: int) -> VisitView:
    """The visit `caller` may read (403/404 otherwise), gathered for the API's answer."""
    visit = visits.visit_for(session, caller, visit_id, write=False)
    rec = visits.visit_records(session, visit)
    assignment = visit.assignment
    # The team reads sealed items only once this visit has a check-in inside the geofence.
    sealed = assignments.is_member(assignment, caller) and assignments.is_sealed(
        assignment, any(c.within_geofence for c in rec["checkins"])
    )
    return VisitView(
        visit=visit,
        flags=rec["flags"],
        place=place_of(session, assignment),
        sealed=sealed,
        plan=assignments.plan_visible(session, assignment, caller),
        policy=evidence.policy_of(session, assignment),
        checkins=rec["checkins"],
        photos=[(p, photos.urls(p)) for p in rec["photos"]],
        waiting=[p for p in rec["photos"] if p.status == "pending"],
        interviews=[(i, visits.household_of(i)) for i in rec["interviews"]],
        checklist=rec["checklists"][-1] if rec["checklists"] else None,
        checklist_versions=len(rec["checklists"]),
        notes=rec["notes"],
        decisions=list(review.latest_decisions(session, visit.id).values()),
    )
