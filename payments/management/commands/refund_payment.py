import getpass

from django.core.management.base import BaseCommand, CommandError

from gateway.core.errors import GatewayError
from payments.models import Payment
from payments.money import format_money, to_minor_units
from payments.services.refunds import payment_refund


class Command(BaseCommand):
    help = "Refunds a payment through the same service as the API (same rules, same audit trail)."

    def add_arguments(self, parser):
        parser.add_argument("payment_id")
        parser.add_argument("--amount", help="Major units, e.g. 10.00; all that remains when absent.")
        parser.add_argument(
            "--reason", default="", help="duplicate, fraudulent, requested_by_customer, or text."
        )
        parser.add_argument("--client", help="The API client's name, when several share the payment id.")

    def handle(self, *args, payment_id: str, amount: str | None, reason: str, client: str | None, **options):
        payments = Payment.objects.filter(public_id=payment_id)
        if client:
            payments = payments.filter(client__name=client)
        found = payments.count()
        if found == 0:
            raise CommandError(
                f"No payment has id {payment_id!r}" + (f" for the client {client!r}." if client else ".")
            )
        if found > 1:
            raise CommandError(f"{found} payments have id {payment_id!r}; use --client to choose.")
        payment = payments.get()
        try:
            refund = payment_refund(
                payment=payment,
                reason=reason,
                actor=f"cli:{getpass.getuser()}",
                amount_minor=None if amount is None else to_minor_units(amount, payment.currency),
            )
        except GatewayError as exc:
            raise CommandError(f"Refund refused: {exc.message}") from exc
        payment.refresh_from_db()
        self.stdout.write(
            f"{refund.public_id}: {format_money(refund.amount_minor, refund.currency)} "
            f"{refund.status}; payment {payment.public_id} is {payment.status}, "
            f"{format_money(payment.refundable_minor, payment.currency)} still refundable"
        )
