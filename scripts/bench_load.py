"""Load benchmark: simulated inspectors against a real gunicorn + MariaDB + S3 stack on 127.0.0.1.

Run from the project root:
    .venv/bin/python scripts/bench_load.py                 # 50 inspectors, 2 visits each
    .venv/bin/python scripts/bench_load.py --quick         # 5 inspectors, 1 visit each
    .venv/bin/python scripts/bench_load.py --mysql-url URL --s3-endpoint URL   # use running servers

It starts its own MariaDB (datadir in a temp dir), moto_server and gunicorn (deploy/gunicorn.conf.py,
gthread), creates one assignment per inspector with a password account, then each simulated
inspector (a thread here, speaking plain http.client) does: password login, then per visit
start → check-in → N photos (ticket, 4 MB upload straight to S3 with the presigned POST,
complete) → interview → submit. Counts and time are bounded (--visits-per-inspector,
--duration). A second, quiet phase tickets and completes --cpu-photos photos one at a time to
measure the app's own CPU per photo submission without the noise of the mixed load.

CPU is read from /proc/<pid>/stat (utime + stime) of the gunicorn master and workers, moto and
mariadbd before and after each phase; peak memory from VmHWM. This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts import benchlib  # noqa: E402
from scripts.benchlib import percentile  # noqa: E402

BUCKET = "sp-bench"
PHOTO_VARIANTS = 4
# scripts/bench_photos.make_photo writes this GPS position into every photo's EXIF.
PHOTO_GPS = (27.0 + 42 / 60 + 12.34 / 3600, 113.0 + 36 / 60 + 45.6 / 3600)
JSON_ENDPOINTS = ("login", "visit.start", "checkin", "photo.ticket", "interview", "submit")
ENDPOINTS = (*JSON_ENDPOINTS, "s3.upload", "photo.complete")

# The goals of issue 8 and the peer's figures they are compared with.
GOAL_PHOTO_CPU_MS = 50.0
GOAL_JSON_P99_MS = 500.0
GOAL_INSPECTORS = 50
# An average county's traffic in its peak minute: a province's (docs/capacity.md §3: ~57 JSON requests and
# 15 photo completes a second at the peak minute) over its 100 counties.
COUNTY_PEAK_MINUTE = {"json_requests_per_s": 0.57, "photo_completes_per_s": 0.15}
ODK_CPU_MS_PER_SUBMISSION = 121.0
ODK_SUBMISSIONS_PER_S = 15.0


# ---- pure helpers (tested in tests/test_bench_scripts.py) ---------------------------------


def multipart_body(
    fields: dict[str, str], file_field: str, filename: str, content_type: str, data: bytes, boundary: str
) -> bytes:
    """A multipart/form-data body: the form fields in order, then the file (what wx.uploadFile sends)."""
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
    )
    parts.append(data)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts)


def summarize(samples: dict[str, list[float]]) -> dict[str, dict[str, float | int | None]]:
    """count, p50, p95, p99 and max (milliseconds) per endpoint from latencies in seconds."""
    out = {}
    for name, values in samples.items():
        ms = [v * 1000 for v in values]
        out[name] = {
            "count": len(ms),
            "p50": percentile(ms, 50),
            "p95": percentile(ms, 95),
            "p99": percentile(ms, 99),
            "max": max(ms) if ms else None,
        }
    return out


def goal_row(goal: str, measured: str, met: bool | None) -> tuple[str, str, str]:
    """One line of the goals table; met None means informational (no pass/fail)."""
    return goal, measured, "-" if met is None else ("yes" if met else "NO")


def table(rows: list[tuple], headers: tuple[str, ...]) -> str:
    """A plain-text table with left-aligned columns."""
    cells = [tuple(str(c) for c in headers), *[tuple("" if c is None else str(c) for c in r) for r in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def fmt_ms(value: float | None) -> str:
    """Milliseconds with one decimal, or '-'."""
    return "-" if value is None else f"{value:.1f}"


# ---- photos -------------------------------------------------------------------------------


def phone_photos(count: int) -> list[bytes]:
    """`count` distinct 4 MB 12 MP JPEGs with EXIF GPS, generated once and cached in the temp dir."""
    from scripts.bench_photos import make_photo

    cache = Path(tempfile.gettempdir()) / "sp-bench-photos"
    cache.mkdir(exist_ok=True)
    out = []
    for seed in range(count):
        path = cache / f"phone-{seed}.jpg"
        if not path.exists():
            tmp = path.with_suffix(".part")
            tmp.write_bytes(make_photo(seed))
            tmp.rename(path)
        out.append(path.read_bytes())
    return out


# ---- the stack ----------------------------------------------------------------------------


def app_env(args, mysql_url: str, s3_endpoint: str, workdir: Path, port: int) -> dict[str, str]:
    """Environment of the app: the given database, S3 storage, a fixed secret."""
    return {
        "APP_ENV": "development",
        "SECRET_KEY": "bench-secret-key-" + "x" * 32,
        "DATABASE_URL": mysql_url,
        "STORAGE_BACKEND": "s3",
        "S3_ENDPOINT_URL": s3_endpoint,
        "S3_BUCKET": BUCKET,
        "S3_REGION": benchlib.S3_REGION,
        "S3_ACCESS_KEY_ID": benchlib.S3_KEY,
        "S3_SECRET_ACCESS_KEY": benchlib.S3_KEY,
        "S3_ADDRESSING_STYLE": "path",
        "INSTANCE_DIR": str(workdir / "instance"),
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        "WEB_CONCURRENCY": str(args.workers),
        "GUNICORN_THREADS": str(args.threads),
    }


@dataclass
class World:
    """What the simulated inspectors need: their accounts and assignments, and the place's point."""

    inspectors: list[tuple[str, str, int]]  # (username, password, assignment_id)
    lat: float
    lng: float


def bench_place(s, admin):
    """The benchmarks' village (a township's, at the generated photos' GPS) and its project, made by `admin`."""
    from server.services import places, projects

    town = places.create_township(s, admin, {"code": "360821100000", "name": "永阳镇"})
    village = places.create_village(
        s,
        admin,
        {
            "township_id": town.id,
            "code": "360821100201",
            "name": "江南村",
            "lat": PHOTO_GPS[0],
            "lng": PHOTO_GPS[1],
            "radius_m": 500,
        },
    )
    project = projects.create_project(s, admin, {"title": "蜜柚产业项目", "year": 2026, "village_ids": [village.id]})
    return village, project


def build_world(env: dict[str, str], inspectors: int) -> World:
    """Migrate the database, make the bucket, and create the accounts and assignments through the services.

    Inspectors get real passwords (the production scrypt hash) and log in over HTTP.
    """
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        from server.app import create_app
        from server.db import db, upgrade
        from server.services import assignments, users

        upgrade(env["DATABASE_URL"])
        app = create_app()
        app.extensions["storage"].ensure_bucket()
        with app.app_context():
            s = db.session
            admin, _ = users.create_user(
                s,
                None,
                {"username": "bench-admin", "name": "管理员", "roles": ["admin"], "password": "bench-admin-password"},
            )
            _, project = bench_place(s, admin)
            out = []
            for i in range(inspectors):
                username, password = f"insp{i:03d}", f"insp{i:03d}-password"
                user, _ = users.create_user(
                    s,
                    admin,
                    {"username": username, "name": f"督查员{i:03d}", "roles": ["inspector"], "password": password},
                )
                a = assignments.create_assignment(
                    s, admin, {"project_id": project.id, "inspector_ids": [user.id], "check_items": ["公示栏是否张贴"]}
                )
                out.append((username, password, a.id))
            db.session.close()
            db.engine.dispose()
        return World(out, PHOTO_GPS[0], PHOTO_GPS[1])
    finally:
        os.environ.clear()
        os.environ.update(saved)


def start_gunicorn(
    servers: benchlib.Servers, env: dict[str, str], port: int, *, name: str = "gunicorn", nice: int = 0
) -> subprocess.Popen:
    """gunicorn with deploy/gunicorn.conf.py (gthread), its log in the work dir."""
    log = open(servers.workdir / f"{name}.log", "w")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [
            "nice",
            "-n",
            str(nice),
            str(benchlib.VENV_BIN / "gunicorn"),
            "-c",
            "deploy/gunicorn.conf.py",
            "server:create_app()",
        ],
        cwd=benchlib.ROOT,
        env={**os.environ, **env, "PORT": str(port)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    servers.procs.insert(0, proc)  # stopped last-in-first-out: before the database and S3

    def healthy() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited; see {servers.workdir / f'{name}.log'}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        finally:
            conn.close()

    benchlib.wait_for(healthy, "gunicorn", timeout=60)
    benchlib.wait_for(lambda: len(benchlib.children(proc.pid)) >= int(env["WEB_CONCURRENCY"]), "gunicorn workers")
    return proc


# ---- the simulated inspector ------------------------------------------------------------


class Failure(Exception):
    """A request answered with an unexpected status."""


class Client:
    """One inspector's phone: keep-alive HTTP to the app and to S3, every request timed."""

    def __init__(
        self,
        app_port: int,
        stats: Stats,
        think: float = 0.0,
        rng: random.Random | None = None,
        photo_port: int | None = None,
    ):
        self.app_port, self.stats, self.think = app_port, stats, think
        # With a photo pool, completes go to its port (what nginx does by path in deploy/).
        self.photo_port = photo_port
        self.rng = rng or random.Random()
        self.app: http.client.HTTPConnection | None = None
        self.photo_app: http.client.HTTPConnection | None = None
        self.s3: dict[str, http.client.HTTPConnection] = {}
        self.token: str | None = None

    def _send(self, conn_of, method: str, path: str, body: bytes | None, headers: dict) -> tuple[int, bytes]:
        # A keep-alive connection the server closed while idle is reopened once; every write
        # carries a client_id, so a repeat is harmless.
        for attempt in (1, 2):
            conn = conn_of(reopen=attempt == 2)
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionError, http.client.CannotSendRequest):
                conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _app_conn(self, reopen: bool) -> http.client.HTTPConnection:
        if self.app is None or reopen:
            self.app = http.client.HTTPConnection("127.0.0.1", self.app_port, timeout=120)
        return self.app

    def _photo_conn(self, reopen: bool) -> http.client.HTTPConnection:
        if self.photo_app is None or reopen:
            self.photo_app = http.client.HTTPConnection("127.0.0.1", self.photo_port, timeout=120)
        return self.photo_app

    def pause(self) -> None:
        """The phone-side time before a request (framing a photo, typing): exponential, mean `think` seconds."""
        if self.think:
            time.sleep(self.rng.expovariate(1 / self.think))

    def call(self, name: str, method: str, path: str, payload: dict | None = None, expect=(200, 201)) -> dict:
        """A JSON request to the app, timed under `name` (after the think pause)."""
        self.pause()
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        body = json.dumps(payload).encode() if payload is not None else None
        start = time.perf_counter()
        conn_of = self._photo_conn if self.photo_port and name == "photo.complete" else self._app_conn
        status, raw = self._send(conn_of, method, "/api/v1" + path, body, headers)
        self.stats.record(name, time.perf_counter() - start, status in expect)
        if status not in expect:
            raise Failure(f"{name}: HTTP {status} {raw[:300]!r}")
        return json.loads(raw) if raw else {}

    def upload(self, ticket: dict, data: bytes) -> None:
        """POST the photo straight to S3 with the ticket's presigned form, timed as s3.upload."""
        url = urlsplit(ticket["url"])
        boundary = uuid.uuid4().hex
        body = multipart_body(
            ticket["fields"],
            ticket.get("file_field", "file"),
            "photo.jpg",
            ticket["fields"].get("Content-Type", "image/jpeg"),
            data,
            boundary,
        )

        def conn_of(reopen: bool) -> http.client.HTTPConnection:
            if url.netloc not in self.s3 or reopen:
                self.s3[url.netloc] = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
            return self.s3[url.netloc]

        start = time.perf_counter()
        status, raw = self._send(
            conn_of, "POST", url.path or "/", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        ok = 200 <= status < 300
        self.stats.record("s3.upload", time.perf_counter() - start, ok)
        if not ok:
            raise Failure(f"s3.upload: HTTP {status} {raw[:300]!r}")

    def close(self) -> None:
        """Close every connection."""
        for conn in [self.app, self.photo_app, *self.s3.values()]:
            if conn is not None:
                conn.close()


@dataclass
class Stats:
    """Latencies per endpoint and counters, shared by all inspector threads."""

    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    visits: int = 0
    photos: int = 0
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, name: str, seconds: float, ok: bool) -> None:
        """One timed request."""
        with self.lock:
            self.samples[name].append(seconds)
            if not ok:
                self.errors[name] += 1


def now_iso() -> str:
    """The current time in RFC 3339."""
    return datetime.now(UTC).isoformat()


def photo_payload(data: bytes, lat: float, lng: float) -> dict:
    """The ticket request of one photo."""
    return {
        "client_id": str(uuid.uuid4()),
        "sent_at": now_iso(),
        "content_type": "image/jpeg",
        "size": len(data),
        "taken_at": (datetime.now(UTC) - timedelta(seconds=30)).isoformat(),
        "lat": lat,
        "lng": lng,
        "coord_type": "wgs84",
    }


def unique(photo: bytes, rng: random.Random) -> bytes:
    """The photo with 16 random bytes after its end-of-image marker: new bytes, the same picture."""
    return photo + rng.randbytes(16)


def inspector_run(
    client: Client,
    world: World,
    who: tuple[str, str, int],
    photos: list[bytes],
    args,
    deadline: float,
    rng: random.Random,
) -> None:
    """Log in, then do visits until the count or the deadline is reached."""
    username, password, assignment_id = who
    answer = client.call("login", "POST", "/auth/login", {"username": username, "password": password})
    client.token = answer["token"]
    for _ in range(args.visits_per_inspector):
        if time.monotonic() > deadline:
            return
        visit = client.call(
            "visit.start",
            "POST",
            "/visits",
            {
                "client_id": str(uuid.uuid4()),
                "sent_at": now_iso(),
                "assignment_id": assignment_id,
                "started_at": now_iso(),
            },
        )
        vid = visit["id"]
        jitter = rng.uniform(-0.0004, 0.0004)
        client.call(
            "checkin",
            "POST",
            f"/visits/{vid}/checkins",
            {
                "client_id": str(uuid.uuid4()),
                "sent_at": now_iso(),
                "lat": world.lat + jitter,
                "lng": world.lng - jitter,
                "accuracy_m": 12.0,
                "coord_type": "wgs84",
                "client_time": now_iso(),
            },
        )
        for _ in range(args.photos_per_visit):
            data = unique(rng.choice(photos), rng)
            ticket = client.call(
                "photo.ticket", "POST", f"/visits/{vid}/photos", photo_payload(data, world.lat + jitter, world.lng)
            )
            client.upload(ticket["upload"], data)
            client.call("photo.complete", "POST", f"/photos/{ticket['photo_id']}/complete", {})
            with client.stats.lock:
                client.stats.photos += 1
        client.call(
            "interview",
            "POST",
            f"/visits/{vid}/interviews",
            {
                "client_id": str(uuid.uuid4()),
                "sent_at": now_iso(),
                "household": f"李{rng.randrange(1000)}户",
                "satisfaction": rng.choice(("满意", "基本满意", "不满意")),
                "answers": {"知晓项目": True},
                "notes": "项目已完工,群众反映良好",
            },
        )
        client.call("submit", "POST", f"/visits/{vid}/submit", {"client_id": str(uuid.uuid4()), "sent_at": now_iso()})
        with client.stats.lock:
            client.stats.visits += 1


def run_inspectors(
    port: int, world: World, chosen: list[tuple[str, str, int]], photos: list[bytes], args, stats: Stats
) -> float:
    """Run one thread per inspector until all finish; returns the wall time in seconds."""
    deadline = time.monotonic() + args.duration

    def one(i: int, who) -> None:
        rng = random.Random(i)
        client = Client(port, stats, args.think, rng, photo_port=args.photo_port)
        # Phones do not all sign in within the same instant: each starts at a random moment of the ramp.
        time.sleep(rng.uniform(0, args.ramp))
        try:
            inspector_run(client, world, who, photos, args, deadline, rng)
        except Exception as exc:  # recorded and reported; the other inspectors go on
            with stats.lock:
                stats.failures.append(f"{who[0]}: {exc}")
        finally:
            client.close()

    threads = [threading.Thread(target=one, args=(i, who), daemon=True) for i, who in enumerate(chosen)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def photo_cpu_phase(
    port: int, world: World, who: tuple[str, str, int], photos: list[bytes], count: int, app_pid: int
) -> dict[str, float]:
    """App CPU per photo ticket and per complete, one request at a time with nothing else running.

    Tickets, uploads and completes are done in three batches so that the CPU snapshots around
    the ticket and complete batches hold only the app's own work for them.
    """
    stats = Stats()
    client = Client(port, stats)
    rng = random.Random(99)
    try:
        client.token = client.call("login", "POST", "/auth/login", {"username": who[0], "password": who[1]})["token"]
        vid = client.call(
            "visit.start",
            "POST",
            "/visits",
            {"client_id": str(uuid.uuid4()), "sent_at": now_iso(), "assignment_id": who[2], "started_at": now_iso()},
        )["id"]
        data = [unique(photos[i % len(photos)], rng) for i in range(count)]
        before = benchlib.tree_cpu(app_pid)
        tickets = [
            client.call("photo.ticket", "POST", f"/visits/{vid}/photos", photo_payload(d, world.lat, world.lng))
            for d in data
        ]
        ticket_cpu = benchlib.cpu_delta(before, benchlib.tree_cpu(app_pid))
        for t, d in zip(tickets, data, strict=True):
            client.upload(t["upload"], d)
        before = benchlib.tree_cpu(app_pid)
        for t in tickets:
            client.call("photo.complete", "POST", f"/photos/{t['photo_id']}/complete", {})
        complete_cpu = benchlib.cpu_delta(before, benchlib.tree_cpu(app_pid))
    finally:
        client.close()
    summary = summarize(stats.samples)
    return {
        "ticket_ms": ticket_cpu / count * 1000,
        "complete_ms": complete_cpu / count * 1000,
        "complete_p50": summary["photo.complete"]["p50"],
        "ticket_p50": summary["photo.ticket"]["p50"],
    }


# ---- through the cluster, with faults (--cluster) -------------------------------------------


@dataclass
class Sample:
    """One request of a phone: what, when it started and ended (monotonic seconds), its status."""

    what: str
    start: float
    end: float
    status: int


class FaultPhone:
    """One inspector's phone through nginx over HTTPS, as the mini-program's outbox behaves.

    Every write carries a client_id made once and is sent again (same client_id) after a 503 or a
    broken connection until it is answered 2xx; what was answered 2xx goes into the phone's own
    log (`acknowledged`), which is compared with the database afterwards. Any other status stops
    the phone. `photo(n)` makes the n-th photo's JPEG bytes.
    """

    def __init__(
        self, base_url: str, ca_file: str, who: tuple[str, str, int], world: World, photo, *, retry_s=0.5, think=0.0
    ):
        import requests

        self.base = base_url + "/api/v1"
        self.http = requests.Session()
        # Per request: a REQUESTS_CA_BUNDLE in the environment would override the session's own.
        self.ca_file = ca_file
        self.username, self.password, self.assignment_id = who
        self.world, self.photo, self.retry_s, self.think = world, photo, retry_s, think
        self.rng = random.Random(self.username)
        self.token: str | None = None
        self.acknowledged: list[tuple[str, str]] = []  # (table, client_id) the server said it stored
        self.refusals: list[tuple[str, int, str | None]] = []  # (what, status or 0, Retry-After)
        self.samples: list[Sample] = []
        self.visits = 0
        self.error: BaseException | None = None

    def call(self, what: str, method: str, url: str, payload: dict | None = None, **kwargs) -> dict:
        """Send until answered 2xx (at most 120 s); 503s and broken connections are logged and retried."""
        import requests

        if self.think:  # the phone-side pause before a request (framing a photo, typing), not before retries
            time.sleep(self.rng.expovariate(1 / self.think))
        deadline = time.monotonic() + 120
        while True:
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            start = time.monotonic()
            try:
                answer = self.http.request(
                    method, url, json=payload, headers=headers, timeout=60, verify=self.ca_file, **kwargs
                )
            except requests.ConnectionError as exc:
                self.samples.append(Sample(what, start, time.monotonic(), 0))
                self.refusals.append((what, 0, type(exc).__name__))
                answer = None
            if answer is not None:
                self.samples.append(Sample(what, start, time.monotonic(), answer.status_code))
                if answer.ok:
                    return answer.json() if answer.content else {}
                self.refusals.append((what, answer.status_code, answer.headers.get("Retry-After")))
                if answer.status_code != 503:
                    raise Failure(f"{what}: HTTP {answer.status_code} {answer.text[:300]}")
            if time.monotonic() > deadline:
                raise Failure(f"{what}: no success within 120 s: {self.refusals[-3:]}")
            time.sleep(self.retry_s)

    def write(self, table: str, what: str, path: str, payload: dict) -> dict:
        """A write with a fresh client_id, logged as acknowledged once answered."""
        payload = {"client_id": str(uuid.uuid4()), "sent_at": now_iso(), **payload}
        answer = self.call(what, "POST", self.base + path, payload)
        self.acknowledged.append((table, payload["client_id"]))
        return answer

    def run(self, visits: int, photos_per_visit: int = 1, until: float | None = None) -> None:
        """Log in, then do `visits` visits (none started after the monotonic time `until`)."""
        try:
            self.token = self.call(
                "login", "POST", self.base + "/auth/login", {"username": self.username, "password": self.password}
            )["token"]
            for n in range(visits):
                if until is not None and time.monotonic() > until:
                    return
                self.one_visit(n, photos_per_visit)
                self.visits += 1
        except BaseException as exc:  # noqa: BLE001 - reported by whoever runs the phone
            self.error = exc

    def one_visit(self, n: int, photos_per_visit: int) -> None:
        """start → check-in → photos (ticket, upload straight to S3, complete) → interview → submit."""
        lat, lng = self.world.lat, self.world.lng
        start = {"assignment_id": self.assignment_id, "started_at": now_iso()}
        vid = self.write("visits", "visit.start", "/visits", start)["id"]
        checkin = {"lat": lat, "lng": lng, "accuracy_m": 10.0, "coord_type": "wgs84", "client_time": now_iso()}
        self.write("checkins", "checkin", f"/visits/{vid}/checkins", checkin)
        for k in range(photos_per_visit):
            data = self.photo(n * photos_per_visit + k)
            payload = photo_payload(data, lat, lng)
            ticket = self.call("photo.ticket", "POST", self.base + f"/visits/{vid}/photos", payload)
            self.acknowledged.append(("photos", payload["client_id"]))
            upload = ticket["upload"]
            files = {upload.get("file_field", "file"): ("photo.jpg", data, "image/jpeg")}
            self.call("s3.upload", "POST", upload["url"], None, data=upload["fields"], files=files)
            self.call("photo.complete", "POST", self.base + f"/photos/{ticket['photo_id']}/complete", {})
        interview = {
            "household": f"李{n}户",
            "satisfaction": "满意",
            "answers": {"知晓项目": True},
            "notes": "路已修好",
        }
        self.write("interviews", "interview", f"/visits/{vid}/interviews", interview)
        self.write("client_writes", "submit", f"/visits/{vid}/submit", {})


def stored_counts(cluster, phones: list[FaultPhone]) -> dict[str, int]:
    """Records lost (acknowledged, not stored) and duplicated (stored more than once), from the phones' logs."""
    by_table: dict[str, list[str]] = defaultdict(list)
    for p in phones:
        for table_name, client_id in p.acknowledged:
            by_table[table_name].append(client_id)
    lost = duplicated = 0
    for table_name, ids in by_table.items():
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            quoted = ",".join(f"'{uuid.UUID(c)}'" for c in chunk)  # UUIDs only: nothing to escape
            rows = cluster.sql(
                3,
                f"SELECT client_id, COUNT(*) FROM sp_cluster.{table_name} WHERE client_id IN ({quoted}) "
                "GROUP BY client_id",
            )
            counts = {cid: int(n) for cid, n in rows}
            lost += sum(1 for c in chunk if c not in counts)
            duplicated += sum(n - 1 for n in counts.values() if n > 1)
    return {"acknowledged": sum(map(len, by_table.values())), "lost": lost, "duplicated": duplicated}


def outside(samples: list[Sample], windows: list[tuple[float, float]]) -> list[Sample]:
    """The samples that overlap none of the (start, end) windows."""
    return [s for s in samples if all(s.end < a or s.start > b for a, b in windows)]


def recovery(samples: list[Sample], start: float, settled: float) -> float:
    """Seconds from a fault's start to the end of the last refused request before `settled` (0: none refused)."""
    refused = [s.end for s in samples if s.status // 100 != 2 and start <= s.end <= settled]
    return max(refused) - start if refused else 0.0


class AppCpu:
    """CPU seconds of the app processes only (both app nodes and the photo pool), across a node's kill."""

    def __init__(self, cluster):
        self.cluster, self.spent = cluster, 0.0
        self.base = self._now()

    def _now(self) -> dict[int, float]:
        out: dict[int, float] = {}
        for name in self.cluster.app_nodes:
            if name in self.cluster.procs:
                out |= benchlib.tree_cpu(self.cluster.procs[name].pid)
        return out

    def before_kill(self, name: str) -> None:
        """Count what the node used until now, then SIGKILL it (its successor counts from zero)."""
        now = self._now()
        self.spent += benchlib.cpu_delta(self.base, now)
        gone = set(benchlib.process_tree(self.cluster.procs[name].pid))
        self.base = {pid: sec for pid, sec in now.items() if pid not in gone}
        self.cluster.kill_app(name)

    def total(self) -> float:
        """CPU seconds since the start."""
        return self.spent + benchlib.cpu_delta(self.base, self._now())


def photo_maker(photos: list[bytes], seed: int):
    """A phone's photo source: one of the 4 MB photos with fresh bytes each time (seeded per phone)."""
    rng = random.Random(seed)
    return lambda _n: unique(rng.choice(photos), rng)


def cluster_main(args) -> int:
    """--cluster: phones through nginx to the whole topology while faults come on a schedule; JSON report."""
    from scripts.cluster import Cluster

    photos = phone_photos(PHOTO_VARIANTS)
    rng = random.Random(7)
    workdir = Path(tempfile.mkdtemp(prefix="sp-bench-cluster."))
    cluster = Cluster(
        workdir, app_workers=args.workers, app_threads=args.threads, photo_workers=max(1, args.photo_pool)
    )
    try:
        with cluster as c:
            print(f"cluster up: {c.base_url} (work dir {c.workdir})", flush=True)
            return _cluster_run(args, c, photos, rng)
    finally:
        if args.keep:
            print(f"kept {workdir} (every component's log)")
        else:
            subprocess.run(["rm", "-rf", str(workdir)], check=False)


def _cluster_run(args, c, photos: list[bytes], rng: random.Random) -> int:
    """The phones and the fault schedule on a running cluster; prints the JSON report, 0 when nothing was lost."""
    world = build_world(c.env(), args.inspectors)
    conflicts_before = c.conflicts()
    cpu = AppCpu(c)
    phones = [
        FaultPhone(c.base_url, str(c.ca_file), who, world, photo_maker(photos, i), think=args.think)
        for i, who in enumerate(world.inspectors)
    ]
    t0 = time.monotonic()
    until = t0 + args.duration
    threads = []
    for p in phones:
        threads.append(threading.Thread(target=p.run, args=(args.visits_per_inspector, args.photos_per_visit, until)))
        threads[-1].start()
        time.sleep(rng.uniform(0, args.ramp / max(1, len(phones))))
    faults = []

    def fault(kind: str, inject, restore) -> None:
        time.sleep(args.fault_gap)
        start = time.monotonic()
        inject()
        restore()
        faults.append({"fault": kind, "start": start, "restored": time.monotonic()})
        print(f"  {kind}: back after {time.monotonic() - start:.1f} s", flush=True)

    fault("app node SIGKILLed and restarted", lambda: cpu.before_kill("app1"), lambda: c.start_app("app1"))
    fault("Galera node stopped and rejoined", lambda: c.stop_galera(2), lambda: (time.sleep(5), c.start_galera(2)))
    fault("Redis restarted", c.restart_redis, lambda: None)
    fault("S3 stalled 10 s", c.stall_s3, lambda: (time.sleep(10), c.resume_s3()))
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    app_cpu_s = cpu.total()
    samples = [s for p in phones for s in p.samples]
    windows = [(f["start"], f["restored"] + args.settle) for f in faults]
    quiet_samples = [s for s in outside(samples, windows) if s.what in JSON_ENDPOINTS and s.status // 100 == 2]
    ms = [(s.end - s.start) * 1000 for s in quiet_samples]
    by_endpoint: dict[str, list[float]] = {}
    for s in quiet_samples:
        by_endpoint.setdefault(s.what, []).append(s.end - s.start)
    refusals = [r for p in phones for r in p.refusals]
    counts = stored_counts(c, phones)
    pending = int(c.sql(1, "SELECT COUNT(*) FROM sp_cluster.photos WHERE status = 'pending'")[0][0])
    verified = c.flask("verify-audit")
    writes = counts["acknowledged"]
    active_s = max(s.end for s in samples) - min(s.start for s in samples) if samples else 0.0
    json_rate = sum(1 for s in samples if s.what in JSON_ENDPOINTS) / active_s if active_s else 0.0
    complete_rate = (
        sum(1 for s in samples if s.what == "photo.complete" and s.status // 100 == 2) / active_s if active_s else 0.0
    )
    result = {
        "inspectors": args.inspectors,
        "visits": sum(p.visits for p in phones),
        "wall_s": round(wall, 1),
        "phones_failed": [f"{p.username}: {p.error}" for p in phones if p.error],
        "app_cpu_s": round(app_cpu_s, 1),
        "app_cpu_ms_per_visit": round(1000 * app_cpu_s / max(1, sum(p.visits for p in phones)), 1),
        # The submission rate the p99 belongs to (requests sent, retries included, over the whole run),
        # against an average county's peak minute (docs/capacity.md §3).
        "offered_load": {
            "json_requests_per_s": round(json_rate, 2),
            "photo_completes_per_s": round(complete_rate, 2),
            "x_county_peak_minute": {
                "json": round(json_rate / COUNTY_PEAK_MINUTE["json_requests_per_s"], 1),
                "photo_completes": round(complete_rate / COUNTY_PEAK_MINUTE["photo_completes_per_s"], 1),
            },
        },
        "json_outside_faults": {
            "n": len(ms),
            "p50_ms": percentile(ms, 50),
            "p99_ms": percentile(ms, 99),
            "goal_p99_ms": GOAL_JSON_P99_MS,
            "met": bool(ms) and percentile(ms, 99) < GOAL_JSON_P99_MS,
            # A phone signs in once (through WeChat in production); a password login is scrypt on purpose.
            "p99_ms_without_login": percentile(
                [(s.end - s.start) * 1000 for s in quiet_samples if s.what != "login"], 99
            ),
            # Where the tail is: login hashes a password (scrypt) on purpose, the writes wait on Galera.
            "by_endpoint": {
                name: {k: v for k, v in row.items() if k in ("count", "p50", "p99", "max")}
                for name, row in summarize(by_endpoint).items()
            },
        },
        "records": {**counts, "goal_lost": 0, "goal_duplicated": 0},
        "photos_pending": pending,
        "audit_chain_verifies": verified.returncode == 0,
        "refusals": dict(Counter(f"{status} {'with' if ra else 'without'} Retry-After" for _, status, ra in refusals)),
        "only_503_with_retry_after": all(status == 503 and ra for _, status, ra in refusals),
        # Share of the time each node's replication was paused by flow control (a slow applier).
        "galera_flow_control_paused": {
            f"galera{n.index}": float(c.wsrep_status(n.index).get("wsrep_flow_control_paused", 0)) for n in c.galera
        },
        "galera_conflicts_1213": c.conflicts() - conflicts_before,
        "galera_conflicts_per_1000_writes": round(1000 * (c.conflicts() - conflicts_before) / writes, 2)
        if writes
        else None,
        "faults": [
            {
                "fault": f["fault"],
                "component_back_s": round(f["restored"] - f["start"], 1),
                "recovered_s": round(recovery(samples, f["start"], f["restored"] + args.settle), 1),
            }
            for f in faults
        ],
    }
    print(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    ok = (
        not result["phones_failed"]
        and counts["lost"] == 0
        and counts["duplicated"] == 0
        and result["audit_chain_verifies"]
    )
    return 0 if ok else 1


# ---- main ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; --quick shrinks the run to a smoke test."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--inspectors", type=int, default=GOAL_INSPECTORS)
    p.add_argument("--visits-per-inspector", type=int, default=2)
    p.add_argument("--photos-per-visit", type=int, default=3)
    p.add_argument("--duration", type=float, default=300, help="no visit starts after this many seconds")
    p.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="mean phone-side pause before each request, seconds (0: as fast as possible)",
    )
    p.add_argument(
        "--ramp",
        type=float,
        default=0.0,
        help="inspectors start at random moments within this many seconds (0: all at once)",
    )
    p.add_argument("--cpu-photos", type=int, default=30, help="photos of the quiet CPU-per-photo phase")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (WEB_CONCURRENCY)")
    p.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker (GUNICORN_THREADS)")
    p.add_argument(
        "--photo-pool",
        type=int,
        default=0,
        metavar="WORKERS",
        help="serve photo completes from a second gunicorn of this many workers at nice 10 "
        "(deploy/: nginx routes /photos/<id>/complete to it); 0: one pool for all",
    )
    p.add_argument("--mysql-url", help="use this database instead of a private MariaDB (it must be empty)")
    p.add_argument("--s3-endpoint", help="use this S3 endpoint instead of a private moto_server")
    p.add_argument("--quick", action="store_true", help="5 inspectors, 1 visit each, 6 quiet photos")
    p.add_argument("--keep", action="store_true", help="keep the work dir (logs, datadir)")
    p.add_argument(
        "--cluster",
        action="store_true",
        help="run through scripts/cluster.py (nginx, two app nodes, photo pool, Redis, S3, 3-node Galera) "
        "with faults on a schedule; prints JSON",
    )
    p.add_argument("--fault-gap", type=float, default=15.0, help="--cluster: seconds before each fault")
    p.add_argument("--settle", type=float, default=10.0, help="--cluster: seconds after a fault still counted in it")
    args = p.parse_args(argv)
    if args.quick:
        args.inspectors, args.visits_per_inspector, args.cpu_photos = 5, 1, 6
    return args


def main(argv: list[str] | None = None) -> int:
    """Start the stack, run both phases, print the report."""
    args = parse_args(argv)
    if args.cluster:
        return cluster_main(args)
    workdir = Path(tempfile.mkdtemp(prefix="sp-bench-load."))
    servers = benchlib.Servers(workdir)
    try:
        print(f"work dir {workdir}", flush=True)
        print(f"generating/caching {PHOTO_VARIANTS} phone photos ...", flush=True)
        photos = phone_photos(PHOTO_VARIANTS)
        print(f"  {len(photos)} photos, {sum(map(len, photos)) / len(photos) / 1e6:.1f} MB each", flush=True)
        mysql_url = args.mysql_url or benchlib.start_mariadb(servers)
        s3 = args.s3_endpoint or benchlib.start_moto(servers)
        db_pid = servers.mariadb_pid or benchlib.listening_pid(urlsplit(mysql_url).port or 3306)
        s3_pid = servers.moto_pid or benchlib.listening_pid(urlsplit(s3).port or 80)
        port = benchlib.free_port()
        env = app_env(args, mysql_url, s3, workdir, port)
        print("creating accounts and assignments ...", flush=True)
        world = build_world(env, args.inspectors + 3)
        gunicorn = start_gunicorn(servers, env, port)
        app_pid = gunicorn.pid
        print(
            f"gunicorn pid {app_pid} (workers {benchlib.children(app_pid)}), mariadbd {db_pid}, "
            f"S3 {s3_pid}, app port {port}",
            flush=True,
        )
        args.photo_port, photo_pid = None, None
        if args.photo_pool:
            args.photo_port = benchlib.free_port()
            photo_env = {**env, "WEB_CONCURRENCY": str(args.photo_pool)}
            photo_pid = start_gunicorn(servers, photo_env, args.photo_port, name="gunicorn-photos", nice=10).pid
            print(f"photo pool: gunicorn pid {photo_pid}, port {args.photo_port}, nice 10", flush=True)

        # Warm-up: the first requests of a worker open pools and load fonts.
        warm_args = argparse.Namespace(
            **{**vars(args), "visits_per_inspector": 1, "photos_per_visit": 1, "think": 0.0, "ramp": 0.0}
        )
        run_inspectors(port, world, world.inspectors[-3:-1], photos, warm_args, Stats())

        print(
            f"load phase: {args.inspectors} inspectors x {args.visits_per_inspector} visits x "
            f"{args.photos_per_visit} photos (stop starting visits after {args.duration:.0f} s) ...",
            flush=True,
        )
        stats = Stats()
        pids = {"app": app_pid, "photos": photo_pid, "db": db_pid, "s3": s3_pid}
        before = {k: benchlib.tree_cpu(p) if p else {} for k, p in pids.items()}
        me = resource.getrusage(resource.RUSAGE_SELF)
        wall = run_inspectors(port, world, world.inspectors[: args.inspectors], photos, args, stats)
        me_after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = {k: benchlib.cpu_delta(before[k], benchlib.tree_cpu(p)) if p else None for k, p in pids.items()}
        client_cpu = (me_after.ru_utime - me.ru_utime) + (me_after.ru_stime - me.ru_stime)
        rss = {
            "app": [(p, benchlib.status_kb(p, "VmHWM")) for p in benchlib.process_tree(app_pid)],
            "db": benchlib.status_kb(db_pid, "VmHWM") if db_pid else None,
            "s3": benchlib.status_kb(s3_pid, "VmHWM") if s3_pid else None,
        }

        print(f"quiet phase: {args.cpu_photos} photos, one request at a time ...", flush=True)
        quiet = photo_cpu_phase(port, world, world.inspectors[-1], photos, args.cpu_photos, app_pid)
        if photo_pid:  # the app's CPU is both pools'
            cpu["app"] += cpu.pop("photos")
        else:
            cpu.pop("photos")
        report(args, stats, wall, cpu, client_cpu, rss, quiet)
        return 1 if stats.failures else 0
    finally:
        servers.stop()
        if args.keep:
            print(f"kept {workdir}")
        else:
            subprocess.run(["rm", "-rf", str(workdir)], check=False)


def report(args, stats: Stats, wall: float, cpu: dict, client_cpu: float, rss: dict, quiet: dict) -> None:
    """Print the throughput, the latency table, the CPU and memory figures and the goals table."""
    summary = summarize(stats.samples)
    print(
        f"\n== load phase: {args.inspectors} inspectors, {stats.visits} visits, {stats.photos} photos "
        f"in {wall:.1f} s ({args.workers} gunicorn workers x {args.threads} threads, "
        f"think time {args.think:g} s, ramp {args.ramp:g} s)"
    )
    visits_s, photos_s = stats.visits / wall, stats.photos / wall
    print(f"visits/s {visits_s:.2f}   photo completes/s {photos_s:.2f}")
    rows = [
        (
            name,
            s["count"],
            stats.errors.get(name, 0),
            fmt_ms(s["p50"]),
            fmt_ms(s["p95"]),
            fmt_ms(s["p99"]),
            fmt_ms(s["max"]),
        )
        for name in ENDPOINTS
        if (s := summary.get(name))
    ]
    print(table(rows, ("endpoint", "n", "errors", "p50 ms", "p95 ms", "p99 ms", "max ms")))
    json_all = [v * 1000 for name in JSON_ENDPOINTS for v in stats.samples.get(name, [])]
    json_p99 = percentile(json_all, 99)
    json_nologin = [v * 1000 for name in JSON_ENDPOINTS if name != "login" for v in stats.samples.get(name, [])]
    print(
        f"all JSON requests: n {len(json_all)}, p50 {fmt_ms(percentile(json_all, 50))} ms, "
        f"p99 {fmt_ms(json_p99)} ms (without login: p99 {fmt_ms(percentile(json_nologin, 99))} ms)"
    )
    if stats.failures:
        print(f"{len(stats.failures)} inspectors stopped on an error; first: {stats.failures[0]}")

    print("\n== CPU during the load phase (seconds, and cores = seconds / wall time)")
    cpu_rows = []
    for key, label in (("app", "gunicorn master + workers"), ("db", "mariadbd"), ("s3", "S3 server (moto)")):
        sec = cpu[key]
        cpu_rows.append((label, "-" if sec is None else f"{sec:.1f}", "-" if sec is None else f"{sec / wall:.2f}"))
    cpu_rows.append(("bench clients (this process)", f"{client_cpu:.1f}", f"{client_cpu / wall:.2f}"))
    print(table(cpu_rows, ("process", "CPU s", "cores")))
    app_per_photo = cpu["app"] / stats.photos * 1000 if stats.photos else None
    app_per_visit = cpu["app"] / stats.visits * 1000 if stats.visits else None
    print(
        f"app CPU per visit (login share, start, check-in, {args.photos_per_visit} photos, interview, submit): "
        f"{fmt_ms(app_per_visit)} ms; all app CPU / photos: {fmt_ms(app_per_photo)} ms"
    )
    print(
        f"quiet phase, app CPU per photo: ticket {quiet['ticket_ms']:.1f} ms + complete "
        f"{quiet['complete_ms']:.1f} ms = {quiet['ticket_ms'] + quiet['complete_ms']:.1f} ms "
        f"(latency p50: ticket {fmt_ms(quiet['ticket_p50'])} ms, complete {fmt_ms(quiet['complete_p50'])} ms)"
    )

    print("\n== peak RSS (VmHWM)")
    mem_rows = [
        (f"gunicorn {'master' if i == 0 else 'worker'} {pid}", f"{kb / 1024:.0f}")
        for i, (pid, kb) in enumerate(rss["app"])
    ]
    mem_rows += [
        ("mariadbd", "-" if rss["db"] is None else f"{rss['db'] / 1024:.0f}"),
        ("S3 server (moto)", "-" if rss["s3"] is None else f"{rss['s3'] / 1024:.0f}"),
    ]
    print(table(mem_rows, ("process", "MB")))

    # The cores the app could have had: the machine's, less what the S3 server, the database
    # and the simulated phones took; at the app CPU one photo's visit share costs, that is the
    # highest photo-complete rate this machine allows with these neighbours.
    cores = os.cpu_count() or 1
    others = sum(v for k, v in cpu.items() if k != "app" and v) + client_cpu
    left = max(0.0, cores - others / wall)
    ceiling = left / (cpu["app"] / stats.photos) if stats.photos and cpu["app"] else None
    photo_cpu = quiet["ticket_ms"] + quiet["complete_ms"]
    goals = [
        goal_row(
            f"app CPU per 4 MB photo submission <= {GOAL_PHOTO_CPU_MS:.0f} ms "
            f"(ODK Central: ~{ODK_CPU_MS_PER_SUBMISSION:.0f} ms, no image work)",
            f"{photo_cpu:.1f} ms (ticket + complete, quiet phase)",
            photo_cpu <= GOAL_PHOTO_CPU_MS,
        ),
        goal_row(
            f"JSON p99 < {GOAL_JSON_P99_MS:.0f} ms at {GOAL_INSPECTORS} concurrent inspectors",
            f"{fmt_ms(json_p99)} ms at {args.inspectors} inspectors, think {args.think:g} s, "
            f"ramp {args.ramp:g} s{', photo pool' if args.photo_pool else ''}",
            None if args.inspectors < GOAL_INSPECTORS or json_p99 is None else json_p99 < GOAL_JSON_P99_MS,
        ),
        goal_row(
            f"photo completes/s as high as the cores left allow ({cores} cores, "
            f"{others / wall:.2f} taken by S3, DB and clients)",
            f"{photos_s:.2f}/s (ceiling at the measured app CPU: {'-' if ceiling is None else f'{ceiling:.2f}'}/s)",
            None if ceiling is None else photos_s >= 0.8 * ceiling,
        ),
        goal_row(
            f"reference: ODK Central sustains ~{ODK_SUBMISSIONS_PER_S:.0f} submissions/s (no image work)",
            f"{photos_s:.2f} photo completes/s, {visits_s:.2f} visits/s",
            None,
        ),
    ]
    print("\n== goals")
    print(table(goals, ("goal", "measured", "met?")))


if __name__ == "__main__":
    sys.exit(main())
