"""The rectification orders workbook, under the rectification list's filters."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy.orm import Session, aliased

from server.models import RECTIFICATION_STATUSES, Project, RectificationOrder, Township, User
from server.services import rectification
from server.services.exports.workbook import Download, Sheet, finish_workbook, new_workbook, xlsx_download

RECTIFICATION_COLUMNS = [
    ("编号", 8),
    ("乡镇", 12),
    ("项目", 28),
    ("暗访编号", 10),
    ("整改事项", 50),
    ("整改期限", 12),
    ("状态", 8),
    ("逾期", 6),
    ("下发人", 10),
    ("下发时间", 17),
    ("反馈内容", 40),
    ("反馈时间", 17),
    ("复核时间", 17),
    ("销号时间", 17),
    ("备注", 30),
]


def _item_text(item: Any) -> str:
    if isinstance(item, dict):
        return str(item.get("text") or item.get("item") or item.get("title") or json.dumps(item, ensure_ascii=False))
    return str(item)


def rectifications_workbook(session: Session, user: User, filters: dict[str, Any], today: date) -> Download:
    """Rectification orders in the user's scope under the rectification list's filters as XLSX."""
    orders = rectification.scoped_orders(user)
    # The same conditions as the rectification list (services.rectification.parse_filters).
    for key, column in (
        ("status", RectificationOrder.status),
        ("project_id", RectificationOrder.project_id),
        ("township_id", RectificationOrder.township_id),
    ):
        if filters.get(key):
            orders = orders.where(column == filters[key])
    if filters.get("overdue"):
        orders = orders.where(
            RectificationOrder.status.in_(rectification.OPEN_STATUSES), RectificationOrder.deadline < today
        )
    issuer = aliased(User)
    stmt = (
        orders.add_columns(Township.name, Project.title, issuer.name)
        .join(Project, Project.id == RectificationOrder.project_id)
        .outerjoin(Township, Township.id == RectificationOrder.township_id)
        .join(issuer, issuer.id == RectificationOrder.issued_by_id)
        .order_by(RectificationOrder.deadline, RectificationOrder.id)
    )

    wb = new_workbook()
    sheet = Sheet(wb, "整改通知", RECTIFICATION_COLUMNS)
    for o, township, project, issued_by in session.execute(stmt):
        late = rectification.is_overdue(o, today)
        sheet.add(
            [
                o.id,
                township or "",
                project,
                o.visit_id,
                "\n".join(_item_text(i) for i in o.items or []),
                o.deadline,
                RECTIFICATION_STATUSES.get(o.status, o.status),
                "是" if late else "",
                issued_by,
                o.issued_at,
                o.response_text or "",
                o.responded_at,
                o.verified_at,
                o.closed_at,
                o.note or "",
            ]
        )
    body = finish_workbook(session, user, wb, "整改通知", filters, sheet.rows, "export.rectifications")
    return xlsx_download("整改通知", "rectifications", body)
