"""API fixtures and helpers: the admin's API client, error bodies, the audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from server.db import db
from server.models import AuditEntry
from tests.factories import Api

A = "/api/v1/admin"


@pytest.fixture
def admin(client, world) -> Api:
    """The API as the administrator."""
    return Api(client, world.tokens["admin"])


def error_of(response) -> dict:
    """The `error` object of an error response."""
    return response.get_json()["error"]


def audit_entries(app) -> list[AuditEntry]:
    """Every audit entry, oldest first."""
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def audit_count(app) -> int:
    """How many entries the audit log holds."""
    with app.app_context():
        return db.session.scalar(select(func.count(AuditEntry.id)))


def site_id_of(admin: Api, project_id: int) -> int:
    """The site of a project placed at a unit's site."""
    items = admin.get(f"{A}/projects", query_string={"per_page": 200}).get_json()["items"]
    return next(p for p in items if p["id"] == project_id)["site"]["id"]
