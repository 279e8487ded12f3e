"""The Stripe integration's part of the back-office: Stripe's webhook
deliveries (the dj-stripe mirror's part is stripe_integration.mirror.admin)."""

from django.contrib import admin, messages

from gateway.core.admin_base import ReadOnlyModelAdmin, has_model_permission
from stripe_integration.models import StripeWebhookEvent
from stripe_integration.webhooks import webhook_reprocess


@admin.register(StripeWebhookEvent)
class StripeWebhookEventAdmin(ReadOnlyModelAdmin):
    list_display = ["received_at", "event_id", "type", "processed", "attempts", "error"]
    list_filter = ["processed", "type"]
    search_fields = ["=event_id"]
    actions = ["reprocess"]

    def has_reprocess_permission(self, request) -> bool:
        return has_model_permission(self, request, "reprocess_stripewebhookevent")

    @admin.action(description="Process the selected events again", permissions=["reprocess"])
    def reprocess(self, request, queryset):
        done = sum(webhook_reprocess(record=record).processed for record in queryset)
        messages.info(request, f"{done} of {queryset.count()} processed.")
