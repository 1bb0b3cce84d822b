"""Console pages for rectification orders: the list with overdue ones, one order, issuing, verifying, closing."""

from __future__ import annotations

from datetime import date

from flask import current_app, flash, g, redirect, render_template, request, url_for

from server import clock
from server.console import console_bp, forms
from server.console.auth import can_write, staff_required
from server.console.handling import refused
from server.db import db
from server.errors import ApiError
from server.models import RECTIFICATION_STATUSES, Project, Visit, utcnow
from server.services import photos, rectification, review
from server.services.common import get_or_404

PER_PAGE = 50
WRITERS = ("admin", "reviewer")


@console_bp.get("/rectifications")
@staff_required()
def rectifications():
    """Orders in scope with status and overdue filters, counts, and overdue rows highlighted."""
    filters = rectification.parse_filters(request.args)
    page = forms.page()
    orders, total = rectification.list_orders(db.session, g.staff, filters, page, PER_PAGE)
    return render_template(
        "console/rectifications/list.html",
        orders=orders,
        total=total,
        page=page,
        per_page=PER_PAGE,
        filters=filters,
        counts=rectification.counts(db.session, g.staff),
        context=rectification.context_of(db.session, orders),
        statuses=RECTIFICATION_STATUSES,
        today=clock.today(),
        is_overdue=rectification.is_overdue,
        days_overdue=rectification.days_overdue,
        can_issue=can_write(),
    )


def _render_detail(order, error: str | None = None, status: int = 200):
    staff = g.staff
    may_act = can_write() and rectification.may_act(staff, order.township_id)
    response_photos = rectification.photos_of(db.session, order.id)
    return render_template(
        "console/rectifications/detail.html",
        order=order,
        error=error,
        context=rectification.context_of(db.session, [order]),
        statuses=RECTIFICATION_STATUSES,
        overdue=rectification.is_overdue(order),
        days_overdue=rectification.days_overdue(order),
        photos=[(p, photos.urls(p)) for p in response_photos],
        may_act=may_act,
        follow_ups=rectification.follow_up_visits(db.session, staff, order)
        if may_act and order.status == "responded"
        else [],
        verified_visit=db.session.get(Visit, order.verified_visit_id) if order.verified_visit_id else None,
        visit_page="console.visit_detail" in current_app.view_functions,
    ), status


@console_bp.get("/rectifications/<int:order_id>")
@staff_required()
def rectification_detail(order_id: int):
    """One order: findings, deadline, the secretary's reply with photos, and the next step."""
    return _render_detail(rectification.order_for(db.session, g.staff, order_id))


def _issue_source():
    """The visit (in scope) or project the new order is about, from the query string or the form."""
    raw_visit = (request.values.get("visit_id") or "").strip()
    raw_project = (request.values.get("project_id") or "").strip()
    if raw_visit.isdigit():
        visit = review.visit_in_scope(db.session, g.staff, int(raw_visit))
        if visit is None:
            raise ApiError("not_found", "找不到该暗访记录", {"visit_id": raw_visit})
        return visit, get_or_404(db.session, Project, visit.project_id, "项目")
    if raw_project.isdigit():
        return None, get_or_404(db.session, Project, int(raw_project), "项目")
    return None, None


@console_bp.route("/rectifications/new", methods=["GET", "POST"])
@staff_required(*WRITERS)
def rectification_new():
    """Issue an order from a visit's findings (?visit_id=N) or for a chosen project."""
    visit, project = _issue_source()
    default_deadline = rectification.default_deadline(utcnow())
    form = {
        "items": "\n".join(rectification.findings_of(db.session, visit)) if visit else "",
        "deadline": default_deadline.isoformat(),
    }
    error, status = None, 200
    if request.method == "POST":
        form = {"items": request.form.get("items", ""), "deadline": request.form.get("deadline", "").strip()}
        with refused() as refusal:
            try:
                deadline = date.fromisoformat(form["deadline"]) if form["deadline"] else None
            except ValueError:
                raise ApiError("validation_failed", "整改期限格式不正确", {"field": "deadline"}) from None
            if project is None:
                raise ApiError("validation_failed", "请选择项目", {"field": "project_id"})
            order = rectification.issue(
                db.session,
                g.staff,
                visit_id=visit.id if visit else None,
                project_id=None if visit else project.id,
                items=form["items"].splitlines(),
                deadline=deadline,
            )
        if refusal.error is None:
            flash(f"整改通知已下发,整改期限 {order.deadline.isoformat()}")
            return redirect(url_for("console.rectification_detail", order_id=order.id))
        error, status = refusal.error.message, refusal.error.status
    return render_template(
        "console/rectifications/new.html",
        visit=visit,
        project=project,
        form=form,
        error=error,
        today_iso=clock.today().isoformat(),
        projects=[] if project else rectification.issuable_projects(db.session, g.staff),
        visit_page="console.visit_detail" in current_app.view_functions,
    ), status


@console_bp.post("/rectifications/<int:order_id>/verify")
@staff_required(*WRITERS)
def rectification_verify(order_id: int):
    """Record the follow-up visit that confirmed the reply."""
    raw = (request.form.get("visit_id") or "").strip()
    with refused(passthrough=(403, 404)) as refusal:
        if not raw.isdigit():
            raise ApiError("validation_failed", "请选择复核的暗访记录", {"field": "visit_id"})
        rectification.verify(db.session, g.staff, order_id, int(raw))
    if refusal.error:
        return _render_detail(
            rectification.order_for(db.session, g.staff, order_id), refusal.error.message, refusal.error.status
        )
    flash("已复核")
    return redirect(url_for("console.rectification_detail", order_id=order_id))


@console_bp.post("/rectifications/<int:order_id>/close")
@staff_required(*WRITERS)
def rectification_close(order_id: int):
    """Close (销号) a verified order."""
    with refused(passthrough=(403, 404)) as refusal:
        rectification.close(db.session, g.staff, order_id, request.form.get("note", ""))
    if refusal.error:
        return _render_detail(
            rectification.order_for(db.session, g.staff, order_id), refusal.error.message, refusal.error.status
        )
    flash("已销号")
    return redirect(url_for("console.rectification_detail", order_id=order_id))
