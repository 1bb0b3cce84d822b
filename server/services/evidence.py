"""The evidence policy: how many photos and home interviews a visit should bring back.

A round sets it for its visits (default 2 photos and 1 interview) and an assignment may
override either number. Submitting never fails for want of evidence — nothing recorded is
lost — but the visit then carries `evidence_short` with what is missing, for reviewers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from server.models import DEFAULT_MIN_INTERVIEWS, DEFAULT_MIN_PHOTOS, Assignment, InspectionRound

# Console labels of the parts of the policy.
PART_LABELS = {"photos": "照片", "interviews": "入户走访"}
MAX_MINIMUM = 50


def policy_of(session: Session, assignment: Assignment) -> dict[str, int]:
    """{"min_photos", "min_interviews"} of an assignment: its overrides, else its round's, else the defaults."""
    r = session.get(InspectionRound, assignment.round_id) if assignment.round_id else None
    photos = r.min_photos if r is not None else DEFAULT_MIN_PHOTOS
    interviews = r.min_interviews if r is not None else DEFAULT_MIN_INTERVIEWS
    return {
        "min_photos": assignment.min_photos if assignment.min_photos is not None else photos,
        "min_interviews": assignment.min_interviews if assignment.min_interviews is not None else interviews,
    }


def shortfall(policy: dict[str, int], *, photos: int, interviews: int) -> dict[str, Any]:
    """Only the parts of the policy a visit falls short of: {"photos": {"required", "got"}, ...}."""
    short = {}
    for part, got, required in (
        ("photos", photos, policy["min_photos"]),
        ("interviews", interviews, policy["min_interviews"]),
    ):
        if got < required:
            short[part] = {"required": required, "got": got}
    return short


def describe(short: dict[str, Any] | None) -> str:
    """'照片 1/2 张、入户走访 0/1 户' for reviewers; empty when nothing is short."""
    units = {"photos": "张", "interviews": "户"}
    return "、".join(
        f"{PART_LABELS.get(k, k)} {v['got']}/{v['required']} {units.get(k, '')}" for k, v in (short or {}).items()
    )
