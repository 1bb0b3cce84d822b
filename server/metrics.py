"""Prometheus metrics: requests by endpoint and status, request latency, photo-pipeline outcomes.

Labels are Flask endpoint names, never raw paths, so ids in URLs cannot multiply the series.
Under gunicorn with several workers, PROMETHEUS_MULTIPROC_DIR makes every worker write its
values to files there, and /metrics adds them up (deploy/gunicorn.conf.py cleans the folder).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from server.errors import ApiError

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "sp_http_requests_total",
    "HTTP requests answered, by Flask endpoint, method and status.",
    ["endpoint", "method", "status"],
)
LATENCY = Histogram(
    "sp_http_request_duration_seconds",
    "Time to answer an HTTP request, by Flask endpoint and method.",
    ["endpoint", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
PHOTOS = Counter(
    "sp_photos_completed_total",
    "Photo completions: ready, rejected (not an acceptable photo) or storage_unavailable.",
    ["result"],
)


def init_app(app: Flask) -> None:
    """Count and time every request the app answers."""

    @app.after_request
    def _observe(response: Response) -> Response:
        endpoint = request.url_rule.endpoint if request.url_rule is not None else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        REQUESTS.labels(endpoint, method, str(response.status_code)).inc()
        started = g.get("request_started")
        if started is not None:
            LATENCY.labels(endpoint, method).observe(time.perf_counter() - started)
        return response


def _allowed(remote_addr: str | None, authorization: str) -> bool:
    """Whether the caller may read /metrics: an allowed network or the configured token."""
    token = current_app.config.get("METRICS_TOKEN") or ""
    if token and hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return False
    networks = current_app.config.get("METRICS_ALLOWED_NETWORKS") or ""
    return any(address in ipaddress.ip_network(n.strip(), strict=False) for n in networks.split(",") if n.strip())


def exposition() -> Response:
    """The metrics in Prometheus' text format; 403 unless the caller is allowed."""
    if not _allowed(request.remote_addr, request.headers.get("Authorization", "")):
        raise ApiError("forbidden")
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
