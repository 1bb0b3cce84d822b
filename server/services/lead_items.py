"""书记领办事项: matters a secretary leads in person, their progress, and the 软弱涣散 rule that follows them.

The rule (岳西: "将连续2年'书记领办事项'无明显成效的基层党组织纳入软弱涣散基层党组织进行整顿"): an
item still being pursued with no progress entry marked as a visible result for two years — counted
from its start, its latest visible result, or the department's latest decision on it, whichever is
last — is *suggested* for the list. Nothing is listed automatically: an admin confirms a suggestion
(which creates the WeakOrgWarning through services.grading.penalties) or dismisses it with a reason;
either way the two years start again from that day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from server import clock
from server.errors import ApiError
from server.models import (
    LEAD_ITEM_STATUSES,
    PROJECT_LEVELS,
    LeadItem,
    LeadItemDecision,
    LeadItemProgress,
    Organization,
    User,
    WeakOrgWarning,
)
from server.services import audit
from server.services.common import Page, claim, for_update, get_or_404, paginate, search
from server.services.grading import penalties

# Two years without a visible result make an item a candidate for the 软弱涣散 list.
RESULT_MONTHS = 24
READERS = ("admin", "leader")
MAX_TEXT = 5000
# A decision's reason or note: short enough that the warning's reason (title, dates and the note)
# stays within what the 软弱涣散 list takes (grading.rules.MAX_TEXT).
MAX_DECISION_TEXT = 1000


def _invalid(message: str, field: str) -> ApiError:
    return ApiError("validation_failed", message, {"field": field})


def _require(actor: User, *roles: str) -> None:
    if not actor.has_role(*roles):
        raise ApiError(
            "forbidden", "只有组织部管理员可以管理书记领办事项" if roles == ("admin",) else "没有权限查看书记领办事项"
        )


def _text(data: dict[str, Any], key: str, label: str, max_len: int, *, required: bool = False) -> str:
    value = str(data.get(key) or "").strip()
    if required and not value:
        raise _invalid(f"请填写{label}", key)
    if len(value) > max_len:
        raise _invalid(f"{label}最多 {max_len} 个字", key)
    return value


def _date(value: Any, field: str, label: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value or ""))
    except ValueError:
        raise _invalid(f"{label}格式应为 2026-05-31", field) from None


def _secretary(session: Session, user_id: Any) -> int | None:
    if user_id is None:
        return None
    user = session.get(User, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active or not user.has_role("secretary"):
        raise _invalid("所选人员不是有效的书记账号", "secretary_id")
    return user.id


# ---- queries ----------------------------------------------------------------------------------


def list_items(
    session: Session,
    actor: User,
    *,
    year: int | None = None,
    level: str | None = None,
    status: str | None = None,
    q: str | None = None,
    page: int = 1,
    per_page: int | None = None,
) -> Page[LeadItem]:
    """Items of a start year, level and status (when given) whose title contains `q`, newest first."""
    _require(actor, *READERS)
    stmt = select(LeadItem)
    if year:
        stmt = stmt.where(LeadItem.year == year)
    if level:
        stmt = stmt.where(LeadItem.level == level)
    if status:
        stmt = stmt.where(LeadItem.status == status)
    stmt = search(stmt, q, LeadItem.title)
    return paginate(session, stmt.order_by(LeadItem.year.desc(), LeadItem.id.desc()), page, per_page)


def get_item(session: Session, actor: User, item_id: int) -> LeadItem:
    """The item with this id, for the department's readers."""
    _require(actor, *READERS)
    return get_or_404(session, LeadItem, item_id, "书记领办事项")


def progress_of(session: Session, item_id: int) -> list[LeadItemProgress]:
    """An item's progress entries, newest first."""
    return list(
        session.scalars(
            select(LeadItemProgress)
            .where(LeadItemProgress.item_id == item_id)
            .order_by(LeadItemProgress.noted_on.desc(), LeadItemProgress.id.desc())
        )
    )


def decisions_of(session: Session, item_id: int) -> list[LeadItemDecision]:
    """The department's decisions on an item's suggestions, newest first."""
    return list(
        session.scalars(
            select(LeadItemDecision)
            .where(LeadItemDecision.item_id == item_id)
            .order_by(LeadItemDecision.decided_on.desc(), LeadItemDecision.id.desc())
        )
    )


# ---- the two-year rule ------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultClock:
    """Where an item stands against the rule: since when it is counted, and the day it is due."""

    since: date  # start, latest visible result or latest decision, whichever is last
    last_result: date | None
    due: date  # `since` + 2 years: from this day on the item is suggested

    def suggested(self, today: date) -> bool:
        """True from the day two full years have passed without a visible result."""
        return today >= self.due


def _clocks(session: Session, items: list[LeadItem]) -> dict[int, ResultClock]:
    ids = [i.id for i in items]
    if not ids:
        return {}
    results = dict(
        session.execute(
            select(LeadItemProgress.item_id, func.max(LeadItemProgress.noted_on))
            .where(LeadItemProgress.item_id.in_(ids), LeadItemProgress.visible_result.is_(True))
            .group_by(LeadItemProgress.item_id)
        ).all()
    )
    decided = dict(
        session.execute(
            select(LeadItemDecision.item_id, func.max(LeadItemDecision.decided_on))
            .where(LeadItemDecision.item_id.in_(ids))
            .group_by(LeadItemDecision.item_id)
        ).all()
    )
    out = {}
    for item in items:
        since = max(d for d in (item.started_on, results.get(item.id), decided.get(item.id)) if d is not None)
        out[item.id] = ResultClock(since, results.get(item.id), clock.add_months(since, RESULT_MONTHS))
    return out


def result_clock(session: Session, item: LeadItem) -> ResultClock:
    """The item's standing against the two-year rule."""
    return _clocks(session, [item])[item.id]


def is_suggested(session: Session, item: LeadItem, today: date | None = None) -> bool:
    """True when the item is still pursued and two years have passed without a visible result."""
    return item.status == "in_progress" and result_clock(session, item).suggested(today or clock.today())


@dataclass(frozen=True)
class Suggestion:
    """An item suggested for the 软弱涣散 list, with the rule's dates."""

    item: LeadItem
    clock: ResultClock


def suggestions(session: Session, actor: User, today: date | None = None) -> list[Suggestion]:
    """Items suggested for the 软弱涣散 list whose organization is not on it already, longest overdue first."""
    _require(actor, *READERS)
    today = today or clock.today()
    listed = select(WeakOrgWarning.organization_id).where(WeakOrgWarning.status == "rectifying")
    items = list(
        session.scalars(
            select(LeadItem).where(LeadItem.status == "in_progress", LeadItem.organization_id.not_in(listed))
        )
    )
    clocks = _clocks(session, items)
    found = [Suggestion(i, clocks[i.id]) for i in items if clocks[i.id].suggested(today)]
    return sorted(found, key=lambda s: (s.clock.due, s.item.id))


# ---- writes -----------------------------------------------------------------------------------


def _fields(session: Session, data: dict[str, Any], item: LeadItem | None) -> dict[str, Any]:
    """The validated fields of `data` (all of them for a new item, those given for an edit)."""
    out: dict[str, Any] = {}
    if item is None or "title" in data:
        out["title"] = _text(data, "title", "事项名称", 200, required=True)
    if item is None or "started_on" in data:
        out["started_on"] = _date(data.get("started_on"), "started_on", "开始日期")
        if out["started_on"] > clock.today():
            raise _invalid("开始日期不能晚于今天", "started_on")
        out["year"] = out["started_on"].year
    if item is None or "organization_id" in data:
        out["organization_id"] = get_or_404(session, Organization, data.get("organization_id"), "党组织").id
    if item is None or "level" in data:
        if data.get("level") not in PROJECT_LEVELS:
            raise _invalid("请选择层级", "level")
        out["level"] = data["level"]
    if "status" in data:
        if data["status"] not in LEAD_ITEM_STATUSES:
            raise _invalid("请选择状态", "status")
        out["status"] = data["status"]
    if "secretary_id" in data:
        out["secretary_id"] = _secretary(session, data["secretary_id"])
    if "leader_name" in data:
        out["leader_name"] = _text(data, "leader_name", "领办书记", 64)
    if "problem" in data:
        out["problem"] = _text(data, "problem", "要解决的问题", MAX_TEXT)
    if "milestones" in data:
        out["milestones"] = list(data["milestones"] or [])
    return out


def create_item(session: Session, actor: User, data: dict[str, Any]) -> LeadItem:
    """Register a 书记领办事项 (admins)."""
    _require(actor, "admin")
    fields = _fields(session, data, None)
    if not fields.get("secretary_id") and not fields.get("leader_name"):
        raise _invalid("请填写领办书记(选择账号或填写姓名)", "leader_name")
    item = LeadItem(**{"leader_name": "", "problem": "", "milestones": [], **fields}, created_by_id=actor.id)
    session.add(item)
    session.flush()
    audit.append(session, actor, "lead_item.create", "lead_item", item.id, {"title": item.title, "level": item.level})
    session.commit()
    return item


def update_item(session: Session, actor: User, item_id: int, data: dict[str, Any]) -> LeadItem:
    """Edit an item's fields, its milestones or its status (admins)."""
    _require(actor, "admin")
    item = get_or_404(session, LeadItem, item_id, "书记领办事项")
    fields = _fields(session, data, item)
    if not fields.get("secretary_id", item.secretary_id) and not fields.get("leader_name", item.leader_name):
        raise _invalid("请填写领办书记(选择账号或填写姓名)", "leader_name")
    for key, value in fields.items():
        setattr(item, key, value)
    audit.append(session, actor, "lead_item.update", "lead_item", item.id, {"fields": sorted(data)})
    session.commit()
    return item


def add_progress(session: Session, actor: User, item_id: int, data: dict[str, Any]) -> LeadItemProgress:
    """Record a progress note; `visible_result` marks it as a visible result (明显成效), restarting the clock."""
    _require(actor, "admin")
    item = get_or_404(session, LeadItem, item_id, "书记领办事项")
    noted_on = _date(data.get("noted_on") or clock.today(), "noted_on", "日期")
    if noted_on > clock.today():
        raise _invalid("日期不能晚于今天", "noted_on")
    if noted_on < item.started_on:
        raise _invalid("日期不能早于事项开始日期", "noted_on")
    entry = LeadItemProgress(
        item_id=item.id,
        noted_on=noted_on,
        text=_text(data, "text", "进展内容", MAX_TEXT, required=True),
        visible_result=bool(data.get("visible_result")),
        author_id=actor.id,
    )
    session.add(entry)
    session.flush()
    audit.append(
        session,
        actor,
        "lead_item.progress",
        "lead_item",
        item.id,
        {"progress_id": entry.id, "noted_on": noted_on.isoformat(), "visible_result": entry.visible_result},
    )
    session.commit()
    return entry


def _suggested_item(session: Session, actor: User, item_id: int) -> LeadItem:
    """The item, locked, when it is suggested today; else a 409 (decided meanwhile, or a result came in)."""
    _require(actor, "admin")
    claim(session, "lead_item", item_id)
    item = session.execute(for_update(select(LeadItem).where(LeadItem.id == item_id))).scalar_one_or_none()
    if item is None:
        raise ApiError("not_found", "找不到该书记领办事项", {"id": item_id})
    if not is_suggested(session, item):
        session.rollback()
        raise ApiError("conflict", "该事项目前不在软弱涣散建议名单中(已处理或已有明显成效)", {"id": item_id})
    return item


def confirm_suggestion(session: Session, actor: User, item_id: int, note: str = "") -> LeadItemDecision:
    """Confirm a suggestion: list the item's organization as 软弱涣散 and record the decision, in one transaction."""
    note = _text({"reason": note}, "reason", "说明", MAX_DECISION_TEXT)
    item = _suggested_item(session, actor, item_id)
    since = result_clock(session, item).since
    reason = f"书记领办事项“{item.title}”自 {since.isoformat()} 起连续2年无明显成效"
    try:
        warning = penalties.create_warning(
            session,
            actor,
            {"organization_id": item.organization_id, "reason": f"{reason}。{note}" if note else reason},
            commit=False,
        )
    except ApiError:
        session.rollback()
        raise
    decision = LeadItemDecision(
        item_id=item.id,
        decision="confirmed",
        decided_on=clock.today(),
        reason=note or reason,
        warning_id=warning.id,
        decided_by_id=actor.id,
    )
    session.add(decision)
    session.flush()
    audit.append(
        session,
        actor,
        "lead_item.confirm",
        "lead_item",
        item.id,
        {"decision_id": decision.id, "warning_id": warning.id},
    )
    session.commit()
    return decision


def dismiss_suggestion(session: Session, actor: User, item_id: int, reason: str) -> LeadItemDecision:
    """Dismiss a suggestion with a reason; the item is counted again from today."""
    text = _text({"reason": reason}, "reason", "不列入的理由", MAX_DECISION_TEXT, required=True)
    item = _suggested_item(session, actor, item_id)
    decision = LeadItemDecision(
        item_id=item.id, decision="dismissed", decided_on=clock.today(), reason=text, decided_by_id=actor.id
    )
    session.add(decision)
    session.flush()
    audit.append(session, actor, "lead_item.dismiss", "lead_item", item.id, {"decision_id": decision.id})
    session.commit()
    return decision
