"""Random inspection rounds (双随机): define, freeze, draw, close, and the round's notice and workbook.

Admins act; leaders and reviewers read. Which villages were drawn, and who goes where, is
upcoming unannounced work: before a round closes only admins and leaders (PLAN_READERS)
see the result, as with the assignments list.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from server.console import console_bp
from server.console.auth import staff_required
from server.console.exports import send_download
from server.console.handling import refused
from server.db import db
from server.errors import ApiError
from server.models import (
    DEFAULT_MIN_INTERVIEWS,
    DEFAULT_MIN_PHOTOS,
    DOMAINS,
    ROUND_STATUSES,
    InspectionRound,
    Township,
    User,
)
from server.services import places, round_report, rounds, teams, users
from server.services.assignments import PLAN_READERS

WRITE = ("admin",)


def _townships() -> list[Township]:
    return places.list_townships(db.session).items


def _number(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    return int(raw) if raw.isdigit() else None


def _form_data() -> dict[str, Any]:
    """The round form as the service's input (the service checks every value)."""
    year = _number("year")
    return {
        "name": request.form.get("name", ""),
        "groups": _number("groups"),
        "sites_per_group": _number("sites_per_group"),
        "team_size": _number("team_size"),
        "items_per_visit": _number("items_per_visit"),
        "min_photos": _number("min_photos"),
        "min_interviews": _number("min_interviews"),
        "check_items": request.form.get("check_items", "").splitlines(),
        "inspector_ids": [int(i) for i in request.form.getlist("inspector_ids") if i.isdigit()],
        "team_ids": [int(i) for i in request.form.getlist("team_ids") if i.isdigit()],
        "due_date": request.form.get("due_date", "").strip() or None,
        "filters": {
            "township_ids": [int(i) for i in request.form.getlist("township_ids") if i.isdigit()],
            "year": year,
            "domain": request.form.get("domain") or None,
        },
    }


def _form_values(r: InspectionRound | None = None) -> dict[str, Any]:
    """What the form shows: the posted fields after an error, else the round's settings."""
    if request.method == "POST":
        return {
            **request.form.to_dict(),
            "inspector_ids": request.form.getlist("inspector_ids"),
            "team_ids": request.form.getlist("team_ids"),
            "township_ids": request.form.getlist("township_ids"),
        }
    if r is None:
        return {
            "team_size": "2",
            "groups": "2",
            "sites_per_group": "3",
            "items_per_visit": "3",
            "min_photos": str(DEFAULT_MIN_PHOTOS),
            "min_interviews": str(DEFAULT_MIN_INTERVIEWS),
            "inspector_ids": [],
            "team_ids": [],
            "township_ids": [],
        }
    f = r.filters or {}
    return {
        "name": r.name,
        "groups": r.groups,
        "sites_per_group": r.sites_per_group,
        "team_size": r.team_size,
        "items_per_visit": r.items_per_visit,
        "min_photos": r.min_photos,
        "min_interviews": r.min_interviews,
        "check_items": "\n".join(r.check_items),
        "inspector_ids": [str(i) for i in r.inspector_ids],
        "team_ids": [str(i) for i in r.team_ids or []],
        "township_ids": [str(i) for i in f.get("township_ids", [])],
        "year": f.get("year") or "",
        "domain": f.get("domain") or "",
        "due_date": r.due_date.isoformat() if r.due_date else "",
    }


def _error_text(exc: ApiError) -> str:
    ids = exc.details.get("inspector_ids")
    if isinstance(ids, list) and ids:
        names = db.session.scalars(select(User.name).where(User.id.in_(ids))).all()
        return f"{exc.message}:{'、'.join(names)}"
    return exc.message


def _form_context() -> dict[str, Any]:
    return {
        "inspectors": users.list_active(db.session, "inspector"),
        "teams": teams.list_teams(db.session, active_only=True),
        "townships": _townships(),
        "domains": DOMAINS,
        "township_by_id": {t.id: t for t in _townships()},
    }


def _list_page(status: int = 200, error: str | None = None):
    return render_template(
        "console/rounds/list.html",
        rounds=rounds.list_rounds(db.session),
        statuses=ROUND_STATUSES,
        can_edit=g.staff.has_role(*WRITE),
        values=_form_values(),
        error=error,
        **_form_context(),
    ), status


@console_bp.get("/rounds", endpoint="rounds")
@staff_required()
def rounds_list():
    """The rounds, newest first; admins define a new one here."""
    return _list_page()


@console_bp.post("/rounds")
@staff_required(*WRITE)
def round_create():
    """Define a round in draft."""
    with refused() as refusal:
        r = rounds.create_round(db.session, g.staff, _form_data())
    if refusal.error:
        return _list_page(refusal.error.status, _error_text(refusal.error))
    flash(f"已创建抽查轮次:{r.name}(草稿,冻结前可修改)")
    return redirect(url_for("console.round_detail", round_id=r.id))


def _detail_page(r: InspectionRound, status: int = 200, error: str | None = None):
    sees_result = r.status == "closed" or g.staff.has_role(*PLAN_READERS)
    drawn = rounds.assignments_of(db.session, r) if sees_result and r.status in ("drawn", "closed") else []
    by_key = {c["key"]: c for c in (r.inputs or {}).get("candidates", [])}
    people = {i for grp in (r.result or {}).get("groups", []) for i in grp["inspector_ids"]} | set(r.inspector_ids)
    names = {u.id: u.name for u in db.session.scalars(select(User).where(User.id.in_(people or {-1})))}
    sent = (r.inputs or {}).get("teams") or []
    return render_template(
        "console/rounds/detail.html",
        round=r,
        statuses=ROUND_STATUSES,
        can_edit=g.staff.has_role(*WRITE),
        sees_result=sees_result,
        drawn={rounds.site_key(a): a for a in drawn},
        by_key=by_key,
        allocation=rounds.allocation_named(r),
        names=names,
        sent_teams=sent if r.inputs else teams.team_inputs(db.session, r.team_ids or []),
        team_by_key=rounds.drawn_teams(db.session, r) if r.result else {},
        error=error,
        candidate_count=rounds.candidate_count(db.session, r) if r.status == "draft" else None,
        summary=rounds.public_summary(r),
        values=_form_values(r),
        **_form_context(),
    ), status


@console_bp.route("/rounds/<int:round_id>", methods=["GET", "POST"])
@staff_required()
def round_detail(round_id: int):
    """A round: settings, the published hash, the result (for plan readers), the next step; drafts are edited here."""
    r = rounds.get_round(db.session, round_id)
    if request.method == "POST":
        if not g.staff.has_role(*WRITE):
            abort(403)
        with refused() as refusal:
            rounds.update_round(db.session, g.staff, round_id, _form_data())
        if refusal.error:
            return _detail_page(
                rounds.get_round(db.session, round_id), refusal.error.status, _error_text(refusal.error)
            )
        flash("已保存轮次设置")
        return redirect(url_for("console.round_detail", round_id=round_id))
    return _detail_page(r)


def _step(round_id: int, action, done: str):
    with refused() as refusal:
        action()
    if refusal.error:
        return _detail_page(rounds.get_round(db.session, round_id), refusal.error.status, _error_text(refusal.error))
    flash(done)
    return redirect(url_for("console.round_detail", round_id=round_id))


@console_bp.post("/rounds/<int:round_id>/freeze")
@staff_required(*WRITE)
def round_freeze(round_id: int):
    """Fix the candidates, pool, items and the public value's source and day, and publish their hash."""
    source = {
        "description": request.form.get("public_value_source", ""),
        "date": request.form.get("public_value_date", "").strip(),
    }
    return _step(round_id, lambda: rounds.freeze(db.session, g.staff, round_id, source), "已冻结,输入哈希已公布")


@console_bp.post("/rounds/<int:round_id>/draw")
@staff_required(*WRITE)
def round_draw(round_id: int):
    """Enter the public value and draw: the drawn assignments go to their teams."""
    value = request.form.get("public_value", "")
    return _step(
        round_id, lambda: rounds.run_draw(db.session, g.staff, round_id, value), "已完成抽取,督查任务已派给各督查组"
    )


@console_bp.post("/rounds/<int:round_id>/close")
@staff_required(*WRITE)
def round_close(round_id: int):
    """End the round and publish its full record."""
    return _step(round_id, lambda: rounds.close(db.session, g.staff, round_id), "轮次已结束,完整抽取记录已公开")


# The notice and workbook cover the whole county's findings (teams, flags, orders): a township
# reviewer sees those of their own townships elsewhere, never the county's.
@console_bp.get("/rounds/<int:round_id>/notice.docx")
@staff_required(*PLAN_READERS)
def round_notice(round_id: int):
    """The round's notice (通报) as DOCX, once it is closed."""
    # The annex prints where anyone fetches the record: the public address when one is configured.
    base = current_app.config["PUBLIC_BASE_URL"] or request.host_url.rstrip("/")
    record_url = base + url_for("api.public_round_record", round_id=round_id)
    r = rounds.get_round(db.session, round_id)
    return send_download(round_report.notice_docx(db.session, g.staff, r, record_url=record_url))


@console_bp.get("/rounds/<int:round_id>/round.xlsx")
@staff_required(*PLAN_READERS)
def round_xlsx(round_id: int):
    """The round's drawn sites, findings and orders as XLSX, once it is closed."""
    return send_download(round_report.round_workbook(db.session, g.staff, rounds.get_round(db.session, round_id)))
