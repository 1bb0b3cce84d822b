"""The app the tests run: conftest's `app`, a second worker, or one with other settings."""

from __future__ import annotations

from server import create_app

SECRET = "test-secret-key-for-the-suite-only"
AUDIT_SECRET = "test-audit-key-for-the-suite-only"


def make_app(database_url: str, storage_config: dict, fake_wechat, **settings):
    """An app on `database_url` with WeChat at the fake server; `settings` override anything."""
    return create_app({
        "SECRET_KEY": SECRET, "DATA_KEY": SECRET, "AUDIT_KEY": AUDIT_SECRET, "DATABASE_URL": database_url,
        "WECHAT_APPID": fake_wechat.appid, "WECHAT_SECRET": fake_wechat.secret,
        "WECHAT_API_BASE": fake_wechat.url, "TESTING": True, "LOG_LEVEL": "WARNING",
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", **storage_config, **settings,
    })
