from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from gateway.events.outbox import outbox_replay


class Command(BaseCommand):
    help = "Publishes stored events again, with their original ids (consumers deduplicate on them)."

    def add_arguments(self, parser):
        parser.add_argument("--payment", help="One payment's events (its payment id).")
        parser.add_argument("--since", help="Events created since this ISO date-time.")

    def handle(self, *args, payment: str | None, since: str | None, **options):
        if not payment and not since:
            raise CommandError("Give --payment or --since.")
        since_at = parse_datetime(since) if since else None
        if since and since_at is None:
            raise CommandError(f"--since is not an ISO date-time: {since!r}")
        count = outbox_replay(payment_id=payment, since=since_at)
        self.stdout.write(f"replayed {count} event(s)")
