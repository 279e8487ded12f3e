"""`make bench`: a benchmark, not a test. It reports numbers; it passes or fails nothing.

Runs the gateway as in production (gunicorn, DJANGO_DEBUG off) against the real
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
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "scripts" / "bench"
SCENARIOS = ["health", "get_payment", "validate_card", "process", "refund"]


def services_env() -> dict[str, str]:
    env = dict(os.environ)
    for line in (ROOT / "scripts" / "services.env").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            env[name] = value
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


def embedded_env() -> dict[str, str]:
    """What `make run` serves on (scripts/run.sh): SQLite, a local-memory cache,
    Celery in-process, Kafka off, localstripe, one gunicorn worker."""
    services = set(services_env()) - set(os.environ)
    env = {name: value for name, value in os.environ.items() if name not in services}
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "KAFKA_BROKERS", "STRIPE_SECRET_KEY"):
        env.pop(name, None)
    (SERVICES_DIR / "bench").mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "DJANGO_DEBUG": "true",
            "DATABASE_URL": f"sqlite:///{SERVICES_DIR / 'bench' / 'embedded.sqlite3'}",
            "GUNICORN_WORKERS": "1",
            "API_CLIENT_CACHE_SECONDS": "30",
            "EAGER_TASKS_IN_THREAD": "true",
            "RATE_LIMIT_DEFAULT": "1000000/s",
            "RATE_LIMIT_VALIDATE_CARD": "1000000/s",
        }
    )
    return env


def manage(env, *args) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gateway_start(env: dict) -> tuple[subprocess.Popen, int]:
    """gunicorn with the production config on a free loopback port; returns
    once /health answers (or after 30 s)."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gateway/gunicorn.conf.py", "gateway.wsgi"],
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


def post(url: str, key: str, body: dict) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback, our own server)
        return json.loads(response.read())


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


# --- CPU per request, per process kind, read from /proc ---------------------------------
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BENCH_BROKER = "redis://127.0.0.1:6379/4"
SERVICES_DIR = Path(os.environ.get("BENCH_SERVICES_DIR", ROOT / ".services"))
# The processes `make services` started, by pid file; the gateway (and, but in
# --embedded, the bench's own Celery worker) are added by pid.
SERVICE_PIDS = {
    "localstripe": "localstripe.pid",
    "mariadb": "mariadb.pid",
    "redis": "redis.pid",
    "kafka": "kafka.pid",
}


def _cpu_seconds(pid: int) -> float:
    """CPU of a process and of all its descendants, dead (waited for: cutime,
    cstime) or alive (walked through /proc/<pid>/task/*/children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the name: state is field 3, so utime (14) .. cstime (17) are 11..14 here.
    total = sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
    children: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            children.update(int(child) for child in task.read_text().split())
        except OSError:
            pass
    return total + sum(_cpu_seconds(child) for child in children)


def process_kinds(gateway_pid: int, *, embedded: bool) -> dict[str, int]:
    kinds = {"gateway": gateway_pid}
    for kind, pidfile in SERVICE_PIDS.items():
        if embedded and kind != "localstripe":
            continue  # make run's default: no Celery worker, no Redis, no Kafka, SQLite in-process
        try:
            kinds[kind] = int((SERVICES_DIR / pidfile).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return kinds


def cpu_snapshot(kinds: dict[str, int]) -> dict[str, float]:
    return {kind: _cpu_seconds(pid) for kind, pid in kinds.items()}


def background_settle(kinds: dict[str, int], timeout: float = 60.0) -> None:
    """Waits until the background work a run queued (Celery: the outbox relay,
    the dj-stripe mirror) is done: its CPU stops growing for a second."""
    pids = [pid for kind, pid in kinds.items() if kind in CELERY_KINDS]
    if not pids:
        return
    deadline = time.monotonic() + timeout
    last = sum(_cpu_seconds(pid) for pid in pids)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        now = sum(_cpu_seconds(pid) for pid in pids)
        if now - last < 0.02:
            return
        last = now


# The Celery workers of a production layout (docs/operations.md, "Celery queues"):
# kind -> (queues, pool options), as scripts/services.sh, docker/compose.yaml and
# deploy/k8s/ run them. (The relay in a solo pool measured 5-8% less CPU than
# prefork with one child: BENCH_RELAY_POOL=--pool=solo.)
CELERY_KINDS = {
    "celery": ("celery,djstripe,webhooks", ("--concurrency=2",)),
    "relay": ("events", tuple(os.environ.get("BENCH_RELAY_POOL", "--concurrency=1").split())),
}


def celery_workers_start(env: dict, *, name: str) -> dict[str, subprocess.Popen]:
    return {
        kind: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "gateway",
                "worker",
                "--loglevel=INFO",
                *pool,
                "-Q",
                queues,
                f"--hostname={name}-{kind}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for kind, (queues, pool) in CELERY_KINDS.items()
    }


def celery_workers_stop(workers: dict[str, subprocess.Popen]) -> None:
    background_settle({kind: worker.pid for kind, worker in workers.items()})
    for worker in workers.values():
        worker.send_signal(signal.SIGTERM)
    for worker in workers.values():
        worker.wait(timeout=60)


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
    parser.add_argument("--workers", type=int, default=None, help="GUNICORN_WORKERS (default: the config's)")
    parser.add_argument("--threads", type=int, default=None, help="GUNICORN_THREADS")
    parser.add_argument("--worker-class", default=None, help="GUNICORN_WORKER_CLASS: gthread or sync")
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
    env = embedded_env() if args.embedded else services_env()
    if args.embedded:
        manage(env, "migrate", "--noinput", "-v0")
    for name, value in (
        ("GUNICORN_WORKERS", args.workers),
        ("GUNICORN_THREADS", args.threads),
        ("GUNICORN_WORKER_CLASS", args.worker_class),
    ):
        if value is not None:
            env[name] = str(value)
    server_model = (
        f"{env.get('GUNICORN_WORKER_CLASS', 'gthread')} workers={env.get('GUNICORN_WORKERS', '2')} "
        f"threads={env.get('GUNICORN_THREADS', '4')}"
    )
    if args.embedded:
        server_model += " (embedded: SQLite, local-memory cache, in-process Celery on a thread)"
    localstripe_flush(env)
    key = manage(env, "create_api_client", "bench", "--rotate").strip().splitlines()[-1]

    workers: dict[str, subprocess.Popen] = {}
    if not args.embedded:
        # Its own Celery workers, in production mode like the web process (the ones
        # `make services` runs are in development mode: DEBUG's query log alone
        # doubled their CPU), on a broker database of its own, laid out as in
        # production: the main worker, and the outbox relay on its own queue.
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
                    background_settle(kinds)
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
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=40)
        celery_workers_stop(workers)

    events = events_check(env) if not args.embedded else {"skipped": "embedded: Kafka off"}
    # Leave the stand-in as empty as the bench found it: localstripe lists (and the
    # tests that list its PaymentIntents) slow down with every object it holds.
    localstripe_flush(env)
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        or "unknown"
    )
    report = {
        "commit": commit,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "duration_s": args.duration,
        "machine": f"{os.cpu_count()} cores",
        "server": server_model,
        "results": results,
        "events": events,
        "targets": targets(results, events, embedded=args.embedded),
    }
    tag = "-".join(part for part in ("embedded" if args.embedded else "", args.tag) if part)
    stem = ROOT / "docs" / "bench" / f"{datetime.date.today()}-{commit}{'-' + tag if tag else ''}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2))
    stem.with_suffix(".md").write_text(markdown(report))
    print(f"\nwritten {stem}.json and .md")
    print(markdown(report))


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


def targets(results: list[dict], events: dict, *, embedded: bool) -> dict:
    """Issue #16's targets, measured: CPU per request of the web process (all
    its workers) and of the Celery worker, from /proc; `app` from Server-Timing."""

    def row(scenario, connections):
        return next(
            (r for r in results if r["scenario"] == scenario and r["connections"] == connections), None
        )

    def cpu(scenario, kind, connections=16):
        found = row(scenario, connections) or row(scenario, 1)
        return found and found["cpu_ms"].get(kind)

    def app_p99(scenario, connections):
        found = row(scenario, connections)
        return found and found["app_p99_ms"]

    if embedded:
        return {
            "server CPU per payment <= 6 ms": cpu("process", "gateway"),
            "server CPU per GET payment <= 1.5 ms": cpu("get_payment", "gateway"),
            "server CPU per GET /health <= 0.4 ms": cpu("health", "gateway"),
            "app p99 of a payment at 1 connection <= 10 ms": app_p99("process", 1),
            "5xx (all runs) == 0": sum(r["5xx"] for r in results),
        }
    return {
        "web CPU per payment <= 4 ms": cpu("process", "gateway"),
        "background (Celery) CPU per payment <= 2 ms": round(
            (cpu("process", "celery") or 0) + (cpu("process", "relay") or 0), 3
        ),
        "web CPU per GET payment <= 1 ms": cpu("get_payment", "gateway"),
        "web CPU per GET /health <= 0.2 ms": cpu("health", "gateway"),
        "web CPU per validate-card <= 0.5 ms": cpu("validate_card", "gateway"),
        "app p99, process at 1 connection <= 5 ms": app_p99("process", 1),
        "app p99, process at 16 connections <= 25 ms": app_p99("process", 16),
        "queries per payment <= 8": (row("process", 16) or {}).get("queries_per_request"),
        "5xx (all runs) == 0": sum(r["5xx"] for r in results),
        "lost events == 0": events["succeeded_payments"] - events["payment_succeeded_events_in_kafka"],
    }


def markdown(report: dict) -> str:
    kinds = list(report["results"][0].get("cpu_ms", {})) if report["results"] else []
    lines = [
        f"Commit `{report['commit']}`, {report['date']}, {report['machine']}, {report['duration_s']} s per run, "
        f"gunicorn {report.get('server', '')}.",
        "",
        "| scenario | conns | req/s | p50 ms | p99 ms | app p50 ms | app p99 ms | psp p50 ms | non-2xx "
        "| 5xx | queries/req | CPU ms/req: " + ", ".join(kinds) + " |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        cpu = " / ".join(str(r["cpu_ms"].get(kind, "-")) for kind in kinds)
        lines.append(
            f"| {r['scenario']} | {r['connections']} | {r['rps']} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['app_p50_ms']} | {r['app_p99_ms']} | {r.get('psp_p50_ms')} | {r['non_2xx']} | "
            f"{r['5xx']} | {r['queries_per_request']} | {cpu} |"
        )
    if any(r.get("engines_per_request") for r in report["results"]):
        lines += _engine_lines(report)
    lines += ["", f"Events: {report['events']}", "", "| target | measured |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in report["targets"].items()]
    return "\n".join(lines) + "\n"


def _engine_lines(report: dict) -> list[str]:
    """MariaDB, Redis and Kafka per request (not for the embedded default: none runs)."""
    lines = [
        "",
        "What one request costs the shared engines (server-wide counters; background work included):",
        "",
        "| scenario | conns | MariaDB commits | inserts | updates | selects | Redis commands "
        "| Kafka messages | Kafka value bytes |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        e = r.get("engines_per_request") or {}
        lines.append(
            f"| {r['scenario']} | {r['connections']} | {e.get('Com_commit')} | {e.get('Com_insert')} | "
            f"{e.get('Com_update')} | {e.get('Com_select')} | {e.get('redis_commands')} | "
            f"{e.get('kafka_messages')} | {e.get('kafka_value_bytes')} |"
        )
    return lines


if __name__ == "__main__":
    main()
