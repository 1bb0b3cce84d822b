"""Liveness with dependencies: the database and the storage must answer."""

from __future__ import annotations

from flask import Blueprint, current_app
from sqlalchemy import text

from server.api import endpoint
from server.db import db
from server.storage import StorageError

health_bp = Blueprint("health", __name__)


@endpoint("/healthz", "GET", summary="200 when the database and the storage are reachable, else 503",
          tag="ops", auth=False, blueprint=health_bp, errors=(503,))
def healthz():
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means "not reachable" here
        current_app.logger.warning("health: database: %s", exc.__class__.__name__)
        checks["database"] = "unreachable"
    try:
        current_app.extensions["storage"].ping()
        checks["storage"] = "ok"
    except StorageError as exc:
        current_app.logger.warning("health: storage: %s", exc)
        checks["storage"] = "unreachable"
    ok = all(v == "ok" for v in checks.values())
    return {"status": "ok" if ok else "unavailable", "checks": checks}, 200 if ok else 503
