"""The payments list and page: filters, the timeline and refunds inline, the
refund form, the overview, and the actions operators take on a payment."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from gateway.core.admin_base import has_model_permission
from gateway.core.admin_registry import ContributionsAdminMixin
from gateway.core.errors import GatewayError
from gateway.mfa.views import mfa_step_up_redirect
from payments.admin.widgets import operator_actor, status_badge
from payments.models import Payment, PaymentEvent, Refund
from payments.money import format_amount, format_money, to_minor_units
from payments.overview import overview_chart_svg, payments_overview
from payments.services.reconcile import payment_reconcile
from payments.services.refunds import payment_refund


class HasRefundsFilter(admin.SimpleListFilter):
    title = "refunds"
    parameter_name = "has_refunds"

    def lookups(self, request, model_admin):
        return [("yes", "With refunds"), ("no", "Without refunds")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(refunded_minor__gt=0)
        if self.value() == "no":
            return queryset.filter(refunded_minor=0)
        return queryset


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = [
        "public_id",
        "amount_text",
        "status",
        "reason",
        "reason_text",
        "actor",
        "stripe_refund_id",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description="amount")
    def amount_text(self, refund):
        return format_money(refund.amount_minor, refund.currency)


class PaymentEventInline(ReadOnlyInline):
    model = PaymentEvent
    verbose_name_plural = "timeline"
    fields = ["created_at", "type", "actor", "status_before", "status_after", "data", "request_id"]
    readonly_fields = fields
    ordering = ["id"]


class NeedsReviewFilter(admin.SimpleListFilter):
    title = "needs review"
    parameter_name = "needs_review"

    def lookups(self, request, model_admin):
        return [("yes", "Needs an operator")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(review_reason="")
        return queryset


class RefundForm(forms.Form):
    # One per form shown: a second submit of the same form (a double click, a
    # reload) finds the refund the first made instead of making another.
    submission_token = forms.UUIDField(widget=forms.HiddenInput)
    amount = forms.CharField(help_text="Major units, e.g. 10.00. Defaults to what remains refundable.")

    def amount_minor(self, currency: str) -> int:
        """Converted here, by the input, as every API serializer does (payments.money)."""
        return to_minor_units(self.cleaned_data["amount"].strip(), currency)

    reason = forms.CharField(
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="duplicate, fraudulent, requested_by_customer, or your own words.",
    )


@admin.register(Payment)
class PaymentAdmin(ContributionsAdminMixin, admin.ModelAdmin):
    list_display = [
        "public_id",
        "order_id",
        "client",
        "amount_text",
        "refunded_text",
        "status_text",
        "card_text",
        "created_at",
    ]
    list_filter = ["status", NeedsReviewFilter, "currency", "client", HasRefundsFilter]
    search_fields = ["=public_id", "=order_id", "email", "=card_last4", "=stripe_payment_intent_id"]
    date_hierarchy = "created_at"
    ordering = ["-id"]
    list_select_related = ["client"]
    list_per_page = 50
    show_full_result_count = False
    inlines = [RefundInline, PaymentEventInline]
    change_form_template = "admin/payments/payment/change_form.html"
    # Other apps add theirs (otp: "resend the code"; stripe_integration: the
    # dj-stripe mirror) through gateway.core.admin_registry.
    actions = ["refund_action", "sync_from_stripe"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "public_id",
                    "order_id",
                    "client",
                    "status_text",
                    "description",
                    "email",
                    "metadata",
                ]
            },
        ),
        (
            "Money",
            {"fields": ["amount_text", "captured_text", "refunded_text", "refundable_text", "currency"]},
        ),
        (
            "Card and PSP",
            {
                "fields": [
                    "card_text",
                    "card_fingerprint",
                    "payment_method_id",
                    "capture_method",
                    "stripe_payment_intent_id",
                    "contributed_links",
                    "stripe_charge_id",
                    "failure_code",
                    "failure_message",
                    "next_action",
                    "review_reason",
                ]
            },
        ),
        ("Kafka outbox", {"fields": ["outbox_rows"]}),
        ("Times", {"fields": ["created_at", "updated_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        return [name for fieldset in self.fieldsets for name in fieldset[1]["fields"]]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False  # read-only for everyone, superusers too: money moves through actions

    def has_delete_permission(self, request, obj=None):
        return False

    def has_refund_permission(self, request):
        return has_model_permission(self, request, "refund_payment")

    def has_sync_permission(self, request):
        return has_model_permission(self, request, "sync_payment")

    def has_overview_permission(self, request):
        return has_model_permission(self, request, "view_overview_payment")

    # --- columns and fields -----------------------------------------------------------------
    @admin.display(description="amount", ordering="amount_minor")
    def amount_text(self, payment):
        return format_money(payment.amount_minor, payment.currency)

    @admin.display(description="refunded", ordering="refunded_minor")
    def refunded_text(self, payment):
        return format_money(payment.refunded_minor, payment.currency) if payment.refunded_minor else "—"

    @admin.display(description="captured")
    def captured_text(self, payment):
        return format_money(payment.captured_minor, payment.currency)

    @admin.display(description="refundable")
    def refundable_text(self, payment):
        return format_money(payment.refundable_minor, payment.currency)

    @admin.display(description="status", ordering="status")
    def status_text(self, payment):
        return status_badge(payment.status)

    @admin.display(description="card")
    def card_text(self, payment):
        return f"{payment.card_brand} ···· {payment.card_last4}" if payment.card_last4 else "—"

    @admin.display(description="events and their publish state")
    def outbox_rows(self, payment):
        from gateway.events.models import OutboxEvent

        rows = OutboxEvent.objects.filter(aggregate_id=payment.public_id).order_by("id")
        if not rows:
            return "none"
        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    row.type,
                    row.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                    f"published {row.published_at:%H:%M:%S} (p{row.kafka_partition} @{row.kafka_offset})"
                    if row.published_at
                    else f"pending ({row.attempts} tries) {row.last_error}",
                    ", ".join(row.topics),
                )
                for row in rows
            ),
        )
        return format_html(
            "<table><tr><th>event</th><th>created</th><th>Kafka</th><th>topics</th></tr>{}</table>", body
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # The Refund button (admin/payments/payment/change_form.html) only for those allowed.
        extra_context = {**(extra_context or {}), "can_refund": self.has_refund_permission(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    # --- views --------------------------------------------------------------------------------
    def get_urls(self):
        return [
            path("overview/", self.admin_site.admin_view(self.overview_view), name="payments_overview"),
            path(
                "<int:pk>/refund/",
                self.admin_site.admin_view(self.refund_view),
                name="payments_payment_refund",
            ),
            *super().get_urls(),
        ]

    def refund_view(self, request, pk: int):
        if not self.has_refund_permission(request):
            raise PermissionDenied
        payment = get_object_or_404(Payment, pk=pk)
        # Back from a step-up check, the form as the operator filled it.
        initial = {
            "amount": request.GET.get("amount") or format_amount(payment.refundable_minor, payment.currency),
            "reason": request.GET.get("reason", ""),
            "submission_token": request.GET.get("submission_token") or uuid.uuid4(),
        }
        form = RefundForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            step_up = self._refund_step_up(request, payment, form)
            if step_up:
                return step_up
            try:
                refund = payment_refund(
                    payment=payment,
                    actor=operator_actor(request),
                    reason=form.cleaned_data["reason"],
                    amount_minor=form.amount_minor(payment.currency),
                    operation_key=f"admin:{form.cleaned_data['submission_token']}",
                    resume=True,
                )
            except GatewayError as exc:
                messages.error(request, f"Refund refused: {exc.message}")
            else:
                text = format_money(refund.amount_minor, refund.currency)
                self.log_change(
                    request, payment, f"Refunded {text} ({refund.public_id}): {form.cleaned_data['reason']}"
                )
                messages.success(request, f"Refunded {text} ({refund.status}).")
                return redirect("admin:payments_payment_change", payment.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Refund {payment.public_id}",
            "payment": payment,
            "form": form,
            "opts": self.model._meta,
            "refundable": format_money(payment.refundable_minor, payment.currency),
        }
        return TemplateResponse(request, "admin/payments/payment/refund.html", context)

    @staticmethod
    def _refund_step_up(request, payment, form):
        """A refund above ADMIN_STEP_UP_ABOVE needs a recent second factor
        (gateway.mfa); the redirect comes back to this form, filled in."""
        try:
            amount_minor = form.amount_minor(payment.currency)
        except GatewayError:
            return None  # refused by the service below, with its own message
        thresholds = settings.ADMIN_STEP_UP_ABOVE
        limit = thresholds.get(payment.currency.lower(), thresholds.get("*"))
        # The payment's refunds together: splitting a refund does not avoid the check.
        if limit is None or payment.refunded_minor + amount_minor <= limit:
            return None
        filled = urlencode(
            {
                "amount": form.cleaned_data["amount"],
                "reason": form.cleaned_data["reason"],
                "submission_token": form.cleaned_data["submission_token"],
            }
        )
        return mfa_step_up_redirect(
            request,
            next_url=f"{request.path}?{filled}",
            reason=f"A refund above {format_money(limit, payment.currency)} needs your second factor again.",
        )

    def overview_view(self, request):
        if not self.has_overview_permission(request):
            raise PermissionDenied
        data = payments_overview()
        context = {
            **self.admin_site.each_context(request),
            "title": "Payments overview",
            "data": data,
            # Safe: the SVG is built from numbers, dates and escaped amount and
            # currency text only (payments.overview.overview_chart_svg).
            "chart": mark_safe(overview_chart_svg(data["days"], data["chart_currency"])),  # noqa: S308  # nosec B308, B703
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/payments/overview.html", context)

    # --- actions --------------------------------------------------------------------------------
    @admin.action(description="Refund the selected payment…", permissions=["refund"])
    def refund_action(self, request, queryset):
        if queryset.count() != 1:
            messages.warning(request, "Select exactly one payment to refund.")
            return None
        return redirect("admin:payments_payment_refund", queryset.get().pk)

    @admin.action(description="Sync from Stripe", permissions=["sync"])
    def sync_from_stripe(self, request, queryset):
        changed = 0
        for payment in queryset:
            before = payment.status
            try:
                changed += payment_reconcile(payment=payment, actor=operator_actor(request)).status != before
            except GatewayError as exc:
                messages.error(request, f"{payment.public_id}: {exc.message}")
        messages.info(request, f"Synced {queryset.count()} payment(s); {changed} changed status.")
