"""The grading rules as pure functions, and the numbers they state: parsing, totals, ranks, grades, bottom 5%."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from server.errors import ApiError
from server.models import GRADES, QUOTA_MODES

GRADABLE_STATUSES = ("in_progress", "accepted")
MIN_EXPERTS = 3
MIN_EXPERTS_DROPPING = 5
BOTTOM_PERCENT = 5
NOTICE_DEDUCTION_YUAN = 200
WARNING_MONTHS = 3
MAX_CRITERIA = 12
MAX_TEXT = 2000
DEFAULT_CRITERIA = [
    {"name": "项目推进情况", "weight": 30},
    {"name": "特色与辨识度", "weight": 20},
    {"name": "破解党建难题成效", "weight": 30},
    {"name": "群众评价", "weight": 20},
]
# Close to the seeds' 64 projects graded 1 / 12 / 32 / 19.
DEFAULT_QUOTAS = {"特等": 2, "一等": 18, "二等": 50, "三等": 30}


def conflict(message: str, **details: Any) -> ApiError:
    """A 409 conflict error with its details."""
    return ApiError("conflict", message, details)


def invalid(message: str, field_name: str) -> ApiError:
    """A validation error naming the field at fault."""
    return ApiError("validation_failed", message, {"field": field_name})


# ---- pure rules -------------------------------------------------------------------------------


def parse_criteria(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validated criteria with keys c1..cn: non-empty distinct names, whole positive weights summing to 100."""
    cleaned = []
    for n, row in enumerate(rows, start=1):
        name = str(row.get("name") or "").strip()
        weight = row.get("weight")
        if not name:
            raise invalid(f"第 {n} 项评分指标缺少名称", "criteria")
        if len(name) > 50:
            raise invalid(f"评分指标“{name}”超过 50 个字", "criteria")
        if isinstance(weight, str) and weight.strip().isdigit():
            weight = int(weight.strip())
        if not isinstance(weight, int) or isinstance(weight, bool) or not 1 <= weight <= 100:
            raise invalid(f"评分指标“{name}”的权重应为 1 到 100 的整数", "criteria")
        cleaned.append({"key": f"c{n}", "name": name, "weight": weight})
    if not cleaned:
        raise invalid("请至少设置一项评分指标", "criteria")
    if len(cleaned) > MAX_CRITERIA:
        raise invalid(f"评分指标最多 {MAX_CRITERIA} 项", "criteria")
    if len({c["name"] for c in cleaned}) != len(cleaned):
        raise invalid("评分指标名称不能重复", "criteria")
    total = sum(c["weight"] for c in cleaned)
    if total != 100:
        raise invalid(f"各项权重之和应为 100,现为 {total}", "criteria")
    return cleaned


def parse_quotas(mode: str, values: dict[str, Any]) -> dict[str, int]:
    """Validated quotas per grade: whole numbers ≥ 0; percentages may not add up to more than 100."""
    if mode not in QUOTA_MODES:
        raise invalid("等次名额方式应为按比例或按名额", "quota_mode")
    out = {}
    for grade in GRADES:
        raw = values.get(grade, 0)
        raw = raw.strip() if isinstance(raw, str) else raw
        if raw in ("", None):
            raw = 0
        if isinstance(raw, str) and raw.isdigit():
            raw = int(raw)
        if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
            raise invalid(f"{grade}名额应为不小于 0 的整数", "quotas")
        out[grade] = raw
    if mode == "percent" and sum(out.values()) > 100:
        raise invalid(f"各等次比例之和不能超过 100%,现为 {sum(out.values())}%", "quotas")
    return out


def parse_score(raw: Any) -> int | None:
    """A typed score as tenths of a point: 0–100 with at most one decimal; None when left empty."""
    text = str(raw if raw is not None else "").strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise invalid(f"分数“{text}”不是数字", "scores") from None
    if not value.is_finite() or not 0 <= value <= 100:
        raise invalid(f"分数“{text}”应在 0 到 100 之间", "scores")
    tenths = value * 10
    if tenths != tenths.to_integral_value():
        raise invalid(f"分数“{text}”最多保留一位小数", "scores")
    return int(tenths)


def expert_total_milli(tenths: dict[str, int], criteria: list[dict[str, Any]]) -> int:
    """An expert's weighted total in thousandths of a point: Σ (tenths / 10) × weight / 100 × 1000."""
    return sum(tenths[c["key"]] * c["weight"] for c in criteria)


def required_experts(drop_extremes: bool) -> int:
    """Complete expert scores a project needs before the session may be finalized."""
    return MIN_EXPERTS_DROPPING if drop_extremes else MIN_EXPERTS


def final_centi(totals_milli: list[int], drop_extremes: bool) -> int:
    """The final score in hundredths: the (trimmed) mean of expert totals, rounded half up."""
    counted = sorted(totals_milli)
    if drop_extremes:
        if len(counted) < MIN_EXPERTS_DROPPING:
            raise ValueError("dropping the extremes needs five totals")
        counted = counted[1:-1]
    if not counted:
        raise ValueError("no totals")
    # mean in thousandths = Σ / k; in hundredths = Σ / (10k), rounded half up in integers.
    num, den = sum(counted), 10 * len(counted)
    return (2 * num + den) // (2 * den)


@dataclass(frozen=True)
class Placed:
    """A project's place in the ranking: its rank and the 0-based positions its tied group spans."""

    key: int
    score: int
    rank: int
    first: int
    last: int


def rank(scores: dict[int, int]) -> list[Placed]:
    """Best first; equal scores share a rank and a span of positions (listed by key within a tie)."""
    ordered = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    out, i = [], 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1][1] == ordered[i][1]:
            j += 1
        out.extend(Placed(key, score, i + 1, i, j) for key, score in ordered[i : j + 1])
        i = j + 1
    return out


def grade_cutoffs(n: int, mode: str, quotas: dict[str, int]) -> list[int]:
    """For each grade in GRADES, how many places the grades down to it cover in total (≤ n)."""
    out, cumulative = [], 0
    for grade in GRADES:
        cumulative += quotas.get(grade, 0)
        places = cumulative if mode == "count" else (2 * cumulative * n + 100) // 200
        out.append(min(n, places))
    return out


def allocate(ranking: list[Placed], mode: str, quotas: dict[str, int]) -> dict[int, str | None]:
    """The grade of each ranked key; a tied group takes the grade of its best place."""
    cutoffs = grade_cutoffs(len(ranking), mode, quotas)
    return {p.key: next((g for g, cut in zip(GRADES, cutoffs, strict=True) if p.first < cut), None) for p in ranking}


def bottom_size(n: int) -> int:
    """How many places the bottom 5% of n projects covers (rounded up)."""
    return -(-n * BOTTOM_PERCENT // 100)


def bottom_keys(ranking: list[Placed]) -> set[int]:
    """Keys in the bottom 5%; a tied group is flagged only if its best place is in it."""
    n = len(ranking)
    start = n - bottom_size(n)
    return {p.key for p in ranking if p.first >= start}


def format_score(centi_or_milli: int | None, scale: int = 100) -> str:
    """A stored score as text with two decimals ("" when missing)."""
    if centi_or_milli is None:
        return ""
    return f"{Decimal(centi_or_milli) / scale:.2f}"
