import time

from django.conf import settings
from django.core.management.base import BaseCommand

from gateway.events.outbox import outbox_relay


class Command(BaseCommand):
    help = "Publishes the events waiting in the outbox to Kafka; with --once, one pass, else a loop."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="One pass, then exit.")
        parser.add_argument(
            "--interval",
            type=float,
            default=settings.OUTBOX_SWEEP_SECONDS,
            help="Seconds between passes (default OUTBOX_SWEEP_SECONDS).",
        )

    def handle(self, *args, once: bool, interval: float, **options):
        while True:
            result = outbox_relay()
            line = f"published {result.published}, pending {result.pending}"
            self.stdout.write(line + (f" ({result.error})" if result.error else ""))
            if once:
                return
            time.sleep(interval)
