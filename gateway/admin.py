"""The back office's admin site: a second factor before any page (gateway.mfa's
middleware sends an unverified session to it first), and the operators' tools
listed first. The project wires it (gateway.apps.GatewayAdminConfig), so it
may name every app."""

from django.contrib import admin

# The operators' tool first: the gateway's own records, then the integrations,
# then accounts; dj-stripe's ~60 mirrored models fold into one link to their
# own page (/admin/djstripe/), one click away for the staff who need them.
_APP_ORDER = ("payments", "webhooks", "events", "stripe_integration", "otp", "auth", "axes")
_MODEL_ORDER = (
    "Payment",
    "Refund",
    "ApiClient",
    "PaymentEvent",
    "IdempotencyKey",
    "OutboxEvent",
    "WebhookEndpoint",
    "WebhookDelivery",
)
_MIRROR_APP = "djstripe"


class BackOfficeSite(admin.AdminSite):
    site_header = "Payment gateway back-office"
    site_title = "Payment gateway"
    index_template = "admin/gateway_index.html"

    def has_permission(self, request) -> bool:
        """A password is not enough: the session has passed a second factor."""
        verified = getattr(request.user, "is_verified", None)
        return super().has_permission(request) and verified is not None and verified()

    def get_app_list(self, request, app_label=None):
        if not self.has_permission(request):
            return []  # a password-only session sees no model, not even in the sidebar
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps
        rank = {label: position for position, label in enumerate(_APP_ORDER)}
        model_rank = {name: position for position, name in enumerate(_MODEL_ORDER)}
        for app in apps:
            app["models"].sort(
                key=lambda model: (model_rank.get(model["object_name"], len(model_rank)), model["name"])
            )
            if app["app_label"] == _MIRROR_APP:
                app["name"] = f"Stripe mirror (dj-stripe): {len(app['models'])} models"
                app["models"] = []
        apps.sort(
            key=lambda app: (
                app["app_label"] == _MIRROR_APP,
                rank.get(app["app_label"], len(rank)),
                app["name"],
            )
        )
        return apps
