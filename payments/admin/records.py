"""Refunds, API clients and Idempotency-Keys: records operators look at and act on through actions."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from gateway.core.admin_base import ReadOnlyModelAdmin, has_model_permission
from gateway.core.errors import GatewayError
from gateway.mfa.views import mfa_step_up_redirect
from payments.admin.widgets import operator_actor
from payments.enums import RefundStatus
from payments.models import ApiClient, IdempotencyKey, Refund
from payments.money import format_money
from payments.services.api_clients import api_client_issue_key, api_client_revoke
from payments.services.reconcile import refund_reconcile


@admin.register(Refund)
class RefundAdmin(admin.ModelAdmin):
    list_display = ["public_id", "payment_link", "amount_text", "status", "reason", "actor", "created_at"]
    list_filter = ["status", "reason", "currency"]
    search_fields = ["=public_id", "=payment__public_id", "=stripe_refund_id"]
    date_hierarchy = "created_at"
    list_select_related = ["payment"]
    actions = ["reconcile"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Refund._meta.fields]

    def has_refund_permission(self, request):
        return request.user.has_perm("payments.refund_payment")  # the payments' permission

    @admin.action(description="Settle pending refunds from the PSP", permissions=["refund"])
    def reconcile(self, request, queryset):
        settled = 0
        for refund in queryset.filter(status=RefundStatus.PENDING).select_related("payment"):
            try:
                settled += (
                    refund_reconcile(refund=refund, actor=operator_actor(request)).status
                    != RefundStatus.PENDING
                )
            except GatewayError as exc:
                messages.error(request, f"{refund.public_id}: {exc.message}")
        messages.info(request, f"{settled} pending refund(s) settled.")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # read-only for everyone: refunds settle through actions

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="amount", ordering="amount_minor")
    def amount_text(self, refund):
        return format_money(refund.amount_minor, refund.currency)

    @admin.display(description="payment")
    def payment_link(self, refund):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:payments_payment_change", args=[refund.payment_id]),
            refund.payment.public_id,
        )


class ApiClientForm(forms.ModelForm):
    class Meta:
        model = ApiClient
        fields = ["name"]


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ["name", "key_prefix", "is_active", "payment_count", "created_at", "revoked_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "=key_prefix"]
    actions = ["revoke"]
    form = ApiClientForm

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(payments_total=Count("payments"))

    def get_readonly_fields(self, request, obj=None):
        return ["key_prefix", "is_active", "created_at", "revoked_at"] if obj else []

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: payments keep pointing at their client

    @admin.display(description="payments", ordering="payments_total")
    def payment_count(self, client):
        return client.payments_total

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
            return
        # Shown by response_add in its own answer only: never in the messages
        # cookie (or session), which would carry it on to later requests.
        request._issued_api_key = api_client_issue_key(client=obj)

    def add_view(self, request, form_url="", extra_context=None):
        step_up = mfa_step_up_redirect(
            request, next_url=request.get_full_path(), reason="A new API key needs your second factor again."
        )
        return step_up or super().add_view(request, form_url, extra_context)

    def response_add(self, request, obj, post_url_continue=None):
        raw_key = getattr(request, "_issued_api_key", None)
        if raw_key is None:
            return super().response_add(request, obj, post_url_continue)
        context = {
            **self.admin_site.each_context(request),
            "title": f"API key of {obj.name}",
            "client": obj,
            "raw_key": raw_key,
            "opts": self.opts,
        }
        response = TemplateResponse(request, "admin/payments/apiclient/key_issued.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def has_revoke_permission(self, request):
        return has_model_permission(self, request, "revoke_apiclient")

    @admin.action(description="Revoke the selected keys", permissions=["revoke"])
    def revoke(self, request, queryset):
        step_up = mfa_step_up_redirect(
            request,
            next_url=request.get_full_path(),
            reason="Revoking an API key needs your second factor again; then revoke it once more.",
        )
        if step_up:
            return step_up
        for client in queryset.filter(is_active=True):
            api_client_revoke(client=client)
            self.log_change(request, client, "Revoked")
        messages.success(request, "Revoked.")


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyModelAdmin):
    list_display = ["key", "client", "method", "path", "state", "response_status", "created_at", "expires_at"]
    list_filter = ["state", "method"]
    search_fields = ["=key"]
    list_select_related = ["client"]
