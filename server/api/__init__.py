"""The JSON API under /api/v1: one blueprint, one decorator that authenticates, validates and documents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Blueprint

from server.api.validation import json_body, query_args
from server.transactions import is_transaction_conflict as is_transaction_conflict  # tests import it from here
from server.transactions import run_again_on_conflict

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
            # A transaction that loses to a concurrent one (a deadlock, a Galera certification
            # conflict, a duplicate key taken meanwhile) is run again: server/transactions.py.
            return run_again_on_conflict(fn)(**kwargs)

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
