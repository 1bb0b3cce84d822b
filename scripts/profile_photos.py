"""Profile of one photo submission (ticket + complete) on MariaDB and S3: where the app's CPU goes.

Run from the project root:
    .venv/bin/python scripts/profile_photos.py [--photos 20] [--out /tmp/photo.prof]
    .venv/bin/python scripts/profile_photos.py --mysql-url URL --s3-endpoint URL

It starts its own MariaDB and moto_server (as bench_load.py does), builds the same accounts,
then runs the app in this process through Flask's test client (the request handling, the
SQLAlchemy work and the boto3 calls to S3 are real; gunicorn's own parsing is left out). Each
photo's 4 MB upload goes straight to S3 with the presigned POST, outside the measurement. It
prints the process CPU per ticket and per complete and by step (STEPS: each function timed
where the pipeline calls it, no profiler running), then a second pass under cProfile (thread
CPU time) and its top functions by own time. --out keeps that pstats file (for snakeviz or
flameprof). This is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import importlib
import io
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts import bench_load, benchlib  # noqa: E402

# (label, module, attribute path): the CPU of these calls, timed where the pipeline looks them
# up, is the step breakdown. Indented steps are parts of the step above them.
STEPS = (
    ("owner and permission (photo_for)", "server.services.photos", "photo_for"),
    ("GET of the upload, sha256 (_fetch)", "server.services.photos", "_fetch"),
    ("pipeline (process_photo)", "server.services.photos", "process_photo"),
    ("  reduced-scale decode", "server.imaging.decode", "_decode_small"),
    ("  EXIF", "server.imaging.decode", "read_exif"),
    ("  region hashes", "server.imaging.decode", "phash_regions"),
    ("  watermark", "server.imaging.decode", "_draw_watermark"),
    ("  JPEG encodes", "server.imaging.decode", "_encode_jpeg"),
    ("seal: CopyObject (seal_upload)", "server.storage.s3", "S3Storage.seal_upload"),
    ("seal: PutObject (put_sealed)", "server.storage.s3", "S3Storage.put_sealed"),
    ("thumbnail and preview PUTs", "server.storage.s3", "S3Storage.put"),
    ("discard the upload", "server.storage.s3", "S3Storage.discard_upload"),
    ("near-duplicate lookup", "server.services.photos", "find_duplicate"),
    ("audit append", "server.services.audit", "append"),
    ("presigned URLs of the answer", "server.services.photos", "urls"),
    ("presigned POST of the ticket", "server.storage.s3", "S3Storage.presign_upload"),
    ("all boto3 API calls", "botocore.client", "BaseClient._make_api_call"),
    ("all Session.execute", "sqlalchemy.orm", "Session.execute"),
    ("all commits (flush included)", "sqlalchemy.orm", "Session.commit"),
)


class StepTimer:
    """CPU time (process_time) spent inside each STEPS function, its outermost calls only."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = dict.fromkeys((label for label, _m, _a in STEPS), 0.0)
        self.active = False
        self._undo: list[tuple[object, str, object]] = []

    def install(self) -> None:
        """Wrap every STEPS function where the pipeline looks it up (those that exist)."""
        for label, module, path in STEPS:
            owner = importlib.import_module(module)
            *parents, name = path.split(".")
            for parent in parents:
                owner = getattr(owner, parent)
            original = owner.__dict__.get(name)
            if original is None:  # a step an older version of the code does not have
                continue
            self._undo.append((owner, name, original))
            setattr(owner, name, self._wrap(label, original))

    def uninstall(self) -> None:
        """Put the original functions back."""
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()

    def _wrap(self, label: str, func):
        depth = [0]

        @functools.wraps(func)
        def timed(*args, **kwargs):
            if not self.active or depth[0]:
                return func(*args, **kwargs)
            depth[0] += 1
            start = time.process_time()
            try:
                return func(*args, **kwargs)
            finally:
                self.seconds[label] += time.process_time() - start
                depth[0] -= 1

        return timed


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--photos", type=int, default=20, help="photos per pass (one unprofiled, one profiled)")
    p.add_argument("--out", help="write the pstats file here")
    p.add_argument("--top", type=int, default=25, help="functions listed by own time")
    p.add_argument("--sql", action="store_true", help="also print the SQL statements of one ticket and one complete")
    p.add_argument("--mysql-url", help="use this (empty) database instead of a private MariaDB")
    p.add_argument("--s3-endpoint", help="use this S3 endpoint instead of a private moto_server")
    return p.parse_args(argv)


class Phone:
    """One inspector through the test client; uploads go to S3 over HTTP as the phone's do."""

    def __init__(self, app, who: tuple[str, str, int], world: bench_load.World):
        self.client = app.test_client()
        self.world = world
        self.uploader = bench_load.Client(0, bench_load.Stats())
        answer = self.call("POST", "/auth/login", {"username": who[0], "password": who[1]})
        self.headers = {"Authorization": f"Bearer {answer['token']}"}
        self.visit_id = self.call(
            "POST",
            "/visits",
            {
                "client_id": str(uuid.uuid4()),
                "sent_at": bench_load.now_iso(),
                "assignment_id": who[2],
                "started_at": bench_load.now_iso(),
            },
        )["id"]

    def call(self, method: str, path: str, payload: dict | None = None) -> dict:
        """A JSON request; anything but 200/201 stops the run."""
        response = self.client.open("/api/v1" + path, method=method, json=payload, headers=getattr(self, "headers", {}))
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.get_data(as_text=True)[:300]}")
        return response.get_json()

    def ticket(self, data: bytes) -> dict:
        """POST /visits/{id}/photos."""
        payload = bench_load.photo_payload(data, self.world.lat, self.world.lng)
        return self.call("POST", f"/visits/{self.visit_id}/photos", payload)

    def complete(self, photo_id: int) -> dict:
        """POST /photos/{id}/complete."""
        return self.call("POST", f"/photos/{photo_id}/complete", {})


def one_pass(phone: Phone, data: list[bytes], on, off) -> tuple[list[float], list[float]]:
    """Ticket, upload and complete each photo, calling on() and off() around each request; their process CPU."""
    tickets, completes = [], []
    for d in data:
        start = time.process_time()
        on()
        answer = phone.ticket(d)
        off()
        tickets.append(time.process_time() - start)
        phone.uploader.upload(answer["upload"], d)
        start = time.process_time()
        on()
        phone.complete(answer["photo_id"])
        off()
        completes.append(time.process_time() - start)
    return tickets, completes


def print_statements(app, phone: Phone, data: bytes) -> None:
    """The SQL statements one ticket and one complete send, first line of each."""
    from sqlalchemy import event

    from server.db import db

    sent: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        sent.append(" ".join(statement.split())[:160])

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        answer = phone.ticket(data)
        print(f"== ticket: {len(sent)} statements", *sent, sep="\n  ")
        sent.clear()
        phone.uploader.upload(answer["upload"], data)
        phone.complete(answer["photo_id"])
        print(f"== complete: {len(sent)} statements", *sent, sep="\n  ")
    finally:
        event.remove(engine, "before_cursor_execute", record)


def main(argv: list[str] | None = None) -> int:
    """Start the stack, warm up, run a timed and a profiled pass, print the tables."""
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="sp-profile-photos."))
    servers = benchlib.Servers(workdir)
    nothing = lambda: None  # noqa: E731
    try:
        photos = bench_load.phone_photos(bench_load.PHOTO_VARIANTS)
        mysql_url = args.mysql_url or benchlib.start_mariadb(servers)
        s3 = args.s3_endpoint or benchlib.start_moto(servers)
        ns = argparse.Namespace(workers=1, threads=1)
        env = bench_load.app_env(ns, mysql_url, s3, workdir, 8000)
        world = bench_load.build_world(env, 2)
        os.environ.update(env)
        from server.app import create_app

        app = create_app()
        phone = Phone(app, world.inspectors[0], world)
        rng = random.Random(7)
        fresh = lambda n: [bench_load.unique(photos[i % len(photos)], rng) for i in range(n)]  # noqa: E731
        one_pass(phone, fresh(3), nothing, nothing)  # warm-up: imports, fonts, connection pools
        if args.sql:
            print_statements(app, phone, fresh(1)[0])
        timer = StepTimer()
        timer.install()
        try:
            tickets, completes = one_pass(
                phone,
                fresh(args.photos),
                lambda: setattr(timer, "active", True),
                lambda: setattr(timer, "active", False),
            )
        finally:
            timer.uninstall()
        # CPU time, not wall time: waits for MariaDB and S3 are not the app's cost.
        profiler = cProfile.Profile(time.thread_time)
        one_pass(phone, fresh(args.photos), profiler.enable, profiler.disable)
        phone.uploader.close()
    finally:
        servers.stop()

    n = args.photos
    t, c = statistics.median(tickets) * 1000, statistics.median(completes) * 1000
    print(f"process CPU per photo (median of {n}): ticket {t:.1f} ms + complete {c:.1f} ms = {t + c:.1f} ms")
    print(f"  (means {statistics.mean(tickets) * 1000:.1f} + {statistics.mean(completes) * 1000:.1f} ms)")
    print(f"\n== CPU per photo by step (process time inside each call, mean of {n} photos)")
    rows = [(label, f"{sec / n * 1000:.1f}") for label, sec in timer.seconds.items() if sec]
    print(bench_load.table(rows, ("step", "ms/photo")))
    stats = pstats.Stats(profiler)
    if args.out:
        stats.dump_stats(args.out)
    print(f"\n== cProfile (thread CPU time; it inflates Python-heavy code): top {args.top} functions by own time")
    out = io.StringIO()
    stats.stream = out
    stats.sort_stats("tottime").print_stats(args.top)
    print("\n".join(line for line in out.getvalue().splitlines() if line.strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
