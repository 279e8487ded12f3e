from django.apps import AppConfig


class MirrorConfig(AppConfig):
    """The dj-stripe mirror. Installed with dj-stripe unless DJSTRIPE_MIRROR=off
    (gateway/settings/project.py): then neither dj-stripe's tables nor this app
    exist, and nothing else in the gateway notices."""

    name = "stripe_integration.mirror"
    label = "djstripe_mirror"
    verbose_name = "dj-stripe mirror"

    def ready(self) -> None:
        from gateway.core.admin_base import admin_unguarded_view_register
        from stripe_integration.mirror import receivers  # noqa: F401  follows the payments

        # dj-stripe's confirmation view runs its "resync" and "sync all" actions
        # for any staff user who posts to it, calling Stripe with the key it stores.
        admin_unguarded_view_register("djstripe_custom_action")
