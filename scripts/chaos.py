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
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_DIR = ROOT / ".services" / "cluster"
sys.path.insert(0, str(ROOT))
PY = sys.executable
RETRYABLE = {429, 500, 502, 503, 504}


def cluster_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("secrets.env", "cluster.env", "endpoints.env"):
        path = CLUSTER_DIR / name
        if not path.exists():
            sys.exit(f"{path} is missing: start the cluster with `make cluster`")
        for line in path.read_text().splitlines():
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                env[key] = value
    return env


def cluster(*args: str) -> None:
    subprocess.run(["scripts/cluster.sh", *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def services(*args: str) -> None:
    subprocess.run(["scripts/services.sh", *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


@dataclass
class Operation:
    kind: str  # payment | refund
    key: str
    started: float
    finished: float = 0.0
    status: int = 0
    attempts: int = 0
    payment_id: str = ""
    order_id: str = ""
    refund_id: str = ""
    errors: list = field(default_factory=list)


class Clients:
    def __init__(self, base: str, api_key: str, clients: int, max_requests: int):
        parsed = urllib.parse.urlsplit(base)
        self.host, self.port = parsed.hostname, parsed.port
        self.api_key = api_key
        self.operations: list[Operation] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.budget = max_requests
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(clients)]

    def _take_budget(self) -> bool:
        with self.lock:
            if self.budget <= 0:
                return False
            self.budget -= 1
            return True

    def _send(self, conn, path: str, body: dict, key: str):
        conn.request(
            "POST",
            path,
            body=json.dumps(body),
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json",
                "Idempotency-Key": key,
            },
        )
        response = conn.getresponse()
        return response.status, response.read()

    def _do(self, op: Operation, path: str, body: dict) -> dict:
        """Sends until a definitive answer (or 90 s), with the same key every time."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        deadline = time.monotonic() + 90
        answer: dict = {}
        while time.monotonic() < deadline:
            op.attempts += 1
            try:
                status, data = self._send(conn, path, body, op.key)
                answer = json.loads(data) if data.startswith(b"{") else {}
            except (OSError, http.client.HTTPException) as exc:
                op.errors.append(type(exc).__name__)
                conn.close()
                conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                time.sleep(0.2)
                continue
            code = (answer.get("error") or {}).get("code", "")
            if status in RETRYABLE or (status == 409 and code == "idempotency_key_in_use"):
                op.errors.append(str(status))
                time.sleep(0.3)
                continue
            op.status = status
            break
        conn.close()
        op.finished = time.time()
        return answer

    def _run(self, n: int):
        own: list[str] = []
        count = 0
        while not self.stop.is_set() and self._take_budget():
            count += 1
            if own and count % 4 == 0:
                op = Operation(
                    "refund", f"chaos-r-{uuid.uuid4().hex}", time.time(), payment_id=own[count % len(own)]
                )
                answer = self._do(op, f"/api/v1/payments/{op.payment_id}/refund", {"amount": "1.00"})
                op.refund_id = answer.get("refund_id", "")
            else:
                op = Operation("payment", f"chaos-p-{uuid.uuid4().hex}", time.time())
                op.order_id = f"chaos-{uuid.uuid4().hex[:20]}"
                answer = self._do(
                    op,
                    "/api/v1/payments/process",
                    {
                        "order_id": op.order_id,
                        "amount": "20.00",
                        "currency": "usd",
                        "payment_method": "pm_card_visa",
                    },
                )
                op.payment_id = answer.get("payment_id", "")
                if op.status in (200, 201) and op.payment_id:
                    own.append(op.payment_id)
            with self.lock:
                self.operations.append(op)

    def start(self):
        for thread in self.threads:
            thread.start()

    def finish(self):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)


def percentile(values, pct):
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))], 3)


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


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def relay_busy(name: str, timeout: float = 10.0) -> bool:
    """Waits until the relay process is working (its CPU time grows within
    50 ms), so that the kill comes in the middle of relaying."""
    pid = int((CLUSTER_DIR / f"{name}.pid").read_text())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = _cpu_ticks(pid)
        time.sleep(0.05)
        if _cpu_ticks(pid) > before:
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
            if action == "kill":
                cluster("kill", target)
            elif action == "start":
                cluster("start", target)
            elif action == "restart" and target == "redis":
                services("redis-stop")
                services("redis-start")
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


def kafka_offsets(brokers: list[str], topics: list[str]):
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=brokers, enable_auto_commit=False, group_id=None)
    try:
        deadline = time.monotonic() + 60
        while True:
            known = {topic: consumer.partitions_for_topic(topic) for topic in topics}
            if all(known.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(known[t] or [])]
        return consumer.end_offsets(partitions)
    finally:
        consumer.close()


def kafka_read(brokers: list[str], start: dict) -> list[tuple[str, str, str]]:
    """(topic, key, event_id) of every message after `start`, up to the end now."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=brokers, enable_auto_commit=False, group_id=None)
    try:
        consumer.assign(list(start))
        end = consumer.end_offsets(list(start))
        for partition, offset in start.items():
            consumer.seek(partition, offset)
        found = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and any(consumer.position(p) < end[p] for p in start):
            for batch in consumer.poll(timeout_ms=500).values():
                for m in batch:
                    found.append(
                        (
                            m.topic,
                            (m.key or b"").decode(),
                            dict(m.headers or []).get("event_id", b"").decode(),
                        )
                    )
        return found
    finally:
        consumer.close()


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
    cluster("ensure")  # whatever an earlier run left stopped is started
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
    cluster("ensure")  # everything back, whatever was still down
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
                "event_delay_p50_s": percentile(delays, 50),
                "event_delay_p99_s": percentile(delays, 99),
                "events": len(delays),
            }
        )

    result = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip(),
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


def problems(r: dict) -> list[str]:
    """What a run must never show. Duplicates on a topic are not here: the relay
    is at-least-once by design, and events_consume must deliver each id once."""
    found = [
        f"{name}: {r[name]}"
        for name in (
            "unanswered",
            "missing_payments",
            "doubled_payments",
            "payments_not_final",
            "psp_not_exactly_one_intent",
            "refunds_missing",
            "refunds_not_matching_psp",
            "events_missing_in_kafka",
            "outbox_left",
        )
        if r[name]
    ]
    if r["fault_errors"]:
        found.append(f"faults that failed: {r['fault_errors']}")
    if r["non_2xx_final"]:
        found.append(f"final answers other than 2xx: {r['non_2xx_final']}")
    consumed = r["events_consume"]
    if not consumed["delivered"] == consumed["distinct"] == consumed["expected"]:
        found.append(f"events_consume: {consumed}")
    return found


def events_consume_check(env, topic, start_offsets, event_ids: list[str]) -> dict:
    """Runs `manage.py events_consume --dedupe` over this run's part of the
    topic: each event id must come out once, whatever the topic holds."""
    offsets = ",".join(f"{p.partition}:{o}" for p, o in start_offsets.items() if p.topic == topic)
    out = subprocess.run(
        [
            PY,
            "manage.py",
            "events_consume",
            "--topic",
            topic,
            "--from-offsets",
            offsets,
            "--idle-seconds",
            "5",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    delivered = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    ids = [d["headers"].get("event_id") for d in delivered]
    wanted = set(event_ids)
    ours = [i for i in ids if i in wanted]
    skipped = next((line for line in out.stderr.splitlines() if "duplicate" in line), "")
    return {
        "delivered": len(ours),
        "distinct": len(set(ours)),
        "expected": len(wanted),
        "skipped": skipped,
    }


def phase_windows(plan, started: float, ended: float) -> list[tuple[str, float, float]]:
    marks = sorted({at for at, _a, _t in plan})
    names = []
    down: list[str] = []
    edges = [started] + [started + at for at in marks] + [ended]
    for at in [0.0, *marks]:
        for a, action, target in plan:
            if a == at and action == "kill":
                down.append(target)
            if a == at and action == "start" and target in down:
                down.remove(target)
        restarts = [t for a, action, t in plan if a == at and action == "restart"]
        if at == 0.0:
            names.append("before")
        elif restarts:
            names.append(f"after {', '.join(restarts)} restart")
        elif down:
            names.append(f"{', '.join(down)} down")
        else:
            names.append("all up again")
    return [(name, edges[i], edges[i + 1]) for i, name in enumerate(names) if edges[i + 1] > edges[i]]


def markdown(r: dict) -> str:
    lines = [
        f"Commit `{r['commit']}`, {r['date']}, {r['mode']} run: {r['clients']} client threads for {r['seconds']:.0f} s "
        f"through HAProxy (wall time {r['wall_s']} s, with the drain and the checks).",
        "",
        "Faults: "
        + "; ".join(
            f"t={f['at_s']} s {f['action']} {f['target']} (took {f['took_s']} s)" for f in r["faults"]
        )
        + ".",
        "",
        "| check | result |",
        "|---|---|",
        f"| operations (payments + refunds) | {r['operations']} ({r['payments_answered']} payments, {r['refunds_answered']} refunds answered) |",
        f"| client retries (same Idempotency-Key) | {r['client_retries']} |",
        f"| operations with no final answer | {r['unanswered']} |",
        f"| final statuses other than 2xx | {r['non_2xx_final'] or 'none'} |",
        f"| payments told to clients but missing | {r['missing_payments']} |",
        f"| orders with more than one payment | {r['doubled_payments']} |",
        f"| payments not in a final status | {r['payments_not_final']} |",
        f"| payments without exactly one PaymentIntent at the PSP | {r['psp_not_exactly_one_intent']} |",
        f"| refunds told to clients but missing | {r['refunds_missing']} |",
        f"| payments whose refunded total differs from the PSP's | {r['refunds_not_matching_psp']} |",
        f"| events expected on topics | {r['events_expected']} |",
        f"| events missing in Kafka | {r['events_missing_in_kafka']} |",
        f"| duplicate messages (same event id, same topic) | {r['duplicate_messages']} |",
        f"| `events_consume` on payment-events: delivered / distinct / expected | {r['events_consume']['delivered']} / {r['events_consume']['distinct']} / {r['events_consume']['expected']} {r['events_consume']['skipped']} |",
        f"| outbox left after the drain | {r['outbox_left']} (drained in {r['outbox_drained_after_s']} s) |",
        f"| **verdict** | {'nothing lost, nothing doubled' if not r['problems'] else '; '.join(r['problems'])} |",
        "",
        "| phase | seconds | operations/s | event delay p50 / p99 s | events |",
        "|---|---|---|---|---|",
    ]
    for p in r["phases"]:
        lines.append(
            f"| {p['phase']} | {p['from_s']}–{p['to_s']} | {p['ops_per_s']} | "
            f"{p['event_delay_p50_s']} / {p['event_delay_p99_s']} | {p['events']} |"
        )
    return "\n".join(lines) + "\n"


def reliability_update(text: str) -> None:
    path = ROOT / "docs" / "RELIABILITY.md"
    begin, end = "<!-- cluster:begin -->", "<!-- cluster:end -->"
    doc = path.read_text()
    block = f"{begin}\n{text}{end}"
    if begin in doc:
        doc = doc[: doc.index(begin)] + block + doc[doc.index(end) + len(end) :]
    else:
        doc += (
            "\n## The cluster under chaos (`make chaos`)\n\n"
            "Regenerated by `make chaos` (scripts/chaos.py) against `make cluster`; "
            "see docs/SCALING.md for the layout.\n\n" + block + "\n"
        )
    path.write_text(doc)
    print(f"updated {path}")


if __name__ == "__main__":
    main()
