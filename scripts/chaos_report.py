"""What `make chaos` (scripts/chaos.py) checks after the load, and how it reports it:
Kafka read back from the offsets before the run, `events_consume` over it, the
problems a run must never show, the phases, the Markdown and docs/RELIABILITY.md."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


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
