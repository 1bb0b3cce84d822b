"""One error shape for the whole API: {"error": {"code", "message", "details"}}; messages in Chinese."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

# code -> (HTTP status, default Chinese message)
CATALOGUE: dict[str, tuple[int, str]] = {
    "invalid_json": (400, "请求内容不是有效的 JSON"),
    "validation_failed": (400, "提交的数据不完整或格式不正确"),
    "invalid_coordinate": (400, "坐标不正确"),
    "unauthorized": (401, "请先登录"),
    "token_invalid": (401, "登录已失效,请重新登录"),
    "login_failed": (401, "用户名或密码错误"),
    "forbidden": (403, "没有权限进行此操作"),
    "not_found": (404, "找不到该记录"),
    "method_not_allowed": (405, "不支持该请求方法"),
    "client_id_conflict": (409, "该编号已用于另一条不同的记录,请勿重复使用"),
    "visit_submitted": (409, "该次暗访已提交,不能再修改"),
    "assignment_closed": (409, "该督查任务已结束,这条暗访记录不能再上传"),
    "conflict": (409, "操作与当前状态冲突"),
    "illegal_transition": (409, "项目当前状态不允许该操作"),
    "application_incomplete": (422, "申报表还不完整"),
    "invite_invalid": (400, "邀请码无效或已过期"),
    "already_bound": (409, "该微信已绑定其他账号"),
    "photo_not_uploaded": (409, "照片尚未上传完成,请稍后重试"),
    "photo_rejected": (422, "照片未通过校验"),
    "photo_too_large": (413, "照片文件过大"),
    "photo_too_small": (422, "照片太小,请上传相机拍摄的原图"),
    "photo_processing_failed": (422, "照片无法处理,请重新拍摄后上传"),
    "upload_sealed": (409, "这张照片已校验封存,不能再次上传"),
    "payload_too_large": (413, "提交的内容过大"),
    "round_infeasible": (422, "抽查条件无法满足"),
    "project_closed": (409, "该项目已结束,不再接收反馈"),
    "rate_limited": (429, "操作过于频繁,请稍后再试"),
    "storage_unavailable": (503, "照片存储暂时不可用,请稍后重试,已保存的内容不会丢失"),
    "not_ready": (503, "服务暂不可用,请稍后重试"),
    "db_unavailable": (503, "服务器数据库暂时不可用,请稍后重试,已保存的内容不会丢失"),
    "wechat_not_configured": (503, "微信登录尚未配置"),
    "internal_error": (500, "服务器内部错误,请稍后重试"),
}


class ApiError(Exception):
    """An error answered to the client with the common JSON shape."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        details: dict[str, Any] | None = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ):
        default_status, default_message = CATALOGUE.get(code, (400, "请求有误"))
        super().__init__(message or default_message)
        self.code = code
        self.message = message or default_message
        self.details = details or {}
        self.status = status or default_status
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of this error."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


def error_response(err: ApiError):
    """A Flask response for an ApiError: JSON for the API, a page for the console and public pages."""
    if request.blueprint in ("console", "web"):
        body = render_template("error.html", error=err)
        return body, err.status, err.headers
    resp = jsonify(err.to_dict())
    resp.status_code = err.status
    for key, value in err.headers.items():
        resp.headers[key] = value
    return resp


_HTTP_CODES = {
    400: "validation_failed",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
}


# Seconds a client should wait before retrying, when the answer itself does not know better: a
# phone's outbox backs off by them instead of hammering a busy or recovering server.
DEFAULT_RETRY_AFTER = {429: "60", 503: "10"}


def register_error_handlers(app: Flask) -> None:
    """Make every error, ours or Werkzeug's, answer with the common shape (429 and 503 with Retry-After)."""

    @app.after_request
    def _retry_after(response):
        default = DEFAULT_RETRY_AFTER.get(response.status_code)
        if default and "Retry-After" not in response.headers:
            response.headers["Retry-After"] = default
        return response

    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return error_response(err)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        code = _HTTP_CODES.get(err.code or 500, "internal_error")
        # Our own abort(…, description="中文") keeps its sentence; Werkzeug's English ones do not show.
        own = err.description if err.description and not err.description.isascii() else None
        return error_response(ApiError(code, own, status=err.code))

    @app.errorhandler(DBAPIError)
    def _database_error(err: DBAPIError):
        if not (isinstance(err, OperationalError) or err.connection_invalidated):
            return _unexpected(err)
        # A restarting or overloaded database: the phone keeps the write queued and retries it
        # with the same client_id, so say "try again" rather than "server bug".
        log.warning("database unavailable: %s", err.orig)
        return error_response(ApiError("db_unavailable", headers={"Retry-After": "5"}))

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        log.exception("unhandled error")
        return error_response(ApiError("internal_error"))
