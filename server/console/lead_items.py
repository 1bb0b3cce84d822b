"""书记领办事项: the list (with the items the two-year rule suggests for the 软弱涣散 list), an item's
page — its fields and milestones, progress entries, and the admin's confirm or dismiss of a
suggestion — and the form that adds one. Admins write; leaders read."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for

from server import clock
from server.console import console_bp, forms
from server.console.auth import staff_required
from server.console.handling import refused
from server.console.pages import PER_PAGE, WRITE, message, render
from server.db import db
from server.models import LEAD_ITEM_STATUSES, PROJECT_LEVELS, SUGGESTION_DECISIONS, LeadItem
from server.services import lead_items, projects, users

READ = lead_items.READERS


def _item_data() -> dict[str, Any]:
    return {
        "title": forms.text("title", "事项名称", required=True, max_len=200),
        "started_on": request.form.get("started_on", "").strip(),
        "organization_id": forms.form_id("organization_id"),
        "level": request.form.get("level", ""),
        "status": request.form.get("status", "in_progress"),
        "secretary_id": forms.form_id("secretary_id"),
        "leader_name": forms.text("leader_name", "领办书记", max_len=64),
        "problem": forms.text("problem", "要解决的问题", max_len=lead_items.MAX_TEXT),
        "milestones": forms.parse_steps(request.form.get("milestones", "")),
    }


def _values(item: LeadItem) -> dict[str, Any]:
    return {
        "title": item.title,
        "started_on": item.started_on.isoformat(),
        "organization_id": str(item.organization_id),
        "level": item.level,
        "status": item.status,
        "secretary_id": str(item.secretary_id or ""),
        "leader_name": item.leader_name,
        "problem": item.problem,
        "milestones": forms.steps_text(item.milestones),
    }


def _page(template: str, status: int = 200, **context: Any):
    return render(
        template,
        status,
        levels=PROJECT_LEVELS,
        item_statuses=LEAD_ITEM_STATUSES,
        decisions=SUGGESTION_DECISIONS,
        organizations=projects.list_organizations(db.session).items,
        secretaries=users.list_active(db.session, "secretary"),
        **context,
    )


def _detail(item: LeadItem, status: int = 200, *, values: dict[str, Any] | None = None, error: str | None = None):
    decisions = lead_items.decisions_of(db.session, item.id)
    return _page(
        "lead_item.html",
        status,
        item=item,
        values=values or _values(item),
        error=error,
        progress=lead_items.progress_of(db.session, item.id),
        history=decisions,
        deciders=users.users_by_id(db.session, {d.decided_by_id for d in decisions}),
        clock_=lead_items.result_clock(db.session, item),
        leader=(
            users.users_by_id(db.session, {item.secretary_id}).get(item.secretary_id) if item.secretary_id else None
        ),
        suggested=lead_items.is_suggested(db.session, item),
        today=clock.today().isoformat(),
    )


@console_bp.get("/lead-items", endpoint="lead_items")
@staff_required(*READ)
def lead_items_list():
    """Items by start year, level, status and title; the suggestions of the two-year rule above them."""
    year, level, status = forms.arg_int("year"), request.args.get("level", ""), request.args.get("status", "")
    q = request.args.get("q", "").strip()
    items, total = lead_items.list_items(
        db.session,
        g.staff,
        year=year,
        level=level if level in PROJECT_LEVELS else None,
        status=status if status in LEAD_ITEM_STATUSES else None,
        q=q,
        page=forms.page(),
        per_page=PER_PAGE,
    )
    return _page(
        "lead_items.html",
        items=items,
        total=total,
        page=forms.page(),
        per_page=PER_PAGE,
        suggestions=lead_items.suggestions(db.session, g.staff),
        leaders=users.users_by_id(db.session, {i.secretary_id for i in items if i.secretary_id}),
        filters={"year": year, "level": level, "status": status, "q": q},
    )


@console_bp.route("/lead-items/new", methods=["GET", "POST"])
@staff_required(*WRITE)
def lead_item_new():
    """Register a 书记领办事项."""
    if request.method == "GET":
        return _page("lead_item.html", item=None, values={"started_on": clock.today().isoformat(), "level": "village"})
    with refused() as refusal:
        item = lead_items.create_item(db.session, g.staff, _item_data())
    if refusal.error:
        return _page(
            "lead_item.html", refusal.error.status, item=None, values=forms.values(), error=message(refusal.error)
        )
    flash(f"已添加书记领办事项:{item.title}")
    return redirect(url_for("console.lead_item", item_id=item.id))


@console_bp.route("/lead-items/<int:item_id>", methods=["GET", "POST"])
@staff_required(*READ)
def lead_item(item_id: int):
    """An item: its fields and milestones (admins edit them), progress entries and suggestion decisions."""
    item = lead_items.get_item(db.session, g.staff, item_id)
    if request.method == "GET":
        return _detail(item)
    with refused(passthrough=(403,)) as refusal:
        lead_items.update_item(db.session, g.staff, item_id, _item_data())
    if refusal.error:
        return _detail(item, refusal.error.status, values=forms.values(), error=message(refusal.error))
    flash("已保存")
    return redirect(url_for("console.lead_item", item_id=item_id))


@console_bp.post("/lead-items/<int:item_id>/progress")
@staff_required(*WRITE)
def lead_item_progress(item_id: int):
    """Record a progress entry, marked or not as a visible result (明显成效)."""
    item = lead_items.get_item(db.session, g.staff, item_id)
    with refused() as refusal:
        lead_items.add_progress(
            db.session,
            g.staff,
            item_id,
            {
                "noted_on": request.form.get("noted_on", "").strip() or None,
                "text": request.form.get("text", ""),
                "visible_result": request.form.get("visible_result") == "1",
            },
        )
    if refusal.error:
        return _detail(item, refusal.error.status, error=message(refusal.error))
    flash("进展已记录")
    return redirect(url_for("console.lead_item", item_id=item_id))


@console_bp.post("/lead-items/<int:item_id>/suggestion")
@staff_required(*WRITE)
def lead_item_decide(item_id: int):
    """Confirm a suggestion (the organization goes on the 软弱涣散 list) or dismiss it with a reason."""
    item = lead_items.get_item(db.session, g.staff, item_id)
    decision = request.form.get("decision")
    with refused() as refusal:
        if decision == "confirm":
            lead_items.confirm_suggestion(db.session, g.staff, item_id, request.form.get("note", ""))
        else:
            lead_items.dismiss_suggestion(db.session, g.staff, item_id, request.form.get("reason", ""))
    if refusal.error:
        return _detail(item, refusal.error.status, error=message(refusal.error))
    flash(
        f"已将{item.organization.name}列入软弱涣散预警名单"
        if decision == "confirm"
        else "已决定不列入,两年期限从今天重新计算"
    )
    return redirect(url_for("console.lead_item", item_id=item_id))
