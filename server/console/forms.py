"""Small request helpers shared by the console's page modules: paging, query ids, form errors."""

from __future__ import annotations

from flask import request, url_for

from server.errors import ApiError


def page() -> int:
    """The ?page= of the request, 1 when absent or not a number."""
    raw = request.args.get("page", "")
    return max(1, int(raw)) if raw.isdigit() else 1


def page_url(number: int) -> str:
    """This page's URL (same path arguments and filters) at page `number`."""
    return url_for(request.endpoint, **{**(request.view_args or {}), **request.args.to_dict(), "page": number})


def arg_int(name: str) -> int | None:
    """A whole-number query argument, or None when absent or not a number."""
    raw = request.args.get(name, "").strip()
    return int(raw) if raw.isdigit() else None


def invalid(message: str, field: str) -> ApiError:
    """A form error naming its field, shown above the form."""
    return ApiError("validation_failed", message, {"field": field})
