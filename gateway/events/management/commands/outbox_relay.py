import signal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from gateway.events.outbox import outbox_relay
from gateway.events.relay import OutboxRelayLoop


class Command(BaseCommand):
    help = (
        "The outbox relay: waits for wake-ups of its shards and publishes their events to Kafka "
        "until SIGTERM (gateway.events.relay). With --once, one pass over every shard in id "
        "order (as the sweeper, but every waiting row, however young), then exit."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--shard",
            type=int,
            action="append",
            dest="shards",
            help="A shard this process relays (repeatable; default: all OUTBOX_SHARDS of them).",
        )
        parser.add_argument("--once", action="store_true", help="One pass over every shard, then exit.")
        parser.add_argument(
            "--heartbeat-file", type=Path, help="Touched after every wait and batch (a liveness probe's)."
        )

    def handle(self, *args, shards: list[int] | None, once: bool, heartbeat_file: Path | None, **options):
        if once:
            result = outbox_relay()
            line = f"published {result.published}, pending {result.pending}"
            self.stdout.write(line + (f" ({result.error})" if result.error else ""))
            return
        wrong = [shard for shard in shards or () if not 0 <= shard < settings.OUTBOX_SHARDS]
        if wrong:
            raise CommandError(f"--shard {wrong[0]}: OUTBOX_SHARDS is {settings.OUTBOX_SHARDS} (0 to N-1)")
        loop = OutboxRelayLoop(shards=shards, heartbeat=heartbeat_file)
        # SIGTERM (supervisord, Kubernetes) and Ctrl-C: finish the batch in flight, then exit.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: loop.stop.set())
        self.stdout.write(f"relaying shard(s) {loop.shards} of {settings.OUTBOX_SHARDS}")
        self.stdout.flush()  # readiness, for whoever reads the log (tests, relay_bench)
        loop.run()
