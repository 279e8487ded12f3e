"""What bench, soak, chaos, relay_bench and profile_payment share: the gateway, its Celery
workers and the outbox relay as in production against `make services`, the processes' CPU time and
memory (psutil), percentiles, and the report files."""

from __future__ import annotations

import datetime
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from stack import services_env  # noqa: E402

SERVICES_DIR = Path(os.environ.get("BENCH_SERVICES_DIR", ROOT / ".services"))


def production_env() -> dict[str, str]:
    """The services' settings (scripts/services.env) with production's: DEBUG off."""
    env = {**os.environ, **services_env()}
    env.update(
        {
            "DJANGO_DEBUG": "false",
            "DJANGO_SECRET_KEY": "bench-" + "x" * 50,
            "OTP_SECRET": "bench-otp-" + "y" * 40,
            # Production refuses the console backend; no code is sent while measuring.
            "EMAIL_URL": "smtp://127.0.0.1:1025",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            # Production's level: the per-request access line is part of the cost.
            "LOG_LEVEL": "INFO",
            # validate-card measures the card checks, not a refusal.
            "ACCEPT_RAW_CARD_DATA": "true",
            # The limits would cap the load itself; their rejections are still counted if any.
            "RATE_LIMIT_DEFAULT": "1000000/s",
            "RATE_LIMIT_VALIDATE_CARD": "1000000/s",
        }
    )
    return env


def manage(env, *args) -> str:
    command = [sys.executable, "manage.py", *args]
    return subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout


def commit() -> str:
    git = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return git.stdout.strip() or "unknown"


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def gateway_start(env: dict) -> tuple[subprocess.Popen, int]:
    """The server (gateway/server.py) with the production config on a free loopback port; returns
    once /health answers (or after 30 s)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway.server"],
        cwd=ROOT,
        env={**env, "SERVER_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(150):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)  # noqa: S310
            break
        except OSError:
            time.sleep(0.2)
    return server, port


# --- what a process and its children use --------------------------------------------------
def _tree(pid: int) -> list[psutil.Process]:
    try:
        process = psutil.Process(pid)
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return []


def cpu_seconds(pid: int) -> float:
    """CPU of a process and of all its descendants, dead (waited for) or alive."""
    total = 0.0
    for each in _tree(pid):
        try:
            times = each.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.Error:
            pass
    return total


def rss_mib(pid: int) -> float:
    return round(sum(_safe(lambda p: p.memory_info().rss, each) for each in _tree(pid)) / 2**20, 1)


def open_fds(pid: int) -> int:
    return sum(_safe(psutil.Process.num_fds, each) for each in _tree(pid))


def _safe(read, process) -> int:
    try:
        return read(process)
    except psutil.Error:
        return 0


# --- Celery workers and the outbox relay laid out as in production -------------------------
# kind -> (queues, pool options), as scripts/stack/programs.py, docker/compose.yaml and
# deploy/k8s/ run them; the relay is not a Celery worker but `manage.py outbox_relay`
# (one process for every shard of OUTBOX_SHARDS, as `make services` runs it).
CELERY_KINDS = {
    "celery": ("celery,djstripe,webhooks", ("--concurrency=2",)),
    "relay": None,
}


def celery(env: dict, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "gateway", *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def relay_start(env: dict, *shards: int, log=subprocess.DEVNULL) -> subprocess.Popen:
    """`manage.py outbox_relay [--shard K]...`: the relay of these shards (all without any)."""
    args = [arg for shard in shards for arg in ("--shard", str(shard))]
    command = [sys.executable, "manage.py", "outbox_relay", *args]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def celery_workers_start(env: dict, *, name: str) -> dict[str, subprocess.Popen]:
    workers = {"relay": relay_start(env)}
    for kind, spec in CELERY_KINDS.items():
        if spec is not None:
            queues, pool = spec
            workers[kind] = celery(
                env, "worker", "--loglevel=INFO", *pool, "-Q", queues, f"--hostname={name}-{kind}@%h"
            )
    return workers


def background_settle(pids: list[int], timeout: float = 60.0) -> None:
    """Waits until the background work a run queued (the outbox relay, Celery:
    the dj-stripe mirror) is done: its CPU stops growing for a second."""
    if not pids:
        return
    deadline = time.monotonic() + timeout
    last = sum(cpu_seconds(pid) for pid in pids)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = sum(cpu_seconds(pid) for pid in pids)
        if now - last < 0.02:
            return
        last = now


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        process.wait(timeout=60)


def celery_workers_stop(workers: dict[str, subprocess.Popen]) -> None:
    background_settle([worker.pid for worker in workers.values()])
    stop(list(workers.values()))


def localstripe_flush(env: dict) -> None:
    """Empties localstripe's store before a run. It answers more slowly as its
    objects pile up (its lists are scanned linearly): PaymentIntent create took
    8 ms on an empty store and over 150 ms after a few thousand payments, which
    would make each run measure the runs before it. Payments made earlier keep
    their rows here but no longer exist at the stand-in PSP."""
    base = env.get("STRIPE_API_BASE", "")
    if not base:
        return
    request = urllib.request.Request(f"{base.rstrip('/')}/_config/data", method="DELETE")
    urllib.request.urlopen(request, timeout=10)  # noqa: S310 (loopback localstripe)


def report_write(report: dict, markdown: str, suffix: str = "") -> None:
    """docs/bench/<date>-<commit><suffix>.json and .md, and the table on stdout."""
    name = f"{datetime.date.today()}-{report['commit']}{suffix}"
    stem = ROOT / "docs" / "bench" / name
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2))
    stem.with_suffix(".md").write_text(markdown)
    print(f"\nwritten {stem}.json and .md\n")
    print(markdown)
