"""联系组工干部 and the "1+1 蹲点" routine: each project's liaison cadre (a staff account), the contacts
they log (每周电话、每月调研、每季汇报), what is due, the reminders, and each cadre's workload.

Periods are counted in China time: the week is the ISO week (Monday to Sunday), the month and the
quarter the calendar's. An item is `done` when a contact of its kind was logged in the current
period, `overdue` when the previous period (all of it after the project started) passed without
one and none is logged yet, otherwise `due` until the period's last day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server import clock
from server.errors import ApiError
from server.models import (
    CONTACT_KINDS,
    CadreReminder,
    LiaisonContact,
    Project,
    Site,
    SubscribeCredit,
    User,
    UserRole,
    Village,
    project_villages,
)
from server.services import audit, leases
from server.services.common import for_update, get_or_404
from server.wechat import WeChatError

LIAISON = "联系组工干部"  # the key of Project.responsible that names the cadre publicly
# Who may be a project's liaison cadre: the department's staff, and 组工干部 without review duties.
LIAISON_ROLES = ("admin", "leader", "reviewer", "cadre")
# Who sees every project's contacts and every cadre's workload.
COUNTY_ROLES = ("admin", "leader")
# The projects the routine runs for: approved and not yet accepted or closed.
ROUTINE_STATUSES = ("approved", "in_progress")
ROUTINE_LABELS = {"phone": "每周电话联络", "visit": "每月联系点调研", "report": "每季工作汇报"}
STATE_LABELS = {"done": "已完成", "due": "待完成", "overdue": "已逾期"}
# A due item is reminded once this few days (or fewer) are left of its period; an overdue one at once.
REMIND_DAYS_LEFT = {"phone": 2, "visit": 5, "report": 10}
MAX_SUMMARY = 2000
# The subscribe template and consents are the monthly report reminder's (services/reports.py).
TEMPLATE = "report_reminder"


# ---- the liaison cadre of a project -------------------------------------------------------------


def candidates(session: Session) -> list[User]:
    """The active accounts that may be a liaison cadre, by name."""
    holders = select(UserRole.user_id).where(UserRole.role.in_(LIAISON_ROLES))
    return list(session.scalars(select(User).where(User.active.is_(True), User.id.in_(holders)).order_by(User.name)))


def _cadre(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.active or not user.has_role(*LIAISON_ROLES):
        raise ApiError("validation_failed", "联系组工干部须为有效的组织部工作人员账号", {"field": "liaison_cadre_id"})
    return user


def name_candidates(text: str) -> set[str]:
    """The names free text may give: the whole text and its last word ("县委组织部 胡颖" → 胡颖)."""
    text = " ".join(str(text or "").split())
    return {text, text.rsplit(" ", 1)[-1]} if text else set()


def match_account(session: Session, text: str) -> User | None:
    """The one liaison-capable account free text names; None when it names nobody or several people."""
    names = name_candidates(text)
    found = {u.id: u for u in candidates(session) if u.name.strip() in names}
    return next(iter(found.values())) if len(found) == 1 else None


def apply_liaison(session: Session, project: Project, data: dict[str, Any], before: str = "") -> None:
    """Set the project's liaison from `data` (liaison_cadre_id) and keep its public name in step.

    A linked cadre's name is what responsible["联系组工干部"] shows; without a link the free text
    stays (`before`, when a form sent the other responsible people only), unless a link was removed.
    """
    unlinked = "liaison_cadre_id" in data and data["liaison_cadre_id"] is None and project.liaison_cadre_id
    if "liaison_cadre_id" in data:
        project.liaison_cadre_id = _cadre(session, data["liaison_cadre_id"]).id if data["liaison_cadre_id"] else None
    responsible = dict(project.responsible or {})
    if project.liaison_cadre_id is not None:
        responsible[LIAISON] = session.get(User, project.liaison_cadre_id).name
    elif unlinked:
        responsible.pop(LIAISON, None)
    elif before and not str(responsible.get(LIAISON) or "").strip():
        responsible[LIAISON] = before
    project.responsible = responsible


def unlinked_projects(session: Session) -> list[Project]:
    """Projects whose 联系组工干部 is free text matched to no account: the admin links them."""
    rows = session.scalars(select(Project).where(Project.liaison_cadre_id.is_(None)).order_by(Project.id))
    return [p for p in rows if str((p.responsible or {}).get(LIAISON) or "").strip()]


def link(session: Session, actor: User, project_id: int, cadre_id: int) -> Project:
    """Link a project's liaison to an account (the admin, after the migration left it as text)."""
    project = get_or_404(session, Project, project_id, "项目")
    if not cadre_id:
        raise ApiError("validation_failed", "请选择联系组工干部账号", {"field": "cadre_id"})
    text = str((project.responsible or {}).get(LIAISON) or "")
    apply_liaison(session, project, {"liaison_cadre_id": cadre_id})
    audit.append(session, actor, "project.liaison", "project", project.id, {"cadre_id": cadre_id, "text": text})
    session.commit()
    return project


def link_by_name(session: Session, actor: User) -> int:
    """Link every unlinked project whose text names exactly one account; returns how many were linked."""
    linked = 0
    for project in unlinked_projects(session):
        text = str(project.responsible[LIAISON])
        cadre = match_account(session, text)
        if cadre is not None:
            apply_liaison(session, project, {"liaison_cadre_id": cadre.id})
            audit.append(session, actor, "project.liaison", "project", project.id, {"cadre_id": cadre.id, "text": text})
            linked += 1
    session.commit()
    return linked


# ---- who sees which project's contacts ---------------------------------------------------------


def project_townships(session: Session, project: Project) -> set[int]:
    """The townships a project lies in: its villages', or its site's."""
    found = set(
        session.scalars(
            select(Village.township_id)
            .join(project_villages, project_villages.c.village_id == Village.id)
            .where(project_villages.c.project_id == project.id)
        )
    )
    if project.site_id is not None:
        township = session.scalar(select(Site.township_id).where(Site.id == project.site_id))
        found |= {township} if township is not None else set()
    return found


def may_read(session: Session, user: User, project: Project) -> bool:
    """County staff, the project's own liaison cadre, and a reviewer of its township read its contacts."""
    if user.has_role(*COUNTY_ROLES) or project.liaison_cadre_id == user.id:
        return True
    return user.has_role("reviewer") and bool(project_townships(session, project) & {t.id for t in user.townships})


def readable_project(session: Session, user: User, project_id: int) -> Project:
    """The project if `user` may read its contacts; 404 otherwise (nobody learns it exists)."""
    project = session.get(Project, project_id)
    if project is None or not may_read(session, user, project):
        raise ApiError("not_found", "项目不存在", {"id": project_id})
    return project


def my_projects(session: Session, user: User) -> list[Project]:
    """The projects `user` is liaison cadre of, newest year first."""
    stmt = select(Project).where(Project.liaison_cadre_id == user.id).order_by(Project.year.desc(), Project.id)
    return list(session.scalars(stmt))


def is_liaison(session: Session, user: User) -> bool:
    """True when `user` is the liaison cadre of any project."""
    return session.scalar(select(Project.id).where(Project.liaison_cadre_id == user.id).limit(1)) is not None


# ---- periods and the routine's state ------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """One period of a routine item: its key ("2026-W49", "2026-12", "2026Q4") and first and last days."""

    key: str
    starts: date
    ends: date


def period_of(kind: str, day: date) -> Period:
    """The period of `kind` (phone: ISO week, visit: month, report: quarter) that contains `day`."""
    if kind == "phone":
        year, week, weekday = day.isocalendar()
        monday = day - timedelta(days=weekday - 1)
        return Period(f"{year}-W{week:02d}", monday, monday + timedelta(days=6))
    if kind == "visit":
        first = day.replace(day=1)
        return Period(clock.month_of(day), first, clock.add_months(first, 1) - timedelta(days=1))
    quarter = (day.month - 1) // 3
    first = date(day.year, quarter * 3 + 1, 1)
    return Period(f"{day.year}Q{quarter + 1}", first, clock.add_months(first, 3) - timedelta(days=1))


@dataclass(frozen=True)
class RoutineItem:
    """One item of a project's routine now: the period, its state, and the last contact of its kind."""

    kind: str
    period: Period
    state: str  # done | due | overdue
    last_contact_on: date | None

    @property
    def label(self) -> str:
        """每周电话联络 …"""
        return ROUTINE_LABELS[self.kind]

    @property
    def state_label(self) -> str:
        """已完成 / 待完成 / 已逾期."""
        return STATE_LABELS[self.state]


def _watched_since(project: Project) -> date:
    """The first day the routine applies to the project: the day it started, or was decided or registered."""
    moment = project.started_at or project.decided_at or project.created_at
    return clock.local_date(moment) if moment else date.min


def routine(session: Session, projects: list[Project], today: date | None = None) -> dict[int, list[RoutineItem]]:
    """Each running project's three routine items as of `today` (China); others get none."""
    today = today or clock.today()
    running = [p for p in projects if p.status in ROUTINE_STATUSES and p.liaison_cadre_id is not None]
    if not running:
        return {}
    since = min(period_of(kind, today).starts for kind in CONTACT_KINDS) - timedelta(days=92)
    days: dict[tuple[int, str], list[date]] = {}
    rows = session.execute(
        select(LiaisonContact.project_id, LiaisonContact.kind, LiaisonContact.contact_on).where(
            LiaisonContact.project_id.in_([p.id for p in running]),
            LiaisonContact.contact_on >= since,
            LiaisonContact.contact_on <= today,
        )
    )
    for pid, kind, day in rows:
        days.setdefault((pid, kind), []).append(day)
    out: dict[int, list[RoutineItem]] = {}
    for project in running:
        items = []
        for kind in CONTACT_KINDS:
            current = period_of(kind, today)
            previous = period_of(kind, current.starts - timedelta(days=1))
            logged = days.get((project.id, kind), [])
            if any(current.starts <= d <= current.ends for d in logged):
                state = "done"
            elif _watched_since(project) <= previous.starts and not any(
                previous.starts <= d <= previous.ends for d in logged
            ):
                state = "overdue"
            else:
                state = "due"
            items.append(RoutineItem(kind, current, state, max(logged, default=None)))
        out[project.id] = items
    return out


# ---- contacts -------------------------------------------------------------------------------------


def _contact_day(value: Any, today: date) -> date:
    if value in (None, ""):
        return today
    try:
        day = value if isinstance(value, date) else date.fromisoformat(str(value))
    except ValueError:
        raise ApiError("validation_failed", "日期格式应为 YYYY-MM-DD", {"field": "contact_on"}) from None
    if day > today:
        raise ApiError("validation_failed", "联系日期不能晚于今天", {"field": "contact_on"})
    if day < today - timedelta(days=366):
        raise ApiError("validation_failed", "联系日期不能早于一年前", {"field": "contact_on"})
    return day


def log_contact(session: Session, actor: User, project_id: int, data: dict[str, Any]) -> LiaisonContact:
    """Log one contact (电话/调研/汇报) by the project's liaison cadre, or by an admin on their behalf."""
    project = session.get(Project, project_id)
    if project is None or not (project.liaison_cadre_id == actor.id or actor.has_role("admin")):
        raise ApiError("not_found", "项目不存在或您不是该项目的联系组工干部", {"id": project_id})
    if project.liaison_cadre_id is None:
        raise ApiError("conflict", "该项目尚未关联联系组工干部账号", {"field": "liaison_cadre_id"})
    kind = data.get("kind")
    if kind not in CONTACT_KINDS:
        raise ApiError("validation_failed", "请选择联系方式:电话、调研或汇报", {"field": "kind"})
    summary = str(data.get("summary") or "").strip()
    if not summary:
        raise ApiError("validation_failed", "请填写联系情况", {"field": "summary"})
    if len(summary) > MAX_SUMMARY:
        raise ApiError("validation_failed", f"联系情况不能超过 {MAX_SUMMARY} 字", {"field": "summary"})
    contact = LiaisonContact(
        project_id=project.id,
        cadre_id=project.liaison_cadre_id,
        kind=kind,
        contact_on=_contact_day(data.get("contact_on"), clock.today()),
        summary=summary,
        author_id=actor.id,
    )
    session.add(contact)
    session.flush()
    audit.append(
        session,
        actor,
        "liaison.contact",
        "project",
        project.id,
        {"contact_id": contact.id, "kind": kind, "contact_on": contact.contact_on.isoformat()},
    )
    session.commit()
    return contact


def contacts_of(session: Session, user: User, project_id: int, limit: int = 100) -> list[LiaisonContact]:
    """A project's contacts, newest first, for those who may read them."""
    project = readable_project(session, user, project_id)
    stmt = (
        select(LiaisonContact)
        .where(LiaisonContact.project_id == project.id)
        .order_by(LiaisonContact.contact_on.desc(), LiaisonContact.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


def recent_contacts(session: Session, project_ids: list[int], limit: int = 50) -> list[LiaisonContact]:
    """The newest contacts of the given projects (the caller has checked who may read them)."""
    if not project_ids:
        return []
    stmt = (
        select(LiaisonContact)
        .where(LiaisonContact.project_id.in_(project_ids))
        .order_by(LiaisonContact.contact_on.desc(), LiaisonContact.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))


# ---- workload -------------------------------------------------------------------------------------


@dataclass
class Workload:
    """One cadre's liaison projects, their contacts this month and quarter, and overdue routine items."""

    cadre: User
    projects: list[Project]
    contacts_month: int
    contacts_quarter: int
    overdue: int
    routine: dict[int, list[RoutineItem]]


def workload(session: Session, viewer: User, cadre_id: int | None = None, today: date | None = None) -> list[Workload]:
    """Each cadre's workload (one cadre's with `cadre_id`): county staff see all, anyone else only their own."""
    today = today or clock.today()
    if not viewer.has_role(*COUNTY_ROLES):
        if cadre_id not in (None, viewer.id):
            raise ApiError("forbidden", "只能查看本人的联系项目", {})
        cadre_id = viewer.id
    stmt = select(Project).where(Project.liaison_cadre_id.is_not(None)).order_by(Project.year.desc(), Project.id)
    if cadre_id is not None:
        stmt = stmt.where(Project.liaison_cadre_id == cadre_id)
    projects = list(session.scalars(stmt))
    cadre_ids = {p.liaison_cadre_id for p in projects} | ({cadre_id} if cadre_id is not None else set())
    cadre_role = select(UserRole.user_id).where(UserRole.role == "cadre")
    if cadre_id is None:  # cadres without projects yet show too: someone has to give them one
        cadre_ids |= set(session.scalars(select(User.id).where(User.active.is_(True), User.id.in_(cadre_role))))
    people = {u.id: u for u in session.scalars(select(User).where(User.id.in_(cadre_ids or {-1})))}
    month, quarter = period_of("visit", today), period_of("report", today)
    counts = session.execute(
        select(
            LiaisonContact.cadre_id,
            func.sum(case((LiaisonContact.contact_on >= month.starts, 1), else_=0)),
            func.count(),
        )
        .where(
            LiaisonContact.cadre_id.in_(cadre_ids or {-1}),
            LiaisonContact.contact_on >= quarter.starts,
            LiaisonContact.contact_on <= today,
        )
        .group_by(LiaisonContact.cadre_id)
    )
    by_cadre = {cid: (int(m or 0), q) for cid, m, q in counts}
    states = routine(session, projects, today)
    out = []
    for cid, person in sorted(people.items(), key=lambda kv: kv[1].name):
        own = [p for p in projects if p.liaison_cadre_id == cid]
        overdue = sum(1 for p in own for item in states.get(p.id, []) if item.state == "overdue")
        m, q = by_cadre.get(cid, (0, 0))
        out.append(Workload(person, own, m, q, overdue, {p.id: states.get(p.id, []) for p in own}))
    return out


# ---- reminders ------------------------------------------------------------------------------------


def _wechat(session: Session, cadre: User, project: Project, item: RoutineItem) -> str:
    """The WeChat side of a reminder: sent, or the console notice alone (not bound, no consent), or failed."""
    wechat = current_app.extensions.get("wechat")
    template = current_app.config.get("WECHAT_REPORT_TEMPLATE_ID")
    if not (wechat and template and cadre.openid):
        return "notice"
    credit = session.get(SubscribeCredit, (cadre.id, TEMPLATE), with_for_update=True, populate_existing=True)
    if credit is None or credit.credits <= 0:
        return "notice"
    said = "已逾期" if item.state == "overdue" else "本期待完成"
    data = {
        "thing1": {"value": project.title[:20]},
        "time2": {"value": item.period.ends.isoformat()},
        "thing3": {"value": f"{item.label}{said}"[:20]},
    }
    try:
        wechat.send_subscribe_message(openid=cadre.openid, template_id=template, data=data)
    except WeChatError as exc:
        current_app.logger.warning("liaison reminder for project %s not sent: %s", project.id, exc.code)
        if exc.code == "wechat_not_subscribed":
            credit.credits = 0
            return "notice"
        return "failed"
    credit.credits -= 1
    return "sent"


def _reminder_row(session: Session, project: Project, item: RoutineItem) -> CadreReminder:
    """The (locked) row of one reminder, created first so that parallel runs wait on it."""
    where = (
        CadreReminder.project_id == project.id,
        CadreReminder.kind == item.kind,
        CadreReminder.period == item.period.key,
    )
    row = session.scalars(for_update(select(CadreReminder).where(*where))).first()
    if row is not None:
        return row
    try:
        session.add(
            CadreReminder(
                project_id=project.id,
                kind=item.kind,
                period=item.period.key,
                state=item.state,
                cadre_id=project.liaison_cadre_id,
                outcome="pending",
            )
        )
        session.commit()
    except IntegrityError:
        session.rollback()  # another run created it: wait for its lock below
    return session.scalars(for_update(select(CadreReminder).where(*where))).one()


def _remind_once(session: Session, project: Project, item: RoutineItem) -> str | None:
    """Remind of one item once per period; only a WeChat failure is tried again on the next run."""
    row = _reminder_row(session, project, item)
    if row.outcome not in ("pending", "failed"):
        session.rollback()
        return None
    cadre = session.get(User, project.liaison_cadre_id)
    row.cadre_id, row.state, row.outcome = cadre.id, item.state, _wechat(session, cadre, project, item)
    session.commit()
    return row.outcome


def wanted(item: RoutineItem, today: date) -> bool:
    """Whether an item is worth a reminder today: overdue, or due with few days of its period left."""
    return item.state == "overdue" or (
        item.state == "due" and (item.period.ends - today).days <= REMIND_DAYS_LEFT[item.kind]
    )


@leases.one_run_at_a_time("remind-cadres")
def send_reminders(session: Session, today: date | None = None) -> dict[str, int]:
    """Remind each liaison cadre of routine items due or overdue, at most once per item and period.

    Run daily (on any number of nodes): every reminder is a console notice on 我的联系项目, and a
    subscribe message too for a cadre bound to WeChat who consented.
    """
    today = today or clock.today()
    projects = list(
        session.scalars(
            select(Project).where(Project.status.in_(ROUTINE_STATUSES), Project.liaison_cadre_id.is_not(None))
        )
    )
    counts: dict[str, int] = {}
    for project in projects:
        for item in routine(session, [project], today).get(project.id, []):
            if wanted(item, today):
                outcome = _remind_once(session, project, item)
                if outcome is not None:
                    counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def notices(session: Session, user: User, today: date | None = None) -> list[tuple[CadreReminder, Project]]:
    """The reminders of the current periods for `user`'s projects whose item is still not done."""
    today = today or clock.today()
    mine = my_projects(session, user)
    states = routine(session, mine, today)
    open_items = {(pid, i.kind, i.period.key) for pid, items in states.items() for i in items if i.state != "done"}
    if not open_items:
        return []
    by_id = {p.id: p for p in mine}
    rows = session.scalars(
        select(CadreReminder)
        .where(
            CadreReminder.project_id.in_(list(by_id)),
            CadreReminder.period.in_({key for _, _, key in open_items}),
        )
        .order_by(CadreReminder.created_at.desc())
    )
    return [(r, by_id[r.project_id]) for r in rows if (r.project_id, r.kind, r.period) in open_items]
