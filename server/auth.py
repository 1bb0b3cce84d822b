"""Bearer tokens for the mini-program and scripts, password and invite-code hashing, role checks."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

from flask import current_app, g, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import lazyload
from werkzeug.security import check_password_hash, generate_password_hash

from server import tenancy
from server.db import db
from server.errors import ApiError
from server.models import User

# Invite codes are read aloud and typed on phones: no 0/O, 1/I/L.
INVITE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="api-token")


def issue_token(user: User) -> str:
    """A signed bearer token for the user; invalidated when the user's token_version changes."""
    return _serializer().dumps({"uid": user.id, "v": user.token_version})


_ROLES_ONLY = (lazyload(User.townships), lazyload(User.organizations))


def user_from_token(token: str) -> User:
    """The active user a token belongs to; ApiError(token_invalid) otherwise."""
    try:
        data = _serializer().loads(token, max_age=current_app.config["TOKEN_MAX_AGE"])
    except SignatureExpired:
        raise ApiError("token_invalid", "登录已过期,请重新登录") from None
    except BadSignature:
        raise ApiError("token_invalid") from None
    if not isinstance(data, dict):
        raise ApiError("token_invalid")
    # Townships and organizations load when a scope check reads them: most requests (a phone's
    # writes) need only the roles, and loading all three cost two statements a request.
    user = db.session.get(User, data.get("uid"), options=_ROLES_ONLY)
    if user is None or not user.active or user.token_version != data.get("v"):
        raise ApiError("token_invalid")
    return user


def authenticate(roles: tuple[str, ...] = ()) -> User:
    """The caller from the Authorization header (401 without one), holding one of `roles` (403)."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError("unauthorized", headers={"WWW-Authenticate": "Bearer"})
    user = user_from_token(token.strip())
    if roles and not user.has_role(*roles):
        raise ApiError("forbidden", details={"required_roles": list(roles)})
    tenancy.enter(db.session, user)
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        tenancy.refuse_writes(user)
    g.user = user
    return user


def hash_password(password: str) -> str:
    """A salted, slow hash of a password (scrypt unless PASSWORD_HASH_METHOD says otherwise)."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def password_matches(user: User | None, password: str) -> bool:
    """Check a password; spends the same effort when the user does not exist."""
    if user is None or not user.password_hash:
        check_password_hash(_dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password)
        return False
    return check_password_hash(user.password_hash, password)


@functools.cache
def _dummy_hash(method: str) -> str:
    """A hash made the way real ones are (the configured method), checked when there is no user.

    Made on the first unknown name rather than at import: scrypt's 0.2 s of CPU was paid by every
    process that imports the server (each gunicorn worker, each `flask` command)."""
    return generate_password_hash("not-a-real-password", method=method)


def new_invite_code() -> str:
    """A fresh one-time invite code such as 'K7M2-Q9PX' (about 40 bits)."""
    raw = "".join(secrets.choice(INVITE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def invite_code_hash(code: str) -> str:
    """How an invite code is stored: normalized (case, dashes, spaces), then an HMAC under SECRET_KEY.

    About 40 bits are typed on a phone: a plain hash would give every code away to anyone
    holding a copy of the database. Changing SECRET_KEY voids the outstanding invites.
    """
    normalized = "".join(ch for ch in code.upper() if ch.isalnum())
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, b"invite-code:" + normalized.encode(), hashlib.sha256).hexdigest()
