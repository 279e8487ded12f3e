import json
from collections import OrderedDict

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from gateway.events.kafka import kafka_enabled, kafka_security_options

# How many recent event ids the consumer remembers to drop a repeat. The relay
# is at-least-once: a repeat comes soon after the first copy (a relay that died
# between Kafka's ack and its commit publishes again on the next run).
DEDUPE_WINDOW = 100_000


class Command(BaseCommand):
    help = (
        "Prints events from a Kafka topic, for operators and debugging (reads without committing "
        "offsets). Each event id is printed once: repeats of the at-least-once relay are dropped "
        "and counted on stderr."
    )

    def add_arguments(self, parser):
        parser.add_argument("--topic", default=settings.KAFKA_TOPICS["events"])
        parser.add_argument("--from-beginning", action="store_true")
        parser.add_argument(
            "--from-offsets",
            default="",
            help="partition:offset,... to start from (every partition of the topic must be named).",
        )
        parser.add_argument("--max", type=int, default=0, help="Stop after N events (0: until idle).")
        parser.add_argument(
            "--idle-seconds", type=float, default=5, help="Stop after this long with no event."
        )
        parser.add_argument("--keep-duplicates", action="store_true", help="Print repeated event ids too.")

    def handle(
        self,
        *args,
        topic: str,
        from_beginning: bool,
        from_offsets: str,
        max: int,
        idle_seconds: float,
        keep_duplicates: bool,
        **options,
    ):
        if not kafka_enabled():
            raise CommandError("KAFKA_BROKERS is not set.")
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(
            bootstrap_servers=settings.KAFKA_BROKERS,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if from_beginning else "latest",
            consumer_timeout_ms=int(idle_seconds * 1000),
            **kafka_security_options(),
        )
        if from_offsets:
            try:
                starts = {
                    TopicPartition(topic, int(p)): int(o)
                    for p, o in (pair.split(":") for pair in from_offsets.split(","))
                }
            except ValueError:
                raise CommandError("--from-offsets takes partition:offset pairs, comma-separated.") from None
            consumer.assign(list(starts))
            for partition, offset in starts.items():
                consumer.seek(partition, offset)
        else:
            consumer.subscribe([topic])
        seen, recent, duplicates = 0, OrderedDict(), 0
        try:
            for message in consumer:
                headers = {key: value.decode() for key, value in message.headers or []}
                event_id = headers.get("event_id")
                if event_id and not keep_duplicates:
                    if event_id in recent:
                        duplicates += 1
                        continue
                    recent[event_id] = True
                    if len(recent) > DEDUPE_WINDOW:
                        recent.popitem(last=False)
                self.stdout.write(
                    json.dumps(
                        {
                            "topic": message.topic,
                            "partition": message.partition,
                            "offset": message.offset,
                            "key": message.key.decode() if message.key else None,
                            "headers": headers,
                            "event": json.loads(message.value),
                        }
                    )
                )
                seen += 1
                if max and seen >= max:
                    break
        finally:
            consumer.close()
            if duplicates:
                self.stderr.write(f"skipped {duplicates} duplicate(s) by event id")
