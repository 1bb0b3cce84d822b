"""Console pages for annual grading: sessions, panels, progress, results, 软弱涣散 warnings, 通报,
the annual assessment XLSX, and the experts' own scoring pages.

Admins run everything, leaders read it, reviewers have no part in it. Experts see only the
projects they are seated on and only their own scores until the session is finalized; any
other seat is a 404, so its existence is not told.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for

from server import clock
from server.console import console_bp
from server.console.auth import staff_required
from server.console.exports import send_download
from server.console.handling import refused
from server.db import db
from server.errors import ApiError
from server.models import GRADES, GRADING_STATUSES, QUOTA_MODES, WARNING_STATUSES
from server.services import grading

READERS = ("admin", "leader")
WRITERS = ("admin",)
_CRITERION_LINE = re.compile(r"^(.*?)[\s|,，:：]+(\d+)\s*$")


def _render(template: str, status: int = 200, **context: Any):
    return render_template(
        f"console/grading/{template}",
        can_edit=g.staff.has_role(*WRITERS),
        statuses=GRADING_STATUSES,
        grades=GRADES,
        quota_modes=QUOTA_MODES,
        score=grading.format_score,
        **context,
    ), status


def _form_id(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    return int(raw) if raw.isdigit() else None


def _form_date(name: str, label: str) -> date | None:
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError("validation_failed", f"{label}“{raw}”不是有效日期", {"field": name}) from None


def parse_criteria_text(text: str) -> list[dict[str, Any]]:
    """Criteria typed one per line as "名称 权重" (or separated by |, comma or colon)."""
    rows = []
    for n, line in enumerate((x.strip() for x in text.splitlines()), start=1):
        if not line:
            continue
        match = _CRITERION_LINE.match(line)
        if not match:
            raise ApiError("validation_failed", f"第 {n} 行“{line}”应写作“指标名称 权重”", {"field": "criteria"})
        rows.append({"name": match.group(1).strip(), "weight": int(match.group(2))})
    return rows


def criteria_text(criteria: list[dict[str, Any]]) -> str:
    """Criteria back as the lines the form takes."""
    return "\n".join(f"{c['name']} {c['weight']}" for c in criteria)


def _config_form() -> dict[str, Any]:
    return {
        "title": request.form.get("title", ""),
        "criteria": parse_criteria_text(request.form.get("criteria", "")),
        "drop_extremes": request.form.get("drop_extremes") == "1",
        "quota_mode": request.form.get("quota_mode", ""),
        "quotas": {grade: request.form.get(f"quota_{grade}", "") for grade in GRADES},
        "deduction_points": request.form.get("deduction_points", "").strip(),
    }


# ---- sessions ---------------------------------------------------------------------------------


def _sessions_page(status: int = 200, error: str | None = None):
    return _render(
        "sessions.html",
        status,
        sessions=grading.list_sessions(db.session),
        error=error,
        values=request.form.to_dict() if error else {"year": str(clock.today().year)},
        default_criteria=criteria_text(grading.DEFAULT_CRITERIA),
        default_quotas=grading.DEFAULT_QUOTAS,
    )


@console_bp.get("/grading", endpoint="grading")
@staff_required(*READERS)
def grading_sessions():
    """The years' grading sessions, with the form to start a new one."""
    return _sessions_page()


@console_bp.post("/grading")
@staff_required(*WRITERS)
def grading_create():
    """Start a year's grading with the default criteria and quotas, to be adjusted before opening."""
    with refused() as refusal:
        gs = grading.create_session(
            db.session,
            g.staff,
            {"year": request.form.get("year", "").strip(), "title": request.form.get("title") or None},
        )
    if refusal.error:
        return _sessions_page(refusal.error.status, refusal.error.message)
    flash(f"已建立 {gs.year} 年度评分,请确认评分规则后开始评分")
    return redirect(url_for("console.grading_session", session_id=gs.id))


def _session_page(
    gs,
    status: int = 200,
    error: str | None = None,
    values: dict[str, Any] | None = None,
    outcome_values: dict[str, Any] | None = None,
):
    rows = grading.progress(db.session, gs) if gs.status != "draft" else []
    names = grading.user_names(db.session, {s.expert_id for r in rows for s in r.seats})
    orgs = {o.id: o.name for o in grading.organizations(db.session)}
    if values is None:
        values = {
            "title": gs.title,
            "criteria": criteria_text(gs.criteria),
            "drop_extremes": gs.drop_extremes,
            "quota_mode": gs.quota_mode,
            "deduction_points": gs.deduction_points,
            **{f"quota_{k}": v for k, v in gs.quotas.items()},
        }
    return _render(
        "session.html",
        status,
        gs=gs,
        rows=rows,
        names=names,
        orgs=orgs,
        error=error,
        values=values,
        experts=grading.experts(db.session) if gs.status == "scoring" else [],
        required=grading.required_experts(gs.drop_extremes),
        deductions=grading.deductions_of(db.session, gs.year) if gs.status == "finalized" else {},
        outcomes=grading.outcomes(db.session, gs),
        outcome_values=outcome_values if outcome_values is not None else _outcome_values(gs),
    )


def _outcome_values(gs) -> dict[str, Any]:
    """The outcome tables as the form shows them."""
    points, amounts = gs.grade_points or {}, gs.grade_amounts or {}
    return {
        **{f"points_{g}": points.get(g, "") for g in GRADES},
        **{f"amount_{g}": amounts.get(g, "") for g in GRADES},
    }


@console_bp.get("/grading/<int:session_id>")
@staff_required(*READERS)
def grading_session(session_id: int):
    """One session: its rules, each project's panel and progress, and the results once finalized."""
    return _session_page(grading.get_session(db.session, session_id))


def _act(session_id: int, action, done: str, values: dict[str, Any] | None = None):
    """Run a service action and come back to the session page, or show it again with the error."""
    with refused(passthrough=(404,)) as refusal:
        action()
    if refusal.error:
        return _session_page(
            grading.get_session(db.session, session_id), refusal.error.status, refusal.error.message, values
        )
    flash(done)
    return redirect(url_for("console.grading_session", session_id=session_id))


@console_bp.post("/grading/<int:session_id>/settings")
@staff_required(*WRITERS)
def grading_update(session_id: int):
    """Change the rules of a session still in draft."""
    values = request.form.to_dict()
    values["drop_extremes"] = values.get("drop_extremes") == "1"
    return _act(
        session_id,
        lambda: grading.update_session(db.session, g.staff, session_id, _config_form()),
        "评分规则已保存",
        values,
    )


@console_bp.post("/grading/<int:session_id>/open")
@staff_required(*WRITERS)
def grading_open(session_id: int):
    """Take in the year's projects and let experts score."""
    return _act(session_id, lambda: grading.open_session(db.session, g.staff, session_id), "已开始评分")


@console_bp.post("/grading/<int:session_id>/seats")
@staff_required(*WRITERS)
def grading_assign(session_id: int):
    """Seat an expert on a project's panel."""
    entry_id, expert_id = _form_id("entry_id"), _form_id("expert_id")

    def assign():
        if entry_id is None or expert_id is None:
            raise ApiError("validation_failed", "请选择项目和评审专家", {"field": "expert_id"})
        grading.assign_expert(db.session, g.staff, session_id, entry_id, expert_id)

    return _act(session_id, assign, "已安排评审专家")


@console_bp.post("/grading/<int:session_id>/seats/<int:seat_id>/delete")
@staff_required(*WRITERS)
def grading_unassign(session_id: int, seat_id: int):
    """Take an expert off a panel (their scores of that project are removed)."""
    return _act(
        session_id, lambda: grading.unassign_expert(db.session, g.staff, session_id, seat_id), "已撤销该专家的评审安排"
    )


@console_bp.post("/grading/<int:session_id>/finalize")
@staff_required(*WRITERS)
def grading_finalize(session_id: int):
    """Compute results and freeze the session."""
    return _act(session_id, lambda: grading.finalize(db.session, g.staff, session_id), "已定等,评分结果已锁定")


@console_bp.get("/grading/<int:session_id>/assessment.xlsx")
@staff_required(*READERS)
def grading_assessment(session_id: int):
    """The annual assessment table of a finalized session as XLSX."""
    gs = grading.get_session(db.session, session_id)
    return send_download(grading.assessment_workbook(db.session, g.staff, gs))


@console_bp.post("/grading/<int:session_id>/outcomes")
@staff_required(*WRITERS)
def grading_outcomes_save(session_id: int):
    """Set the points (年度考核加分) and money (奖补资金) per grade of a session."""
    form = request.form.to_dict()
    data = {
        "points": {g: form.get(f"points_{g}", "") for g in GRADES},
        "amounts": {g: form.get(f"amount_{g}", "") for g in GRADES},
    }
    with refused(passthrough=(404,)) as refusal:
        grading.set_outcome_tables(db.session, g.staff, session_id, data)
    if refusal.error:
        gs = grading.get_session(db.session, session_id)
        return _session_page(gs, refusal.error.status, refusal.error.message, outcome_values=form)
    flash("考核加分与奖补资金标准已保存")
    return redirect(url_for("console.grading_session", session_id=session_id) + "#outcomes")


@console_bp.get("/grading/<int:session_id>/outcomes.xlsx")
@staff_required(*READERS)
def grading_outcomes_xlsx(session_id: int):
    """年度考核加分 and 奖补资金 of a finalized session as XLSX."""
    gs = grading.get_session(db.session, session_id)
    with refused() as refusal:
        download = grading.outcomes_workbook(db.session, g.staff, gs)
    if refusal.error:
        return _session_page(gs, refusal.error.status, refusal.error.message)
    return send_download(download)


# ---- 软弱涣散 warnings ------------------------------------------------------------------------


def _warnings_page(status: int = 200, error: str | None = None):
    return _render(
        "warnings.html",
        status,
        warnings=grading.list_warnings(db.session),
        organizations=grading.organizations(db.session),
        orgs={o.id: o.name for o in grading.organizations(db.session)},
        candidates=grading.warning_candidates(db.session),
        overdue=grading.is_warning_overdue,
        warning_statuses=WARNING_STATUSES,
        error=error,
        values=request.form.to_dict() if error else {"organization_id": request.args.get("organization_id", "")},
        months=grading.WARNING_MONTHS,
    )


@console_bp.get("/grading/warnings")
@staff_required(*READERS)
def grading_warnings():
    """The 软弱涣散 warning list: open ones by deadline, overdue ones marked, and candidates to list."""
    return _warnings_page()


@console_bp.post("/grading/warnings")
@staff_required(*WRITERS)
def grading_warning_create():
    """List an organization with three months to rectify."""
    with refused() as refusal:
        grading.create_warning(
            db.session,
            g.staff,
            {
                "organization_id": _form_id("organization_id"),
                "reason": request.form.get("reason", ""),
                "listed_on": _form_date("listed_on", "列入日期"),
            },
        )
    if refusal.error:
        return _warnings_page(refusal.error.status, refusal.error.message)
    flash("已列入软弱涣散预警名单")
    return redirect(url_for("console.grading_warnings"))


@console_bp.post("/grading/warnings/<int:warning_id>/lift")
@staff_required(*WRITERS)
def grading_warning_lift(warning_id: int):
    """Lift a warning once the organization has been put right."""
    with refused(passthrough=(404,)) as refusal:
        grading.lift_warning(db.session, g.staff, warning_id, request.form.get("note", ""))
    if refusal.error:
        return _warnings_page(refusal.error.status, refusal.error.message)
    flash("预警已销号")
    return redirect(url_for("console.grading_warnings"))


# ---- 通报 -------------------------------------------------------------------------------------


def _notices_page(status: int = 200, error: str | None = None):
    notices = grading.list_notices(db.session)
    names = grading.user_names(db.session, {n.secretary_id for n in notices if n.secretary_id})
    secretaries = grading.secretaries(db.session)
    return _render(
        "notices.html",
        status,
        notices=notices,
        names=names,
        secretaries=secretaries,
        organizations=grading.organizations(db.session),
        orgs={o.id: o.name for o in grading.organizations(db.session)},
        yuan=grading.NOTICE_DEDUCTION_YUAN,
        error=error,
        values=request.form.to_dict() if error else {},
    )


@console_bp.get("/grading/notices")
@staff_required(*READERS)
def grading_notices():
    """通报: each one with the performance pay it deducted."""
    return _notices_page()


@console_bp.post("/grading/notices")
@staff_required(*WRITERS)
def grading_notice_create():
    """Issue a 通报 against an organization and its secretary."""
    with refused() as refusal:
        grading.create_notice(
            db.session,
            g.staff,
            {
                "organization_id": _form_id("organization_id"),
                "secretary_id": _form_id("secretary_id"),
                "reason": request.form.get("reason", ""),
                "issued_on": _form_date("issued_on", "通报日期"),
            },
        )
    if refusal.error:
        return _notices_page(refusal.error.status, refusal.error.message)
    flash(f"已通报,扣除绩效 {grading.NOTICE_DEDUCTION_YUAN} 元")
    return redirect(url_for("console.grading_notices"))


# ---- the experts' pages -----------------------------------------------------------------------


@console_bp.get("/scoring", endpoint="expert_scoring")
@staff_required("expert")
def expert_scoring():
    """The projects this expert is seated on, with how far their own scoring has got."""
    rows = grading.seats_for_expert(db.session, g.staff)
    return _render("expert_list.html", rows=rows, complete=grading.is_complete)


def _sheet_page(seat_id: int, status: int = 200, error: str | None = None, values: dict[str, Any] | None = None):
    seat, entry, gs = grading.seat_for_expert(db.session, g.staff, seat_id)
    own = {k: f"{v / 10:g}" for k, v in grading.seat_scores(seat).items()}
    finalized = gs.status == "finalized"
    return _render(
        "expert_sheet.html",
        status,
        seat=seat,
        entry=entry,
        gs=gs,
        error=error,
        values=values if values is not None else {**own, "comment": seat.comment},
        own_total=grading.expert_total_milli(grading.seat_scores(seat), gs.criteria)
        if grading.is_complete(seat, gs.criteria)
        else None,
        # Other experts' totals only once the result is final, and without their names.
        panel=grading.panel_totals(db.session, gs, entry) if finalized else [],
        dossier=grading.dossier_for_expert(db.session, g.staff, seat_id),
    )


@console_bp.get("/scoring/<int:seat_id>")
@staff_required("expert")
def expert_scoring_sheet(seat_id: int):
    """One assigned project: its dossier beside the criteria with their weights, the expert's scores and comment."""
    return _sheet_page(seat_id)


@console_bp.post("/scoring/<int:seat_id>")
@staff_required("expert")
def expert_scoring_save(seat_id: int):
    """Save the expert's scores; blank criteria stay unscored until filled in."""
    values = request.form.to_dict()
    with refused(passthrough=(404,)) as refusal:
        grading.save_scores(db.session, g.staff, seat_id, values, values.get("comment", ""))
    if refusal.error:
        return _sheet_page(seat_id, refusal.error.status, refusal.error.message, values)
    flash("评分已保存")
    return redirect(url_for("console.expert_scoring_sheet", seat_id=seat_id))
