"""Operations: liveness and readiness, request ids, JSON logs without secrets, Prometheus metrics."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from server.api import health
from server.db import upgrade
from server.telemetry import redact
from tests.factories import Api
from tests.support.apps import make_app
from tests.support.s3server import s3_settings

ROOT = Path(__file__).resolve().parent.parent
PHONE = "13812345678"
METRIC_LINE = re.compile(r'^sp_http_requests_total\{endpoint="([^"]*)",method="([^"]*)",status="([^"]*)"\} (\S+)$')


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _s3_config(endpoint: str) -> dict:
    return s3_settings(endpoint, "x")


@pytest.fixture
def other_app(database_url, storage_config, fake_wechat):
    """Build apps with extra settings on the test database; their engines are disposed afterwards."""
    apps = []

    def build(storage: dict | None = None, url: str | None = None, **settings):
        application = make_app(url or database_url, storage or storage_config, fake_wechat, **settings)
        apps.append(application)
        return application

    yield build
    for application in apps:
        application.extensions["db"]["engine"].dispose()


def _samples(body: str) -> dict[tuple[str, str, str], float]:
    """(endpoint, method, status) -> count of the sp_http_requests_total lines in an exposition."""
    out = {}
    for line in body.splitlines():
        if m := METRIC_LINE.match(line):
            out[m.group(1, 2, 3)] = float(m.group(4))
    return out


# ---- liveness and readiness ----------------------------------------------------------------


def test_healthz_does_not_touch_dependencies(other_app, tmp_path):
    """/healthz answers 200 even when the database cannot be opened: it only proves the process answers."""
    app = other_app(url=f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    r = app.test_client().get("/healthz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok"}


@pytest.mark.both_databases
def test_readyz_ok(client):
    """With the database and the storage reachable, /readyz answers 200 with both checks ok."""
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.get_json() == {"status": "ok", "checks": {"database": "ok", "storage": "ok"}}


def test_readyz_with_unreachable_database(other_app, tmp_path):
    """With a database that cannot be opened, /readyz answers 503 not_ready naming the database."""
    app = other_app(url=f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    r = app.test_client().get("/readyz")
    assert r.status_code == 503
    error = r.get_json()["error"]
    assert error["code"] == "not_ready"
    assert error["details"]["checks"] == {"database": "unreachable", "storage": "ok"}


def test_readyz_with_unreachable_storage(other_app):
    """With S3 on a closed port, /readyz answers 503 naming the storage unreachable."""
    app = other_app(_s3_config(f"http://127.0.0.1:{_closed_port()}"))
    r = app.test_client().get("/readyz")
    assert r.status_code == 503
    assert r.get_json()["error"]["details"]["checks"] == {"database": "ok", "storage": "unreachable"}


def test_readyz_gives_up_on_a_hung_storage(other_app, monkeypatch):
    """An S3 endpoint that accepts connections but never answers makes /readyz say timeout, not hang."""
    monkeypatch.setattr(health, "READY_TIMEOUT_SECONDS", 0.5)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        app = other_app(_s3_config(f"http://127.0.0.1:{silent.getsockname()[1]}"))
        r = app.test_client().get("/readyz")
    # Closing the listener resets the pending connection, which frees the check's thread.
    assert r.status_code == 503
    assert r.get_json()["error"]["details"]["checks"]["storage"] == "timeout"


# ---- request ids and logs ------------------------------------------------------------------


def test_sane_request_id_is_echoed(client):
    """A load balancer's X-Request-ID of letters, digits and ._- comes back unchanged."""
    r = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a9c.0001_x"})
    assert r.headers["X-Request-ID"] == "lb-7f3a9c.0001_x"


@pytest.mark.parametrize("incoming", ["", "short", "bad id with spaces", "x" * 200, "inj\r\nected-header"])
def test_insane_request_id_is_replaced(client, incoming):
    """A missing, too short, too long or odd X-Request-ID is replaced by a new random id."""
    # Straight into the WSGI environ: Werkzeug's test client refuses newlines in headers.
    r = client.get("/healthz", environ_base={"HTTP_X_REQUEST_ID": incoming})
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["X-Request-ID"])


def test_each_request_gets_its_own_id(client):
    """Two requests without an incoming id get different ids."""
    assert client.get("/healthz").headers["X-Request-ID"] != client.get("/healthz").headers["X-Request-ID"]


def test_json_log_lines_carry_request_fields_and_no_secrets(other_app, world, fake_wechat, capsys):
    """In JSON mode each line is one object; request lines name id, endpoint, status and user, never credentials."""
    app = other_app(LOG_FORMAT="json", LOG_LEVEL="INFO")
    client = app.test_client()
    capsys.readouterr()
    login = client.post(
        "/api/v1/auth/login",
        json={"username": "insp_a", "password": "insp_a-password"},
        headers={"X-Request-ID": "req-login-0001"},
    )
    token = login.get_json()["token"]
    me = Api(client, token).get(f"/api/v1/auth/me?phone={PHONE}&access_token=leaky")
    code = fake_wechat.code_for("openid-log-check")
    wechat = client.post("/api/v1/auth/wechat", json={"code": code})
    wechat_token = wechat.get_json()["token"]
    client.post("/api/v1/auth/login", json={"username": "insp_a", "password": "wrong-password-x"})
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    requests_logged = [e for e in lines if e["logger"] == "server.request"]
    assert len(requests_logged) == 4
    first = requests_logged[0]
    assert (first["request_id"], first["method"], first["path"], first["endpoint"], first["status"]) == (
        "req-login-0001",
        "POST",
        "/api/v1/auth/login",
        "api.password_login",
        200,
    )
    assert {"time", "level", "message", "duration_ms"} <= set(first)
    assert requests_logged[1]["user_id"] == me.get_json()["id"]
    assert requests_logged[1]["request_id"] == me.headers["X-Request-ID"]
    for secret in (
        token,
        wechat_token,
        "insp_a-password",
        "wrong-password-x",
        code,
        "openid-log-check",
        PHONE,
        "leaky",
        fake_wechat.secret,
    ):
        assert secret not in err


def test_text_log_lines_carry_the_request_id(other_app, capsys):
    """In text mode the request line still names the request id."""
    app = other_app(LOG_FORMAT="text", LOG_LEVEL="INFO")
    capsys.readouterr()
    app.test_client().get("/healthz", headers={"X-Request-ID": "text-mode-req-1"})
    assert "[text-mode-req-1]" in capsys.readouterr().err


def test_redact_masks_credentials_and_phone_numbers():
    """Credentials in key=value pairs and mainland mobile numbers are masked in log messages."""
    masked = redact(f"GET /x?access_token=abc123&secret=s3cr3t&name=ok phone {PHONE}")
    assert masked == "GET /x?access_token=***&secret=***&name=ok phone 138****5678"


# ---- metrics -------------------------------------------------------------------------------


def test_metrics_count_requests_by_endpoint_name(client, world):
    """Requests are counted under their Flask endpoint and status, never under the raw path."""
    before = _samples(client.get("/metrics").get_data(as_text=True))
    client.get("/p/1")
    client.get("/p/999999")
    client.get("/no/such/page")
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    body = r.get_data(as_text=True)
    after = _samples(body)
    key_ok, key_missing = ("web.project_page", "GET", "200"), ("web.project_page", "GET", "404")
    assert after[key_ok] - before.get(key_ok, 0) == 1
    assert after[key_missing] - before.get(key_missing, 0) == 1
    assert after[("unmatched", "GET", "404")] - before.get(("unmatched", "GET", "404"), 0) == 1
    assert "/p/1" not in body and "/no/such/page" not in body
    assert 'sp_http_request_duration_seconds_bucket{endpoint="web.project_page"' in body


def test_metrics_refused_outside_allowed_networks(client):
    """A caller outside METRICS_ALLOWED_NETWORKS without the token gets 403."""
    r = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert r.status_code == 403
    assert r.get_json()["error"]["code"] == "forbidden"


def test_metrics_token_opens_them_from_anywhere(other_app):
    """With METRICS_TOKEN set, the bearer token is accepted from any address; a wrong one is not."""
    app = other_app(METRICS_TOKEN="scrape-token-1234")
    client = app.test_client()
    remote = {"REMOTE_ADDR": "203.0.113.9"}
    ok = client.get("/metrics", environ_base=remote, headers={"Authorization": "Bearer scrape-token-1234"})
    wrong = client.get("/metrics", environ_base=remote, headers={"Authorization": "Bearer scrape-token-9999"})
    assert (ok.status_code, wrong.status_code) == (200, 403)


def test_metrics_allowed_network_from_config(other_app):
    """A scraper in a configured network (e.g. the Prometheus host's subnet) is let in."""
    app = other_app(METRICS_ALLOWED_NETWORKS="10.8.0.0/16")
    client = app.test_client()
    inside = client.get("/metrics", environ_base={"REMOTE_ADDR": "10.8.3.4"})
    loopback = client.get("/metrics")
    assert (inside.status_code, loopback.status_code) == (200, 403)


def test_metrics_add_up_across_worker_processes(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR, counts of forked workers (as gunicorn makes them) are summed."""
    folder = tmp_path / "prom"
    folder.mkdir()
    script = (
        "import os, sys; from server import create_app\n"
        "app = create_app({'SECRET_KEY': 'k', 'DATABASE_URL': 'sqlite://', 'WECHAT_APPID': '',"
        " 'STORAGE_DIR': sys.argv[1], 'LOG_LEVEL': 'ERROR'})\n"
        "c = app.test_client()\n"
        "pid = os.fork()\n"
        "for _ in range(3): c.get('/healthz')\n"
        "if pid == 0: os._exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "print(c.get('/metrics').get_data(as_text=True))\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder), "INSTANCE_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "st")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert _samples(out)[("health.healthz", "GET", "200")] == 6


# ---- migrations on start -------------------------------------------------------------------


@pytest.mark.mariadb
def test_nodes_migrating_at_once_take_turns(mariadb_url):
    """Several nodes running migrations on a fresh MariaDB database at once all succeed, one after another."""
    url = make_url(mariadb_url)
    name = f"{url.database}_mig"
    admin = create_engine(mariadb_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    fresh = url.set(database=name).render_as_string(hide_password=False)
    errors: list[BaseException] = []

    def node() -> None:
        try:
            upgrade(fresh)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=node) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        engine = create_engine(fresh)
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        engine.dispose()
        assert len(versions) == 1
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
        admin.dispose()
