from django.apps import AppConfig


class OtpConfig(AppConfig):
    name = "otp"
    verbose_name = "One-time codes"

    def ready(self) -> None:
        from gateway.operators import operator_permissions_register
        from otp import receivers  # noqa: F401  sends the first code of a held payment

        # Resending a payment's code (an action of this app, declared on the payment it acts on).
        operator_permissions_register("payments", "resend_otp_payment")
