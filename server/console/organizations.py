"""Party organizations (党组织) and reporting units (归口单位): the lists, and (admins) the forms that
add and edit them. Their XLSX/CSV imports are registered in console/imports.py.

A reviewer sees the organizations of their own townships; a unit's page lists its organizations
and its accounts (the reviewers whose scope the unit gives).
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for

from server.console import console_bp, forms
from server.console.auth import staff_required
from server.console.handling import refused
from server.console.pages import PER_PAGE, WRITE, message, render
from server.db import db
from server.models import DOMAINS
from server.services import places, projects, units
from server.services.documents import notices


def _township_scope() -> list[int] | None:
    """The townships whose organizations the caller may list (None: all)."""
    if g.staff.has_role("admin", "leader"):
        return None
    return [t.id for t in g.staff.townships]


def _organizations_page(status: int = 200, *, values: dict[str, Any] | None = None, error: str | None = None):
    q, unit_id, township_id = request.args.get("q", "").strip(), forms.arg_int("unit_id"), forms.arg_int("township_id")
    scope = _township_scope()
    if township_id is not None:
        scope = [township_id] if scope is None or township_id in scope else []
    found = projects.list_organizations(
        db.session, q=q, unit_id=unit_id, township_ids=scope, page=forms.page(), per_page=PER_PAGE
    )
    townships = places.list_townships(db.session).items
    unit_list = units.list_units(db.session)
    return render(
        "organizations.html",
        status,
        organizations=found.items,
        total=found.total,
        page=forms.page(),
        per_page=PER_PAGE,
        townships=townships,
        township_by_id={t.id: t for t in townships},
        units=unit_list,
        unit_by_id={u.id: u for u in unit_list},
        domains=DOMAINS,
        filters={"q": q, "unit_id": unit_id, "township_id": township_id},
        values=values or {},
        error=error,
    )


def _organization_data() -> dict[str, Any]:
    domain = request.form.get("domain", "")
    if domain not in DOMAINS:
        raise forms.invalid("请选择领域", "domain")
    return {
        "name": forms.text("name", "党组织名称", required=True, max_len=128),
        "domain": domain,
        "township_id": forms.form_id("township_id"),
        "village_id": forms.form_id("village_id"),
        "unit_id": forms.form_id("unit_id"),
    }


@console_bp.get("/organizations", endpoint="organizations")
@staff_required()
def organizations_list():
    """Party organizations with their domain, place and reporting unit; admins get the form."""
    return _organizations_page()


@console_bp.post("/organizations")
@staff_required(*WRITE)
def organization_create():
    """Add a party organization."""
    with refused() as refusal:
        org = projects.create_organization(db.session, g.staff, _organization_data())
    if refusal.error:
        return _organizations_page(refusal.error.status, values=forms.values(), error=message(refusal.error))
    flash(f"已添加党组织:{org.name}")
    return redirect(url_for("console.organizations"))


@console_bp.route("/organizations/<int:org_id>", methods=["GET", "POST"])
@staff_required(*WRITE)
def organization_edit(org_id: int):
    """Edit a party organization: name, domain, place, reporting unit."""
    org = projects.get_organization(db.session, org_id)
    context = {
        "org": org,
        "townships": places.list_townships(db.session).items,
        "villages": places.list_villages(db.session).items,
        "units": units.list_units(db.session),
        "domains": DOMAINS,
    }
    if request.method == "POST":
        with refused() as refusal:
            projects.update_organization(db.session, g.staff, org_id, _organization_data())
        if refusal.error:
            return render(
                "organization_edit.html",
                refusal.error.status,
                values=forms.values(),
                error=message(refusal.error),
                **context,
            )
        flash(f"已保存党组织:{org.name}")
        return redirect(url_for("console.organizations"))
    values = {
        "name": org.name,
        "domain": org.domain,
        "township_id": str(org.township_id or ""),
        "village_id": str(org.village_id or ""),
        "unit_id": str(org.unit_id or ""),
    }
    return render("organization_edit.html", values=values, **context)


# ---- reporting units --------------------------------------------------------------------------


def _units_page(status: int = 200, *, values: dict[str, Any] | None = None, error: str | None = None):
    townships = places.list_townships(db.session).items
    return render(
        "units.html",
        status,
        units=units.list_units(db.session),
        organization_counts=units.organization_counts(db.session),
        account_counts=units.account_counts(db.session),
        townships=townships,
        township_by_id={t.id: t for t in townships},
        kinds=units.UNIT_KINDS,
        values=values or {},
        error=error,
    )


def _unit_data() -> dict[str, Any]:
    return {
        "name": forms.text("name", "单位名称", required=True, max_len=units.NAME_MAX),
        "kind": forms.text("kind", "单位类型", max_len=units.KIND_MAX),
        "township_id": forms.form_id("township_id"),
    }


@console_bp.get("/units", endpoint="units")
@staff_required("admin", "leader")
def units_list():
    """Reporting units with how many organizations and accounts each has; admins get the form."""
    return _units_page()


@console_bp.post("/units")
@staff_required(*WRITE)
def unit_create():
    """Add a reporting unit."""
    with refused() as refusal:
        unit = units.create_unit(db.session, g.staff, _unit_data())
    if refusal.error:
        return _units_page(refusal.error.status, values=forms.values(), error=message(refusal.error))
    flash(f"已添加归口单位:{unit.name}")
    return redirect(url_for("console.unit_detail", unit_id=unit.id))


def _unit_page(unit, status: int = 200, **context: Any):
    return render(
        "unit_detail.html",
        status,
        unit=unit,
        organizations=unit.organizations,
        accounts=units.accounts_of(db.session, unit.id),
        approval_years=notices.approval_years(db.session, unit.id),
        townships=places.list_townships(db.session).items,
        kinds=units.UNIT_KINDS,
        **context,
    )


@console_bp.get("/units/<int:unit_id>", endpoint="unit_detail")
@staff_required("admin", "leader")
def unit_detail(unit_id: int):
    """A unit: its organizations and accounts; admins get the form to rename it or change its kind and township."""
    unit = units.get_unit(db.session, unit_id)
    values = {"name": unit.name, "kind": unit.kind, "township_id": str(unit.township_id or "")}
    return _unit_page(unit, values=values)


@console_bp.post("/units/<int:unit_id>")
@staff_required(*WRITE)
def unit_update(unit_id: int):
    """Rename a unit or change its kind or township."""
    unit = units.get_unit(db.session, unit_id)
    with refused() as refusal:
        units.update_unit(db.session, g.staff, unit_id, _unit_data())
    if refusal.error:
        return _unit_page(unit, refusal.error.status, error=message(refusal.error), values=forms.values())
    flash(f"已保存归口单位:{unit.name}")
    return redirect(url_for("console.unit_detail", unit_id=unit.id))
