"""Monthly progress reports (月报) by the project secretary: photos, deadlines, overdue, reminders.

The report for month M is due on day MONTHLY_REPORT_DUE_DAY of month M+1 (China calendar).
A running project owes one report for every month from the month it started.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server import clock
from server.errors import ApiError
from server.models import (
    Photo,
    Project,
    ProjectReport,
    ReportReminder,
    SubscribeCredit,
    User,
    utcnow,
)
from server.services import audit, leases, lifecycle, photos
from server.services.common import for_update
from server.services.projects import project_place
from server.wechat import WeChatError

DRAFT_KIND = "report_draft"
OWNER_KIND = "project_report"
DRAFT_OWNER = photos.DraftOwner("项目月报")
TEMPLATE = "report_reminder"
REMIND_DAYS_BEFORE = 3


# ---- months and deadlines ---------------------------------------------------------------------


def next_month(month: str) -> str:
    """The month after `month`."""
    year, mon = int(month[:4]), int(month[5:])
    return f"{year + mon // 12:04d}-{mon % 12 + 1:02d}"


def due_date(month: str) -> date:
    """The day the report for `month` is due."""
    following = next_month(month)
    return date(int(following[:4]), int(following[5:]), current_app.config["MONTHLY_REPORT_DUE_DAY"])


def start_month(project: Project) -> str | None:
    """The first month a running project owes a report for."""
    if project.started_at is None:
        return None
    return clock.month_of(clock.local_date(project.started_at))


def owed_months(project: Project, today: date) -> list[str]:
    """Every month from the start up to this month (inclusive) a report is owed for."""
    first = start_month(project)
    if first is None or project.status not in ("in_progress", "accepted"):
        return []
    last = clock.month_of(today)
    if project.accepted_at is not None:
        last = min(last, clock.month_of(clock.local_date(project.accepted_at)))
    months, month = [], first
    while month <= last:
        months.append(month)
        month = next_month(month)
    return months


@dataclass(frozen=True)
class ReportState:
    """Where a project stands with its reports today."""

    current_month: str | None  # the month the secretary should be writing now
    current_status: str | None  # None (not started), "draft" or "submitted"
    current_due: date | None
    overdue_months: list[str]

    @property
    def overdue(self) -> bool:
        """True when any owed report is past its due date."""
        return bool(self.overdue_months)


def report_state(session: Session, project: Project, today: date | None = None) -> ReportState:
    """This month's report status and the months whose report is overdue."""
    today = today or clock.today()
    months = owed_months(project, today)
    if not months:
        return ReportState(None, None, None, [])
    statuses = dict(
        session.execute(
            select(ProjectReport.month, ProjectReport.status).where(ProjectReport.project_id == project.id)
        ).all()
    )
    overdue = [m for m in months if statuses.get(m) != "submitted" and due_date(m) < today]
    # Early in a month the previous month's report is still the one to write, until it is in.
    previous = months[-2] if len(months) > 1 else None
    current = (
        previous if previous and statuses.get(previous) != "submitted" and due_date(previous) >= today else months[-1]
    )
    return ReportState(current, statuses.get(current), due_date(current), overdue)


# ---- writing a report -------------------------------------------------------------------------


def _own_project(session: Session, user: User, project_id: int) -> Project:
    project = lifecycle.project_for(session, user, project_id, lock=True)
    if user.id != project.secretary_id:
        raise ApiError("forbidden", "只有本项目书记可以填写月报")
    return project


def reports_of(session: Session, project_id: int) -> list[ProjectReport]:
    """A project's reports, newest month first."""
    return list(
        session.scalars(
            select(ProjectReport).where(ProjectReport.project_id == project_id).order_by(ProjectReport.month.desc())
        )
    )


def photos_of(session: Session, report_ids: list[int]) -> dict[int, list[Photo]]:
    """Ready or pending photos per report id."""
    out: dict[int, list[Photo]] = {i: [] for i in report_ids}
    if report_ids:
        for p in session.scalars(
            select(Photo).where(Photo.owner_kind == OWNER_KIND, Photo.owner_id.in_(report_ids)).order_by(Photo.id)
        ):
            out[p.owner_id].append(p)
    return out


def _attach(session: Session, user: User, report: ProjectReport, photo_ids: list[int]) -> None:
    if not photo_ids:
        return
    found = {p.id: p for p in session.scalars(for_update(select(Photo).where(Photo.id.in_(photo_ids))))}
    bad = [
        i
        for i in photo_ids
        if i not in found
        or found[i].uploader_id != user.id
        or (found[i].owner_kind, found[i].owner_id) not in ((DRAFT_KIND, user.id), (OWNER_KIND, report.id))
    ]
    if bad:
        raise ApiError("validation_failed", "照片不存在、已被使用或不属于您", {"field": "photo_ids", "photo_ids": bad})
    rejected = [i for i in photo_ids if found[i].status == "rejected"]
    if rejected:
        raise ApiError("photo_rejected", "有照片未通过校验,请删除后重新选择", {"photo_ids": rejected})
    project = session.get(Project, report.project_id)
    photos.attach_drafts(
        [found[i] for i in photo_ids if found[i].owner_kind == DRAFT_KIND],
        project_place(session, project),
        session,
        OWNER_KIND,
        report.id,
    )


def save_report(
    session: Session, user: User, project_id: int, month: str, body: dict[str, Any]
) -> tuple[ProjectReport, bool]:
    """Save (and with submit=true hand in) the report for `month`; a retry of the same answers the same.

    A submitted report is final: saving different content again is a 409.
    """
    project = _own_project(session, user, project_id)
    months = owed_months(project, clock.today())
    if month not in months:
        raise ApiError(
            "validation_failed",
            "该月份不需要填写月报(项目尚未实施或月份不正确)",
            {"field": "month", "months": months[-3:]},
        )
    text = body["text"].strip()
    photo_ids = body.get("photo_ids", [])
    submit = body.get("submit", False)
    if submit and not text:
        raise ApiError("validation_failed", "请填写本月工作进展", {"field": "text"})
    report = session.scalars(
        for_update(select(ProjectReport).where(ProjectReport.project_id == project.id, ProjectReport.month == month))
    ).first()
    if report is not None and report.status == "submitted":
        attached = {p.id for p in photos_of(session, [report.id])[report.id]}
        if submit and report.text == text and attached == set(photo_ids):
            return report, False
        raise ApiError("conflict", f"{month} 月报已提交,不能再修改", {"month": month})
    created = report is None
    if created:
        report = ProjectReport(project_id=project.id, month=month, author_id=user.id)
        session.add(report)
        try:
            session.flush()
        except IntegrityError:
            session.rollback()
            raise ApiError("conflict", "月报正在由另一台设备保存,请稍后重试", {"month": month}) from None
    if submit:
        not_ready = [
            p.id for p in session.scalars(select(Photo).where(Photo.id.in_(photo_ids or [-1]))) if p.status == "pending"
        ]
        if not_ready:
            raise ApiError("photo_not_uploaded", "还有照片未上传完成,请稍后重试", {"photo_ids": not_ready})
    # The phone sends the whole list: photos taken off it go back to the uploader's drafts.
    for photo in photos_of(session, [report.id])[report.id]:
        if photo.id not in photo_ids:
            photo.owner_kind, photo.owner_id = DRAFT_KIND, photo.uploader_id
    _attach(session, user, report, photo_ids)
    report.text = text
    if submit:
        report.status, report.submitted_at = "submitted", utcnow()
    audit.append(
        session,
        user,
        "project.report_submit" if submit else "project.report_save",
        "project",
        project.id,
        {"month": month, "photo_ids": photo_ids, "late": due_date(month) < clock.today()},
    )
    session.commit()
    return report, created


# ---- photos: the shared pipeline ---------------------------------------------------------------


def photo_owner(session: Session, photo: Photo) -> photos.OwnerContext:
    """The photo pipeline's view of a monthly report's photo (OWNER_KIND)."""
    report = session.get(ProjectReport, photo.owner_id)
    project = session.get(Project, report.project_id) if report else None
    uploader = session.get(User, photo.uploader_id)
    place = project_place(session, project) if project is not None else None
    return photos.OwnerContext(
        place=place,
        person=uploader.name if uploader else "",
        title=f"月报 · {project.title}" if project else "项目月报",
        can_complete=lambda u: u.id == photo.uploader_id,
        county_id=project.county_id if project else None,
    )


def request_photo(session: Session, user: User, body: dict[str, Any]) -> tuple[Photo, bool]:
    """A ticket for a photo of a report still being written (a draft of its uploader)."""
    return photos.request_draft_photo(
        session, user, body, draft_kind=DRAFT_KIND, owner_kind=OWNER_KIND, write_kind="report.photo"
    )


# ---- reminders (subscribe messages) ----------------------------------------------------------


def add_consent(session: Session, user: User, template: str, accepted: int) -> int:
    """Count the subscribe messages the user just agreed to receive; returns the new balance."""
    credit = session.get(SubscribeCredit, (user.id, template), with_for_update=True, populate_existing=True)
    if credit is None:
        credit = SubscribeCredit(user_id=user.id, template=template, credits=0)
        session.add(credit)
    credit.credits = min(credit.credits + accepted, 100)
    session.commit()
    return credit.credits


def send_subscribe(session: Session, user: User, data: dict[str, Any], about: str) -> str:
    """Send one reminder through the subscribe template, paid by one of the user's consents; the outcome.

    Monthly reports and the quarterly cycle's 调度 share the template (thing1, time2, thing3) and its consents.
    """
    wechat = current_app.extensions.get("wechat")
    template = current_app.config.get("WECHAT_REPORT_TEMPLATE_ID")
    if not (wechat and template and user.openid):
        return "not_configured"
    credit = session.get(SubscribeCredit, (user.id, TEMPLATE), with_for_update=True, populate_existing=True)
    if credit is None or credit.credits <= 0:
        return "no_consent"
    try:
        wechat.send_subscribe_message(
            openid=user.openid, template_id=template, data=data, page=current_app.config["MINIPROGRAM_REPORT_PAGE"]
        )
    except WeChatError as exc:
        current_app.logger.warning("%s not sent: %s", about, exc.code)
        if exc.code == "wechat_not_subscribed":
            credit.credits = 0
        return "failed"
    credit.credits -= 1  # one consent, one message
    return "sent"


def _send(session: Session, user: User, project: Project, month: str, kind: str) -> str:
    data = {
        "thing1": {"value": project.title[:20]},
        "time2": {"value": due_date(month).isoformat()},
        "thing3": {"value": f"{month} 月报{'已逾期' if kind == 'overdue' else '即将到期'},请及时填写"},
    }
    return send_subscribe(session, user, data, f"report reminder for project {project.id}")


def _reminder_row(session: Session, project: Project, month: str, kind: str) -> ReportReminder:
    """The (locked) row of one reminder, created first so that parallel runs wait on it."""
    where = (ReportReminder.project_id == project.id, ReportReminder.month == month, ReportReminder.kind == kind)
    row = session.scalars(for_update(select(ReportReminder).where(*where))).first()
    if row is not None:
        return row
    try:
        session.add(
            ReportReminder(
                project_id=project.id, month=month, kind=kind, user_id=project.secretary_id, outcome="pending"
            )
        )
        session.commit()
    except IntegrityError:
        session.rollback()  # another node created it: wait for its lock below
    return session.scalars(for_update(select(ReportReminder).where(*where))).one()


def _remind_once(session: Session, project: Project, month: str, kind: str) -> str | None:
    """Send one reminder unless it was already sent; an unsent one (no consent, WeChat down) is tried again."""
    row = _reminder_row(session, project, month, kind)
    if row.outcome == "sent":
        session.rollback()
        return None
    secretary = session.get(User, project.secretary_id)
    row.user_id, row.outcome = secretary.id, _send(session, secretary, project, month, kind)
    session.commit()
    return row.outcome


@leases.one_run_at_a_time("remind-reports")
def send_reminders(session: Session, today: date | None = None) -> dict[str, int]:
    """Remind secretaries of reports due within days or overdue; sent at most once per month and kind.

    Run daily (on any number of nodes: one run at a time holds the lease): a reminder that could not be
    sent is tried again the next day.
    """
    today = today or clock.today()
    counts: dict[str, int] = {}
    running = session.scalars(
        select(Project).where(Project.status == "in_progress", Project.secretary_id.is_not(None))
    ).all()
    for project in running:
        state = report_state(session, project, today)
        wanted = [(m, "overdue") for m in state.overdue_months[-1:]]
        if (
            state.current_month
            and state.current_status != "submitted"
            and 0 <= (state.current_due - today).days <= REMIND_DAYS_BEFORE
        ):
            wanted.append((state.current_month, "due"))
        for month, kind in wanted:
            outcome = _remind_once(session, project, month, kind)
            if outcome is not None:
                counts[outcome] = counts.get(outcome, 0) + 1
    return counts
