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


def text(name: str, label: str, *, required: bool = False, max_len: int = 64) -> str:
    """A trimmed text field of the submitted form, checked for presence and length."""
    value = request.form.get(name, "").strip()
    if required and not value:
        raise invalid(f"请填写{label}", name)
    if len(value) > max_len:
        raise invalid(f"{label}最多 {max_len} 个字", name)
    return value


def lines(name: str, label: str, *, max_items: int, max_len: int = 200) -> list[str]:
    """The non-blank lines of a textarea, each trimmed, checked for count and length."""
    items = [line.strip() for line in request.form.get(name, "").splitlines() if line.strip()]
    if len(items) > max_items:
        raise invalid(f"{label}最多 {max_items} 条", name)
    for n, item in enumerate(items, start=1):
        if len(item) > max_len:
            raise invalid(f"{label}第 {n} 条超过 {max_len} 个字", name)
    return items
