"""Logs and request ids: one JSON object a line in production, each tagged with its request's id.

A request keeps the id its load balancer sent in X-Request-ID when that id is sane, or gets a
new one; the id is echoed in the response so a user's complaint can be traced across nodes.
Log lines carry ids (request, user), never phone numbers, tokens, passwords or openids.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request
from sqlalchemy import inspect as sa_inspect

REQUEST_ID_HEADER = "X-Request-ID"
# Letters, digits and . _ - only: an id goes into log lines and response headers verbatim.
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{7,127}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
# Per-request fields the request log line passes as `extra`, copied into the JSON object.
_REQUEST_FIELDS = ("method", "path", "endpoint", "status", "duration_ms", "user_id")
# A last line of defence for messages that quote a URL or a form: credentials and mainland
# mobile numbers are masked even if some library logs them.
_SECRET_RE = re.compile(
    r"((?:password|secret|token|access_token|js_code|session_key|openid|signature|sig)=)[^&\s'\"]+",
    re.IGNORECASE,
)
_PHONE_RE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
request_log = logging.getLogger("server.request")


def redact(text: str) -> str:
    """The text with credentials in key=value pairs and mobile phone numbers masked."""
    return _PHONE_RE.sub(r"\1****\2", _SECRET_RE.sub(r"\1***", text))


def current_request_id() -> str | None:
    """The id of the request being handled, or None outside a request."""
    return g.get("request_id") if has_request_context() else None


class RequestContextFilter(logging.Filter):
    """Stamp every record with the current request's id ('-' outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add record.request_id; never drops the record."""
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id and request fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Serialize the record; secrets in the message or traceback are masked."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        for name in _REQUEST_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time, so a replaced stderr is honoured."""

    @property
    def stream(self):  # type: ignore[override]
        """The current sys.stderr."""
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        """Ignored: the stream is always the current sys.stderr."""


def configure_logging(level: str, log_format: str) -> None:
    """Send every log record to stderr in the given format ('json' or 'text') at `level`."""
    root = logging.getLogger()
    handler = next((h for h in root.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler()
        handler.addFilter(RequestContextFilter())
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _incoming_request_id() -> str:
    """The load balancer's X-Request-ID when it is sane, else a new random id."""
    candidate = request.headers.get(REQUEST_ID_HEADER, "")
    if _REQUEST_ID_RE.fullmatch(candidate):
        return candidate
    return uuid.uuid4().hex


def _user_id() -> int | None:
    """Id of the authenticated user (API token or console session), if the request had one."""
    user = g.get("user") or g.get("staff")
    if user is None:
        return None
    # The identity key, not `user.id`: after a rollback the attribute would be reloaded from a
    # database that may be the very thing that just failed.
    identity = sa_inspect(user).identity
    return identity[0] if identity else None


def init_app(app: Flask) -> None:
    """Give every request an id, echo it in the response and log one line per request."""

    @app.before_request
    def _start() -> None:
        g.request_id = _incoming_request_id()
        g.request_started = time.perf_counter()

    @app.after_request
    def _finish(response: Response) -> Response:
        request_id = g.get("request_id")
        if request_id:
            response.headers[REQUEST_ID_HEADER] = request_id
        started = g.get("request_started")
        if started is not None:
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            # The path only: query strings carry presigned signatures and download names.
            request_log.info(
                "%s %s %s %.1fms",
                request.method,
                request.path,
                response.status_code,
                duration_ms,
                extra={
                    "method": request.method,
                    "path": request.path,
                    "endpoint": request.endpoint or "-",
                    "status": response.status_code,
                    "duration_ms": duration_ms,
                    "user_id": _user_id(),
                },
            )
        return response
