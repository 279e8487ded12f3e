"""Gunicorn settings. Each one can be overridden from the environment."""

import os

_host, _port = os.environ.get("SERVER_HOST", "127.0.0.1"), os.environ.get("SERVER_PORT", "8085")
bind = f"{_host}:{_port}"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# Threads: a request spends most of its time waiting on the PSP, so a few
# threads per worker serve more concurrent payments per MB of memory.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# On SIGTERM, gunicorn stops accepting and lets requests in flight finish for
# this long before killing workers (the seed's 30-second graceful shutdown).
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
keepalive = 5
# A header line up to 16 KiB reaches Django (gunicorn's default, 8 KiB, answers
# a longer one with its own HTML 431), so that an over-long Idempotency-Key or
# X-Request-ID gets the gateway's JSON 400 that names the header.
limit_request_field_size = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", "16384"))
accesslog = None  # the gateway's own middleware logs each request with its id
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


def child_exit(server, worker):
    # With several workers, Prometheus counters live in PROMETHEUS_MULTIPROC_DIR
    # (gateway/core/metrics.py); a dead worker's live gauges are dropped.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
