"""Counties of a city's or province's deployment: adding one, its own settings, and per-county figures.

Counties are added from the command line (`flask --app server add-county`), by whoever runs the
deployment. A county's administrator corrects its name, division code, issuing department and
代字 on the console's 本县信息 page. City and province leaders read the per-county figures
(`figures`) on 各县概况.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server import clock, tenancy
from server.errors import ApiError
from server.models import (
    GRADING_STATUSES,
    AuditHead,
    County,
    Feedback,
    GradingSession,
    Project,
    RectificationOrder,
    Township,
    User,
    Village,
    Visit,
)
from server.services import audit
from server.services.common import get_or_404
from server.services.rectification import OPEN_STATUSES

CODE = re.compile(r"^\d{6}$")
FIELDS = {"code": 6, "name": 64, "department_name": 64, "doc_prefix": 32}


def _clean(session: Session, data: dict[str, Any], county: County | None) -> dict[str, str]:
    """The settings of a county, checked: a 6-digit code no other county holds, a name, short texts."""
    out: dict[str, str] = {}
    for key, limit in FIELDS.items():
        value = str(data.get(key) if data.get(key) is not None else getattr(county, key, "") or "").strip()
        if len(value) > limit:
            raise ApiError("validation_failed", f"最多 {limit} 个字", {"field": key})
        out[key] = value
    if not CODE.match(out["code"]):
        raise ApiError("validation_failed", "行政区划代码应为 6 位数字", {"field": "code"})
    if not out["name"]:
        raise ApiError("validation_failed", "请填写县(区)名称", {"field": "name"})
    taken = session.scalar(
        select(County.id).where(County.code == out["code"], County.id != (county.id if county else -1))
    )
    if taken is not None:
        raise ApiError("conflict", f"行政区划代码已存在:{out['code']}", {"field": "code", "value": out["code"]})
    return out


def add_county(session: Session, actor: User | None, data: dict[str, Any]) -> County:
    """Add a county with its own audit chain (committed, audited in the deployment's chain)."""
    if actor is not None and actor.county_id is not None:
        raise ApiError("forbidden", "县级账号不能添加县(区)")
    county = County(**_clean(session, data, None))
    session.add(county)
    session.flush()
    session.add(AuditHead(chain=county.id, seq=0, hash=audit.GENESIS))
    session.info.pop("only_county", None)  # the deployment may no longer have a single county
    with tenancy.acting_in(session, tenancy.DEPLOYMENT_CHAIN):
        audit.append(session, actor, "county.create", "county", county.id, {"code": county.code, "name": county.name})
    session.commit()
    return county


def own_county(session: Session, user: User) -> County:
    """The county of a county's account (404 for an account of none)."""
    return get_or_404(session, County, user.county_id, "县(区)")


def update_county(session: Session, admin: User, data: dict[str, Any]) -> County:
    """An administrator corrects their own county's name, code, issuing department or 代字 (committed, audited)."""
    county = own_county(session, admin)
    values = _clean(session, data, county)
    changed = {k: v for k, v in values.items() if getattr(county, k) != v}
    for key, value in changed.items():
        setattr(county, key, value)
    if changed:
        audit.append(session, admin, "county.update", "county", county.id, changed)
    session.commit()
    return county


@dataclass
class CountyFigures:
    """One county's line on 各县概况."""

    county: County
    townships: int = 0
    villages: int = 0
    projects: int = 0
    visits: int = 0
    feedback: int = 0
    open_orders: int = 0
    grading: str = "未开始"


def figures(session: Session, year: int) -> list[CountyFigures]:
    """Per-county figures of a year for city and province leaders, in one aggregate query per table.

    Read across counties on purpose: only accounts of no county reach this (the console checks).
    """
    everyone = {"all_counties": True}
    rows = {
        c.id: CountyFigures(c)
        for c in session.scalars(select(County).order_by(County.code).execution_options(**everyone))
    }
    first = datetime.combine(date(year, 1, 1), time.min, clock.CHINA)
    after = datetime.combine(date(year + 1, 1, 1), time.min, clock.CHINA)
    counts = (
        ("townships", select(Township.county_id, func.count(Township.id)).group_by(Township.county_id)),
        ("villages", select(Village.county_id, func.count(Village.id)).group_by(Village.county_id)),
        (
            "projects",
            select(Project.county_id, func.count(Project.id)).where(Project.year == year).group_by(Project.county_id),
        ),
        (
            "visits",
            select(Visit.county_id, func.count(Visit.id))
            .where(Visit.status == "submitted", Visit.started_at >= first, Visit.started_at < after)
            .group_by(Visit.county_id),
        ),
        (
            "feedback",
            select(Feedback.county_id, func.count(Feedback.id))
            .where(Feedback.created_at >= first, Feedback.created_at < after)
            .group_by(Feedback.county_id),
        ),
        (
            "open_orders",
            select(RectificationOrder.county_id, func.count(RectificationOrder.id))
            .where(RectificationOrder.status.in_(OPEN_STATUSES))
            .group_by(RectificationOrder.county_id),
        ),
    )
    for name, stmt in counts:
        for county_id, n in session.execute(stmt.execution_options(**everyone)):
            if county_id in rows:
                setattr(rows[county_id], name, int(n))
    for county_id, status in session.execute(
        select(GradingSession.county_id, GradingSession.status)
        .where(GradingSession.year == year)
        .execution_options(**everyone)
    ):
        if county_id in rows:
            rows[county_id].grading = GRADING_STATUSES.get(status, status)
    return list(rows.values())
