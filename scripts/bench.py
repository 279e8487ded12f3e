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
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "LOG_LEVEL": "WARNING",
            # The limits would cap the load itself; their rejections are still counted if any.
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
    args = parser.parse_args()
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(scenarios) - set(SCENARIOS)
    if unknown:
        sys.exit(f"unknown scenarios: {sorted(unknown)}; choose from {SCENARIOS}")
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install wrk (make bench does it)")
    levels = [int(c) for c in args.connections.split(",")]
    env = services_env()
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
    localstripe_flush(env)
    key = manage(env, "create_api_client", "bench", "--rotate").strip().splitlines()[-1]

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gateway/gunicorn.conf.py", "gateway.wsgi"],
        cwd=ROOT,
        env={**env, "SERVER_PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)  # noqa: S310
                break
            except OSError:
                time.sleep(0.2)
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
        for scenario in scenarios:
            for connections in levels:
                row = {
                    "scenario": scenario,
                    "connections": connections,
                    **run_wrk(base, scenario, connections, args.duration, env),
                }
                results.append(row)
                print(
                    f"{scenario:<14} c={connections:<3} {row['rps']:>8} req/s  p50 {row['p50_ms']:.1f} ms  "
                    f"p99 {row['p99_ms']:.1f} ms  app p50/p99 {row['app_p50_ms']}/{row['app_p99_ms']} ms  "
                    f"psp p50 {row['psp_p50_ms']} ms  non-2xx {row['non_2xx']} "
                    f"(429: {row['limited']}, 5xx: {row['5xx']})  queries/req {row['queries_per_request']}",
                    flush=True,
                )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=40)

    events = events_check(env)
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
        "targets": targets(results, events),
    }
    stem = ROOT / "docs" / "bench" / f"{datetime.date.today()}-{commit}{'-' + args.tag if args.tag else ''}"
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


def targets(results: list[dict], events: dict) -> dict:
    def row(scenario, connections):
        return next(
            (r for r in results if r["scenario"] == scenario and r["connections"] == connections), None
        )

    process16, health16 = row("process", 16), row("health", 16)
    return {
        "app_p99_ms_process_c16 <= 10": process16 and process16["app_p99_ms"],
        "process_rps / health_rps >= 0.25 (c16)": round(process16["rps"] / health16["rps"], 3)
        if process16 and health16 and health16["rps"]
        else None,
        "queries per payment <= 8": process16 and process16["queries_per_request"],
        "5xx (all runs) == 0": sum(r["5xx"] for r in results),
        "lost events == 0": events["succeeded_payments"] - events["payment_succeeded_events_in_kafka"],
    }


def markdown(report: dict) -> str:
    lines = [
        f"Commit `{report['commit']}`, {report['date']}, {report['machine']}, {report['duration_s']} s per run, "
        f"gunicorn {report.get('server', '')}.",
        "",
        "| scenario | conns | req/s | p50 ms | p95 ms | p99 ms | app p50 ms | app p99 ms | psp p50 ms | non-2xx "
        "| 429 | 5xx | queries/req |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['scenario']} | {r['connections']} | {r['rps']} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['app_p50_ms']} | {r['app_p99_ms']} | {r.get('psp_p50_ms')} | {r['non_2xx']} | "
            f"{r['limited']} | "
            f"{r['5xx']} | {r['queries_per_request']} |"
        )
    lines += ["", f"Events: {report['events']}", "", "| target | measured |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in report["targets"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
