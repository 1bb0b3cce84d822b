"""Assignments: who is sent where, by when, to check what. Admins and leaders read the whole plan,
reviewers only closed assignments in their townships (services.assignments.list_assignments);
admins send teams and edit assignments here."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for

from server.console import console_bp, forms
from server.console.auth import staff_required
from server.console.handling import refused
from server.console.pages import PER_PAGE, WRITE, message, render
from server.db import db
from server.errors import ApiError
from server.models import Assignment
from server.services import assignments, evidence, places, projects, rounds, users

ASSIGNMENT_STATUSES = {"open": "进行中", "closed": "已结束"}


def _place_label(assignment: Assignment) -> str:
    try:
        return projects.place_of(db.session, assignment).label
    except ApiError:
        return "(未设置地点)"


def _assignment_error(exc: ApiError) -> str:
    """The service's message, naming the inspectors it concerns (recusal, inactive accounts)."""
    ids = exc.details.get("inspector_ids")
    if not ids:
        return message(exc)
    names = users.sorted_names(db.session, ids)
    return f"{exc.message}:{'、'.join(names)}" if names else exc.message


def _inspector_ids() -> list[int]:
    ids = forms.form_ids("inspector_ids")
    if not ids:
        raise forms.invalid("请至少选择一名督查人员", "inspector_ids")
    if len(ids) > 20:
        raise forms.invalid("每个任务最多 20 名督查人员", "inspector_ids")
    return ids


def _evidence_policy() -> dict[str, int | None]:
    """The assignment's evidence-policy overrides from the form (empty: the round's or the default)."""
    return {
        "min_photos": forms.integer("min_photos", "至少照片数", 0, evidence.MAX_MINIMUM),
        "min_interviews": forms.integer("min_interviews", "至少入户走访数", 0, evidence.MAX_MINIMUM),
    }


def _townships() -> dict[int, Any]:
    return {t.id: t for t in places.list_townships(db.session).items}


def _assignments_page(status: int = 200, *, values: dict[str, Any] | None = None, error: str | None = None):
    project_id, state = forms.arg_int("project_id"), request.args.get("status", "")
    items, total = assignments.list_assignments(
        db.session,
        g.staff,
        project_id=project_id,
        status=state if state in ASSIGNMENT_STATUSES else None,
        page=forms.page(),
        per_page=PER_PAGE,
    )
    all_projects = projects.list_projects(db.session, order="year_title").items
    return render(
        "assignments.html",
        status,
        assignments=items,
        total=total,
        page=forms.page(),
        per_page=PER_PAGE,
        places={a.id: _place_label(a) for a in items},
        teams=rounds.teams_of(db.session, items),
        projects=all_projects,
        open_projects=[p for p in all_projects if p.status != "closed"],
        inspectors=users.list_active(db.session, "inspector"),
        township_by_id=_townships(),
        statuses=ASSIGNMENT_STATUSES,
        filters={"project_id": project_id, "status": state},
        error=error,
        values=values or {"inspector_ids": []},
    )


@console_bp.get("/assignments", endpoint="assignments")
@staff_required()
def assignments_list():
    """Assignments (who is sent where, by when, to check what); admins create them here."""
    return _assignments_page()


@console_bp.post("/assignments")
@staff_required(*WRITE)
def assignment_create():
    """Send a team of inspectors to one of a project's villages (or its unit site)."""
    with refused() as refusal:
        project_id = forms.form_id("project_id")
        if project_id is None:
            raise forms.invalid("请选择项目", "project_id")
        data = {
            "project_id": project_id,
            "village_id": forms.form_id("village_id"),
            "inspector_ids": _inspector_ids(),
            "due_date": forms.due_date(),
            "check_items": forms.lines("check_items", "督查事项", max_items=50),
            **_evidence_policy(),
        }
        assignment = assignments.create_assignment(db.session, g.staff, data)
    if refusal.error:
        return _assignments_page(
            refusal.error.status, values=forms.values("inspector_ids"), error=_assignment_error(refusal.error)
        )
    flash(f"已派出督查任务 #{assignment.id}:{assignment.project.title} · {_place_label(assignment)}")
    return redirect(url_for("console.assignments"))


def _edit_data(assignment: Assignment) -> dict[str, Any]:
    status = request.form.get("status", "")
    if status not in ASSIGNMENT_STATUSES:
        raise forms.invalid("请选择任务状态", "status")
    data: dict[str, Any] = {"due_date": forms.due_date(), "status": status, **_evidence_policy()}
    # A drawn assignment's team and items are the published draw's: only date and status change.
    if assignment.origin != "drawn":
        data["inspector_ids"] = _inspector_ids()
        items = forms.lines("check_items", "督查事项", max_items=50)
        # Items are frozen once a visit started; sending them unchanged must not trip that rule.
        if items != list(assignment.check_items or []):
            data["check_items"] = items
    return data


@console_bp.route("/assignments/<int:assignment_id>", methods=["GET", "POST"])
@staff_required(*WRITE)
def assignment_edit(assignment_id: int):
    """Change an assignment's team, due date, check items or status."""
    assignment = assignments.get_assignment(db.session, assignment_id)
    context = {
        "assignment": assignment,
        "place": _place_label(assignment),
        "inspectors": users.list_active(db.session, "inspector"),
        "policy": evidence.policy_of(db.session, assignment),
        "statuses": ASSIGNMENT_STATUSES,
        "township_by_id": _townships(),
    }
    if request.method == "POST":
        with refused() as refusal:
            assignments.update_assignment(db.session, g.staff, assignment_id, _edit_data(assignment))
        if refusal.error:
            return render(
                "assignment_edit.html",
                refusal.error.status,
                values=forms.values("inspector_ids"),
                error=_assignment_error(refusal.error),
                **context,
            )
        flash(f"已保存督查任务 #{assignment_id}")
        return redirect(url_for("console.assignments"))
    values = {
        "inspector_ids": [str(m.id) for m in assignment.members],
        "status": assignment.status,
        "due_date": assignment.due_date.isoformat() if assignment.due_date else "",
        "check_items": "\n".join(assignment.check_items or []),
        "min_photos": "" if assignment.min_photos is None else assignment.min_photos,
        "min_interviews": "" if assignment.min_interviews is None else assignment.min_interviews,
    }
    return render("assignment_edit.html", values=values, **context)
