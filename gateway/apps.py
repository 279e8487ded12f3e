from django.apps import AppConfig


class GatewayConfig(AppConfig):
    """The project package as an app, so it can hold cross-cutting commands and checks."""

    name = "gateway"
    verbose_name = "Gateway"

    def ready(self) -> None:
        # Every app's admin is registered by now (django.contrib.admin autodiscovers first).
        from django.contrib import admin

        from gateway.admin_base import admin_require_declared_permissions

        admin_require_declared_permissions(admin.site)

        # A rate that cannot be read stops start-up, rather than read as "the
        # cache is down" on every request (and limits off, with fail-open).
        from gateway.ratelimit import rate_limits_validate

        rate_limits_validate()

        from gateway.operators import operator_permissions_register

        # Operators see the outbox and may publish what waits in it now.
        operator_permissions_register("gateway", "view_outboxevent", "publish_outboxevent")
