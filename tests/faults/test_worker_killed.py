"""A gunicorn worker SIGKILLed in the middle of a request: the arbiter replaces it, the phone's retry lands once."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import threading
import time
import uuid

import pytest
import requests
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

from server.db import db, upgrade
from server.models import AuditEntry, CheckIn, ClientWrite, Photo
from tests.conftest import missing_component
from tests.factories import V1, build_world, checkin_body, now_iso, uid
from tests.faults.conftest import Gunicorn, TcpProxy, wait_until
from tests.support.apps import AUDIT_SECRET, SECRET, make_app
from tests.support.images import phone_jpeg
from tests.support.s3server import make_bucket, s3_settings


@pytest.fixture(scope="module", params=["sqlite", "mariadb"])
def database(request, tmp_path_factory, sqlite_template):
    """A migrated database of its own for this module's gunicorn: SQLite, or a new MariaDB database
    (not the test process's shared one, which other modules' tests truncate)."""
    if request.param == "sqlite":
        db_path = tmp_path_factory.mktemp("sqlite") / "app.db"
        shutil.copy(sqlite_template, db_path)
        yield f"sqlite:///{db_path}"
        return
    base = os.environ.get("TEST_MYSQL_URL")
    if not base:
        missing_component("MariaDB is not available: set TEST_MYSQL_URL (scripts/test.sh starts one)")
    url = make_url(base)
    name = f"{url.database}_killed_{os.getpid()}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
            conn.exec_driver_sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    except Exception as exc:  # noqa: BLE001 - any connection failure means the component is missing
        missing_component(f"MariaDB at TEST_MYSQL_URL is not reachable: {exc.__class__.__name__}: {exc}")
    own = url.set(database=name).render_as_string(hide_password=False)
    upgrade(own)
    yield own
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS `{name}`")
    admin.dispose()


@pytest.fixture(scope="module")
def served(tmp_path_factory, database, moto_server, fake_wechat):
    """gunicorn serving the app on each database with S3 behind a relay; the base data built in-process."""
    work = tmp_path_factory.mktemp("gunicorn")
    proc, endpoint = moto_server
    bucket = f"workers-{uuid.uuid4().hex[:12]}"
    make_bucket(endpoint, bucket)
    proxy = TcpProxy(int(endpoint.rsplit(":", 1)[1])).start()
    settings = {
        "DATABASE_URL": database,
        "SECRET_KEY": SECRET,
        "DATA_KEY": SECRET,
        "AUDIT_KEY": AUDIT_SECRET,
        **s3_settings(f"http://127.0.0.1:{proxy.port}", bucket),
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
        "LOG_LEVEL": "WARNING",
        "INSTANCE_DIR": str(work),
    }
    app = make_app(settings["DATABASE_URL"], {}, fake_wechat, **settings)
    with app.app_context():
        world = build_world()
    server = Gunicorn({k: str(v) for k, v in settings.items()}, work)
    try:
        yield app, world, server, proxy, proc
    finally:
        server.stop()
        proxy.cut()
        app.extensions["db"]["engine"].dispose()


def call(server: Gunicorn, method: str, path: str, token: str, body: dict | None = None) -> requests.Response:
    """One request to the served app as a phone would send it."""
    return requests.request(
        method, server.url + path, json=body, timeout=60, headers={"Authorization": f"Bearer {token}"}
    )


def raw_request(server: Gunicorn, path: str, token: str, body: bytes, send: int) -> socket.socket:
    """Open a connection and send the request line, headers and the first `send` bytes of the body."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=60)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(head + body[:send])
    return sock


def kill_worker(server: Gunicorn) -> None:
    """SIGKILL the only worker and wait for the arbiter to serve with a new one."""
    [worker] = server.worker_pids()
    os.kill(worker, signal.SIGKILL)
    wait_until(lambda: server.worker_pids() not in ([], [worker]) and server._healthy(), "a replacement worker")


def answer_of(sock: socket.socket) -> bytes:
    """Everything the server sent before closing the connection."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except OSError:
        pass
    sock.close()
    return b"".join(chunks)


def start_visit(server: Gunicorn, token: str, assignment_id: int) -> dict:
    """Start a visit on the served app."""
    r = call(
        server,
        "POST",
        "/api/v1/visits",
        token,
        {"client_id": uid(), "sent_at": now_iso(), "assignment_id": assignment_id, "started_at": now_iso()},
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_worker_killed_while_receiving_a_checkin_then_retry_stores_one(served):
    """A check-in cut off by a killed worker gets no answer; its retry with the same client_id is stored exactly once."""
    app, world, server, _, _ = served
    token = world.tokens["insp_a"]
    visit = start_visit(server, token, world.a1)
    body = checkin_body(*V1)
    path = f"/api/v1/visits/{visit['id']}/checkins"
    sock = raw_request(server, path, token, json.dumps(body).encode(), send=20)
    time.sleep(0.3)  # let the worker read the headers and block on the body
    kill_worker(server)
    assert answer_of(sock) == b""
    first, again = call(server, "POST", path, token, body), call(server, "POST", path, token, body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(CheckIn).where(CheckIn.visit_id == visit["id"])) == 1
        assert db.session.get(ClientWrite, body["client_id"]).object_id == first.json()["id"]


def test_worker_killed_during_photo_complete_then_retry_completes_once(served):
    """A worker killed while complete waits on S3 leaves the photo pending; the retry makes it ready once."""
    app, world, server, proxy, moto = served
    token = world.tokens["insp_a"]
    visit = start_visit(server, token, world.a1)
    data = phone_jpeg(seed=97, size=(2400, 1800))
    r = call(
        server,
        "POST",
        f"/api/v1/visits/{visit['id']}/photos",
        token,
        {
            "client_id": uid(),
            "sent_at": now_iso(),
            "content_type": "image/jpeg",
            "size": len(data),
            "taken_at": now_iso(),
            "lat": V1[0],
            "lng": V1[1],
        },
    )
    assert r.status_code == 201, r.text
    ticket = r.json()
    up = requests.post(
        ticket["upload"]["url"],
        data=ticket["upload"]["fields"],
        files={"file": ("p.jpg", data, "image/jpeg")},
        timeout=30,
    )
    assert up.status_code == 204, up.text
    path = f"/api/v1/photos/{ticket['photo_id']}/complete"
    moto.send_signal(signal.SIGSTOP)  # S3 hangs, so the worker is caught inside complete
    try:
        relayed = proxy.requests_relayed
        sock = raw_request(server, path, token, b"", send=0)
        wait_until(lambda: proxy.requests_relayed > relayed, "complete reaching S3")
        kill_worker_while = threading.Thread(target=kill_worker, args=(server,))
        kill_worker_while.start()
        assert answer_of(sock) == b""
    finally:
        moto.send_signal(signal.SIGCONT)
    kill_worker_while.join()
    with app.app_context():
        assert db.session.get(Photo, ticket["photo_id"]).status == "pending"
    first, again = call(server, "POST", path, token), call(server, "POST", path, token)
    assert first.status_code == 200 and first.json()["status"] == "ready", first.text
    assert again.json()["sha256"] == first.json()["sha256"]
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "photo.complete", AuditEntry.object_id == ticket["photo_id"])
            )
            == 1
        )
