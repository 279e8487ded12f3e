from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The ground every app builds on: the error family, middleware, rate
    limiting, logging, the health and metrics registries, parsers. It imports
    no other app of ours; apps register with it from their own ready()."""

    name = "gateway.core"
    label = "core"
    verbose_name = "Gateway core"

    def ready(self) -> None:
        # Every app's admin is registered by now (the admin app is listed first
        # and autodiscovers in its own ready()).
        from django.contrib import admin

        from gateway.core.admin_base import admin_require_declared_permissions

        admin_require_declared_permissions(admin.site)

        # A rate that cannot be read stops start-up, rather than read as "the
        # cache is down" on every request (and limits off, with fail-open).
        from gateway.core.ratelimit import rate_limits_validate

        rate_limits_validate()

        from django.core import checks

        from gateway.core.browser_only import csrf_middleware_check

        checks.register(csrf_middleware_check, checks.Tags.security)
