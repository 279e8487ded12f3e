"""The mirror on the payments' pages: the "Mirror into dj-stripe" action and the
link to the mirrored PaymentIntent (payments knows nothing of dj-stripe's
tables; gateway.core.admin_registry carries them)."""

from django.contrib import admin, messages
from django.urls import reverse

from gateway.core.admin_registry import admin_action_register, admin_link_register
from gateway.core.errors import GatewayError
from stripe_integration.mirror.batches import djstripe_mirror_request
from stripe_integration.mirror.sync import djstripe_mirrored_payment_intent


# Its permission (payments.sync_payment) is declared where it is registered,
# below: the registry offers it only to users who have it.
@admin.action(description="Mirror into dj-stripe")
def mirror_into_djstripe(model_admin, request, queryset):
    """With DJSTRIPE_MIRROR=lazy (the default) nothing is mirrored after a
    change: this queues the selected payments' Stripe objects for the next
    mirror batch, a few seconds from now."""
    try:
        queued = djstripe_mirror_request(
            payment_pks=list(queryset.exclude(stripe_payment_intent_id="").values_list("pk", flat=True))
        )
    except GatewayError as exc:
        messages.error(request, exc.message)
        return
    messages.info(request, f"{queued} payment(s) queued for the dj-stripe mirror; reload in a few seconds.")


def djstripe_payment_intent_link(payment):
    """The payment's PaymentIntent in dj-stripe's admin, once mirrored."""
    if not payment.stripe_payment_intent_id:
        return None
    intent = djstripe_mirrored_payment_intent(payment=payment)
    if intent is None:
        return ("dj-stripe PaymentIntent: not synced yet", None)
    return (
        f"dj-stripe PaymentIntent {intent.id}",
        reverse("admin:djstripe_paymentintent_change", args=[intent.djstripe_id]),
    )


admin_action_register("payments.Payment", mirror_into_djstripe, permission="payments.sync_payment")
admin_link_register("payments.Payment", djstripe_payment_intent_link)
