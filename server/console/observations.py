"""Console pages for 观摩 events (list, plan and edit with the route, the phone-friendly score sheet,
the ranking) and 中期互评 rounds (admins open and close them, secretaries score other organizations'
projects, the department reads results and who has not scored).

Every write goes through services.observations / services.peer_review, which own the rules, the
scope and the audit entries; these pages turn form fields into their input and back.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import flash, g, redirect, render_template, request, url_for

from server import clock
from server.console import console_bp, forms
from server.console.auth import staff_required
from server.console.handling import refused
from server.db import db
from server.errors import ApiError
from server.models import OBSERVATION_EVENT_STATUSES, OBSERVATION_KINDS, PEER_REVIEW_STATUSES
from server.services import observations, peer_review, photos
from server.services.grading import organizations, user_names

STAFF = ("admin", "leader", "reviewer")
ADMIN = ("admin",)
PEER_READERS = ("admin", "leader")
EMPTY_ROUTE_ROWS = 3  # blank route rows offered below the planned ones


def _render(template: str, status: int = 200, **context: Any):
    return render_template(
        f"console/observations/{template}",
        can_edit=g.staff.has_role(*ADMIN),
        kinds=OBSERVATION_KINDS,
        statuses=OBSERVATION_EVENT_STATUSES,
        peer_statuses=PEER_REVIEW_STATUSES,
        **context,
    ), status


# ---- the event form -----------------------------------------------------------------------------


def _outside_lines(name: str, label: str, scoring: bool) -> list[dict[str, Any]]:
    """Outside participants typed one per line as "姓名 职务" (the post is optional)."""
    out = []
    for line in forms.lines(name, label, max_items=observations.MAX_PARTICIPANTS, max_len=120):
        person, _, post = line.replace(",", " ").replace(",", " ").partition(" ")
        if len(person) > 64 or len(post.strip()) > 64:
            raise forms.invalid(f"{label}“{line}”的姓名或职务过长", name)
        out.append({"name": person, "post": post.strip(), "scoring": scoring})
    return out


def _event_form() -> dict[str, Any]:
    """The submitted event form as services.observations takes it."""
    raw_day = request.form.get("held_on", "").strip()
    try:
        held_on = date.fromisoformat(raw_day) if raw_day else None
    except ValueError:
        raise forms.invalid(f"观摩日期“{raw_day}”不是有效日期", "held_on") from None
    projects, times = request.form.getlist("stop_project"), request.form.getlist("stop_time")
    stops = [
        {"project_id": int(p), "planned_at": (times[n] if n < len(times) else "").strip()}
        for n, p in enumerate(projects)
        if p.strip().isdigit()
    ]
    return {
        "kind": request.form.get("kind", ""),
        "title": forms.text("title", "观摩活动名称", required=True, max_len=200),
        "held_on": held_on,
        "stops": stops,
        "participant_ids": forms.form_ids("participant_ids"),
        "outside": _outside_lines("outside_scoring", "参与评分的其他人员", True)
        + _outside_lines("outside_observing", "只观摩不评分的人员", False),
    }


def _event_values(event) -> dict[str, Any]:
    """A stored event as the form's values."""
    people = observations.participants_of(db.session, event.id)
    return {
        "kind": event.kind,
        "title": event.title,
        "held_on": event.held_on.isoformat(),
        "stop_project": [str(s.project_id) for s in observations.stops_of(db.session, event.id)],
        "stop_time": [s.planned_at for s in observations.stops_of(db.session, event.id)],
        "participant_ids": [str(p.user_id) for p in people if p.user_id],
        "outside_scoring": "\n".join(f"{p.name} {p.post}".strip() for p in people if not p.user_id and p.scoring),
        "outside_observing": "\n".join(f"{p.name} {p.post}".strip() for p in people if not p.user_id and not p.scoring),
    }


def _form_context(values: dict[str, Any]) -> dict[str, Any]:
    rows = len(values.get("stop_project") or []) + EMPTY_ROUTE_ROWS
    return {
        "values": values,
        "route_rows": rows,
        "projects": observations.candidate_projects(db.session),
        "staff_people": observations.candidate_staff(db.session),
    }


# ---- events -------------------------------------------------------------------------------------


@console_bp.get("/observations", endpoint="observations")
@staff_required(*STAFF)
def observation_list():
    """The 观摩 events the caller may see, newest first."""
    events = observations.list_events(db.session, g.staff)
    return _render("list.html", events=events)


@console_bp.route("/observations/new", methods=["GET", "POST"], endpoint="observation_new")
@staff_required(*ADMIN)
def observation_new():
    """Plan an event: kind, day, route with planned times, participants."""
    if request.method == "GET":
        values = {"kind": "quarterly", "held_on": clock.today().isoformat()}
        return _render("form.html", event=None, error=None, **_form_context(values))
    with refused() as refusal:
        event = observations.create_event(db.session, g.staff, _event_form())
    if refusal.error:
        values = forms.values("stop_project", "stop_time", "participant_ids")
        return _render(
            "form.html", refusal.error.status, event=None, error=refusal.error.message, **_form_context(values)
        )
    flash("观摩活动已建立")
    return redirect(url_for("console.observation_detail", event_id=event.id))


def _detail_page(event, status: int = 200, error: str | None = None, values: dict[str, Any] | None = None):
    s = db.session
    placings = observations.ranking(s, event)
    pics = observations.photos_by_stop(s, event.id)
    return _render(
        "detail.html",
        status,
        event=event,
        error=error,
        stops=observations.stops_of(s, event.id),
        titles={p.stop.id: p.project.title for p in placings},
        project_titles={p.project.id: p.project.title for p in placings},
        participants=observations.participants_of(s, event.id),
        photos={stop_id: [(p, photos.urls(p)) for p in rows] for stop_id, rows in pics.items()},
        sheets=observations.sheets_for(s, g.staff, event),
        created=observations.observations_from(s, event.id),
        **(
            _form_context(values or _event_values(event))
            if g.staff.has_role(*ADMIN) and event.status == "planned"
            else {}
        ),
    )


@console_bp.get("/observations/<int:event_id>")
@staff_required(*STAFF)
def observation_detail(event_id: int):
    """One event: route, participants, photos per stop, its state and (planned, admins) the edit form."""
    return _detail_page(observations.get_event(db.session, g.staff, event_id))


@console_bp.post("/observations/<int:event_id>")
@staff_required(*STAFF)
def observation_update(event_id: int):
    """Change a planned event (admins)."""
    with refused(passthrough=(403, 404)) as refusal:
        observations.update_event(db.session, g.staff, event_id, _event_form())
    if refusal.error:
        values = forms.values("stop_project", "stop_time", "participant_ids")
        event = observations.get_event(db.session, g.staff, event_id)
        return _detail_page(event, refusal.error.status, refusal.error.message, values)
    flash("观摩活动已保存")
    return redirect(url_for("console.observation_detail", event_id=event_id))


def _act(event_id: int, action, done: str, to: str = "console.observation_detail"):
    with refused(passthrough=(403, 404)) as refusal:
        action()
    if refusal.error:
        return _detail_page(
            observations.get_event(db.session, g.staff, event_id), refusal.error.status, refusal.error.message
        )
    flash(done)
    return redirect(url_for(to, event_id=event_id))


@console_bp.post("/observations/<int:event_id>/start")
@staff_required(*STAFF)
def observation_start(event_id: int):
    """The event is under way: participants may score."""
    return _act(event_id, lambda: observations.start_event(db.session, g.staff, event_id), "观摩已开始,可以现场评分")


@console_bp.post("/observations/<int:event_id>/close")
@staff_required(*STAFF)
def observation_close(event_id: int):
    """Close the event: scores locked, an observation per scored project."""
    return _act(
        event_id,
        lambda: observations.close_event(db.session, g.staff, event_id),
        "观摩已结束,评分已锁定,已为每个项目生成观摩记录",
        "console.observation_ranking",
    )


def _score_page(event, status: int = 200, error: str | None = None, values: dict[str, Any] | None = None):
    s = db.session
    sheets = observations.sheets_for(s, g.staff, event)
    wanted = forms.arg_int("participant") or (request.form.get("participant_id", "").strip() or None)
    sheet = next((p for p in sheets if str(p.id) == str(wanted)), sheets[0] if sheets else None)
    mine = {sc.stop_id: sc for sc in observations.scores_of(s, event.id) if sheet and sc.participant_id == sheet.id}
    if values is None:
        values = {}
        for stop_id, sc in mine.items():
            values[f"score_{stop_id}"], values[f"remark_{stop_id}"] = str(sc.score), sc.remark
    placings = observations.ranking(s, event)
    return _render(
        "score.html",
        status,
        event=event,
        error=error,
        sheets=sheets,
        sheet=sheet,
        stops=observations.stops_of(s, event.id),
        titles={p.stop.id: p.project.title for p in placings},
        values=values,
    )


@console_bp.get("/observations/<int:event_id>/score")
@staff_required(*STAFF)
def observation_score(event_id: int):
    """The on-site score sheet (phone-friendly): each stop 0–100 with a remark."""
    return _score_page(observations.get_event(db.session, g.staff, event_id))


@console_bp.post("/observations/<int:event_id>/score")
@staff_required(*STAFF)
def observation_score_save(event_id: int):
    """Save a score sheet; blank scores stay unscored."""
    values = request.form.to_dict()
    event = observations.get_event(db.session, g.staff, event_id)

    def entries() -> list[dict[str, Any]]:
        rows = []
        for stop in observations.stops_of(db.session, event.id):
            raw = values.get(f"score_{stop.id}", "").strip()
            if raw and not raw.isdigit():
                raise forms.invalid(f"评分“{raw}”应为 0–100 的整数", f"score_{stop.id}")
            rows.append(
                {
                    "stop_id": stop.id,
                    "score": int(raw) if raw else None,
                    "remark": values.get(f"remark_{stop.id}", "")[:2000],
                }
            )
        return rows

    participant = forms.form_id("participant_id")
    with refused(passthrough=(404,)) as refusal:
        observations.save_scores(db.session, g.staff, event_id, participant, entries())
    if refusal.error:
        return _score_page(event, refusal.error.status, refusal.error.message, values)
    flash("评分已保存")
    return redirect(url_for("console.observation_score", event_id=event_id, participant=participant or None))


@console_bp.get("/observations/<int:event_id>/ranking")
@staff_required(*STAFF)
def observation_ranking(event_id: int):
    """The ranking by mean score, how ties were broken, and the observations the close wrote."""
    s = db.session
    event = observations.get_event(s, g.staff, event_id)
    placings = observations.ranking(s, event)
    show_scores = event.status == "closed" or g.staff.has_role("admin", "leader")
    participants = {p.id: p.name for p in observations.participants_of(s, event.id)}
    return _render(
        "ranking.html",
        event=event,
        placings=placings,
        rating_for=observations.rating_for,
        tie_rule=observations.TIE_RULE,
        bands=observations.RATING_BANDS,
        show_scores=show_scores,
        participants=participants,
        created=observations.observations_from(s, event.id),
        titles={p.project.id: p.project.title for p in placings},
    )


# ---- 中期互评 ------------------------------------------------------------------------------------


def _peer_list_page(status: int = 200, error: str | None = None):
    return _render(
        "peer_list.html",
        status,
        rounds=peer_review.list_rounds(db.session, g.staff),
        organizations=organizations(db.session) if g.staff.has_role(*ADMIN) else [],
        error=error,
        values=forms.values("organization_ids")
        if error
        else {"year": str(clock.today().year), "criteria": "\n".join(peer_review.DEFAULT_CRITERIA)},
    )


@console_bp.get("/peer-reviews", endpoint="peer_reviews")
@staff_required("admin", "leader", "secretary")
def peer_review_list():
    """中期互评 rounds (a secretary's: those of their organizations), with the form to open one (admins)."""
    return _peer_list_page()


@console_bp.post("/peer-reviews")
@staff_required(*ADMIN)
def peer_review_create():
    """Open a round for a year with the participating organizations."""
    with refused() as refusal:
        rnd = peer_review.create_round(
            db.session,
            g.staff,
            {
                "year": forms.integer("year", "年度", 2000, 2100, required=True),
                "title": forms.text("title", "名称", max_len=200),
                "organization_ids": forms.form_ids("organization_ids"),
                "criteria": forms.lines("criteria", "评分项", max_items=8, max_len=20),
            },
        )
    if refusal.error:
        return _peer_list_page(refusal.error.status, refusal.error.message)
    flash("互评已开始,参加的党组织书记可以登录评分")
    return redirect(url_for("console.peer_review_detail", review_id=rnd.id))


@console_bp.get("/peer-reviews/<int:review_id>")
@staff_required("admin", "leader", "secretary")
def peer_review_detail(review_id: int):
    """Staff: results, ranking and who has not scored. A secretary: the projects their organization scores."""
    s = db.session
    rnd = peer_review.get_round(s, g.staff, review_id)
    if g.staff.has_role(*PEER_READERS):
        pending = peer_review.reminders(s, rnd)
        return _render(
            "peer_detail.html",
            rnd=rnd,
            members=peer_review.members_of(s, rnd),
            results=peer_review.results(s, rnd),
            pending=pending,
            tie_rule=peer_review.TIE_RULE,
            orgs={o.id: o.name for o in organizations(s)},
        )
    with refused() as refusal:
        rows = peer_review.sheet(s, g.staff, rnd, forms.arg_int("organization_id"))
    return _render(
        "peer_sheet.html",
        rnd=rnd,
        rows=rows if not refusal.error else [],
        error=refusal.error.message if refusal.error else None,
        orgs={o.id: o.name for o in organizations(s)},
        organization_id=forms.arg_int("organization_id"),
        own=peer_review.own_members(s, g.staff, rnd),
    )


@console_bp.post("/peer-reviews/<int:review_id>/close")
@staff_required(*ADMIN)
def peer_review_close(review_id: int):
    """Close the round: scores are locked."""
    peer_review.close_round(db.session, g.staff, review_id)
    flash("互评已结束,评分已锁定")
    return redirect(url_for("console.peer_review_detail", review_id=review_id))


def _peer_score_page(review_id: int, project_id: int, status: int = 200, error: str | None = None, values=None):
    s = db.session
    rnd = peer_review.get_round(s, g.staff, review_id)
    organization_id = forms.arg_int("organization_id") or forms.form_id("organization_id")
    rows = peer_review.sheet(s, g.staff, rnd, organization_id)
    row = next((r for r in rows if r["project"].id == project_id), None)
    if row is None:
        raise ApiError("not_found", "该项目不在您的互评范围内", {"id": project_id})
    if values is None:
        saved = row["score"]
        values = {f"c{n}": saved.scores.get(c, "") if saved else "" for n, c in enumerate(rnd.criteria)}
        values["comment"] = saved.comment if saved else ""
    return _render(
        "peer_score.html",
        status,
        rnd=rnd,
        project=row["project"],
        error=error,
        values={k: str(v) for k, v in values.items()},
        organization_id=organization_id,
        orgs={o.id: o.name for o in organizations(s)},
        scorer=user_names(s, {row["score"].scorer_id}) if row["score"] else {},
    )


@console_bp.get("/peer-reviews/<int:review_id>/projects/<int:project_id>")
@staff_required("secretary")
def peer_review_score(review_id: int, project_id: int):
    """A secretary's score sheet for another organization's project."""
    return _peer_score_page(review_id, project_id)


@console_bp.post("/peer-reviews/<int:review_id>/projects/<int:project_id>")
@staff_required("secretary")
def peer_review_score_save(review_id: int, project_id: int):
    """Save the organization's scores of the project (each criterion 1–10) and comment."""
    values = request.form.to_dict()
    # Scoring one's own organization's project is a 403 page, not a form error: there is no form for it.
    with refused(passthrough=(403, 404)) as refusal:
        rnd = peer_review.get_round(db.session, g.staff, review_id)
        scores = {c: forms.integer(f"c{n}", c, 1, 10, required=True) for n, c in enumerate(rnd.criteria)}
        peer_review.save_score(
            db.session,
            g.staff,
            review_id,
            project_id,
            {
                "scores": scores,
                "comment": values.get("comment", ""),
                "organization_id": forms.form_id("organization_id"),
            },
        )
    if refusal.error:
        return _peer_score_page(review_id, project_id, refusal.error.status, refusal.error.message, values)
    flash("互评评分已保存")
    return redirect(
        url_for("console.peer_review_detail", review_id=review_id, organization_id=forms.form_id("organization_id"))
    )
