"""Visit records for review: the filtered list, the evidence page, its print view and decisions."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for
from markupsafe import Markup

from server import clock
from server.console import console_bp, maps, svgmap
from server.console.auth import can_write, staff_required
from server.console.handling import refused
from server.db import db
from server.models import SATISFACTION, Photo, Visit
from server.services import evidence, flag_words, photos, review
from server.storage import StorageError

PER_PAGE_CHOICES = (20, 50, 100)
SORT_LABELS = {
    "-started_at": "暗访时间(新→旧)",
    "started_at": "暗访时间(旧→新)",
    "-submitted_at": "提交时间(新→旧)",
    "submitted_at": "提交时间(旧→新)",
    "-id": "编号(新→旧)",
}
STATUS_LABELS = {"in_progress": "进行中", "submitted": "已提交"}
DECISION_LABELS = {"accepted": "认可", "questioned": "存疑"}
CHECK_LABELS = {"pass": "符合", "fail": "不符合", "na": "不适用"}
AUDIT_LABELS = {
    "visit.start": "开始暗访",
    "visit.checkin": "定位签到",
    "photo.ticket": "申请上传照片",
    "photo.complete": "照片校验完成",
    "photo.duplicate_found": "跨县比对发现重复照片",
    "photo.reject": "照片被拒收",
    "photo.recheck": "复核原图",
    "visit.interview": "入户走访",
    "visit.checklist": "填写督查事项",
    "visit.note": "追加备注",
    "visit.submit": "提交暗访记录",
    "review.decision": "审核结论",
}
MISSING_LABELS = {"photo": "照片", "interview": "入户走访", "checkin": "签到", "checklist": "督查事项", "note": "备注"}
OBJECT_LABELS = {
    "visit": "暗访",
    "checkin": "签到",
    "photo": "照片",
    "interview": "走访",
    "checklist": "督查事项",
    "visit_note": "备注",
}


def visit_flag_context(visit: Visit) -> dict:
    """The numbers behind a visit's own flags: the late-sync delay and what the evidence lacks."""
    return {
        "delay": clock.duration(visit.late_sync_s) or "0 秒" if visit.late_sync_s is not None else None,
        "short": evidence.describe(visit.evidence_short) or None,
    }


# What the last re-hash of a sealed original found (Photo.check_result).
ORIGINAL_CHECK_LABELS = {
    "intact": "完好,与封存时的指纹一致",
    "altered": "与封存时的指纹不一致",
    "missing": "原图已丢失",
}


def _helpers() -> dict:
    """Formatting helpers and label tables shared by the three templates."""
    return {
        "time_gap": clock.time_gap,
        "duration": clock.duration,
        "visit_flag_context": visit_flag_context,
        "describe_short": evidence.describe,
        "missing_labels": MISSING_LABELS,
        "explain": flag_words.explain,
        "edit_evidence": flag_words.edit_evidence,
        "status_labels": STATUS_LABELS,
        "decision_labels": DECISION_LABELS,
        "check_labels": CHECK_LABELS,
        "original_check_labels": ORIGINAL_CHECK_LABELS,
        "audit_labels": AUDIT_LABELS,
        "object_labels": OBJECT_LABELS,
        "can_write": can_write(),
    }


def _int_arg(name: str, default: int) -> int:
    value = (request.args.get(name) or "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else default


@console_bp.get("/visits")
@staff_required()
def visits():
    """The visit list: filters, sort, counts per flag and pages."""
    filters = review.parse_filters(request.args)
    sort = request.args.get("sort") if request.args.get("sort") in review.SORTS else review.DEFAULT_SORT
    per_page = _int_arg("per_page", 50)
    per_page = per_page if per_page in PER_PAGE_CHOICES else 50
    result = review.page_of_visits(db.session, g.staff, filters, sort, _int_arg("page", 1), per_page)
    counts = review.flag_counts(db.session, g.staff, filters)
    # The filters as query-string values, so that pages, sorting and flag links keep them.
    args = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in filters.items()}
    if sort != review.DEFAULT_SORT:
        args["sort"] = sort
    if per_page != 50:
        args["per_page"] = per_page
    return render_template(
        "console/visits/list.html",
        result=result,
        counts=counts,
        filters=filters,
        args=args,
        sort=sort,
        per_page=per_page,
        choices=review.filter_choices(db.session, g.staff),
        sort_labels=SORT_LABELS,
        per_page_choices=PER_PAGE_CHOICES,
        flag_labels=flag_words.LABELS,
        **_helpers(),
    )


def _visit_or_404(visit_id: int) -> Visit:
    """The visit when in the staff member's scope; otherwise 404, never revealing that it exists."""
    visit = review.visit_in_scope(db.session, g.staff, visit_id)
    if visit is None:
        abort(404, description="找不到该暗访记录")
    return visit


def _map(ev: review.Evidence) -> Markup:
    """The offline map of the evidence: geofence or boundary, numbered check-ins, photo and EXIF positions."""
    by_kind: dict[str, list[svgmap.Marker]] = {"checkin": [], "photo": [], "exif": []}
    for pt in maps.points(ev):
        by_kind[pt.kind].append(svgmap.Marker(pt.lat, pt.lng, pt.label, pt.title, ok=pt.ok))
    svg = svgmap.render(
        center=(ev.place.lat, ev.place.lng),
        radius_m=ev.place.radius_m,
        boundary=ev.place.boundary,
        checkins=by_kind["checkin"],
        photos=by_kind["photo"],
        exif=by_kind["exif"],
        place_name=ev.place.name,
    )
    # svgmap escapes every text it writes, so the string is safe to insert as it is.
    return Markup(svg)


@console_bp.get("/visits/<int:visit_id>")
@staff_required()
def visit_detail(visit_id: int):
    """The evidence page of one visit."""
    ev = review.evidence(db.session, _visit_or_404(visit_id), g.staff)
    return render_template(
        "console/visits/detail.html",
        ev=ev,
        svg=_map(ev),
        tiles=maps.tile_settings(),
        map_data=maps.payload(ev),
        satisfaction=SATISFACTION,
        **_helpers(),
    )


@console_bp.get("/visits/<int:visit_id>/print")
@staff_required()
def visit_print(visit_id: int):
    """The whole record on A4 paper for the file, with thumbnails."""
    ev = review.evidence(db.session, _visit_or_404(visit_id), g.staff)
    return render_template("console/visits/print.html", ev=ev, svg=_map(ev), printed_at=clock.now(), **_helpers())


@console_bp.post("/visits/<int:visit_id>/decisions")
@staff_required("admin", "reviewer")
def visit_decision(visit_id: int):
    """Accept or question a photo or the whole visit; questioning needs a reason."""
    visit = _visit_or_404(visit_id)
    target = request.form.get("target_id", "")
    anchor = f"photo-{target}" if request.form.get("target_kind") == "photo" and target.isdigit() else "decision"
    with refused() as refusal:
        row = review.record_decision(db.session, g.staff, visit, request.form)
    if refusal.error:
        flash(f"未保存:{refusal.error.message}")
    else:
        what = "整次暗访" if row.target_kind == "visit" else f"第 {row.target_id} 号照片"
        flash(f"已将{what}标记为“{DECISION_LABELS[row.decision]}”")
    return redirect(url_for("console.visit_detail", visit_id=visit.id, _anchor=anchor), code=303)


@console_bp.post("/visits/<int:visit_id>/photos/<int:photo_id>/check")
@staff_required("admin", "reviewer")
def photo_recheck(visit_id: int, photo_id: int):
    """Re-hash a photo's sealed original now and record what was found."""
    visit = _visit_or_404(visit_id)
    photo = db.session.get(Photo, photo_id)
    if photo is None or photo.visit_id != visit.id or photo.owner_kind != "visit" or photo.status != "ready":
        abort(404)
    try:
        result = photos.recheck(db.session, photo, g.staff)
        db.session.commit()
    except StorageError:
        db.session.rollback()
        flash("照片存储暂时不可用,未能核验,请稍后再试")
    else:
        flash(f"第 {photo.id} 号照片的原图:{ORIGINAL_CHECK_LABELS[result]}")
    return redirect(url_for("console.visit_detail", visit_id=visit.id, _anchor=f"photo-{photo.id}"), code=303)
