"""How fast the sharded outbox relay drains, with 1, 2 and 4 relay processes
(OUTBOX_SHARDS = relays), against a real MariaDB and Kafka.

For each relay count, two phases:
  paced    writer threads record N payments' events at an offered rate (a
           payment = two commits of one event each, in one "request", as the
           API does: one wake-up at its end) while the relays run; reports the
           event delay, row created_at -> the broker's append time (the bench
           topic uses LogAppendTime: the moment Kafka acknowledged), p50/p99;
  backlog  the same number written with no relay running, then the relays
           start: events/s drained (first start -> outbox empty), the relays'
           CPU per event.
Every event is read back from Kafka: counted once by event id, and each
payment's events checked in order. JSON + markdown into docs/bench/.

  .venv/bin/python scripts/relay_bench.py --relays 1,2,4 --payments 3000 --rate 500 \\
      --database-url mysql://gateway:gateway@127.0.0.1:3306/test_gateway_relay_bench \\
      --kafka-brokers 127.0.0.1:9092 --redis-url redis://127.0.0.1:6379/8

On `make cluster`: --kafka-brokers 127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094
--replication-factor 3 (and a database of its own). The relays it starts are
its own; it never touches the services' processes.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import threading
import time
import uuid

from harness import (
    ROOT,
    commit,
    cpu_seconds,
    manage,
    percentile,
    production_env,
    relay_start,
    report_write,
    stop,
)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--relays", default="1,2,4", help="relay counts to measure (= OUTBOX_SHARDS)")
    parser.add_argument("--payments", type=int, default=3000, help="payments per phase (2 events each)")
    parser.add_argument("--rate", type=float, default=500, help="offered payments/s in the paced phase")
    parser.add_argument("--writers", type=int, default=8, help="writer threads")
    parser.add_argument(
        "--database-url", default="mysql://gateway:gateway@127.0.0.1:3306/test_gateway_relay_bench"
    )
    parser.add_argument("--kafka-brokers", default="127.0.0.1:9092")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8")
    parser.add_argument("--topic", default="relay-bench", help="created with LogAppendTime if missing")
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--replication-factor", type=int, default=1)
    parser.add_argument("--label", default="single-broker dev services", help="where it ran, for the report")
    return parser.parse_args()


def bench_env(args) -> dict[str, str]:
    env = production_env()
    env.update(
        {
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "CELERY_BROKER_URL": args.redis_url,
            "KAFKA_BROKERS": args.kafka_brokers,
            "KAFKA_TOPIC_EVENTS": args.topic,
            "KAFKA_REPLICATION_FACTOR": str(args.replication_factor),
            "DJSTRIPE_MIRROR": "off",  # the outbox alone: no dj-stripe tables to migrate
            "LOG_LEVEL": "WARNING",  # not a line per published event: the relay's cost, not the log's
        }
    )
    return env


def database_create(url: str) -> None:
    """The bench's database, if missing (the user needs CREATE on its name)."""
    import urllib.parse

    import MySQLdb

    parts = urllib.parse.urlparse(url)
    server = MySQLdb.connect(
        host=parts.hostname, port=parts.port or 3306, user=parts.username, password=parts.password or ""
    )
    try:
        name = parts.path.lstrip("/").replace("`", "")
        server.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")  # noqa: S608
    finally:
        server.close()


def topic_ensure(args) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=args.kafka_brokers.split(","))
    try:
        if args.topic not in admin.list_topics():
            config = {"message.timestamp.type": "LogAppendTime"}
            admin.create_topics(
                [NewTopic(args.topic, args.partitions, args.replication_factor, topic_configs=config)]
            )
            time.sleep(2)
    finally:
        admin.close()


def write_payments(*, count: int, rate: float | None, writers: int, tag: str) -> float:
    """Records `count` payments (two commits each, one wake-up), paced to `rate`
    per second (None: as fast as the writers go). Returns the seconds it took."""
    from django.conf import settings
    from django.db import connection, transaction

    from gateway.events.outbox import outbox_publish_deferred, outbox_record

    topic = settings.KAFKA_TOPICS["events"]
    started = time.monotonic()

    def payment(n: int) -> None:
        payment_id = f"pay_{tag}_{n:06d}"
        with outbox_publish_deferred():
            for seq, kind in enumerate(("payment.created", "payment.succeeded")):
                with transaction.atomic():
                    outbox_record(
                        event_id=uuid.uuid4(),
                        event_type=kind,
                        aggregate_type="payment",
                        aggregate_id=payment_id,
                        topics=[topic],
                        payload={
                            "type": kind,
                            "seq": seq,
                            "payment": {
                                "payment_id": payment_id,
                                "amount_minor": 1999,
                                "currency": "usd",
                                "status": "succeeded",
                            },
                            "pad": "x" * 450,
                        },
                    )

    def writer(first: int) -> None:
        try:
            for n in range(first, count, writers):
                if rate:
                    delay = started + n / rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                payment(n)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started


def wait_drained(timeout: float) -> float:
    from gateway.events.models import OutboxEvent

    started, deadline = time.monotonic(), time.monotonic() + timeout
    while OutboxEvent.objects.filter(published_at__isnull=True).exists():
        if time.monotonic() > deadline:
            raise SystemExit("the outbox did not drain in time")
        time.sleep(0.05)
    return time.monotonic() - started


def read_back(args, start: dict, expect: int) -> list:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        bootstrap_servers=args.kafka_brokers.split(","), enable_auto_commit=False, group_id=None
    )
    consumer.assign(list(start))
    for partition, offset in start.items():
        consumer.seek(partition, offset)
    messages, deadline = [], time.monotonic() + 60
    while len(messages) < expect and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            messages.extend(batch)
    consumer.close()
    return messages


def end_offsets(args) -> dict:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(
        bootstrap_servers=args.kafka_brokers.split(","), enable_auto_commit=False, group_id=None
    )
    partitions = [TopicPartition(args.topic, p) for p in sorted(consumer.partitions_for_topic(args.topic))]
    offsets = consumer.end_offsets(partitions)
    consumer.close()
    return offsets


def check(messages: list, tag: str) -> dict:
    """Delays (row created_at -> the broker's append time), duplicates, order per payment."""
    import json

    from gateway.events.models import OutboxEvent

    created = dict(
        OutboxEvent.objects.filter(aggregate_id__startswith=f"pay_{tag}_").values_list(
            "event_id", "created_at"
        )
    )
    ours = [m for m in messages if m.key.decode().startswith(f"pay_{tag}_")]
    ids = [uuid.UUID(dict(m.headers)["event_id"].decode()) for m in ours]
    delays = [m.timestamp / 1000 - created[i].timestamp() for m, i in zip(ours, ids, strict=True)]
    seqs: dict[str, list[int]] = {}
    for m in ours:
        seqs.setdefault(m.key.decode(), []).append(json.loads(m.value)["seq"])
    return {
        "events": len(created),
        "on_kafka": len(ours),
        "duplicates": len(ids) - len(set(ids)),
        "missing": len(set(created) - set(ids)),
        "out_of_order_payments": sum(1 for s in seqs.values() if s != sorted(s)),
        "delay_p50_ms": round(percentile(delays, 50) * 1000, 1) if delays else None,
        "delay_p99_ms": round(percentile(delays, 99) * 1000, 1) if delays else None,
        "delay_max_ms": round(max(delays) * 1000, 1) if delays else None,
    }


def relays_ready(env: dict, relays: int, logs) -> list:
    """Starts one relay process per shard and waits until each says it relays."""
    processes, paths = [], []
    for shard in range(relays):
        path = logs / f"relay-bench-{shard}.log"
        with path.open("wb") as log:
            processes.append(relay_start(env, shard, log=log))
        paths.append(path)
    deadline = time.monotonic() + 60
    while not all("relaying shard" in path.read_text(errors="replace") for path in paths):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            stop([p for p in processes if p.poll() is None])
            raise SystemExit(f"a relay did not start: see {logs}/relay-bench-*.log")
        time.sleep(0.05)
    return processes


def run_round(args, env: dict, relays: int) -> dict:
    from django.conf import settings

    from gateway.events.models import OutboxEvent

    settings.OUTBOX_SHARDS = relays  # this process writes rows as the relays' deploy would
    env = {**env, "OUTBOX_SHARDS": str(relays)}
    OutboxEvent.objects.all().delete()
    result: dict = {"relays": relays}
    logs = ROOT / ".services" / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    # Paced: the relays run, the writers offer args.rate payments/s.
    tag = f"r{relays}p{uuid.uuid4().hex[:6]}"
    processes = relays_ready(env, relays, logs)
    write_payments(count=args.writers, rate=None, writers=args.writers, tag=f"{tag}w")  # warm-up: not counted
    wait_drained(30)
    start = end_offsets(args)
    written = write_payments(count=args.payments, rate=args.rate, writers=args.writers, tag=tag)
    wait_drained(120)
    stop(processes)
    paced = check(read_back(args, start, 2 * args.payments), tag)
    paced["offered_payments_s"] = args.rate
    paced["achieved_payments_s"] = round(args.payments / written, 1)
    result["paced"] = paced

    # Backlog: written with no relay, then drained by the relays from a standing start.
    tag = f"r{relays}b{uuid.uuid4().hex[:6]}"
    start = end_offsets(args)
    write_payments(count=args.payments, rate=None, writers=args.writers, tag=tag)
    processes = relays_ready(env, relays, logs)  # they start on the backlog at once
    cpu_before = sum(cpu_seconds(p.pid) for p in processes)
    first = OutboxEvent.objects.filter(
        published_at__isnull=False, aggregate_id__startswith=f"pay_{tag}_"
    ).count()
    drained = wait_drained(300)
    cpu = sum(cpu_seconds(p.pid) for p in processes) - cpu_before
    stop(processes)
    backlog = check(read_back(args, start, 2 * args.payments), tag)
    remaining = backlog["events"] - first
    backlog["published_during_start"] = first
    backlog["drained_events_s"] = round(remaining / drained, 1) if drained > 0 else None
    backlog["relay_cpu_ms_per_event"] = round(cpu * 1000 / remaining, 3) if remaining else None
    result["backlog"] = backlog
    return result


def markdown(report: dict) -> str:
    lines = [
        f"Relay bench: commit `{report['commit']}`, {report['date']}, {report['label']}; "
        f"{report['payments']} payments (2 events each) per phase, offered {report['rate']} payments/s "
        f"in the paced phase; Kafka {report['kafka_brokers']} (topic {report['topic']}, "
        f"{report['partitions']} partitions, LogAppendTime); `scripts/relay_bench.py`.",
        "",
        "| relays = shards | paced: achieved payments/s | event delay p50 / p99 / max ms | backlog: drained events/s "
        "| relay CPU ms/event | duplicates | missing | payments out of order |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rounds"]:
        p, b = r["paced"], r["backlog"]
        lines.append(
            f"| {r['relays']} | {p['achieved_payments_s']} | {p['delay_p50_ms']} / {p['delay_p99_ms']} / "
            f"{p['delay_max_ms']} | {b['drained_events_s']} | {b['relay_cpu_ms_per_event']} | "
            f"{p['duplicates'] + b['duplicates']} | {p['missing'] + b['missing']} | "
            f"{p['out_of_order_payments'] + b['out_of_order_payments']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse()
    env = bench_env(args)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
    database_create(args.database_url)
    manage(env, "migrate", "--noinput", "-v0")
    topic_ensure(args)
    import django

    sys.path.insert(0, str(ROOT))  # the project, importable by this script's own Django
    django.setup()
    rounds = [run_round(args, env, int(n)) for n in args.relays.split(",")]
    report = {
        "commit": commit(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "label": args.label,
        "payments": args.payments,
        "rate": args.rate,
        "kafka_brokers": args.kafka_brokers,
        "topic": args.topic,
        "partitions": args.partitions,
        "rounds": rounds,
    }
    report_write(report, markdown(report), suffix="-relay")


if __name__ == "__main__":
    main()
