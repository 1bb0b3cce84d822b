"""The quarterly cycle: 每季度调度一次、实地督导一次、反馈通报一次 (黔江, 海安, 吉安).

Every quarter the department holds a dispatch (调度: a meeting or call with the secretaries),
supervises on site (实地督导: the quarter's inspection rounds) and issues a feedback bulletin
(反馈通报: the round's notice). A year's twelve tasks are generated in one action with default
due days that staff then edit; each has an owner, and is done once someone records the evidence.
Days are China calendar days (server/clock.py): a task is overdue from 00:00 China time on the
day after it was due.

Who sees what: the county's plan says when field supervision happens, which township staff must
not learn ahead of an unannounced visit, so admins and leaders (READERS) see every task and a
township reviewer only the tasks they own. Admins plan (generate, edit, reopen); a task is marked
done by an admin or its owner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from server import clock, tenancy
from server.errors import ApiError
from server.models import (
    QUARTERLY_KINDS,
    STAFF_ROLES,
    InspectionRound,
    Project,
    QuarterlyReminder,
    QuarterlyTask,
    User,
    utcnow,
)
from server.services import audit, leases, reports
from server.services.common import claim, for_update, get_or_404
from server.transactions import is_transaction_conflict

READERS = ("admin", "leader")
PLANNERS = ("admin",)
QUARTER_NAMES = ("第一季度", "第二季度", "第三季度", "第四季度")
# Default due days, as (month of the quarter, day; 0 = the quarter's last day): the dispatch early
# in the quarter sets the work, field supervision follows mid-quarter, the bulletin closes it.
DEFAULT_DUE = {"dispatch": (1, 20), "supervision": (2, 25), "bulletin": (3, 0)}
REMIND_DAYS_BEFORE = 7
MAX_NOTE = 2000
MAX_DOCUMENT = 200
GENERATE_ATTEMPTS = 3  # a run that lost a race reads the year again; the third loss is reported (the API runs it again)


# ---- quarters and days ------------------------------------------------------------------------


def quarter_of(day: date) -> int:
    """The quarter (1..4) a day falls in."""
    return (day.month - 1) // 3 + 1


def quarter_bounds(year: int, quarter: int) -> tuple[date, date]:
    """The first and last day of a quarter."""
    first = date(year, 3 * quarter - 2, 1)
    return first, clock.add_months(first, 3) - timedelta(days=1)


def default_due(year: int, quarter: int, kind: str) -> date:
    """The day a kind of task is due in a quarter unless staff set another."""
    month, day = DEFAULT_DUE[kind]
    if day == 0:
        return quarter_bounds(year, quarter)[1]
    return date(year, 3 * quarter - 3 + month, day)


# ---- who may do what --------------------------------------------------------------------------


def _staff(user: User) -> None:
    if not user.has_role(*STAFF_ROLES):
        raise ApiError("forbidden", "季度工作安排仅限组织部工作人员")


def sees_all(user: User) -> bool:
    """Admins and leaders see the whole county's schedule; reviewers only their own tasks."""
    return user.has_role(*READERS)


def can_plan(user: User) -> bool:
    """Admins generate the year, edit tasks and reopen them."""
    return user.has_role(*PLANNERS)


def can_complete(user: User, task: QuarterlyTask) -> bool:
    """An admin, or the task's owner, marks it done."""
    return can_plan(user) or (task.owner_id is not None and task.owner_id == user.id)


def _visible(user: User, stmt):
    _staff(user)
    return stmt if sees_all(user) else stmt.where(QuarterlyTask.owner_id == user.id)


def _ordered(stmt):
    return stmt.order_by(QuarterlyTask.year, QuarterlyTask.quarter, QuarterlyTask.due_date, QuarterlyTask.id)


# ---- reading ----------------------------------------------------------------------------------


def list_year(session: Session, user: User, year: int) -> list[QuarterlyTask]:
    """The year's tasks the user may see, by quarter and due day."""
    return list(session.scalars(_ordered(_visible(user, select(QuarterlyTask).where(QuarterlyTask.year == year)))))


def get_task(session: Session, user: User, task_id: int) -> QuarterlyTask:
    """One task the user may see, or 404 (a reviewer is not told that others' tasks exist)."""
    _staff(user)
    task = get_or_404(session, QuarterlyTask, task_id, "季度任务")
    if not sees_all(user) and task.owner_id != user.id:
        raise ApiError("not_found", "找不到该季度任务", {"id": task_id})
    return task


@dataclass
class Schedule:
    """A year as a quarter × kind table; a cell is None where the user sees no task."""

    year: int
    today: date
    rows: list[tuple[int, dict[str, QuarterlyTask | None]]]

    @property
    def empty(self) -> bool:
        """True when the user sees no task of the year."""
        return not any(t for _, cells in self.rows for t in cells.values())

    @property
    def complete(self) -> bool:
        """True when every quarter has all three tasks (nothing left to generate)."""
        return all(t for _, cells in self.rows for t in cells.values())


def schedule(session: Session, user: User, year: int, today: date | None = None) -> Schedule:
    """The year's tasks the user may see, laid out by quarter and kind."""
    by_cell = {(t.quarter, t.kind): t for t in list_year(session, user, year)}
    rows = [(q, {k: by_cell.get((q, k)) for k in QUARTERLY_KINDS}) for q in range(1, 5)]
    return Schedule(year, today or clock.today(), rows)


def _round_span(r: InspectionRound, today: date) -> tuple[date, date]:
    start = r.drawn_at or r.frozen_at or r.created_at
    end = r.closed_at
    return clock.local_date(start), clock.local_date(end) if end else today


def rounds_for(session: Session, task: QuarterlyTask, today: date | None = None) -> list[InspectionRound]:
    """The rounds whose field work (drawn to closed) falls in the task's quarter; for a bulletin, closed ones."""
    today = today or clock.today()
    first, last = quarter_bounds(task.year, task.quarter)
    statuses = ("closed",) if task.kind == "bulletin" else ("drawn", "closed")
    found = session.scalars(
        select(InspectionRound).where(InspectionRound.status.in_(statuses)).order_by(InspectionRound.id)
    )
    out = []
    for r in found:
        start, end = _round_span(r, today)
        if start <= last and end >= first:
            out.append(r)
    return out


# ---- writing ----------------------------------------------------------------------------------


def _plan_only(user: User) -> None:
    _staff(user)
    if not can_plan(user):
        raise ApiError("forbidden", "只有管理员可以安排季度工作")


def generate_year(session: Session, actor: User, year: int) -> tuple[list[QuarterlyTask], int]:
    """Create the year's missing tasks with default due days; returns the year's tasks and how many were new.

    Safe to repeat and to run several times at once. Each run first claims the county's year
    (common.claim): on one database node the others wait for it, on a Galera cluster all but one
    are refused at commit. A run refused that way, or whose insert met the unique key
    (county, year, quarter, kind) of tasks another run made, rolls back and reads the year again,
    so it finds the tasks there and creates none.
    """
    _plan_only(actor)
    today = clock.today()
    if not today.year - 1 <= year <= today.year + 1:
        raise ApiError("validation_failed", "只能生成上一年至下一年的季度工作安排", {"field": "year"})
    tenancy.refuse_writes(actor)
    county = tenancy.county_for(session, actor)
    if county is None:
        raise ApiError("forbidden", "请以本县管理员账号生成季度工作安排", {"reason": "no_county"})
    for attempt in range(1, GENERATE_ATTEMPTS + 1):
        try:
            claim(session, "quarterly_year", f"{county}:{year}")
            have = {
                (t.quarter, t.kind) for t in session.scalars(select(QuarterlyTask).where(QuarterlyTask.year == year))
            }
            missing = [(q, k) for q in range(1, 5) for k in QUARTERLY_KINDS if (q, k) not in have]
            if not missing:
                session.rollback()
                return list_year(session, actor, year), 0
            for q, k in missing:
                session.add(QuarterlyTask(year=year, quarter=q, kind=k, due_date=default_due(year, q, k)))
            session.flush()
            audit.append(session, actor, "quarterly.generate", "quarterly_year", year, {"created": len(missing)})
            session.commit()
        except (IntegrityError, OperationalError) as exc:
            session.rollback()
            if attempt == GENERATE_ATTEMPTS or not _lost_a_race(session, exc):
                raise
            continue
        return list_year(session, actor, year), len(missing)
    raise AssertionError("unreachable")


def _lost_a_race(session: Session, exc: IntegrityError | OperationalError) -> bool:
    """Whether a failed generation met another one: a deadlock, lock-wait timeout or duplicate key
    (by MariaDB's error code); on SQLite, whose errors carry no code, any integrity error (the only
    constraint the insert can meet there is the unique key)."""
    sqlite_race = session.get_bind().dialect.name == "sqlite" and isinstance(exc, IntegrityError)
    return sqlite_race or is_transaction_conflict(exc)


def _locked(session: Session, task_id: int) -> QuarterlyTask:
    task = session.scalars(for_update(select(QuarterlyTask).where(QuarterlyTask.id == task_id))).first()
    if task is None:
        raise ApiError("not_found", "找不到该季度任务", {"id": task_id})
    return task


def _owner(session: Session, owner_id: int | None) -> int | None:
    if owner_id is None:
        return None
    user = session.get(User, owner_id)
    if user is None or not user.active or not user.has_role(*STAFF_ROLES):
        raise ApiError("validation_failed", "责任人须为在岗的组织部工作人员", {"field": "owner_id"})
    return user.id


def update_task(session: Session, actor: User, task_id: int, data: dict[str, Any]) -> QuarterlyTask:
    """Change a task's due day, owner or plan notes (admins)."""
    _plan_only(actor)
    task = _locked(session, task_id)
    changed: dict[str, Any] = {}
    if "due_date" in data:
        due = _day(data["due_date"])
        first, last = quarter_bounds(task.year, task.quarter)
        # The bulletin of a quarter may come out in the first weeks of the next one.
        if not first <= due <= last + timedelta(days=31):
            raise ApiError(
                "validation_failed",
                f"截止日期须在{task.year}年{QUARTER_NAMES[task.quarter - 1]}内(反馈通报可延至下季度首月)",
                {"field": "due_date"},
            )
        if due != task.due_date:
            changed["due_date"] = [task.due_date.isoformat(), due.isoformat()]
            task.due_date = due
    if "owner_id" in data:
        owner = _owner(session, data["owner_id"])
        if owner != task.owner_id:
            changed["owner_id"] = [task.owner_id, owner]
            task.owner_id = owner
    if "notes" in data:
        notes = (data["notes"] or "").strip()[:MAX_NOTE]
        if notes != task.notes:
            changed["notes"] = True
            task.notes = notes
    if changed:
        audit.append(session, actor, "quarterly.update", "quarterly_task", task.id, changed)
    session.commit()
    return task


def _day(value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ApiError("validation_failed", "日期格式应为 YYYY-MM-DD", {"field": "due_date"}) from None


def complete_task(session: Session, actor: User, task_id: int, data: dict[str, Any]) -> QuarterlyTask:
    """Mark a task done with its evidence (a round of the quarter, a note, a document's name); records who and when."""
    _staff(actor)
    task = _locked(session, task_id)
    if not sees_all(actor) and task.owner_id != actor.id:
        raise ApiError("not_found", "找不到该季度任务", {"id": task_id})
    if not can_complete(actor, task):
        raise ApiError("forbidden", "只有管理员或该任务的责任人可以标记完成")
    if task.done:
        raise ApiError("conflict", "该任务已标记完成", {"done_at": task.done_at.isoformat()})
    note = (data.get("note") or "").strip()
    document = (data.get("document") or "").strip()
    round_id = data.get("round_id")
    if len(note) > MAX_NOTE or len(document) > MAX_DOCUMENT:
        raise ApiError("validation_failed", "佐证内容过长", {"field": "note" if len(note) > MAX_NOTE else "document"})
    if round_id is None and not note and not document:
        raise ApiError(
            "validation_failed", "请至少提供一项佐证:关联的抽查轮次、会议记录或印发文件名称", {"field": "evidence"}
        )
    if round_id is not None and round_id not in {r.id for r in rounds_for(session, task)}:
        raise ApiError(
            "validation_failed",
            "所选抽查轮次不属于本季度" + ("或尚未结束" if task.kind == "bulletin" else "或尚未抽取"),
            {"field": "round_id"},
        )
    task.done_at, task.done_by_id = utcnow(), actor.id
    task.round_id, task.evidence_note, task.evidence_document = round_id, note, document
    audit.append(
        session,
        actor,
        "quarterly.complete",
        "quarterly_task",
        task.id,
        {"round_id": round_id, "note": bool(note), "document": document, "late": task.due_date < clock.today()},
    )
    session.commit()
    return task


def reopen_task(session: Session, actor: User, task_id: int) -> QuarterlyTask:
    """Undo a task's completion (admins), keeping the record of it in the audit log."""
    _plan_only(actor)
    task = _locked(session, task_id)
    if not task.done:
        raise ApiError("conflict", "该任务尚未完成")
    audit.append(
        session,
        actor,
        "quarterly.reopen",
        "quarterly_task",
        task.id,
        {"done_at": task.done_at.isoformat(), "done_by_id": task.done_by_id, "round_id": task.round_id},
    )
    task.done_at = task.done_by_id = task.round_id = None
    task.evidence_note = task.evidence_document = ""
    session.commit()
    return task


# ---- the dashboard tile -----------------------------------------------------------------------


@dataclass
class Tile:
    """What the dashboard shows of the cycle: this quarter's tasks, every overdue one, the user's notices."""

    year: int
    quarter: int
    today: date
    this_quarter: list[QuarterlyTask]
    overdue: list[QuarterlyTask]
    notices: list[tuple[QuarterlyReminder, QuarterlyTask]] = field(default_factory=list)
    generated: bool = True  # False: the year has no schedule yet

    @property
    def quarter_name(self) -> str:
        """'2026 年第四季度'."""
        return f"{self.year} 年{QUARTER_NAMES[self.quarter - 1]}"

    def state(self, task: QuarterlyTask) -> str:
        """done | overdue | due, as of the tile's day."""
        return task.state(self.today)

    @property
    def overdue_earlier(self) -> list[QuarterlyTask]:
        """Overdue tasks of earlier quarters (this quarter's are in its own list)."""
        return [t for t in self.overdue if (t.year, t.quarter) != (self.year, self.quarter)]


def tile(session: Session, user: User, today: date | None = None) -> Tile:
    """This quarter's tasks and all overdue ones the user may see, and console notices addressed to the user."""
    today = today or clock.today()
    year, quarter = today.year, quarter_of(today)
    current = list(
        session.scalars(
            _ordered(
                _visible(
                    user, select(QuarterlyTask).where(QuarterlyTask.year == year, QuarterlyTask.quarter == quarter)
                )
            )
        )
    )
    overdue = list(
        session.scalars(
            _ordered(
                _visible(
                    user, select(QuarterlyTask).where(QuarterlyTask.done_at.is_(None), QuarterlyTask.due_date < today)
                )
            )
        )
    )
    notices = session.execute(
        select(QuarterlyReminder, QuarterlyTask)
        .join(QuarterlyTask, QuarterlyTask.id == QuarterlyReminder.task_id)
        .where(
            QuarterlyReminder.user_id == user.id,
            QuarterlyReminder.channel == "console",
            # A notice stays with the task's owner: reassigned, it goes to the new one's next run.
            QuarterlyTask.owner_id == user.id,
            QuarterlyTask.done_at.is_(None),
        )
        .order_by(QuarterlyReminder.id.desc())
    ).all()
    # One notice per task: the newest (an overdue one replaces the earlier "due soon").
    latest: dict[int, tuple[QuarterlyReminder, QuarterlyTask]] = {}
    for reminder, task in notices:
        latest.setdefault(task.id, (reminder, task))
    generated = session.scalar(select(QuarterlyTask.id).where(QuarterlyTask.year == year).limit(1)) is not None
    return Tile(year, quarter, today, current, overdue, list(latest.values()), generated)


# ---- reminders --------------------------------------------------------------------------------


def _reminder_row(session: Session, task: QuarterlyTask, kind: str, user_id: int, channel: str) -> QuarterlyReminder:
    """The (locked) row of one reminder, created first so that parallel runs wait on it."""
    where = (QuarterlyReminder.task_id == task.id, QuarterlyReminder.kind == kind, QuarterlyReminder.user_id == user_id)
    row = session.scalars(for_update(select(QuarterlyReminder).where(*where))).first()
    if row is not None:
        return row
    try:
        session.add(QuarterlyReminder(task_id=task.id, kind=kind, user_id=user_id, channel=channel, outcome="pending"))
        session.commit()
    except IntegrityError:
        session.rollback()  # another node created it: wait for its lock below
    return session.scalars(for_update(select(QuarterlyReminder).where(*where))).one()


def _dispatch_message(task: QuarterlyTask) -> dict[str, Any]:
    return {
        "thing1": {"value": f"{QUARTER_NAMES[task.quarter - 1]}书记项目调度"},
        "time2": {"value": task.due_date.isoformat()},
        "thing3": {"value": "组织部将召开季度调度会,请准备项目进展汇报"},
    }


def _remind_once(session: Session, task: QuarterlyTask, kind: str, user: User, channel: str) -> str | None:
    """Send one reminder unless it was already sent; an unsent one (no consent, WeChat down) is tried again."""
    row = _reminder_row(session, task, kind, user.id, channel)
    if row.outcome == "sent":
        session.rollback()
        return None
    if channel == "console":
        row.outcome = "sent"  # the row is the notice: the owner's console shows it until the task is done
    else:
        row.outcome = reports.send_subscribe(
            session, user, _dispatch_message(task), f"quarterly dispatch reminder {task.id} to user {user.id}"
        )
    session.commit()
    return row.outcome


def _dispatch_secretaries(session: Session) -> list[User]:
    """The secretaries of running projects: the people a quarter's 调度 concerns."""
    return list(
        session.scalars(
            select(User)
            .where(
                User.active.is_(True),
                User.id.in_(
                    select(Project.secretary_id).where(
                        Project.status == "in_progress", Project.secretary_id.is_not(None)
                    )
                ),
            )
            .order_by(User.id)
        )
    )


@leases.one_run_at_a_time("remind-quarterly")
def send_reminders(
    session: Session, today: date | None = None, days_before: int = REMIND_DAYS_BEFORE
) -> dict[str, int]:
    """Remind owners of tasks due within `days_before` days or overdue, and secretaries of a coming 调度.

    Each reminder goes at most once per task, kind and person; run daily on any number of nodes.
    The owner's reminder is a console notice; a 调度 due soon also goes to every secretary of a
    running project as a subscribe message (paid by their consents, as the 月报 reminders are).
    """
    today = today or clock.today()
    counts: dict[str, int] = {}

    def count(outcome: str | None) -> None:
        if outcome is not None:
            counts[outcome] = counts.get(outcome, 0) + 1

    open_tasks = session.scalars(
        _ordered(
            select(QuarterlyTask).where(
                QuarterlyTask.done_at.is_(None), QuarterlyTask.due_date <= today + timedelta(days=days_before)
            )
        )
    ).all()
    secretaries: list[User] | None = None
    for task in open_tasks:
        kind = "overdue" if task.due_date < today else "due"
        owner = session.get(User, task.owner_id) if task.owner_id else None
        if owner is None:
            count("no_owner")
        else:
            count(_remind_once(session, task, kind, owner, "console"))
        if task.kind == "dispatch" and kind == "due":
            if secretaries is None:
                secretaries = _dispatch_secretaries(session)
            for secretary in secretaries:
                count(_remind_once(session, task, kind, secretary, "wechat"))
    session.rollback()
    return counts
