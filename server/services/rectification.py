"""Rectification orders (整改通知): issue from findings, the secretary's reply, verification, closing.

An order goes to the project's organization and its secretary; it carries the findings as
items and never anything from the interviews of the visit it came from, because villagers
must be able to speak to inspectors without the village learning who said what.
Status runs issued → responded → verified → closed; "overdue" is not stored but derived
from the deadline, so it can never be stale.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import Session

from server import clock
from server.errors import ApiError
from server.models import (
    RECTIFICATION_STATUSES,
    ChecklistResult,
    Photo,
    Project,
    RectificationOrder,
    Township,
    User,
    Visit,
    utcnow,
)
from server.services import audit, idempotency, photos, review
from server.services.common import for_update, get_or_404, paginate
from server.services.projects import Place, place_of, project_place

DEFAULT_MONTHS = 3  # the seeds' 软弱涣散 practice: three months to put things right
OPEN_STATUSES = ("issued", "responded")
MAX_ITEMS = 50
MAX_ITEM_CHARS = 500
# Photo.owner_kind holds 16 characters, so the draft kind is abbreviated.
DRAFT_KIND = "rect_draft"
OWNER_KIND = "rectification"
DRAFT_OWNER = photos.DraftOwner("整改反馈")


# ---- dates ---------------------------------------------------------------------------------


def default_deadline(issued_at: datetime) -> date:
    """Three months after the China calendar day of issue."""
    return clock.add_months(clock.local_date(issued_at), DEFAULT_MONTHS)


def is_overdue(order: RectificationOrder, today: date | None = None) -> bool:
    """True when the order is still open and its deadline has passed."""
    return order.status in OPEN_STATUSES and order.deadline < (today or clock.today())


def days_overdue(order: RectificationOrder, today: date | None = None) -> int:
    """Whole days past the deadline of an overdue order (0 when not overdue)."""
    today = today or clock.today()
    return (today - order.deadline).days if is_overdue(order, today) else 0


# ---- scope ---------------------------------------------------------------------------------


def scoped_orders(user: User) -> Select:
    """A select of the orders this user may read (county staff all, reviewers, secretaries their own)."""
    # Reviewers by township, secretaries by the projects they answer for; both when a user is both.
    stmt = select(RectificationOrder)
    if user.has_role("admin", "leader"):
        return stmt
    conditions = []
    if user.has_role("reviewer"):
        conditions.append(RectificationOrder.township_id.in_([t.id for t in user.townships] or [-1]))
    if user.has_role("secretary"):
        conditions.append(RectificationOrder.project_id.in_(select(Project.id).where(Project.secretary_id == user.id)))
    return stmt.where(or_(*conditions)) if conditions else stmt.where(RectificationOrder.id == -1)


def may_act(staff: User, township_id: int | None) -> bool:
    """Admins act on every order; reviewers on their townships'; leaders only read."""
    if staff.has_role("admin"):
        return True
    return staff.has_role("reviewer") and township_id in {t.id for t in staff.townships}


def order_for(session: Session, user: User, order_id: int) -> RectificationOrder:
    """One order the user may read; 404 otherwise (never 403: its existence is not told)."""
    order = session.scalars(scoped_orders(user).where(RectificationOrder.id == order_id)).first()
    if order is None:
        raise ApiError("not_found", "找不到该整改通知", {"id": order_id})
    return order


def _locked(session: Session, order_id: int) -> RectificationOrder:
    return session.execute(for_update(select(RectificationOrder).where(RectificationOrder.id == order_id))).scalar_one()


# ---- listing and counting --------------------------------------------------------------------


def parse_filters(args: Any) -> dict[str, Any]:
    """Filters from a query string (bad values are dropped: console URLs are typed by hand)."""
    out: dict[str, Any] = {}
    if args.get("status") in RECTIFICATION_STATUSES:
        out["status"] = args["status"]
    if str(args.get("overdue", "")) in ("1", "true", "on"):
        out["overdue"] = True
    for key in ("project_id", "township_id"):
        value = str(args.get(key) or "").strip()
        if value.isdigit():
            out[key] = int(value)
    return out


def _filtered(user: User, filters: dict[str, Any]) -> Select:
    stmt = scoped_orders(user)
    if filters.get("status"):
        stmt = stmt.where(RectificationOrder.status == filters["status"])
    if filters.get("overdue"):
        stmt = stmt.where(RectificationOrder.status.in_(OPEN_STATUSES), RectificationOrder.deadline < clock.today())
    for key, column in (("project_id", RectificationOrder.project_id), ("township_id", RectificationOrder.township_id)):
        if filters.get(key):
            stmt = stmt.where(column == filters[key])
    return stmt


def list_orders(
    session: Session, user: User, filters: dict[str, Any], page: int = 1, per_page: int = 50
) -> tuple[list[RectificationOrder], int]:
    """Orders in the user's scope, open ones first by deadline, then the rest newest first."""
    stmt = _filtered(user, filters).order_by(
        case((RectificationOrder.status.in_(OPEN_STATUSES), 0), else_=1),
        case((RectificationOrder.status.in_(OPEN_STATUSES), RectificationOrder.deadline), else_=None),
        RectificationOrder.issued_at.desc(),
        RectificationOrder.id.desc(),
    )
    return paginate(session, stmt, page, per_page)


def counts(session: Session, user: User) -> dict[str, int]:
    """How many orders in the user's scope are in each status, and how many are overdue."""
    scoped = scoped_orders(user).subquery()
    out = dict.fromkeys(RECTIFICATION_STATUSES, 0)
    for status, n in session.execute(select(scoped.c.status, func.count()).group_by(scoped.c.status)):
        out[status] = int(n)
    out["overdue"] = int(
        session.scalar(
            select(func.count()).select_from(
                scoped_orders(user)
                .where(RectificationOrder.status.in_(OPEN_STATUSES), RectificationOrder.deadline < clock.today())
                .subquery()
            )
        )
        or 0
    )
    out["total"] = sum(out[s] for s in RECTIFICATION_STATUSES)
    return out


def context_of(session: Session, orders: list[RectificationOrder]) -> dict[str, dict[int, Any]]:
    """Projects, townships and secretaries of many orders, in three queries (for lists and pages)."""
    project_ids = {o.project_id for o in orders}
    projects = (
        {p.id: p for p in session.scalars(select(Project).where(Project.id.in_(project_ids)))} if project_ids else {}
    )
    township_ids = {o.township_id for o in orders if o.township_id}
    townships = (
        {t.id: t for t in session.scalars(select(Township).where(Township.id.in_(township_ids)))}
        if township_ids
        else {}
    )
    secretary_ids = {p.secretary_id for p in projects.values() if p.secretary_id}
    secretaries = (
        {u.id: u for u in session.scalars(select(User).where(User.id.in_(secretary_ids)))} if secretary_ids else {}
    )
    return {"projects": projects, "townships": townships, "secretaries": secretaries}


def photos_of(session: Session, order_id: int) -> list[Photo]:
    """The photos attached to an order's response, in the order they were taken up."""
    return list(
        session.scalars(
            select(Photo).where(Photo.owner_kind == OWNER_KIND, Photo.owner_id == order_id).order_by(Photo.id)
        )
    )


# ---- issuing ---------------------------------------------------------------------------------


def findings_of(session: Session, visit: Visit) -> list[str]:
    """The failed check items of a visit's latest checklist, one line each, to start an order from."""
    # Only the checklist: what villagers told inspectors must never travel into an order.
    latest = session.scalars(
        select(ChecklistResult).where(ChecklistResult.visit_id == visit.id).order_by(ChecklistResult.id.desc()).limit(1)
    ).first()
    if latest is None:
        return []
    return [
        f"{i['item']}:{i['note']}" if i.get("note") else i["item"] for i in latest.items if i.get("result") == "fail"
    ]


def issuable_projects(session: Session, staff: User) -> list[Project]:
    """Projects this staff member may issue an order for directly, by title."""
    if not staff.has_role("admin", "reviewer"):
        return []
    projects = session.scalars(
        select(Project).where(Project.status != "closed").order_by(Project.year.desc(), Project.title)
    ).all()
    return [p for p in projects if may_act(staff, project_township(p))]


def _clean_items(items: list[str]) -> list[str]:
    cleaned = [i.strip() for i in items if i and i.strip()]
    if not cleaned:
        raise ApiError("validation_failed", "请至少填写一条整改事项", {"field": "items"})
    if len(cleaned) > MAX_ITEMS:
        raise ApiError("validation_failed", f"整改事项不能超过 {MAX_ITEMS} 条", {"field": "items"})
    if any(len(i) > MAX_ITEM_CHARS for i in cleaned):
        raise ApiError("validation_failed", f"每条整改事项不能超过 {MAX_ITEM_CHARS} 字", {"field": "items"})
    return cleaned


def project_township(project: Project) -> int | None:
    """The township a project's orders are scoped to: its first village's, or its site's."""
    if project.villages:
        return project.villages[0].township_id
    return project.site.township_id if project.site else None


def issue(
    session: Session,
    staff: User,
    *,
    visit_id: int | None = None,
    project_id: int | None = None,
    items: list[str],
    deadline: date | None = None,
) -> RectificationOrder:
    """Issue an order from a submitted visit's findings (or for a project directly)."""
    if not staff.has_role("admin", "reviewer"):
        raise ApiError("forbidden", "只有管理员或审核员可以下发整改通知")
    visit = None
    if visit_id is not None:
        visit = review.visit_in_scope(session, staff, visit_id)
        if visit is None:
            raise ApiError("not_found", "找不到该暗访记录", {"visit_id": visit_id})
        if visit.status != "submitted":
            raise ApiError("conflict", "暗访尚未提交,不能据此下发整改通知", {"visit_id": visit.id})
        project = get_or_404(session, Project, visit.project_id, "项目")
        township_id = visit.township_id  # where the finding was made, for multi-township projects
    elif project_id is not None:
        project = get_or_404(session, Project, project_id, "项目")
        township_id = project_township(project)
    else:
        raise ApiError("validation_failed", "请指定暗访记录或项目", {"field": "visit_id"})
    if not may_act(staff, township_id):
        raise ApiError("not_found", "找不到该项目", {"project_id": project.id})
    cleaned = _clean_items(items)
    issued_at = utcnow()
    deadline = deadline or default_deadline(issued_at)
    if deadline < clock.local_date(issued_at):
        raise ApiError("validation_failed", "整改期限不能早于今天", {"field": "deadline"})
    order = RectificationOrder(
        project_id=project.id,
        visit_id=visit.id if visit else None,
        township_id=township_id,
        organization_id=project.organization_id,
        items=cleaned,
        deadline=deadline,
        status="issued",
        issued_by_id=staff.id,
        issued_at=issued_at,
    )
    session.add(order)
    session.flush()
    audit.append(
        session,
        staff,
        "rectification.issue",
        "rectification",
        order.id,
        {"project_id": project.id, "visit_id": order.visit_id, "deadline": deadline.isoformat(), "items": len(cleaned)},
    )
    session.commit()
    return order


# ---- the secretary's response ---------------------------------------------------------------


def secretary_order(session: Session, secretary: User, order_id: int) -> RectificationOrder:
    """An order of a project this user is the secretary of; 404 otherwise."""
    order = session.get(RectificationOrder, order_id)
    project = session.get(Project, order.project_id) if order else None
    if project is None or project.secretary_id != secretary.id:
        raise ApiError("not_found", "找不到该整改通知", {"id": order_id})
    return order


def secretary_orders(session: Session, secretary: User) -> list[RectificationOrder]:
    """The orders of the projects this user is the secretary of, open ones first, newest first."""
    stmt = (
        select(RectificationOrder)
        .join(Project, Project.id == RectificationOrder.project_id)
        .where(Project.secretary_id == secretary.id)
        .order_by(case((RectificationOrder.status.in_(OPEN_STATUSES), 0), else_=1), RectificationOrder.id.desc())
    )
    return list(session.scalars(stmt))


def place_of_order(session: Session, order: RectificationOrder) -> Place | None:
    """Where the order's work is to be seen: the visit's place, else the project's first village or site."""
    if order.visit_id is not None:
        visit = session.get(Visit, order.visit_id)
        if visit is not None:
            return place_of(session, visit.assignment)
    return project_place(session, session.get(Project, order.project_id))


def photo_owner(session: Session, photo: Photo) -> photos.OwnerContext:
    """The photo pipeline's view of a photo attached to a rectification reply (OWNER_KIND)."""
    order = session.get(RectificationOrder, photo.owner_id)
    project = session.get(Project, order.project_id) if order else None
    uploader = session.get(User, photo.uploader_id)
    return photos.OwnerContext(
        place=place_of_order(session, order) if order else None,
        person=uploader.name if uploader else "",
        title=f"整改反馈 · {project.title}" if project else "整改反馈",
        can_complete=lambda u: u.id == photo.uploader_id,
        county_id=order.county_id if order else None,
    )


def request_photo(session: Session, secretary: User, body: dict[str, Any]) -> tuple[Photo, bool]:
    """A ticket for a photo to attach to a response about to be sent (a draft of its uploader)."""
    return photos.request_draft_photo(
        session, secretary, body, draft_kind=DRAFT_KIND, owner_kind=OWNER_KIND, write_kind="rectification.photo"
    )


def _attach_photos(session: Session, secretary: User, order: RectificationOrder, photo_ids: list[int]) -> None:
    """Take up ready drafts of this secretary, and judge them against the order's place.

    The place was unknown while the photo was a draft, so its place flags (capture_far,
    exif_gps_far) are worked out now with the pipeline's own rules.
    """
    if not photo_ids:
        return
    found = {p.id: p for p in session.scalars(for_update(select(Photo).where(Photo.id.in_(photo_ids))))}
    bad = [
        i
        for i in photo_ids
        if i not in found or found[i].uploader_id != secretary.id or found[i].owner_kind != DRAFT_KIND
    ]
    if bad:
        raise ApiError("validation_failed", "照片不存在、已被使用或不属于您", {"field": "photo_ids", "photo_ids": bad})
    rejected = [i for i in photo_ids if found[i].status == "rejected"]
    if rejected:
        raise ApiError("photo_rejected", "有照片未通过校验,请删除后重新选择", {"photo_ids": rejected})
    not_ready = [i for i in photo_ids if found[i].status != "ready"]
    if not_ready:
        raise ApiError("photo_not_uploaded", "还有照片未上传完成,请稍后重试", {"photo_ids": not_ready})
    photos.attach_drafts([found[i] for i in photo_ids], place_of_order(session, order), session, OWNER_KIND, order.id)


def respond(session: Session, secretary: User, order_id: int, body: dict[str, Any]) -> tuple[RectificationOrder, bool]:
    """The secretary's reply with photos; once per client_id, only while the order is issued."""
    order = secretary_order(session, secretary, order_id)
    text = (body.get("text") or "").strip()
    if not text:
        raise ApiError("validation_failed", "请填写整改情况", {"field": "text"})

    def create() -> RectificationOrder:
        locked = _locked(session, order.id)
        if locked.status != "issued":
            raise ApiError(
                "conflict", f"该整改通知{RECTIFICATION_STATUSES[locked.status]},不能再反馈", {"status": locked.status}
            )
        _attach_photos(session, secretary, locked, body.get("photo_ids", []))
        locked.status, locked.response_text = "responded", text
        locked.responded_by_id, locked.responded_at = secretary.id, utcnow()
        audit.append(
            session,
            secretary,
            "rectification.respond",
            "rectification",
            locked.id,
            {"photo_ids": body.get("photo_ids", []), "late": locked.deadline < clock.today()},
        )
        return locked

    return idempotency.run(
        session,
        user=secretary,
        kind="rectification.respond",
        target=order.id,
        body=body,
        create=create,
        load=lambda i: session.get(RectificationOrder, i),
    )


# ---- verification and closing ---------------------------------------------------------------


def _staff_order(session: Session, staff: User, order_id: int) -> RectificationOrder:
    """An order the staff member may act on: readable (else 404) and writable (else 403)."""
    order = order_for(session, staff, order_id)
    if not may_act(staff, order.township_id):
        raise ApiError("forbidden", "没有权限处理该整改通知")
    return order


def follow_up_visits(session: Session, staff: User, order: RectificationOrder) -> list[Visit]:
    """Submitted visits of the order's project in the staff member's scope, made after it was issued."""
    stmt = review.scoped_visits(staff).where(
        Visit.project_id == order.project_id, Visit.status == "submitted", Visit.submitted_at >= order.issued_at
    )
    if order.visit_id is not None:
        stmt = stmt.where(Visit.id != order.visit_id)
    return list(session.scalars(stmt.order_by(Visit.submitted_at.desc(), Visit.id.desc()).limit(100)))


def verify(session: Session, staff: User, order_id: int, visit_id: int) -> RectificationOrder:
    """Mark a responded order verified by a follow-up visit of the same project."""
    order = _staff_order(session, staff, order_id)
    visit = review.visit_in_scope(session, staff, visit_id)
    if visit is None:
        raise ApiError("not_found", "找不到该暗访记录", {"visit_id": visit_id})
    if (
        visit.project_id != order.project_id
        or visit.status != "submitted"
        or visit.id == order.visit_id
        or visit.submitted_at is None
        or visit.submitted_at < order.issued_at
    ):
        raise ApiError(
            "validation_failed",
            "复核须使用该项目在整改通知下发后提交的暗访记录",
            {"field": "visit_id", "visit_id": visit_id},
        )
    locked = _locked(session, order.id)
    if locked.status != "responded":
        session.rollback()
        raise ApiError(
            "conflict", f"该整改通知{RECTIFICATION_STATUSES[locked.status]},不能复核", {"status": locked.status}
        )
    locked.status, locked.verified_visit_id, locked.verified_at = "verified", visit.id, utcnow()
    audit.append(session, staff, "rectification.verify", "rectification", locked.id, {"visit_id": visit.id})
    session.commit()
    return locked


def close(session: Session, staff: User, order_id: int, note: str) -> RectificationOrder:
    """Close (销号) a verified order with a note."""
    order = _staff_order(session, staff, order_id)
    locked = _locked(session, order.id)
    if locked.status != "verified":
        session.rollback()
        raise ApiError(
            "conflict", f"该整改通知{RECTIFICATION_STATUSES[locked.status]},复核后才能销号", {"status": locked.status}
        )
    locked.status, locked.closed_at, locked.note = "closed", utcnow(), (note or "").strip() or None
    audit.append(session, staff, "rectification.close", "rectification", locked.id, {})
    session.commit()
    return locked
