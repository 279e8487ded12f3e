from django.core.management.base import BaseCommand

from otp.services import otp_expire_payments


class Command(BaseCommand):
    help = "Cancels payments still waiting for a one-time code after OTP_PAYMENT_EXPIRY_MINUTES."

    def handle(self, *args, **options):
        self.stdout.write(f"canceled {otp_expire_payments()} expired payment(s)")
