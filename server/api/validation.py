"""Request parsing: strict JSON, JSON-schema validation with Chinese messages, typed query strings."""

from __future__ import annotations

import json
import math
import uuid
from datetime import date
from typing import Any

from flask import request
from jsonschema import Draft202012Validator, FormatChecker

from server.errors import ApiError
from server.timefmt import parse_datetime

format_checker = FormatChecker(formats=())


@format_checker.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if isinstance(value, str):
        parse_datetime(value)
    return True


@format_checker.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if isinstance(value, str):
        date.fromisoformat(value)
    return True


@format_checker.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    if isinstance(value, str):
        uuid.UUID(value)
    return True


_TYPE_NAMES = {
    "string": "文本",
    "integer": "整数",
    "number": "数字",
    "boolean": "布尔值",
    "object": "对象",
    "array": "数组",
    "null": "空值",
}
_FORMAT_NAMES = {
    "date-time": "带时区的 RFC 3339 时间(如 2026-11-22T09:30:00+08:00)",
    "date": "日期(如 2026-11-30)",
    "uuid": "UUID",
}


def _field(path) -> str:
    return ".".join(str(p) for p in path) or "(请求体)"


def _message(err) -> tuple[str, str]:
    """The field an error is about and a Chinese sentence describing it."""
    field = _field(err.absolute_path)
    v, arg = err.validator, err.validator_value
    if v == "required":
        missing = next((name for name in arg if name not in (err.instance or {})), "")
        path = f"{field}.{missing}" if err.absolute_path else missing
        return path, f"缺少必填字段 {path}"
    if v == "type":
        types = arg if isinstance(arg, list) else [arg]
        return field, f"字段 {field} 应为{'或'.join(_TYPE_NAMES.get(t, t) for t in types)}"
    if v == "enum":
        return field, f"字段 {field} 的取值应为:{'、'.join(str(x) for x in arg)}"
    if v in ("minimum", "exclusiveMinimum"):
        return field, f"字段 {field} 不能小于 {arg}"
    if v in ("maximum", "exclusiveMaximum"):
        return field, f"字段 {field} 不能大于 {arg}"
    if v == "minLength":
        return field, f"字段 {field} 不能为空" if arg == 1 else f"字段 {field} 至少 {arg} 个字符"
    if v == "maxLength":
        return field, f"字段 {field} 最多 {arg} 个字符"
    if v == "minItems":
        return field, f"字段 {field} 至少需要 {arg} 项"
    if v == "maxItems":
        return field, f"字段 {field} 最多 {arg} 项"
    if v == "uniqueItems":
        return field, f"字段 {field} 有重复项"
    if v == "format":
        return field, f"字段 {field} 应为{_FORMAT_NAMES.get(arg, arg)}"
    if v == "pattern":
        return field, f"字段 {field} 格式不正确"
    if v == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return field, f"不支持的字段:{'、'.join(extra)}"
    if v in ("minProperties", "maxProperties"):
        return field, f"字段 {field} 的项数不符合要求"
    return field, f"字段 {field} 不符合要求"


_validators: dict[int, Draft202012Validator] = {}


def validate(instance: Any, schema: dict) -> None:
    """Validate against a JSON schema; raise ApiError(validation_failed) listing every problem."""
    validator = _validators.get(id(schema))
    if validator is None:
        validator = _validators[id(schema)] = Draft202012Validator(schema, format_checker=format_checker)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    problems = [dict(zip(("field", "message"), _message(e), strict=True)) for e in errors[:20]]
    raise ApiError(
        "validation_failed",
        problems[0]["message"],
        {"field": problems[0]["field"], "errors": problems},
    )


# Databases store integers in 64 bits: larger ones would fail in the driver, not as bad input.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _no_constants(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _int64(text: str) -> int:
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"integer out of range: {text[:30]}")
    return value


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:30]}")
    return value


def json_body(schema: dict) -> dict:
    """The request's JSON object, strictly parsed (no NaN/Infinity) and validated."""
    raw = request.get_data(cache=True)
    if not raw:
        raise ApiError("invalid_json", "请求体为空,应为 JSON 对象")
    try:
        body = json.loads(raw, parse_constant=_no_constants, parse_int=_int64, parse_float=_finite)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError("invalid_json", details={"reason": str(exc)[:200]}) from None
    if not isinstance(body, dict):
        raise ApiError("invalid_json", "请求体应为 JSON 对象")
    validate(body, schema)
    return body


def query_args(spec: dict[str, dict]) -> dict[str, Any]:
    """Typed query-string values per an OpenAPI-like spec {name: {type, enum?, minimum?, maximum?, default?}}."""
    out: dict[str, Any] = {}
    for name, rule in spec.items():
        raw = request.args.get(name)
        if raw is None or raw == "":
            if "default" in rule:
                out[name] = rule["default"]
            continue
        if rule.get("type") == "integer":
            try:
                value: Any = int(raw)
            except ValueError:
                raise ApiError("validation_failed", f"参数 {name} 应为整数", {"field": name}) from None
            if not INT64_MIN <= value <= INT64_MAX:
                raise ApiError("validation_failed", f"参数 {name} 超出范围", {"field": name})
            if "minimum" in rule and value < rule["minimum"]:
                raise ApiError("validation_failed", f"参数 {name} 不能小于 {rule['minimum']}", {"field": name})
            if "maximum" in rule and value > rule["maximum"]:
                raise ApiError("validation_failed", f"参数 {name} 不能大于 {rule['maximum']}", {"field": name})
        else:
            value = raw
        if "enum" in rule and value not in rule["enum"]:
            raise ApiError(
                "validation_failed",
                f"参数 {name} 的取值应为:{'、'.join(map(str, rule['enum']))}",
                {"field": name},
            )
        out[name] = value
    return out
