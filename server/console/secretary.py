"""The secretary's own work from a PC: write and hand in the 月报, answer rectification orders.

The same service functions as the mini-program's API do the work (`reports.save_report`,
`rectification.respond`), so the rules, the validation and the audit entries are the same.
Photos are taken with the phone (camera-only evidence); here the secretary picks from the photos
already checked on their phone and not yet attached, next to the ones a report already carries.
Only their own projects and orders: any other is a 404 or a 403 from the services.
"""

from __future__ import annotations

import uuid

from flask import flash, g, redirect, render_template, request, url_for

from server import clock
from server.console import console_bp
from server.console.auth import staff_required
from server.console.handling import refused
from server.db import db
from server.errors import ApiError
from server.models import RECTIFICATION_STATUSES, REPORT_STATUSES
from server.services import lifecycle, photos, rectification, reports

SECRETARY = ("secretary",)
MAX_TEXT = {"report": 10000, "response": 5000}  # the API's schema limits


def _photo_ids() -> list[int]:
    ids = list(dict.fromkeys(int(v) for v in request.form.getlist("photo_ids") if v.isdigit()))
    if len(ids) > 9:
        raise ApiError("validation_failed", "最多选择 9 张照片", {"field": "photo_ids"})
    return ids


def _text(kind: str) -> str:
    text = request.form.get("text", "")
    if len(text) > MAX_TEXT[kind]:
        raise ApiError("validation_failed", f"内容最多 {MAX_TEXT[kind]} 个字", {"field": "text"})
    return text


# ---- 月报 --------------------------------------------------------------------------------------


def _own_project(project_id: int):
    project = lifecycle.project_for(db.session, g.staff, project_id)
    if project.secretary_id != g.staff.id:
        raise ApiError("forbidden", "只有本项目书记可以填写月报")
    return project


def _report_page(project_id: int, month: str | None, status: int = 200, error: str | None = None, values=None):
    project = _own_project(project_id)
    state = reports.report_state(db.session, project)
    owed = reports.owed_months(project, clock.today())
    month = month if month in owed else state.current_month
    rows = reports.reports_of(db.session, project.id)
    current = next((r for r in rows if r.month == month), None)
    attached = reports.photos_of(db.session, [current.id])[current.id] if current else []
    drafts = photos.ready_drafts(db.session, g.staff, reports.DRAFT_KIND)
    if values is None:
        values = {"text": current.text if current else "", "photo_ids": [p.id for p in attached]}
    return render_template(
        "console/secretary/report.html",
        project=project,
        state=state,
        month=month,
        owed=owed,
        rows=rows,
        current=current,
        choices=[(p, photos.urls(p)) for p in attached + drafts],
        values=values,
        error=error,
        report_statuses=REPORT_STATUSES,
        due=reports.due_date,
        submitted={r.month for r in rows if r.status == "submitted"},
    ), status


@console_bp.get("/my-projects/<int:project_id>/reports", endpoint="my_report")
@staff_required(*SECRETARY)
def my_report(project_id: int):
    """The project's 月报: the months owed, the reports handed in, and the form for one month."""
    return _report_page(project_id, request.args.get("month"))


@console_bp.post("/my-projects/<int:project_id>/reports", endpoint="my_report_save")
@staff_required(*SECRETARY)
def my_report_save(project_id: int):
    """Save the month's report as a draft, or hand it in (final once handed in)."""
    month = request.form.get("month", "")
    submit = request.form.get("intent") == "submit"
    with refused(passthrough=(403, 404)) as refusal:
        body = {"text": _text("report"), "photo_ids": _photo_ids(), "submit": submit}
        reports.save_report(db.session, g.staff, project_id, month, body)
    if refusal.error:
        values = {
            "text": request.form.get("text", ""),
            "photo_ids": [int(v) for v in request.form.getlist("photo_ids") if v.isdigit()],
        }
        return _report_page(project_id, month, refusal.error.status, refusal.error.message, values)
    flash(f"{month} 月报已提交" if submit else f"{month} 月报草稿已保存")
    return redirect(url_for("console.my_report", project_id=project_id, month=month))


# ---- rectification orders -----------------------------------------------------------------------


@console_bp.get("/my-rectifications", endpoint="my_rectifications")
@staff_required(*SECRETARY)
def my_rectifications():
    """The rectification orders of the secretary's projects, open ones first."""
    orders = rectification.secretary_orders(db.session, g.staff)
    return render_template(
        "console/secretary/rectifications.html",
        orders=orders,
        context=rectification.context_of(db.session, orders),
        statuses=RECTIFICATION_STATUSES,
        is_overdue=rectification.is_overdue,
    )


def _response_page(order_id: int, status: int = 200, error: str | None = None, values=None):
    order = rectification.secretary_order(db.session, g.staff, order_id)
    sent = rectification.photos_of(db.session, order.id)
    drafts = photos.ready_drafts(db.session, g.staff, rectification.DRAFT_KIND) if order.status == "issued" else []
    return render_template(
        "console/secretary/response.html",
        order=order,
        context=rectification.context_of(db.session, [order]),
        statuses=RECTIFICATION_STATUSES,
        overdue=rectification.is_overdue(order),
        sent=[(p, photos.urls(p)) for p in sent],
        choices=[(p, photos.urls(p)) for p in drafts],
        values=values or {"text": "", "photo_ids": [], "client_id": str(uuid.uuid4())},
        error=error,
    ), status


@console_bp.get("/my-rectifications/<int:order_id>", endpoint="my_rectification")
@staff_required(*SECRETARY)
def my_rectification(order_id: int):
    """One order of the secretary's project: the findings, the deadline, and the reply form while issued."""
    return _response_page(order_id)


@console_bp.post("/my-rectifications/<int:order_id>", endpoint="my_rectification_respond")
@staff_required(*SECRETARY)
def my_rectification_respond(order_id: int):
    """Send the reply: what was done, with photos picked from those checked on the phone; sent once."""
    client_id = request.form.get("client_id", "")
    with refused(passthrough=(404,)) as refusal:
        try:
            uuid.UUID(client_id)
        except ValueError:
            raise ApiError("validation_failed", "表单已过期,请刷新页面后重新填写", {"field": "client_id"}) from None
        body = {"client_id": client_id, "text": _text("response"), "photo_ids": _photo_ids()}
        rectification.respond(db.session, g.staff, order_id, body)
    if refusal.error:
        values = {
            "text": request.form.get("text", ""),
            "photo_ids": [int(v) for v in request.form.getlist("photo_ids") if v.isdigit()],
            "client_id": client_id,
        }
        return _response_page(order_id, refusal.error.status, refusal.error.message, values)
    flash("整改情况已反馈,等待复核")
    return redirect(url_for("console.my_rectification", order_id=order_id))
