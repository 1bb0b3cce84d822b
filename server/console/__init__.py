"""The staff web console under /console/: server-rendered pages (Jinja) with light JavaScript."""

from __future__ import annotations

import importlib

from flask import Blueprint

console_bp = Blueprint("console", __name__, url_prefix="/console", static_folder="static",
                       static_url_path="/static")

# The main navigation: (endpoint, label); entries whose page is not there are left out.
NAV = [
    ("console.dashboard", "仪表盘"),
    ("console.visits", "暗访记录"),
    ("console.rectifications", "整改通知"),
    ("console.feedback_inbox", "群众反馈"),
    ("console.projects", "项目"),
    ("console.places", "乡镇与村"),
    ("console.users", "人员与邀请码"),
    ("console.assignments", "督查任务"),
]


@console_bp.app_context_processor
def _navigation():
    from flask import current_app

    return {"console_nav": [(e, label) for e, label in NAV if e in current_app.view_functions]}

# Page modules register their routes on import.
for _module in ("auth", "rectifications", "feedback", "visits", "base_data", "dashboard", "exports"):
    importlib.import_module(f"server.console.{_module}")
