"""The migrations build exactly the schema the models describe, on every database."""

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, text

from server.db import alembic_config
from server.models import Base

# Migrations: the schema each database builds.
pytestmark = pytest.mark.both_databases


def test_models_and_migrations_agree(database_url):
    """A model change without its migration (or the reverse) is caught here, not in production."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": False}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_0016_gives_existing_projects_the_camera_only_rule(app, world, database_url):
    """Projects that existed before allow_album read false after the migration (server default)."""
    app.extensions["db"]["engine"].dispose()
    cfg = alembic_config(database_url)
    command.downgrade(cfg, "0015")
    command.upgrade(cfg, "head")
    engine = create_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, allow_album FROM projects ORDER BY id")).all()
    engine.dispose()
    assert [(pid, bool(flag)) for pid, flag in rows] == [(world.p1, False), (world.p2, False), (world.p3, False)]
