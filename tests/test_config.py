"""Settings from the environment: production secrets, defaults, parsing, the development secret."""

import base64
import secrets
import stat

import pytest

from server.config import ConfigError, key_weakness, load_config

# Three keys as an operator makes them: hex, base64url, base64 of 32 random bytes.
KEYS = {
    "SECRET_KEY": "9f2c4e1a7b3d8056c2e9f1a4b7d3c8e05a6f2b9d1c4e7a3f8b0d5c2e9a1f4b7d",
    "DATA_KEY": "Qm8xT3pLw2vYc9RfHs4uJd7gNa1eKb6iXo0tUp5qZrM",
    "AUDIT_KEY": "vC3yH8mQe1LwT6sR9bJ2kN5pXz0aF7dG4uI+hO/YtWc=",
}
PROD = {"APP_ENV": "production", **KEYS, "DATABASE_URL": "mysql+pymysql://u:p@db/sp"}


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    """An environment with its own instance folder and nothing else set."""
    return {"INSTANCE_DIR": str(tmp_path / "instance")}


def test_production_needs_secret_key(env):
    """APP_ENV=production without SECRET_KEY refuses to start, naming the variable."""
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config({**env, **PROD, "SECRET_KEY": ""})


def test_production_needs_database_url(env):
    """APP_ENV=production without DATABASE_URL refuses to start, naming the variable."""
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_config({**env, **PROD, "DATABASE_URL": "  "})


def test_production_writes_no_secret_file(env, tmp_path):
    """A complete production environment loads and creates nothing in the instance folder."""
    cfg = load_config({**env, **PROD, "APP_ENV": " Production "})
    assert cfg["APP_ENV"] == "production"
    assert (cfg["SECRET_KEY"], cfg["DATABASE_URL"]) == (KEYS["SECRET_KEY"], PROD["DATABASE_URL"])
    assert (cfg["DATA_KEY"], cfg["AUDIT_KEY"]) == (KEYS["DATA_KEY"], KEYS["AUDIT_KEY"])
    assert not (tmp_path / "instance").exists()


@pytest.mark.parametrize(
    "name,value,message",
    [
        ("SECRET_KEY", "a", "SECRET_KEY is 1 hex digits"),
        ("SECRET_KEY", "prod-secret", "SECRET_KEY is 11 base64 characters"),
        ("DATA_KEY", "", "DATA_KEY must be set"),
        ("AUDIT_KEY", "", "AUDIT_KEY must be set"),
        ("AUDIT_KEY", "0123456789abcdef" * 3, "AUDIT_KEY is 48 hex digits"),
        ("DATA_KEY", "ab" * 40, "DATA_KEY does not look random"),
        ("SECRET_KEY", "correcthorsebatterystaplecorrecthorsebatterystaple", "SECRET_KEY does not look random"),
        ("AUDIT_KEY", "Xy7" * 20, "AUDIT_KEY does not look random"),
        ("DATA_KEY", "a secret passphrase with spaces that is long enough", "DATA_KEY must be hex or base64"),
        ("DATA_KEY", KEYS["SECRET_KEY"], "DATA_KEY must differ from SECRET_KEY"),
        ("AUDIT_KEY", KEYS["SECRET_KEY"], "AUDIT_KEY must differ from SECRET_KEY"),
        ("AUDIT_KEY", KEYS["DATA_KEY"], "AUDIT_KEY must differ from DATA_KEY"),
    ],
)
def test_production_refuses_weak_or_shared_keys(env, name, value, message):
    """APP_ENV=production refuses a key that is missing, short, patterned or equal to another, naming it."""
    with pytest.raises(ConfigError, match=message):
        load_config({**env, **PROD, name: value})


def test_random_keys_pass_the_production_check():
    """Keys printed by the usual tools (hex, base64, base64url of 32 random bytes) are accepted, 200 of each."""
    for _ in range(200):
        for key in (
            secrets.token_hex(32),
            secrets.token_urlsafe(32),
            base64.b64encode(secrets.token_bytes(32)).decode(),
        ):
            assert key_weakness(key) is None, key


def test_development_audit_key_differs_from_the_secret(env):
    """Without AUDIT_KEY, development derives a stable one that is not SECRET_KEY itself."""
    first, second = load_config(env), load_config(env)
    assert first["AUDIT_KEY"] == second["AUDIT_KEY"] != first["SECRET_KEY"]
    assert load_config({**env, "AUDIT_KEY": "own"})["AUDIT_KEY"] == "own"


def test_unknown_app_env(env):
    """An APP_ENV that is neither development nor production (a typo of production) is refused."""
    with pytest.raises(ConfigError, match="APP_ENV"):
        load_config({**env, **PROD, "APP_ENV": "prod"})


def test_defaults(env, tmp_path):
    """Without settings: port 8000, 15 MiB photos, local storage, WeChat's real API host, SQLite."""
    cfg = load_config(env)
    instance = (tmp_path / "instance").resolve()
    assert cfg["APP_ENV"] == "development"
    assert cfg["PORT"] == 8000
    assert cfg["MAX_PHOTO_BYTES"] == 15 * 1024 * 1024
    assert cfg["STORAGE_BACKEND"] == "local"
    assert cfg["STORAGE_DIR"] == str(instance / "storage")
    assert cfg["WECHAT_API_BASE"] == "https://api.weixin.qq.com"
    assert cfg["DATABASE_URL"] == f"sqlite:///{instance / 'inspections.db'}"
    assert cfg["TOKEN_MAX_AGE"] == 14 * 24 * 3600
    assert cfg["LATE_SYNC_DAYS"] == 14
    assert (cfg["SQL_ECHO"], cfg["LOG_LEVEL"]) == (False, "INFO")
    assert cfg["DATA_KEY"] == cfg["SECRET_KEY"]


def test_values_are_parsed_and_trimmed(env):
    """Integers, booleans and names are read with surrounding spaces trimmed."""
    cfg = load_config(
        {
            **env,
            "PORT": " 9000 ",
            "MAX_PHOTO_BYTES": "1048576",
            "SQL_ECHO": " Yes ",
            "LOG_LEVEL": "debug",
            "WECHAT_API_BASE": " http://127.0.0.1:8901 ",
            "STORAGE_BACKEND": "S3",
            "S3_BUCKET": "photos",
            "DATA_KEY": "data-key",
        }
    )
    assert (cfg["PORT"], cfg["MAX_PHOTO_BYTES"], cfg["SQL_ECHO"]) == (9000, 1048576, True)
    assert (cfg["LOG_LEVEL"], cfg["WECHAT_API_BASE"]) == ("DEBUG", "http://127.0.0.1:8901")
    assert (cfg["STORAGE_BACKEND"], cfg["S3_BUCKET"], cfg["DATA_KEY"]) == ("s3", "photos", "data-key")


@pytest.mark.parametrize(
    "name,value",
    [
        ("PORT", "eighty"),
        ("PORT", "80.5"),
        ("MAX_PHOTO_BYTES", "15MB"),
        ("TOKEN_MAX_AGE", "2w"),
        ("PORT", "0"),
        ("PORT", "70000"),
        ("MAX_PHOTO_BYTES", "-1"),
        ("TOKEN_MAX_AGE", "0"),
        ("LATE_SYNC_DAYS", "0"),
        ("LATE_SYNC_DAYS", "two weeks"),
    ],
)
def test_bad_integers(env, name, value):
    """A non-integer or out-of-range number is refused, naming the variable."""
    with pytest.raises(ConfigError, match=name):
        load_config({**env, name: value})


@pytest.mark.parametrize(
    "value,expected",
    [
        ("1", True),
        ("true", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("off", False),
        ("NO", False),
    ],
)
def test_booleans(env, value, expected):
    """The usual spellings of true and false are understood."""
    assert load_config({**env, "SQL_ECHO": value})["SQL_ECHO"] is expected


@pytest.mark.parametrize("value", ["maybe", "2", "enabled"])
def test_bad_booleans(env, value):
    """A boolean that is neither true nor false is refused, naming the variable."""
    with pytest.raises(ConfigError, match="SQL_ECHO"):
        load_config({**env, "SQL_ECHO": value})


@pytest.mark.parametrize(
    "settings,name",
    [
        ({"STORAGE_BACKEND": "ftp"}, "STORAGE_BACKEND"),
        ({"STORAGE_BACKEND": "s3"}, "S3_BUCKET"),
        ({"S3_ADDRESSING_STYLE": "sideways"}, "S3_ADDRESSING_STYLE"),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"METRICS_ALLOWED_NETWORKS": "10.0.0.0/8,intranet"}, "METRICS_ALLOWED_NETWORKS"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL"),
    ],
)
def test_bad_choices(env, settings, name):
    """Unknown backends, S3 without a bucket, bad addressing styles, log settings, networks or Redis URLs are refused."""
    with pytest.raises(ConfigError, match=name):
        load_config({**env, **settings})


def test_dev_secret_is_persisted(env, tmp_path):
    """Without SECRET_KEY in development, a generated key is kept in INSTANCE_DIR and reused."""
    first = load_config(env)["SECRET_KEY"]
    second = load_config(env)["SECRET_KEY"]
    path = tmp_path / "instance" / "secret_key"
    assert first == second == path.read_text().strip()
    assert len(first) >= 40


def test_dev_secret_is_private(env, tmp_path):
    """The generated secret file is readable by its owner only."""
    load_config(env)
    mode = stat.S_IMODE((tmp_path / "instance" / "secret_key").stat().st_mode)
    assert mode == 0o600


def test_dev_secrets_differ_between_instances(tmp_path):
    """Two instance folders get two different generated keys."""
    a = load_config({"INSTANCE_DIR": str(tmp_path / "a")})["SECRET_KEY"]
    b = load_config({"INSTANCE_DIR": str(tmp_path / "b")})["SECRET_KEY"]
    assert a != b


def test_explicit_secret_wins(env, tmp_path):
    """A SECRET_KEY in the environment is used as is and no secret file is written."""
    cfg = load_config({**env, "SECRET_KEY": "  my-secret  "})
    assert cfg["SECRET_KEY"] == "my-secret"
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_rate_limits_and_holidays_are_checked_at_start_up():
    """A malformed rate limit or holiday list stops start-up instead of failing requests."""
    import pytest as _pytest

    from server.config import ConfigError, load_config

    for env in (
        {"FEEDBACK_RATE_LIMITS": "5 per hour"},
        {"VERIFY_RATE_LIMITS": "0/hour"},
        {"HOLIDAYS": "2026-10-01,十月二日"},
    ):
        with _pytest.raises(ConfigError):
            load_config({"SECRET_KEY": "x", **env})
    assert load_config({"SECRET_KEY": "x", "HOLIDAYS": "2026-10-01, 2026-10-02"})["HOLIDAYS"]


def test_trusted_proxy_hops_make_the_client_address_visible():
    """With TRUSTED_PROXIES=1 the app sees the address nginx put in X-Forwarded-For."""
    from flask import request

    from server import create_app

    app = create_app({"SECRET_KEY": "x", "DATABASE_URL": "sqlite://", "TRUSTED_PROXIES": 1})
    app.add_url_rule("/_ip", "ip", lambda: request.remote_addr)
    r = app.test_client().get("/_ip", headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.get_data(as_text=True) == "203.0.113.9"


def test_log_format_follows_app_env(env):
    """Logs are JSON lines in production and readable text in development unless LOG_FORMAT says otherwise."""
    assert load_config({**env, **PROD})["LOG_FORMAT"] == "json"
    assert load_config(env)["LOG_FORMAT"] == "text"
    assert load_config({**env, **PROD, "LOG_FORMAT": " Text "})["LOG_FORMAT"] == "text"
