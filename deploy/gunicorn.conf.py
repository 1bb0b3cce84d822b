"""gunicorn settings: gthread workers so slow phone links do not pin a worker.

Run: gunicorn -c deploy/gunicorn.conf.py 'server:create_app()'
The app logs one line per request itself (with its request id), so gunicorn's access log is
off; gunicorn's own messages follow LOG_FORMAT like the app's. With PROMETHEUS_MULTIPROC_DIR
set, the workers share their metrics through files in that folder (see server/metrics.py).
"""

import os
import shutil
from pathlib import Path

# Loopback unless told otherwise: whoever reaches gunicorn directly skips nginx (its TLS, its
# limits, its 404 for /metrics). A container sets BIND_ADDRESS=0.0.0.0 behind a loopback-only port.
bind = f"{os.environ.get('BIND_ADDRESS', '').strip() or '127.0.0.1'}:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = 60
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak (image decoding buffers) cannot grow for ever;
# the jitter keeps them from restarting all at once.
max_requests = 2000
max_requests_jitter = 200
accesslog = None

_production = (os.environ.get("APP_ENV", "").strip().lower() or "development") == "production"
_log_format = os.environ.get("LOG_FORMAT", "").strip().lower() or ("json" if _production else "text")
if _log_format == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        # The root logger is left without handlers: the app installs its own JSON handler.
        "root": {"level": "INFO", "handlers": []},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["json"], "propagate": False},
            # Off: its request lines would repeat the app's, with query strings (signatures).
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
        "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "formatters": {"json": {"()": "server.telemetry.JsonFormatter"}},
    }


def on_starting(server):
    """Start with an empty metrics folder: files of workers from an earlier run would be counted."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        Path(folder).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):
    """Tell prometheus_client a worker is gone, so its live gauges stop counting."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
