from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "payments.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks to merchants"

    def ready(self) -> None:
        from gateway.core.operators import operator_permissions_register
        from payments.webhooks import receivers  # noqa: F401  fan-out after each outbox commit

        # Operators see merchants' endpoints and deliveries, and may send a failed one again.
        operator_permissions_register(
            "webhooks", "view_webhookendpoint", "view_webhookdelivery", "resend_webhookdelivery"
        )
