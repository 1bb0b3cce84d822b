"""Console sessions: password login with lock-out, CSRF tokens, role and scope checks."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import wraps

from flask import (
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from server import tenancy
from server.console import console_bp
from server.console.handling import refused
from server.db import db
from server.models import CONSOLE_ROLES, STAFF_ROLES, County, User
from server.services import users

ROLE_NAMES = {
    "admin": "管理员",
    "leader": "领导(只读)",
    "reviewer": "审核员",
    "unit_reviewer": "归口单位审核员",
    "expert": "评审专家",
    "secretary": "项目书记",
    "cadre": "联系组工干部",
}


def csrf_token() -> str:
    """The session's CSRF token, created on first use (templates put it in every form)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


# What a city or province account may still post: signing in and out.
READ_ONLY_MAY_POST = frozenset({"console.login", "console.logout"})


@console_bp.before_request
def _load_staff_and_check_csrf():
    g.staff = None
    uid = session.get("uid")
    if uid is not None:
        user = db.session.get(User, uid)
        if (
            user
            and user.active
            and user.token_version == session.get("v")
            and user.has_role(*CONSOLE_ROLES)
            and users.console_session_alive(db.session, user, session.get("sid"))
        ):
            g.staff = user
            tenancy.enter(db.session, user)
        else:
            # Signed out at logout, by a new password or by deactivation: a copied cookie ends here.
            session.clear()
            flash("已在其他位置退出")
            if request.endpoint != "console.login":
                return redirect(url_for("console.login"))
    if request.method == "POST":
        sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
        if not sent or not secrets.compare_digest(sent, session.get("csrf", "")):
            abort(400, description="页面已过期,请刷新后重试(CSRF)")
        if g.staff is not None and request.endpoint not in READ_ONLY_MAY_POST and tenancy.is_deployment_staff(g.staff):
            abort(403, description="市级、省级账号只能查看各县数据,不能修改")


@console_bp.app_context_processor
def _template_globals():
    staff = g.get("staff")
    return {"csrf_token": csrf_token, "staff": staff, "role_names": ROLE_NAMES, "staff_county": _county_label(staff)}


def _county_label(staff: User | None) -> str:
    """Whose data the signed-in account sees, for the header: its county, or all counties read-only.

    Shown only where it tells something: a deployment of one county needs no label.
    """
    if staff is None or tenancy.only_county(db.session) is not None:
        return ""
    if staff.county_id is None:
        return "全部县(区)· 只读"
    county = db.session.get(County, staff.county_id)
    return county.name if county else ""


def staff_required(*roles: str) -> Callable:
    """Require a signed-in user holding one of `roles` (the department's own staff roles when empty)."""
    roles = roles or STAFF_ROLES

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(*args, **kwargs):
            if g.get("staff") is None:
                return redirect(url_for("console.login", next=request.full_path))
            if roles and not g.staff.has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate


def can_write() -> bool:
    """Leaders read; admins and reviewers act."""
    return g.staff is not None and g.staff.has_role("admin", "reviewer")


@console_bp.route("/login", methods=["GET", "POST"])
def login():
    """Username and password, counted with the API's logins (services.users.password_login)."""
    if request.method == "GET":
        return render_template("console/login.html")
    username = request.form.get("username", "").strip()
    with refused() as refusal:
        user = users.password_login(
            db.session, username, request.form.get("password", ""), request.remote_addr or "-", CONSOLE_ROLES
        )
    if refusal.error:
        current_app.logger.info("console login failed for %r from %s", username[:64], request.remote_addr)
        status = 429 if refusal.error.code == "rate_limited" else 401
        return (
            render_template("console/login.html", error=refusal.error.message, username=username),
            status,
            refusal.error.headers,
        )
    session.clear()
    session["uid"], session["v"] = user.id, user.token_version
    session["sid"] = users.open_console_session(db.session, user)
    session.permanent = True
    target = request.args.get("next") or ""
    # Only our own console pages: never an open redirect.
    if not target.startswith("/console/") or target.startswith("//"):
        target = url_for("console.home")
    return redirect(target)


@console_bp.post("/logout")
def logout():
    """End the session on the server too, so a copy of the cookie is signed out with it."""
    users.close_console_session(db.session, session.get("sid"))
    session.clear()
    flash("已退出登录")
    return redirect(url_for("console.login"))


@console_bp.get("/")
@staff_required(*CONSOLE_ROLES)
def home():
    """The console's start page: the first page of the navigation the user may open."""
    from server.console import nav_for

    if g.staff.has_role(*STAFF_ROLES):
        return redirect(url_for("console.visits"))
    entries = nav_for(g.staff)
    if not entries:
        abort(403)
    return redirect(url_for(entries[0][0]))
