"""Standing inspection teams (督查组) and declared conflicts (回避申报) under 督查.

Staff read the teams; admins create and edit them. Declared conflicts carry personal detail
(whose relative, which former post), so only admins and leaders see that page and only admins
write; inspectors declare their own through the API (/api/v1/me/conflicts).
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for

from server.console import console_bp, forms
from server.console.auth import staff_required
from server.console.handling import refused
from server.db import db
from server.models import CONFLICT_KINDS, CONFLICT_SCOPES
from server.services import places, projects, teams, users

WRITE = ("admin",)
CONFLICT_READERS = ("admin", "leader")


def _team_data() -> dict[str, Any]:
    return {
        "name": request.form.get("name", ""),
        "member_ids": forms.form_ids("member_ids"),
        "leader_id": forms.form_id("leader_id"),
        "lead_official_id": forms.form_id("lead_official_id"),
        "active": request.form.get("active") == "1",
    }


def _team_context() -> dict[str, Any]:
    return {
        "inspectors": users.list_active(db.session, "inspector"),
        "officials": users.list_active(db.session, "leader"),
        "can_edit": g.staff.has_role(*WRITE),
    }


def _teams_page(status: int = 200, error: str | None = None):
    found = teams.list_teams(db.session)
    people: dict[int, int] = {}
    for c in teams.list_conflicts(db.session):
        people[c.user_id] = people.get(c.user_id, 0) + 1
    declared = {t.id: sum(people.get(m.id, 0) for m in t.members) for t in found}
    values = forms.values("member_ids") if request.method == "POST" else {"active": "1", "member_ids": []}
    return render_template(
        "console/teams/teams.html",
        teams=found,
        declared=declared,
        values=values,
        error=error,
        sees_conflicts=g.staff.has_role(*CONFLICT_READERS),
        **_team_context(),
    ), status


@console_bp.get("/teams", endpoint="teams")
@staff_required()
def teams_list():
    """The standing teams with their 组长, 带队领导 and members; admins add one here."""
    return _teams_page()


@console_bp.post("/teams")
@staff_required(*WRITE)
def team_create():
    """Create a team."""
    with refused() as refusal:
        team = teams.create_team(db.session, g.staff, _team_data())
    if refusal.error:
        return _teams_page(refusal.error.status, refusal.error.message)
    flash(f"已创建督查组:{team.name}")
    return redirect(url_for("console.teams"))


@console_bp.route("/teams/<int:team_id>", methods=["GET", "POST"])
@staff_required(*WRITE)
def team_edit(team_id: int):
    """Edit a team: name, members, 组长, 带队领导, active (rounds already frozen keep their copy)."""
    team = teams.get_team(db.session, team_id)
    error, status = None, 200
    if request.method == "POST":
        with refused(passthrough=(404,)) as refusal:
            teams.update_team(db.session, g.staff, team_id, _team_data())
        if not refusal.error:
            flash(f"已保存督查组:{team.name}")
            return redirect(url_for("console.teams"))
        error, status = refusal.error.message, refusal.error.status
        values = forms.values("member_ids")
    else:
        values = {
            "name": team.name,
            "member_ids": [str(m.id) for m in team.members],
            "leader_id": str(team.leader_id or ""),
            "lead_official_id": str(team.lead_official_id or ""),
            "active": "1" if team.active else "",
        }
    return render_template(
        "console/teams/team_edit.html", team=team, values=values, error=error, **_team_context()
    ), status


# ---- declared conflicts ---------------------------------------------------------------------


def _place_choice() -> tuple[str | None, int | None]:
    """The form's one place select, "scope:id" (e.g. village:12)."""
    scope, _, raw = request.form.get("place", "").partition(":")
    return (scope or None), (int(raw) if raw.isdigit() else None)


def _conflicts_page(status: int = 200, error: str | None = None):
    found = teams.list_conflicts(db.session, include_withdrawn=request.args.get("all") == "1")
    townships = places.list_townships(db.session).items
    return render_template(
        "console/teams/conflicts.html",
        conflicts=found,
        place_names={c.id: teams.place_name(db.session, c) for c in found},
        kinds=CONFLICT_KINDS,
        scopes=CONFLICT_SCOPES,
        inspectors=users.list_active(db.session, "inspector"),
        townships=townships,
        villages=places.list_villages(db.session).items,
        township_names={t.id: t.name for t in townships},
        organizations=projects.list_organizations(db.session).items,
        values=forms.values() if request.method == "POST" else {},
        show_all=request.args.get("all") == "1",
        can_edit=g.staff.has_role(*WRITE),
        error=error,
    ), status


@console_bp.get("/conflicts", endpoint="conflicts")
@staff_required(*CONFLICT_READERS)
def conflicts_list():
    """Declared conflicts in force (or all, withdrawn ones too); admins record one for an inspector here."""
    return _conflicts_page()


@console_bp.post("/conflicts")
@staff_required(*WRITE)
def conflict_create():
    """Record a conflict an inspector declared."""
    scope, place_id = _place_choice()
    data = {
        "user_id": forms.form_id("user_id"),
        "kind": request.form.get("kind"),
        "scope": scope,
        "place_id": place_id,
        "note": request.form.get("note", ""),
    }
    with refused() as refusal:
        c = teams.declare_conflict(db.session, g.staff, data)
    if refusal.error:
        return _conflicts_page(refusal.error.status, refusal.error.message)
    flash(f"已登记回避申报:{c.user.name} 回避 {teams.place_name(db.session, c)}")
    return redirect(url_for("console.conflicts"))


@console_bp.post("/conflicts/<int:conflict_id>/withdraw")
@staff_required(*WRITE)
def conflict_withdraw(conflict_id: int):
    """Withdraw a declaration (kept in the history)."""
    with refused(passthrough=(404,)) as refusal:
        teams.withdraw_conflict(db.session, g.staff, conflict_id)
    if refusal.error:
        return _conflicts_page(refusal.error.status, refusal.error.message)
    flash("已撤回该回避申报")
    return redirect(url_for("console.conflicts"))
