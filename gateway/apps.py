from django.apps import AppConfig


class GatewayConfig(AppConfig):
    """The project package as an app, so it can hold cross-cutting commands and checks."""

    name = "gateway"
    verbose_name = "Gateway"

    def ready(self) -> None:
        # Every app's admin is registered by now (django.contrib.admin autodiscovers first).
        from django.contrib import admin

        from gateway import schema  # noqa: F401  registers the OpenAPI auth extension
        from gateway.admin_base import admin_require_declared_permissions
        from gateway.events import receivers  # noqa: F401  connects the outbox receivers

        admin_require_declared_permissions(admin.site)
