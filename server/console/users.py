"""Staff accounts and invite codes: the list (staff only unless a role is asked for), and (admins)
creating, editing, deactivating accounts and issuing invite codes, each shown once."""

from __future__ import annotations

import re
from typing import Any

from flask import flash, g, redirect, request, session, url_for

from server.console import console_bp, forms
from server.console.auth import staff_required
from server.console.handling import refused
from server.console.pages import PER_PAGE, ROLE_LABELS, WRITE, message, render
from server.db import db
from server.models import User, utcnow
from server.services import places, projects, units, users

# Villagers register themselves through WeChat; the console creates everyone else.
CREATABLE_ROLES = ("admin", "leader", "reviewer", "unit_reviewer", "expert", "inspector", "secretary", "cadre")
USERNAME_RE = re.compile(r"[A-Za-z0-9_.@-]{2,64}")
MULTI = ("roles", "township_ids", "organization_ids")


def _user_data(*, user: User | None) -> dict[str, Any]:
    username = forms.text("username", "用户名")
    if username and not USERNAME_RE.fullmatch(username):
        raise forms.invalid("用户名只能由字母、数字和 _ . @ - 组成,2 到 64 位", "username")
    if not username and user is not None and user.username:
        raise forms.invalid("已有的用户名不能清空", "username")
    roles = sorted(set(request.form.getlist("roles")))
    if not roles:
        raise forms.invalid("请至少选择一个角色", "roles")
    if set(roles) - set(CREATABLE_ROLES):
        raise forms.invalid("角色不正确", "roles")
    password = request.form.get("password", "")
    if password and not 8 <= len(password) <= 256:
        raise forms.invalid("密码至少 8 位", "password")
    if password and not username:
        raise forms.invalid("设置密码需要同时填写用户名(用于登录管理后台)", "password")
    data: dict[str, Any] = {
        "name": forms.text("name", "姓名", required=True),
        "roles": roles,
        "township_ids": forms.form_ids("township_ids"),
        "home_township_id": forms.form_id("home_township_id"),
        "organization_ids": forms.form_ids("organization_ids"),
        "unit_id": forms.form_id("unit_id"),
    }
    if username:
        data["username"] = username
    if password:
        data["password"] = password
    if user is not None and user.id == g.staff.id and "admin" not in roles:
        raise forms.invalid("不能取消自己的管理员角色", "roles")
    return data


def _users_page(status: int = 200, *, values: dict[str, Any] | None = None, error: str | None = None):
    role, q = request.args.get("role", ""), request.args.get("q", "").strip()
    # The list is about staff unless a role is asked for (the admin API lists villagers too).
    items, total = users.list_users(
        db.session,
        role=role if role in ROLE_LABELS else None,
        q=q,
        include_villagers=False,
        page=forms.page(),
        per_page=PER_PAGE,
    )
    townships = places.list_townships(db.session).items
    return render(
        "users.html",
        status,
        users=items,
        total=total,
        page=forms.page(),
        per_page=PER_PAGE,
        townships=townships,
        township_by_id={t.id: t for t in townships},
        creatable_roles=CREATABLE_ROLES,
        filters={"role": role, "q": q},
        now=utcnow(),
        values=values or {"roles": [], "township_ids": [], "organization_ids": []},
        error=error,
        organizations=projects.list_organizations(db.session).items,
        units=units.list_units(db.session),
    )


def _invite_page(user: User, code: str):
    body, status = render("invite.html", user=user, code=code)
    # The code is shown once: no browser or proxy may keep a copy of this page.
    return body, status, {"Cache-Control": "no-store"}


@console_bp.get("/users", endpoint="users")
@staff_required()
def users_list():
    """Staff accounts with roles, scope, WeChat binding and invite state."""
    return _users_page()


@console_bp.post("/users")
@staff_required(*WRITE)
def user_create():
    """Create an account; when asked, show its invite code once."""
    with refused() as refusal:
        data = _user_data(user=None)
        data["issue_invite"] = request.form.get("issue_invite") == "1"
        user, code = users.create_user(db.session, g.staff, data)
    if refusal.error:
        return _users_page(refusal.error.status, values=forms.values(*MULTI), error=message(refusal.error))
    if code:
        return _invite_page(user, code)
    flash(f"已添加账号:{user.name}")
    return redirect(url_for("console.users"))


@console_bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@staff_required(*WRITE)
def user_edit(user_id: int):
    """Edit an account's name, roles, scope, home township or password."""
    user = users.get_user(db.session, user_id)
    context = {
        "user": user,
        "townships": places.list_townships(db.session).items,
        "organizations": projects.list_organizations(db.session).items,
        "units": units.list_units(db.session),
        "creatable_roles": CREATABLE_ROLES,
    }
    if request.method == "POST":
        with refused() as refusal:
            users.update_user(db.session, g.staff, user_id, _user_data(user=user))
        if refusal.error:
            return render(
                "user_edit.html",
                refusal.error.status,
                error=message(refusal.error),
                values=forms.values(*MULTI),
                **context,
            )
        if user.id == g.staff.id:
            # A new password signs the account out everywhere, except here where it was set.
            session["v"] = user.token_version
            if request.form.get("password"):
                session["sid"] = users.open_console_session(db.session, user)
        flash(f"已保存账号:{user.name}")
        return redirect(url_for("console.users"))
    values = {
        "username": user.username or "",
        "name": user.name,
        "roles": user.roles,
        "township_ids": [str(t.id) for t in user.townships],
        "home_township_id": str(user.home_township_id or ""),
        "organization_ids": [str(o.id) for o in user.organizations],
        "unit_id": str(user.unit_id or ""),
    }
    return render("user_edit.html", values=values, **context)


@console_bp.post("/users/<int:user_id>/invite")
@staff_required(*WRITE)
def user_reset_invite(user_id: int):
    """Issue a new invite code (the old one stops working) and show it, once."""
    user = users.get_user(db.session, user_id)
    # The service refuses accounts that do not use the mini-program, bound or inactive ones.
    with refused() as refusal:
        user, code = users.update_user(db.session, g.staff, user_id, {"reset_invite": True})
    if refusal.error:
        flash(f"{user.name}:{refusal.error.message}")
        return redirect(url_for("console.users"))
    return _invite_page(user, code)


@console_bp.post("/users/<int:user_id>/active")
@staff_required(*WRITE)
def user_set_active(user_id: int):
    """Deactivate (signs out everywhere) or reactivate an account."""
    user = users.get_user(db.session, user_id)
    active = request.form.get("active") == "1"
    if user.id == g.staff.id and not active:
        return _users_page(409, error="不能停用自己的账号")
    with refused() as refusal:
        users.update_user(db.session, g.staff, user_id, {"active": active})
    if refusal.error:
        return _users_page(refusal.error.status, error=message(refusal.error))
    flash(f"已{'启用' if active else '停用'}账号:{user.name}")
    return redirect(url_for("console.users"))
