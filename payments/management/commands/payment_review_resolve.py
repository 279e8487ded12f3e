from django.core.management.base import BaseCommand, CommandError

from gateway.core.errors import GatewayError
from payments.models import Payment
from payments.selectors import payments_for_operator
from payments.services.reconcile import payment_review_resolve


class Command(BaseCommand):
    help = (
        "Settles a payment that reconciliation parked for review (review_reason set), always "
        "checked against the PSP again: from the PaymentIntent an operator found, as never "
        "charged (--not-charged: refused if the PSP shows a charge), or by returning a charge the "
        "PSP took for a payment recorded failed or canceled (--return-charge)."
    )

    def add_arguments(self, parser):
        parser.add_argument("payment_id", help="The payment's public id (pay_…) or its uuid.")
        parser.add_argument(
            "--client",
            default="",
            help="The API client's name or key prefix; needed when clients share the payment id.",
        )
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument(
            "--payment-intent", default="", help="The PaymentIntent (pi_…) that is this payment."
        )
        group.add_argument("--not-charged", action="store_true", help="No charge exists at the PSP.")
        group.add_argument(
            "--return-charge",
            action="store_true",
            help="Give back what the PSP took for a payment recorded failed or canceled.",
        )

    def handle(self, *args, payment_id, client, payment_intent, not_charged, return_charge, **options):
        payment = self._payment(payment_id, client)
        try:
            payment = payment_review_resolve(
                payment=payment,
                payment_intent_id=payment_intent,
                not_charged=not_charged,
                return_charge=return_charge,
                actor="operator:manage.py",
            )
        except GatewayError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        self.stdout.write(f"{payment.public_id} {payment.status}")

    @staticmethod
    def _payment(payment_id: str, client: str) -> Payment:
        found = payments_for_operator(payment_id=payment_id, client=client)
        if not found:
            raise CommandError(f"No payment {payment_id!r}" + (f" of client {client!r}." if client else "."))
        if len(found) > 1:
            clients = ", ".join(f"{p.client.name} ({p.client.key_prefix})" for p in found)
            raise CommandError(
                f"{len(found)} clients have a payment {payment_id!r}: {clients}. Say which with --client."
            )
        return found[0]
