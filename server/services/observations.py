"""观摩 events (季有观摩, 月度观摩): a route of projects seen in one day, scored on site, ranked, and
closed into one ProjectObservation per project.

States: planned --start--> under_way --close--> closed. The route and the participants change only
while planned; scores only while under way; a closed event is final (its scores are locked).

Who: the department's staff only. Admins plan, run and close events and may enter the scores of
outside participants (township secretaries and others without an account); leaders read every
event; a reviewer reads the events whose route touches one of their townships, and any event they
take part in. Every staff participant enters their own scores.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any

from sqlalchemy import Select, false, or_, select, update
from sqlalchemy.orm import Session

from server import clock
from server.errors import ApiError
from server.models import (
    OBSERVATION_EVENT_STATUSES,
    OBSERVATION_KINDS,
    STAFF_ROLES,
    ObservationEvent,
    ObservationParticipant,
    ObservationScore,
    ObservationStop,
    Photo,
    Project,
    ProjectObservation,
    User,
    utcnow,
)
from server.services import audit, idempotency, photos
from server.services.common import claim, for_update
from server.services.lifecycle import quarter_of, visible_projects
from server.services.projects import project_place

OWNER_KIND = "observation_stop"
OBSERVABLE_STATUSES = ("approved", "in_progress", "accepted")
MAX_STOPS = 30
MAX_PARTICIPANTS = 60
# The observation a project gets from its mean on-site score: at least 90 好, 80 较好, 60 一般, else 差.
RATING_BANDS = ((90, "好"), (80, "较好"), (60, "一般"), (0, "差"))
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def rating_for(mean: Fraction) -> str:
    """The observation rating (OBSERVATION_RATINGS) of a mean score out of 100."""
    return next(label for low, label in RATING_BANDS if mean >= low)


# ---- scope ------------------------------------------------------------------------------------


def visible_events(user: User) -> Select:
    """The events this user may read: all for admins and leaders; for a reviewer those touching their
    townships or that they take part in; none for anyone else."""
    stmt = select(ObservationEvent)
    if user.has_role("admin", "leader"):
        return stmt
    if not user.has_role("reviewer"):
        return stmt.where(false())
    seen = visible_projects(user).with_only_columns(Project.id)
    touching = select(ObservationStop.event_id).where(ObservationStop.project_id.in_(seen))
    taking_part = select(ObservationParticipant.event_id).where(ObservationParticipant.user_id == user.id)
    return stmt.where(or_(ObservationEvent.id.in_(touching), ObservationEvent.id.in_(taking_part)))


def list_events(session: Session, user: User) -> list[ObservationEvent]:
    """The events this user may read, newest day first."""
    return list(
        session.scalars(visible_events(user).order_by(ObservationEvent.held_on.desc(), ObservationEvent.id.desc()))
    )


def get_event(session: Session, user: User, event_id: int, *, lock: bool = False) -> ObservationEvent:
    """An event the user may read, or a 404 (existence is not revealed)."""
    stmt = visible_events(user).where(ObservationEvent.id == event_id)
    if lock:
        claim(session, "observation_event", event_id)
    event = session.scalars(for_update(stmt) if lock else stmt).first()
    if event is None:
        raise ApiError("not_found", "找不到该观摩活动", {"id": event_id})
    return event


def _admin(user: User) -> None:
    if not user.has_role("admin"):
        raise ApiError("forbidden", "只有组织部管理员可以安排观摩活动")


def _state(event: ObservationEvent, *allowed: str, doing: str) -> None:
    if event.status not in allowed:
        raise ApiError(
            "conflict",
            f"观摩活动{OBSERVATION_EVENT_STATUSES[event.status]},不能{doing}",
            {"status": event.status},
        )


# ---- the route and the participants -----------------------------------------------------------


def stops_of(session: Session, event_id: int) -> list[ObservationStop]:
    """The event's route, in order."""
    return list(
        session.scalars(
            select(ObservationStop).where(ObservationStop.event_id == event_id).order_by(ObservationStop.position)
        )
    )


def participants_of(session: Session, event_id: int) -> list[ObservationParticipant]:
    """The event's participants: staff accounts first, then outside participants, each in the order added."""
    return list(
        session.scalars(
            select(ObservationParticipant)
            .where(ObservationParticipant.event_id == event_id)
            .order_by(ObservationParticipant.user_id.is_(None), ObservationParticipant.id)
        )
    )


def candidate_projects(session: Session) -> list[Project]:
    """Projects an event's route may include: approved, running or accepted, by year and title."""
    return list(
        session.scalars(
            select(Project)
            .where(Project.status.in_(OBSERVABLE_STATUSES))
            .order_by(Project.year.desc(), Project.title, Project.id)
        )
    )


def candidate_staff(session: Session) -> list[User]:
    """Staff accounts that may take part (admins, leaders, reviewers), by name."""
    users = session.scalars(select(User).where(User.active.is_(True)).order_by(User.name, User.id)).all()
    return [u for u in users if u.has_role(*STAFF_ROLES)]


def _clean(data: dict[str, Any], session: Session) -> dict[str, Any]:
    """Validate an event's fields: kind, title, day, route, participants."""
    kind = data.get("kind")
    if kind not in OBSERVATION_KINDS:
        raise ApiError("validation_failed", "请选择观摩类型:季度观摩或月度观摩", {"field": "kind"})
    title = (data.get("title") or "").strip()
    if not title:
        raise ApiError("validation_failed", "请填写观摩活动名称", {"field": "title"})
    if len(title) > 200:
        raise ApiError("validation_failed", "观摩活动名称不能超过 200 个字", {"field": "title"})
    held_on = data.get("held_on")
    if not isinstance(held_on, date):
        raise ApiError("validation_failed", "请填写观摩日期", {"field": "held_on"})
    stops = data.get("stops") or []
    if not stops:
        raise ApiError("validation_failed", "观摩路线至少要有一个项目", {"field": "stops"})
    if len(stops) > MAX_STOPS:
        raise ApiError("validation_failed", f"观摩路线最多 {MAX_STOPS} 个项目", {"field": "stops"})
    project_ids = [s["project_id"] for s in stops]
    if len(set(project_ids)) != len(project_ids):
        raise ApiError("validation_failed", "同一个项目在路线上只能出现一次", {"field": "stops"})
    found = {p.id: p for p in session.scalars(select(Project).where(Project.id.in_(project_ids)))}
    missing = [i for i in project_ids if i not in found]
    if missing:
        raise ApiError("not_found", "找不到路线上的项目", {"field": "stops", "project_ids": missing})
    not_running = [found[i].title for i in project_ids if found[i].status not in OBSERVABLE_STATUSES]
    if not_running:
        raise ApiError(
            "validation_failed", "只能观摩已立项、实施中或已验收的项目:" + "、".join(not_running), {"field": "stops"}
        )
    for s in stops:
        if s.get("planned_at") and not _TIME.match(s["planned_at"]):
            raise ApiError("validation_failed", f"计划时间“{s['planned_at']}”应写作 09:30", {"field": "stops"})
    staff_ids = list(dict.fromkeys(data.get("participant_ids") or []))
    staff = {u.id: u for u in session.scalars(select(User).where(User.id.in_(staff_ids)))}
    not_staff = [i for i in staff_ids if i not in staff or not staff[i].has_role(*STAFF_ROLES)]
    if not_staff:
        raise ApiError("validation_failed", "参加人员只能是组织部工作人员账号", {"field": "participant_ids"})
    outside = [
        {"name": o["name"].strip(), "post": (o.get("post") or "").strip(), "scoring": bool(o.get("scoring", True))}
        for o in data.get("outside") or []
        if o.get("name", "").strip()
    ]
    if len(staff_ids) + len(outside) > MAX_PARTICIPANTS:
        raise ApiError("validation_failed", f"参加人员最多 {MAX_PARTICIPANTS} 人", {"field": "participant_ids"})
    return {
        "kind": kind,
        "title": title,
        "held_on": held_on,
        "stops": [{"project_id": s["project_id"], "planned_at": s.get("planned_at") or ""} for s in stops],
        "staff": [staff[i] for i in staff_ids],
        "outside": outside,
    }


def _write_route(session: Session, event: ObservationEvent, clean: dict[str, Any]) -> None:
    """Replace the event's route and participants (only while planned: nothing is scored yet)."""
    for row in stops_of(session, event.id) + participants_of(session, event.id):
        session.delete(row)
    session.flush()
    for n, s in enumerate(clean["stops"], start=1):
        session.add(ObservationStop(event_id=event.id, position=n, **s))
    for u in clean["staff"]:
        session.add(ObservationParticipant(event_id=event.id, user_id=u.id, name=u.name, post="", scoring=True))
    for o in clean["outside"]:
        session.add(ObservationParticipant(event_id=event.id, user_id=None, **o))


def _summary(clean: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": clean["kind"],
        "held_on": clean["held_on"].isoformat(),
        "project_ids": [s["project_id"] for s in clean["stops"]],
        "participant_ids": [u.id for u in clean["staff"]],
        "outside": [o["name"] for o in clean["outside"]],
    }


def create_event(session: Session, admin: User, data: dict[str, Any]) -> ObservationEvent:
    """Plan an event: kind, title, day, the route (projects in order with planned times), participants."""
    _admin(admin)
    clean = _clean(data, session)
    event = ObservationEvent(
        kind=clean["kind"], title=clean["title"], held_on=clean["held_on"], status="planned", created_by_id=admin.id
    )
    session.add(event)
    session.flush()
    _write_route(session, event, clean)
    audit.append(session, admin, "observation.create", "observation_event", event.id, _summary(clean))
    session.commit()
    return event


def update_event(session: Session, admin: User, event_id: int, data: dict[str, Any]) -> ObservationEvent:
    """Change a planned event (its route and participants included)."""
    _admin(admin)
    event = get_event(session, admin, event_id, lock=True)
    _state(event, "planned", doing="修改")
    clean = _clean(data, session)
    event.kind, event.title, event.held_on = clean["kind"], clean["title"], clean["held_on"]
    _write_route(session, event, clean)
    audit.append(session, admin, "observation.update", "observation_event", event.id, _summary(clean))
    session.commit()
    return event


def start_event(session: Session, admin: User, event_id: int) -> ObservationEvent:
    """The event is under way: scores and photos may be entered."""
    _admin(admin)
    event = get_event(session, admin, event_id, lock=True)
    _state(event, "planned", doing="开始")
    event.status, event.started_at = "under_way", utcnow()
    audit.append(session, admin, "observation.start", "observation_event", event.id)
    session.commit()
    return event


# ---- scores -----------------------------------------------------------------------------------


def own_participant(session: Session, user: User, event_id: int) -> ObservationParticipant | None:
    """The user's own participant row on the event, if they take part."""
    return session.scalars(
        select(ObservationParticipant).where(
            ObservationParticipant.event_id == event_id, ObservationParticipant.user_id == user.id
        )
    ).first()


def sheets_for(session: Session, user: User, event: ObservationEvent) -> list[ObservationParticipant]:
    """The scoring participants whose sheet this user may fill in: their own; admins also outsiders'."""
    rows = [p for p in participants_of(session, event.id) if p.scoring]
    return [p for p in rows if p.user_id == user.id or (p.user_id is None and user.has_role("admin"))]


def scores_of(session: Session, event_id: int) -> list[ObservationScore]:
    """Every score of the event."""
    return list(
        session.scalars(
            select(ObservationScore)
            .join(ObservationStop, ObservationStop.id == ObservationScore.stop_id)
            .where(ObservationStop.event_id == event_id)
            .order_by(ObservationScore.id)
        )
    )


def save_scores(
    session: Session, user: User, event_id: int, participant_id: int | None, entries: list[dict[str, Any]]
) -> list[ObservationScore]:
    """Enter or change a participant's scores (0–100 and a remark) of stops; blank scores are skipped.

    `participant_id` None means the user's own sheet. Only while the event is under way.
    """
    event = get_event(session, user, event_id, lock=True)
    participant = (
        own_participant(session, user, event.id)
        if participant_id is None
        else session.get(ObservationParticipant, participant_id)
    )
    if participant is None or participant.event_id != event.id or participant not in sheets_for(session, user, event):
        raise ApiError("forbidden", "您不是本次观摩的评分人员,不能录入该评分", {"participant_id": participant_id})
    _state(event, "under_way", doing="评分" if event.status == "planned" else "再修改评分")
    stops = {s.id: s for s in stops_of(session, event.id)}
    existing = {
        s.stop_id: s
        for s in session.scalars(
            select(ObservationScore).where(
                ObservationScore.participant_id == participant.id, ObservationScore.stop_id.in_(list(stops) or [-1])
            )
        )
    }
    saved = []
    for e in entries:
        if e["stop_id"] not in stops:
            raise ApiError("not_found", "路线上没有该项目", {"field": "stop_id", "id": e["stop_id"]})
        score = e.get("score")
        if score is None:
            continue
        if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 100:
            raise ApiError("validation_failed", "评分应为 0–100 的整数", {"field": "score", "stop_id": e["stop_id"]})
        row = existing.get(e["stop_id"])
        if row is None:
            row = ObservationScore(stop_id=e["stop_id"], participant_id=participant.id)
            session.add(row)
        row.score, row.remark, row.entered_by_id = score, (e.get("remark") or "").strip()[:2000], user.id
        saved.append(row)
    session.flush()
    audit.append(
        session,
        user,
        "observation.score",
        "observation_event",
        event.id,
        {"participant_id": participant.id, "scores": {str(r.stop_id): r.score for r in saved}},
    )
    session.commit()
    return saved


# ---- the ranking --------------------------------------------------------------------------------


@dataclass
class Placing:
    """One stop in the ranking: its scores, mean, place, and why it stands above an equal mean."""

    stop: ObservationStop
    project: Project
    scores: list[ObservationScore] = field(default_factory=list)
    rank: int | None = None
    tie_note: str = ""

    @property
    def mean(self) -> Fraction | None:
        """The exact mean score, or None when nobody scored the stop."""
        return Fraction(sum(s.score for s in self.scores), len(self.scores)) if self.scores else None

    @property
    def lowest(self) -> int | None:
        """The lowest single score of the stop."""
        return min(s.score for s in self.scores) if self.scores else None

    @property
    def mean_text(self) -> str:
        """The mean to two decimals (half up), or 未评分."""
        m = self.mean
        return "未评分" if m is None else f"{(m * 100 + Fraction(1, 2)) // 1 / 100:.2f}"


TIE_RULE = "平均分相同时,最低分较高者在前;仍相同的,按观摩路线顺序在前者在前。"


def ranking(session: Session, event: ObservationEvent) -> list[Placing]:
    """Stops ranked by mean score; ties broken by the higher lowest score, then by route order.

    Means are compared exactly (fractions), so 85.333… never ties 85.33 by rounding. Stops nobody
    scored come last, unranked, in route order.
    """
    stops = stops_of(session, event.id)
    projects = {p.id: p for p in session.scalars(select(Project).where(Project.id.in_([s.project_id for s in stops])))}
    placings = {s.id: Placing(s, projects[s.project_id]) for s in stops}
    for score in scores_of(session, event.id):
        placings[score.stop_id].scores.append(score)
    scored = sorted((p for p in placings.values() if p.scores), key=lambda p: (-p.mean, -p.lowest, p.stop.position))
    for n, p in enumerate(scored, start=1):
        p.rank = n
        if n > 1 and scored[n - 2].mean == p.mean:
            above = scored[n - 2]
            p.tie_note = (
                f"与“{above.project.title}”平均分相同,最低分较低({p.lowest} < {above.lowest})"
                if above.lowest != p.lowest
                else f"与“{above.project.title}”平均分和最低分均相同,按路线顺序排在其后"
            )
    return scored + [p for p in placings.values() if not p.scores]


# ---- closing: one observation per project ------------------------------------------------------


def close_event(session: Session, admin: User, event_id: int) -> ObservationEvent:
    """Close an event under way: scores are locked and each scored project gets one ProjectObservation.

    Idempotent: a close of a closed event answers the event as it is. Two closes at once write the
    observations once: the status moves by a conditional UPDATE, which only one transaction wins
    (the other waits for its row lock and then matches nothing), and the unique index on
    (event_id, project_id) stands behind it.
    """
    _admin(admin)
    # Claimed (locked) like every score: a score committed on another node meanwhile makes this
    # close run again and rank it, instead of ranking without it.
    event = get_event(session, admin, event_id, lock=True)
    if event.status == "closed":
        session.commit()
        return event
    _state(event, "under_way", doing="结束")
    if event.held_on > clock.today():
        raise ApiError("conflict", "观摩日期未到,不能结束", {"held_on": event.held_on.isoformat()})
    won = session.execute(
        update(ObservationEvent)
        .where(ObservationEvent.id == event.id, ObservationEvent.status == "under_way")
        .values(status="closed", closed_at=utcnow(), closed_by_id=admin.id)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not won:
        session.rollback()
        return get_event(session, admin, event_id)
    observers = "、".join(p.name for p in participants_of(session, event.id))[:500]
    participants = {p.id: p.name for p in participants_of(session, event.id)}
    created = []
    for placing in ranking(session, event):
        if not placing.scores:
            continue
        remarks = [f"{participants[s.participant_id]}:{s.remark}" for s in placing.scores if s.remark]
        notes = f"{OBSERVATION_KINDS[event.kind]}“{event.title}”第 {placing.rank} 名,平均分 {placing.mean_text}"
        obs = ProjectObservation(
            project_id=placing.project.id,
            observed_on=event.held_on,
            quarter=quarter_of(event.held_on),
            observers=observers,
            rating=rating_for(placing.mean),
            notes="\n".join([notes, *remarks]),
            author_id=admin.id,
            event_id=event.id,
        )
        session.add(obs)
        created.append(obs)
    session.flush()
    audit.append(
        session,
        admin,
        "observation.close",
        "observation_event",
        event.id,
        {"observations": {str(o.project_id): o.rating for o in created}},
    )
    session.commit()
    session.refresh(event)
    return event


def observations_from(session: Session, event_id: int) -> list[ProjectObservation]:
    """The observations an event's close wrote, by project."""
    return list(
        session.scalars(
            select(ProjectObservation)
            .where(ProjectObservation.event_id == event_id)
            .order_by(ProjectObservation.project_id)
        )
    )


# ---- photos per stop ---------------------------------------------------------------------------


def photo_owner(session: Session, photo: Photo) -> photos.OwnerContext:
    """The photo pipeline's view of a photo taken at a stop of an event (OWNER_KIND)."""
    stop = session.get(ObservationStop, photo.owner_id)
    event = session.get(ObservationEvent, stop.event_id) if stop else None
    project = session.get(Project, stop.project_id) if stop else None
    uploader = session.get(User, photo.uploader_id)
    return photos.OwnerContext(
        place=project_place(session, project) if project else None,
        person=uploader.name if uploader else "",
        title=f"{OBSERVATION_KINDS[event.kind]} · {project.title}" if event and project else "观摩",
        can_complete=lambda u: u.id == photo.uploader_id,
        county_id=event.county_id if event else None,
    )


def request_photo(
    session: Session, user: User, event_id: int, stop_id: int, body: dict[str, Any]
) -> tuple[Photo, bool]:
    """A ticket for a photo of a stop, by a participant or an admin, while the event is under way."""
    event = get_event(session, user, event_id, lock=True)
    if not (user.has_role("admin") or own_participant(session, user, event.id)):
        raise ApiError("forbidden", "只有本次观摩的参加人员可以上传照片")
    _state(event, "under_way", doing="上传照片")
    stop = session.get(ObservationStop, stop_id)
    if stop is None or stop.event_id != event.id:
        raise ApiError("not_found", "路线上没有该项目", {"id": stop_id})

    def create() -> Photo:
        photo = photos.new_photo(owner_kind=OWNER_KIND, owner_id=stop.id, user=user, body=body, visit_id=None)
        session.add(photo)
        session.flush()
        audit.append(session, user, "photo.ticket", "photo", photo.id, {"owner": OWNER_KIND, "stop_id": stop.id})
        return photo

    return idempotency.run(
        session,
        user=user,
        kind="observation.photo",
        target=stop.id,
        body=body,
        create=create,
        load=lambda i: session.get(Photo, i),
    )


def photos_by_stop(session: Session, event_id: int) -> dict[int, list[Photo]]:
    """The ready photos of each stop of the event."""
    stop_ids = [s.id for s in stops_of(session, event_id)]
    out: dict[int, list[Photo]] = {i: [] for i in stop_ids}
    for p in session.scalars(
        select(Photo)
        .where(Photo.owner_kind == OWNER_KIND, Photo.owner_id.in_(stop_ids or [-1]), Photo.status == "ready")
        .order_by(Photo.id)
    ):
        out[p.owner_id].append(p)
    return out
