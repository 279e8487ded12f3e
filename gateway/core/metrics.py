"""Prometheus metrics at GET /metrics (django-prometheus for HTTP, our own for the rest).

Counters and histograms live in each process; under Granian with several
workers set PROMETHEUS_MULTIPROC_DIR (the Docker image does) so that every
worker's values are summed. The database-backed gauges (payments and refunds
by status and currency, the outbox backlog) are read at scrape time.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from pathlib import Path

import prometheus_client
from django.conf import settings
from django.http import HttpResponse
from prometheus_client import Counter, Histogram, multiprocess

PSP_SECONDS = Histogram(
    "gateway_psp_request_seconds",
    "Time of one HTTP call to the PSP.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PSP_ERRORS = Counter("gateway_psp_errors_total", "PSP errors, by the gateway's error code.", ["code"])
OTP_EVENTS = Counter("gateway_otp_events_total", "One-time codes sent, wrong, and locked out.", ["event"])
WEBHOOK_INVALID = Counter(
    "gateway_webhook_invalid_signature_total",
    "Webhook deliveries refused for their signature (never stored).",
)
RATE_LIMITED = Counter("gateway_rate_limit_rejections_total", "Requests answered 429, by limit.", ["scope"])


# Apps add gauges read at scrape time (payments' by status and currency) with
# scrape_gauges_register(), from their AppConfig.ready: the ground imports no app.
_SCRAPE_GAUGES: list = []


def scrape_gauges_register(gauges) -> None:
    """gauges: a callable yielding prometheus metric families, run at each scrape."""
    if gauges not in _SCRAPE_GAUGES:
        _SCRAPE_GAUGES.append(gauges)


class DatabaseCollector:
    """Gauges read from the database when Prometheus scrapes."""

    def collect(self):
        for gauges in _SCRAPE_GAUGES:
            yield from gauges()


_database_collector = DatabaseCollector()


# Headers a reverse proxy adds: a request that carries one came through the
# public ingress, whatever address it arrives from.
_PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP", "HTTP_X_FORWARDED_PROTO")


def internal_caller(request, networks: list[str]) -> bool:
    """METRICS_TOKEN as a bearer token, or a direct call (no proxy's header)
    from one of `networks`. Through the public ingress, only the token."""
    token = settings.METRICS_TOKEN
    sent = request.headers.get("Authorization", "")
    # Compared in constant time: a timing difference must not spell the token out.
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return True
    if any(header in request.META for header in _PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in networks)


def _allowed(request) -> bool:
    return internal_caller(request, settings.METRICS_ALLOWED_NETWORKS)


def metrics_view(request):
    if not _allowed(request):
        return HttpResponse(
            "Forbidden: metrics are for the configured networks or token.\n",
            status=403,
            content_type="text/plain",
        )
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = prometheus_client.CollectorRegistry()
        registry.register(_ForwardingCollector(prometheus_client.REGISTRY))
    registry.register(_database_collector)
    return HttpResponse(
        prometheus_client.generate_latest(registry), content_type=prometheus_client.CONTENT_TYPE_LATEST
    )


def metrics_dead_workers_forget() -> None:
    """With PROMETHEUS_MULTIPROC_DIR, drops the live gauges of server workers
    that are no longer running (prometheus_client's mark_process_dead), so a
    crashed and replaced worker stops counting. Called by each worker as it
    starts (gateway/wsgi.py): Granian has no hook in its main process for a
    worker's exit, as gunicorn's child_exit was."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    pids = set()
    for path in Path(directory).glob("*_*.db"):
        pid = path.stem.rsplit("_", 1)[1]
        if pid.isdigit():
            pids.add(int(pid))
    for pid in pids - {os.getpid()}:
        if not _running(pid):
            multiprocess.mark_process_dead(pid, directory)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: running
        return True
    return True


class _ForwardingCollector:
    """The process's default registry (django-prometheus and ours), inside a per-scrape registry."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        yield from self.registry.collect()
