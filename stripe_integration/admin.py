from django.contrib import admin, messages

from stripe_integration.models import StripeWebhookEvent
from stripe_integration.webhooks import webhook_reprocess


@admin.register(StripeWebhookEvent)
class StripeWebhookEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "event_id", "type", "signature_valid", "processed", "attempts", "error"]
    list_filter = ["signature_valid", "processed", "type"]
    search_fields = ["=event_id"]
    actions = ["reprocess"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Process the selected events again")
    def reprocess(self, request, queryset):
        done = sum(
            webhook_reprocess(record=record).processed for record in queryset.filter(signature_valid=True)
        )
        messages.info(request, f"{done} of {queryset.count()} processed.")
