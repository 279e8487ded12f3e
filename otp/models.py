"""The OTP app keeps its codes in Redis (or the cache), not in tables. Its one
model is a proxy of payments.Payment that carries this app's permission (to
resend a held payment's code), so that the permission is declared here, by
the app that owns the action, and not on the payment."""

from payments.models import Payment


class HeldPayment(Payment):
    class Meta:
        proxy = True
        verbose_name = "payment held for its one-time code"
        permissions = [("resend_code", "Can resend a held payment's one-time code")]
        default_permissions = ()
