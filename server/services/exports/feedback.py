"""The feedback workbook and its filters; phones only as far as the reader may see them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.models import (
    FEEDBACK_STATUSES,
    Feedback,
    FeedbackReply,
    Project,
    Township,
    User,
    utcnow,
)
from server.services.exports.workbook import Download, Sheet, finish_workbook, new_workbook, xlsx_download
from server.services.feedback import CLOSED_STATUSES, phone_for, staff_scope


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


FEEDBACK_COLUMNS = [
    ("回执号", 20),
    ("提交时间", 17),
    ("乡镇", 12),
    ("项目", 28),
    ("评价", 9),
    ("类别", 9),
    ("内容", 50),
    ("状态", 9),
    ("答复期限", 17),
    ("逾期", 6),
    ("办结时间", 17),
    ("匿名", 6),
    ("联系电话", 14),
    ("最新答复", 40),
]


def feedback_workbook(session: Session, user: User, filters: dict[str, Any]) -> Download:
    """Feedback in the user's scope under `filters` as XLSX; phones per `phone_for`, none for anonymous authors."""
    stmt = (
        select(Feedback, Township.name, Project.title)
        .join(Project, Project.id == Feedback.project_id)
        .outerjoin(Township, Township.id == Feedback.township_id)
        .order_by(Feedback.created_at, Feedback.id)
    )
    stmt = stmt.where(*staff_scope(user))  # risky text still held is for county staff only
    for key, column in (
        ("township_id", Feedback.township_id),
        ("project_id", Feedback.project_id),
        ("status", Feedback.status),
    ):
        if key in filters:
            stmt = stmt.where(column == filters[key])
    now = utcnow()
    if filters.get("overdue"):
        stmt = stmt.where(Feedback.status.not_in(CLOSED_STATUSES), Feedback.due_at < now)
    rows = session.execute(stmt).all()

    last_reply = (
        select(func.max(FeedbackReply.id))
        .where(FeedbackReply.feedback_id.in_(stmt.with_only_columns(Feedback.id).order_by(None)))
        .group_by(FeedbackReply.feedback_id)
    )
    replies = {
        fid: text or reason or ""
        for fid, text, reason in session.execute(
            select(FeedbackReply.feedback_id, FeedbackReply.text, FeedbackReply.reason).where(
                FeedbackReply.id.in_(last_reply)
            )
        )
    }

    wb = new_workbook()
    sheet = Sheet(wb, "群众反馈", FEEDBACK_COLUMNS)
    for fb, township, project in rows:
        late = fb.status not in CLOSED_STATUSES and fb.due_at < now
        # A file is copied and forwarded: an anonymous author stays anonymous in it for everyone.
        phone = None if fb.anonymous else phone_for(user, fb)
        sheet.add(
            [
                fb.receipt_no,
                fb.created_at,
                township or "",
                project,
                fb.rating,
                fb.category,
                fb.text,
                FEEDBACK_STATUSES.get(fb.status, fb.status),
                fb.due_at,
                "是" if late else "",
                fb.closed_at,
                "是" if fb.anonymous else "",
                phone or "",
                replies.get(fb.id, ""),
            ]
        )
    note = "联系电话按导出人的权限显示(县级管理员和领导见完整号码,其他人员见部分号码);匿名反馈一律不显示联系电话。"
    body = finish_workbook(session, user, wb, "群众反馈", filters, sheet.rows, "export.feedback", note)
    return xlsx_download("群众反馈", "feedback", body)
