"""gunicorn settings: gthread workers so slow phone links do not pin a worker."""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = 60
graceful_timeout = 30
keepalive = 5
accesslog = "-"
# Never log query strings: presigned URLs and tokens may be in them.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
