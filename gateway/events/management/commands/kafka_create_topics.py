import time

from django.core.management.base import BaseCommand, CommandError

from gateway.events.kafka import kafka_enabled, kafka_topics_ensure


class Command(BaseCommand):
    help = "Creates the configured Kafka topics that are missing (the broker's auto-create is off)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--wait", type=float, default=0, help="Seconds to keep retrying while the broker starts."
        )

    def handle(self, *args, wait: float, **options):
        if not kafka_enabled():
            raise CommandError("KAFKA_BROKERS is not set.")
        deadline = time.monotonic() + wait
        while True:
            try:
                created, existing = kafka_topics_ensure()
                break
            except Exception as exc:  # the broker may still be starting
                if time.monotonic() >= deadline:
                    raise CommandError(f"Kafka is not reachable: {type(exc).__name__}: {exc}") from exc
                time.sleep(1)
        for name in created:
            self.stdout.write(f"created {name}")
        for name in existing:
            self.stdout.write(f"exists  {name}")
