"""Mirrors payments' Stripe objects into dj-stripe's tables now: with DJSTRIPE_MIRROR=lazy, the
default, nothing is mirrored after a change."""

from collections import Counter

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from gateway.core.commands import moment_parse
from payments.models import Payment
from stripe_integration.mirror.sync import djstripe_sync_payment


class Command(BaseCommand):
    help = (
        "Mirrors payments' PaymentIntents, Charges and Refunds into dj-stripe's tables, one PSP read per "
        "payment, and links them. Idempotent. Payments by id, or those changed since an age."
    )

    def add_arguments(self, parser):
        parser.add_argument("payment_ids", nargs="*", help="Payment ids (pay_…).")
        parser.add_argument("--since", help="Payments changed since an ISO date-time or an age: 30m, 6h, 2d.")

    def handle(self, *args, payment_ids: list[str], since: str | None, **options):
        if settings.DJSTRIPE_MIRROR == "off":
            raise CommandError("The dj-stripe mirror is off (DJSTRIPE_MIRROR=off).")
        if not payment_ids and not since:
            raise CommandError("Name payment ids, or --since (for example --since 1d).")
        payments = Payment.objects.exclude(stripe_payment_intent_id="").order_by("pk")
        if payment_ids:
            payments = payments.filter(public_id__in=payment_ids)
        if since:
            payments = payments.filter(updated_at__gte=moment_parse(since))
        results: Counter = Counter()
        for payment in payments.iterator():
            try:
                results["objects"] += len(djstripe_sync_payment(payment=payment))
                results["mirrored"] += 1
            except Exception as exc:  # one payment's failure does not stop the others
                results["failed"] += 1
                self.stderr.write(f"{payment.public_id}: {type(exc).__name__}: {exc}")
        self.stdout.write(
            f"mirrored {results['mirrored']} payment(s), {results['objects']} Stripe object(s); "
            f"failed {results['failed']}"
        )
        if results["failed"]:
            raise CommandError(f"{results['failed']} payment(s) could not be mirrored.")
