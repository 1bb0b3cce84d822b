"""What staff may see of visits, and the filters every list, count and export shares.

Scope is enforced here, in the query: admins and leaders see everything; reviewers see only
visits in their townships, and only once submitted, so nobody in a township learns of an
unannounced visit while it is under way.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, raiseload

from server import geo, tenancy
from server.clock import CHINA
from server.errors import ApiError
from server.models import (
    AuditEntry,
    CheckIn,
    ChecklistResult,
    Interview,
    Photo,
    Project,
    ReviewDecision,
    Site,
    Township,
    User,
    UserRole,
    Village,
    Visit,
    VisitFlag,
    VisitListCount,
    VisitNote,
    assignment_members,
)
from server.services import audit, visit_stats
from server.services.photos import urls as photo_urls
from server.services.projects import Place, place_of
from server.services.visits import flags_by_visit, household_of, staff_can_read, visit_records

FILTER_KEYS = ("township_id", "village_id", "project_id", "inspector_id", "status", "flag", "date_from", "date_to")


def parse_filters(args: Any) -> dict[str, Any]:
    """Filters from a query string (bad values are dropped, not errors: a console URL is typed by hand)."""
    out: dict[str, Any] = {}
    for key in ("township_id", "village_id", "project_id", "inspector_id"):
        value = (args.get(key) or "").strip()
        if value.isdigit():
            out[key] = int(value)
    if args.get("status") in ("in_progress", "submitted"):
        out["status"] = args["status"]
    if (args.get("flag") or "").strip():
        out["flag"] = args["flag"].strip()[:32]
    for key in ("date_from", "date_to"):
        with contextlib.suppress(ValueError):
            out[key] = date.fromisoformat((args.get(key) or "").strip())
    return out


def visit_scope(user: User) -> tuple[list[int] | None, str | None]:
    """(townships, status) the visits a staff member sees are limited to; None: not limited.

    Reviewers see their townships' submitted visits; other non-county roles see none.
    """
    if user.has_role("admin", "leader"):
        return None, None
    return ([t.id for t in user.townships] if user.has_role("reviewer") else []), "submitted"


def scoped_visits(user: User) -> Select:
    """A select of the visits this staff member may see at all."""
    stmt = select(Visit)
    townships, status = visit_scope(user)
    if townships is not None:
        stmt = stmt.where(Visit.township_id.in_(townships or [-1]), Visit.status == status)
    return stmt


def filtered_visits(user: User, filters: dict[str, Any]) -> Select:
    """Scoped visits narrowed by the filters (dates are China calendar days of the visit's start)."""
    stmt = scoped_visits(user)
    for key, column in (
        ("township_id", Visit.township_id),
        ("village_id", Visit.village_id),
        ("project_id", Visit.project_id),
        ("status", Visit.status),
    ):
        if key in filters:
            stmt = stmt.where(column == filters[key])
    if "inspector_id" in filters:
        stmt = stmt.where(
            Visit.assignment_id.in_(
                select(assignment_members.c.assignment_id).where(
                    assignment_members.c.user_id == filters["inspector_id"]
                )
            )
        )
    if "flag" in filters:
        stmt = stmt.where(Visit.id.in_(select(VisitFlag.visit_id).where(VisitFlag.flag == filters["flag"])))
    if "date_from" in filters:
        stmt = stmt.where(Visit.started_at >= datetime.combine(filters["date_from"], time.min, CHINA))
    if "date_to" in filters:
        stmt = stmt.where(Visit.started_at < datetime.combine(filters["date_to"] + timedelta(days=1), time.min, CHINA))
    return stmt


def visit_in_scope(session: Session, user: User, visit_id: int) -> Visit | None:
    """The visit when this staff member may see it, else None (callers answer 404, never 403)."""
    visit = session.get(Visit, visit_id)
    return visit if visit is not None and staff_can_read(user, visit) else None


# ---- the console's visit list ------------------------------------------------------------

# sort key -> ORDER BY; the id breaks ties so that pages never overlap or skip a row.
SORTS: dict[str, tuple] = {
    "-started_at": (Visit.started_at.desc(), Visit.id.desc()),
    "started_at": (Visit.started_at.asc(), Visit.id.asc()),
    "-submitted_at": (Visit.submitted_at.desc(), Visit.id.desc()),
    "submitted_at": (Visit.submitted_at.asc(), Visit.id.asc()),
    "-id": (Visit.id.desc(),),
}
DEFAULT_SORT = "-started_at"


@dataclass
class VisitRow:
    """One line of the visit list, with the names it shows already looked up."""

    visit: Visit
    project_title: str
    place_name: str
    township_name: str
    inspectors: list[str]
    flags: list[str]
    decision: str | None  # the latest verdict on the whole visit


@dataclass
class VisitPage:
    """One page of the visit list."""

    rows: list[VisitRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages there are (at least one, so that 'page 1 of 1' reads right)."""
        return max(1, -(-self.total // self.per_page))


def page_of_visits(
    session: Session, user: User, filters: dict[str, Any], sort: str, page: int, per_page: int
) -> VisitPage:
    """One page of the visits in scope, with names, teams, flags and verdicts in a fixed number of queries."""
    total = count_visits(session, user, filters)
    page = max(1, min(page, max(1, -(-total // per_page))))
    sort = sort if sort in SORTS else DEFAULT_SORT
    if sort.endswith("submitted_at") and filters.get("status") == "in_progress":
        sort = sort.replace("submitted_at", "started_at")  # none is submitted: the time they began
    # The page's ids first, from the visits table alone: with the name joins in the same
    # statement MariaDB sorts a million joined rows instead of reading 50 off the index.
    ids = _page_ids_select(session, user, filters, sort, total, page * per_page)
    page_ids = list(session.scalars(ids.order_by(*SORTS[sort]).limit(per_page).offset((page - 1) * per_page)))
    order = SORTS[sort]
    # The names come in one query for the page; no lazy load may add a query per row.
    rows = session.execute(
        select(Visit, Project.title, Village.name, Site.name, Township.name)
        .join(Project, Project.id == Visit.project_id)
        .outerjoin(Village, Village.id == Visit.village_id)
        .outerjoin(Site, Site.id == Project.site_id)
        .outerjoin(Township, Township.id == Visit.township_id)
        .where(Visit.id.in_(page_ids or [-1]))
        .options(raiseload("*"))
        .order_by(*order)
    ).all()
    visit_ids = [r[0].id for r in rows]
    flags = flags_by_visit(session, visit_ids)
    teams = inspectors_by_assignment(session, {r[0].assignment_id for r in rows})
    verdicts = {vid: d.decision for (_, vid), d in latest_decisions_of(session, visit_ids, kind="visit").items()}
    return VisitPage(
        rows=[
            VisitRow(
                visit=v,
                project_title=title,
                place_name=village or site or "",
                township_name=township or "",
                inspectors=teams.get(v.assignment_id, []),
                flags=flags[v.id],
                decision=verdicts.get(v.id),
            )
            for v, title, village, site, township in rows
        ],
        total=total,
        page=page,
        per_page=per_page,
    )


# Below this many visits, sorting them in memory beats walking the submitted-at index, which
# passes every visit submitted after the filtered ones before it finds them.
SORT_IN_MEMORY_MAX = 100_000
# A flagged page is found by walking an index in list order when that reads at most this many
# index rows; otherwise the flag's visits are read from the flag index and sorted.
WALK_MAX = 20_000
# The indexes that can yield visits in start or submission order.
ORDER_INDEXES = {
    "started": ("ix_visits_started", "ix_visits_township_started", "ix_visits_scope", "ix_visits_status"),
    "submitted": ("ix_visits_submitted", "ix_visits_township_submitted"),
}


def _page_ids_select(
    session: Session, user: User, filters: dict[str, Any], sort: str, total: int, needed: int
) -> Select:
    """The ids of the filtered visits, shaped so that MySQL/MariaDB picks a cheap plan.

    Left alone, MariaDB materializes a flag's tens of thousands of visits and sorts them, and
    walks the submitted-at index backwards through most of the table to find an old month.
    The exact totals (kept counts) tell which plan is cheap; SQLite's plans need no help.
    """
    mysql = session.get_bind().dialect.name == "mysql"
    walk = _walk_index(user, filters, sort) if mysql and "flag" in filters else None
    if walk is not None:
        index, domain = walk
        # Walking the index in list order and probing each visit's flags reads about
        # needed × domain / total rows before the page is full: cheap for a common flag.
        if needed * visit_stats.list_counts(session, domain, (None, None)) <= WALK_MAX * max(total, 1):
            others = {k: v for k, v in filters.items() if k != "flag"}
            # The index is named: MariaDB would rather intersect two others and sort.
            return (
                filtered_visits(user, others)
                .with_only_columns(Visit.id)
                .join(VisitFlag, (VisitFlag.visit_id == Visit.id) & (VisitFlag.flag == filters["flag"]))
                .prefix_with("STRAIGHT_JOIN", dialect="mysql")
                .with_hint(Visit, f"FORCE INDEX ({index})", dialect_name="mysql")
            )
        # A rare flag: read its visits off the flag index and sort them. MariaDB might still
        # walk an ordering index probing flags, which is what was just judged too long.
        ordering = ORDER_INDEXES["submitted" if sort.endswith("submitted_at") else "started"]
        return (
            filtered_visits(user, filters)
            .with_only_columns(Visit.id)
            .with_hint(Visit, f"IGNORE INDEX FOR ORDER BY ({', '.join(ordering)})", dialect_name="mysql")
        )
    stmt = filtered_visits(user, filters).with_only_columns(Visit.id)
    if mysql and sort.endswith("submitted_at") and total <= SORT_IN_MEMORY_MAX:
        stmt = stmt.with_hint(Visit, "IGNORE INDEX (ix_visits_submitted)", dialect_name="mysql")
    return stmt


def _walk_index(user: User, filters: dict[str, Any], sort: str) -> tuple[str, list] | None:
    """The index that yields the filtered visits in the list's order, and conditions on
    visit_list_counts for how many visits it holds (dates rounded out to whole months);
    None for the "-id" sort (the primary key itself)."""
    if sort == "-id":
        return None
    started = not sort.endswith("submitted_at")
    townships, status = visit_scope(user)
    townships = [filters["township_id"]] if "township_id" in filters else townships
    status = filters.get("status") or status
    domain = []
    if started and "date_from" in filters:
        domain.append(VisitListCount.month >= visit_stats.month_key_of_day(filters["date_from"]))
    if started and "date_to" in filters:
        domain.append(VisitListCount.month <= visit_stats.month_key_of_day(filters["date_to"]))
    if townships is not None and len(townships) == 1:
        domain.append(VisitListCount.township_id == townships[0])
        if started and status:
            return "ix_visits_scope", [*domain, VisitListCount.status == status]
        return f"ix_visits_township_{'started' if started else 'submitted'}", domain
    if started and status:
        return "ix_visits_status", [*domain, VisitListCount.status == status]
    return f"ix_visits_{'started' if started else 'submitted'}", domain


def inspectors_by_assignment(session: Session, assignment_ids: set[int]) -> dict[int, list[str]]:
    """The team members' names of many assignments in one query."""
    out: dict[int, list[str]] = {}
    if assignment_ids:
        for aid, name in session.execute(
            select(assignment_members.c.assignment_id, User.name)
            .join(User, User.id == assignment_members.c.user_id)
            .where(assignment_members.c.assignment_id.in_(assignment_ids))
            .order_by(User.name, User.id)
        ):
            out.setdefault(aid, []).append(name)
    return out


# Filters the monthly counts (services.visit_stats) can answer; the scope is township + status.
COUNTED_FILTERS = frozenset(("township_id", "status", "date_from", "date_to", "flag"))


def _counts_where(user: User, filters: dict[str, Any]) -> list | None:
    """Conditions on visit_list_counts equal to the scope and filters, or None if it cannot answer."""
    if set(filters) - COUNTED_FILTERS or filters.get("township_id") == 0:  # 0 stands for "none" there
        return None
    where = []
    townships, status = visit_scope(user)
    if townships is not None:
        where += [VisitListCount.township_id.in_(townships or [-1]), VisitListCount.status == status]
    if "township_id" in filters:
        where.append(VisitListCount.township_id == filters["township_id"])
    if "status" in filters:
        where.append(VisitListCount.status == filters["status"])
    return where


def _direct_count(session: Session, user: User, filters: dict[str, Any]) -> int:
    stmt = filtered_visits(user, filters).with_only_columns(func.count(Visit.id)).order_by(None)
    return session.scalar(stmt) or 0


def count_visits(session: Session, user: User, filters: dict[str, Any]) -> int:
    """How many visits the list shows: whole months from the kept counts, the rest counted."""
    where = _counts_where(user, filters)
    if where is None:  # a village, project or inspector: a few thousand visits at most
        return _direct_count(session, user, filters)
    county = tenancy.scope_of(session)
    if county is not None:  # the kept counts are per township: keep to the county's
        where.append(VisitListCount.township_id.in_(select(Township.id).where(Township.county_id == county)))
    months, partial = visit_stats.split_by_month(filters.get("date_from"), filters.get("date_to"))
    total = visit_stats.list_counts(session, where, months, flag=filters.get("flag")) if months else 0
    for first, last in partial:
        total += _direct_count(session, user, filters | {"date_from": first, "date_to": last})
    return total


def _direct_flag_counts(session: Session, user: User, filters: dict[str, Any]) -> dict[str, int]:
    # A join, not IN (subquery): MariaDB then starts from the filtered visits (a village, a
    # project, an inspector's assignments) and probes their flags' primary key.
    stmt = (
        filtered_visits(user, filters)
        .with_only_columns(VisitFlag.flag, func.count())
        .order_by(None)
        .select_from(Visit)
        .join(VisitFlag, VisitFlag.visit_id == Visit.id)
        .group_by(VisitFlag.flag)
    )
    return {flag: n for flag, n in session.execute(stmt)}


def flag_counts(session: Session, user: User, filters: dict[str, Any]) -> dict[str, int]:
    """How many of the filtered visits carry each flag (flags with none are left out).

    The flag filter itself is left out, so that choosing one flag still shows how many
    visits carry each of the others.
    """
    others = {k: v for k, v in filters.items() if k != "flag"}
    where = _counts_where(user, others)
    if where is None:
        counts = _direct_flag_counts(session, user, others)
    else:
        months, partial = visit_stats.split_by_month(others.get("date_from"), others.get("date_to"))
        counts = visit_stats.list_counts(session, where, months, by_flag=True) if months else {}
        for first, last in partial:
            for flag, n in _direct_flag_counts(session, user, others | {"date_from": first, "date_to": last}).items():
                counts[flag] = counts.get(flag, 0) + n
    return dict(sorted(counts.items()))


def filter_choices(session: Session, user: User) -> dict[str, list[tuple[int, str]]]:
    """The (id, name) options of the list's filters, limited to what this staff member may see."""
    townships = select(Township.id, Township.name).order_by(Township.code)
    villages = select(Village.id, Village.name, Township.name).join(Township).order_by(Village.code)
    projects = select(Project.id, Project.title).order_by(Project.year.desc(), Project.title, Project.id)
    if not user.has_role("admin", "leader"):
        scope = [t.id for t in user.townships] if user.has_role("reviewer") else []
        townships = townships.where(Township.id.in_(scope or [-1]))
        villages = villages.where(Village.township_id.in_(scope or [-1]))
        projects = projects.where(Project.id.in_(scoped_visits(user).with_only_columns(Visit.project_id)))
    inspectors = (
        select(User.id, User.name)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == "inspector")
        .order_by(User.name, User.id)
    )
    return {
        "townships": [(i, name) for i, name in session.execute(townships)],
        "villages": [(i, f"{t} {v}") for i, v, t in session.execute(villages)],
        "projects": [(i, title) for i, title in session.execute(projects)],
        "inspectors": [(i, name) for i, name in session.execute(inspectors)],
    }


# ---- the evidence page ------------------------------------------------------------------

# Audit object types that belong to a visit, with the table holding their visit_id.
_VISIT_PARTS = (
    ("checkin", CheckIn),
    ("photo", Photo),
    ("interview", Interview),
    ("checklist", ChecklistResult),
    ("visit_note", VisitNote),
)


@dataclass
class PhotoEvidence:
    """A photo with what the reviewer compares: URLs, times, positions, flags and the verdict."""

    n: int
    photo: Photo
    urls: dict[str, str | None]
    distance_m: float | None  # capture point (the phone's position) to the place
    exif_distance_m: float | None  # the camera's own GPS to the place
    exif_taken_at: datetime | None
    duplicate: Photo | None
    duplicate_visit_id: int | None  # only when the viewer may open that visit
    decision: ReviewDecision | None


@dataclass
class Evidence:
    """Everything the detail and print pages show of one visit."""

    visit: Visit
    place: Place
    project: Project
    inspectors: list[User]
    checkins: list[CheckIn]
    photos: list[PhotoEvidence]
    pending_photos: int
    rejected_photos: list[Photo]
    interviews: list[tuple[Interview, str]]
    checklist: ChecklistResult | None
    checklist_versions: int
    notes: list[VisitNote]
    flags: list[str]
    timeline: list[AuditEntry]
    decision: ReviewDecision | None
    names: dict[int, str] = field(default_factory=dict)  # user id -> name, for every person shown


def evidence(session: Session, visit: Visit, viewer: User) -> Evidence:
    """Gather the whole record of a visit for review (the caller has checked scope)."""
    rec = visit_records(session, visit)
    place = place_of(session, visit.assignment)
    decisions = latest_decisions(session, visit.id)
    ready = [p for p in rec["photos"] if p.status == "ready"]

    duplicates = {
        p.id: p
        for p in session.scalars(
            select(Photo).where(Photo.id.in_({p.duplicate_of_id for p in ready if p.duplicate_of_id}))
        )
    }
    dup_visits = {
        v.id: v
        for v in session.scalars(
            select(Visit).where(Visit.id.in_({d.visit_id for d in duplicates.values() if d.visit_id}))
        )
    }

    def distance(lat, lng):
        if lat is None or lng is None:
            return None
        return round(geo.distance_to_place_m(lat, lng, center=(place.lat, place.lng), boundary=place.boundary), 1)

    photos = []
    for n, p in enumerate(ready, start=1):
        exif = p.exif or {}
        dup = duplicates.get(p.duplicate_of_id) if p.duplicate_of_id else None
        dup_visit = dup_visits.get(dup.visit_id) if dup is not None and dup.visit_id else None
        photos.append(
            PhotoEvidence(
                n=n,
                photo=p,
                urls=photo_urls(p),
                distance_m=distance(p.lat, p.lng),
                exif_distance_m=distance(exif.get("lat"), exif.get("lng")),
                exif_taken_at=_parse_time(exif.get("taken_at")),
                duplicate=dup,
                duplicate_visit_id=dup_visit.id if dup_visit and staff_can_read(viewer, dup_visit) else None,
                decision=decisions.get(("photo", p.id)),
            )
        )

    timeline = audit_trail(session, visit, rec)
    people = {m.id for m in visit.assignment.members} | {visit.created_by_id, visit.submitted_by_id}
    people |= {r.user_id for key in ("checkins", "interviews", "checklists", "notes") for r in rec[key]}
    people |= {e.actor_id for e in timeline} | {d.reviewer_id for d in decisions.values()}
    people.discard(None)
    names = {i: name for i, name in session.execute(select(User.id, User.name).where(User.id.in_(people)))}

    return Evidence(
        visit=visit,
        place=place,
        project=visit.assignment.project,
        inspectors=list(visit.assignment.members),
        checkins=rec["checkins"],
        photos=photos,
        pending_photos=sum(p.status == "pending" for p in rec["photos"]),
        rejected_photos=[p for p in rec["photos"] if p.status == "rejected"],
        interviews=[(i, household_of(i)) for i in rec["interviews"]],
        checklist=rec["checklists"][-1] if rec["checklists"] else None,
        checklist_versions=len(rec["checklists"]),
        notes=rec["notes"],
        flags=rec["flags"],
        timeline=timeline,
        decision=decisions.get(("visit", visit.id)),
        names=names,
    )


def audit_trail(session: Session, visit: Visit, records: dict[str, list] | None = None) -> list[AuditEntry]:
    """The audit entries of a visit and of everything recorded in it, in chain order."""
    records = records or visit_records(session, visit)
    keys = {
        "checkin": "checkins",
        "photo": "photos",
        "interview": "interviews",
        "checklist": "checklists",
        "visit_note": "notes",
    }
    wanted = [("visit", [str(visit.id)])]
    wanted += [(kind, [str(r.id) for r in records[keys[kind]]]) for kind, _ in _VISIT_PARTS]
    # (object_type, object_id) is indexed: one OR of indexed lookups, not a scan of the log.
    conditions = [and_(AuditEntry.object_type == kind, AuditEntry.object_id.in_(ids)) for kind, ids in wanted if ids]
    return list(session.scalars(select(AuditEntry).where(or_(*conditions)).order_by(AuditEntry.seq)))


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


# ---- decisions -------------------------------------------------------------------------------

DECISIONS = ("accepted", "questioned")
REASON_MAX = 2000


def record_decision(session: Session, staff: User, visit: Visit, body: dict[str, Any]) -> ReviewDecision:
    """Accept or question a photo of the visit or the visit as a whole; questioning needs a reason."""
    kind = (body.get("target_kind") or "").strip()
    decision = (body.get("decision") or "").strip()
    reason = (body.get("reason") or "").strip()
    if kind not in ("photo", "visit"):
        raise ApiError("validation_failed", "审核对象只能是照片或整次暗访", {"field": "target_kind"})
    if decision not in DECISIONS:
        raise ApiError("validation_failed", "审核结论只能是“认可”或“存疑”", {"field": "decision"})
    if decision == "questioned" and not reason:
        raise ApiError("validation_failed", "标记为存疑时必须填写理由", {"field": "reason"})
    if len(reason) > REASON_MAX:
        raise ApiError("validation_failed", f"理由不能超过 {REASON_MAX} 字", {"field": "reason"})
    if visit.status != "submitted":
        raise ApiError("conflict", "该次暗访尚未提交,不能审核")
    target_id = visit.id
    if kind == "photo":
        raw = str(body.get("target_id") or "").strip()
        photo = session.get(Photo, int(raw)) if raw.isdigit() else None
        if photo is None or photo.visit_id != visit.id or photo.status != "ready":
            raise ApiError("not_found", "找不到该照片", {"field": "target_id"})
        target_id = photo.id
    row = ReviewDecision(
        visit_id=visit.id, target_kind=kind, target_id=target_id, decision=decision, reason=reason, reviewer_id=staff.id
    )
    session.add(row)
    session.flush()
    # Logged against the photo or visit itself, so it shows in that object's audit trail.
    audit.append(
        session,
        staff,
        "review.decision",
        kind,
        target_id,
        {"visit_id": visit.id, "decision_id": row.id, "decision": decision, "reason": reason},
    )
    session.commit()
    return row


def latest_decisions_of(
    session: Session, visit_ids: list[int], kind: str | None = None
) -> dict[tuple[str, int], ReviewDecision]:
    """The latest decision per (target_kind, target_id) over the given visits (of one kind when given)."""
    out: dict[tuple[str, int], ReviewDecision] = {}
    if visit_ids:
        stmt = select(ReviewDecision).where(ReviewDecision.visit_id.in_(visit_ids))
        if kind is not None:
            stmt = stmt.where(ReviewDecision.target_kind == kind)
        # Append-only and ordered by id: a later row simply replaces an earlier one.
        for d in session.scalars(stmt.order_by(ReviewDecision.id)):
            out[(d.target_kind, d.target_id)] = d
    return out


def latest_decisions(session: Session, visit_id: int) -> dict[tuple[str, int], ReviewDecision]:
    """The latest decision per (target_kind, target_id) of one visit."""
    return latest_decisions_of(session, [visit_id])
