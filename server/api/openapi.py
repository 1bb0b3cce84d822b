"""The OpenAPI 3.1 document, built from the same schemas that validate the requests."""

from __future__ import annotations

import re

from server.api import ENDPOINTS, endpoint

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {"type": "object"}},
        }
    },
}
# Every 429 and 503 answer carries it (server.errors): a phone backs off by it.
RETRY_AFTER = {"description": "Seconds to wait before retrying", "schema": {"type": "integer", "minimum": 1}}
_STATUS_TEXT = {
    400: "Bad input",
    401: "Not logged in",
    403: "Role not allowed",
    404: "Not found or not visible",
    409: "Conflict with stored state",
    413: "Too large",
    422: "Refused content",
    429: "Rate limited",
    503: "Dependency unavailable",
}


def documented_errors(ep) -> list[int]:
    """The error statuses an endpoint can answer: its own, and those every view of its kind can.

    The decorator answers 401 without a valid token, 403 without a role, 400 for a body or
    query that fails its schema; a URL with an id answers 404 for an unknown one; every
    endpoint answers 503 with Retry-After while the database is unavailable or busy.
    """
    implied = {503}
    if ep.auth:
        implied.add(401)
    if ep.roles:
        implied.add(403)
    if ep.body is not None or ep.query:
        implied.add(400)
    if "<" in ep.path:
        implied.add(404)
    return sorted(set(ep.errors) | implied)


def _path(rule: str) -> tuple[str, list[dict]]:
    params = []

    def repl(m: re.Match) -> str:
        conv, name = m.group(1), m.group(2)
        params.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1} if conv == "int" else {"type": "string"},
            }
        )
        return "{" + name + "}"

    return re.sub(r"<(?:(\w+):)?(\w+)>", repl, rule), params


def build_document() -> dict:
    """The whole document; every registered endpoint is in it."""
    paths: dict[str, dict] = {}
    for ep in ENDPOINTS:
        path, params = _path(ep.path)
        for name, rule in (ep.query or {}).items():
            schema = {k: v for k, v in rule.items() if k in ("type", "enum", "minimum", "maximum", "default")}
            params.append({"name": name, "in": "query", "required": False, "schema": schema})
        op: dict = {
            "summary": ep.summary,
            "tags": [ep.tag],
            "operationId": f"{ep.method.lower()}_{path}",
            "parameters": params,
            "responses": {
                str(ep.status): {
                    "description": "OK",
                    **(
                        {}
                        if ep.status == 204
                        else {
                            "content": {
                                ep.content_type
                                if ep.method == "GET" and ep.content_type != "application/json"
                                else "application/json": {"schema": ep.response or {"type": "object"}}
                            }
                        }
                    ),
                }
            },
        }
        if ep.status == 201 and "client_id" in ((ep.body or {}).get("properties") or {}):
            # A retry of the same client_id answers 200 with the object stored the first time.
            op["responses"]["200"] = {**op["responses"]["201"], "description": "A retry: the stored object"}
        if ep.auth:
            op["security"] = [{"bearer": []}]
            if ep.roles:
                op["description"] = "Roles: " + ", ".join(ep.roles)
        if ep.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ep.body}}}
        elif ep.method == "POST" and ep.content_type == "multipart/form-data":
            op["requestBody"] = {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                    }
                },
            }
        for status in documented_errors(ep):
            op["responses"][str(status)] = {
                "description": _STATUS_TEXT.get(status, "Error"),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                **({"headers": {"Retry-After": RETRY_AFTER}} if status in (429, 503) else {}),
            }
        paths.setdefault(path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "书记项目暗访督查 API",
            "version": "1",
            "description": "Unannounced field inspections of secretary projects. Coordinates are "
            "WGS-84 unless a field says gcj02. Every phone write carries client_id "
            "(UUID) and sent_at (RFC 3339): retries answer 200 with the same object.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


@endpoint("/openapi.json", "GET", summary="This document", tag="ops", auth=False)
def openapi_document():
    return build_document()
