from django.apps import AppConfig


class OtpConfig(AppConfig):
    name = "otp"
    verbose_name = "One-time codes"

    def ready(self) -> None:
        from otp import receivers  # noqa: F401  sends the first code of a held payment
