from django.contrib import admin, messages

from gateway.core.admin_base import ReadOnlyModelAdmin, has_model_permission
from gateway.events.models import OutboxEvent
from gateway.events.outbox import outbox_pending_count, outbox_relay


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
