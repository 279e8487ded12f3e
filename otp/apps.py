from django.apps import AppConfig


class OtpConfig(AppConfig):
    name = "otp"
    verbose_name = "One-time codes"

    def ready(self) -> None:
        from gateway.core.operators import operator_permissions_register
        from otp import receivers  # noqa: F401  sends the first code of a held payment

        # Resending a held payment's code (otp.models.HeldPayment declares it).
        operator_permissions_register("otp", "resend_code")
