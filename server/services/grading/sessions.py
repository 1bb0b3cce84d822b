"""A year's grading session: its configuration in draft, and opening it to scoring."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import GRADING_STATUSES, GradingEntry, GradingSession, Project, User, utcnow
from server.services import audit
from server.services.common import claim, for_update
from server.services.grading.rules import (
    DEFAULT_CRITERIA,
    DEFAULT_QUOTAS,
    GRADABLE_STATUSES,
    conflict,
    invalid,
    parse_criteria,
    parse_quotas,
)


def list_sessions(session: Session) -> list[GradingSession]:
    """Every session, newest year first."""
    return list(session.scalars(select(GradingSession).order_by(GradingSession.year.desc())))


def get_session(session: Session, session_id: int) -> GradingSession:
    """One session by id, or not_found."""
    gs = session.get(GradingSession, session_id)
    if gs is None:
        raise ApiError("not_found", "找不到该年度评分", {"id": session_id})
    return gs


def locked_session(session: Session, session_id: int) -> GradingSession:
    """One session by id, locked (and claimed: docs/galera.md) for this transaction, or not_found."""
    claim(session, "grading_session", session_id)
    gs = session.execute(for_update(select(GradingSession).where(GradingSession.id == session_id))).scalar_one_or_none()
    if gs is None:
        raise ApiError("not_found", "找不到该年度评分", {"id": session_id})
    return gs


def locked_in(session: Session, session_id: int, status: str, refused: str) -> GradingSession:
    """The session, locked as locked_session() locks it, while it is in `status`; else the transaction is
    rolled back and a conflict says "该评分<its status>,<refused>"."""
    gs = locked_session(session, session_id)
    if gs.status != status:
        session.rollback()
        raise conflict(f"该评分{GRADING_STATUSES[gs.status]},{refused}", status=gs.status)
    return gs


def require_admin(user: User) -> None:
    """Refuse anyone but an admin: only admins manage grading and its penalties."""
    if not user.has_role("admin"):
        raise ApiError("forbidden", "只有管理员可以管理评分与考核")


def _config(data: dict[str, Any], base: GradingSession | None = None) -> dict[str, Any]:
    """Validated configuration fields from `data`, falling back to `base` (or the defaults)."""
    title = str(data.get("title") if data.get("title") is not None else (base.title if base else "")).strip()
    if not title:
        raise invalid("请填写评分名称", "title")
    if len(title) > 100:
        raise invalid("评分名称最多 100 个字", "title")
    criteria = (
        parse_criteria(data["criteria"])
        if "criteria" in data
        else (base.criteria if base else parse_criteria(DEFAULT_CRITERIA))
    )
    mode = data.get("quota_mode") or (base.quota_mode if base else "percent")
    quotas = (
        parse_quotas(mode, data["quotas"])
        if "quotas" in data
        else parse_quotas(mode, base.quotas if base else DEFAULT_QUOTAS)
    )
    points = data.get("deduction_points", base.deduction_points if base else 2)
    if isinstance(points, str) and points.strip().isdigit():
        points = int(points.strip())
    if not isinstance(points, int) or isinstance(points, bool) or not 0 <= points <= 100:
        raise invalid("扣分应为 0 到 100 的整数", "deduction_points")
    drop = bool(data.get("drop_extremes", base.drop_extremes if base else False))
    return {
        "title": title,
        "criteria": criteria,
        "quota_mode": mode,
        "quotas": quotas,
        "deduction_points": points,
        "drop_extremes": drop,
    }


def create_session(session: Session, actor: User, data: dict[str, Any]) -> GradingSession:
    """Start a year's grading in draft; one session per year."""
    require_admin(actor)
    year = data.get("year")
    if isinstance(year, str) and year.strip().isdigit():
        year = int(year.strip())
    if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= 2100:
        raise invalid("请填写正确的年度", "year")
    if session.scalar(select(GradingSession.id).where(GradingSession.year == year)) is not None:
        raise conflict(f"{year} 年度的评分已经建立", year=year)
    gs = GradingSession(
        year=year,
        status="draft",
        created_by_id=actor.id,
        **_config({**data, "title": data.get("title") or f"{year} 年度书记项目评审"}),
    )
    session.add(gs)
    session.flush()
    audit.append(session, actor, "grading.create", "grading_session", gs.id, {"year": year})
    session.commit()
    return gs


def update_session(session: Session, actor: User, session_id: int, data: dict[str, Any]) -> GradingSession:
    """Change the configuration of a session still in draft."""
    require_admin(actor)
    gs = locked_in(session, session_id, "draft", "不能再修改评分规则")
    for key, value in _config(data, gs).items():
        setattr(gs, key, value)
    audit.append(session, actor, "grading.update", "grading_session", gs.id, {"fields": sorted(data)})
    session.commit()
    return gs


def gradable_projects(session: Session, year: int) -> list[Project]:
    """Projects of the year that are graded: running or accepted, not closed."""
    return list(
        session.scalars(
            select(Project).where(Project.year == year, Project.status.in_(GRADABLE_STATUSES)).order_by(Project.id)
        )
    )


def open_session(session: Session, actor: User, session_id: int) -> GradingSession:
    """draft → scoring: take in the year's gradable projects and freeze the configuration."""
    require_admin(actor)
    gs = locked_in(session, session_id, "draft", "不能再开始评分")
    projects = gradable_projects(session, gs.year)
    if not projects:
        session.rollback()
        raise conflict(f"{gs.year} 年度没有实施中或已验收的项目,无法开始评分", year=gs.year)
    for p in projects:
        session.add(GradingEntry(session_id=gs.id, project_id=p.id, organization_id=p.organization_id))
    gs.status, gs.opened_at = "scoring", utcnow()
    audit.append(session, actor, "grading.open", "grading_session", gs.id, {"projects": len(projects)})
    session.commit()
    return gs


def entries_of(session: Session, gs: GradingSession) -> list[GradingEntry]:
    """A session's projects: by rank once finalized, else in the order they were taken in."""
    stmt = select(GradingEntry).where(GradingEntry.session_id == gs.id)
    if gs.status == "finalized":
        stmt = stmt.order_by(GradingEntry.rank, GradingEntry.project_id)
    else:
        stmt = stmt.order_by(GradingEntry.project_id)
    return list(session.scalars(stmt))
