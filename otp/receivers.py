"""The OTP app's receivers of the payments app's signals."""

from django.dispatch import receiver

from payments.signals import payment_held_for_otp


@receiver(payment_held_for_otp, dispatch_uid="otp-first-code")
def send_the_first_code(sender, payment, **kwargs) -> None:
    from otp.services import otp_send_after_commit

    otp_send_after_commit(payment=payment)
