"""Console pages for a project's life: the 申报审核 queue, one project's lifecycle page (application,
二审三定 moves, observations, acceptance, monthly reports), the monthly report overview, a reporting
unit's projects, and the secretary's own projects and application form.

Every read is scoped by `lifecycle.visible_projects` (out of scope is a 404) and every write goes
through the same service the JSON API calls; the moves offered are exactly `allowed_actions`.
"""

from __future__ import annotations

import re
import uuid
from datetime import date
from typing import Any

from flask import abort, flash, g, redirect, render_template, request, url_for
from sqlalchemy import select

from server import clock
from server.console import console_bp, forms
from server.console.auth import staff_required
from server.console.handling import refused
from server.db import db
from server.errors import ApiError
from server.models import (
    ACCEPTANCE_RATINGS,
    CATEGORIES,
    DOMAINS,
    OBSERVATION_RATINGS,
    PROJECT_LEVELS,
    PROJECT_STATUSES,
    REPORT_STATUSES,
    SELECTIONS,
    ClientWrite,
    Organization,
    Project,
    Township,
    User,
)
from server.services import lifecycle, photos, places, projects, reports, users, workspace
from server.services.common import paginate

PER_PAGE = 50
# Who reads a project's lifecycle page (each within `visible_projects`).
READERS = ("admin", "leader", "reviewer", "unit_reviewer", "secretary")
# Who may make a move at all (which move, on which project, is `allowed_actions`).
MOVERS = ("admin", "unit_reviewer", "secretary")
QUEUE_READERS = ("admin", "leader", "unit_reviewer")
OBSERVERS = ("admin", "reviewer")
SECRETARY = ("secretary",)
# Moves that say something about the applicant's work get a confirmation before they are sent.
CONFIRM = {"return", "reject", "close", "withdraw"}
_UUID = re.compile(r"[0-9a-fA-F-]{36}")


def _render(template: str, status: int = 200, **context: Any):
    return render_template(
        f"console/lifecycle/{template}",
        statuses=PROJECT_STATUSES,
        levels=PROJECT_LEVELS,
        action_labels=lifecycle.ACTION_LABELS,
        page_url=forms.page_url,
        **context,
    ), status


def _form_date(name: str, label: str) -> date:
    raw = request.form.get(name, "").strip()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise forms.invalid(f"{label}应写成 2026-05-31", name) from None


def _choice(name: str, label: str, options) -> str:
    value = request.form.get(name, "")
    if value not in options:
        raise forms.invalid(f"请选择{label}", name)
    return value


def _names(ids) -> dict[int, str]:
    ids = {i for i in ids if i}
    return users.names_by_id(db.session, list(ids)) if ids else {}


def _organizations_for(user: User) -> list[Organization]:
    """The organizations a filter offers: the user's own for reporting units, every one for the department."""
    if user.has_role("admin", "leader"):
        return projects.list_organizations(db.session).items
    return sorted(user.organizations, key=lambda o: o.name)


def _filtered(stmt, filters: dict[str, Any]):
    if filters["year"]:
        stmt = stmt.where(Project.year == filters["year"])
    if filters["organization_id"]:
        stmt = stmt.where(Project.organization_id == filters["organization_id"])
    return stmt


# ---- the review queue and a reporting unit's projects ---------------------------------------------


def _waiting(user: User) -> tuple[str, ...]:
    """The statuses of applications waiting in this user's queue (what `lifecycle.review_queue` holds)."""
    return ("submitted", "unit_reviewed") if user.has_role("admin", "leader") else ("submitted",)


@console_bp.get("/applications", endpoint="applications")
@staff_required(*QUEUE_READERS)
def applications():
    """申报审核: applications waiting for the caller by default; any status, year or organization on request."""
    status = request.args.get("status", "")
    filters = {
        "status": status if status in PROJECT_STATUSES else "",
        "year": forms.arg_int("year"),
        "organization_id": forms.arg_int("organization_id"),
    }
    stmt = lifecycle.visible_projects(g.staff)
    if filters["status"]:
        stmt = stmt.where(Project.status == filters["status"]).order_by(Project.year.desc(), Project.id.desc())
    else:
        stmt = stmt.where(Project.status.in_(_waiting(g.staff))).order_by(Project.submitted_at, Project.id)
    return _project_page(
        "applications.html",
        stmt,
        filters,
        waiting_label="待审核(" + "、".join(PROJECT_STATUSES[s] for s in _waiting(g.staff)) + ")",
        actions=lambda items: {p.id: lifecycle.allowed_actions(g.staff, p) for p in items},
    )


@console_bp.get("/unit-projects", endpoint="unit_projects")
@staff_required("unit_reviewer")
def unit_projects():
    """A reporting unit's projects: everything of its organizations past the draft, by status and year."""
    status = request.args.get("status", "")
    filters = {
        "status": status if status in PROJECT_STATUSES else "",
        "year": forms.arg_int("year"),
        "organization_id": forms.arg_int("organization_id"),
    }
    stmt = lifecycle.visible_projects(g.staff).order_by(Project.year.desc(), Project.id.desc())
    if filters["status"]:
        stmt = stmt.where(Project.status == filters["status"])
    return _project_page("unit_projects.html", stmt, filters)


def _project_page(template: str, stmt, filters: dict, *, actions=None, **context):
    """One page of a filtered project list, with its organizations and applicants (and actions per project)."""
    items, total = paginate(db.session, _filtered(stmt, filters), forms.page(), PER_PAGE)
    if actions is not None:
        context["actions"] = actions(items)
    return _render(
        template,
        projects=items,
        total=total,
        page=forms.page(),
        per_page=PER_PAGE,
        filters=filters,
        organizations=_organizations_for(g.staff),
        applicants=_names(p.applicant_id for p in items),
        **context,
    )


# ---- one project's lifecycle ---------------------------------------------------------------------


def _report_rows(project: Project) -> dict[str, Any]:
    """The project's monthly reports with photo URLs, and where it stands this month."""
    rows = reports.reports_of(db.session, project.id)
    pics = reports.photos_of(db.session, [r.id for r in rows])
    return {
        "reports": [(r, [(p, photos.urls(p)) for p in pics[r.id]]) for r in rows],
        "state": reports.report_state(db.session, project),
    }


def _lifecycle_page(
    project: Project,
    status: int = 200,
    *,
    error: str | None = None,
    form: dict[str, Any] | None = None,
    failed: str | None = None,
):
    user = g.staff
    history = lifecycle.reviews_of(db.session, project.id)
    observations = lifecycle.observations_of(db.session, project.id)
    acceptances = lifecycle.acceptances_of(db.session, project.id)
    people = _names(
        [r.actor_id for r in history]
        + [o.author_id for o in observations]
        + [a.author_id for a in acceptances]
        + [project.applicant_id, project.secretary_id]
    )
    townships = {t.id: t.name for t in db.session.scalars(select(Township))}
    return _render(
        "project.html",
        status,
        project=project,
        error=error,
        failed=failed,
        form=form or {},
        actions=lifecycle.allowed_actions(user, project),
        history=history,
        observations=observations,
        acceptances=acceptances,
        people=people,
        townships=townships,
        missing=lifecycle.missing_for_submit(project) if project.status == "draft" else [],
        responsible_roles=lifecycle.RESPONSIBLE_ROLES,
        confirm=CONFIRM,
        client_id=str(uuid.uuid4()),
        may_observe=user.has_role(*OBSERVERS) and project.status in ("approved", "in_progress", "accepted"),
        may_accept=user.has_role("admin") and project.status == "in_progress",
        may_edit=project.status == "draft" and project.applicant_id == user.id and user.has_role("secretary"),
        observation_ratings=OBSERVATION_RATINGS,
        acceptance_ratings=ACCEPTANCE_RATINGS,
        report_statuses=REPORT_STATUSES,
        today=clock.today(),
        **_report_rows(project),
    )


@console_bp.get("/projects/<int:project_id>/lifecycle", endpoint="project_lifecycle")
@staff_required(*READERS)
def project_lifecycle(project_id: int):
    """One project: its application, review history, the moves the caller may make, observations,
    acceptance and monthly reports."""
    return _lifecycle_page(lifecycle.project_for(db.session, g.staff, project_id))


def _after_error(project_id: int, exc: ApiError, failed: str):
    """The lifecycle page again with the service's (Chinese) message and its status."""
    project = lifecycle.project_for(db.session, g.staff, project_id)
    return _lifecycle_page(project, exc.status, error=exc.message, form=request.form.to_dict(), failed=failed)


@console_bp.post("/projects/<int:project_id>/lifecycle/move", endpoint="project_move")
@staff_required(*MOVERS)
def project_move(project_id: int):
    """Make one move of the status machine (submit, unit_approve, return, approve, ...) with an opinion."""
    action = request.form.get("action", "")
    # A 404 stays a 404; any other refusal shows the lifecycle page again with its message.
    with refused(passthrough=(404,)) as refusal:
        body: dict[str, Any] = {"opinion": forms.text("opinion", "意见", max_len=5000)}
        client_id = request.form.get("client_id", "")
        if _UUID.fullmatch(client_id):
            # One id per rendered page: a double click on the button answers as a retry, not a 409.
            body["client_id"] = client_id
        if action == "approve":
            raw = request.form.get("score", "").strip()
            if raw:
                if not raw.isdigit() or not 0 <= int(raw) <= 100:
                    raise forms.invalid("预评分应为 0 到 100 的整数", "score")
                body["score"] = int(raw)
        project, _ = lifecycle.transition(db.session, g.staff, project_id, action, body)
    if refusal.error:
        return _after_error(project_id, refusal.error, f"move:{action}")
    flash(
        f"已{lifecycle.ACTION_LABELS.get(action, action)}:{project.title}(当前状态:{PROJECT_STATUSES[project.status]})"
    )
    return redirect(url_for("console.project_lifecycle", project_id=project_id))


@console_bp.post("/projects/<int:project_id>/observations", endpoint="project_observe")
@staff_required(*OBSERVERS)
def project_observe(project_id: int):
    """Record a quarterly observation (观摩)."""
    with refused(passthrough=(404,)) as refusal:
        lifecycle.add_observation(
            db.session,
            g.staff,
            project_id,
            {
                "observed_on": _form_date("observed_on", "观摩日期"),
                "rating": _choice("rating", "观摩评价", OBSERVATION_RATINGS),
                "observers": forms.text("observers", "观摩人员", max_len=500),
                "notes": forms.text("notes", "观摩情况", max_len=5000),
            },
        )
    if refusal.error:
        return _after_error(project_id, refusal.error, "observation")
    flash("已记录观摩")
    return redirect(url_for("console.project_lifecycle", project_id=project_id) + "#observations")


@console_bp.post("/projects/<int:project_id>/acceptance", endpoint="project_accept")
@staff_required("admin")
def project_accept(project_id: int):
    """Record the acceptance (验收); a pass moves the project to accepted."""
    with refused(passthrough=(404,)) as refusal:
        record = lifecycle.record_acceptance(
            db.session,
            g.staff,
            project_id,
            {
                "accepted_on": _form_date("accepted_on", "验收日期"),
                "rating": _choice("rating", "验收等次", ACCEPTANCE_RATINGS),
                "members": forms.text("members", "验收组成员", max_len=500),
                "opinion": forms.text("opinion", "验收意见", max_len=5000),
                "outcomes": forms.text("outcomes", "项目成效", max_len=5000),
            },
        )
    if refusal.error:
        return _after_error(project_id, refusal.error, "acceptance")
    flash("验收通过,项目已验收" if record.passed else "验收未通过,项目继续实施")
    return redirect(url_for("console.project_lifecycle", project_id=project_id) + "#acceptance")


# ---- monthly reports at a glance -----------------------------------------------------------------


@console_bp.get("/reports", endpoint="report_overview")
@staff_required()
def report_overview():
    """Running projects in scope with this month's report and the months overdue; overdue ones only on request."""
    overdue_only = request.args.get("overdue") in ("1", "on", "true")
    running = (
        db.session.scalars(
            lifecycle.visible_projects(g.staff)
            .where(Project.status == "in_progress")
            .order_by(Project.year.desc(), Project.id)
        )
        .unique()
        .all()
    )
    today = clock.today()
    rows = [(p, reports.report_state(db.session, p, today)) for p in running]
    overdue_total = sum(1 for _, s in rows if s.overdue_months)
    if overdue_only:
        rows = [(p, s) for p, s in rows if s.overdue_months]
    return _render(
        "report_overview.html",
        rows=rows,
        overdue_only=overdue_only,
        overdue_total=overdue_total,
        running_total=len(running),
        secretaries=_names(p.secretary_id for p in running),
        report_statuses=REPORT_STATUSES,
    )


# ---- the secretary's own projects and application form -------------------------------------------


@console_bp.get("/my-projects", endpoint="my_projects")
@staff_required(*SECRETARY)
def my_projects():
    """The secretary's projects and applications with this month's report and open rectification orders."""
    mine = workspace.my_projects(db.session, g.staff)
    return _render(
        "my_projects.html",
        projects=mine,
        summaries=workspace.summaries(db.session, g.staff, mine),
        report_statuses=REPORT_STATUSES,
    )


def _application_data() -> dict[str, Any]:
    """The 申报表 as the services take it; a draft may leave the content and the place empty."""
    year = request.form.get("year", "").strip()
    if not year.isdigit() or not 2000 <= int(year) <= 2100:
        raise forms.invalid("请填写年度(2000 到 2100)", "year")
    org = request.form.get("organization_id", "").strip()
    steps = forms.parse_steps(request.form.get("steps", ""))
    if len(steps) > 50:
        raise forms.invalid("实施步骤最多 50 条", "steps")
    data: dict[str, Any] = {
        "title": forms.text("title", "项目名称", max_len=200, required=True),
        "year": int(year),
        "organization_id": int(org) if org.isdigit() else None,
        "domain": _choice("domain", "项目领域", DOMAINS),
        "selection": _choice("selection", "必选或自选", SELECTIONS),
        "category": _choice("category", "项目类别", CATEGORIES),
        "problem": forms.text("problem", "要解决的问题", max_len=5000),
        "targets": forms.lines("targets", "项目目标", max_items=50, max_len=500),
        "steps": steps,
        "responsible": {
            role: forms.text(f"responsible_{i}", role, max_len=200)
            for i, role in enumerate(lifecycle.RESPONSIBLE_ROLES)
        },
    }
    if request.form.get("place_kind") == "site":
        site_id = request.form.get("site_id", "").strip()
        if not site_id.isdigit():
            raise forms.invalid("请选择单位地点", "site_id")
        data["site"] = {"id": int(site_id)}
    else:
        village_ids = list(dict.fromkeys(int(v) for v in request.form.getlist("village_ids") if v.isdigit()))
        if village_ids:
            data["village_ids"] = village_ids
    return data


def _application_values(project: Project) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": project.title,
        "year": str(project.year),
        "organization_id": str(project.organization_id or ""),
        "domain": project.domain,
        "selection": project.selection,
        "category": project.category,
        "problem": project.problem or "",
        "targets": "\n".join(str(t) for t in project.targets or []),
        "steps": forms.steps_text(project.steps),
        "place_kind": "site" if project.site_id else "village",
        "village_ids": [str(v.id) for v in project.villages],
        "site_id": str(project.site_id or ""),
    }
    for i, role in enumerate(lifecycle.RESPONSIBLE_ROLES):
        values[f"responsible_{i}"] = str((project.responsible or {}).get(role, ""))
    return values


def _form_values() -> dict[str, Any]:
    values: dict[str, Any] = request.form.to_dict()
    values["village_ids"] = request.form.getlist("village_ids")
    return values


def _application_form(
    status: int = 200,
    *,
    project: Project | None,
    values: dict[str, Any],
    client_id: str = "",
    error: str | None = None,
    missing: list | None = None,
):
    orgs = sorted(g.staff.organizations, key=lambda o: o.name)
    return _render(
        "application_form.html",
        status,
        project=project,
        values=values,
        client_id=client_id,
        error=error,
        missing=missing if missing is not None else (lifecycle.missing_for_submit(project) if project else []),
        organizations=orgs,
        domains=DOMAINS,
        selections=SELECTIONS,
        categories=CATEGORIES,
        responsible_roles=lifecycle.RESPONSIBLE_ROLES,
        townships=places.list_townships(db.session).items,
        villages=places.list_villages(db.session).items,
        sites=places.list_sites(db.session, order="name").items,
    )


def _save_new(client_id: str, data: dict[str, Any]) -> Project:
    """Create the draft once per rendered form; the same form sent again with changes edits that draft."""
    try:
        return lifecycle.create_application(db.session, g.staff, {"client_id": client_id, **data})[0]
    except ApiError as exc:
        if exc.code != "client_id_conflict" or exc.details.get("kind") != "project.apply":
            raise
        db.session.rollback()
        prior = db.session.get(ClientWrite, client_id)
        return lifecycle.update_application(db.session, g.staff, prior.object_id, data)


def _submit_or_show(project: Project):
    """After saving: submit when asked, then go to the lifecycle page; an incomplete form comes back."""
    if request.form.get("intent") != "submit":
        flash(f"草稿已保存:{project.title}")
        return redirect(url_for("console.application_edit", project_id=project.id))
    if project.status == "draft":
        with refused() as refusal:
            lifecycle.transition(db.session, g.staff, project.id, "submit", {})
        if refusal.error:
            project = lifecycle.project_for(db.session, g.staff, project.id)
            return _application_form(
                refusal.error.status,
                project=project,
                values=_form_values(),
                error=f"草稿已保存,但还不能提交。{refusal.error.message}",
            )
    flash(f"已提交申报:{project.title},等待归口单位审核")
    return redirect(url_for("console.project_lifecycle", project_id=project.id))


@console_bp.route("/my-projects/new", methods=["GET", "POST"], endpoint="application_new")
@staff_required(*SECRETARY)
def application_new():
    """A new application (申报表): save it as a draft, or save and submit it."""
    if request.method == "GET":
        orgs = g.staff.organizations
        values = {
            "year": str(clock.today().year),
            "domain": orgs[0].domain if len(orgs) == 1 else "农村",
            "selection": "自选",
            "category": "常规性",
            "place_kind": "village",
            "organization_id": str(orgs[0].id) if len(orgs) == 1 else "",
        }
        return _application_form(project=None, values=values, client_id=str(uuid.uuid4()))
    client_id = request.form.get("client_id", "")
    with refused() as refusal:
        if not _UUID.fullmatch(client_id):
            raise ApiError("validation_failed", "表单已过期,请刷新页面后重新填写", {"field": "client_id"})
        project = _save_new(client_id, _application_data())
    if refusal.error:
        return _application_form(
            refusal.error.status,
            project=None,
            values=_form_values(),
            client_id=client_id,
            error=refusal.error.message,
            missing=[],
        )
    return _submit_or_show(project)


@console_bp.route("/my-projects/<int:project_id>", methods=["GET", "POST"], endpoint="application_edit")
@staff_required(*SECRETARY)
def application_edit(project_id: int):
    """Edit one's own draft application; save it, or save and submit it."""
    project = lifecycle.project_for(db.session, g.staff, project_id)
    if project.applicant_id != g.staff.id:
        abort(403)
    if project.status != "draft":
        flash(f"申报表{PROJECT_STATUSES[project.status]},不能再修改")
        return redirect(url_for("console.project_lifecycle", project_id=project_id))
    if request.method == "GET":
        return _application_form(project=project, values=_application_values(project))
    with refused() as refusal:
        project = lifecycle.update_application(db.session, g.staff, project_id, _application_data())
    if refusal.error:
        return _application_form(
            refusal.error.status,
            project=lifecycle.project_for(db.session, g.staff, project_id),
            values=_form_values(),
            error=refusal.error.message,
        )
    return _submit_or_show(project)
