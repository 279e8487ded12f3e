"""Signals the payments app sends. Receivers record or enqueue; they hold no rules."""

from django.dispatch import Signal

# Sent inside the transaction that holds a new payment for a one-time code
# (status requires_otp); the OTP app listens and sends the first code after
# commit. Argument: payment. A receiver's error fails the payment's request.
payment_held_for_otp = Signal()

# Sent after commit, once the PSP's view of a payment (charge, capture, refund,
# cancel) has been applied to it. Argument: payment_pk.
psp_state_applied = Signal()


def psp_state_applied_after_commit(payment_pk: int) -> None:
    from django.db import transaction

    # robust: a failing receiver is logged and never undoes or fails the payment.
    transaction.on_commit(
        lambda: psp_state_applied.send(sender="payments", payment_pk=payment_pk), robust=True
    )
