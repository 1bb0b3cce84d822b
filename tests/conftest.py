"""Fixtures: the app on SQLite (and MariaDB where marked), local or S3 storage, the fake WeChat server."""

from __future__ import annotations

import fcntl
import gc
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, exists, inspect, or_, select, text
from sqlalchemy.engine import make_url

ON_CI = os.environ.get("CI", "").lower() == "true"
# Keep tests from writing a secret key into the repository's instance folder. Each xdist worker gets
# its own: they inherit the controller's environment, and a shared one lets a test see the import
# files of a test running at the same moment on another worker.
if os.environ.get("PYTEST_XDIST_WORKER") or "INSTANCE_DIR" not in os.environ:
    os.environ["INSTANCE_DIR"] = tempfile.mkdtemp(prefix="sp-instance-")

from server.db import upgrade  # noqa: E402
from server.devtools.fake_wechat import FakeWeChat  # noqa: E402
from tests.support.apps import (  # noqa: E402,F401 - SECRET is imported by tests
    SECRET,
    make_app,
    share_botocore_data,
    share_sql_compilation,
    share_template_code,
    share_url_maps,
)
from tests.support.world_template import WorldTemplates, row_counts  # noqa: E402

share_template_code()
share_sql_compilation()
share_url_maps()
share_botocore_data()


def missing_component(reason: str):
    """Fail on CI (a missing real component is a broken build), skip elsewhere."""
    if ON_CI:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite database, copied for each test (migrating takes seconds).

    Under pytest-xdist the workers of one run share it: the first migrates, the others wait for it.
    """
    shared = os.environ.get("PYTEST_XDIST_WORKER")
    # Workers' base temps are popen-gwN inside the run's own directory, which nothing else uses.
    root = tmp_path_factory.getbasetemp().parent if shared else tmp_path_factory.mktemp("sqlite")
    path = root / "sqlite-template.db"
    with open(root / "sqlite-template.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            partial = root / "sqlite-template.partial.db"
            upgrade(f"sqlite:///{partial}")
            engine = create_engine(f"sqlite:///{partial}")
            with engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            engine.dispose()
            partial.rename(path)
    return path


@pytest.fixture(scope="session")
def mariadb_url():
    """URL of a migrated MariaDB database of this test process (TEST_MYSQL_URL names the server).

    Each pytest process gets its own database, so parallel runs never truncate each other's rows.
    """
    base = os.environ.get("TEST_MYSQL_URL")
    if not base:
        missing_component("MariaDB is not available: set TEST_MYSQL_URL (scripts/test.sh starts one)")
    url = make_url(base)
    name = f"{url.database}_{os.getpid()}"
    try:
        admin = create_engine(base)
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
        own = url.set(database=name).render_as_string(hide_password=False)
        upgrade(own)
    except Exception as exc:  # noqa: BLE001 - any connection failure means the component is missing
        missing_component(f"MariaDB at TEST_MYSQL_URL is not reachable: {exc.__class__.__name__}: {exc}")
    yield own
    for engine in _reset_engines.values():
        engine.dispose()
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    admin.dispose()


def _seed_mariadb(conn) -> None:
    """What migrating puts in a fresh database: the first county and its audit head at 0."""
    conn.execute(
        text(
            "INSERT INTO counties (id, code, name, department_name, doc_prefix, created_at) "
            "VALUES (1, '000000', '本县', '', '', UTC_TIMESTAMP())"
        )
    )
    conn.execute(text("INSERT INTO audit_head (id, chain, seq, hash) VALUES (1, 1, 0, :h)"), {"h": "0" * 64})


def _truncate_mariadb(url: str) -> None:
    """Empty every table (TRUNCATE resets the ids too) and put the audit head back at 0."""
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
        conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
        for table in tables:
            conn.exec_driver_sql(f"TRUNCATE TABLE `{table}`")
        conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")
        _seed_mariadb(conn)
    engine.dispose()


_reset_engines: dict[str, Engine] = {}


def _reset_mariadb(url: str) -> None:
    """Delete the rows of the tables the last test wrote and put the audit head back at 0.

    DELETE of a few rows takes milliseconds where TRUNCATE recreates each table's file (~50 ms a
    table); the ids go on counting, as they do in production.
    """
    if url not in _reset_engines:
        _reset_engines[url] = create_engine(url)
    engine = _reset_engines[url]
    with engine.begin() as conn:
        tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
        written = [t for t, n in row_counts(conn, tables).items() if n]
        conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
        for table in written:
            conn.exec_driver_sql(f"DELETE FROM `{table}`")
        conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=1")
        _seed_mariadb(conn)


def pytest_collection_finish(session) -> None:
    """Spare the garbage collector what lives for the whole run, and let it run less often.

    Once the suite is imported and collected, ~200,000 objects (modules, classes, SQLAlchemy's
    mapped tables, the collected items) live until the process ends, and every full collection
    walked them again: with Python's default thresholds the collector took ~15 % of a test
    process's CPU. `gc.freeze()` moves
    them out of its reach; a young generation of 10,000 objects instead of 700 makes the
    collections fewer, each over what a few requests left. Cyclic garbage is still collected;
    nothing in the suite waits on it (engines, files and servers are closed explicitly).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` over tests/support/scheduling.py's groups (the browser files, module-scoped modules)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from tests.support.scheduling import GroupScheduling

    return GroupScheduling(config, log)


def pytest_generate_tests(metafunc):
    """Tests run on SQLite; those marked both_databases on MariaDB as well, those marked mariadb on MariaDB
    only (row locks SQLite does not have; tests/README.md says which)."""
    if "database_url" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker
        kinds = ["mariadb"] if marker("mariadb") else ["sqlite", "mariadb"] if marker("both_databases") else ["sqlite"]
        metafunc.parametrize("database_url", kinds, indirect=True)


@pytest.fixture
def database_url(request, tmp_path) -> str:
    """A fresh, migrated database: SQLite, or MariaDB for the tests marked both_databases."""
    if getattr(request, "param", "sqlite") == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("mariadb_url")
    _reset_mariadb(url)
    return url


@pytest.fixture(scope="session")
def cluster():
    """scripts/cluster.py's whole topology on loopback, started once for tests/test_cluster.py and
    tests/test_galera_writes.py (the scheduler puts both on one worker; the second works in a database
    of its own on it), stopped when the worker ends. A start costs ~20 s of CPU and 25 s."""
    from tests.support.cluster import running_cluster

    with running_cluster() as c:
        yield c


@pytest.fixture(scope="session")
def fake_wechat():
    """The fake WeChat API server on 127.0.0.1, shared by the session."""
    with FakeWeChat() as server:
        yield server


@pytest.fixture
def storage_config(tmp_path) -> dict:
    """Local storage in a temporary directory (tests of the S3 backend override this)."""
    return {"STORAGE_BACKEND": "local", "STORAGE_DIR": str(tmp_path / "storage")}


@pytest.fixture
def app_settings() -> dict:
    """Settings a module adds to the app (it overrides this fixture; a test, with
    @pytest.mark.parametrize("app_settings", …)); none by default."""
    return {}


@pytest.fixture
def template_id() -> str:
    """A subscribe template id of this test alone (the fake WeChat server is shared by the session)."""
    return f"tpl-{uuid.uuid4().hex}"


@pytest.fixture
def app(database_url, storage_config, fake_wechat, app_settings):
    """The app on a fresh database, with WeChat pointed at the fake server and the module's app_settings."""
    application = make_app(database_url, storage_config, fake_wechat, **app_settings)
    yield application
    # Whatever the test did, the dashboard's kept counts must equal a fresh count: every way
    # of writing visits and photos in the suite thereby checks services.visit_stats.
    from server.db import db
    from server.services import visit_stats

    with application.app_context():
        drift = visit_stats.drift(db.session) if _visits_or_counts(db.session) else {}
    application.extensions["db"]["engine"].dispose()
    assert drift == {}, f"visit_month_stats drifted from the rows: {drift}"


def _visits_or_counts(session) -> bool:
    """Whether the database holds a visit or a kept count: without either there is nothing to drift.

    Most tests write no visit; one query spares them the two recounts (~4 ms a test)."""
    from server.models import Visit, VisitListCount, VisitMonthStat

    tables = (Visit.__table__, VisitMonthStat.__table__, VisitListCount.__table__)
    return bool(session.execute(select(or_(*(exists().select_from(t) for t in tables)))).scalar())


@pytest.fixture
def client(app):
    """A test client of the app."""
    return app.test_client()


@pytest.fixture(scope="session")
def world_templates() -> WorldTemplates:
    """build_world's rows kept per database kind, copied into later tests' fresh databases."""
    return WorldTemplates()


@pytest.fixture
def world(app, world_templates):
    """Base data: a county with townships, villages, a project, staff and an assignment."""
    from tests.factories import build_world

    with app.app_context():
        return world_templates.world(app, build_world)
