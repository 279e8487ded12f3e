import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from gateway.kafka import kafka_enabled


class Command(BaseCommand):
    help = "Prints events from a Kafka topic, for operators and debugging (reads without committing offsets)."

    def add_arguments(self, parser):
        parser.add_argument("--topic", default=settings.KAFKA_TOPICS["events"])
        parser.add_argument("--from-beginning", action="store_true")
        parser.add_argument("--max", type=int, default=0, help="Stop after N events (0: until idle).")
        parser.add_argument(
            "--idle-seconds", type=float, default=5, help="Stop after this long with no event."
        )

    def handle(self, *args, topic: str, from_beginning: bool, max: int, idle_seconds: float, **options):
        if not kafka_enabled():
            raise CommandError("KAFKA_BROKERS is not set.")
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=settings.KAFKA_BROKERS,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest" if from_beginning else "latest",
            consumer_timeout_ms=int(idle_seconds * 1000),
        )
        seen = 0
        try:
            for message in consumer:
                headers = {key: value.decode() for key, value in message.headers or []}
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
