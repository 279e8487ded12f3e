"""Profiles one endpoint in-process, against the real services, with pyinstrument.

Not a test and not the benchmark: it shows where the gateway's own time goes
(`make profile`). Production settings (DEBUG off), the services' MariaDB,
Redis, Kafka-enabled outbox and localstripe, driven by Django's test client so
no server or network hop is in the way.

Usage: .venv/bin/python scripts/profile_payment.py [--scenario process] [--n 200] [--html out.html]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from harness import production_env  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenario", default="process", choices=["process", "get_payment", "refund"])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--html", default="")
    parser.add_argument("--no-profile", action="store_true", help="time only, without the sampler's overhead")
    args = parser.parse_args()

    os.environ.update(production_env())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from pyinstrument import Profiler

    from payments.services.api_clients import api_client_create

    _, key = api_client_create(name=f"profile-{uuid.uuid4().hex[:8]}")
    http = Client(HTTP_AUTHORIZATION=f"Bearer {key}", SERVER_NAME="127.0.0.1")

    def process():
        run = uuid.uuid4().hex
        return http.post(
            "/api/v1/payments/process",
            {
                "order_id": f"prof-{run}",
                "amount": "19.99",
                "currency": "usd",
                "payment_method": "pm_card_visa",
            },
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"prof-{run}",
        )

    first = process().json()
    payment_id = first.get("id") or first.get("payment_id") or first

    def get_payment():
        return http.get(f"/api/v1/payments/{payment_id}")

    def refund():
        return http.post(
            f"/api/v1/payments/{payment_id}/refund",
            {"amount": "0.01"},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
        )

    call = {"process": process, "get_payment": get_payment, "refund": refund}[args.scenario]
    for _ in range(5):  # warm-up: connections, caches, imports
        call()

    app_ms, psp_ms, db_ms, cpu_ms, queries = [], [], [], [], []
    profiler = Profiler(interval=0.0005)
    if not args.no_profile:
        profiler.start()
    for _ in range(args.n):
        with CaptureQueriesContext(connection) as captured:
            started, cpu_started = time.perf_counter(), time.thread_time()
            response = call()
            elapsed = (time.perf_counter() - started) * 1000
            cpu_ms.append((time.thread_time() - cpu_started) * 1000)
        assert response.status_code < 300, response.content
        timing = dict(
            part.split(";dur=") for part in response["Server-Timing"].split(", ") if ";dur=" in part
        )
        app_ms.append(float(timing.get("app", elapsed)))
        psp_ms.append(float(timing.get("psp", 0)))
        db_ms.append(float(timing.get("db", "0").split(";")[0]))
        queries.append(len(captured))
    if not args.no_profile:
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
    app_ms.sort()
    print(
        f"{args.scenario}: n={args.n} app p50={statistics.median(app_ms):.2f} ms "
        f"p99={app_ms[int(0.99 * (len(app_ms) - 1))]:.2f} ms psp p50={statistics.median(psp_ms):.2f} ms "
        f"db p50={statistics.median(db_ms):.2f} ms cpu p50={statistics.median(cpu_ms):.2f} ms "
        f"queries/request={statistics.mean(queries):.1f}"
    )
    for sql in captured.captured_queries:
        print("  ", sql["sql"][:140])
    if args.html and not args.no_profile:
        Path(args.html).write_text(profiler.output_html())


if __name__ == "__main__":
    main()
