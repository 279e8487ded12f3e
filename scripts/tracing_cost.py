"""The CPU that tracing costs a request, in-process (docs/tracing.md).

Not a test and not the benchmark: each run is a fresh process with production
settings (DEBUG off, scripts/harness.production_env) on the real MariaDB,
Redis and localstripe, driving Django's test client (no server, no network hop
of ours); it counts time.process_time() over GET /api/v1/payments/{id} and
POST /api/v1/payments/process, the export thread's work included (the spans
are flushed before the clock stops). Tracing off and on (OTLP/HTTP to the
receiver of `make tracing`) alternate, three runs each; the medians are printed.

Usage: .venv/bin/python scripts/tracing_cost.py [--gets 300] [--posts 200] [--runs 3]
       (DATABASE_URL: a migrated database of your own; the default is the services' one)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from harness import production_env  # noqa: E402

OTLP = "http://127.0.0.1:4318"


def child(gets: int, posts: int) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
    import django

    django.setup()
    from django.test import Client

    from gateway.core.tracing import tracing_configure
    from payments.services.api_clients import api_client_create

    on = tracing_configure()  # as gateway/wsgi.py does, before the first request
    _, key = api_client_create(name=f"tracing-cost-{uuid.uuid4().hex[:8]}")
    http = Client(HTTP_AUTHORIZATION=f"Bearer {key}", SERVER_NAME="127.0.0.1")

    def process():
        run = uuid.uuid4().hex
        body = {
            "order_id": f"tc-{run}",
            "amount": "19.99",
            "currency": "usd",
            "payment_method": "pm_card_visa",
        }
        answer = http.post(
            "/api/v1/payments/process", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=run
        )
        assert answer.status_code == 201, answer.content[:300]
        return answer.json()

    payment_id = process()["payment_id"]

    def get():
        assert http.get(f"/api/v1/payments/{payment_id}").status_code == 200

    def flush():
        if on:
            from opentelemetry import trace

            trace.get_tracer_provider().force_flush()

    for _ in range(20):  # warm-up: connections, caches, imports
        get()
    process()
    flush()
    result = {"tracing": on}
    for name, call, count in (("get", get, gets), ("post", process, posts)):
        started, wall = time.process_time(), time.perf_counter()
        for _ in range(count):
            call()
        flush()
        result[f"{name}_cpu_ms"] = (time.process_time() - started) * 1000 / count
        result[f"{name}_wall_ms"] = (time.perf_counter() - wall) * 1000 / count
    return result


def run(mode: str, gets: int, posts: int) -> dict:
    env = production_env()
    env.update(LOG_LEVEL="WARNING", DJSTRIPE_MIRROR=env.get("DJSTRIPE_MIRROR", "off"))
    for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    if mode == "on":
        env.update(OTEL_EXPORTER_OTLP_ENDPOINT=OTLP, OTEL_SERVICE_NAME="gateway-tracing-cost")
    command = [sys.executable, __file__, "--child", "--gets", str(gets), "--posts", str(posts)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(done.stderr[-3000:])
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["tracing"] is (mode == "on"), result
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gets", type=int, default=300)
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.gets, args.posts)))
        return
    results: dict[str, list[dict]] = {"off": [], "on": []}
    for n in range(args.runs):
        for mode in ("off", "on") if n % 2 == 0 else ("on", "off"):
            results[mode].append(run(mode, args.gets, args.posts))
            print(mode, json.dumps(results[mode][-1]), flush=True)
    print(
        f"\n{args.gets} GETs and {args.posts} POSTs per run, medians of {args.runs} runs (CPU ms per request)"
    )
    print("| endpoint | tracing off | tracing on | extra |\n|---|---|---|---|")
    for name, label in (("get", "GET /api/v1/payments/{id}"), ("post", "POST /api/v1/payments/process")):
        off = statistics.median(r[f"{name}_cpu_ms"] for r in results["off"])
        on = statistics.median(r[f"{name}_cpu_ms"] for r in results["on"])
        print(f"| {label} | {off:.2f} | {on:.2f} | +{on - off:.2f} ({(on / off - 1) * 100:+.0f}%) |")


if __name__ == "__main__":
    main()
