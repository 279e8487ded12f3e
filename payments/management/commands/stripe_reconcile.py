import sys
from collections import Counter

from django.core.management.base import BaseCommand, CommandError

from gateway.core.commands import moment_parse
from gateway.core.errors import GatewayError
from payments.enums import PaymentStatus
from payments.selectors import payments_to_reconcile
from payments.services.reconcile import RECONCILABLE_STATUSES, payment_reconcile


class Command(BaseCommand):
    help = (
        "Fetches each matching payment's PaymentIntent from Stripe and settles it through the "
        "payments services. Idempotent: settled payments are left alone."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--since", default="7d", help="ISO date-time, or an age: 30m, 6h, 2d (default 7d)."
        )
        parser.add_argument(
            "--status",
            default=",".join(RECONCILABLE_STATUSES),
            help="Comma-separated statuses to look at (default: %(default)s).",
        )
        parser.add_argument(
            "--older-than",
            default="0m",
            help="Only payments last updated before this age (the beat task uses 10m).",
        )

    def handle(self, *args, since: str, status: str, older_than: str, **options):
        statuses = [s.strip() for s in status.split(",") if s.strip()]
        unknown = set(statuses) - set(PaymentStatus.values)
        if unknown:
            raise CommandError(f"Unknown status: {', '.join(sorted(unknown))}")
        payments = list(
            payments_to_reconcile(
                statuses=statuses,
                created_since=moment_parse(since),
                updated_before=moment_parse(older_than, option="--older-than"),
            )
        )
        results: Counter = Counter()
        total = len(payments)
        for index, payment in enumerate(payments, start=1):
            before = payment.status
            try:
                after = payment_reconcile(payment=payment, actor="system:reconcile").status
                results[(before, after)] += 1
            except GatewayError as exc:
                results[(before, f"error: {exc.code}")] += 1
            self._progress(index, total)
        if total:
            self.stdout.write("")
        self.stdout.write(f"{'from':<20} {'to':<28} {'payments':>8}")
        for (before, after), count in sorted(results.items()):
            self.stdout.write(f"{before:<20} {after:<28} {count:>8}")
        self.stdout.write(f"{'total':<49} {total:>8}")

    def _progress(self, index: int, total: int) -> None:
        width = 30
        filled = width * index // total
        end = "" if sys.stdout.isatty() else "\n"
        self.stdout.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {index}/{total}", ending=end)
