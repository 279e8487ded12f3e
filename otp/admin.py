"""The OTP app's part of the operators' back-office: the "resend the code"
action on the payments list (payments knows nothing of codes; this app builds
on it and registers its action with gateway.core.admin_registry)."""

from django.contrib import admin, messages

from gateway.core.admin_registry import admin_action_register
from gateway.core.errors import GatewayError
from otp.services import otp_send_after_commit
from payments.enums import PaymentStatus


# Its permission (otp.resend_code) is declared where it is registered, below:
# the registry offers it only to users who have it.
@admin.action(description="Resend the one-time code")
def resend_otp(model_admin, request, queryset):
    sent = 0
    for payment in queryset.filter(status=PaymentStatus.REQUIRES_OTP):
        try:
            otp_send_after_commit(payment=payment)
            sent += 1
        except GatewayError as exc:
            messages.error(request, f"{payment.public_id}: {exc.message}")
    messages.info(request, f"Asked for {sent} new code(s).")


admin_action_register("payments.Payment", resend_otp, permission="otp.resend_code")
