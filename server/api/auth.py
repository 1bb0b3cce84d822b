"""Login: WeChat code, invite binding, username/password."""

from __future__ import annotations

from flask import current_app, request

from server.api import endpoint, serialize
from server.api.schemas import obj
from server.auth import issue_token
from server.db import db
from server.errors import ApiError
from server.services import users
from server.wechat import WeChatError

TOKEN_RESPONSE = obj({"token": {"type": "string"}, "user": {"type": "object"}})


def _session_answer(user):
    return {"token": issue_token(user), "user": serialize.user(user)}


@endpoint(
    "/auth/wechat",
    "POST",
    summary="Exchange a wx.login code for a token (unknown openid → villager)",
    tag="auth",
    auth=False,
    body=obj({"code": {"type": "string", "minLength": 1, "maxLength": 128}}, ("code",)),
    response=TOKEN_RESPONSE,
    errors=(400, 429, 503),
)
def wechat_login(body):
    wechat = current_app.extensions.get("wechat")
    if wechat is None:
        raise ApiError("wechat_not_configured")
    try:
        session_info = wechat.code_to_session(body["code"])
    except WeChatError as exc:
        raise ApiError(exc.code, exc.message, {"errcode": exc.errcode}, status=exc.status) from None
    return _session_answer(users.wechat_login(db.session, session_info["openid"]))


@endpoint(
    "/auth/bind",
    "POST",
    summary="Bind the caller's WeChat to a staff account by one-time invite code",
    tag="auth",
    body=obj({"invite_code": {"type": "string", "minLength": 4, "maxLength": 32}}, ("invite_code",)),
    response=TOKEN_RESPONSE,
    errors=(400, 401, 409, 429),
)
def bind(user, body):
    return _session_answer(users.bind_invite(db.session, user, body["invite_code"], request.remote_addr or "-"))


@endpoint(
    "/auth/login",
    "POST",
    summary="Staff login with username and password",
    tag="auth",
    auth=False,
    body=obj(
        {
            "username": {"type": "string", "minLength": 1, "maxLength": 64},
            "password": {"type": "string", "minLength": 1, "maxLength": 256},
        },
        ("username", "password"),
    ),
    response=TOKEN_RESPONSE,
    errors=(400, 401, 429),
)
def password_login(body):
    return _session_answer(
        users.password_login(db.session, body["username"], body["password"], request.remote_addr or "-")
    )


@endpoint("/auth/me", "GET", summary="The caller", tag="auth", response={"type": "object"}, errors=(401,))
def me(user):
    return serialize.user(user)
