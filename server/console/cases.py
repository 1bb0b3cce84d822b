"""The 案例集 page: pick running or accepted projects under filters and download them as a Word document."""

from __future__ import annotations

from flask import g, render_template, request

from server import clock
from server.console import console_bp
from server.console.auth import staff_required
from server.console.exports import send_download
from server.console.handling import refused
from server.db import db
from server.models import ACCEPTANCE_RATINGS, DOMAINS, PROJECT_STATUSES
from server.services import cases as case_service
from server.services.exports.workbook import Download

# Leaders pick the county's showcase projects with the department's admins.
ROLES = ("admin", "leader")


def _render(
    filters: dict,
    *,
    selected: set[int] | None = None,
    title: str = case_service.DEFAULT_TITLE,
    error: str | None = None,
    status: int = 200,
):
    projects = case_service.selectable_projects(db.session, g.staff, filters)
    return render_template(
        "console/cases/index.html",
        projects=projects,
        filters=filters,
        selected=selected or set(),
        title=title,
        error=error,
        ratings=case_service.ratings_of(db.session, [p.id for p in projects]),
        years=case_service.years_of(db.session, g.staff),
        domains=DOMAINS,
        rating_choices=ACCEPTANCE_RATINGS,
        statuses={s: PROJECT_STATUSES[s] for s in case_service.SELECTABLE_STATUSES},
        place_text=case_service.place_text,
        max_projects=case_service.MAX_PROJECTS,
    ), status


@console_bp.get("/cases")
@staff_required(*ROLES)
def cases():
    """Running and accepted projects in scope with year, domain, rating and status filters, to pick from."""
    return _render(case_service.parse_filters(request.args))


@console_bp.post("/cases")
@staff_required(*ROLES)
def cases_export():
    """The chosen projects as 案例集-<date>.docx; a refused choice shows the page again with the reason."""
    # Ids longer than an INT column holds cannot name a project: they are left out, not sent to the database.
    ids = [int(v) for v in request.form.getlist("project_id") if v.isdigit() and len(v) <= 9]
    title = request.form.get("title", "")
    with refused() as refusal:
        body = case_service.case_collection(db.session, g.staff, ids, title=title)
    if refusal.error:
        return _render(
            case_service.parse_filters(request.args),
            selected=set(ids),
            title=title,
            error=refusal.error.message,
            status=refusal.error.status,
        )
    day = clock.today().isoformat()
    return send_download(Download(f"案例集-{day}.docx", f"cases-{day}.docx", case_service.DOCX, [body]))
