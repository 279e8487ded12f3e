"""Webhook endpoints and deliveries in the back office: read-only, never a
secret; resending a delivery is an action with its own permission."""

from __future__ import annotations

from django.contrib import admin, messages

from gateway.core.admin_base import ReadOnlyModelAdmin, has_model_permission
from payments.webhooks.models import EndpointStatus, WebhookDelivery, WebhookEndpoint
from payments.webhooks.services import webhook_delivery_resend

RECENT_DELIVERIES = 20
_DELIVERY_FIELDS = [
    "event_id",
    "event_type",
    "status",
    "attempts",
    "last_status_code",
    "last_duration_ms",
    "last_error",
    "next_attempt_at",
    "created_at",
    "delivered_at",
]


class FailingFilter(admin.SimpleListFilter):
    title = "delivery health"
    parameter_name = "failing"

    def lookups(self, request, model_admin):
        return [("yes", "Failing (enabled, last attempts failed)"), ("disabled", "Disabled")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status=EndpointStatus.ENABLED, failing_since__isnull=False)
        if self.value() == "disabled":
            return queryset.filter(status=EndpointStatus.DISABLED)
        return queryset


class RecentDeliveryInline(admin.TabularInline):
    """The endpoint's latest deliveries (WebhookEndpointAdmin limits the rows)."""

    model = WebhookDelivery
    fields = _DELIVERY_FIELDS
    readonly_fields = _DELIVERY_FIELDS
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = f"latest {RECENT_DELIVERIES} deliveries"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyModelAdmin):
    list_display = [
        "public_id",
        "client",
        "url",
        "status",
        "events",
        "failing_since",
        "backoff_until",
        "created_at",
    ]
    list_filter = [FailingFilter, "status"]
    list_select_related = ["client"]
    search_fields = ["=public_id", "url"]
    # Never the secret nor the one before it.
    fields = [
        "public_id",
        "client",
        "url",
        "description",
        "events",
        "status",
        "failing_since",
        "backoff_until",
        "disabled_at",
        "disabled_reason",
        "previous_secret_expires_at",
        "deleted_at",
        "created_at",
    ]
    readonly_fields = fields
    inlines = [RecentDeliveryInline]

    def get_formset_kwargs(self, request, obj, inline, prefix):
        kwargs = super().get_formset_kwargs(request, obj, inline, prefix)
        if isinstance(inline, RecentDeliveryInline) and obj is not None:
            latest = list(
                WebhookDelivery.objects.filter(endpoint=obj)
                .order_by("-id")
                .values_list("id", flat=True)[:RECENT_DELIVERIES]
            )
            kwargs["queryset"] = inline.get_queryset(request).filter(pk__in=latest).order_by("-id")
        return kwargs


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyModelAdmin):
    list_display = [
        "event_type",
        "event_id",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "created_at",
    ]
    list_filter = ["status", "event_type"]
    list_select_related = ["endpoint"]
    search_fields = ["=event_id", "=endpoint__public_id"]
    readonly_fields = [*_DELIVERY_FIELDS, "endpoint", "attempt_history"]
    fields = readonly_fields
    actions = ["resend"]

    def has_resend_permission(self, request) -> bool:
        return has_model_permission(self, request, "resend_webhookdelivery")

    @admin.action(description="Resend the selected deliveries", permissions=["resend"])
    def resend(self, request, queryset):
        resent = refused = 0
        for delivery in queryset.select_related("endpoint"):
            if webhook_delivery_resend(delivery=delivery):
                self.log_change(request, delivery, "Resent to its endpoint")
                resent += 1
            else:
                refused += 1
        messages.info(request, f"{resent} delivery(ies) queued to be sent again.")
        if refused:
            messages.warning(request, f"{refused} not resent: their endpoint is disabled or deleted.")
