from django.apps import AppConfig


class StripeIntegrationConfig(AppConfig):
    name = "stripe_integration"
    verbose_name = "Stripe integration"

    def ready(self) -> None:
        from stripe_integration import signals  # noqa: F401  connects the receivers
