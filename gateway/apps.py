from django.apps import AppConfig


class GatewayConfig(AppConfig):
    """The project package as an app, so it can hold cross-cutting commands and checks."""

    name = "gateway"
    verbose_name = "Gateway"

    def ready(self) -> None:
        from gateway import schema  # noqa: F401  registers the OpenAPI auth extension
        from gateway.events import receivers  # noqa: F401  connects the outbox receivers
