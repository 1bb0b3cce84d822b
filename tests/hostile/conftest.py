"""One app with the base data for a whole module: hostile-input tests only read, or write junk."""

from __future__ import annotations

import shutil

import pytest

from tests.factories import build_world
from tests.support.apps import make_app


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory, sqlite_template, fake_wechat):
    """The app on its own SQLite copy with the base data, shared by the module's tests: (app, world)."""
    work = tmp_path_factory.mktemp("hostile")
    shutil.copy(sqlite_template, work / "app.db")
    app = make_app(
        f"sqlite:///{work / 'app.db'}", {"STORAGE_BACKEND": "local", "STORAGE_DIR": str(work / "storage")}, fake_wechat
    )
    with app.app_context():
        world = build_world()
    yield app, world
    app.extensions["db"]["engine"].dispose()
