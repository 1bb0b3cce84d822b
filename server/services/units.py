"""Reporting units (归口单位): the managed list, its organizations and its reviewer accounts.

A unit reviews the applications of the party organizations filed under it (Organization.unit_id);
its `unit_reviewer` accounts (User.unit_id) see every one of them (services.lifecycle.organization_ids).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server.errors import ApiError
from server.models import Organization, ReportingUnit, Township, User, UserRole
from server.services import audit
from server.services.common import get_or_404, require_unique

# The kinds the seed articles name; a unit may be of another kind (the column holds 16 characters).
UNIT_KINDS = ("乡镇党委", "街道党工委", "机关工委", "教育工委", "卫健工委", "国资党委", "非公党工委", "其他")
NAME_MAX, KIND_MAX = 64, 16


def list_units(session: Session) -> list[ReportingUnit]:
    """Every reporting unit, by name."""
    return list(session.scalars(select(ReportingUnit).order_by(ReportingUnit.name)))


def get_unit(session: Session, unit_id: int) -> ReportingUnit:
    """The unit with this id, or ApiError(not_found)."""
    return get_or_404(session, ReportingUnit, unit_id, "归口单位")


def organization_counts(session: Session) -> dict[int, int]:
    """How many organizations each unit has, by unit id."""
    rows = session.execute(
        select(Organization.unit_id, func.count())
        .where(Organization.unit_id.is_not(None))
        .group_by(Organization.unit_id)
    )
    return dict(rows.all())


def account_counts(session: Session) -> dict[int, int]:
    """How many accounts belong to each unit, by unit id."""
    rows = session.execute(select(User.unit_id, func.count()).where(User.unit_id.is_not(None)).group_by(User.unit_id))
    return dict(rows.all())


def accounts_of(session: Session, unit_id: int) -> list[User]:
    """The unit's accounts (its reviewers first), by name."""
    reviewer = select(UserRole.user_id).where(UserRole.role == "unit_reviewer")
    stmt = select(User).where(User.unit_id == unit_id).order_by(User.id.not_in(reviewer), User.name)
    return list(session.scalars(stmt))


def check(session: Session, data: dict[str, Any], *, exclude_id: int | None = None) -> None:
    """Refuse a unit's fields that cannot be stored: a blank or taken name, an unknown township."""
    name = (data.get("name") or "").strip()
    if "name" in data:
        if not name:
            raise ApiError("validation_failed", "名称不能为空", {"field": "name"})
        if len(name) > NAME_MAX:
            raise ApiError("validation_failed", f"名称最多 {NAME_MAX} 个字", {"field": "name"})
        require_unique(session, ReportingUnit, ReportingUnit.name, name, "name", exclude_id=exclude_id, per_county=True)
    if len(data.get("kind") or "") > KIND_MAX:
        raise ApiError("validation_failed", f"类型最多 {KIND_MAX} 个字", {"field": "kind"})
    if data.get("township_id") is not None:
        get_or_404(session, Township, data["township_id"], "乡镇")


def create_unit(session: Session, actor: User, data: dict[str, Any]) -> ReportingUnit:
    """Add a reporting unit."""
    check(session, {**data, "name": data.get("name", "")})
    unit = ReportingUnit(name=data["name"].strip(), kind=data.get("kind") or "", township_id=data.get("township_id"))
    session.add(unit)
    session.flush()
    audit.append(session, actor, "unit.create", "reporting_unit", unit.id, {"name": unit.name, "kind": unit.kind})
    session.commit()
    return unit


def update_unit(session: Session, actor: User, unit_id: int, data: dict[str, Any]) -> ReportingUnit:
    """Rename a unit or change its kind or township."""
    unit = get_unit(session, unit_id)
    check(session, data, exclude_id=unit.id)
    changes = {}
    for key in ("name", "kind", "township_id"):
        if key in data:
            value = data[key].strip() if key == "name" else (data[key] or ("" if key == "kind" else None))
            if getattr(unit, key) != value:
                changes[key] = [getattr(unit, key), value]
                setattr(unit, key, value)
    audit.append(session, actor, "unit.update", "reporting_unit", unit.id, changes)
    session.commit()
    return unit
