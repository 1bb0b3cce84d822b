"""The visit workbooks: the visit list, and the findings (integrity flags, questioned reviews) of its visits."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session, aliased

from server import geo

# One wording of the flags on the console's pages and in the files taken away from it.
from server.models import (
    SATISFACTION,
    CheckIn,
    ChecklistResult,
    Interview,
    Photo,
    Project,
    ReviewDecision,
    Site,
    Township,
    User,
    Village,
    Visit,
    VisitFlag,
    assignment_members,
)
from server.services.exports.workbook import (
    VISIT_STATUSES,
    Download,
    Sheet,
    finish_workbook,
    new_workbook,
    xlsx_download,
)
from server.services.flag_words import explain as explain_flag
from server.services.flag_words import label as flag_label
from server.services.review import filtered_visits
from server.services.visit_stats import has_flags

CHECK_RESULT_LABELS = {"pass": "通过", "fail": "不通过", "na": "不适用"}


NO_PERSONAL_DATA = "不含入户走访对象姓名、联系电话等个人信息。"


# ---- visits -----------------------------------------------------------------------------------


@dataclass
class VisitHead:
    """What every visit export says about a visit: where, what, when, and the place's geometry."""

    id: int
    assignment_id: int
    status: str
    started_at: datetime
    submitted_at: datetime | None
    township: str
    place: str
    project: str
    center: tuple[float, float] | None
    radius_m: int | None
    boundary: dict | None
    flags: list[str] = field(default_factory=list)

    def distance_m(self, lat: float | None, lng: float | None) -> float | None:
        """Metres from a WGS-84 point to the visit's place (0 inside its boundary)."""
        if lat is None or lng is None or self.center is None:
            return None
        return round(geo.distance_to_place_m(lat, lng, center=self.center, boundary=self.boundary), 1)


def visit_heads(session: Session, visits: Select) -> list[VisitHead]:
    """The visits of a scoped select with their names and places, newest first, in one query."""
    stmt = (
        visits.with_only_columns(
            Visit.id,
            Visit.assignment_id,
            Visit.status,
            Visit.started_at,
            Visit.submitted_at,
            Township.name,
            Project.title,
            Village.name,
            Village.lat,
            Village.lng,
            Village.radius_m,
            Village.boundary,
            Site.name,
            Site.lat,
            Site.lng,
            Site.radius_m,
            Site.boundary,
        )
        .select_from(Visit)
        .join(Project, Project.id == Visit.project_id)
        .outerjoin(Township, Township.id == Visit.township_id)
        .outerjoin(Village, Village.id == Visit.village_id)
        .outerjoin(Site, Site.id == Project.site_id)
        .order_by(Visit.started_at.desc(), Visit.id.desc())
    )
    heads = []
    for (
        vid,
        aid,
        status,
        started,
        submitted,
        township,
        project,
        v_name,
        v_lat,
        v_lng,
        v_r,
        v_b,
        s_name,
        s_lat,
        s_lng,
        s_r,
        s_b,
    ) in session.execute(stmt):
        # A visit goes to its village when it has one, else to the project's own site.
        if v_name is not None:
            place, center, radius, boundary = v_name, (v_lat, v_lng), v_r, v_b
        else:
            place, center, radius, boundary = s_name or "", (s_lat, s_lng) if s_lat is not None else None, s_r, s_b
        heads.append(
            VisitHead(vid, aid, status, started, submitted, township or "", place, project, center, radius, boundary)
        )
    ids = visits.with_only_columns(Visit.id)
    by_id = {h.id: h for h in heads}
    for vid, flag in session.execute(
        select(VisitFlag.visit_id, VisitFlag.flag).where(VisitFlag.visit_id.in_(ids)).order_by(VisitFlag.flag)
    ):
        if vid in by_id:
            by_id[vid].flags.append(flag)
    return heads


VISIT_COLUMNS = [
    ("暗访编号", 10),
    ("乡镇", 12),
    ("村/地点", 16),
    ("项目", 28),
    ("状态", 8),
    ("开始时间", 17),
    ("提交时间", 17),
    ("督查组", 18),
    ("签到次数", 9),
    ("签到最近距离(米)", 14),
    ("照片数", 8),
    ("有标记照片", 10),
    ("入户访谈", 9),
    *((f"访谈{s}", 10) for s in SATISFACTION),
    *((f"检查事项{label}", 12) for label in CHECK_RESULT_LABELS.values()),
    ("完整性标记", 40),
]


def visits_workbook(session: Session, user: User, filters: dict[str, Any]) -> Download:
    """The visit list under `filters` as XLSX: one row per visit, counts instead of personal data."""
    visits = filtered_visits(user, filters)
    ids = visits.with_only_columns(Visit.id)
    heads = visit_heads(session, visits)

    team: dict[int, list[str]] = defaultdict(list)
    for aid, name in session.execute(
        select(assignment_members.c.assignment_id, User.name)
        .join(User, User.id == assignment_members.c.user_id)
        .where(assignment_members.c.assignment_id.in_(visits.with_only_columns(Visit.assignment_id)))
        .order_by(User.name)
    ):
        team[aid].append(name)
    checkins = {
        vid: (n, nearest)
        for vid, n, nearest in session.execute(
            select(CheckIn.visit_id, func.count(CheckIn.id), func.min(CheckIn.distance_m))
            .where(CheckIn.visit_id.in_(ids))
            .group_by(CheckIn.visit_id)
        )
    }
    photos = {
        vid: (n, int(bad or 0))
        for vid, n, bad in session.execute(
            select(Photo.visit_id, func.count(Photo.id), func.sum(case((has_flags(Photo.flags), 1), else_=0)))
            .where(Photo.visit_id.in_(ids), Photo.owner_kind == "visit", Photo.status == "ready")
            .group_by(Photo.visit_id)
        )
    }
    moods: dict[int, dict[str, int]] = defaultdict(dict)
    for vid, mood, n in session.execute(
        select(Interview.visit_id, Interview.satisfaction, func.count(Interview.id))
        .where(Interview.visit_id.in_(ids))
        .group_by(Interview.visit_id, Interview.satisfaction)
    ):
        moods[vid][mood] = n
    checks: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    latest = (
        select(func.max(ChecklistResult.id)).where(ChecklistResult.visit_id.in_(ids)).group_by(ChecklistResult.visit_id)
    )
    for vid, items in session.execute(
        select(ChecklistResult.visit_id, ChecklistResult.items).where(ChecklistResult.id.in_(latest))
    ):
        for item in items or []:
            checks[vid][item.get("result")] += 1

    wb = new_workbook()
    sheet = Sheet(wb, "暗访记录", VISIT_COLUMNS)
    for h in heads:
        n_checkins, nearest = checkins.get(h.id, (0, None))
        n_photos, n_flagged = photos.get(h.id, (0, 0))
        sheet.add(
            [
                h.id,
                h.township,
                h.place,
                h.project,
                VISIT_STATUSES.get(h.status, h.status),
                h.started_at,
                h.submitted_at,
                "、".join(team.get(h.assignment_id, [])),
                n_checkins,
                nearest,
                n_photos,
                n_flagged,
                sum(moods[h.id].values()),
                *(moods[h.id].get(s, 0) for s in SATISFACTION),
                *(checks[h.id][r] for r in CHECK_RESULT_LABELS),
                "、".join(flag_label(f) for f in h.flags),
            ]
        )
    body = finish_workbook(session, user, wb, "暗访记录", filters, sheet.rows, "export.visits", NO_PERSONAL_DATA)
    return xlsx_download("暗访记录", "visits", body)


# ---- findings --------------------------------------------------------------------------------

FINDING_COLUMNS = [
    ("暗访编号", 10),
    ("乡镇", 12),
    ("村/地点", 16),
    ("项目", 28),
    ("对象", 12),
    ("时间", 17),
    ("问题", 26),
    ("说明", 50),
    ("审核人", 10),
]


def findings_workbook(session: Session, user: User, filters: dict[str, Any]) -> Download:
    """Integrity flags of photos and check-ins, and questioned review decisions, of the filtered visits."""
    visits = filtered_visits(user, filters)
    ids = visits.with_only_columns(Visit.id)
    heads = visit_heads(session, visits)
    by_id = {h.id: h for h in heads}
    found: dict[int, list[tuple]] = defaultdict(list)  # visit id -> (time, object, problem, detail, reviewer)

    for p in session.scalars(
        select(Photo)
        .where(Photo.visit_id.in_(ids), Photo.owner_kind == "visit", Photo.status == "ready", has_flags(Photo.flags))
        .order_by(Photo.id)
    ):
        head = by_id[p.visit_id]
        exif = p.exif or {}
        for f in p.flags:
            # The distance a sentence names is the one its flag is about: capture point or EXIF GPS.
            lat, lng = (exif.get("lat"), exif.get("lng")) if f == "exif_gps_far" else (p.lat, p.lng)
            detail = explain_flag(
                f, place=head.place, distance=head.distance_m(lat, lng), duplicate_of=p.duplicate_of_id
            )
            found[p.visit_id].append((p.taken_at or p.completed_at, f"照片 #{p.id}", flag_label(f), detail, ""))
    for c in session.scalars(
        select(CheckIn)
        .where(CheckIn.visit_id.in_(ids), has_flags(CheckIn.flags))
        .order_by(CheckIn.client_time, CheckIn.id)
    ):
        head = by_id[c.visit_id]
        for f in c.flags:
            detail = explain_flag(
                f, place=head.place, distance=c.distance_m, radius=head.radius_m, accuracy=c.accuracy_m
            )
            found[c.visit_id].append((c.client_time, f"签到 #{c.id}", flag_label(f), detail, ""))
    # Decisions are append-only: the latest one per photo or visit is the reviewer's verdict.
    latest = (
        select(func.max(ReviewDecision.id))
        .where(ReviewDecision.visit_id.in_(ids))
        .group_by(ReviewDecision.target_kind, ReviewDecision.target_id)
    )
    reviewer = aliased(User)
    for d, name in session.execute(
        select(ReviewDecision, reviewer.name)
        .join(reviewer, reviewer.id == ReviewDecision.reviewer_id)
        .where(ReviewDecision.id.in_(latest), ReviewDecision.decision == "questioned")
        .order_by(ReviewDecision.id)
    ):
        target = f"照片 #{d.target_id}" if d.target_kind == "photo" else "整条暗访记录"
        found[d.visit_id].append((d.created_at, target, "审核存疑", d.reason, name))

    wb = new_workbook()
    sheet = Sheet(wb, "问题清单", FINDING_COLUMNS)
    for h in heads:
        for when, target, problem, detail, name in found.get(h.id, []):
            sheet.add([h.id, h.township, h.place, h.project, target, when, problem, detail, name])
    body = finish_workbook(
        session,
        user,
        wb,
        "问题清单(完整性标记与审核存疑)",
        filters,
        sheet.rows,
        "export.findings",
        f"坐标均为 WGS-84。{NO_PERSONAL_DATA}",
    )
    return xlsx_download("问题清单", "findings", body)
