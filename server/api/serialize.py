"""JSON shapes of the API's objects; coordinates are WGS-84 unless the key says otherwise."""

from __future__ import annotations

from typing import Any

from flask import request

from server import geo
from server.models import (
    Assignment,
    CheckIn,
    ChecklistResult,
    Interview,
    Organization,
    Photo,
    Project,
    Site,
    Township,
    User,
    Village,
    Visit,
    VisitNote,
)


def absolute(url: str | None) -> str | None:
    """A URL the phone can use: the local storage backend hands out paths on this server."""
    if url and url.startswith("/"):
        return request.host_url.rstrip("/") + url
    return url


def iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def gcj02(lat: float, lng: float) -> dict[str, float]:
    """A GCJ-02 point for Chinese maps and wx.openLocation."""
    glat, glng = geo.wgs84_to_gcj02(lat, lng)
    return {"lat": round(glat, 7), "lng": round(glng, 7)}


def user(u: User, *, invite_code: str | None = None, full: bool = False) -> dict[str, Any]:
    """A user; `full` adds scope and binding details for administrators."""
    out: dict[str, Any] = {"id": u.id, "name": u.name, "roles": u.roles}
    if full:
        out.update(
            username=u.username,
            active=u.active,
            township_ids=sorted(t.id for t in u.townships),
            organization_ids=sorted(o.id for o in u.organizations),
            home_township_id=u.home_township_id,
            wechat_bound=bool(u.openid),
            invite_pending=bool(u.invite_code_hash),
            created_at=iso(u.created_at),
        )
    if invite_code:
        out["invite_code"] = invite_code
    return out


def township(t: Township) -> dict[str, Any]:
    """A township."""
    return {"id": t.id, "code": t.code, "name": t.name, "lat": t.lat, "lng": t.lng}


def village(v: Village) -> dict[str, Any]:
    """A village with its WGS-84 centre, GCJ-02 centre, geofence and boundary."""
    return {
        "id": v.id,
        "township_id": v.township_id,
        "code": v.code,
        "name": v.name,
        "lat": v.lat,
        "lng": v.lng,
        "gcj02": gcj02(v.lat, v.lng),
        "radius_m": v.radius_m,
        "boundary": v.boundary,
    }


def site(s: Site) -> dict[str, Any]:
    """A unit site."""
    return {
        "id": s.id,
        "name": s.name,
        "code": s.code,
        "township_id": s.township_id,
        "lat": s.lat,
        "lng": s.lng,
        "gcj02": gcj02(s.lat, s.lng),
        "radius_m": s.radius_m,
        "boundary": s.boundary,
    }


def organization(o: Organization) -> dict[str, Any]:
    """A party organization."""
    return {"id": o.id, "name": o.name, "domain": o.domain, "township_id": o.township_id, "village_id": o.village_id}


def project(p: Project) -> dict[str, Any]:
    """A project with its place(s)."""
    return {
        "id": p.id,
        "title": p.title,
        "year": p.year,
        "domain": p.domain,
        "level": p.level,
        "status": p.status,
        "organization": organization(p.organization) if p.organization else None,
        "village_ids": sorted(v.id for v in p.villages),
        "site": site(p.site) if p.site else None,
        "steps": p.steps,
        "targets": p.targets,
        "responsible": p.responsible,
        "allow_album": p.allow_album,
        "liaison_cadre_id": p.liaison_cadre_id,
    }


def _place(place) -> dict[str, Any]:
    """A place with its GCJ-02 point for navigation."""
    return {
        "kind": place.kind,
        "id": place.id,
        "name": place.name,
        "label": place.label,
        "township_id": place.township_id,
        "lat": place.lat,
        "lng": place.lng,
        "gcj02": gcj02(place.lat, place.lng),
        "radius_m": place.radius_m,
    }


def assignment(
    a: Assignment,
    place,
    *,
    sealed: bool = False,
    plan: bool = True,
    policy: dict[str, int] | None = None,
    team: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An assignment as the inspector's phone needs it (place with a GCJ-02 point for navigation).

    `sealed` hides the check items of a drawn assignment, telling only how many there are;
    without `plan` (services.assignments.plan_visible) the origin, round, team, due date and
    items are all null or empty, the same for drawn and hand-made work; `policy`
    (services.evidence.policy_of) is its evidence policy, so the phone can warn before submit;
    `team` (services.rounds.teams_of) names the standing team a round sent and its 组长.
    """
    if not plan:
        return {
            "id": a.id,
            "status": a.status,
            "due_date": None,
            "project": {"id": a.project.id, "title": a.project.title, "year": a.project.year},
            "village": village(a.village) if a.village else None,
            "place": _place(place),
            "check_items": [],
            "check_items_sealed": False,
            "check_items_count": None,
            "origin": None,
            "round_id": None,
            "inspectors": [],
            "team": None,
            "min_photos": None,
            "min_interviews": None,
            "closed_at": None,
        }
    return {
        **({"evidence_policy": policy} if policy is not None else {}),
        "min_photos": a.min_photos,
        "min_interviews": a.min_interviews,
        "closed_at": iso(a.closed_at),
        "id": a.id,
        "status": a.status,
        "due_date": a.due_date.isoformat() if a.due_date else None,
        "project": {"id": a.project.id, "title": a.project.title, "year": a.project.year},
        "village": village(a.village) if a.village else None,
        "place": _place(place),
        "check_items": [] if sealed else a.check_items,
        "check_items_sealed": sealed,
        "check_items_count": len(a.check_items or []),
        "origin": a.origin,
        "round_id": a.round_id,
        "inspectors": [{"id": m.id, "name": m.name} for m in a.members],
        "team": team,
    }


def checkin(c: CheckIn) -> dict[str, Any]:
    """A check-in with its distance and flags."""
    return {
        "id": c.id,
        "client_id": c.client_id,
        "visit_id": c.visit_id,
        "user_id": c.user_id,
        "lat": c.lat,
        "lng": c.lng,
        "accuracy_m": c.accuracy_m,
        "input": {"lat": c.input_lat, "lng": c.input_lng, "coord_type": c.input_coord_type},
        "client_time": iso(c.client_time),
        "sent_at": iso(c.sent_at),
        "received_at": iso(c.received_at),
        "distance_m": c.distance_m,
        "within_geofence": c.within_geofence,
        "flags": c.flags,
    }


def photo(p: Photo, urls: dict[str, str | None] | None = None) -> dict[str, Any]:
    """A photo in the pipeline, with presigned URLs when given."""
    out = {
        "id": p.id,
        "client_id": p.client_id,
        "status": p.status,
        "owner_kind": p.owner_kind,
        "owner_id": p.owner_id,
        "content_type": p.content_type,
        "size": p.size,
        "taken_at": iso(p.taken_at),
        "lat": p.lat,
        "lng": p.lng,
        "flags": p.flags,
        "duplicate_of": p.duplicate_of_id,
        "verify_code": p.verify_code,
        "sha256": p.sha256,
        "upload_sha256": p.upload_sha256,
        "width": p.width,
        "height": p.height,
        "exif": p.exif,
        "created_at": iso(p.created_at),
        "completed_at": iso(p.completed_at),
        "reject_reason": p.reject_reason,
        "reject_code": p.reject_code,
    }
    urls = urls or {"thumb_url": None, "preview_url": None, "original_url": None}
    out.update({k: absolute(v) for k, v in urls.items()})
    return out


def interview(i: Interview, household: str) -> dict[str, Any]:
    """An interview with the decrypted household name (only for readers allowed to see it)."""
    return {
        "id": i.id,
        "client_id": i.client_id,
        "visit_id": i.visit_id,
        "user_id": i.user_id,
        "household": household,
        "answers": i.answers,
        "satisfaction": i.satisfaction,
        "notes": i.notes,
        "sent_at": iso(i.sent_at),
        "created_at": iso(i.created_at),
    }


def checklist(c: ChecklistResult) -> dict[str, Any]:
    """One checklist version."""
    return {
        "id": c.id,
        "client_id": c.client_id,
        "visit_id": c.visit_id,
        "user_id": c.user_id,
        "items": c.items,
        "sent_at": iso(c.sent_at),
        "created_at": iso(c.created_at),
    }


def note(n: VisitNote) -> dict[str, Any]:
    """An appended remark."""
    return {
        "id": n.id,
        "client_id": n.client_id,
        "visit_id": n.visit_id,
        "user_id": n.user_id,
        "text": n.text,
        "sent_at": iso(n.sent_at),
        "created_at": iso(n.created_at),
    }


def visit_summary(v: Visit, flags: list[str] | None = None) -> dict[str, Any]:
    """A visit without its records."""
    return {
        "id": v.id,
        "client_id": v.client_id,
        "assignment_id": v.assignment_id,
        "project_id": v.project_id,
        "village_id": v.village_id,
        "township_id": v.township_id,
        "status": v.status,
        "started_at": iso(v.started_at),
        "created_at": iso(v.created_at),
        "submitted_at": iso(v.submitted_at),
        "created_by": v.created_by_id,
        # Integrity context: how late after its assignment's close the visit's records arrived, what
        # the inspector gave up at submit, and the short parts of the evidence policy.
        "late_sync_s": v.late_sync_s,
        "missing": v.missing or [],
        "evidence_short": v.evidence_short or {},
        "project_title": v.assignment.project.title,
        "village_name": v.assignment.village.name if v.assignment.village else None,
        **({"flags": flags} if flags is not None else {}),
    }


def feedback_reply(r) -> dict[str, Any]:
    """A reply as the villager and staff read it."""
    from server.models import FEEDBACK_STATUSES

    return {
        "id": r.id,
        "text": r.text,
        "status": r.status,
        "status_label": FEEDBACK_STATUSES[r.status],
        "reason": r.reason,
        "created_at": iso(r.created_at),
        "notified": r.notified,
    }


def _feedback_common(f, replies, photos) -> dict[str, Any]:
    from server.models import FEEDBACK_STATUSES
    from server.services.photos import urls

    return {
        "id": f.id,
        "receipt_no": f.receipt_no,
        "project_id": f.project_id,
        "rating": f.rating,
        "category": f.category,
        "text": f.text,
        "anonymous": f.anonymous,
        "status": f.status,
        "status_label": FEEDBACK_STATUSES[f.status],
        "due_at": iso(f.due_at),
        "created_at": iso(f.created_at),
        "closed_at": iso(f.closed_at),
        "replies": [feedback_reply(r) for r in replies if r.text or r.reason],
        "photos": [{"id": p.id, **{k: absolute(v) for k, v in urls(p).items() if k != "original_url"}} for p in photos],
    }


def feedback_for_author(f, replies, photos) -> dict[str, Any]:
    """Feedback as its author sees it (services.feedback.status_for_author)."""
    from server.models import FEEDBACK_STATUSES
    from server.services.feedback import status_for_author

    status = status_for_author(f)
    return {**_feedback_common(f, replies, photos), "status": status, "status_label": FEEDBACK_STATUSES[status]}


def feedback_for_staff(f, viewer, replies, photos) -> dict[str, Any]:
    """Feedback as staff see it: the author only when allowed, the phone masked unless county staff."""
    from server.models import utcnow
    from server.services import feedback as fb_service

    out = _feedback_common(f, replies, photos)
    visible = fb_service.author_visible(viewer, f)
    out.update(
        held_reason=fb_service.held_reason(f),
        author={"user_id": f.user_id} if visible else None,
        contact_phone=fb_service.phone_for(viewer, f),
        township_id=f.township_id,
        overdue=f.status not in fb_service.CLOSED_STATUSES and f.due_at < utcnow(),
    )
    return out


def quarterly_task(task, today) -> dict[str, Any]:
    """A task of the quarterly cycle (调度 / 实地督导 / 反馈通报) with its state as of `today` (China)."""
    return {
        "id": task.id,
        "year": task.year,
        "quarter": task.quarter,
        "kind": task.kind,
        "label": task.label,
        "due_date": task.due_date.isoformat(),
        "owner_id": task.owner_id,
        "notes": task.notes,
        "state": task.state(today),
        "done_at": iso(task.done_at),
        "done_by_id": task.done_by_id,
        "round_id": task.round_id,
        "evidence_note": task.evidence_note,
        "evidence_document": task.evidence_document,
    }


def team(t) -> dict[str, Any]:
    """A standing inspection team: members, 组长 and 带队领导 by id and name."""
    return {
        "id": t.id,
        "name": t.name,
        "active": t.active,
        "leader": {"id": t.leader.id, "name": t.leader.name} if t.leader else None,
        "lead_official": {"id": t.lead_official.id, "name": t.lead_official.name} if t.lead_official else None,
        "members": [{"id": m.id, "name": m.name} for m in t.members],
        "created_at": iso(t.created_at),
    }


def conflict(c, place_name: str) -> dict[str, Any]:
    """A declared conflict as its declarer and the staff see it (the note stays out of public records)."""
    return {
        "id": c.id,
        "user": {"id": c.user.id, "name": c.user.name},
        "kind": c.kind,
        "scope": c.scope,
        "place_id": c.village_id or c.township_id or c.organization_id,
        "place_name": place_name,
        "note": c.note,
        "declared_by": {"id": c.declared_by.id, "name": c.declared_by.name} if c.declared_by else None,
        "declared_at": iso(c.declared_at),
        "withdrawn_at": iso(c.withdrawn_at),
    }
