"""What the base-data pages (places, places import, projects, users, assignments) share: their
template folder, who may edit, how a stored point and a role read, and how a service's error
reads on a form.

Every write goes through the same service the JSON admin API calls, so the rules (unique codes,
GCJ-02 conversion, recusal, one-time invite codes) live in one place; these pages only turn form
fields into the service's input and its ApiError back into the form. Admins write; leaders and
reviewers read the lists (reviewers only part of the assignments: services.assignments.PLAN_READERS).
"""

from __future__ import annotations

from typing import Any

from flask import g, render_template

from server import geo
from server.console import forms
from server.console.auth import ROLE_NAMES
from server.errors import ApiError

WRITE = ("admin",)
PER_PAGE = 50
ROLE_LABELS = {**ROLE_NAMES, "inspector": "督查人员", "secretary": "项目书记", "villager": "群众"}
FIELD_LABELS = {"code": "编码", "username": "用户名"}
KIND_LABELS = {"township": "乡镇", "village": "村", "site": "单位地点"}


def point_text(lat: float | None, lng: float | None) -> dict[str, str] | None:
    """A stored WGS-84 point and its GCJ-02 equivalent, six decimals (about 0.1 m)."""
    if lat is None or lng is None:
        return None
    glat, glng = geo.wgs84_to_gcj02(lat, lng)
    return {"wgs84": f"{lat:.6f}, {lng:.6f}", "gcj02": f"{glat:.6f}, {glng:.6f}"}


def render(template: str, status: int = 200, **context: Any):
    """A base-data page with what every one of them uses."""
    return render_template(
        f"console/base_data/{template}",
        can_edit=g.staff.has_role(*WRITE),
        point=point_text,
        role_labels=ROLE_LABELS,
        page_url=forms.page_url,
        **context,
    ), status


def message(exc: ApiError) -> str:
    """The error as staff should read it; the services' conflict messages name fields in English."""
    field, value = exc.details.get("field"), exc.details.get("value")
    if exc.code == "conflict" and field in FIELD_LABELS and value is not None:
        return f"{FIELD_LABELS[field]}“{value}”已被使用"
    return exc.message
