"""Downloads of the department's official documents (公文) from the pages they belong to.

The 整改通知书 from an order's page (whoever may read the order), the 立项通知 from a reporting
unit's page and the grading 通报 from a finalized session (admins and leaders). The round 通报
is served by console/rounds.py beside the round's workbook.
"""

from __future__ import annotations

from flask import g, request

from server import clock
from server.console import console_bp
from server.console.auth import staff_required
from server.console.exports import send_download
from server.db import db
from server.errors import ApiError
from server.services.documents import notices

READERS = ("admin", "leader")


@console_bp.get("/rectifications/<int:order_id>/notice.docx")
@staff_required()
def rectification_notice(order_id: int):
    """The order's 整改通知书 with its 回执 as DOCX."""
    return send_download(notices.rectification_docx(db.session, g.staff, order_id))


@console_bp.get("/units/<int:unit_id>/approval.docx")
@staff_required(*READERS)
def unit_approval_notice(unit_id: int):
    """The 立项通知 to this reporting unit for ?year= (default this year) as DOCX."""
    raw = request.args.get("year", "").strip()
    if raw and not raw.isdigit():
        raise ApiError("validation_failed", "年度应为四位数字", {"field": "year"})
    year = int(raw) if raw else clock.today().year
    return send_download(notices.approval_docx(db.session, g.staff, unit_id, year))


@console_bp.get("/grading/<int:session_id>/notice.docx")
@staff_required(*READERS)
def grading_notice(session_id: int):
    """The finalized session's 评审结果通报 as DOCX."""
    return send_download(notices.grading_docx(db.session, g.staff, session_id))
