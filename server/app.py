"""The application factory: configuration, extensions, blueprints, errors, CLI."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session
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
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=app.config["APP_ENV"] == "production",
        PERMANENT_SESSION_LIFETIME=8 * 3600,
    )
    telemetry.configure_logging(app.config["LOG_LEVEL"], app.config["LOG_FORMAT"])

    if app.config["TRUSTED_PROXIES"]:
        # Per-IP rate limits must see the villager's address, not the proxy's; the forwarded
        # headers count only when a configured proxy sent them.
        app.wsgi_app = TrustedProxies(
            app.wsgi_app, app.config["TRUSTED_PROXIES"], parse_networks(app.config["TRUSTED_PROXY_IPS"])
        )
    app.url_map.converters["int"] = Int64Converter
    db.init_app(app)
    register_listeners()
    register_photo_owners()
    telemetry.init_app(app)
    metrics.init_app(app)
    app.extensions["storage"] = storage_from_config(app.config)
    app.extensions["wechat"] = wechat_from_config(app.config)
    app.extensions["cipher"] = PersonalDataCipher(app.config["DATA_KEY"])
    register_blueprints(app)
    register_error_handlers(app)

    from server.cli import register_commands

    register_commands(app)
    return app


# The wiring below is all explicit: importing a module registers nothing by itself. Each function
# may run again (tests build many apps in one process) and then changes nothing.


def register_blueprints(app: Flask) -> None:
    """The JSON API, its operations endpoints, the public pages and the staff console."""
    from server.api import bp as api_bp  # importing the package imports every resource module
    from server.api.health import health_bp
    from server.console import console_bp  # likewise every page module
    from server.web import web_bp

    for blueprint in (api_bp, health_bp, web_bp, console_bp):
        app.register_blueprint(blueprint)


def register_photo_owners() -> None:
    """Tell the photo pipeline every kind of record a photo can belong to (Photo.owner_kind)."""
    from server.services import feedback, observations, rectification, reports, visits
    from server.services.photos import register_owner

    register_owner("visit", visits.photo_owner)
    register_owner("feedback_draft", feedback.photo_owner)  # a villager's photo before the feedback is sent
    register_owner("feedback", feedback.photo_owner)
    register_owner(reports.DRAFT_KIND, reports.DRAFT_OWNER)
    register_owner(reports.OWNER_KIND, reports.photo_owner)
    register_owner(rectification.DRAFT_KIND, rectification.DRAFT_OWNER)
    register_owner(rectification.OWNER_KIND, rectification.photo_owner)
    register_owner(observations.OWNER_KIND, observations.photo_owner)


def register_listeners() -> None:
    """Session listeners: the county boundary (tenancy), and the dashboard's counts kept on every flush of
    visits and photos (visit_stats)."""
    from server import tenancy
    from server.services import visit_stats

    tenancy.register()

    if not event.contains(Session, "before_flush", visit_stats.before_flush):
        event.listen(Session, "before_flush", visit_stats.before_flush)
