"""Unannounced visits: start, check in, interview, checklist, notes, submit, read and list."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.orm import Session, defaultload, lazyload

from server import clock, geo
from server.crypto import cipher
from server.errors import ApiError
from server.models import (
    Assignment,
    CheckIn,
    ChecklistResult,
    Interview,
    Photo,
    Project,
    Site,
    Township,
    User,
    Village,
    Visit,
    VisitFlag,
    VisitNote,
    assignment_members,
    utcnow,
)
from server.services import audit, evidence, idempotency, photos, visit_stats
from server.services.assignments import is_member, is_sealed, unsealed_visit_ids
from server.services.common import for_update, paginate, wgs84_point
from server.services.projects import Place, place_of
from server.timefmt import parse_datetime

CLOCK_SKEW = timedelta(minutes=10)
LOW_ACCURACY_M = 100
MAX_SPEED_KMH = 150


def staff_can_read(user: User, visit: Visit) -> bool:
    """Admins and leaders read every visit; reviewers only submitted ones in their townships."""
    if user.has_role("admin", "leader"):
        return True
    if user.has_role("reviewer"):
        return visit.status == "submitted" and visit.township_id in {t.id for t in user.townships}
    return False


# The team and the project's villages load when they are read, not with every visit: each
# write (every photo's ticket among them) checks the team with one indexed statement instead
# of loading every member's roles, townships and organizations.
_VISIT_ALONE = (
    defaultload(Visit.assignment).lazyload(Assignment.members),
    defaultload(Visit.assignment).defaultload(Assignment.project).lazyload(Project.villages),
)
# The same, with the assignment itself loaded apart too: a visit read FOR UPDATE locks its row alone
# (MariaDB would lock every row joined into the select).
_VISIT_ROW_ALONE = (
    lazyload(Visit.assignment).lazyload(Assignment.members),
    lazyload(Visit.assignment).defaultload(Assignment.project).lazyload(Project.villages),
)


def on_team(session: Session, assignment_id: int, user: User) -> bool:
    """Whether the user is on the assignment's team (one indexed statement, nothing loaded)."""
    member = assignment_members.c
    found = session.scalar(
        select(member.user_id).where(member.assignment_id == assignment_id, member.user_id == user.id)
    )
    return found is not None


def visit_for(session: Session, user: User, visit_id: int, *, write: bool) -> Visit:
    """A visit the user may see (team members; staff in scope for reading); 404 otherwise."""
    visit = session.get(Visit, visit_id, options=_VISIT_ALONE)
    if visit is not None and (
        on_team(session, visit.assignment_id, user) or (not write and staff_can_read(user, visit))
    ):
        return visit
    raise ApiError("not_found", "找不到该暗访记录", {"id": visit_id})


def ensure_open(visit: Visit) -> None:
    """ApiError(visit_submitted) once a visit has been submitted."""
    if visit.status == "submitted":
        raise ApiError("visit_submitted", details={"visit_id": visit.id})


def flag_visit(session: Session, visit_id: int, flags: list[str]) -> None:
    """Record flags on the visit's flag index (already present ones are kept) and count new ones."""
    if not flags:
        return
    stmt = insert(VisitFlag.__table__).prefix_with("OR IGNORE", dialect="sqlite").prefix_with("IGNORE", dialect="mysql")
    # One row per statement: its rowcount says whether the flag is new (a concurrent insert of
    # the same flag waits on the key and is then ignored), and only new flags are counted.
    added = [f for f in sorted(set(flags)) if session.execute(stmt, {"visit_id": visit_id, "flag": f}).rowcount == 1]
    if added:
        visit_stats.count_new_flags(session, session.get(Visit, visit_id, options=_VISIT_ALONE), added)


def unflag_visit(session: Session, visit_id: int, flag: str) -> None:
    """Remove a flag that no longer holds (evidence that arrived after all) and uncount it."""
    gone = session.execute(
        delete(VisitFlag.__table__).where(
            VisitFlag.__table__.c.visit_id == visit_id, VisitFlag.__table__.c.flag == flag
        )
    ).rowcount
    if gone:
        visit_stats.count_new_flags(session, session.get(Visit, visit_id, options=_VISIT_ALONE), [flag], sign=-1)


# ---- late sync: records of an assignment that closed before they arrived ---------------------


def _closed(assignment: Assignment, reason: str, message: str) -> ApiError:
    closed_at = assignment.closed_at
    return ApiError(
        "assignment_closed",
        message,
        {"assignment_id": assignment.id, "closed_at": closed_at.isoformat() if closed_at else None, "reason": reason},
    )


def _china(moment: datetime) -> str:
    return clock.china_time(moment)


def late_delay(assignment: Assignment, received: datetime) -> int | None:
    """None while the assignment is open; else the seconds since its close, when a record may still
    arrive (LATE_SYNC_DAYS); else ApiError(assignment_closed)."""
    if assignment.status == "open":
        return None
    closed_at = assignment.closed_at
    if closed_at is None:
        raise _closed(assignment, "closed", "该督查任务已结束,不再接收暗访记录")
    days = current_app.config["LATE_SYNC_DAYS"]
    if received - closed_at > timedelta(days=days):
        raise _closed(
            assignment,
            "too_late",
            f"该督查任务已于 {_china(closed_at)} 结束,超过 {days} 天的补传期限,这条记录不能再上传;"
            "请导出本机记录交督查组处理",
        )
    return max(0, int((received - closed_at).total_seconds()))


def _late_start(
    session: Session, assignment: Assignment, user: User, body: dict[str, Any], started_at: datetime, received: datetime
) -> int | None:
    """The delay of a visit started for a closed assignment, when it may be taken late; else ApiError."""
    delay = late_delay(assignment, received)
    if delay is None:
        return None
    closed_at = assignment.closed_at
    added_at = session.scalar(
        select(assignment_members.c.added_at).where(
            assignment_members.c.assignment_id == assignment.id, assignment_members.c.user_id == user.id
        )
    )
    if added_at is not None and added_at > closed_at:
        raise _closed(assignment, "joined_after_close", "任务结束后才加入督查组,不能补传该任务结束前的暗访")
    # The phone's clock says when the visit started: trust it only when it agrees with ours now
    # (sent_at) and the start is not in the phone's own future.
    sent_at = parse_datetime(body["sent_at"]) if body.get("sent_at") else None
    if sent_at is None or abs(sent_at - received) > CLOCK_SKEW or started_at > sent_at + CLOCK_SKEW:
        raise _closed(
            assignment, "clock", "手机时间与服务器时间不一致,无法确认这次暗访是在任务结束前开始的,请校准手机时间后重试"
        )
    if started_at >= closed_at:
        raise _closed(
            assignment, "started_after_close", f"该督查任务已于 {_china(closed_at)} 结束,结束后开始的暗访不能上传"
        )
    return delay


def mark_late(session: Session, visit: Visit, delay: int | None) -> None:
    """Flag a visit late_sync and keep the longest delay of its late records."""
    if delay is None:
        return
    visit.late_sync_s = max(visit.late_sync_s or 0, delay)
    session.flush()
    flag_visit(session, visit.id, ["late_sync"])


def _accept_late(session: Session, visit: Visit) -> None:
    """Let a record of a visit through when its assignment is open or closed within LATE_SYNC_DAYS."""
    mark_late(session, visit, late_delay(visit.assignment, utcnow()))


# ---- evidence policy ----------------------------------------------------------------------------


def refresh_evidence(session: Session, visit: Visit) -> None:
    """Measure a submitted visit against its evidence policy: store the short parts and (un)flag it."""
    session.flush()
    ready = (
        session.scalar(
            select(func.count(Photo.id)).where(
                Photo.visit_id == visit.id, Photo.owner_kind == "visit", Photo.status == "ready"
            )
        )
        or 0
    )
    interviews = session.scalar(select(func.count(Interview.id)).where(Interview.visit_id == visit.id)) or 0
    short = evidence.shortfall(evidence.policy_of(session, visit.assignment), photos=ready, interviews=interviews)
    visit.evidence_short = short or None
    session.flush()
    if short:
        flag_visit(session, visit.id, ["evidence_short"])
    else:
        unflag_visit(session, visit.id, "evidence_short")


def start_visit(session: Session, user: User, body: dict[str, Any]) -> tuple[Visit, bool]:
    """Open a visit for one of the user's assignments."""
    assignment = session.get(Assignment, body["assignment_id"])
    if assignment is None or not is_member(assignment, user):
        raise ApiError("not_found", "找不到该督查任务", {"assignment_id": body["assignment_id"]})

    def create() -> Visit:
        started_at = parse_datetime(body["started_at"])
        delay = _late_start(session, assignment, user, body, started_at, utcnow())
        place = place_of(session, assignment)
        visit = Visit(
            assignment_id=assignment.id,
            project_id=assignment.project_id,
            village_id=assignment.village_id,
            township_id=place.township_id,
            client_id=body["client_id"],
            started_at=started_at,
            created_by_id=user.id,
        )
        session.add(visit)
        session.flush()
        mark_late(session, visit, delay)
        audit.append(
            session,
            user,
            "visit.start",
            "visit",
            visit.id,
            {"assignment_id": assignment.id, **({"late_sync_s": delay} if delay is not None else {})},
        )
        return visit

    return idempotency.run(
        session,
        user=user,
        kind="visit.start",
        target=assignment.id,
        body=body,
        create=create,
        load=lambda i: session.get(Visit, i),
    )


def _speed_flag(session: Session, user: User, lat: float, lng: float, accuracy: float, when) -> dict | None:
    """The fastest move needed between this fix and the user's neighbouring check-ins in time."""
    prev = session.scalars(
        select(CheckIn)
        .where(CheckIn.user_id == user.id, CheckIn.client_time <= when)
        .order_by(CheckIn.client_time.desc(), CheckIn.id.desc())
        .limit(1)
    ).first()
    nxt = session.scalars(
        select(CheckIn)
        .where(CheckIn.user_id == user.id, CheckIn.client_time > when)
        .order_by(CheckIn.client_time, CheckIn.id)
        .limit(1)
    ).first()
    worst = None
    for other in (prev, nxt):
        if other is None:
            continue
        seconds = abs((when - other.client_time).total_seconds())
        # Forgive the error both fixes admit to, so GPS jitter is not taken for travel.
        speed = geo.speed_kmh((other.lat, other.lng), (lat, lng), seconds, slack_m=other.accuracy_m + accuracy)
        if speed > MAX_SPEED_KMH and (worst is None or speed > worst["speed_kmh"]):
            worst = {"speed_kmh": speed, "checkin_id": other.id}
    return worst


def add_checkin(session: Session, user: User, visit_id: int, body: dict[str, Any]) -> tuple[CheckIn, bool]:
    """Store a GPS check-in in WGS-84 with its distance to the place and integrity flags."""
    visit = visit_for(session, user, visit_id, write=True)

    def create() -> CheckIn:
        ensure_open(visit)
        _accept_late(session, visit)
        lat, lng = wgs84_point(body)
        place = place_of(session, visit.assignment)
        received = utcnow()
        client_time = parse_datetime(body["client_time"])
        sent_at = parse_datetime(body["sent_at"])
        accuracy = float(body["accuracy_m"])
        distance = geo.distance_to_place_m(lat, lng, center=(place.lat, place.lng), boundary=place.boundary)
        within = distance <= place.radius_m
        flags = []
        if not within:
            flags.append("far_from_village")
        if accuracy > LOW_ACCURACY_M:
            flags.append("low_accuracy")
        if accuracy == 0:
            flags.append("zero_accuracy")
        phone_clock_off = sent_at - received
        if abs(phone_clock_off) > CLOCK_SKEW:
            flags.append("clock_skew")
            # The phone's clock is wrong by about as much as sent_at is: put the fix on the
            # server's clock, so time order and speed checks compare like with like.
            client_time -= phone_clock_off
        speed = _speed_flag(session, user, lat, lng, accuracy, client_time)
        if speed:
            flags.append("impossible_speed")
        checkin = CheckIn(
            visit_id=visit.id,
            user_id=user.id,
            client_id=body["client_id"],
            lat=lat,
            lng=lng,
            accuracy_m=accuracy,
            input_lat=body["lat"],
            input_lng=body["lng"],
            input_coord_type=body.get("coord_type", "wgs84"),
            client_time=client_time,
            sent_at=sent_at,
            received_at=received,
            distance_m=round(distance, 1),
            within_geofence=within,
            flags=flags,
        )
        session.add(checkin)
        session.flush()
        flag_visit(session, visit.id, flags)
        audit.append(
            session,
            user,
            "visit.checkin",
            "checkin",
            checkin.id,
            {
                "visit_id": visit.id,
                "lat": lat,
                "lng": lng,
                "distance_m": checkin.distance_m,
                "flags": flags,
                **({"speed": speed} if speed else {}),
                **({"phone_client_time": body["client_time"]} if "clock_skew" in flags else {}),
            },
        )
        return checkin

    return idempotency.run(
        session,
        user=user,
        kind="visit.checkin",
        target=visit.id,
        body=body,
        create=create,
        load=lambda i: session.get(CheckIn, i),
    )


def request_photo(session: Session, user: User, visit_id: int, body: dict[str, Any]) -> tuple[Photo, bool]:
    """A pending photo of the visit; asking again with its client_id gives the same photo."""
    visit = visit_for(session, user, visit_id, write=True)

    def create() -> Photo:
        ensure_open(visit)
        _accept_late(session, visit)
        photo = photos.new_photo(owner_kind="visit", owner_id=visit.id, user=user, body=body, visit_id=visit.id)
        session.add(photo)
        session.flush()
        audit.append(
            session, user, "photo.ticket", "photo", photo.id, {"visit_id": visit.id, "object_key": photo.upload_key}
        )
        return photo

    return idempotency.run(
        session,
        user=user,
        kind="photo.ticket",
        target=["visit", visit.id],
        body=body,
        create=create,
        load=lambda i: session.get(Photo, i),
    )


def photo_owner(session: Session, photo: Photo) -> photos.OwnerContext:
    """The photo pipeline's view of a visit photo (owner kind "visit").

    Read with Core statements, one for the place, title and uploader and one for the team, on
    every photo completion: loading the visit through the ORM loaded its assignment, project,
    villages and every team member's roles, townships and organizations (eight statements).
    """
    township_id = func.coalesce(Village.township_id, Site.township_id)
    row = session.execute(
        select(
            Visit.status,
            Visit.assignment_id,
            Visit.county_id,
            Project.title,
            Village.id.label("village_id"),
            Village.name.label("village_name"),
            Village.lat.label("village_lat"),
            Village.lng.label("village_lng"),
            Village.radius_m.label("village_radius_m"),
            Village.boundary.label("village_boundary"),
            Site.id.label("site_id"),
            Site.name.label("site_name"),
            Site.lat.label("site_lat"),
            Site.lng.label("site_lng"),
            Site.radius_m.label("site_radius_m"),
            Site.boundary.label("site_boundary"),
            township_id.label("township_id"),
            Township.name.label("township_name"),
            select(User.name).where(User.id == photo.uploader_id).scalar_subquery().label("uploader"),
        )
        .join(Assignment, Assignment.id == Visit.assignment_id)
        .join(Project, Project.id == Assignment.project_id)
        .outerjoin(Village, Village.id == Assignment.village_id)
        .outerjoin(Site, and_(Assignment.village_id.is_(None), Site.id == Project.site_id))
        .outerjoin(Township, Township.id == township_id)
        .where(Visit.id == photo.owner_id)
    ).one()
    if row.village_id is not None:
        place = Place(
            "village",
            row.village_id,
            row.village_name,
            row.township_id,
            row.township_name or "",
            row.village_lat,
            row.village_lng,
            row.village_radius_m,
            row.village_boundary,
        )
    elif row.site_id is not None:
        place = Place(
            "site",
            row.site_id,
            row.site_name,
            row.township_id,
            row.township_name or "",
            row.site_lat,
            row.site_lng,
            row.site_radius_m,
            row.site_boundary,
        )
    else:
        raise ApiError("conflict", "该项目没有设置地点")
    visit_id, assignment_id = photo.owner_id, row.assignment_id

    return photos.OwnerContext(
        place=place,
        person=row.uploader or "",
        title=row.title,
        # Any team member may finish an upload a colleague's phone started.
        can_complete=lambda user: on_team(session, assignment_id, user),
        after_ready=lambda s, p: _photo_ready(s, visit_id, p),
        county_id=row.county_id,
    )


def _photo_ready(session: Session, visit_id: int, photo: Photo) -> None:
    """A visit photo passed verification: its flags are the visit's, and it may make up the evidence.

    The visit's status is read now, under the visit row's lock, not when the complete began: a
    submit that landed meanwhile counted this photo as pending, so the evidence is measured again
    here; on one database a submit still running waits for this commit (or this for its) and
    counts the photo itself. Locks are taken in a submit's order: the visit, then the monthly
    counts (the photo's changes, flushed only once the visit is locked, so they are filed under
    its status as it is now), then the list counts (new flags). Flushing before the visit's lock
    let the two deadlock. No Visit is changed in the session here, so re-reading it under the lock
    loses nothing. Across Galera nodes the complete and the submit both write the county's audit
    chain head, so one is refused (1213) and run again after the other.
    """
    locked = select(Visit).where(Visit.id == visit_id).options(*_VISIT_ROW_ALONE)
    with session.no_autoflush:
        visit = session.scalars(for_update(locked)).one()
    session.flush()
    flag_visit(session, visit_id, photo.flags)
    if visit.status == "submitted":
        refresh_evidence(session, visit)


def add_interview(session: Session, user: User, visit_id: int, body: dict[str, Any]) -> tuple[Interview, bool]:
    """Store a villager interview; the household name is encrypted at rest."""
    visit = visit_for(session, user, visit_id, write=True)

    def create() -> Interview:
        ensure_open(visit)
        _accept_late(session, visit)
        interview = Interview(
            visit_id=visit.id,
            user_id=user.id,
            client_id=body["client_id"],
            household_enc=cipher().encrypt(body["household"].strip()),
            answers=body.get("answers", {}),
            satisfaction=body["satisfaction"],
            notes=body.get("notes", ""),
            sent_at=parse_datetime(body["sent_at"]),
        )
        session.add(interview)
        session.flush()
        # The audit log is kept for years: it names the interview, not the household.
        audit.append(
            session,
            user,
            "visit.interview",
            "interview",
            interview.id,
            {"visit_id": visit.id, "satisfaction": interview.satisfaction},
        )
        return interview

    return idempotency.run(
        session,
        user=user,
        kind="visit.interview",
        target=visit.id,
        body=body,
        create=create,
        load=lambda i: session.get(Interview, i),
    )


def put_checklist(session: Session, user: User, visit_id: int, body: dict[str, Any]) -> tuple[ChecklistResult, bool]:
    """Store a new version of the visit's checklist (earlier versions are kept)."""
    visit = visit_for(session, user, visit_id, write=True)

    def create() -> ChecklistResult:
        ensure_open(visit)
        _accept_late(session, visit)
        if is_sealed(visit.assignment, visit.id in unsealed_visit_ids(session, [visit.id])):
            raise ApiError(
                "conflict",
                "督查事项尚未开启:请先在村庄范围内完成定位签到,再填写督查事项",
                {"reason": "sealed", "visit_id": visit.id},
            )
        allowed = visit.assignment.check_items
        names = [i["item"] for i in body["items"]]
        if len(set(names)) != len(names):
            raise ApiError("validation_failed", "督查事项有重复", {"field": "items"})
        unknown = [n for n in names if allowed and n not in allowed]
        if unknown:
            raise ApiError(
                "validation_failed",
                f"不在本次任务中的督查事项:{'、'.join(unknown)}",
                {"field": "items", "unknown": unknown},
            )
        items = [{"item": i["item"], "result": i["result"], "note": i.get("note", "")} for i in body["items"]]
        result = ChecklistResult(
            visit_id=visit.id,
            user_id=user.id,
            client_id=body["client_id"],
            items=items,
            sent_at=parse_datetime(body["sent_at"]),
        )
        session.add(result)
        session.flush()
        audit.append(session, user, "visit.checklist", "checklist", result.id, {"visit_id": visit.id, "items": items})
        return result

    return idempotency.run(
        session,
        user=user,
        kind="visit.checklist",
        target=visit.id,
        body=body,
        create=create,
        load=lambda i: session.get(ChecklistResult, i),
    )


def add_note(session: Session, user: User, visit_id: int, body: dict[str, Any]) -> tuple[VisitNote, bool]:
    """Append a remark; allowed after submit, since notes never change what was recorded."""
    visit = visit_for(session, user, visit_id, write=True)

    def create() -> VisitNote:
        # A remark changes nothing recorded: it is taken within the late-sync period, not flagged.
        late_delay(visit.assignment, utcnow())
        note = VisitNote(
            visit_id=visit.id,
            user_id=user.id,
            client_id=body["client_id"],
            text=body["text"],
            sent_at=parse_datetime(body["sent_at"]),
        )
        session.add(note)
        session.flush()
        audit.append(
            session,
            user,
            "visit.note",
            "visit_note",
            note.id,
            {"visit_id": visit.id, "after_submit": visit.status == "submitted"},
        )
        return note

    return idempotency.run(
        session,
        user=user,
        kind="visit.note",
        target=visit.id,
        body=body,
        create=create,
        load=lambda i: session.get(VisitNote, i),
    )


def submit_visit(session: Session, user: User, visit_id: int, body: dict[str, Any]) -> Visit:
    """Close the visit for edits, recording what the inspector gave up (`missing`) and what the
    evidence policy finds short; photos still uploading do not hold it. Submitting again answers
    with the same visit."""
    visit = visit_for(session, user, visit_id, write=True)
    if visit.status == "submitted":
        return visit

    def create() -> Visit:
        locked = session.execute(for_update(select(Visit).where(Visit.id == visit.id))).scalar_one()
        if locked.status != "submitted":
            delay = late_delay(locked.assignment, utcnow())
            missing = [
                {"kind": m["kind"], "client_id": m["client_id"], "reason": m.get("reason", "")}
                for m in body.get("missing", [])
            ]
            locked.status, locked.submitted_at, locked.submitted_by_id = "submitted", utcnow(), user.id
            locked.missing = missing or None
            mark_late(session, locked, delay)
            refresh_evidence(session, locked)
            audit.append(
                session,
                user,
                "visit.submit",
                "visit",
                locked.id,
                {
                    **({"missing": missing} if missing else {}),
                    **({"evidence_short": locked.evidence_short} if locked.evidence_short else {}),
                },
            )
        return locked

    result, _ = idempotency.run(
        session,
        user=user,
        kind="visit.submit",
        target=visit.id,
        body=body,
        # The visit was read before a concurrent retry committed the submit: read it afresh.
        create=create,
        load=lambda i: session.get(Visit, i, populate_existing=True),
    )
    return result


# ---- reading ----------------------------------------------------------------------------


def visit_records(session: Session, visit: Visit) -> dict[str, list]:
    """Everything recorded in a visit, oldest first."""

    def rows(model, *order):
        return list(session.scalars(select(model).where(model.visit_id == visit.id).order_by(*order)))

    return {
        "checkins": rows(CheckIn, CheckIn.client_time, CheckIn.id),
        "photos": rows(Photo, Photo.id),
        "interviews": rows(Interview, Interview.id),
        "checklists": rows(ChecklistResult, ChecklistResult.id),
        "notes": rows(VisitNote, VisitNote.id),
        "flags": sorted(session.scalars(select(VisitFlag.flag).where(VisitFlag.visit_id == visit.id))),
    }


def household_of(interview: Interview) -> str:
    """The decrypted household name of an interview."""
    return cipher().decrypt(interview.household_enc)


def list_visits(session: Session, user: User, q: dict[str, Any]) -> tuple[list[Visit], int]:
    """Visits visible to staff, filtered by village, project, township, status and flag."""
    stmt = select(Visit)
    if not user.has_role("admin", "leader"):
        scope = [t.id for t in user.townships]
        stmt = stmt.where(Visit.township_id.in_(scope or [-1]), Visit.status == "submitted")
    for key, column in (
        ("village_id", Visit.village_id),
        ("project_id", Visit.project_id),
        ("township_id", Visit.township_id),
        ("status", Visit.status),
    ):
        if q.get(key) is not None:
            stmt = stmt.where(column == q[key])
    if q.get("flag"):
        stmt = stmt.where(Visit.id.in_(select(VisitFlag.visit_id).where(VisitFlag.flag == q["flag"])))
    stmt = stmt.order_by(Visit.created_at.desc(), Visit.id.desc())
    return paginate(session, stmt, q["page"], q["per_page"])


def flags_by_visit(session: Session, visit_ids: list[int]) -> dict[int, list[str]]:
    """Flags of many visits in one query."""
    out: dict[int, list[str]] = {i: [] for i in visit_ids}
    if visit_ids:
        for vid, flag in session.execute(
            select(VisitFlag.visit_id, VisitFlag.flag).where(VisitFlag.visit_id.in_(visit_ids)).order_by(VisitFlag.flag)
        ):
            out[vid].append(flag)
    return out
