"""`make soak`: a bounded soak, not a test. It reports numbers; it fails nothing.

Runs the gateway as in production (Granian, DJANGO_DEBUG off) with its own
Celery workers laid out as in production (the main worker on `celery,djstripe`,
the outbox relay alone on `events`) and its own beat (the sweeper), against the
real services of `make services`, all on loopback. Client threads drive a mixed
load paced to a fixed rate (payments, reads, refunds, lists) for a bounded
time, and every `--every` seconds it samples:

- RSS and open file descriptors per process kind (psutil);
- database connections (MariaDB's Threads_connected);
- Celery queue depth per queue (the broker's lists);
- outbox backlog and the age of its oldest unpublished row;
- event delay: from an outbox row's write (in the transaction of the change)
  to Kafka's acknowledgement (the relay marks the row published after acks=all),
  p50 / p99 / max over the rows published in the window;
- requests, errors and latency of the window.

After the load it waits for the background to drain and reports how long that
took. It writes docs/bench/<date>-<commit>-soak.json and .md.

Usage: .venv/bin/python scripts/soak.py [--minutes 10] [--rate 40] [--clients 6] [--every 30]
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    ROOT,
    SERVICES_DIR,
    celery,
    celery_workers_start,
    celery_workers_stop,
    commit,
    gateway_start,
    localstripe_flush,
    manage,
    open_fds,
    percentile,
    production_env,
    report_write,
    rss_mib,
    stop,
)
from stack.control import pid  # noqa: E402

sys.path.insert(0, str(ROOT))

SOAK_BROKER_DB = 5
# The mix of one client's requests, by weight.
MIX = {"process": 4, "get": 3, "refund": 1.5, "list": 1.5}


class Load:
    """Client threads, each paced to its share of the rate, with one keep-alive
    connection and a record of every request (time, kind, status, latency)."""

    def __init__(self, port: int, key: str, rate: float, clients: int):
        self.port, self.key, self.rate, self.clients = port, key, rate, clients
        self.records: list[tuple[float, str, int, float]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(clients)]

    def start(self):
        for thread in self.threads:
            thread.start()

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def _request(self, conn, method, path, body=None):
        headers = {"Authorization": f"Bearer {self.key}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
            headers["Idempotency-Key"] = uuid.uuid4().hex
            body = json.dumps(body)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, data

    def _client(self, n: int):
        rng = random.Random(n)  # noqa: S311 (a load mix, not a secret)
        interval = self.clients / self.rate
        succeeded: list[str] = []
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        next_at = time.monotonic() + rng.random() * interval
        kinds, weights = list(MIX), list(MIX.values())
        while not self.stop.is_set():
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            next_at += interval
            kind = rng.choices(kinds, weights)[0]
            if kind in ("get", "refund") and not succeeded:
                kind = "process"
            started = time.monotonic()
            try:
                if kind == "process":
                    status, data = self._request(
                        conn,
                        "POST",
                        "/api/v1/payments/process",
                        {
                            "order_id": f"soak-{uuid.uuid4().hex[:16]}",
                            "amount": "50.00",
                            "currency": "usd",
                            "payment_method": "pm_card_visa",
                        },
                    )
                    if status in (200, 201):
                        succeeded.append(json.loads(data)["payment_id"])
                        del succeeded[:-50]
                elif kind == "get":
                    status, _ = self._request(conn, "GET", f"/api/v1/payments/{rng.choice(succeeded)}")
                elif kind == "refund":
                    status, _ = self._request(
                        conn, "POST", f"/api/v1/payments/{rng.choice(succeeded)}/refund", {"amount": "1.00"}
                    )
                else:
                    status, _ = self._request(conn, "GET", "/api/v1/payments?limit=20")
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            with self.lock:
                self.records.append((time.time(), kind, status, (time.monotonic() - started) * 1000))

    def window(self, since: float, until: float) -> dict:
        with self.lock:
            rows = [r for r in self.records if since <= r[0] < until]
        latencies = [r[3] for r in rows]
        return {
            "requests": len(rows),
            "rps": round(len(rows) / (until - since), 1) if until > since else 0,
            # A refund past the payment's balance is a 400 by design: not an error here.
            "errors": sum(1 for r in rows if r[2] == 0 or r[2] >= 500),
            "p50_ms": round(percentile(latencies, 50) or 0, 1),
            "p99_ms": round(percentile(latencies, 99) or 0, 1),
        }


class Sampler:
    """Reads the outbox and MariaDB from this process, with Django set up on the
    services' settings (one Django shell per sample would cost seconds)."""

    def __init__(self, env: dict):
        os.environ.update(env)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
        import django

        django.setup()

    def sample(self, since: float) -> dict:
        from django.db import connection
        from django.utils import timezone

        from gateway.events.models import OutboxEvent

        pending = OutboxEvent.objects.filter(published_at__isnull=True)
        oldest = pending.order_by("id").values_list("created_at", flat=True).first()
        window = OutboxEvent.objects.filter(
            published_at__gte=datetime.datetime.fromtimestamp(since, tz=datetime.UTC)
        )
        delays = sorted(
            (published - created).total_seconds()
            for created, published in window.values_list("created_at", "published_at")
        )
        with connection.cursor() as cursor:
            cursor.execute("SHOW STATUS LIKE 'Threads_connected'")
            threads = int(cursor.fetchone()[1])
        from stripe_integration.mirror.batches import djstripe_mirror_backlog

        result = {
            "outbox_backlog": pending.count(),
            "oldest_unpublished_s": round((timezone.now() - oldest).total_seconds(), 1) if oldest else 0,
            "delays": delays,
            "db_connections": threads,
            "mirror_backlog": djstripe_mirror_backlog(),
        }
        connection.close()
        return result


def queue_depths() -> dict[str, int]:
    depths = {}
    for queue in ("webhooks", "celery", "djstripe"):
        out = subprocess.run(
            ["redis-cli", "-n", str(SOAK_BROKER_DB), "llen", queue], capture_output=True, text=True
        ).stdout.strip()
        depths[queue] = int(out or 0)
    return depths


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=40.0, help="requests per second, all clients together")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--every", type=int, default=30, help="seconds between samples")
    parser.add_argument("--drain-timeout", type=int, default=600)
    args = parser.parse_args()

    env = production_env()
    broker = f"redis://127.0.0.1:6379/{SOAK_BROKER_DB}"
    env["CELERY_BROKER_URL"] = broker
    env["OUTBOX_SWEEP_SECONDS"] = "15"
    subprocess.run(["redis-cli", "-n", str(SOAK_BROKER_DB), "flushdb"], capture_output=True)
    localstripe_flush(env)
    key = manage(env, "create_api_client", "soak", "--rotate").strip().splitlines()[-1]
    (SERVICES_DIR / "soak").mkdir(parents=True, exist_ok=True)

    processes: dict[str, subprocess.Popen] = {}
    processes["gateway"], port = gateway_start(env)
    workers = celery_workers_start(env, name="soak")
    processes.update(workers)
    schedule = SERVICES_DIR / "soak" / "celerybeat-schedule"
    processes["beat"] = celery(env, "beat", "--loglevel=WARNING", f"--schedule={schedule}")
    sampler = Sampler(env)
    kinds = {name: process.pid for name, process in processes.items()}
    kinds.update({kind: pid(kind) for kind in ("localstripe", "mariadb", "redis", "kafka") if pid(kind)})
    load = Load(port, key, args.rate, args.clients)
    samples = []
    started = time.time()
    load.start()
    end = started + args.minutes * 60
    last = started
    try:
        while True:
            time.sleep(max(0.0, min(args.every, end - time.time())))
            now = time.time()
            samples.append(_sample(sampler, load, kinds, last, now, started))
            print(_line(samples[-1]), flush=True)
            last = now
            if now >= end:
                break
    finally:
        load.finish()
    load_ended = time.time()

    drain_started = time.time()
    drained = None
    while time.time() - drain_started < args.drain_timeout:
        state = sampler.sample(time.time())
        if (
            state["outbox_backlog"] == 0
            and state["mirror_backlog"] == 0
            and sum(queue_depths().values()) == 0
        ):
            drained = round(time.time() - drain_started, 1)
            break
        time.sleep(2)
    after = sampler.sample(started)
    celery_workers_stop(workers)
    stop([processes["gateway"], processes["beat"]])
    localstripe_flush(env)

    delays = after["delays"]
    report = {
        "commit": commit(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores",
        "minutes": args.minutes,
        "rate": args.rate,
        "clients": args.clients,
        "samples": samples,
        "total": load.window(started, load_ended),
        "event_delay_s": {
            "events": len(delays),
            "p50": percentile(delays, 50),
            "p99": percentile(delays, 99),
            "max": max(delays) if delays else None,
        },
        "drained_after_s": drained,
        "outbox_backlog_after": after["outbox_backlog"],
    }
    report_write(report, markdown(report), "-soak")


def _sample(sampler: Sampler, load: Load, kinds: dict, since: float, now: float, started: float) -> dict:
    state = sampler.sample(since)
    delays = state.pop("delays")
    return {
        "t_s": round(now - started),
        **load.window(since, now),
        "queues": queue_depths(),
        "outbox_backlog": state["outbox_backlog"],
        "mirror_backlog": state["mirror_backlog"],
        "oldest_unpublished_s": state["oldest_unpublished_s"],
        "event_delay_p50_s": percentile(delays, 50),
        "event_delay_p99_s": percentile(delays, 99),
        "events": len(delays),
        "db_connections": state["db_connections"],
        "rss_mib": {kind: rss_mib(pid) for kind, pid in kinds.items()},
        "fds": {
            kind: open_fds(pid)
            for kind, pid in kinds.items()
            if kind in ("gateway", "celery", "relay", "beat")
        },
    }


def _fmt(value, digits=3):
    return "-" if value is None else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))


def _line(s: dict) -> str:
    return (
        f"t={s['t_s']:>4}s  {s['rps']:>5} req/s  errors {s['errors']}  p99 {s['p99_ms']} ms  "
        f"queues {s['queues']}  mirror backlog {s['mirror_backlog']}  outbox {s['outbox_backlog']} (oldest {s['oldest_unpublished_s']} s)  "
        f"event delay p50/p99 {_fmt(s['event_delay_p50_s'])}/{_fmt(s['event_delay_p99_s'])} s  "
        f"db conns {s['db_connections']}  rss {s['rss_mib']}  fds {s['fds']}"
    )


def markdown(report: dict) -> str:
    kinds = list(report["samples"][0]["rss_mib"]) if report["samples"] else []
    fd_kinds = list(report["samples"][0]["fds"]) if report["samples"] else []
    lines = [
        f"Soak: commit `{report['commit']}`, {report['date']}, {report['machine']}, {report['minutes']} min, "
        f"{report['clients']} clients paced to {report['rate']} req/s (payments 40%, reads 30%, refunds 15%, "
        "lists 15%). Production settings; main worker `-Q celery,djstripe,webhooks` x2, relay process (`manage.py outbox_relay`) x1, beat.",
        "",
        "| t s | req/s | errors | p50 ms | p99 ms | queue webhooks / celery / djstripe | mirror backlog | outbox backlog | oldest s "
        "| event delay p50 / p99 s | events | db conns | RSS MiB: "
        + ", ".join(kinds)
        + " | fds: "
        + ", ".join(fd_kinds)
        + " |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in report["samples"]:
        q = s["queues"]
        lines.append(
            f"| {s['t_s']} | {s['rps']} | {s['errors']} | {s['p50_ms']} | {s['p99_ms']} | "
            f"{q.get('webhooks', 0)} / {q['celery']} / {q['djstripe']} | {s['mirror_backlog']} | {s['outbox_backlog']} | {s['oldest_unpublished_s']} | "
            f"{_fmt(s['event_delay_p50_s'])} / {_fmt(s['event_delay_p99_s'])} | {s['events']} | {s['db_connections']} | "
            + " / ".join(str(s["rss_mib"][k]) for k in kinds)
            + " | "
            + " / ".join(str(s["fds"][k]) for k in fd_kinds)
            + " |"
        )
    d = report["event_delay_s"]
    t = report["total"]
    lines += [
        "",
        f"Whole run: {t['requests']} requests, {t['rps']} req/s, {t['errors']} errors (5xx or no answer), "
        f"p50 {t['p50_ms']} ms, p99 {t['p99_ms']} ms.",
        f"Event delay (outbox row written -> Kafka acknowledged), all {d['events']} events: "
        f"p50 {_fmt(d['p50'])} s, p99 {_fmt(d['p99'])} s, max {_fmt(d['max'])} s.",
        f"After the load: queues and outbox empty after {report['drained_after_s']} s; "
        f"outbox backlog at the end {report['outbox_backlog_after']}.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
