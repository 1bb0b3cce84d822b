"""The JSON API under /api/v1: one blueprint, one decorator that authenticates, validates and documents."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint
from sqlalchemy.exc import IntegrityError, OperationalError

from server.api.validation import json_body, query_args

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@dataclass
class EndpointDoc:
    """What the OpenAPI document says of one endpoint."""

    path: str
    method: str
    summary: str
    tag: str
    auth: bool
    roles: tuple[str, ...]
    body: dict | None
    query: dict | None
    status: int
    response: dict | None
    errors: tuple[int, ...] = field(default_factory=tuple)
    content_type: str = "application/json"


ENDPOINTS: list[EndpointDoc] = []


# MySQL picks a deadlock victim (or times out a lock wait) among transactions that are each
# fine alone: with several phones writing to the same counts and audit chain, a write can be
# that victim. Every write is idempotent by client_id and rolled back whole, so the request
# is simply run again, as MySQL's manual advises, before the phone ever sees an error.
# Likewise a unique key another transaction took between this one's check and its insert
# (READ COMMITTED: two admins creating one username): run again, the check then sees the row.
TRANSACTION_ATTEMPTS = 3
_CONFLICT_CODES = {1213, 1205, 1062}  # ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, ER_DUP_ENTRY
log = logging.getLogger(__name__)


def is_transaction_conflict(exc: OperationalError | IntegrityError) -> bool:
    """True for a deadlock, a lock-wait timeout or a concurrent duplicate key (worth re-running),
    not an unreachable database."""
    args = getattr(exc.orig, "args", ())
    return bool(args) and args[0] in _CONFLICT_CODES


def _retry_after_conflict(exc: OperationalError | IntegrityError, endpoint: str, attempt: int) -> None:
    from server.db import db

    log.warning("transaction conflict in %s (attempt %d), running it again: %s", endpoint, attempt, exc.orig)
    db.session.rollback()
    time.sleep(random.uniform(0.005, 0.05) * attempt)  # noqa: S311 - jitter, not security


def endpoint(
    rule: str,
    method: str,
    *,
    summary: str,
    tag: str,
    auth: bool = True,
    roles: tuple[str, ...] = (),
    body: dict | None = None,
    query: dict | None = None,
    status: int = 200,
    response: dict | None = None,
    errors: tuple[int, ...] = (),
    content_type: str = "application/json",
    blueprint: Blueprint | None = None,
) -> Callable:
    """Register an API view: authenticate (roles), parse the body/query, record it for OpenAPI.

    The view receives `user` (when auth), `body` (when a schema is given), `query`
    (when a query spec is given) and the URL's own arguments.
    """

    def decorate(fn: Callable) -> Callable:
        @wraps(fn)
        def view(**kwargs: Any):
            from server.auth import authenticate

            if auth:
                kwargs["user"] = authenticate(roles)
            if body is not None:
                kwargs["body"] = json_body(body)
            if query is not None:
                kwargs["query"] = query_args(query)
            for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
                try:
                    return fn(**kwargs)
                except (OperationalError, IntegrityError) as exc:
                    # A persisting conflict answers 503 (errors.py); a duplicate key that
                    # persists in fresh transactions is no race but a bug, and stays a 500.
                    if attempt == TRANSACTION_ATTEMPTS or not is_transaction_conflict(exc):
                        raise
                    _retry_after_conflict(exc, fn.__name__, attempt)
            raise AssertionError("unreachable")

        target = blueprint or bp
        target.add_url_rule(rule, endpoint=fn.__name__, view_func=view, methods=[method])
        ENDPOINTS.append(
            EndpointDoc(
                (target.url_prefix or "") + rule,
                method,
                summary,
                tag,
                auth,
                roles,
                body,
                query,
                status,
                response,
                errors,
                content_type,
            )
        )
        return view

    return decorate


# The API's table of contents: each resource module adds its endpoints to `bp` (health's to
# `health_bp`) as it is imported, so importing this package yields the whole API and ENDPOINTS.
# They come last because they use `bp` and `endpoint` from above (pyproject.toml lets this file
# import them unused and late). A new resource module is added here;
# server.app.register_blueprints registers the blueprints.
import server.api.admin
import server.api.assignments
import server.api.auth
import server.api.feedback
import server.api.health
import server.api.lead_items
import server.api.liaison
import server.api.notice_board
import server.api.observations
import server.api.openapi
import server.api.photos
import server.api.projects
import server.api.public
import server.api.quarterly
import server.api.rectifications
import server.api.roadshows
import server.api.statistics
import server.api.storage
import server.api.teams
import server.api.visits
