"""Settings from the environment, parsed once; see .env.example for every name."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

DEFAULT_INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"
WECHAT_DEFAULT_API_BASE = "https://api.weixin.qq.com"
# 天地图's WMTS tiles in Web Mercator (TILEMATRIXSET=w); Leaflet fills {s} (t0…t7), {layer}, {z}/{x}/{y}, {tk}.
TIANDITU_DEFAULT_URL_TEMPLATE = (
    "https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}"
    "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={tk}"
)


class ConfigError(RuntimeError):
    """The environment does not describe a runnable service (e.g. a production secret is missing)."""


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 1, maximum: int | None = None) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc
    # Sizes, ages and ports are all positive: 0 or -1 would silently expire or refuse everything.
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
        raise ConfigError(f"{name} must be {bounds}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be a boolean (true/false), got {raw!r}")


def _dev_secret(instance_dir: Path) -> str:
    """A per-machine secret kept in the instance folder, so tokens and encrypted data survive restarts."""
    path = instance_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


_HEX = frozenset("0123456789abcdefABCDEF")
_BASE64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")


def key_weakness(value: str) -> str | None:
    """Why a production key is not "at least 32 random bytes" (None when it is).

    A key is the text encoding of 32 or more random bytes, as `openssl rand -hex 32`,
    `openssl rand -base64 32` or `secrets.token_urlsafe(32)` print it:
    - hex: at least 64 hex digits, at least 12 of the 16 digits present;
    - base64 or base64url (trailing "=" ignored): at least 43 characters, at least 20 distinct
      ones, upper- and lower-case letters both present.
    Random text of those lengths misses these marks with a probability below one in a million;
    words, repeated patterns, short strings and anything with spaces or other characters do not
    pass.
    """
    if set(value) <= _HEX:
        if len(value) < 64:
            return f"is {len(value)} hex digits; at least 64 (32 bytes) are needed"
        if len(set(value.lower())) < 12:
            return "does not look random (too few distinct hex digits)"
        return None
    text = value.rstrip("=")
    if not set(text) <= _BASE64:
        return "must be hex or base64 text of random bytes (e.g. openssl rand -hex 32)"
    if len(text) < 43:
        return f"is {len(text)} base64 characters; at least 43 (32 bytes) are needed"
    if len(set(text)) < 20 or not any(c.islower() for c in text) or not any(c.isupper() for c in text):
        return "does not look random (too few distinct characters)"
    return None


def _production_keys(keys: dict[str, str]) -> None:
    """Each production key set, at least 32 random bytes, and none equal to another; name the bad one."""
    for name, value in keys.items():
        if not value:
            raise ConfigError(f"{name} must be set when APP_ENV=production")
        weakness = key_weakness(value)
        if weakness:
            raise ConfigError(
                f"{name} {weakness} (APP_ENV=production needs 32 random bytes, "
                "e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
    names = list(keys)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            if keys[first] == keys[second]:
                raise ConfigError(f"{second} must differ from {first} (APP_ENV=production)")


def _limits(env: Mapping[str, str], name: str, default: str) -> str:
    """A rate-limit setting such as '5/hour,20/day', checked at start-up rather than per request."""
    raw = env.get(name, "").strip() or default
    for part in raw.split(","):
        count, _, unit = part.strip().partition("/")
        if not count.strip().isdigit() or int(count) < 1 or unit.strip() not in ("minute", "hour", "day"):
            raise ConfigError(f"{name} must look like '5/hour,20/day', got {raw!r}")
    return raw


def _dates(env: Mapping[str, str], name: str) -> str:
    raw = env.get(name, "").strip()
    for part in filter(None, (p.strip() for p in raw.split(","))):
        try:
            date.fromisoformat(part)
        except ValueError as exc:
            raise ConfigError(f"{name} must be comma-separated dates like 2026-10-01, got {part!r}") from exc
    return raw


def _networks(env: Mapping[str, str], name: str, default: str) -> str:
    """A comma-separated list of CIDR networks such as '127.0.0.1/32,10.0.0.0/8', checked at start-up."""
    raw = env.get(name, "").strip() or default
    for part in filter(None, (p.strip() for p in raw.split(","))):
        try:
            ipaddress.ip_network(part, strict=False)
        except ValueError as exc:
            raise ConfigError(f"{name} must be comma-separated networks like 10.0.0.0/8, got {part!r}") from exc
    return raw


def _doc_prefix(env: Mapping[str, str]) -> str:
    """The 发文字号's 代字: DOC_NUMBER_PREFIX, else 吉县组字 made from a DEPARTMENT_NAME like 中共吉安县委组织部."""
    raw = env.get("DOC_NUMBER_PREFIX", "").strip()
    if raw:
        if len(raw) > 32:
            raise ConfigError(f"DOC_NUMBER_PREFIX holds at most 32 characters, got {raw!r}")
        return raw
    # The usual abbreviation: the county's first character and its 县/区/市, then 组字.
    county = re.search(r"([^省市共]+?)([县区市旗])委?组织部", env.get("DEPARTMENT_NAME", ""))
    return f"{county.group(1)[0]}{county.group(2)}组字" if county else "组字"


def _kind_prefixes(env: Mapping[str, str]) -> dict[str, str]:
    """DOC_NUMBER_KIND_PREFIXES such as 'rectification=吉县组改,round_notice=吉县组督': a 代字 per document kind."""
    from server.models.documents import DOCUMENT_KINDS  # models import no config: no cycle

    out = {}
    for part in filter(None, (p.strip() for p in env.get("DOC_NUMBER_KIND_PREFIXES", "").split(","))):
        kind, _, prefix = (x.strip() for x in part.partition("="))
        if kind not in DOCUMENT_KINDS or not prefix or len(prefix) > 32:
            raise ConfigError(
                f"DOC_NUMBER_KIND_PREFIXES must look like 'rectification=吉县组改' with a kind of "
                f"{', '.join(DOCUMENT_KINDS)}, got {part!r}"
            )
        out[kind] = prefix
    return out


def load_config(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read every setting from the environment; raise ConfigError for bad or missing values."""
    env = os.environ if env is None else env
    app_env = env.get("APP_ENV", "").strip().lower() or "development"
    # A typo such as "prod" must not quietly start with a generated key and a local SQLite file.
    if app_env not in {"development", "production"}:
        raise ConfigError(f"APP_ENV must be 'development' or 'production', got {app_env!r}")
    production = app_env == "production"
    instance_dir = Path(env.get("INSTANCE_DIR") or DEFAULT_INSTANCE_DIR).resolve()

    secret_key = env.get("SECRET_KEY", "").strip()
    if not secret_key and not production:
        secret_key = _dev_secret(instance_dir)

    data_key = env.get("DATA_KEY", "").strip()
    audit_key = env.get("AUDIT_KEY", "").strip()
    if production:
        _production_keys({"SECRET_KEY": secret_key, "DATA_KEY": data_key, "AUDIT_KEY": audit_key})
    elif not audit_key:
        # Development only: derived from SECRET_KEY, so a laptop needs no third secret.
        audit_key = hmac.new(secret_key.encode(), b"development audit key", hashlib.sha256).hexdigest()

    database_url = env.get("DATABASE_URL", "").strip()
    if not database_url:
        if production:
            raise ConfigError("DATABASE_URL must be set when APP_ENV=production")
        database_url = f"sqlite:///{instance_dir / 'inspections.db'}"

    backend = env.get("STORAGE_BACKEND", "local").strip().lower() or "local"
    if backend not in {"local", "s3"}:
        raise ConfigError("STORAGE_BACKEND must be 'local' or 's3'")
    if backend == "s3" and not env.get("S3_BUCKET"):
        raise ConfigError("S3_BUCKET must be set when STORAGE_BACKEND=s3")
    addressing = env.get("S3_ADDRESSING_STYLE", "auto").strip() or "auto"
    if addressing not in {"auto", "path", "virtual"}:
        raise ConfigError("S3_ADDRESSING_STYLE must be auto, path or virtual")
    lock_mode = env.get("S3_OBJECT_LOCK_MODE", "").strip().upper() or None
    if lock_mode not in {None, "GOVERNANCE", "COMPLIANCE"}:
        raise ConfigError("S3_OBJECT_LOCK_MODE must be empty, GOVERNANCE or COMPLIANCE")

    port = _int(env, "PORT", 8000, maximum=65535)
    log_level = env.get("LOG_LEVEL", "").strip().upper() or "INFO"
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {log_level!r}")
    # One JSON object a line for log collectors in production; readable lines on a laptop.
    log_format = env.get("LOG_FORMAT", "").strip().lower() or ("json" if production else "text")
    if log_format not in {"json", "text"}:
        raise ConfigError(f"LOG_FORMAT must be 'json' or 'text', got {log_format!r}")
    tile_template = env.get("TIANDITU_URL_TEMPLATE", "").strip() or TIANDITU_DEFAULT_URL_TEMPLATE
    if not tile_template.startswith(("https://", "http://")) or not all(
        f"{{{part}}}" in tile_template for part in ("z", "x", "y")
    ):
        raise ConfigError("TIANDITU_URL_TEMPLATE must be an http(s) URL with {z}, {x} and {y}")
    redis_url = env.get("REDIS_URL", "").strip()
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError("REDIS_URL must start with redis://, rediss:// or unix://")
    return {
        "APP_ENV": "production" if production else "development",
        "INSTANCE_DIR": str(instance_dir),
        "SECRET_KEY": secret_key,
        # Personal data (household names, phone numbers) is encrypted with a key derived from
        # DATA_KEY (in development SECRET_KEY when unset); `flask reencrypt` rotates it.
        "DATA_KEY": data_key or secret_key,
        # Keys the audit chain's HMAC and signs its checkpoints; never stored in the database.
        "AUDIT_KEY": audit_key,
        "DATABASE_URL": database_url,
        "STORAGE_BACKEND": backend,
        "STORAGE_DIR": str(Path(env.get("STORAGE_DIR") or instance_dir / "storage").resolve()),
        "S3_ENDPOINT_URL": env.get("S3_ENDPOINT_URL", "").strip() or None,
        "S3_BUCKET": env.get("S3_BUCKET", "").strip(),
        "S3_REGION": env.get("S3_REGION", "").strip() or None,
        "S3_ACCESS_KEY_ID": env.get("S3_ACCESS_KEY_ID", "").strip() or None,
        "S3_SECRET_ACCESS_KEY": env.get("S3_SECRET_ACCESS_KEY", "").strip() or None,
        "S3_ADDRESSING_STYLE": addressing,
        "S3_TIMEOUT_SECONDS": _int(env, "S3_TIMEOUT_SECONDS", 10, maximum=60),
        "S3_OBJECT_LOCK_MODE": lock_mode,
        "S3_OBJECT_LOCK_DAYS": _int(env, "S3_OBJECT_LOCK_DAYS", 3650),
        "PUBLIC_BASE_URL": env.get("PUBLIC_BASE_URL", "").strip().rstrip("/"),
        "WECHAT_APPID": env.get("WECHAT_APPID", "").strip(),
        "WECHAT_SECRET": env.get("WECHAT_SECRET", "").strip(),
        "WECHAT_API_BASE": env.get("WECHAT_API_BASE", "").strip() or WECHAT_DEFAULT_API_BASE,
        "MAX_PHOTO_BYTES": _int(env, "MAX_PHOTO_BYTES", 15 * 1024 * 1024),
        "PORT": port,
        "TOKEN_MAX_AGE": _int(env, "TOKEN_MAX_AGE", 14 * 24 * 3600),
        "INVITE_MAX_AGE_DAYS": _int(env, "INVITE_MAX_AGE_DAYS", 30),
        # A day at most: uploads and their seal markers are swept after UPLOAD_RETENTION_DAYS.
        "PHOTO_TICKET_SECONDS": _int(env, "PHOTO_TICKET_SECONDS", 15 * 60, maximum=24 * 3600),
        "PHOTO_URL_SECONDS": _int(env, "PHOTO_URL_SECONDS", 10 * 60),
        "LATE_SYNC_DAYS": _int(env, "LATE_SYNC_DAYS", 14, maximum=365),
        "FEEDBACK_RATE_LIMITS": _limits(env, "FEEDBACK_RATE_LIMITS", "5/hour,20/day"),
        "VERIFY_RATE_LIMITS": _limits(env, "VERIFY_RATE_LIMITS", "30/hour,200/day"),
        # Behind nginx or a load balancer: how many proxy hops to trust for the client's address.
        "TRUSTED_PROXIES": _int(env, "TRUSTED_PROXIES", 0, minimum=0, maximum=5),
        # ... and only when they come from these addresses or networks (the proxies themselves).
        "TRUSTED_PROXY_IPS": _networks(env, "TRUSTED_PROXY_IPS", "127.0.0.1/32,::1/128"),
        "FEEDBACK_REPLY_DAYS": _int(env, "FEEDBACK_REPLY_DAYS", 5),
        "HOLIDAYS": _dates(env, "HOLIDAYS"),  # extra non-working days: 2026-10-01,2026-10-02,…
        "WECHAT_FEEDBACK_TEMPLATE_ID": env.get("WECHAT_FEEDBACK_TEMPLATE_ID", "").strip(),
        "MINIPROGRAM_PROJECT_PAGE": env.get("MINIPROGRAM_PROJECT_PAGE", "").strip() or "pages/project/project",
        # Monthly reports (月报): the report for month M is due on this day of month M+1.
        "MONTHLY_REPORT_DUE_DAY": _int(env, "MONTHLY_REPORT_DUE_DAY", 5, minimum=1, maximum=28),
        "WECHAT_REPORT_TEMPLATE_ID": env.get("WECHAT_REPORT_TEMPLATE_ID", "").strip(),
        # Printed on documents the department hands out (the cover of a 案例集), e.g. 中共××县委组织部.
        "DEPARTMENT_NAME": env.get("DEPARTMENT_NAME", "").strip(),
        # The 代字 of the 发文字号 on official documents (吉县组字〔2026〕12号).
        "DOC_NUMBER_PREFIX": _doc_prefix(env),
        # ... and per kind where the department uses another 代字 (each kind counts from 1 every year).
        "DOC_NUMBER_KIND_PREFIXES": _kind_prefixes(env),
        "MINIPROGRAM_REPORT_PAGE": env.get("MINIPROGRAM_REPORT_PAGE", "").strip() or "pages/workspace/workspace",
        # Tests set a cheap method; production keeps Werkzeug's scrypt default.
        "PASSWORD_HASH_METHOD": env.get("PASSWORD_HASH_METHOD", "").strip() or "scrypt",
        "SQL_ECHO": _bool(env, "SQL_ECHO", False),
        "LOG_LEVEL": log_level,
        "LOG_FORMAT": log_format,
        # /metrics answers only these client networks, or anyone showing METRICS_TOKEN.
        "METRICS_ALLOWED_NETWORKS": _networks(env, "METRICS_ALLOWED_NETWORKS", "127.0.0.1/32,::1/128"),
        "METRICS_TOKEN": env.get("METRICS_TOKEN", "").strip(),
        # Shared cache of WeChat's access token when several app nodes run (needs the redis package).
        "REDIS_URL": redis_url,
        # 天地图 browser key (bound to the console's domain): the evidence map shows its tiles; empty →
        # the offline SVG sketch. The URL template is changed only by tests (a local tile server).
        "TIANDITU_KEY": env.get("TIANDITU_KEY", "").strip(),
        "TIANDITU_URL_TEMPLATE": tile_template,
    }
