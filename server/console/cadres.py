"""联系组工干部 pages: 我的联系项目 (a cadre's projects, what the 1+1 蹲点 routine asks now, and a quick
contact form usable on a phone) and, for admins and leaders, each cadre's workload with the
projects whose liaison is still free text for the admin to link to an account."""

from __future__ import annotations

from flask import abort, flash, g, redirect, render_template, request, url_for

from server import clock
from server.console import console_bp, forms
from server.console.auth import staff_required
from server.console.handling import refused
from server.db import db
from server.models import CONTACT_KINDS
from server.services import cadres, users


def _liaison_page(status: int = 200, *, error: str | None = None, values: dict | None = None):
    mine = cadres.my_projects(db.session, g.staff)
    return (
        render_template(
            "console/cadres/liaison.html",
            projects=mine,
            routine=cadres.routine(db.session, mine),
            contacts=cadres.recent_contacts(db.session, [p.id for p in mine], limit=30),
            notices=cadres.notices(db.session, g.staff),
            kinds=CONTACT_KINDS,
            today=clock.today().isoformat(),
            titles={p.id: p.title for p in mine},
            error=error,
            values=values or {},
        ),
        status,
    )


@console_bp.get("/liaison", endpoint="liaison")
@staff_required(*cadres.LIAISON_ROLES)
def liaison():
    """我的联系项目: the caller's projects as liaison cadre, what is due, recent contacts and reminders."""
    return _liaison_page()


@console_bp.post("/liaison/contacts", endpoint="liaison_contact_new")
@staff_required(*cadres.LIAISON_ROLES)
def liaison_contact_new():
    """Log a contact (电话/调研/汇报) for one of the caller's projects."""
    if not (g.staff.has_role("admin") or cadres.is_liaison(db.session, g.staff)):
        abort(403)
    data = {
        "kind": request.form.get("kind", ""),
        "contact_on": request.form.get("contact_on", "").strip(),
        "summary": request.form.get("summary", ""),
    }
    with refused(passthrough=(404,)) as refusal:
        contact = cadres.log_contact(db.session, g.staff, forms.form_id("project_id") or 0, data)
    if refusal.error:
        return _liaison_page(refusal.error.status, error=refusal.error.message, values=forms.values())
    flash(f"已记录{CONTACT_KINDS[contact.kind]}联系({contact.contact_on.isoformat()})")
    return redirect(url_for("console.liaison"))


@console_bp.get("/cadres", endpoint="cadres")
@staff_required(*cadres.COUNTY_ROLES)
def cadres_page():
    """Each cadre's workload (?cadre= for one cadre's projects and contacts) and the unlinked liaisons."""
    cadre_id = forms.arg_int("cadre")
    rows = cadres.workload(db.session, g.staff)
    chosen = next((w for w in rows if w.cadre.id == cadre_id), None)
    contacts = cadres.recent_contacts(db.session, [p.id for p in chosen.projects]) if chosen else []
    return render_template(
        "console/cadres/workload.html",
        rows=rows,
        chosen=chosen,
        contacts=contacts,
        titles={p.id: p.title for w in rows for p in w.projects},
        unlinked=cadres.unlinked_projects(db.session),
        candidates=cadres.candidates(db.session),
        can_link=g.staff.has_role("admin"),
        kinds=CONTACT_KINDS,
        month=clock.month_of(clock.today()),
    )


@console_bp.post("/cadres/link", endpoint="cadres_link")
@staff_required("admin")
def cadres_link():
    """Link one project's free-text liaison to an account."""
    with refused(passthrough=(404,)) as refusal:
        project = cadres.link(db.session, g.staff, forms.form_id("project_id") or 0, forms.form_id("cadre_id") or 0)
    if refusal.error:
        flash(refusal.error.message)
    else:
        flash(f"已关联:{project.title} — {users.get_user(db.session, project.liaison_cadre_id).name}")
    return redirect(url_for("console.cadres") + "#unlinked")


@console_bp.post("/cadres/link-by-name", endpoint="cadres_link_by_name")
@staff_required("admin")
def cadres_link_by_name():
    """Link every unlinked liaison whose text names exactly one account (after adding cadre accounts)."""
    linked = cadres.link_by_name(db.session, g.staff)
    flash(f"按姓名关联了 {linked} 个项目" if linked else "没有能按姓名唯一匹配的项目")
    return redirect(url_for("console.cadres") + "#unlinked")
