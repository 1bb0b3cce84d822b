"""Operations endpoints: liveness (/healthz), readiness (/readyz) and Prometheus metrics (/metrics)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from flask import Blueprint, current_app

from server import metrics
from server.api import endpoint
from server.db import db
from server.errors import ApiError

health_bp = Blueprint("health", __name__)

# A load balancer polls every few seconds: a hung database or bucket must answer "not ready"
# quickly instead of tying up a worker thread for the driver's own, much longer, timeouts.
READY_TIMEOUT_SECONDS = 3.0
# Two threads for the whole process: when a dependency hangs, later checks queue behind the
# stuck ones and time out, rather than piling up threads and connections.
_checks = ThreadPoolExecutor(max_workers=2, thread_name_prefix="readyz")


@endpoint(
    "/healthz",
    "GET",
    summary="Liveness: 200 while the process can answer at all (no dependency checks)",
    tag="ops",
    auth=False,
    blueprint=health_bp,
)
def healthz():
    return {"status": "ok"}


@endpoint(
    "/readyz",
    "GET",
    summary="Readiness: 200 when the database and the storage answer in time, else 503",
    tag="ops",
    auth=False,
    blueprint=health_bp,
    errors=(503,),
)
def readyz():
    engine, storage = db.engine, current_app.extensions["storage"]

    def database() -> None:
        # A raw DBAPI connection: SQLAlchemy's begin hook would take SQLite's write lock.
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("SELECT 1")
            cursor.fetchall()
            cursor.close()
        finally:
            raw.close()

    futures = {"database": _checks.submit(database), "storage": _checks.submit(storage.ping)}
    checks = {}
    for name, future in futures.items():
        try:
            future.result(timeout=READY_TIMEOUT_SECONDS)
            checks[name] = "ok"
        except FutureTimeout:
            current_app.logger.warning("readyz: %s did not answer within %.0f s", name, READY_TIMEOUT_SECONDS)
            checks[name] = "timeout"
        except Exception as exc:  # noqa: BLE001 - any driver or storage error means "not ready"
            current_app.logger.warning("readyz: %s: %s", name, exc.__class__.__name__)
            checks[name] = "unreachable"
    if all(v == "ok" for v in checks.values()):
        return {"status": "ok", "checks": checks}
    raise ApiError("not_ready", details={"checks": checks})


@endpoint(
    "/metrics",
    "GET",
    summary="Prometheus metrics; only for METRICS_ALLOWED_NETWORKS or the METRICS_TOKEN bearer",
    tag="ops",
    auth=False,
    blueprint=health_bp,
    errors=(403,),
    content_type="text/plain",
)
def prometheus_metrics():
    return metrics.exposition()
