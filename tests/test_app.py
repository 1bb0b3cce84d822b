"""The factory's wiring (server/app.py): create_app registers every photo owner, session listener and
blueprint itself, and importing a module registers nothing.

Each check runs in a fresh interpreter: this process has built many apps already."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
OWNER_KINDS = {
    "visit",
    "feedback_draft",
    "feedback",
    "report_draft",
    "project_report",
    "rect_draft",
    "rectification",
    "observation_stop",
}


SCRIPT = """
import importlib, json, pkgutil, sys
from sqlalchemy.orm import Session

config = {"SECRET_KEY": "wiring-test-secret-key", "DATABASE_URL": "sqlite://", "TESTING": True,
          "STORAGE_BACKEND": "local", "STORAGE_DIR": sys.argv[1]}


def flush_listeners():
    from server.services import visit_stats
    return list(Session().dispatch.before_flush).count(visit_stats.before_flush)


def rules(app):
    return sorted((r.rule, r.endpoint, sorted(r.methods)) for r in app.url_map.iter_rules())


facts = {}
# A tool under server/ (the fake WeChat server) imports what it uses, not the app.
import server.devtools.fake_wechat
facts["tool_imports_the_app"] = "server.app" in sys.modules
# Every module of the API, the console and the services, imported without an app (the packages first:
# they import in a working order).
import server.api, server.console, server.services
for info in pkgutil.walk_packages(server.services.__path__, "server.services."):
    importlib.import_module(info.name)
from server.services import photos
facts["imported"] = {"owners": sorted(photos.OWNERS), "listeners": flush_listeners()}

from server import create_app
first = create_app(config)
facts["first"] = {"owners": sorted(photos.OWNERS), "listeners": flush_listeners(),
                  "blueprints": sorted(first.blueprints), "endpoints": sorted(first.view_functions),
                  "heavy_imports": sorted(m for m in ("boto3", "openpyxl") if m in sys.modules)}
owners, first_rules = dict(photos.OWNERS), rules(first)
# A route module left out of its package's import list would add routes to a registered blueprint now.
for package in (server.api, server.console):
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
second = create_app(config)
facts["second"] = {"same_owners": photos.OWNERS == owners, "listeners": flush_listeners(),
                   "same_rules": rules(second) == first_rules}
print(json.dumps(facts))
"""


@pytest.fixture(scope="module")
def wiring(tmp_path_factory) -> dict:
    """What a fresh interpreter finds after importing every module, after create_app, and after a second one."""
    storage = tmp_path_factory.mktemp("wiring") / "storage"
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(storage)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_the_modules_registers_nothing(wiring):
    """Every module of the API, the console and the services imported without an app leaves the photo
    owners and session listeners empty."""
    assert wiring["imported"] == {"owners": [], "listeners": 0}


def test_create_app_registers_every_owner_listener_and_blueprint(wiring):
    """A fresh create_app knows every photo owner kind, counts each flush once and serves all four blueprints."""
    first = wiring["first"]
    assert first["owners"] == sorted(OWNER_KINDS)
    assert first["listeners"] == 1
    assert first["blueprints"] == ["api", "console", "health", "web"]
    assert {"api.get_visit", "health.healthz", "web.audit_checkpoint", "console.visits"} <= set(first["endpoints"])


def test_an_app_on_local_storage_and_a_tool_import_only_what_they_use(wiring):
    """boto3 (the S3 backend) and openpyxl (exports) load when first used, not with every worker or
    command: ~0.25 s of CPU each process; the fake WeChat server does not import the app at all."""
    assert wiring["first"]["heavy_imports"] == []
    assert wiring["tool_imports_the_app"] is False


def test_a_second_create_app_changes_nothing(wiring):
    """Tests build many apps in one process: the owners, the one listener and the routes stay as they were,
    and importing every route module afterwards finds none the packages left out."""
    assert wiring["second"] == {"same_owners": True, "listeners": 1, "same_rules": True}


def test_a_photo_owner_kind_keeps_its_owner(monkeypatch):
    """Registering the same owner again is harmless; a different owner for a registered kind is refused."""
    from server.services import photos

    monkeypatch.setattr(photos, "OWNERS", {})
    photos.register_owner("report_draft", photos.DraftOwner("项目月报"))
    photos.register_owner("report_draft", photos.DraftOwner("项目月报"))
    with pytest.raises(ValueError, match="report_draft"):
        photos.register_owner("report_draft", photos.DraftOwner("整改反馈"))
    assert dict(photos.OWNERS) == {"report_draft": photos.DraftOwner("项目月报")}
