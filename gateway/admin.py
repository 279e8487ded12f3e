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
