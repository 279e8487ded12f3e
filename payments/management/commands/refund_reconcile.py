from collections import Counter

from django.core.management.base import BaseCommand

from gateway.core.commands import moment_parse
from gateway.core.errors import GatewayError
from payments.selectors import refunds_to_reconcile
from payments.services.reconcile import refund_reconcile


class Command(BaseCommand):
    help = (
        "Settles refunds left pending (a timeout, a refused connection, a crash) from the PSP: "
        "by the refund's id, else by the PaymentIntent's refunds carrying our refund id; a refund the "
        "PSP never received is sent again with its own idempotency key. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            default="0m",
            help="Only refunds last updated before this age: 30m, 6h, 2d (the beat task uses 10m).",
        )

    def handle(self, *args, older_than: str, **options):
        results: Counter = Counter()
        refunds = list(refunds_to_reconcile(updated_before=moment_parse(older_than, option="--older-than")))
        for refund in refunds:
            try:
                results[refund_reconcile(refund=refund, actor="system:reconcile").status] += 1
            except GatewayError as exc:
                results[f"error: {exc.code}"] += 1
        self.stdout.write(f"{'to':<28} {'refunds':>8}")
        for after, count in sorted(results.items()):
            self.stdout.write(f"{after:<28} {count:>8}")
        self.stdout.write(f"{'total':<28} {len(refunds):>8}")
