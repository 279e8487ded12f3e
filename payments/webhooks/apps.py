from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "payments.webhooks"
    label = "webhooks"
    verbose_name = "Webhooks to merchants"

    def ready(self) -> None:
        from payments.webhooks import receivers  # noqa: F401  fan-out after each outbox commit
