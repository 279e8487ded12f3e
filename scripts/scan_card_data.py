"""Run by `make test` after the suite: looks for card data in everything the
run left behind, and fails if it finds any.

Sources: every log record of the run (pytest --log-file, written before our
handlers redact anything), the service logs under .services/logs (and .services/cluster/logs), a dump of
the test and development databases, and every message in the Kafka topics.
Looked for: any run of 13-19 digits (alone, or in groups of four) that passes
the Luhn check, and a CVC next to its name. A hit is reported by source and
last four digits only.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAN = re.compile(r"(?<![0-9A-Za-z.\-])(?:\d{13,19}|\d{4}(?: \d{4}){3}(?: \d{1,3})?)(?![0-9A-Za-z])")
CVC = re.compile(r"(?i)\bcvc\W{1,4}\d{3,4}\b")
# The MIME boundary Python's e-mail package writes ("=" * 15 + 19 random digits
# + "=="): an OTP e-mail printed by the console backend carries one, and one in
# ten passes the Luhn check.
MIME_BOUNDARY = re.compile(r"={15}\d{1,20}==")


def luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def scan(name: str, text: str) -> list[str]:
    hits = []
    text = MIME_BOUNDARY.sub("=", text)
    for match in PAN.finditer(text):
        digits = match.group().replace(" ", "")
        if luhn(digits):
            hits.append(f"{name}: a card number ending {digits[-4:]}")
    hits += [f"{name}: a CVC next to its name" for _ in CVC.finditer(text)]
    return hits


def database_dump(database: str) -> str:
    result = subprocess.run(
        [
            "mysqldump",
            "-h127.0.0.1",
            "-ugateway",
            "-pgateway",
            "--no-tablespaces",
            "--skip-comments",
            database,
        ],
        capture_output=True,
        text=True,
        errors="replace",
    )
    if result.returncode != 0:
        raise SystemExit(f"mysqldump {database} failed: {result.stderr.strip()[-300:]}")
    return result.stdout


def kafka_messages(brokers: str, topics: list[str]) -> str:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=brokers.split(","), enable_auto_commit=False, group_id=None)
    partitions = [
        TopicPartition(topic, p)
        for topic in topics
        for p in sorted(consumer.partitions_for_topic(topic) or [])
    ]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    end = consumer.end_offsets(partitions)
    chunks, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline and any(consumer.position(p) < end[p] for p in partitions):
        for batch in consumer.poll(timeout_ms=500).values():
            chunks.extend(m.value.decode(errors="replace") for m in batch)
    consumer.close()
    return "\n".join(chunks)


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.settings")
    sources: dict[str, str] = {}
    for path in [
        ROOT / ".test-artifacts" / "pytest-log.txt",
        *sorted((ROOT / ".services" / "logs").glob("*.log")),
        *sorted((ROOT / ".services" / "cluster" / "logs").glob("*.log")),
    ]:
        if path.exists():
            sources[str(path.relative_to(ROOT))] = path.read_text(errors="replace")
    # The cluster's database stays after the cluster stops (its test stops the
    # cluster it started); its brokers are read while they run.
    cluster_ran = (ROOT / ".services" / "cluster" / "endpoints.env").exists()
    cluster = cluster_ran and _port_open(19092)
    for database in ("test_gateway", "gateway", *(["gateway_cluster"] if cluster_ran else [])):
        sources[f"database {database}"] = database_dump(database)
    topics = ["payment-events", "payment-success", "payment-failed", "payment-refunded"]
    sources["kafka " + ",".join(topics)] = kafka_messages(
        os.environ.get("KAFKA_BROKERS", "127.0.0.1:9092"), topics
    )
    if cluster:  # make cluster's three brokers (scripts/cluster.sh)
        sources["cluster kafka " + ",".join(topics)] = kafka_messages(
            "127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094", topics
        )

    hits = [hit for name, text in sources.items() for hit in scan(name, text)]
    size = sum(len(text) for text in sources.values())
    print(f"card data scan: {len(sources)} sources, {size / 1e6:.1f} MB, {len(hits)} finding(s)")
    for hit in sorted(set(hits))[:50]:
        print("  " + hit)
    sys.exit(1 if hits else 0)


if __name__ == "__main__":
    main()
