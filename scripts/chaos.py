"""`make chaos`: payments and refunds through the cluster while nodes die (issue #17).

Bounded in time and requests, loopback only, against `make cluster`. Client
threads drive payments and refunds through HAProxy, each with its own
Idempotency-Key, retrying the same request (same key) on a refused connection,
a 5xx, a 429 or a 409 `idempotency_key_in_use`, as a careful client does. While
they run, the faults come in turn:

  1. SIGKILL one Kafka broker, and start it again later;
  2. SIGKILL one gateway process (HAProxy routes around it), and start it again;
  3. SIGKILL one Celery relay worker in the middle of relaying, and start it again;
  4. restart Redis (the cache, the rate limits and Celery's broker; nothing is saved).

Then it waits for the sweeper to empty the outbox, and checks:
  - every payment a client was told about exists once, in a final status;
  - the PSP stand-in holds exactly one PaymentIntent per payment;
  - every payment.* and refund.* event of these payments is in Kafka, on each of its topics;
  - how many event ids appear twice on a topic (the relay is at-least-once), and
    that `manage.py events_consume` delivers each event id once;
  - the outbox is empty;
  - throughput and event delay (outbox row written -> Kafka acknowledged) before,
    during and after each fault.

`--short` is the in-suite version (gateway/tests/scenarios/test_cluster.py):
one broker kill and one gateway kill in a short burst. The full run rewrites
the cluster section of docs/RELIABILITY.md.

Usage: .venv/bin/python scripts/chaos.py [--seconds 120] [--clients 8] [--short] [--json out.json]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import psutil  # noqa: E402
from chaos_clients import Clients  # noqa: E402
from chaos_report import (  # noqa: E402
    events_consume_check,
    kafka_offsets,
    kafka_read,
    markdown,
    phase_windows,
    problems,
    reliability_update,
)
from harness import ROOT, commit, percentile  # noqa: E402
from stack import CLUSTER, read_env  # noqa: E402
from stack.control import pid  # noqa: E402

sys.path.insert(0, str(ROOT))


def cluster_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("secrets.env", "cluster.env", "endpoints.env"):
        if not (CLUSTER / name).exists():
            sys.exit(f"{CLUSTER / name} is missing: start the cluster with `make cluster`")
        env.update(read_env(CLUSTER / name))
    return env


def services(*args: str) -> None:
    """scripts/services.sh: kill, start, stop one process, or cluster-ensure."""
    subprocess.run(["scripts/services.sh", *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def schedule(seconds: float, short: bool) -> list[tuple[float, str, str]]:
    """(at second, action, target). Each fault is undone before the next phase."""
    if short:
        return [
            (0.25 * seconds, "kill", "kafka-2"),
            (0.40 * seconds, "kill", "gateway-2"),
            (0.70 * seconds, "start", "kafka-2"),
            (0.70 * seconds, "start", "gateway-2"),
        ]
    return [
        (0.12 * seconds, "kill", "kafka-2"),
        (0.27 * seconds, "start", "kafka-2"),
        (0.35 * seconds, "kill", "gateway-2"),
        (0.50 * seconds, "start", "gateway-2"),
        (0.55 * seconds, "kill", "relay-1"),
        (0.70 * seconds, "start", "relay-1"),
        (0.78 * seconds, "restart", "redis"),
    ]


def relay_busy(name: str, timeout: float = 10.0) -> bool:
    """Waits until the relay process is working (its CPU time grows within
    50 ms), so that the kill comes in the middle of relaying."""
    process = psutil.Process(pid(name))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = sum(process.cpu_times()[:2])
        time.sleep(0.05)
        if sum(process.cpu_times()[:2]) > before:
            return True
    return False


def run_faults(plan, started: float, stop: threading.Event, log: list):
    for at, action, target in plan:
        while time.time() < started + at:
            if stop.wait(0.05):
                return
        begun = time.time()
        error = ""
        try:
            if action == "kill" and target.startswith("relay-"):
                relay_busy(target)
            if action in ("kill", "start"):
                services(action, target)
            elif action == "restart" and target == "redis":
                services("restart", "redis")
        except subprocess.CalledProcessError as exc:
            error = str(exc)
        log.append(
            {
                "at_s": round(begun - started, 1),
                "action": action,
                "target": target,
                "took_s": round(time.time() - begun, 1),
                "error": error,
            }
        )
        print(f"  t={begun - started:5.1f}s  {action} {target} ({time.time() - begun:.1f} s)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--max-requests", type=int, default=20000)
    parser.add_argument(
        "--short", action="store_true", help="one broker and one gateway kill, for the test suite"
    )
    parser.add_argument("--json", default="", help="also write the result here")
    parser.add_argument("--drain-timeout", type=float, default=120)
    args = parser.parse_args()

    env = cluster_env()
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
    import django

    django.setup()
    import logging

    from django.conf import settings

    from gateway.events.models import OutboxEvent
    from payments.models import Payment, Refund
    from payments.services.api_clients import api_client_create
    from stripe_integration.client import payment_intent_search, refund_list_for_payment_intent

    logging.getLogger("stripe").setLevel(logging.WARNING)
    services("cluster-ensure")  # whatever an earlier run left stopped is started
    _, api_key = api_client_create(name=f"chaos-{uuid.uuid4().hex[:8]}")
    brokers = env["KAFKA_BROKERS"].split(",")
    topics = list(dict.fromkeys(settings.KAFKA_TOPICS.values()))
    start_offsets = kafka_offsets(brokers, topics)

    plan = schedule(args.seconds, args.short)
    print(f"chaos: {args.clients} clients for {args.seconds:.0f} s through {env['GATEWAY_URL']}", flush=True)
    load = Clients(env["GATEWAY_URL"], api_key, args.clients, args.max_requests)
    fault_log: list = []
    stop = threading.Event()
    started = time.time()
    load.start()
    faults = threading.Thread(target=run_faults, args=(plan, started, stop, fault_log), daemon=True)
    faults.start()
    try:
        while time.time() < started + args.seconds and any(t.is_alive() for t in load.threads):
            time.sleep(0.2)
    finally:
        load.finish()
        faults.join(timeout=120)
        stop.set()
    load_ended = time.time()
    services("cluster-ensure")  # everything back, whatever was still down
    print(f"load done after {load_ended - started:.0f} s; waiting for the outbox to drain", flush=True)

    ops = load.operations
    payments_told = [op for op in ops if op.kind == "payment" and op.status in (200, 201) and op.payment_id]
    ids = {op.payment_id for op in payments_told}
    drain_started = time.time()
    while time.time() - drain_started < args.drain_timeout:
        if not OutboxEvent.objects.filter(published_at__isnull=True).exists():
            break
        time.sleep(1)
    drained_s = round(time.time() - drain_started, 1)
    outbox_left = OutboxEvent.objects.filter(published_at__isnull=True).count()

    # 1. every payment once, final
    rows = list(Payment.objects.filter(public_id__in=ids).values("public_id", "order_id", "status"))
    orders = [op.order_id for op in ops if op.kind == "payment"]
    order_counts = {}
    for order_id in Payment.objects.filter(order_id__in=orders).values_list("order_id", flat=True):
        order_counts[order_id] = order_counts.get(order_id, 0) + 1
    final = {"succeeded", "partially_refunded", "refunded"}
    missing_payments = len(ids) - len(rows)
    doubled_payments = sum(1 for count in order_counts.values() if count > 1)
    not_final = sum(1 for row in rows if row["status"] not in final)
    unanswered = [op for op in ops if op.status == 0]

    # 2. one PaymentIntent per payment at the PSP
    with ThreadPoolExecutor(max_workers=8) as pool:
        psp_counts = list(
            pool.map(lambda row: len(payment_intent_search(metadata={"order_id": row["order_id"]})), rows)
        )
    psp_not_one = sum(1 for count in psp_counts if count != 1)

    # 2b. refunds: each one told to a client exists once, and each payment's
    # refunded total is what the PSP holds for its PaymentIntent
    refunds_told = [op for op in ops if op.kind == "refund" and op.status in (200, 201, 202) and op.refund_id]
    refund_rows = Refund.objects.filter(public_id__in=[op.refund_id for op in refunds_told])
    missing_refunds = len({op.refund_id for op in refunds_told}) - refund_rows.count()
    refunded = list(
        Payment.objects.filter(public_id__in={op.payment_id for op in refunds_told}).values_list(
            "public_id", "stripe_payment_intent_id", "refunded_minor"
        )
    )

    def psp_refunded(row):
        results = refund_list_for_payment_intent(payment_intent_id=row[1])
        return sum(r.amount_minor for r in results if r.status == "succeeded")

    with ThreadPoolExecutor(max_workers=8) as pool:
        psp_totals = list(pool.map(psp_refunded, refunded))
    refunds_not_matching_psp = sum(
        1 for row, total in zip(refunded, psp_totals, strict=True) if row[2] != total
    )

    # 3. events in Kafka
    events = list(
        OutboxEvent.objects.filter(aggregate_id__in=ids).values_list(
            "event_id", "type", "topics", "created_at", "published_at"
        )
    )
    messages = kafka_read(brokers, start_offsets)
    on_topic: dict[tuple[str, str], int] = {}
    for topic, _key, event_id in messages:
        on_topic[(topic, event_id)] = on_topic.get((topic, event_id), 0) + 1
    expected = [
        (topic, str(event_id)) for event_id, _t, event_topics, _c, _p in events for topic in event_topics
    ]
    missing_events = sum(1 for pair in expected if pair not in on_topic)
    duplicates = sum(count - 1 for pair, count in on_topic.items() if count > 1 and pair[1])
    dedupe = events_consume_check(
        env, topics[0], start_offsets, [str(e[0]) for e in events if topics[0] in e[2]]
    )

    # 4. throughput and event delay by phase
    phases = phase_windows(plan, started, load_ended)
    phase_rows = []
    for name, begin, end in phases:
        done = [op for op in ops if begin <= op.finished < end and op.status]
        delays = [
            (published - created).total_seconds()
            for _e, _t, _tp, created, published in events
            if published and begin <= created.timestamp() < end
        ]
        phase_rows.append(
            {
                "phase": name,
                "from_s": round(begin - started, 1),
                "to_s": round(end - started, 1),
                "ops_per_s": round(len(done) / (end - begin), 1) if end > begin else 0,
                "event_delay_p50_s": _rounded(percentile(delays, 50)),
                "event_delay_p99_s": _rounded(percentile(delays, 99)),
                "events": len(delays),
            }
        )

    result = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "mode": "short" if args.short else "full",
        "seconds": args.seconds,
        "clients": args.clients,
        "wall_s": round(time.time() - started, 1),
        "faults": fault_log,
        "fault_errors": [f for f in fault_log if f["error"]],
        "operations": len(ops),
        "payments_answered": len(payments_told),
        "refunds_answered": sum(1 for op in ops if op.kind == "refund" and op.status in (200, 201, 202)),
        "client_retries": sum(op.attempts - 1 for op in ops),
        "unanswered": len(unanswered),
        "non_2xx_final": sorted({op.status for op in ops if op.status and op.status >= 300}),
        "missing_payments": missing_payments,
        "doubled_payments": doubled_payments,
        "payments_not_final": not_final,
        "psp_not_exactly_one_intent": psp_not_one,
        "refunds_missing": missing_refunds,
        "refunds_not_matching_psp": refunds_not_matching_psp,
        "events_expected": len(expected),
        "events_missing_in_kafka": missing_events,
        "duplicate_messages": duplicates,
        "events_consume": dedupe,
        "outbox_left": outbox_left,
        "outbox_drained_after_s": drained_s,
        "phases": phase_rows,
    }
    result["problems"] = problems(result)
    text = markdown(result)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    if not args.short:
        reliability_update(text)
    if result["problems"]:
        sys.exit("chaos: " + "; ".join(result["problems"]))


if __name__ == "__main__":
    main()
