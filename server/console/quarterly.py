"""The quarterly cycle under 督查: the year's 调度 / 实地督导 / 反馈通报 as a quarter × task table, edits, completion.

Admins generate the year and edit tasks; a task's owner (or an admin) marks it done with its
evidence. Admins and leaders see every task, a township reviewer only the tasks they own
(services/quarterly.py says why).
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from server import clock
from server.console import console_bp
from server.console.auth import staff_required
from server.console.handling import refused
from server.db import db
from server.models import QUARTERLY_KINDS, STAFF_ROLES, InspectionRound, QuarterlyTask, User
from server.services import quarterly, users
from server.services.assignments import PLAN_READERS

STATE_NAMES = {"done": "已完成", "overdue": "已逾期", "due": "待完成"}


def _year_arg() -> int:
    today = clock.today()
    year = request.args.get("year", type=int)
    return year if year is not None and today.year - 5 <= year <= today.year + 1 else today.year


def _people(ids: set[int | None]) -> dict[int, str]:
    ids = {i for i in ids if i is not None}
    return {u.id: u.name for u in db.session.scalars(select(User).where(User.id.in_(ids or [-1])))}


def _owners() -> list[User]:
    """Active staff, the people a task may be given to."""
    seen: dict[int, User] = {}
    for role in STAFF_ROLES:
        for u in users.list_active(db.session, role):
            seen.setdefault(u.id, u)
    return sorted(seen.values(), key=lambda u: u.name)


def _schedule_page(year: int, status: int = 200, error: str | None = None):
    sched = quarterly.schedule(db.session, g.staff, year)
    tasks = [t for _, cells in sched.rows for t in cells.values() if t]
    return render_template(
        "console/quarterly/schedule.html",
        s=sched,
        kinds=QUARTERLY_KINDS,
        quarter_names=quarterly.QUARTER_NAMES,
        state_names=STATE_NAMES,
        names=_people({t.owner_id for t in tasks} | {t.done_by_id for t in tasks}),
        can_plan=quarterly.can_plan(g.staff),
        can_complete=quarterly.can_complete,
        years=range(clock.today().year + 1, clock.today().year - 5, -1),
        error=error,
    ), status


@console_bp.get("/quarterly")
@staff_required()
def quarterly_schedule():
    """The year's schedule (this year unless ?year=), quarter by quarter."""
    return _schedule_page(_year_arg())


@console_bp.post("/quarterly/generate")
@staff_required()
def quarterly_generate():
    """Create the year's missing tasks with default due days; a second click adds nothing."""
    year = request.form.get("year", type=int) or clock.today().year
    with refused(passthrough=(403,)) as refusal:
        _, created = quarterly.generate_year(db.session, g.staff, year)
    if refusal.error:
        return _schedule_page(year, refusal.error.status, refusal.error.message)
    flash(f"已生成 {year} 年季度工作安排 {created} 项" if created else f"{year} 年季度工作安排已生成过,未重复添加")
    return redirect(url_for("console.quarterly_schedule", year=year))


def _task_page(task: QuarterlyTask, status: int = 200, error: str | None = None):
    rounds = quarterly.rounds_for(db.session, task) if task.kind != "dispatch" else []
    linked = db.session.get(InspectionRound, task.round_id) if task.round_id else None
    return render_template(
        "console/quarterly/task.html",
        task=task,
        kind_name=QUARTERLY_KINDS[task.kind],
        state=task.state(clock.today()),
        state_names=STATE_NAMES,
        names=_people({task.owner_id, task.done_by_id}),
        owners=_owners() if quarterly.can_plan(g.staff) else [],
        rounds=rounds,
        linked=linked,
        # The round's notice names the county's findings: only plan readers download it.
        notice_links=g.staff.has_role(*PLAN_READERS),
        can_plan=quarterly.can_plan(g.staff),
        can_complete=quarterly.can_complete(g.staff, task),
        values=request.form if request.method == "POST" else {},
        error=error,
    ), status


@console_bp.get("/quarterly/tasks/<int:task_id>")
@staff_required()
def quarterly_task(task_id: int):
    """One task: its plan, its state and evidence, and the forms the user may use."""
    return _task_page(quarterly.get_task(db.session, g.staff, task_id))


def _after(task_id: int, action, done: str):
    with refused(passthrough=(403, 404)) as refusal:
        action()
    if refusal.error:
        task = quarterly.get_task(db.session, g.staff, task_id)
        return _task_page(task, refusal.error.status, refusal.error.message)
    flash(done)
    return redirect(url_for("console.quarterly_task", task_id=task_id))


def _edit_data() -> dict[str, Any]:
    owner = request.form.get("owner_id", "").strip()
    return {
        "due_date": request.form.get("due_date", "").strip(),
        "owner_id": int(owner) if owner.isdigit() else None,
        "notes": request.form.get("notes", ""),
    }


@console_bp.post("/quarterly/tasks/<int:task_id>")
@staff_required()
def quarterly_task_edit(task_id: int):
    """Save a task's due day, owner and plan (admins)."""
    return _after(task_id, lambda: quarterly.update_task(db.session, g.staff, task_id, _edit_data()), "已保存")


@console_bp.post("/quarterly/tasks/<int:task_id>/done")
@staff_required()
def quarterly_task_done(task_id: int):
    """Mark a task done with its evidence (admins, or the task's owner)."""
    round_id = request.form.get("round_id", "").strip()
    data = {
        "round_id": int(round_id) if round_id.isdigit() else None,
        "note": request.form.get("note", ""),
        "document": request.form.get("document", ""),
    }
    return _after(task_id, lambda: quarterly.complete_task(db.session, g.staff, task_id, data), "已标记完成")


@console_bp.post("/quarterly/tasks/<int:task_id>/reopen")
@staff_required()
def quarterly_task_reopen(task_id: int):
    """Undo a completion (admins)."""
    return _after(task_id, lambda: quarterly.reopen_task(db.session, g.staff, task_id), "已撤销完成标记")
