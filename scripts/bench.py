"""`make bench`: a benchmark, not a test. It reports numbers; it passes or fails nothing.

Runs the gateway as in production (Granian, DJANGO_DEBUG off) against the real
services that `make services` started (MariaDB, Redis, Kafka, a Celery worker,
localstripe), drives it with wrk (Debian) over loopback, bounded in time, and
writes docs/bench/<date>-<commit>.json and .md.

Usage: .venv/bin/python scripts/bench.py [--duration 5] [--connections 1,16,64]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_report import markdown, targets  # noqa: E402
from harness import (  # noqa: E402
    CELERY_KINDS,
    ROOT,
    SERVICES_DIR,
    background_settle,
    celery_workers_start,
    celery_workers_stop,
    commit,
    cpu_seconds,
    gateway_start,
    localstripe_flush,
    manage,
    percentile,
    production_env,
    report_write,
    stop,
)
from stack.control import pid  # noqa: E402

BENCH_DIR = ROOT / "scripts" / "bench"
SCENARIOS = ["health", "get_payment", "validate_card", "process", "refund"]


def embedded_env() -> dict[str, str]:
    """What `make run` serves on (scripts/run.sh): SQLite, a local-memory cache,
    Celery in-process, Kafka off, localstripe, one server worker."""
    services = set(production_env()) - set(os.environ)
    env = {name: value for name, value in os.environ.items() if name not in services}
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "KAFKA_BROKERS", "STRIPE_SECRET_KEY"):
        env.pop(name, None)
    (SERVICES_DIR / "bench").mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "DJANGO_DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{SERVICES_DIR / 'bench' / 'embedded.sqlite3'}",
            "WEB_WORKERS": "1",
            "API_CLIENT_CACHE_SECONDS": "30",
            "EAGER_TASKS_IN_THREAD": "true",
            "RATE_LIMIT_DEFAULT": "1000000/s",
            "RATE_LIMIT_VALIDATE_CARD": "1000000/s",
        }
    )
    return env


# --- CPU per request, per process kind (psutil) ---------------------------------------------
BENCH_BROKER = "redis://127.0.0.1:6379/4"
# The processes `make services` runs under supervisord; the gateway (and, but in
# --embedded, the bench's own Celery workers) are added by pid.
SERVICE_KINDS = ("localstripe", "mariadb", "redis", "kafka")


def process_kinds(gateway_pid: int, *, embedded: bool) -> dict[str, int]:
    kinds = {"gateway": gateway_pid}
    for kind in SERVICE_KINDS:
        if embedded and kind != "localstripe":
            continue  # make run's default: no Celery worker, no Redis, no Kafka, SQLite in-process
        if pid(kind):
            kinds[kind] = pid(kind)
    return kinds


def cpu_snapshot(kinds: dict[str, int]) -> dict[str, float]:
    return {kind: cpu_seconds(pid) for kind, pid in kinds.items()}


# --- what one request costs the shared engines (docs/SCALING.md) ---------------------
def engine_counters(env: dict) -> dict[str, float]:
    """Server-wide counters of MariaDB and Redis, and what the outbox holds for
    Kafka. Deltas over a run, divided by its requests, are its cost per request
    (other clients of the same servers add a little noise). None for the
    embedded default: its SQLite and cache live inside the gateway process."""
    if not env.get("DATABASE_URL", "").startswith("mysql"):
        return {}
    database = urllib.parse.urlsplit(env["DATABASE_URL"])
    mysql = [
        "mysql",
        "-h",
        database.hostname,
        "-P",
        str(database.port or 3306),
        "-u",
        database.username,
        f"-p{database.password}",
        database.path.lstrip("/"),
        "-N",
        "-e",
    ]
    out = subprocess.run(
        [
            *mysql,
            "SHOW GLOBAL STATUS WHERE Variable_name IN "
            "('Com_commit', 'Com_insert', 'Com_update', 'Com_delete', 'Com_select'); "
            "SELECT 'kafka_messages', COALESCE(SUM(JSON_LENGTH(topics)), 0) FROM gateway_outboxevent; "
            "SELECT 'kafka_value_bytes', COALESCE(SUM(LENGTH(payload) * JSON_LENGTH(topics)), 0) FROM gateway_outboxevent",
        ],
        capture_output=True,
        text=True,
    ).stdout
    values = {}
    for line in out.splitlines():
        name, _, value = line.partition("\t")
        values[name] = float(value or 0)
    redis = urllib.parse.urlsplit(env.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
    info = subprocess.run(
        ["redis-cli", "-h", redis.hostname, "-p", str(redis.port or 6379), "INFO", "stats"],
        capture_output=True,
        text=True,
    ).stdout
    for line in info.splitlines():
        if line.startswith("total_commands_processed:"):
            values["redis_commands"] = float(line.split(":")[1])
    return values


def post(url: str, key: str, body: dict) -> dict:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback, our own server)
        return json.loads(response.read())


def run_wrk(base: str, scenario: str, connections: int, duration: int, env: dict) -> dict:
    wrk_env = {
        **env,
        "BENCH_DIR": str(BENCH_DIR),
        "BENCH_SCENARIO": scenario,
        "BENCH_RUN": f"{int(time.time())}{connections}",
    }
    threads = min(2, connections)
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--timeout",
            "30s",
            "--latency",
            "-s",
            str(BENCH_DIR / "scenario.lua"),
            base,
        ],
        env=wrk_env,
        capture_output=True,
        text=True,
        timeout=duration + 120,
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no summary:\n{out.stdout}\n{out.stderr}")
    data = json.loads(line[6:])
    apps = [float(v) for v in data.pop("app_ms").split(",") if v]
    data["rps"] = round(data["requests"] / data["seconds"], 1) if data["seconds"] else 0
    data["app_p50_ms"], data["app_p99_ms"] = percentile(apps, 50), percentile(apps, 99)
    psps = [float(v) for v in data.pop("psp_ms").split(",") if v]
    data["psp_p50_ms"] = percentile(psps, 50)
    data["queries_per_request"] = (
        round(data.pop("db_queries") / data["requests"], 1) if data["requests"] else None
    )
    return data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5, help="Seconds per run.")
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--workers", type=int, default=None, help="WEB_WORKERS (default: the server's, 2)")
    parser.add_argument("--threads", type=int, default=None, help="WEB_THREADS (default: 4)")
    parser.add_argument("--tag", default="", help="appended to the report's file name")
    parser.add_argument(
        "--embedded", action="store_true", help="make run's defaults: SQLite, no Redis, in-process Celery"
    )
    args = parser.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        sys.exit(f"unknown scenarios: {sorted(unknown)}; choose from {SCENARIOS}")
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk (make bench does it)")
    levels = [int(c) for c in args.connections.split(",")]
    env = embedded_env() if args.embedded else production_env()
    if args.embedded:
        manage(env, "migrate", "--noinput", "-v0")
    for name, value in (("WEB_WORKERS", args.workers), ("WEB_THREADS", args.threads)):
        if value is not None:
            env[name] = str(value)
    server_model = f"granian workers={env.get('WEB_WORKERS', '2')} threads={env.get('WEB_THREADS', '4')}"
    if args.embedded:
        server_model += " (embedded: SQLite, local-memory cache, in-process Celery on a thread)"
    localstripe_flush(env)
    key = manage(env, "create_api_client", "bench", "--rotate").strip().splitlines()[-1]

    workers: dict[str, subprocess.Popen] = {}
    if not args.embedded:
        # Its own Celery workers, in production mode like the web process (the ones
        # `make services` runs are in development mode: DEBUG's query log alone
        # doubled their CPU), on a broker database of its own, laid out as in
        # production: the main worker, and the outbox relay process (manage.py outbox_relay).
        env["CELERY_BROKER_URL"] = BENCH_BROKER
        subprocess.run(["redis-cli", "-n", BENCH_BROKER.rsplit("/", 1)[1], "flushdb"], capture_output=True)
        workers = celery_workers_start(env, name="bench")
    server, port = gateway_start(env)
    base = f"http://127.0.0.1:{port}"
    try:
        payment = post(
            f"{base}/api/v1/payments/process",
            key,
            {
                "order_id": "bench-refunds",
                "amount": "999999.99",
                "currency": "usd",
                "payment_method": "pm_card_visa",
            },
        )
        env = {**env, "BENCH_KEY": key, "BENCH_PAYMENT_ID": payment["payment_id"]}
        results = []
        kinds = process_kinds(server.pid, embedded=args.embedded)
        kinds.update({kind: worker.pid for kind, worker in workers.items()})
        for scenario in scenarios:
            for connections in levels:
                before, engines_before = cpu_snapshot(kinds), engine_counters(env)
                measured = run_wrk(base, scenario, connections, args.duration, env)
                if scenario in ("process", "refund"):
                    background_settle([pid for kind, pid in kinds.items() if kind in CELERY_KINDS])
                after, engines_after = cpu_snapshot(kinds), engine_counters(env)
                cpu = {
                    kind: round((after[kind] - before[kind]) * 1000 / measured["requests"], 3)
                    if measured["requests"]
                    else None
                    for kind in kinds
                }
                per_request = {
                    name: round((engines_after[name] - engines_before.get(name, 0)) / measured["requests"], 2)
                    for name in engines_after
                    if measured["requests"]
                }
                row = {
                    "scenario": scenario,
                    "connections": connections,
                    **measured,
                    "cpu_ms": cpu,
                    "engines_per_request": per_request,
                }
                results.append(row)
                print(
                    f"{scenario:<14} c={connections:<3} {row['rps']:>8} req/s  p50 {row['p50_ms']:.1f} ms  "
                    f"p99 {row['p99_ms']:.1f} ms  app p50/p99 {row['app_p50_ms']}/{row['app_p99_ms']} ms  "
                    f"psp p50 {row['psp_p50_ms']} ms  non-2xx {row['non_2xx']} "
                    f"(429: {row['limited']}, 5xx: {row['5xx']})  queries/req {row['queries_per_request']}  "
                    f"CPU ms/req {cpu}",
                    flush=True,
                )
    finally:
        stop([server])
        celery_workers_stop(workers)

    events = events_check(env) if not args.embedded else {"skipped": "embedded: Kafka off"}
    # Leave the stand-in as empty as the bench found it: localstripe lists (and the
    # tests that list its PaymentIntents) slow down with every object it holds.
    localstripe_flush(env)
    report = {
        "commit": commit(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "duration_s": args.duration,
        "machine": f"{os.cpu_count()} cores",
        "server": server_model,
        "results": results,
        "events": events,
        "targets": targets(results, events, embedded=args.embedded),
    }
    tag = "-".join(part for part in ("embedded" if args.embedded else "", args.tag) if part)
    report_write(report, markdown(report), f"-{tag}" if tag else "")


def events_check(env: dict) -> dict:
    """Scenario 4: succeeded payments of this run vs payment.succeeded events Kafka acknowledged."""
    script = """
import time
from gateway.events.models import OutboxEvent
from payments.models import Payment
prefix = "bench-"
deadline = time.monotonic() + 60
while time.monotonic() < deadline and OutboxEvent.objects.filter(published_at__isnull=True).exists():
    time.sleep(1)
ids = set(Payment.objects.filter(client__name="bench", status="succeeded").values_list("public_id", flat=True))
published = OutboxEvent.objects.filter(type="payment.succeeded", aggregate_id__in=ids, published_at__isnull=False)
print(len(ids), published.values("aggregate_id").distinct().count(), OutboxEvent.objects.filter(published_at__isnull=True).count())
"""
    out = manage(env, "shell", "-c", script).split()
    succeeded, published, pending = (int(v) for v in out[-3:])
    return {
        "succeeded_payments": succeeded,
        "payment_succeeded_events_in_kafka": published,
        "outbox_pending": pending,
    }


if __name__ == "__main__":
    main()
