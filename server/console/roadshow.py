"""Console pages for 路演评审: the host's page, the experts' phone page and the hall's results screen.

Admins host; leaders watch the host page and the results; an expert sees only the roadshows
they sit on, scores there on a page laid out for a 375 px phone, and sees the results screen of
those roadshows. Any other roadshow is a 404, so its existence is not told. The results screen
refreshes itself from results.json through static/console.js (the CSP forbids inline scripts).
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, jsonify, redirect, render_template, request, url_for

from server import clock
from server.console import console_bp
from server.console.auth import staff_required
from server.console.handling import refused
from server.db import db
from server.errors import ApiError
from server.models import GRADING_STATUSES, ROADSHOW_STATUSES, SPEAKER_STATUSES
from server.services import grading
from server.services.grading import roadshow

READERS = ("admin", "leader")
VIEWERS = ("admin", "leader", "expert")
HOST = ("admin",)


def _render(template: str, status: int = 200, **context: Any):
    return render_template(
        f"console/roadshow/{template}",
        can_host=g.staff.has_role(*HOST),
        statuses=ROADSHOW_STATUSES,
        speaker_statuses=SPEAKER_STATUSES,
        score=grading.format_score,
        **context,
    ), status


def _form_int(name: str) -> int | None:
    raw = request.form.get(name, "").strip()
    return int(raw) if raw.lstrip("-").isdigit() else None


# ---- the list ---------------------------------------------------------------------------------


def _list_page(status: int = 200, error: str | None = None):
    open_sessions = [s for s in grading.list_sessions(db.session) if s.status == "scoring"]
    return _render(
        "list.html",
        status,
        roadshows=roadshow.list_roadshows(db.session, g.staff),
        sessions={s.id: s for s in grading.list_sessions(db.session)},
        open_sessions=open_sessions,
        grading_statuses=GRADING_STATUSES,
        error=error,
        values=request.form.to_dict() if error else {"held_on": clock.today().isoformat()},
    )


@console_bp.get("/roadshows", endpoint="roadshows")
@staff_required(*VIEWERS)
def roadshow_list():
    """The roadshows the user may see, with the form to arrange a new one (admins)."""
    return _list_page()


@console_bp.post("/roadshows")
@staff_required(*HOST)
def roadshow_create():
    """Arrange a roadshow of a grading session that is open for scoring."""
    with refused() as refusal:
        rs = roadshow.create_roadshow(db.session, g.staff, request.form.to_dict())
    if refusal.error:
        return _list_page(refusal.error.status, refusal.error.message)
    flash("已建立路演评审,请添加路演项目和评审专家")
    return redirect(url_for("console.roadshow_host", roadshow_id=rs.id))


# ---- the host's page --------------------------------------------------------------------------


def _host_page(roadshow_id: int, status: int = 200, error: str | None = None):
    rs = roadshow.get_roadshow(db.session, g.staff, roadshow_id)
    gs = grading.get_session(db.session, rs.session_id)
    rows = roadshow.results(db.session, rs)
    panel = roadshow.panel_of(db.session, rs)
    taken = {r.entry.id for r in rows}
    on_panel = {u.id for u in panel}
    return _render(
        "host.html",
        status,
        rs=rs,
        gs=gs,
        rows=rows,
        panel=panel,
        current=roadshow.current_speaker(db.session, rs),
        entries=[e for e in grading.entries_of(db.session, gs) if e.id not in taken],
        experts=[u for u in grading.experts(db.session) if u.id not in on_panel],
        required=grading.required_experts(gs.drop_extremes),
        error=error,
    )


@console_bp.get("/roadshows/<int:roadshow_id>")
@staff_required(*VIEWERS)
def roadshow_host(roadshow_id: int):
    """The host's page: order of speakers, panel, who is up, progress; an expert goes to their scoring page."""
    if not g.staff.has_role(*READERS):
        roadshow.get_roadshow(db.session, g.staff, roadshow_id)
        return redirect(url_for("console.roadshow_score", roadshow_id=roadshow_id))
    return _host_page(roadshow_id)


def _act(roadshow_id: int, action, done: str):
    """Run a host action and come back to the host page, or show it again with the error."""
    with refused(passthrough=(404,)) as refusal:
        action()
    if refusal.error:
        return _host_page(roadshow_id, refusal.error.status, refusal.error.message)
    flash(done)
    return redirect(url_for("console.roadshow_host", roadshow_id=roadshow_id))


def _required(name: str, message: str) -> int:
    value = _form_int(name)
    if value is None:
        raise ApiError("validation_failed", message, {"field": name})
    return value


@console_bp.post("/roadshows/<int:roadshow_id>/speakers")
@staff_required(*HOST)
def roadshow_speaker_add(roadshow_id: int):
    """Put a project last in the order of speakers."""
    return _act(
        roadshow_id,
        lambda: roadshow.add_speaker(db.session, g.staff, roadshow_id, _required("entry_id", "请选择路演项目")),
        "已添加路演项目",
    )


@console_bp.post("/roadshows/<int:roadshow_id>/speakers/<int:speaker_id>/delete")
@staff_required(*HOST)
def roadshow_speaker_remove(roadshow_id: int, speaker_id: int):
    """Take a project off the order."""
    return _act(
        roadshow_id, lambda: roadshow.remove_speaker(db.session, g.staff, roadshow_id, speaker_id), "已移出路演项目"
    )


@console_bp.post("/roadshows/<int:roadshow_id>/speakers/<int:speaker_id>/move")
@staff_required(*HOST)
def roadshow_speaker_move(roadshow_id: int, speaker_id: int):
    """Move a project one place up or down the order."""
    return _act(
        roadshow_id,
        lambda: roadshow.move_speaker(db.session, g.staff, roadshow_id, speaker_id, _form_int("step") or 0),
        "出场顺序已调整",
    )


@console_bp.post("/roadshows/<int:roadshow_id>/draw")
@staff_required(*HOST)
def roadshow_draw(roadshow_id: int):
    """Draw the order of speakers at random."""
    return _act(roadshow_id, lambda: roadshow.draw_order(db.session, g.staff, roadshow_id), "已抽签确定出场顺序")


@console_bp.post("/roadshows/<int:roadshow_id>/experts")
@staff_required(*HOST)
def roadshow_expert_add(roadshow_id: int):
    """Seat an expert on the panel."""
    return _act(
        roadshow_id,
        lambda: roadshow.add_expert(db.session, g.staff, roadshow_id, _required("expert_id", "请选择评审专家")),
        "已添加评审专家",
    )


@console_bp.post("/roadshows/<int:roadshow_id>/experts/<int:expert_id>/delete")
@staff_required(*HOST)
def roadshow_expert_remove(roadshow_id: int, expert_id: int):
    """Take an expert off the panel."""
    return _act(
        roadshow_id, lambda: roadshow.remove_expert(db.session, g.staff, roadshow_id, expert_id), "已移出评审专家"
    )


@console_bp.post("/roadshows/<int:roadshow_id>/start")
@staff_required(*HOST)
def roadshow_start(roadshow_id: int):
    """Start: the first speaker goes up."""
    return _act(roadshow_id, lambda: roadshow.start(db.session, g.staff, roadshow_id), "路演开始,第一个项目开始评分")


@console_bp.post("/roadshows/<int:roadshow_id>/advance")
@staff_required(*HOST)
def roadshow_advance(roadshow_id: int):
    """Put the next speaker up."""
    return _act(roadshow_id, lambda: roadshow.advance(db.session, g.staff, roadshow_id), "下一个项目开始路演")


@console_bp.post("/roadshows/<int:roadshow_id>/speakers/<int:speaker_id>/close")
@staff_required(*HOST)
def roadshow_speaker_close(roadshow_id: int, speaker_id: int):
    """Close a speaker's scoring and show its result."""
    return _act(
        roadshow_id,
        lambda: roadshow.close_speaker(db.session, g.staff, roadshow_id, speaker_id),
        "已结束该项目评分并公布得分",
    )


@console_bp.post("/roadshows/<int:roadshow_id>/end")
@staff_required(*HOST)
def roadshow_end(roadshow_id: int):
    """End the roadshow."""
    return _act(roadshow_id, lambda: roadshow.end(db.session, g.staff, roadshow_id), "路演评审已结束")


@console_bp.post("/roadshows/<int:roadshow_id>/copy")
@staff_required(*HOST)
def roadshow_copy(roadshow_id: int):
    """Copy the finalized scores into the year's grading panels."""
    report: list[roadshow.CopyReport] = []
    response = _act(
        roadshow_id,
        lambda: report.append(roadshow.copy_to_grading(db.session, g.staff, roadshow_id)),
        "已导入年度评分",
    )
    if report:
        r = report[0]
        flash(
            f"{r.projects} 个项目:新增评审安排 {r.seats_created} 个,更新评分 {r.seats_changed} 份"
            + (f";未导入(无得分):{'、'.join(r.skipped)}" if r.skipped else "")
        )
    return response


# ---- the expert's phone page ------------------------------------------------------------------


def _score_page(roadshow_id: int, status: int = 200, error: str | None = None, failed: dict[str, Any] | None = None):
    rs = roadshow.get_roadshow(db.session, g.staff, roadshow_id)
    gs = grading.get_session(db.session, rs.session_id)
    current = roadshow.current_speaker(db.session, rs)
    speakers = roadshow.speakers_of(db.session, rs)
    entries = roadshow.entries_by_id(db.session, speakers)
    # The current speaker first, then earlier ones still open whose sheet this expert has not finalized.
    cards = []
    for s in sorted(speakers, key=lambda s: (s.id != (current.id if current else None), s.position)):
        if s.status != "up":
            continue
        sheet = roadshow.own_sheet(db.session, g.staff, s)
        if s is not current and sheet is not None and sheet.finalized_at is not None:
            continue
        values = {k: f"{v / 10:g}" for k, v in (sheet.scores if sheet else {}).items()}
        values["comment"] = sheet.comment if sheet else ""
        if failed and failed.get("speaker_id") == s.id:
            values = failed
        cards.append({"speaker": s, "entry": entries[s.entry_id], "sheet": sheet, "form": values})
    return _render(
        "score.html",
        status,
        rs=rs,
        gs=gs,
        current=current,
        cards=cards,
        total=lambda sheet: grading.expert_total_milli(sheet.scores, gs.criteria),
        error=error,
    )


@console_bp.get("/roadshows/<int:roadshow_id>/score")
@staff_required("expert")
def roadshow_score(roadshow_id: int):
    """The expert's scoring page: the speaker who is up, a big field per criterion, save and finalize."""
    return _score_page(roadshow_id)


@console_bp.post("/roadshows/<int:roadshow_id>/score/<int:speaker_id>")
@staff_required("expert")
def roadshow_score_save(roadshow_id: int, speaker_id: int):
    """Save the expert's sheet, or finalize it (locked after)."""
    values = request.form.to_dict()
    final = values.get("action") == "finalize"
    write = roadshow.finalize_sheet if final else roadshow.save_sheet
    with refused(passthrough=(404,)) as refusal:
        write(db.session, g.staff, roadshow_id, speaker_id, values, values.get("comment", ""))
    if refusal.error:
        return _score_page(
            roadshow_id, refusal.error.status, refusal.error.message, {**values, "speaker_id": speaker_id}
        )
    flash("评分已提交并锁定" if final else "评分已暂存,可继续修改")
    return redirect(url_for("console.roadshow_score", roadshow_id=roadshow_id))


# ---- the hall's results screen ----------------------------------------------------------------


@console_bp.get("/roadshows/<int:roadshow_id>/results")
@staff_required(*VIEWERS)
def roadshow_results(roadshow_id: int):
    """The results screen for the hall: each speaker's score once out, and the ranking so far."""
    rs = roadshow.get_roadshow(db.session, g.staff, roadshow_id)
    gs = grading.get_session(db.session, rs.session_id)
    return _render("results.html", rs=rs, gs=gs, data=roadshow.results_payload(db.session, rs))


@console_bp.get("/roadshows/<int:roadshow_id>/results.json")
@staff_required(*VIEWERS)
def roadshow_results_json(roadshow_id: int):
    """The results screen's data, polled by console.js."""
    rs = roadshow.get_roadshow(db.session, g.staff, roadshow_id)
    response = jsonify(roadshow.results_payload(db.session, rs))
    response.headers["Cache-Control"] = "no-store"
    return response
