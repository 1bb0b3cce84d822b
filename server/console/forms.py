"""Small request helpers shared by the console's page modules: paging, query ids, form fields
(numbers, ids, dates, coordinates, implementation steps) and form errors."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from flask import request, url_for

from server import geo
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


def values(*multi: str) -> dict[str, Any]:
    """The submitted form, to refill it after an error; `multi` fields keep all their values."""
    found: dict[str, Any] = request.form.to_dict()
    for key in multi:
        found[key] = request.form.getlist(key)
    return found


def integer(name: str, label: str, low: int, high: int, *, required: bool = False) -> int | None:
    """A whole number between `low` and `high`; None when left empty (unless required)."""
    raw = request.form.get(name, "").strip()
    if not raw:
        if required:
            raise invalid(f"请填写{label}", name)
        return None
    if not re.fullmatch(r"-?\d+", raw):
        raise invalid(f"{label}“{raw}”不是整数", name)
    value = int(raw)
    if not low <= value <= high:
        raise invalid(f"{label}应在 {low} 到 {high} 之间", name)
    return value


def form_id(name: str) -> int | None:
    """A picked record's id, or None when nothing (or not a number) was picked."""
    raw = request.form.get(name, "").strip()
    return int(raw) if raw.isdigit() else None


def form_ids(name: str) -> list[int]:
    """The ids ticked in a multiple choice, each once, in the order sent."""
    return list(dict.fromkeys(int(v) for v in request.form.getlist(name) if v.strip().isdigit()))


def code12(name: str = "code") -> str:
    """A 12-digit division code (区划代码)."""
    code = request.form.get(name, "").strip()
    if not re.fullmatch(r"\d{12}", code):
        raise invalid(f"区划代码“{code}”应为 12 位数字", name)
    return code


def due_date(name: str = "due_date") -> str | None:
    """A due date as ISO text, or None when left empty."""
    raw = request.form.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw).isoformat()
    except ValueError:
        raise invalid(f"截止日期“{raw}”不是有效日期", name) from None


# ---- coordinates ------------------------------------------------------------------------

_POINT_SEPARATORS = re.compile(r"[\s,，;；、]+")


def parse_point(text: str, lat: str = "", lng: str = "", coord_type: str = "gcj02") -> dict[str, Any] | None:
    """Coordinates typed or pasted into a form as the services take them; None when left empty.

    Accepts "27.0161, 114.8803", "27.0161,114.8803" (Chinese comma too) or separate lat/lng
    fields. Range checks and the GCJ-02 conversion stay in the services.
    """
    if coord_type not in geo.COORD_TYPES:
        raise ApiError("invalid_coordinate", "坐标系必须是 GCJ-02 或 WGS-84", {"field": "coord_type"})
    text = text.strip().strip("()（）[]【】")
    if text:
        parts = [p for p in _POINT_SEPARATORS.split(text) if p]
    elif lat.strip() or lng.strip():
        parts = [lat.strip(), lng.strip()]
    else:
        return None
    try:
        first, second = (float(p) for p in parts)
    except ValueError:
        shown = text or f"{lat}, {lng}"
        raise ApiError(
            "invalid_coordinate",
            f"坐标“{shown}”无法识别,请按“纬度, 经度”填写,例如 27.0161, 114.8803",
            {"field": "coords"},
        ) from None
    # AMap's coordinate picker copies "lng,lat"; a first number beyond ±90 cannot be a
    # latitude, so that order is unambiguous and we take it rather than refuse it.
    if abs(first) > 90 >= abs(second):
        first, second = second, first
    return {"lat": first, "lng": second, "coord_type": coord_type}


def point() -> dict[str, Any] | None:
    """The form's coordinates (coords, or lat and lng, in coord_type), or None when left empty."""
    return parse_point(
        request.form.get("coords", ""),
        request.form.get("lat", ""),
        request.form.get("lng", ""),
        request.form.get("coord_type", "gcj02"),
    )


# ---- implementation steps -----------------------------------------------------------------

_STEP_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")


def parse_steps(text: str) -> list[dict[str, str]]:
    """Steps from lines "名称 | 2026-05-31 | 负责人 [| 状态]"; deadline, person and status optional."""
    steps = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in re.split(r"[|｜]", line)]
        if len(parts) > 4:
            raise invalid(f"实施步骤第 {n} 行最多 4 栏:名称 | 截止日期 | 负责人 | 状态", "steps")
        name, deadline, person, status = parts + [""] * (4 - len(parts))
        if not name:
            raise invalid(f"实施步骤第 {n} 行缺少名称", "steps")
        if len(name) > 200 or len(person) > 64 or len(status) > 32:
            raise invalid(f"实施步骤第 {n} 行内容过长", "steps")
        if deadline:
            match = _STEP_DATE.fullmatch(deadline)
            try:
                deadline = date(*(int(x) for x in match.groups())).isoformat() if match else ""
            except ValueError:
                deadline = ""
            if not deadline:
                raise invalid(f"实施步骤第 {n} 行的截止日期“{parts[1]}”无效,应写成 2026-05-31", "steps")
        step = {"name": name, "deadline": deadline, "responsible": person}
        if status:
            step["status"] = status
        steps.append(step)
    if len(steps) > 100:
        raise invalid("实施步骤最多 100 条", "steps")
    return steps


def steps_text(steps: list[Any]) -> str:
    """Steps back in the one-line-each form the editor takes."""
    rows = []
    for step in steps or []:
        if isinstance(step, dict):
            cells = [str(step.get(k) or "") for k in ("name", "deadline", "responsible", "status")]
            while cells and not cells[-1]:
                cells.pop()
            rows.append(" | ".join(cells))
        else:
            rows.append(str(step))
    return "\n".join(rows)
