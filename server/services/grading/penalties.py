"""The penalties staff hand out beside the grading: 软弱涣散 warnings and 通报."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from server import clock
from server.errors import ApiError
from server.models import (
    WARNING_STATUSES,
    Organization,
    PointDeduction,
    PublicNotice,
    User,
    WeakOrgWarning,
    utcnow,
)
from server.services import audit
from server.services.common import claim, for_update
from server.services.grading.rules import (
    MAX_TEXT,
    NOTICE_DEDUCTION_YUAN,
    WARNING_MONTHS,
    conflict,
    invalid,
)
from server.services.grading.sessions import require_admin

# ---- 软弱涣散 warnings ------------------------------------------------------------------------


def _organization(session: Session, org_id: Any) -> Organization:
    org = session.get(Organization, org_id) if isinstance(org_id, int) else None
    if org is None:
        raise ApiError("not_found", "找不到该党组织", {"organization_id": org_id})
    return org


def _reason(text: Any) -> str:
    reason = str(text or "").strip()
    if not reason:
        raise invalid("请填写事由", "reason")
    if len(reason) > MAX_TEXT:
        raise invalid(f"事由最多 {MAX_TEXT} 个字", "reason")
    return reason


def list_warnings(session: Session) -> list[WeakOrgWarning]:
    """Warnings still being rectified first (earliest deadline first), then lifted ones, newest first."""
    rows = session.scalars(select(WeakOrgWarning).order_by(WeakOrgWarning.id.desc())).all()
    return sorted(
        rows, key=lambda w: (w.status != "rectifying", w.deadline.toordinal() if w.status == "rectifying" else 0)
    )


def is_warning_overdue(warning: WeakOrgWarning, today: date | None = None) -> bool:
    """True when a warning is still being rectified after its deadline."""
    return warning.status == "rectifying" and warning.deadline < (today or clock.today())


def create_warning(session: Session, actor: User, data: dict[str, Any], *, commit: bool = True) -> WeakOrgWarning:
    """List an organization as 软弱涣散 with three months to rectify; one open warning per organization.

    commit=False leaves the transaction open for a caller that records more in it (a 书记领办事项's decision).
    """
    require_admin(actor)
    org = _organization(session, data.get("organization_id"))
    # Checked, then inserted: two admins (two nodes) listing one organization at once take turns.
    claim(session, "weak_org_warning", org.id)
    reason = _reason(data.get("reason"))
    listed_on = data.get("listed_on") or clock.today()
    if (
        session.scalar(
            select(WeakOrgWarning.id).where(
                WeakOrgWarning.organization_id == org.id, WeakOrgWarning.status == "rectifying"
            )
        )
        is not None
    ):
        raise conflict(f"{org.name}已在软弱涣散预警名单中,正在整顿", organization_id=org.id)
    warning = WeakOrgWarning(
        organization_id=org.id,
        reason=reason,
        listed_on=listed_on,
        deadline=clock.add_months(listed_on, WARNING_MONTHS),
        status="rectifying",
        listed_by_id=actor.id,
    )
    session.add(warning)
    session.flush()
    audit.append(
        session,
        actor,
        "grading.warning",
        "weak_org_warning",
        warning.id,
        {"organization_id": org.id, "deadline": warning.deadline.isoformat()},
    )
    if commit:
        session.commit()
    return warning


def lift_warning(session: Session, actor: User, warning_id: int, note: str) -> WeakOrgWarning:
    """Lift (销号) a warning once the organization has been put right."""
    require_admin(actor)
    warning = session.execute(
        for_update(select(WeakOrgWarning).where(WeakOrgWarning.id == warning_id))
    ).scalar_one_or_none()
    if warning is None:
        raise ApiError("not_found", "找不到该预警", {"id": warning_id})
    if warning.status != "rectifying":
        session.rollback()
        raise conflict(f"该预警{WARNING_STATUSES[warning.status]}", status=warning.status)
    warning.status, warning.lifted_at, warning.lifted_by_id = "lifted", utcnow(), actor.id
    warning.lift_note = _reason(note)
    audit.append(session, actor, "grading.warning_lift", "weak_org_warning", warning.id, {})
    session.commit()
    return warning


def warning_candidates(session: Session) -> list[Organization]:
    """Organizations with a two-year deduction and no open warning: the ones to consider listing."""
    open_ids = select(WeakOrgWarning.organization_id).where(WeakOrgWarning.status == "rectifying")
    return list(
        session.scalars(
            select(Organization)
            .where(Organization.id.in_(select(PointDeduction.organization_id)), Organization.id.not_in(open_ids))
            .order_by(Organization.name)
        )
    )


# ---- 通报 -------------------------------------------------------------------------------------


def list_notices(session: Session, year: int | None = None) -> list[PublicNotice]:
    """Notices, newest first, of one year or all."""
    stmt = select(PublicNotice).order_by(PublicNotice.issued_on.desc(), PublicNotice.id.desc())
    if year is not None:
        stmt = stmt.where(PublicNotice.year == year)
    return list(session.scalars(stmt))


def create_notice(session: Session, actor: User, data: dict[str, Any]) -> PublicNotice:
    """通报 an organization (and its secretary); each notice deducts 200 yuan of performance pay."""
    require_admin(actor)
    org = _organization(session, data.get("organization_id"))
    reason = _reason(data.get("reason"))
    secretary_id = data.get("secretary_id")
    if secretary_id is not None:
        secretary = session.get(User, secretary_id) if isinstance(secretary_id, int) else None
        if secretary is None:
            raise ApiError("not_found", "找不到该书记", {"secretary_id": secretary_id})
    issued_on = data.get("issued_on") or clock.today()
    if issued_on > clock.today():
        raise invalid("通报日期不能晚于今天", "issued_on")
    notice = PublicNotice(
        organization_id=org.id,
        secretary_id=secretary_id,
        year=issued_on.year,
        issued_on=issued_on,
        reason=reason,
        deduction_yuan=NOTICE_DEDUCTION_YUAN,
        issued_by_id=actor.id,
    )
    session.add(notice)
    session.flush()
    audit.append(
        session,
        actor,
        "grading.notice",
        "public_notice",
        notice.id,
        {"organization_id": org.id, "secretary_id": secretary_id, "deduction_yuan": notice.deduction_yuan},
    )
    session.commit()
    return notice


def secretaries(session: Session) -> list[User]:
    """Accounts holding the secretary role, by name, for the notice form."""
    return list(session.scalars(select(User).where(User.role_rows.any(role="secretary")).order_by(User.name, User.id)))


def organizations(session: Session) -> list[Organization]:
    """Every organization by name, for the warning and notice forms."""
    return list(session.scalars(select(Organization).order_by(Organization.name, Organization.id)))
