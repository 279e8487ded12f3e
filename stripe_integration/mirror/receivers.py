"""The mirror follows the payments: with DJSTRIPE_MIRROR=batch, each change of
a payment's state at the PSP asks for a mirror batch."""

from django.dispatch import receiver

from payments.signals import psp_state_applied


@receiver(psp_state_applied)
def enqueue_djstripe_sync(sender, payment_pk: int, **kwargs) -> None:
    from django.conf import settings

    from stripe_integration.mirror.batches import djstripe_mirror_soon

    if settings.DJSTRIPE_MIRROR != "batch":
        return  # lazy: mirrored on demand (the admin action, manage.py djstripe_mirror)

    djstripe_mirror_soon(payment_pk=payment_pk)
