from django.apps import AppConfig


class StripeIntegrationConfig(AppConfig):
    name = "stripe_integration"
    verbose_name = "Stripe integration"

    def ready(self) -> None:
        from gateway.core.health import readiness_check_register
        from stripe_integration.health import check_psp

        readiness_check_register("psp", check_psp)

        from gateway.core.operators import operator_permissions_register

        # Operators see Stripe's deliveries (reprocessing them is for administrators).
        operator_permissions_register("stripe_integration", "view_stripewebhookevent")
