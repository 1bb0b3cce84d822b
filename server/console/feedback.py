"""Console pages for villagers' feedback: the inbox (held items first), one item, reply and moderation."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for

from server.console import console_bp
from server.console.auth import can_write, staff_required
from server.console.handling import refused
from server.db import db
from server.errors import ApiError
from server.models import FEEDBACK_STATUSES, Project, User, utcnow
from server.services import feedback, photos
from server.services.feedback import CLOSED_STATUSES

PER_PAGE = 50
HELD_SHOWN = 200
WRITERS = ("admin", "reviewer")
# The statuses a reply may set, in the order staff move through them.
REPLY_STATUSES = ("accepted", "processing", "resolved", "declined")


def _render(template: str, **context):
    return render_template(
        template,
        statuses=FEEDBACK_STATUSES,
        now=utcnow(),
        closed=CLOSED_STATUSES,
        held_reason=feedback.held_reason,
        **context,
    )


def _projects(items) -> dict[int, Project]:
    ids = {f.project_id for f in items}
    return {p.id: p for p in (db.session.get(Project, i) for i in ids) if p is not None}


@console_bp.get("/feedback")
@staff_required()
def feedback_inbox():
    """Held items to moderate first, then feedback by reply deadline with overdue ones highlighted."""
    status = request.args.get("status") if request.args.get("status") in FEEDBACK_STATUSES else None
    overdue = request.args.get("overdue") in ("1", "on", "true")
    raw_page = request.args.get("page", "")
    page = max(1, int(raw_page)) if raw_page.isdigit() else 1
    items, total = feedback.list_for_staff(
        db.session, g.staff, {"status": status, "overdue": overdue, "page": page, "per_page": PER_PAGE}
    )
    held, held_total = feedback.list_for_staff(
        db.session, g.staff, {"status": "held", "page": 1, "per_page": HELD_SHOWN}
    )
    _, overdue_total = feedback.list_for_staff(db.session, g.staff, {"overdue": True, "page": 1, "per_page": 1})
    return _render(
        "console/feedback/inbox.html",
        items=items,
        total=total,
        page=page,
        per_page=PER_PAGE,
        held=held,
        held_total=held_total,
        overdue_total=overdue_total,
        filters={"status": status, "overdue": overdue},
        projects=_projects([*items, *held]),
    )


def _render_detail(fb, error: str | None = None, status: int = 200, form: dict | None = None):
    author = db.session.get(User, fb.user_id) if feedback.author_visible(g.staff, fb) else None
    return _render(
        "console/feedback/detail.html",
        fb=fb,
        error=error,
        form=form or {},
        project=db.session.get(Project, fb.project_id),
        author=author,
        phone=feedback.phone_for(g.staff, fb),
        replies=feedback.replies_of(db.session, [fb.id])[fb.id],
        photos=[(p, photos.urls(p)) for p in feedback.photos_of(db.session, [fb.id])[fb.id]],
        may_act=can_write(),
        reply_statuses=REPLY_STATUSES,
    ), status


@console_bp.get("/feedback/<int:feedback_id>")
@staff_required()
def feedback_detail(feedback_id: int):
    """One feedback item with its photos, replies, and the reply or moderation form."""
    return _render_detail(feedback.feedback_for_staff(db.session, g.staff, feedback_id))


@console_bp.post("/feedback/<int:feedback_id>/reply")
@staff_required(*WRITERS)
def feedback_reply(feedback_id: int):
    """Answer the villager and set the status (不予受理 needs a reason)."""
    form = {k: request.form.get(k, "") for k in ("text", "status", "reason")}
    form["public"] = request.form.get("public") == "1"
    with refused(passthrough=(403, 404)) as refusal:
        if form["status"] not in REPLY_STATUSES:
            raise ApiError("validation_failed", "请选择处理状态", {"field": "status"})
        if not form["text"].strip() and form["status"] != "declined":
            raise ApiError("validation_failed", "请填写答复内容", {"field": "text"})
        feedback.reply(db.session, g.staff, feedback_id, form)
    if refusal.error:
        return _render_detail(
            feedback.feedback_for_staff(db.session, g.staff, feedback_id),
            refusal.error.message,
            refusal.error.status,
            form,
        )
    flash(f"已答复,状态:{FEEDBACK_STATUSES[form['status']]}")
    return redirect(url_for("console.feedback_detail", feedback_id=feedback_id))


@console_bp.post("/feedback/<int:feedback_id>/moderation")
@staff_required(*WRITERS)
def feedback_moderate(feedback_id: int):
    """Release a held item to the inbox, or decline it with a reason."""
    form = {"decision": request.form.get("decision", ""), "reason": request.form.get("reason", "")}
    with refused(passthrough=(403, 404)) as refusal:
        if form["decision"] not in ("release", "decline"):
            raise ApiError("validation_failed", "请选择审核结果", {"field": "decision"})
        fb = feedback.moderate(db.session, g.staff, feedback_id, form)
    if refusal.error:
        return _render_detail(
            feedback.feedback_for_staff(db.session, g.staff, feedback_id),
            refusal.error.message,
            refusal.error.status,
            form,
        )
    flash("已审核通过,进入待受理" if fb.status == "received" else "已不予受理")
    return redirect(url_for("console.feedback_detail", feedback_id=feedback_id))
