"""Exports for the department's own reports: XLSX workbooks and a visit's photo evidence as a ZIP.

Visit workbooks select through the visit list's scoped filters, so a file never holds a row
its reader could not open in the console. Personal data stays out: no household names, no
interview or visit notes (free text may name people), feedback phones as `phone_for` allows.
Every export is written to the audit log: files leave the system and cannot be recalled.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import tempfile
import zipfile
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session, aliased

from server import geo
from server.clock import CHINA
from server.errors import ApiError
from server.models import (
    FEEDBACK_STATUSES,
    RECTIFICATION_STATUSES,
    SATISFACTION,
    CheckIn,
    ChecklistResult,
    Feedback,
    FeedbackReply,
    Interview,
    Photo,
    Project,
    RectificationOrder,
    ReviewDecision,
    Site,
    Township,
    User,
    Village,
    Visit,
    VisitFlag,
    assignment_members,
    utcnow,
)
from server.services import audit, rectification
from server.services.feedback import CLOSED_STATUSES, phone_for, staff_scope
from server.services.flag_words import explain as explain_flag
from server.services.flag_words import label as flag_label
from server.services.photos import storage
from server.services.review import filtered_visits
from server.services.visit_stats import has_flags
from server.storage import ObjectMissing, Storage, StorageError

log = logging.getLogger(__name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_CHUNK = 256 * 1024

VISIT_STATUSES = {"in_progress": "进行中", "submitted": "已提交"}
CHECK_RESULT_LABELS = {"pass": "通过", "fail": "不通过", "na": "不适用"}
FILTER_LABELS = {
    "township_id": "乡镇", "village_id": "村", "project_id": "项目", "inspector_id": "督查人员",
    "status": "状态", "flag": "标记", "date_from": "开始日期自", "date_to": "开始日期至", "overdue": "仅逾期",
}


@dataclass
class Download:
    """A file to send: its name for people, an ASCII fallback name, its type and its bytes."""

    filename: str
    fallback: str
    mimetype: str
    body: IO[bytes] | Iterator[bytes]


def _local(value: datetime | None) -> datetime | None:
    # Excel has no time zones: write China wall-clock time, which is what readers expect.
    return value.astimezone(CHINA).replace(tzinfo=None, microsecond=0) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(CHINA).isoformat(timespec="seconds") if value else None


# ---- filters ---------------------------------------------------------------------------------

def _int(args: Any, key: str) -> int | None:
    value = (args.get(key) or "").strip()
    return int(value) if value.isdigit() else None


def parse_feedback_filters(args: Any) -> dict[str, Any]:
    """Feedback filters from a query string: status, township_id, project_id, overdue."""
    out: dict[str, Any] = {k: v for k in ("township_id", "project_id") if (v := _int(args, k)) is not None}
    if args.get("status") in FEEDBACK_STATUSES:
        out["status"] = args["status"]
    if (args.get("overdue") or "") in ("1", "true", "on"):
        out["overdue"] = True
    return out


def _describe(session: Session, filters: dict[str, Any]) -> str:
    """Filters in words for the workbook's cover sheet (ids resolved to names)."""
    names = {"township_id": Township, "village_id": Village, "project_id": Project, "inspector_id": User}
    parts = []
    for key, value in filters.items():
        if key in names:
            obj = session.get(names[key], value)
            value = (getattr(obj, "title", None) or getattr(obj, "name", "")) if obj else f"#{value}"
        elif key == "status":
            value = {**VISIT_STATUSES, **RECTIFICATION_STATUSES, **FEEDBACK_STATUSES}.get(value, value)
        elif key == "flag":
            value = flag_label(value)
        elif key == "overdue":
            value = "是"
        parts.append(f"{FILTER_LABELS.get(key, key)}:{value}")
    return ";".join(parts) or "无(全部)"


def _jsonable(filters: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in filters.items()}


# ---- workbook plumbing -----------------------------------------------------------------------

class Sheet:
    """A write-only worksheet with a bold, frozen header row and China-time datetime cells."""

    def __init__(self, wb: Workbook, title: str, columns: Sequence[tuple[str, int]]) -> None:
        self.ws = wb.create_sheet(title)
        self.rows = 0
        for i, (_, width) in enumerate(columns, start=1):
            self.ws.column_dimensions[get_column_letter(i)].width = width
        self.ws.freeze_panes = "A2"
        self.ws.append([self._cell(name, bold=True) for name, _ in columns])

    def _cell(self, value: Any, bold: bool = False) -> WriteOnlyCell:
        """The one place every workbook's cells are made: text is always a text cell, never a formula."""
        if isinstance(value, datetime):
            value = _local(value)
        cell = WriteOnlyCell(self.ws, value=value)
        if isinstance(value, str):
            # openpyxl turns text starting with "=" into a live formula: a villager's
            # "=HYPERLINK(…)" would run in the reader's Excel. A text cell keeps the value as typed.
            cell.data_type = "s"
        elif isinstance(value, datetime):
            cell.number_format = "yyyy-mm-dd hh:mm"
        elif isinstance(value, date):
            cell.number_format = "yyyy-mm-dd"
        if bold:
            cell.font = Font(bold=True)
        return cell

    def add(self, values: Sequence[Any]) -> None:
        """Append one row."""
        self.ws.append([self._cell(v) for v in values])
        self.rows += 1


NO_PERSONAL_DATA = "不含入户走访对象姓名、联系电话等个人信息。"


def finish_workbook(session: Session, user: User, wb: Workbook, title: str, filters: dict[str, Any],
            rows: int, action: str, note: str = "") -> IO[bytes]:
    """Add the cover sheet, audit the export, and save the workbook to a spooled temp file."""
    cover = Sheet(wb, "导出说明", [("说明项", 14), ("内容", 70)])
    for pair in (("内容", title), ("筛选条件", _describe(session, filters)), ("行数", rows),
                 ("导出人", user.name or user.username), ("导出时间", utcnow()),
                 ("说明", f"时间均为北京时间。{note}请妥善保管,仅限工作使用。")):
        cover.add(pair)
    audit.append(session, user, action, "export", action.removeprefix("export."),
                 {"filters": _jsonable(filters), "rows": rows})
    session.commit()
    # Big exports spill to disk instead of sitting in the worker's memory.
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 - the response closes it
    wb.save(out)
    out.seek(0)
    return out


def xlsx_download(name: str, ascii_name: str, body: IO[bytes]) -> Download:
    """A workbook download named after its content and the China time of export."""
    stamp = utcnow().astimezone(CHINA).strftime("%Y%m%d-%H%M")
    return Download(f"{name}-{stamp}.xlsx", f"{ascii_name}-{stamp}.xlsx", XLSX, body)


# ---- visits -----------------------------------------------------------------------------------

@dataclass
class _VisitHead:
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


def _heads(session: Session, visits: Select) -> list[_VisitHead]:
    """The visits of a scoped select with their names and places, newest first, in one query."""
    stmt = (
        visits.with_only_columns(
            Visit.id, Visit.assignment_id, Visit.status, Visit.started_at, Visit.submitted_at,
            Township.name, Project.title, Village.name, Village.lat, Village.lng, Village.radius_m,
            Village.boundary, Site.name, Site.lat, Site.lng, Site.radius_m, Site.boundary,
        )
        .select_from(Visit)
        .join(Project, Project.id == Visit.project_id)
        .outerjoin(Township, Township.id == Visit.township_id)
        .outerjoin(Village, Village.id == Visit.village_id)
        .outerjoin(Site, Site.id == Project.site_id)
        .order_by(Visit.started_at.desc(), Visit.id.desc())
    )
    heads = []
    for (vid, aid, status, started, submitted, township, project, v_name, v_lat, v_lng, v_r, v_b,
         s_name, s_lat, s_lng, s_r, s_b) in session.execute(stmt):
        # A visit goes to its village when it has one, else to the project's own site.
        if v_name is not None:
            place, center, radius, boundary = v_name, (v_lat, v_lng), v_r, v_b
        else:
            place, center, radius, boundary = s_name or "", (s_lat, s_lng) if s_lat is not None else None, s_r, s_b
        heads.append(_VisitHead(vid, aid, status, started, submitted, township or "", place, project,
                                center, radius, boundary))
    ids = visits.with_only_columns(Visit.id)
    by_id = {h.id: h for h in heads}
    for vid, flag in session.execute(select(VisitFlag.visit_id, VisitFlag.flag)
                                     .where(VisitFlag.visit_id.in_(ids)).order_by(VisitFlag.flag)):
        if vid in by_id:
            by_id[vid].flags.append(flag)
    return heads


VISIT_COLUMNS = [
    ("暗访编号", 10), ("乡镇", 12), ("村/地点", 16), ("项目", 28), ("状态", 8), ("开始时间", 17),
    ("提交时间", 17), ("督查组", 18), ("签到次数", 9), ("签到最近距离(米)", 14), ("照片数", 8),
    ("有标记照片", 10), ("入户访谈", 9), *((f"访谈{s}", 10) for s in SATISFACTION),
    *((f"检查事项{label}", 12) for label in CHECK_RESULT_LABELS.values()), ("完整性标记", 40),
]


def visits_workbook(session: Session, user: User, filters: dict[str, Any]) -> Download:
    """The visit list under `filters` as XLSX: one row per visit, counts instead of personal data."""
    visits = filtered_visits(user, filters)
    ids = visits.with_only_columns(Visit.id)
    heads = _heads(session, visits)

    team: dict[int, list[str]] = defaultdict(list)
    for aid, name in session.execute(
        select(assignment_members.c.assignment_id, User.name).join(User, User.id == assignment_members.c.user_id)
        .where(assignment_members.c.assignment_id.in_(visits.with_only_columns(Visit.assignment_id)))
        .order_by(User.name)
    ):
        team[aid].append(name)
    checkins = {vid: (n, nearest) for vid, n, nearest in session.execute(
        select(CheckIn.visit_id, func.count(CheckIn.id), func.min(CheckIn.distance_m))
        .where(CheckIn.visit_id.in_(ids)).group_by(CheckIn.visit_id))}
    photos = {vid: (n, int(bad or 0)) for vid, n, bad in session.execute(
        select(Photo.visit_id, func.count(Photo.id), func.sum(case((has_flags(Photo.flags), 1), else_=0)))
        .where(Photo.visit_id.in_(ids), Photo.owner_kind == "visit", Photo.status == "ready")
        .group_by(Photo.visit_id))}
    moods: dict[int, dict[str, int]] = defaultdict(dict)
    for vid, mood, n in session.execute(
        select(Interview.visit_id, Interview.satisfaction, func.count(Interview.id))
        .where(Interview.visit_id.in_(ids)).group_by(Interview.visit_id, Interview.satisfaction)
    ):
        moods[vid][mood] = n
    checks: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    latest = select(func.max(ChecklistResult.id)).where(ChecklistResult.visit_id.in_(ids)).group_by(
        ChecklistResult.visit_id)
    for vid, items in session.execute(select(ChecklistResult.visit_id, ChecklistResult.items)
                                      .where(ChecklistResult.id.in_(latest))):
        for item in items or []:
            checks[vid][item.get("result")] += 1

    wb = Workbook(write_only=True)
    sheet = Sheet(wb, "暗访记录", VISIT_COLUMNS)
    for h in heads:
        n_checkins, nearest = checkins.get(h.id, (0, None))
        n_photos, n_flagged = photos.get(h.id, (0, 0))
        sheet.add([
            h.id, h.township, h.place, h.project, VISIT_STATUSES.get(h.status, h.status), h.started_at,
            h.submitted_at, "、".join(team.get(h.assignment_id, [])), n_checkins, nearest, n_photos, n_flagged,
            sum(moods[h.id].values()), *(moods[h.id].get(s, 0) for s in SATISFACTION),
            *(checks[h.id][r] for r in CHECK_RESULT_LABELS), "、".join(flag_label(f) for f in h.flags),
        ])
    body = finish_workbook(session, user, wb, "暗访记录", filters, sheet.rows, "export.visits", NO_PERSONAL_DATA)
    return xlsx_download("暗访记录", "visits", body)


# ---- findings --------------------------------------------------------------------------------

FINDING_COLUMNS = [
    ("暗访编号", 10), ("乡镇", 12), ("村/地点", 16), ("项目", 28), ("对象", 12), ("时间", 17),
    ("问题", 26), ("说明", 50), ("审核人", 10),
]


def findings_workbook(session: Session, user: User, filters: dict[str, Any]) -> Download:
    """Integrity flags of photos and check-ins, and questioned review decisions, of the filtered visits."""
    visits = filtered_visits(user, filters)
    ids = visits.with_only_columns(Visit.id)
    heads = _heads(session, visits)
    by_id = {h.id: h for h in heads}
    found: dict[int, list[tuple]] = defaultdict(list)  # visit id -> (time, object, problem, detail, reviewer)

    for p in session.scalars(select(Photo).where(Photo.visit_id.in_(ids), Photo.owner_kind == "visit",
                                                 Photo.status == "ready", has_flags(Photo.flags))
                             .order_by(Photo.id)):
        head = by_id[p.visit_id]
        exif = p.exif or {}
        for f in p.flags:
            # The distance a sentence names is the one its flag is about: capture point or EXIF GPS.
            lat, lng = (exif.get("lat"), exif.get("lng")) if f == "exif_gps_far" else (p.lat, p.lng)
            detail = explain_flag(f, place=head.place, distance=head.distance_m(lat, lng),
                                  duplicate_of=p.duplicate_of_id)
            found[p.visit_id].append((p.taken_at or p.completed_at, f"照片 #{p.id}", flag_label(f), detail, ""))
    for c in session.scalars(select(CheckIn).where(CheckIn.visit_id.in_(ids), has_flags(CheckIn.flags))
                             .order_by(CheckIn.client_time, CheckIn.id)):
        head = by_id[c.visit_id]
        for f in c.flags:
            detail = explain_flag(f, place=head.place, distance=c.distance_m, radius=head.radius_m,
                                  accuracy=c.accuracy_m)
            found[c.visit_id].append((c.client_time, f"签到 #{c.id}", flag_label(f), detail, ""))
    # Decisions are append-only: the latest one per photo or visit is the reviewer's verdict.
    latest = select(func.max(ReviewDecision.id)).where(ReviewDecision.visit_id.in_(ids)).group_by(
        ReviewDecision.target_kind, ReviewDecision.target_id)
    reviewer = aliased(User)
    for d, name in session.execute(
        select(ReviewDecision, reviewer.name).join(reviewer, reviewer.id == ReviewDecision.reviewer_id)
        .where(ReviewDecision.id.in_(latest), ReviewDecision.decision == "questioned")
        .order_by(ReviewDecision.id)
    ):
        target = f"照片 #{d.target_id}" if d.target_kind == "photo" else "整条暗访记录"
        found[d.visit_id].append((d.created_at, target, "审核存疑", d.reason, name))

    wb = Workbook(write_only=True)
    sheet = Sheet(wb, "问题清单", FINDING_COLUMNS)
    for h in heads:
        for when, target, problem, detail, name in found.get(h.id, []):
            sheet.add([h.id, h.township, h.place, h.project, target, when, problem, detail, name])
    body = finish_workbook(session, user, wb, "问题清单(完整性标记与审核存疑)", filters, sheet.rows, "export.findings",
                   f"坐标均为 WGS-84。{NO_PERSONAL_DATA}")
    return xlsx_download("问题清单", "findings", body)


# ---- rectifications --------------------------------------------------------------------------

RECTIFICATION_COLUMNS = [
    ("编号", 8), ("乡镇", 12), ("项目", 28), ("暗访编号", 10), ("整改事项", 50), ("整改期限", 12),
    ("状态", 8), ("逾期", 6), ("下发人", 10), ("下发时间", 17), ("反馈内容", 40), ("反馈时间", 17),
    ("复核时间", 17), ("销号时间", 17), ("备注", 30),
]


def _item_text(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("text") or item.get("item") or item.get("title") or json.dumps(item, ensure_ascii=False))
    return str(item)


def rectifications_workbook(session: Session, user: User, filters: dict[str, Any], today: date) -> Download:
    """Rectification orders in the user's scope under the rectification list's filters as XLSX."""
    orders = rectification.scoped_orders(user)
    # The same conditions as the rectification list (services.rectification.parse_filters).
    for key, column in (("status", RectificationOrder.status), ("project_id", RectificationOrder.project_id),
                        ("township_id", RectificationOrder.township_id)):
        if filters.get(key):
            orders = orders.where(column == filters[key])
    if filters.get("overdue"):
        orders = orders.where(RectificationOrder.status.in_(rectification.OPEN_STATUSES),
                              RectificationOrder.deadline < today)
    issuer = aliased(User)
    stmt = (orders.add_columns(Township.name, Project.title, issuer.name)
            .join(Project, Project.id == RectificationOrder.project_id)
            .outerjoin(Township, Township.id == RectificationOrder.township_id)
            .join(issuer, issuer.id == RectificationOrder.issued_by_id)
            .order_by(RectificationOrder.deadline, RectificationOrder.id))

    wb = Workbook(write_only=True)
    sheet = Sheet(wb, "整改通知", RECTIFICATION_COLUMNS)
    for o, township, project, issued_by in session.execute(stmt):
        late = rectification.is_overdue(o, today)
        sheet.add([
            o.id, township or "", project, o.visit_id, "\n".join(_item_text(i) for i in o.items or []), o.deadline,
            RECTIFICATION_STATUSES.get(o.status, o.status), "是" if late else "", issued_by, o.issued_at,
            o.response_text or "", o.responded_at, o.verified_at, o.closed_at, o.note or "",
        ])
    body = finish_workbook(session, user, wb, "整改通知", filters, sheet.rows, "export.rectifications")
    return xlsx_download("整改通知", "rectifications", body)


# ---- feedback --------------------------------------------------------------------------------

FEEDBACK_COLUMNS = [
    ("回执号", 20), ("提交时间", 17), ("乡镇", 12), ("项目", 28), ("评价", 9), ("类别", 9), ("内容", 50),
    ("状态", 9), ("答复期限", 17), ("逾期", 6), ("办结时间", 17), ("匿名", 6), ("联系电话", 14), ("最新答复", 40),
]


def feedback_workbook(session: Session, user: User, filters: dict[str, Any]) -> Download:
    """Feedback in the user's scope under `filters` as XLSX; phones per `phone_for`, none for anonymous authors."""
    stmt = (select(Feedback, Township.name, Project.title)
            .join(Project, Project.id == Feedback.project_id)
            .outerjoin(Township, Township.id == Feedback.township_id)
            .order_by(Feedback.created_at, Feedback.id))
    stmt = stmt.where(*staff_scope(user))  # risky text still held is for county staff only
    for key, column in (("township_id", Feedback.township_id), ("project_id", Feedback.project_id),
                        ("status", Feedback.status)):
        if key in filters:
            stmt = stmt.where(column == filters[key])
    now = utcnow()
    if filters.get("overdue"):
        stmt = stmt.where(Feedback.status.not_in(CLOSED_STATUSES), Feedback.due_at < now)
    rows = session.execute(stmt).all()

    last_reply = select(func.max(FeedbackReply.id)).where(
        FeedbackReply.feedback_id.in_(stmt.with_only_columns(Feedback.id).order_by(None))
    ).group_by(FeedbackReply.feedback_id)
    replies = {fid: text or reason or "" for fid, text, reason in session.execute(
        select(FeedbackReply.feedback_id, FeedbackReply.text, FeedbackReply.reason)
        .where(FeedbackReply.id.in_(last_reply)))}

    wb = Workbook(write_only=True)
    sheet = Sheet(wb, "群众反馈", FEEDBACK_COLUMNS)
    for fb, township, project in rows:
        late = fb.status not in CLOSED_STATUSES and fb.due_at < now
        # A file is copied and forwarded: an anonymous author stays anonymous in it for everyone.
        phone = None if fb.anonymous else phone_for(user, fb)
        sheet.add([
            fb.receipt_no, fb.created_at, township or "", project, fb.rating, fb.category, fb.text,
            FEEDBACK_STATUSES.get(fb.status, fb.status), fb.due_at, "是" if late else "", fb.closed_at,
            "是" if fb.anonymous else "", phone or "", replies.get(fb.id, ""),
        ])
    note = ("联系电话按导出人的权限显示(县级管理员和领导见完整号码,其他人员见部分号码);"
            "匿名反馈一律不显示联系电话。")
    body = finish_workbook(session, user, wb, "群众反馈", filters, sheet.rows, "export.feedback", note)
    return xlsx_download("群众反馈", "feedback", body)


# ---- one visit's photo evidence ---------------------------------------------------------------

MANIFEST_COLUMNS = [
    ("file", "文件"), ("photo_id", "照片编号"), ("sha256", "SHA-256"), ("intact", "与上传时一致"),
    ("size", "大小(字节)"), ("taken_at", "拍摄时间(手机)"), ("completed_at", "服务器接收完成时间"),
    ("exif_taken_at", "EXIF 拍摄时间"), ("lat", "拍摄纬度(WGS-84)"), ("lng", "拍摄经度(WGS-84)"),
    ("distance_m", "拍摄点距村/地点(米)"), ("exif_lat", "EXIF 纬度(WGS-84)"), ("exif_lng", "EXIF 经度(WGS-84)"),
    ("exif_distance_m", "EXIF 位置距村/地点(米)"), ("flags", "标记"), ("verify_code", "验真码"),
    ("duplicate_of", "重复于照片"),
]


class _Sink:
    """A write-only stream that hands over what ZipFile wrote so far (ZipFile needs no seeking)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        """Keep a chunk until the next drain."""
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing to flush: drain() takes the data."""

    def drain(self) -> bytes:
        """Everything written since the last drain."""
        out, self._parts = b"".join(self._parts), []
        return out


def _zip_time(value: datetime | None) -> tuple[int, int, int, int, int, int]:
    local = (value or utcnow()).astimezone(CHINA)
    return (max(local.year, 1980), local.month, local.day, local.hour, local.minute, local.second)


def evidence_zip(session: Session, user: User, visit: Visit) -> Download:
    """A visit's original photos and a manifest (hashes, times, places, flags) as a streamed ZIP.

    The visit must already be in the user's scope. Photos are read from storage one at a time
    while the ZIP is sent, so memory stays flat; each is hashed on the way and the manifest,
    written last, says whether the bytes are still those recorded at upload.
    """
    head = _heads(session, select(Visit).where(Visit.id == visit.id))[0]
    photos = list(session.scalars(select(Photo).where(Photo.visit_id == visit.id, Photo.owner_kind == "visit",
                                                      Photo.status == "ready").order_by(Photo.id)))
    checkins = list(session.scalars(select(CheckIn).where(CheckIn.visit_id == visit.id)
                                    .order_by(CheckIn.client_time, CheckIn.id)))
    entries = []
    for p in photos:
        exif = p.exif or {}
        entries.append({
            "file": f"photos/photo-{p.id}.{p.object_key.rsplit('.', 1)[-1]}", "photo_id": p.id,
            "sha256": None, "sha256_at_upload": p.sha256, "intact": None, "size": p.size,
            "content_type": p.content_type, "taken_at": _iso(p.taken_at), "completed_at": _iso(p.completed_at),
            "exif_taken_at": exif.get("taken_at"), "lat": p.lat, "lng": p.lng,
            "distance_m": head.distance_m(p.lat, p.lng), "exif_lat": exif.get("lat"), "exif_lng": exif.get("lng"),
            "exif_distance_m": head.distance_m(exif.get("lat"), exif.get("lng")), "flags": list(p.flags or []),
            "verify_code": p.verify_code, "duplicate_of": p.duplicate_of_id,
            "_key": p.object_key, "_version": p.object_version, "_time": p.completed_at,
        })
    manifest = {
        "visit": {
            "id": head.id, "project": head.project, "township": head.township, "place": head.place,
            "place_center_wgs84": list(head.center) if head.center else None, "radius_m": head.radius_m,
            "status": head.status, "started_at": _iso(head.started_at), "submitted_at": _iso(head.submitted_at),
            "flags": head.flags,
        },
        "coordinates": "WGS-84 decimal degrees; times are ISO 8601 (China time unless the camera said otherwise)",
        "exported_by": user.name or user.username, "exported_at": _iso(utcnow()),
        "photos": entries,
        "checkins": [{
            "id": c.id, "client_time": _iso(c.client_time), "received_at": _iso(c.received_at),
            "lat": c.lat, "lng": c.lng, "accuracy_m": c.accuracy_m, "distance_m": c.distance_m,
            "within_geofence": c.within_geofence, "flags": list(c.flags or []),
        } for c in checkins],
    }
    backend = storage()
    # Fail before the first byte while an error page can still be shown: once the ZIP is on
    # its way, an outage can only cut the download short.
    try:
        backend.ping()
    except StorageError:
        raise ApiError("storage_unavailable", details={"visit_id": visit.id}) from None
    audit.append(session, user, "export.evidence", "visit", visit.id, {"photos": len(entries)})
    session.commit()
    place = re.sub(r"[^\w-]", "", head.place)[:20]
    return Download(f"暗访证据-{visit.id}-{place}.zip", f"visit-{visit.id}-evidence.zip", "application/zip",
                    _stream_zip(backend, manifest))


def _stream_zip(backend: Storage, manifest: dict[str, Any]) -> Iterator[bytes]:
    """Yield the ZIP piece by piece: each original as it is read, then the manifest."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w") as zf:
        for entry in manifest["photos"]:
            key, version, when = entry.pop("_key"), entry.pop("_version"), entry.pop("_time")
            try:
                src = backend.open(key, version=version)
            except ObjectMissing:
                log.warning("evidence export: object %s of photo %s is missing", key, entry["photo_id"])
                entry.update(file=None, intact=False, missing=True)
                continue
            info = zipfile.ZipInfo(entry["file"], date_time=_zip_time(when))
            info.compress_type = zipfile.ZIP_STORED  # JPEGs do not compress
            digest = hashlib.sha256()
            with src, zf.open(info, "w") as dest:
                while chunk := src.read(_CHUNK):
                    digest.update(chunk)
                    dest.write(chunk)
                    if part := sink.drain():
                        yield part
            entry["sha256"] = digest.hexdigest()
            entry["intact"] = entry["sha256"] == entry["sha256_at_upload"]
            yield sink.drain()
        zf.writestr(zipfile.ZipInfo("manifest.json", date_time=_zip_time(None)),
                    json.dumps(manifest, ensure_ascii=False, indent=2), compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr(zipfile.ZipInfo("manifest.csv", date_time=_zip_time(None)),
                    _manifest_csv(manifest["photos"]).encode("utf-8-sig"), compress_type=zipfile.ZIP_DEFLATED)
    yield sink.drain()


def _manifest_csv(entries: list[dict[str, Any]]) -> str:
    """The photo part of the manifest for Excel (UTF-8 with BOM, Chinese headers)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([label for _, label in MANIFEST_COLUMNS])
    for e in entries:
        row = []
        for key, _ in MANIFEST_COLUMNS:
            value = e.get(key)
            if key == "flags":
                value = "、".join(flag_label(f) for f in value)
            elif key == "intact":
                value = {True: "是", False: "否"}.get(value, "")
            row.append("" if value is None else csv_text(value))
        writer.writerow(row)
    return out.getvalue()


# What spreadsheet programs read as the start of a formula (tab and CR too: a cell's leading
# whitespace is dropped and the rest evaluated).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: Any) -> Any:
    """A CSV field Excel cannot run: text starting like a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
