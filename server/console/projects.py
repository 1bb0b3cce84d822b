"""Projects: the list by year, domain, level and title, and (admins) the form that adds and edits one —
place, secretary in charge, the four responsible people, steps, targets — and publishes progress
updates on its public record."""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for

from server import clock
from server.console import console_bp, forms
from server.console.auth import staff_required
from server.console.handling import refused
from server.console.pages import PER_PAGE, WRITE, message, render
from server.db import db
from server.models import DOMAINS, PROJECT_LEVELS, PROJECT_STATUSES, Project
from server.services import cadres, places, projects, public, users


def _targets_text(targets: list[Any]) -> str:
    return "\n".join(
        str(t.get("name") or t.get("text") or "") if isinstance(t, dict) else str(t) for t in targets or []
    )


def _project_data() -> dict[str, Any]:
    domain = request.form.get("domain", "农村")
    if domain not in DOMAINS:
        raise forms.invalid("请选择项目领域", "domain")
    level = request.form.get("level", "")
    if level and level not in PROJECT_LEVELS:
        raise forms.invalid("请选择项目层级", "level")
    data: dict[str, Any] = {
        "title": forms.text("title", "项目名称", required=True, max_len=200),
        "year": forms.integer("year", "年度", 2000, 2100, required=True),
        "domain": domain,
        "level": level or None,
        "organization_id": forms.form_id("organization_id"),
        "steps": forms.parse_steps(request.form.get("steps", "")),
        "targets": forms.lines("targets", "项目目标", max_items=100),
        "responsible": {
            role: value
            for i, role in enumerate(public.RESPONSIBLE_ROLES)
            if role != cadres.LIAISON and (value := forms.text(f"responsible_{i}", role, max_len=200))
        },
        # 联系组工干部 is an account; a project still named by free text keeps it until one is picked.
        "liaison_cadre_id": forms.form_id("liaison_cadre_id"),
        # An unticked box is not sent at all: the form always states the policy, so absent means off.
        "allow_album": request.form.get("allow_album") == "1",
        "secretary_id": forms.form_id("secretary_id"),
    }
    if request.form.get("place_kind") == "site":
        site_id = forms.form_id("site_id")
        if site_id is None:
            raise forms.invalid("请选择单位地点", "site_id")
        data["site"] = {"id": site_id}
    else:
        data["village_ids"] = forms.form_ids("village_ids")
    return data


def _project_form(
    status: int = 200,
    *,
    project: Project | None = None,
    values: dict[str, Any],
    error: str | None = None,
    update_text: str = "",
):
    updates = public.list_updates(db.session, project.id, limit=20) if project is not None else []
    return render(
        "project_form.html",
        status,
        project=project,
        values=values,
        error=error,
        townships=places.list_townships(db.session).items,
        villages=places.list_villages(db.session).items,
        sites=places.list_sites(db.session, order="name").items,
        organizations=projects.list_organizations(db.session).items,
        secretaries=users.list_active(db.session, "secretary"),
        domains=DOMAINS,
        levels=PROJECT_LEVELS,
        statuses=PROJECT_STATUSES,
        responsible_roles=public.RESPONSIBLE_ROLES,
        liaison_role=cadres.LIAISON,
        liaison_candidates=cadres.candidates(db.session),
        updates=updates,
        update_text=update_text,
    )


def _project_values(project: Project) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": project.title,
        "year": str(project.year),
        "domain": project.domain,
        "level": project.level or "",
        "status": project.status,
        "organization_id": str(project.organization_id or ""),
        "secretary_id": str(project.secretary_id or ""),
        "place_kind": "site" if project.site_id else "village",
        "village_ids": [str(v.id) for v in project.villages],
        "site_id": str(project.site_id or ""),
        "steps": forms.steps_text(project.steps),
        "targets": _targets_text(project.targets),
        "allow_album": "1" if project.allow_album else "",
        "liaison_cadre_id": str(project.liaison_cadre_id or ""),
    }
    for i, role in enumerate(public.RESPONSIBLE_ROLES):
        value = (project.responsible or {}).get(role)
        values[f"responsible_{i}"] = (value.get("name") or "") if isinstance(value, dict) else str(value or "")
    return values


@console_bp.get("/projects", endpoint="projects")
@staff_required()
def projects_list():
    """Projects by year, domain, level and title, with their place and secretary in charge."""
    year, domain, q = forms.arg_int("year"), request.args.get("domain", ""), request.args.get("q", "").strip()
    level = request.args.get("level", "")
    items, total = projects.list_projects(
        db.session,
        year=year,
        domain=domain if domain in DOMAINS else None,
        level=level if level in PROJECT_LEVELS else None,
        q=q,
        order="newest",
        page=forms.page(),
        per_page=PER_PAGE,
    )
    secretaries = users.users_by_id(db.session, {p.secretary_id for p in items if p.secretary_id})
    townships = {t.id: t for t in places.list_townships(db.session).items}
    return render(
        "projects.html",
        projects=items,
        total=total,
        page=forms.page(),
        per_page=PER_PAGE,
        secretaries=secretaries,
        township_by_id=townships,
        domains=DOMAINS,
        levels=PROJECT_LEVELS,
        statuses=PROJECT_STATUSES,
        filters={"year": year, "domain": domain, "level": level, "q": q},
    )


@console_bp.route("/projects/new", methods=["GET", "POST"])
@staff_required(*WRITE)
def project_new():
    """Add a project: place, secretary in charge, the four responsible people, steps and targets."""
    if request.method == "GET":
        return _project_form(values={"year": str(clock.today().year), "domain": "农村", "place_kind": "village"})
    with refused() as refusal:
        project = projects.create_project(db.session, g.staff, _project_data())
    if refusal.error:
        return _project_form(refusal.error.status, values=forms.values("village_ids"), error=message(refusal.error))
    flash(f"已添加项目:{project.title}")
    return redirect(url_for("console.project_edit", project_id=project.id))


@console_bp.route("/projects/<int:project_id>", methods=["GET", "POST"])
@staff_required(*WRITE)
def project_edit(project_id: int):
    """Edit a project; its place cannot change once a visit was made for it."""
    project = projects.get_project(db.session, project_id)
    if request.method == "GET":
        return _project_form(project=project, values=_project_values(project))
    with refused() as refusal:
        projects.update_project(db.session, g.staff, project_id, _project_data())
    if refusal.error:
        return _project_form(
            refusal.error.status, project=project, values=forms.values("village_ids"), error=message(refusal.error)
        )
    flash(f"已保存项目:{project.title}")
    return redirect(url_for("console.project_edit", project_id=project.id))


@console_bp.post("/projects/<int:project_id>/updates")
@staff_required(*WRITE)
def project_publish(project_id: int):
    """Publish a progress update on the project's public record."""
    project = projects.get_project(db.session, project_id)
    with refused() as refusal:
        public.add_update(db.session, g.staff, project_id, forms.text("text", "进展内容", max_len=2000))
    if refusal.error:
        return _project_form(
            refusal.error.status,
            project=project,
            values=_project_values(project),
            error=message(refusal.error),
            update_text=request.form.get("text", ""),
        )
    flash("进展已发布到项目公示页")
    return redirect(url_for("console.project_edit", project_id=project_id))
