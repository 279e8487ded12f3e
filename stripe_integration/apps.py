from django.apps import AppConfig


class StripeIntegrationConfig(AppConfig):
    name = "stripe_integration"
    verbose_name = "Stripe integration"

    def ready(self) -> None:
        from gateway.core.health import readiness_check_register
        from stripe_integration import signals  # noqa: F401  connects the receivers
        from stripe_integration.health import check_psp

        readiness_check_register("psp", check_psp)

        from gateway.core.admin_base import admin_unguarded_view_register

        # dj-stripe's confirmation view runs its "resync" and "sync all" actions
        # for any staff user who posts to it, calling Stripe with the key it stores.
        admin_unguarded_view_register("djstripe_custom_action")

        from gateway.core.operators import operator_permissions_register

        # Operators see Stripe's deliveries (reprocessing them is for administrators).
        operator_permissions_register("stripe_integration", "view_stripewebhookevent")
