"""The application factory: configuration, extensions, blueprints, errors, CLI."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

from server import metrics, telemetry
from server.config import load_config
from server.crypto import PersonalDataCipher
from server.db import db
from server.errors import register_error_handlers
from server.proxies import TrustedProxies, parse_networks
from server.storage import storage_from_config
from server.wechat import wechat_from_config


class Int64Converter(IntegerConverter):
    """`<int:…>` limited to what the database can store: a larger id is simply not found (404)."""

    def __init__(self, map, *args, **kwargs) -> None:  # noqa: A002 - Werkzeug's own argument name
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment; `config` overrides settings (tests, scripts)."""
    app = Flask(__name__, instance_relative_config=False, template_folder="templates")
    settings = load_config()
    settings.update(config or {})
    app.config.update(settings)
    app.json.ensure_ascii = False  # Chinese stays readable in responses
    # A photo goes to storage directly; anything we parse ourselves is far smaller.
    app.config["MAX_CONTENT_LENGTH"] = app.config["MAX_PHOTO_BYTES"] + 64 * 1024
    # Console sessions: a working day long, never readable by scripts, HTTPS-only in production.
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["APP_ENV"] == "production",
        PERMANENT_SESSION_LIFETIME=8 * 3600,
    )
    telemetry.configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])

    if app.config["TRUSTED_PROXIES"]:
        # Per-IP rate limits must see the villager's address, not the proxy's; the forwarded
        # headers count only when a configured proxy sent them.
        app.wsgi_app = TrustedProxies(app.wsgi_app, app.config["TRUSTED_PROXIES"],
                                      parse_networks(app.config["TRUSTED_PROXY_IPS"]))
    app.url_map.converters["int"] = Int64Converter
    db.init_app(app)
    # Importing it registers the flush listener that keeps the dashboard's counts current.
    from server.services import visit_stats  # noqa: F401
    telemetry.init_app(app)
    metrics.init_app(app)
    app.extensions["storage"] = storage_from_config(app.config)
    app.extensions["wechat"] = wechat_from_config(app.config)
    app.extensions["cipher"] = PersonalDataCipher(app.config["DATA_KEY"])

    from server.api import bp as api_bp
    from server.api.health import health_bp

    app.register_blueprint(api_bp)
    app.register_blueprint(health_bp)
    from server.web import web_bp

    app.register_blueprint(web_bp)
    from server.console import console_bp

    app.register_blueprint(console_bp)
    register_error_handlers(app)

    from server.cli import register_commands

    register_commands(app)
    return app
