"""本县信息 (a county's own settings, corrected by its administrator) and 各县概况 (per-county figures
for city and province leaders, who read every county and change nothing)."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request, url_for

from server import clock, tenancy
from server.console import console_bp, forms
from server.console.auth import staff_required
from server.console.handling import refused
from server.console.pages import WRITE, message, render
from server.db import db
from server.services import counties

FIELDS = tuple(counties.FIELDS)


def _county_page(status: int = 200, *, values: dict | None = None, error: str | None = None):
    county = counties.own_county(db.session, g.staff)
    values = values or {key: getattr(county, key) for key in FIELDS}
    return render("county.html", status, county=county, values=values, error=error)


@console_bp.get("/county", endpoint="county")
@staff_required()
def county_page():
    """The county's name, division code, issuing department and 代字; its administrator edits them."""
    if g.staff.county_id is None:
        return redirect(url_for("console.counties_overview"))
    return _county_page()


@console_bp.post("/county")
@staff_required(*WRITE)
def county_update():
    """Correct the county's settings (documents numbered before keep their 代字)."""
    with refused() as refusal:
        counties.update_county(db.session, g.staff, {key: request.form.get(key, "") for key in FIELDS})
    if refusal.error:
        return _county_page(refusal.error.status, values=forms.values(), error=message(refusal.error))
    flash("已保存本县信息")
    return redirect(url_for("console.county"))


@console_bp.get("/counties", endpoint="counties_overview")
@staff_required("leader", "admin")
def counties_overview():
    """各县概况: each county's places, projects, visits, feedback, open orders and grading of a year.

    City and province leaders see every county; a county's own leader or administrator sees its line.
    """
    year = forms.arg_int("year") or clock.today().year
    if not 2000 <= year <= 2100:
        abort(404)
    rows = counties.figures(db.session, year)
    if not tenancy.is_deployment_staff(g.staff):
        rows = [r for r in rows if r.county.id == g.staff.county_id]
    totals = {
        key: sum(getattr(r, key) for r in rows)
        for key in ("townships", "villages", "projects", "visits", "feedback", "open_orders")
    }
    return render("counties.html", rows=rows, totals=totals, year=year)
