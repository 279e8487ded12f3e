"""The HTTP server: Granian serving gateway.wsgi, configured from the environment.

`python -m gateway.server` is how every deployment starts the gateway: make
run, make services and make cluster, the image, compose and Kubernetes
(ADR 0011). Granian is a Rust HTTP server; each worker process runs the WSGI
application on a pool of Python threads. It replaced gunicorn (issue #28):
14-25% less CPU per request measured here.

Settings (environment):
- SERVER_HOST, SERVER_PORT: where to listen (127.0.0.1:8085).
- WEB_WORKERS (2): worker processes.
- WEB_THREADS (4): threads per worker. A request spends most of its time
  waiting on the PSP, so a few threads per worker serve more concurrent
  payments per MB of memory.
- WEB_GRACEFUL_TIMEOUT (30): on SIGTERM the server stops accepting, and
  requests in flight have this many seconds to finish before the workers are
  killed (the seed's 30-second graceful shutdown).
- LOG_LEVEL (info).

The server writes no access log: the gateway's own middleware logs each
request with its request id (gateway.core.middleware), and /health, answered
before Django (gateway/wsgi.py), writes the same line.

This module reads no Django setting: it runs in the server's main process,
which never imports the application.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# gunicorn's variables, renamed: a deployment that still sets one is told,
# rather than silently getting the default.
_RENAMED = {
    "GUNICORN_WORKERS": "WEB_WORKERS",
    "GUNICORN_THREADS": "WEB_THREADS",
    "GUNICORN_GRACEFUL_TIMEOUT": "WEB_GRACEFUL_TIMEOUT",
    "GUNICORN_WORKER_CLASS": None,
    "GUNICORN_TIMEOUT": None,
    "GUNICORN_LIMIT_REQUEST_FIELD_SIZE": None,
    "GUNICORN_CMD_ARGS": None,
    "FORWARDED_ALLOW_IPS": None,
}


class ServerConfigError(Exception):
    pass


def _str_setting(name: str, default: str, environ) -> str:
    return environ.get(name, "").strip() or default


def _int_setting(name: str, default: int, environ) -> int:
    """A whole number of at least 1."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ServerConfigError(f"{name}={raw!r} is not a whole number.") from None
    if value < 1:
        raise ServerConfigError(f"{name}={raw!r} must be at least 1.")
    return value


def server_options(environ=os.environ) -> dict:
    """The Granian server's options, from the environment."""
    stale = [name for name in _RENAMED if name in environ]
    if stale:
        hints = [
            f"{name} (now {_RENAMED[name]})" if _RENAMED[name] else f"{name} (no longer used)"
            for name in stale
        ]
        raise ServerConfigError("The server is Granian now; rename or drop: " + ", ".join(hints) + ".")
    level = _str_setting("LOG_LEVEL", "info", environ).lower()
    return {
        "target": "gateway.wsgi:application",
        "interface": "wsgi",
        "address": _str_setting("SERVER_HOST", "127.0.0.1", environ),
        "port": _int_setting("SERVER_PORT", 8085, environ),
        "workers": _int_setting("WEB_WORKERS", 2, environ),
        "blocking_threads": _int_setting("WEB_THREADS", 4, environ),
        "workers_kill_timeout": _int_setting("WEB_GRACEFUL_TIMEOUT", 30, environ),
        # A worker that dies (a crash, the OOM killer) is replaced.
        "respawn_failed_workers": True,
        "log_access": False,
        "log_level": level if level in ("critical", "error", "warning", "info", "debug") else "info",
        "websockets": False,
    }


def prometheus_dir_reset(environ=os.environ) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, prometheus_client wants the directory
    empty when the server starts: files of an earlier run would be counted as
    this one's. (Files of workers that die while the server runs are handled
    by each new worker: gateway.core.metrics.metrics_dead_workers_forget.)"""
    directory = _str_setting("PROMETHEUS_MULTIPROC_DIR", "", environ)
    if not directory:
        return
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for kind in ("counter", "gauge", "histogram", "summary"):  # prometheus_client's files only
        for stale in path.glob(f"{kind}_*.db"):
            stale.unlink(missing_ok=True)


def main() -> None:
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    try:
        options = server_options()
    except ServerConfigError as exc:
        sys.exit(f"gateway.server: {exc}")
    prometheus_dir_reset()
    options["interface"] = Interfaces(options["interface"])
    options["log_level"] = LogLevels(options["log_level"])
    Server(**options).serve()


if __name__ == "__main__":
    main()
