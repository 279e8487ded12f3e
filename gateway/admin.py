from django.contrib import admin, messages

from gateway.admin_base import ReadOnlyModelAdmin, has_model_permission
from gateway.events.models import OutboxEvent
from gateway.events.outbox import outbox_pending_count, outbox_relay
from gateway.mfa import admin as mfa_admin  # noqa: F401  (registers the operators' admin)

admin.site.site_header = "Payment gateway back-office"
admin.site.site_title = "Payment gateway"
admin.site.index_template = "admin/gateway_index.html"

_password_permission = admin.site.has_permission


def _has_permission(request) -> bool:
    """The admin's own gate also asks for the second factor (gateway.mfa's
    middleware sends an unverified session to it first)."""
    verified = getattr(request.user, "is_verified", None)
    return _password_permission(request) and verified is not None and verified()


admin.site.has_permission = _has_permission

# The operators' tool first: the gateway's own records, then the integrations,
# then accounts; dj-stripe's ~60 mirrored models fold into one link to their
# own page (/admin/djstripe/), one click away for the staff who need them.
_APP_ORDER = ("payments", "webhooks", "gateway", "stripe_integration", "otp", "auth", "axes")
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
_full_app_list = admin.site.get_app_list


def _operators_app_list(request, app_label=None):
    if not _has_permission(request):
        return []  # a password-only session sees no model, not even in the sidebar
    apps = _full_app_list(request, app_label)
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
        key=lambda app: (app["app_label"] == _MIRROR_APP, rank.get(app["app_label"], len(rank)), app["name"])
    )
    return apps


admin.site.get_app_list = _operators_app_list


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyModelAdmin):
    list_display = [
        "id",
        "type",
        "aggregate_id",
        "topics",
        "published_at",
        "attempts",
        "last_error",
        "created_at",
    ]
    list_filter = [("published_at", admin.EmptyFieldListFilter), "type"]
    search_fields = ["=aggregate_id", "=event_id"]
    actions = ["publish_now"]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "title": f"Outbox: {outbox_pending_count()} event(s) pending",
        }
        return super().changelist_view(request, extra_context)

    def has_publish_permission(self, request) -> bool:
        return has_model_permission(self, request, "publish_outboxevent")

    @admin.action(description="Publish pending events now", permissions=["publish"])
    def publish_now(self, request, queryset):
        result = outbox_relay()
        level = messages.ERROR if result.error else messages.SUCCESS
        messages.add_message(
            request, level, f"Published {result.published}; {result.pending} pending. {result.error}"
        )
