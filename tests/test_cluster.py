"""The production topology run for real (scripts/cluster.py): nginx over HTTPS, two app nodes, the
photo pool, Redis, S3 and a 3-node Galera cluster, with one fault of each kind.

One cluster for the run (tests/conftest.py `cluster`, ~25 s to start on two cores), shared with
tests/test_galera_writes.py, which works in a database of its own on it. The tests here use it in
order: the Galera conflict tests first, the phones' flow under faults last.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from scripts import bench_load
from scripts.cluster import Cluster
from tests.conftest import missing_component
from tests.support.cluster import app_on
from tests.support.images import phone_jpeg

# One worker runs this module and test_galera_writes (tests/support/scheduling.py): one cluster.
pytestmark = pytest.mark.cluster

PHONES = 3


@pytest.fixture(scope="module")
def world(cluster):
    """Accounts, a village, a project and one assignment per phone, made through the services."""
    return bench_load.build_world(cluster.env(), PHONES)


@pytest.fixture(scope="module")
def app(cluster):
    """An app object with the cluster's configuration (services need its audit key)."""
    with app_on(cluster) as app:
        yield app


def _sessions(cluster, *nodes: int) -> list[Session]:
    from server.db import make_engine

    return [Session(make_engine(cluster.galera[n - 1].url()), expire_on_commit=False) for n in nodes]


def test_audit_appends_on_two_galera_nodes_conflict_instead_of_forking_the_chain(cluster, world, app):
    """Two nodes appending at once: Galera aborts the later commit with 1213 (retried), never two seq N."""
    from server.api import is_transaction_conflict
    from server.services import audit

    s1, s2 = _sessions(cluster, 1, 2)
    with app.app_context():
        first = audit.append(s1, None, "test.galera", "test", 1)
        second = audit.append(s2, None, "test.galera", "test", 2)
        assert first.seq == second.seq  # both read the same head: only certification can tell
        s1.commit()
        with pytest.raises(OperationalError) as refused:
            s2.commit()
        assert is_transaction_conflict(refused.value)
        s2.rollback()
        again = audit.append(s2, None, "test.galera", "test", 2)
        s2.commit()
        assert again.seq == first.seq + 1
    for s in (s1, s2):
        s.bind.dispose()


def test_rate_limit_holds_across_galera_nodes(cluster, world, app):
    """A limit of one counted on two nodes at once lets one through: the other conflicts (1213)."""
    from server.api import is_transaction_conflict
    from server.services import ratelimit

    key = f"test:{uuid.uuid4().hex}"
    s1, s2 = _sessions(cluster, 1, 2)
    with app.app_context():
        ratelimit.hit(s1, [key], [(1, ratelimit.HOUR)])
        ratelimit.hit(s2, [key], [(1, ratelimit.HOUR)])
        s1.commit()
        with pytest.raises(OperationalError) as refused:
            s2.commit()
        assert is_transaction_conflict(refused.value)
    from server.models import RateEvent

    assert s1.scalar(select(func.count()).select_from(RateEvent).where(RateEvent.key == key)) == 1
    for s in (s1, s2):
        s.bind.dispose()


def test_one_client_id_sent_to_two_nodes_at_once_is_stored_once(cluster, world):
    """The same visit start on app node 1 and app node 2 at once: one visit, both answers name it."""
    username, password, assignment_id = world.inspectors[0]
    token = requests.post(
        f"http://127.0.0.1:{cluster.ports['app1']}/api/v1/auth/login",
        json={"username": username, "password": password},
        timeout=30,
    ).json()["token"]
    body = {"client_id": str(uuid.uuid4()), "sent_at": _now(), "assignment_id": assignment_id, "started_at": _now()}
    answers: dict[str, requests.Response] = {}
    barrier = threading.Barrier(2)

    def send(node: str) -> None:
        barrier.wait()
        answers[node] = requests.post(
            f"http://127.0.0.1:{cluster.ports[node]}/api/v1/visits",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )

    threads = [threading.Thread(target=send, args=(n,)) for n in ("app1", "app2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in answers.values()) == [200, 201]
    assert answers["app1"].json()["id"] == answers["app2"].json()["id"]
    assert _count(cluster, "visits", body["client_id"]) == 1


def test_phones_through_nginx_lose_nothing_across_one_fault_of_each_kind(cluster, world):
    """Phones keep working while an app node is killed, a Galera node leaves, Redis restarts: all is kept once."""
    # Plain HTTP answers with a redirect to the HTTPS site: the production server blocks are in use.
    redirect = requests.get(f"http://127.0.0.1:{cluster.ports['http']}/healthz", allow_redirects=False, timeout=10)
    assert redirect.status_code == 301 and redirect.headers["Location"].startswith("https://")
    phones = [
        bench_load.FaultPhone(cluster.base_url, str(cluster.ca_file), who, world, _photos(world, seed=i))
        for i, who in enumerate(world.inspectors)
    ]
    threads = [threading.Thread(target=p.run, args=(2,)) for p in phones]
    for t in threads:
        t.start()
    time.sleep(2)
    cluster.kill_app("app1")
    cluster.start_app("app1")
    cluster.stop_galera(2)
    time.sleep(2)
    cluster.start_galera(2)
    cluster.restart_redis()
    for t in threads:
        t.join(timeout=240)
    for p in phones:
        assert p.error is None, p.error
        assert p.visits == 2
    refusals = [r for p in phones for r in p.refusals]
    assert all(status == 503 and retry_after for _, status, retry_after in refusals), refusals
    for table, client_ids in _by_table(phones).items():
        for client_id, sent in Counter(client_ids).items():
            assert sent == 1
            assert _count(cluster, table, client_id) == 1, (table, client_id)
    verified = cluster.flask("verify-audit")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    pending = cluster.sql(1, "SELECT COUNT(*) FROM sp_cluster.photos WHERE status = 'pending'")
    assert pending == [["0"]]


def _photos(world, seed: int):
    """A phone's camera: small JPEGs taken just now at the village, a new picture each time."""

    def take(n: int) -> bytes:
        taken = datetime.now(UTC) - timedelta(seconds=20)
        return phone_jpeg(size=(640, 480), seed=seed * 1000 + n, taken=taken, gps=(world.lat, world.lng))

    return take


def _by_table(phones: list[bench_load.FaultPhone]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in phones:
        for table, client_id in p.acknowledged:
            out.setdefault(table, []).append(client_id)
    return out


def _count(cluster: Cluster, table: str, client_id: str) -> int:
    """Rows of `table` with this client_id, read on Galera node 3 (what every node now holds)."""
    rows = cluster.sql(3, f"SELECT COUNT(*) FROM sp_cluster.{table} WHERE client_id = '{client_id}'")
    return int(rows[0][0])


def _now() -> str:
    return datetime.now(UTC).isoformat()


def test_render_site_fails_loudly_when_the_template_changes():
    """A renamed upstream in deploy/nginx must stop the cluster, not start it on stale addresses."""
    from pathlib import Path

    from scripts.cluster import SITE_TEMPLATE, ClusterError, render_site

    kwargs = dict(
        http_port=1,
        https_port=2,
        app_ports=[3, 4],
        photo_ports=[5],
        cert=Path("/c"),
        key=Path("/k"),
        access_log=Path("/a"),
        static_dir=Path("/s"),
    )
    rendered = render_site(SITE_TEMPLATE.read_text(), **kwargs)
    assert "server 127.0.0.1:3 " in rendered and "server 127.0.0.1:4 " in rendered
    assert "listen 127.0.0.1:2 ssl" in rendered and "[::]" not in rendered
    with pytest.raises(ClusterError):
        render_site(SITE_TEMPLATE.read_text().replace("upstream secretary_projects {", "upstream sp {"), **kwargs)


def test_nginx_answers_503_with_retry_after_when_no_app_node_answers(tmp_path):
    """Every app node down (or dying under a POST): the phone gets 503 + Retry-After, which it retries, not 502."""
    import shutil

    from scripts.cluster import free_port, start_nginx, wait_for

    if shutil.which("nginx") is None or shutil.which("openssl") is None:
        missing_component("nginx and openssl are needed (apt-get install nginx openssl)")
    https, nobody = free_port(), free_port()
    proc = start_nginx(tmp_path, http_port=free_port(), https_port=https, app_ports=[nobody], photo_ports=[nobody])
    try:
        context = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))

        def listening() -> bool:
            with socket.create_connection(("127.0.0.1", https), timeout=1) as raw:
                context.wrap_socket(raw, server_hostname="127.0.0.1").close()
            return True

        wait_for(listening, "nginx", timeout=20)
        answer = requests.post(
            f"https://127.0.0.1:{https}/api/v1/visits", json={}, verify=str(tmp_path / "cert.pem"), timeout=20
        )
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "5"
        assert answer.json()["error"]["code"] == "not_ready"
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_latencies_inside_a_fault_window_are_left_out():
    """p50/p99 'outside faults' drop every request overlapping a window, and only those."""
    from scripts.bench_load import Sample, outside

    samples = [Sample("checkin", 1, 2, 201), Sample("checkin", 9, 11, 503), Sample("submit", 20, 21, 200)]
    assert outside(samples, [(10, 15)]) == [samples[0], samples[2]]


def test_recovery_is_measured_to_the_last_refusal_of_the_fault():
    """Recovery: from the fault's start to the end of its last refused request; refusals after it are not its."""
    from scripts.bench_load import Sample, recovery

    samples = [Sample("a", 10, 11, 503), Sample("b", 12, 14, 0), Sample("c", 15, 16, 201), Sample("d", 40, 41, 503)]
    assert recovery(samples, 10, 30) == 4
    assert recovery([Sample("c", 15, 16, 201)], 10, 30) == 0
