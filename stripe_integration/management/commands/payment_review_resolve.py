from django.core.management.base import BaseCommand, CommandError

from gateway.errors import GatewayError
from payments.models import Payment
from payments.services.reconcile import payment_review_resolve


class Command(BaseCommand):
    help = (
        "Settles a payment that reconciliation parked for review (review_reason set): from the "
        "PaymentIntent an operator found at the PSP, or, with --not-charged, as never charged (failed)."
    )

    def add_arguments(self, parser):
        parser.add_argument("payment_id", help="The payment's public id (pay_…).")
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument(
            "--payment-intent", default="", help="The PaymentIntent (pi_…) that is this payment."
        )
        group.add_argument("--not-charged", action="store_true", help="No charge exists at the PSP.")

    def handle(self, *args, payment_id: str, payment_intent: str, not_charged: bool, **options):
        payment = Payment.objects.filter(public_id=payment_id).first()
        if payment is None:
            raise CommandError(f"No payment {payment_id!r}.")
        try:
            payment = payment_review_resolve(
                payment=payment, payment_intent_id=payment_intent, actor="operator:manage.py"
            )
        except GatewayError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(f"{payment.public_id} {payment.status}")
