import sys

from django.core.management.base import BaseCommand

from payments.selectors import payments_with_drifting_refund_totals


class Command(BaseCommand):
    help = (
        "Recomputes each payment's refunded total from its refunds (those not failed) and lists the "
        "payments whose stored refunded_minor differs. Exits 1 when any does; changes nothing."
    )

    def handle(self, *args, **options):
        drifting = list(payments_with_drifting_refund_totals())
        for payment in drifting:
            self.stdout.write(
                f"{payment.public_id}: refunded_minor {payment.refunded_minor}, "
                f"refunds add up to {payment.refunds_total}"
            )
        self.stdout.write(f"{len(drifting)} payment(s) whose refunded total drifted")
        if drifting:
            sys.exit(1)
