"""Villagers' feedback on projects: photos, content check, rate limits, replies, deadlines."""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from server import clock, tenancy
from server.clock import CHINA
from server.crypto import cipher
from server.errors import ApiError
from server.models import (
    ClientWrite,
    Feedback,
    FeedbackReply,
    Photo,
    Project,
    User,
    utcnow,
)
from server.services import audit, idempotency, photos, public, ratelimit
from server.services.common import for_update, paginate
from server.timefmt import parse_datetime
from server.wechat import WeChatError

PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
CLOSED_STATUSES = ("resolved", "declined")
COUNTY_STAFF = ("admin", "leader")
_RECEIPT_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


# ---- photos ------------------------------------------------------------------------------


def photo_owner(session: Session, photo: Photo) -> photos.OwnerContext:
    """The photo pipeline's view of a villager's photo, before ("feedback_draft") and after ("feedback") it is sent."""
    project = None
    if photo.owner_kind == "feedback":
        fb = session.get(Feedback, photo.owner_id)
        project = session.get(Project, fb.project_id) if fb else None
    # A draft's county is known once it is sent with its feedback (_attach_photos).
    return photos.OwnerContext(
        place=None,
        person="",
        title=f"群众反馈 · {project.title}" if project else "群众反馈",
        can_complete=lambda u: u.id == photo.uploader_id,
        after_ready=_forget_location,
        strip_location=True,
        county_id=project.county_id if project else None,
    )


def _forget_location(_session: Session, photo: Photo) -> None:
    """A villager's photo keeps no trace of where they live: no capture point, no EXIF GPS (the sealed file is stripped too)."""
    photo.lat = photo.lng = None
    if photo.exif:
        photo.exif = {k: v for k, v in photo.exif.items() if k not in ("lat", "lng")}


def request_photo(session: Session, user: User, body: dict[str, Any]) -> tuple[Photo, bool]:
    """A ticket for a photo to attach to feedback about to be sent."""

    def create() -> Photo:
        ratelimit.hit(session, [f"fbphoto:user:{user.id}"], [(30, ratelimit.HOUR)], "上传照片过于频繁,请稍后再试")
        photo = photos.new_photo(
            owner_kind="feedback_draft",
            owner_id=user.id,
            user=user,
            body={**body, "lat": None, "lng": None},
            visit_id=None,
        )
        session.add(photo)
        session.flush()
        audit.append(session, user, "photo.ticket", "photo", photo.id, {"owner": "feedback"})
        return photo

    return idempotency.run(
        session,
        user=user,
        kind="feedback.photo",
        target="feedback",
        body=body,
        create=create,
        load=lambda i: session.get(Photo, i),
    )


# ---- deadlines ------------------------------------------------------------------------------


def _holidays() -> set[date]:
    raw = current_app.config.get("HOLIDAYS", "")
    return {date.fromisoformat(d.strip()) for d in raw.split(",") if d.strip()}


def add_working_days(start: datetime, days: int) -> datetime:
    """The end (23:59:59 China time) of the `days`-th working day after `start`."""
    holidays, day, left = _holidays(), clock.local_date(start), days
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            left -= 1
    return datetime.combine(day, time(23, 59, 59), tzinfo=CHINA)


# ---- sending -------------------------------------------------------------------------------


def _receipt_no(now: datetime) -> str:
    tail = "".join(secrets.choice(_RECEIPT_ALPHABET) for _ in range(6))
    return f"FK{now.astimezone(CHINA):%Y%m%d}-{tail}"


def _content_check(user: User, text: str) -> tuple[str | None, int | None]:
    """msgSecCheck v2: (pass | review | risky, label); (None, None) when WeChat cannot answer."""
    wechat = current_app.extensions.get("wechat")
    if wechat is None or not user.openid or not text.strip():
        return "pass", None
    try:
        result = wechat.msg_sec_check(openid=user.openid, content=text, scene=2)
    except WeChatError as exc:
        current_app.logger.warning("content check unavailable (%s): feedback held for moderation", exc.code)
        return None, None
    return result["suggest"], result.get("label")


# msgSecCheck v2's result.label, as county staff read it next to held feedback.
SEC_CHECK_LABELS = {
    100: "正常",
    10001: "广告",
    20001: "时政",
    20002: "色情",
    20003: "辱骂",
    20006: "违法犯罪",
    20008: "欺诈",
    20012: "低俗",
    20013: "版权",
    21000: "其他",
}


def held_reason(fb: Feedback) -> str | None:
    """Why feedback is (or was) held, in the words staff read; None for feedback never held."""
    if fb.moderation_suggest not in ("review", "risky") and fb.status != "held":
        return None
    label = SEC_CHECK_LABELS.get(fb.moderation_label, "")
    kind = f"({label})" if label else ""
    if fb.moderation_suggest == "risky":
        return f"微信内容安全检测判定为风险内容{kind}:仅县级工作人员可见,不公开,不推送给项目书记"
    if fb.moderation_suggest == "review":
        return f"微信内容安全检测建议人工审核{kind}"
    return "提交时内容安全检测不可用,待人工审核"


def is_risky(fb: Feedback) -> bool:
    """Text msgSecCheck called risky: for county staff only, never for the project's secretary."""
    return fb.moderation_suggest == "risky"


def status_for_author(fb: Feedback) -> str:
    """The status the villager reads: risky text still held reads as received (待受理), which it is."""
    return "received" if fb.status == "held" and is_risky(fb) else fb.status


def township_of(project: Project) -> int | None:
    """The township a project's feedback is scoped to."""
    if project.villages:
        return project.villages[0].township_id
    return project.site.township_id if project.site else None


def submit(session: Session, user: User, project_id: int, body: dict[str, Any], ip: str) -> tuple[Feedback, bool]:
    """Store a villager's feedback once per client_id (checked, rate-limited, photos attached)."""
    project = public.public_project(session, project_id, any_county=True)
    tenancy.act_in(session, project.county_id)  # a villager has no county: the project's takes the record
    if not body["text"].strip():
        raise ApiError("validation_failed", "请填写意见内容", {"field": "text"})
    limits = ratelimit.parse_limits(current_app.config["FEEDBACK_RATE_LIMITS"])
    keys = [f"feedback:user:{user.id}", f"feedback:ip:{ip}"]
    if session.get(ClientWrite, body["client_id"]) is None:
        if project.status == "closed" or ratelimit.blocked(session, keys, limits):
            suggest, label = "pass", None  # refused below anyway: spend no WeChat quota on it
        else:
            # A report of gambling or violence is what the department must see: risky text is
            # held for county staff, not refused (services.feedback.is_risky).
            suggest, label = _content_check(user, body["text"])
    else:
        suggest, label = "pass", None  # a retry: the stored answer is replayed below

    def create() -> Feedback:
        if project.status == "closed":
            raise ApiError("project_closed", "该项目已结束,不再接收反馈", {"project_id": project.id})
        phone = (body.get("contact_phone") or "").strip()
        if phone and not PHONE.match(phone):
            raise ApiError("validation_failed", "手机号码格式不正确", {"field": "contact_phone"})
        now = utcnow()
        fb = Feedback(
            project_id=project.id,
            township_id=township_of(project),
            user_id=user.id,
            client_id=body["client_id"],
            receipt_no=_receipt_no(now),
            rating=body["rating"],
            category=body["category"],
            text=body["text"].strip(),
            phone_enc=cipher().encrypt(phone) if phone else None,
            anonymous=body.get("anonymous", False),
            notify=body.get("notify", False),
            status="received" if suggest == "pass" else "held",
            moderation_label=label,
            moderation_suggest=suggest,
            sent_at=parse_datetime(body["sent_at"]),
            due_at=add_working_days(now, current_app.config["FEEDBACK_REPLY_DAYS"]),
        )
        session.add(fb)
        session.flush()
        _attach_photos(session, user, fb, body.get("photo_ids", []))
        # Counted after the photos are locked: completing a photo locks it before the audit head.
        ratelimit.hit(session, keys, limits, "提交过于频繁,请稍后再试")
        audit.append(
            session,
            user,
            "feedback.create",
            "feedback",
            fb.id,
            {"project_id": project.id, "status": fb.status, "photos": len(body.get("photo_ids", []))},
        )
        return fb

    return idempotency.run(
        session,
        user=user,
        kind="feedback",
        target=project.id,
        body=body,
        create=create,
        load=lambda i: session.get(Feedback, i),
    )


def _attach_photos(session: Session, user: User, fb: Feedback, photo_ids: list[int]) -> None:
    if not photo_ids:
        return
    found = {p.id: p for p in session.scalars(for_update(select(Photo).where(Photo.id.in_(photo_ids))))}
    bad = [
        i
        for i in photo_ids
        if i not in found or found[i].uploader_id != user.id or found[i].owner_kind != "feedback_draft"
    ]
    if bad:
        raise ApiError("validation_failed", "照片不存在、已被使用或不属于您", {"field": "photo_ids", "photo_ids": bad})
    rejected = [i for i in photo_ids if found[i].status == "rejected"]
    if rejected:  # it will never be ready: waiting and retrying would not help
        raise ApiError("photo_rejected", "有照片未通过校验,请删除后重新选择", {"photo_ids": rejected})
    not_ready = [i for i in photo_ids if found[i].status != "ready"]
    if not_ready:
        raise ApiError("photo_not_uploaded", "还有照片未上传完成,请稍后重试", {"photo_ids": not_ready})
    for pid in photo_ids:
        found[pid].owner_kind, found[pid].owner_id = "feedback", fb.id
    project = session.get(Project, fb.project_id)
    photos.index_in_county(session, photo_ids, project.county_id if project else None)


# ---- reading -------------------------------------------------------------------------------


def photos_of(session: Session, feedback_ids: list[int]) -> dict[int, list[Photo]]:
    """Attached photos of many feedback items, in one query."""
    out: dict[int, list[Photo]] = {i: [] for i in feedback_ids}
    if feedback_ids:
        for p in session.scalars(
            select(Photo).where(Photo.owner_kind == "feedback", Photo.owner_id.in_(feedback_ids)).order_by(Photo.id)
        ):
            out[p.owner_id].append(p)
    return out


def replies_of(session: Session, feedback_ids: list[int]) -> dict[int, list[FeedbackReply]]:
    """Replies of many feedback items, oldest first, in one query."""
    out: dict[int, list[FeedbackReply]] = {i: [] for i in feedback_ids}
    if feedback_ids:
        for r in session.scalars(
            select(FeedbackReply).where(FeedbackReply.feedback_id.in_(feedback_ids)).order_by(FeedbackReply.id)
        ):
            out[r.feedback_id].append(r)
    return out


def mine(session: Session, user: User, page: int, per_page: int) -> tuple[list[Feedback], int]:
    """The caller's own feedback, newest first."""
    stmt = select(Feedback).where(Feedback.user_id == user.id).order_by(Feedback.id.desc())
    return paginate(session, stmt, page, per_page)


def can_see(user: User, fb: Feedback) -> bool:
    """County staff see all feedback; reviewers their townships' except risky text still held."""
    if user.has_role(*COUNTY_STAFF):
        return True
    return (
        user.has_role("reviewer")
        and fb.township_id in {t.id for t in user.townships}
        and not (fb.status == "held" and is_risky(fb))
    )


def staff_scope(user: User) -> list:
    """Conditions on Feedback selecting what `can_see` allows, for lists and exports."""
    if user.has_role(*COUNTY_STAFF):
        return []
    townships = [t.id for t in user.townships] if user.has_role("reviewer") else []
    return [
        Feedback.township_id.in_(townships or [-1]),
        or_(Feedback.status != "held", Feedback.moderation_suggest.is_(None), Feedback.moderation_suggest != "risky"),
    ]


def author_visible(viewer: User, fb: Feedback) -> bool:
    """Anonymous authors are known only to county staff, never to the township or village."""
    return not fb.anonymous or viewer.has_role(*COUNTY_STAFF)


def phone_for(viewer: User, fb: Feedback) -> str | None:
    """The contact phone: in full for county staff, masked for township reviewers, else none.

    A project's secretary gets no digit of it: a complaint about their project may be about
    them, and part of a number narrows down who complained.
    """
    if not fb.phone_enc or not author_visible(viewer, fb) or not viewer.has_role(*COUNTY_STAFF, "reviewer"):
        return None
    phone = cipher().decrypt(fb.phone_enc)
    if viewer.has_role(*COUNTY_STAFF):
        return phone
    return mask_phone(phone)


def mask_phone(phone: str) -> str:
    """'13812345678' → '138****5678'."""
    return phone[:3] + "*" * max(0, len(phone) - 7) + phone[-4:] if len(phone) > 7 else "****"


def list_for_staff(session: Session, user: User, q: dict[str, Any]) -> tuple[list[Feedback], int]:
    """Feedback in the caller's scope, filtered by status, project and overdue."""
    stmt = select(Feedback).where(*staff_scope(user))
    if q.get("status"):
        stmt = stmt.where(Feedback.status == q["status"])
    if q.get("project_id"):
        stmt = stmt.where(Feedback.project_id == q["project_id"])
    if q.get("overdue"):
        stmt = stmt.where(Feedback.status.not_in(CLOSED_STATUSES), Feedback.due_at < utcnow())
    return paginate(session, stmt.order_by(Feedback.due_at, Feedback.id), q["page"], q["per_page"])


def feedback_for_staff(session: Session, user: User, feedback_id: int) -> Feedback:
    """One feedback item in the caller's scope; 404 otherwise."""
    fb = session.get(Feedback, feedback_id)
    if fb is None or not can_see(user, fb):
        raise ApiError("not_found", "找不到该反馈", {"id": feedback_id})
    return fb


# ---- replies and moderation ---------------------------------------------------------------


def reply(session: Session, staff: User, feedback_id: int, body: dict[str, Any]) -> FeedbackReply:
    """Answer feedback and set its status; the villager is notified when they consented.

    With public=true the answer (its text, never the villager or their words) is also shown on the
    project's public page (公开答复).
    """
    fb = feedback_for_staff(session, staff, feedback_id)
    if fb.status == "held":
        raise ApiError("conflict", "该反馈尚待审核,请先审核通过", {"status": fb.status})
    if fb.status in CLOSED_STATUSES:
        raise ApiError("conflict", "该反馈已办结或不予受理,不能再回复", {"status": fb.status})
    status = body["status"]
    if status == "declined" and not (body.get("reason") or "").strip():
        raise ApiError("validation_failed", "不予受理须说明理由", {"field": "reason"})
    r = FeedbackReply(
        feedback_id=fb.id,
        staff_id=staff.id,
        text=body["text"].strip(),
        status=status,
        reason=(body.get("reason") or "").strip() or None,
        public=bool(body.get("public")) and bool(body["text"].strip()),
    )
    fb.status = status
    if status in CLOSED_STATUSES:
        fb.closed_at = utcnow()
    session.add(r)
    session.flush()
    audit.append(
        session, staff, "feedback.reply", "feedback", fb.id, {"status": status, "reply_id": r.id, "public": r.public}
    )
    session.commit()
    _notify(session, fb, r)
    return r


def moderate(session: Session, staff: User, feedback_id: int, body: dict[str, Any]) -> Feedback:
    """Release held feedback to the inbox, or decline it with a reason."""
    fb = feedback_for_staff(session, staff, feedback_id)
    if fb.status != "held":
        raise ApiError("conflict", "该反馈不在待审核状态", {"status": fb.status})
    if body["decision"] == "release":
        fb.status = "received"
    else:
        if not (body.get("reason") or "").strip():
            raise ApiError("validation_failed", "不予受理须说明理由", {"field": "reason"})
        fb.status, fb.closed_at = "declined", utcnow()
        session.add(
            FeedbackReply(
                feedback_id=fb.id, staff_id=staff.id, text="", status="declined", reason=body["reason"].strip()
            )
        )
    audit.append(session, staff, "feedback.moderate", "feedback", fb.id, {"decision": body["decision"]})
    session.commit()
    return fb


def _notify(session: Session, fb: Feedback, r: FeedbackReply) -> None:
    """Send the subscribe message the villager consented to (one consent, one message)."""
    wechat = current_app.extensions.get("wechat")
    template = current_app.config.get("WECHAT_FEEDBACK_TEMPLATE_ID")
    author = session.get(User, fb.user_id)
    if not (fb.notify and wechat and template and author and author.openid):
        return
    from server.models import FEEDBACK_STATUSES

    project = session.get(Project, fb.project_id)
    data = {
        "character_string1": {"value": fb.receipt_no},
        "thing2": {"value": project.title[:20]},
        "phrase3": {"value": FEEDBACK_STATUSES[fb.status]},
        "thing4": {"value": (r.text or r.reason or "")[:20] or "请查看详情"},
        "time5": {"value": clock.china_time(utcnow())},
    }
    try:
        wechat.send_subscribe_message(
            openid=author.openid, template_id=template, data=data, page=f"pages/feedback-mine/feedback-mine?id={fb.id}"
        )
    except WeChatError as exc:
        current_app.logger.warning("reply notification for feedback %s not sent: %s", fb.id, exc.code)
        return
    r.notified, fb.notify = True, False  # a subscribe consent is good for one message
    session.commit()
