"""The staff web console under /console/: server-rendered pages (Jinja) with light JavaScript."""

from __future__ import annotations

import importlib

from flask import Blueprint

console_bp = Blueprint("console", __name__, url_prefix="/console", static_folder="static",
                       static_url_path="/static")

# Scripts only from the console's own static/console.js: an injected <script> or on…= attribute
# does not run. Inline style attributes stay allowed; images may come from the photo bucket
# (presigned URLs on whatever host storage has), which cannot run code.
CONSOLE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data: blob: https: http:; connect-src 'self'; object-src 'none'; "
               "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


@console_bp.after_request
def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONSOLE_CSP)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response

# The main navigation: (endpoint, label, roles that see it); entries whose page is not there, or
# that the signed-in user's roles do not reach, are left out.
STAFF = ("admin", "leader", "reviewer")
NAV = [
    ("console.my_projects", "我的项目", ("secretary",)),
    ("console.applications", "申报审核", ("admin", "leader", "unit_reviewer")),
    ("console.unit_projects", "本单位项目", ("unit_reviewer",)),
    ("console.dashboard", "仪表盘", STAFF),
    ("console.visits", "暗访记录", STAFF),
    ("console.rectifications", "整改通知", STAFF),
    ("console.feedback_inbox", "群众反馈", STAFF),
    ("console.projects", "项目", STAFF),
    ("console.report_overview", "项目月报", STAFF),
    ("console.places", "乡镇与村", STAFF),
    ("console.users", "人员与邀请码", STAFF),
    ("console.assignments", "督查任务", STAFF),
    ("console.rounds", "双随机抽查", STAFF),
    ("console.cases", "案例集", ("admin", "leader")),
    # Grading is the department's own business: reviewers have no part in it.
    ("console.grading", "评分与考核", ("admin", "leader")),
    ("console.expert_scoring", "专家评分", ("expert",)),
]


def nav_for(user) -> list[tuple[str, str]]:
    """The navigation entries `user` may open, as (endpoint, label)."""
    from flask import current_app

    if user is None:
        return []
    return [(e, label) for e, label, roles in NAV if e in current_app.view_functions and user.has_role(*roles)]


@console_bp.app_context_processor
def _navigation():
    from flask import g

    return {"console_nav": nav_for(g.get("staff"))}


# Page modules register their routes on import.
for _module in ("auth", "rectifications", "feedback", "visits", "places", "places_import", "projects", "users",
                "assignments", "dashboard", "exports", "cases", "grading", "lifecycle", "rounds"):
    importlib.import_module(f"server.console.{_module}")
