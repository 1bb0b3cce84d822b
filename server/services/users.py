"""People: staff accounts, invite codes, WeChat binding and logins."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from server import tenancy
from server.auth import hash_password, invite_code_hash, new_invite_code, password_matches
from server.errors import ApiError
from server.models import (
    ROLES,
    ConsoleSession,
    County,
    Feedback,
    Organization,
    ReportingUnit,
    Township,
    User,
    UserRole,
    utcnow,
)
from server.services import audit, ratelimit
from server.services.common import Page, get_or_404, paginate, require_unique, search


def list_users(
    session: Session,
    *,
    role: str | None = None,
    q: str | None = None,
    include_villagers: bool,
    page: int = 1,
    per_page: int | None = None,
) -> Page[User]:
    """Accounts holding `role` (when given) whose username or name contains `q`, in creation order.

    Villagers register by the thousand through WeChat: without `role`, `include_villagers=False`
    keeps to accounts holding some other role (the console's staff list); the admin API lists all.
    """
    stmt = _in_county(session, select(User))
    if role:
        stmt = stmt.where(User.id.in_(select(UserRole.user_id).where(UserRole.role == role)))
    elif not include_villagers:
        stmt = stmt.where(User.id.in_(select(UserRole.user_id).where(UserRole.role != "villager")))
    stmt = search(stmt, q, User.username, User.name)
    return paginate(session, stmt.order_by(User.id), page, per_page)


def list_active(session: Session, role: str) -> list[User]:
    """The active accounts holding `role`, by name (the people a form may pick)."""
    stmt = (
        select(User)
        .where(User.active.is_(True), User.id.in_(select(UserRole.user_id).where(UserRole.role == role)))
        .order_by(User.name)
    )
    return list(session.scalars(stmt))


def _in_county(session: Session, stmt: Select) -> Select:
    """Accounts a county's staff may see: their county's, and villagers (in a deployment of several
    counties, only those who gave feedback there).

    Accounts of no county are villagers and city or province leaders: a county sees neither the
    leaders nor, where there are other counties, their villagers (WeChat identities are personal data).
    """
    county = tenancy.scope_of(session)
    if county is None:
        return stmt
    villager = and_(
        User.county_id.is_(None), User.id.not_in(select(UserRole.user_id).where(UserRole.role != "villager"))
    )
    if tenancy.only_county(session) is None:
        villager = and_(villager, User.id.in_(select(Feedback.user_id).where(Feedback.county_id == county)))
    return stmt.where(or_(User.county_id == county, villager))


def get_user(session: Session, user_id: int) -> User:
    """The account with this id when the caller's county may see it, or ApiError(not_found)."""
    user = (
        session.scalar(_in_county(session, select(User).where(User.id == user_id)))
        if isinstance(user_id, int)
        else None
    )
    if user is None:
        raise ApiError("not_found", "找不到该用户", {"id": user_id})
    return user


def users_by_id(session: Session, ids: set[int] | list[int]) -> dict[int, User]:
    """The accounts with these ids, by id."""
    if not ids:
        return {}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}


def names_by_id(session: Session, ids: list[int]) -> dict[int, str]:
    """The names of the accounts with these ids, by id."""
    return dict(session.execute(select(User.id, User.name).where(User.id.in_(ids or [-1]))).all())


def sorted_names(session: Session, ids: list[int]) -> list[str]:
    """The names of the accounts with these ids, alphabetically."""
    return list(session.scalars(select(User.name).where(User.id.in_(ids)).order_by(User.name)))


def _townships(session: Session, ids: list[int]) -> list[Township]:
    found = session.scalars(select(Township).where(Township.id.in_(ids))).all() if ids else []
    missing = sorted(set(ids) - {t.id for t in found})
    if missing:
        raise ApiError("not_found", "找不到指定的乡镇", {"township_ids": missing})
    return list(found)


def _organizations(session: Session, ids: list[int]) -> list[Organization]:
    found = session.scalars(select(Organization).where(Organization.id.in_(ids or [-1]))).all()
    missing = sorted(set(ids) - {o.id for o in found})
    if missing:
        raise ApiError("not_found", "找不到指定的党组织", {"organization_ids": missing})
    return list(found)


def _unit(session: Session, unit_id: int | None) -> ReportingUnit | None:
    """The reporting unit an account belongs to (a unit reviewer reviews for its organizations)."""
    return None if unit_id is None else get_or_404(session, ReportingUnit, unit_id, "归口单位")


def _roles(data: dict[str, Any]) -> list[str] | None:
    roles = data.get("roles")
    if roles is None and data.get("role"):
        roles = [data["role"]]
    if roles is None:
        return None
    unknown = sorted(set(roles) - set(ROLES))
    if unknown or not roles:
        raise ApiError("validation_failed", f"未知角色:{'、'.join(unknown) or '(空)'}", {"field": "roles"})
    return sorted(set(roles))


# Only these roles use the mini-program, so only their accounts are ever bound to WeChat by an invite.
MINIPROGRAM_ROLES = ("inspector", "secretary")


def set_invite(user: User) -> str:
    """Issue an invite code on demand, to an active, unbound mini-program account only."""
    if not user.has_role(*MINIPROGRAM_ROLES):
        raise ApiError("conflict", "只有督查人员和项目书记使用微信小程序,该账号不发邀请码", {"field": "roles"})
    if user.openid:
        raise ApiError("conflict", "已绑定微信,无需邀请码")
    if user.active is False:  # None: a new account, active once inserted
        raise ApiError("conflict", "账号已停用,请先启用")
    code = new_invite_code()
    user.invite_code_hash = invite_code_hash(code)
    user.invite_expires_at = utcnow() + timedelta(days=current_app.config["INVITE_MAX_AGE_DAYS"])
    return code


def _place_in_county(session: Session, actor: User | None, user: User, data: dict[str, Any]) -> None:
    """The new account's county: the creating admin's; from the command line, `county_id`, or none for a
    city or province account (`deployment_wide`: leaders only, who read every county and write nothing)."""
    if data.get("deployment_wide"):
        if actor is not None and actor.county_id is not None:
            raise ApiError("forbidden", "县级管理员不能创建市级、省级账号")
        if set(user.roles) != {"leader"}:
            raise ApiError("validation_failed", "市级、省级账号只能是领导(只读)角色", {"field": "roles"})
        user.deployment_wide = True  # read by server.tenancy: keep the county empty
    elif data.get("county_id") is not None and actor is None:
        user.county_id = get_or_404(session, County, data["county_id"], "县(区)").id


def create_user(session: Session, actor: User | None, data: dict[str, Any]) -> tuple[User, str | None]:
    """Create a staff account; with `issue_invite` also a one-time code for binding WeChat."""
    roles = _roles(data) or []
    if not roles:
        raise ApiError("validation_failed", "至少需要一个角色", {"field": "roles"})
    username = normalize_username(data.get("username") or "") or None
    if username:
        require_unique(session, User, User.username, username, "username")
    user = User(username=username, name=data.get("name") or data.get("username") or "")
    user.role_rows = [UserRole(role=r) for r in roles]
    user.townships = _townships(session, data.get("township_ids") or [])
    # Secretaries apply for their own organizations; reporting-unit reviewers answer for theirs.
    user.organizations = _organizations(session, data.get("organization_ids") or [])
    if data.get("home_township_id") is not None:
        user.home_township_id = get_or_404(session, Township, data["home_township_id"], "乡镇").id
    user.unit = _unit(session, data.get("unit_id"))
    if data.get("password"):
        user.password_hash = hash_password(data["password"])
    _place_in_county(session, actor, user, data)
    invite = set_invite(user) if data.get("issue_invite") else None
    session.add(user)
    session.flush()
    details = {"username": user.username, "roles": roles}
    if actor is None and user.county_id is not None:  # made from the command line for a county: its chain
        with tenancy.acting_in(session, user.county_id):
            audit.append(session, actor, "user.create", "user", user.id, details)
    else:
        audit.append(session, actor, "user.create", "user", user.id, details)
    session.commit()
    return user, invite


def update_user(session: Session, actor: User, user_id: int, data: dict[str, Any]) -> tuple[User, str | None]:
    """Edit an account; a new password or deactivation signs the user out everywhere."""
    user = get_user(session, user_id)
    if "username" in data and normalize_username(data["username"] or "") != user.username:
        username = normalize_username(data["username"] or "") or None
        if username:
            require_unique(session, User, User.username, username, "username", exclude_id=user.id)
        user.username = username
    if "name" in data:
        user.name = data["name"]
    roles = _roles(data)
    if roles is not None:
        user.role_rows = [UserRole(role=r) for r in roles]
        if user.county_id is None and set(roles) - {"villager"}:
            user.county_id = tenancy.scope_of(session)  # a villager made staff joins the county
    if "township_ids" in data:
        user.townships = _townships(session, data["township_ids"])
    if "organization_ids" in data:
        user.organizations = _organizations(session, data["organization_ids"])
    if "unit_id" in data:
        user.unit = _unit(session, data["unit_id"])
    if "home_township_id" in data:
        hid = data["home_township_id"]
        user.home_township_id = None if hid is None else get_or_404(session, Township, hid, "乡镇").id
    if data.get("password"):
        user.password_hash = hash_password(data["password"])
        user.token_version += 1
    if "active" in data and data["active"] != user.active:
        user.active = data["active"]
        user.token_version += 1
    if data.get("password") or data.get("active") is False:
        session.execute(delete(ConsoleSession).where(ConsoleSession.user_id == user.id))
    if not user.has_role(*MINIPROGRAM_ROLES):
        # An account that stops using the mini-program keeps no live invite.
        user.invite_code_hash = user.invite_expires_at = None
    invite = set_invite(user) if data.get("reset_invite") else None
    audit.append(session, actor, "user.update", "user", user.id, {"fields": sorted(data)})
    session.commit()
    return user, invite


def wechat_login(session: Session, openid: str) -> User:
    """The account bound to this openid; an unknown openid becomes a villager."""
    user = session.scalar(select(User).where(User.openid == openid))
    if user is not None:
        if not user.active:
            raise ApiError("forbidden", "该账号已停用,请联系组织部")
        return user
    user = User(openid=openid, name="群众")
    user.role_rows = [UserRole(role="villager")]
    session.add(user)
    try:
        session.flush()
        audit.append(session, None, "user.wechat_register", "user", user.id, {})
        session.commit()
    except IntegrityError:
        # Two logins of the same new phone at once: the other one created the villager.
        session.rollback()
        user = session.scalar(select(User).where(User.openid == openid))
        if user is None:
            raise
    return user


# Wrong invite codes: a phone (openid) gets 5 per 15 minutes and 20 a day, an address (many
# phones behind one village's mobile network) 20 per 15 minutes and 100 a day.
BIND_FAILURES_CALLER = [(5, 900), (20, 86400)]
BIND_FAILURES_ADDRESS = [(20, 900), (100, 86400)]


def bind_invite(session: Session, caller: User, code: str, address: str) -> User:
    """Move the caller's WeChat identity onto the staff account the invite code belongs to.

    Wrong codes are counted per caller and per address; past the limits the answer is
    ApiError(rate_limited) with Retry-After, whatever the code.
    """
    caller_key = f"bind:openid:{caller.openid}" if caller.openid else f"bind:user:{caller.id}"
    address_key = f"bind:ip:{address}"
    retry = max(
        ratelimit.blocked(session, [caller_key], BIND_FAILURES_CALLER) or 0,
        ratelimit.blocked(session, [address_key], BIND_FAILURES_ADDRESS) or 0,
    )
    if retry:
        raise ApiError(
            "rate_limited", "邀请码错误次数过多,请稍后再试", {"retry_after": retry}, headers={"Retry-After": str(retry)}
        )
    target = session.scalar(select(User).where(User.invite_code_hash == invite_code_hash(code)))
    if (
        target is None
        or not target.active
        or not target.has_role(*MINIPROGRAM_ROLES)
        or (target.invite_expires_at is not None and target.invite_expires_at < utcnow())
    ):
        session.rollback()
        ratelimit.record(session, [caller_key], BIND_FAILURES_CALLER)
        ratelimit.record(session, [address_key], BIND_FAILURES_ADDRESS)
        session.commit()
        raise ApiError("invite_invalid")
    if caller.id == target.id:
        return target
    if not caller.openid:
        raise ApiError("forbidden", "请在微信小程序中使用邀请码")
    if set(caller.roles) != {"villager"}:
        raise ApiError("already_bound", details={"user_id": caller.id})
    if target.openid:
        raise ApiError("already_bound", "该账号已绑定其他微信", {"user_id": target.id})
    openid = caller.openid
    caller.openid, caller.active = None, False
    caller.token_version += 1
    session.flush()  # free the unique openid before giving it to the staff account
    target.openid = openid
    target.invite_code_hash = target.invite_expires_at = None
    audit.append(session, target, "user.bind_wechat", "user", target.id, {"from_user": caller.id})
    session.commit()
    return target


def normalize_username(username: str) -> str:
    """The one spelling of a username for lookups and login counters: trimmed and case-folded.

    MariaDB's collation ignores case and trailing spaces, so "Admin " finds admin there: the
    counters must not see another name than the lookup does.
    """
    return username.strip().casefold()


# One counter for the API's and the console's logins. Five wrong passwords lock a username at
# one address for 15 minutes; an address guessing across usernames stops at 30. Across all
# addresses a username is only slowed down (1 s, 2 s, 4 s … at most a minute after its latest
# failure), so a stranger cannot lock an official out from elsewhere.
LOGIN_WINDOW = 900
PAIR_FAILURES = [(5, LOGIN_WINDOW)]
ADDRESS_FAILURES = [(30, LOGIN_WINDOW)]
USERNAME_FREE_FAILURES = 5
USERNAME_MAX_DELAY = 60


def _login_refused(retry: int) -> ApiError:
    wait = f"{retry} 秒" if retry < 60 else f"{retry // 60 + 1} 分钟"
    return ApiError(
        "rate_limited", f"登录失败次数过多,请 {wait}后再试", {"retry_after": retry}, headers={"Retry-After": str(retry)}
    )


def password_login(session: Session, username: str, password: str, address: str, roles: tuple[str, ...] = ()) -> User:
    """The active account with this username and password (holding one of `roles` when given).

    Raises ApiError(rate_limited) with Retry-After while the username, the address or the pair
    is held back, else ApiError(login_failed) (or forbidden for a wrong role) and counts the failure.
    """
    name = normalize_username(username)
    # Counter keys fit the rate_events column whatever was typed: a long name counts by its digest.
    counted = name if len(name) <= 32 else "sha256-" + hashlib.sha256(name.encode()).hexdigest()[:25]
    user_key, pair_key, address_key = (
        f"login:user:{counted}",
        f"login:pair:{counted}:{address}",
        f"login:ip:{address}",
    )
    retry = max(
        ratelimit.blocked(session, [pair_key], PAIR_FAILURES) or 0,
        ratelimit.blocked(session, [address_key], ADDRESS_FAILURES) or 0,
        ratelimit.backoff(session, user_key, LOGIN_WINDOW, USERNAME_FREE_FAILURES, USERNAME_MAX_DELAY) or 0,
    )
    if retry:
        raise _login_refused(retry)
    # lower() on the column as well: an account created before names were folded still matches.
    user = session.scalar(select(User).where(func.lower(User.username) == name).order_by(User.id).limit(1))
    error = None
    if not password_matches(user, password) or not user.active:
        error = ApiError("login_failed")
    elif roles and not user.has_role(*roles):
        error = ApiError("forbidden", "该账号不能登录管理后台")
    if error is not None:
        session.rollback()
        ratelimit.record(session, [user_key, pair_key, address_key], PAIR_FAILURES)
        session.commit()
        raise error
    return user


# ---- console sessions ------------------------------------------------------------------------


def _sid_hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


def open_console_session(session: Session, user: User) -> str:
    """Record a console sign-in and return the random id its cookie carries (committed)."""
    lifetime = current_app.permanent_session_lifetime
    # Signed cookies expire by themselves; their rows are swept here rather than by a timer.
    session.execute(delete(ConsoleSession).where(ConsoleSession.created_at < utcnow() - lifetime))
    sid = secrets.token_urlsafe(32)
    session.add(ConsoleSession(sid_hash=_sid_hash(sid), user_id=user.id))
    session.commit()
    return sid


def console_session_alive(session: Session, user: User, sid: str | None) -> bool:
    """Whether the cookie's session id is still recorded for this user (not signed out)."""
    if not sid:
        return False
    return (
        session.scalar(
            select(ConsoleSession.id).where(
                ConsoleSession.sid_hash == _sid_hash(sid), ConsoleSession.user_id == user.id
            )
        )
        is not None
    )


def close_console_session(session: Session, sid: str | None) -> None:
    """Forget one console session (logout): a copy of its cookie stops working (committed)."""
    if sid:
        session.execute(delete(ConsoleSession).where(ConsoleSession.sid_hash == _sid_hash(sid)))
        session.commit()
