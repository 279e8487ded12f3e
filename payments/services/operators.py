"""The Operators group: who may look at payments in the admin, and who may refund."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

OPERATORS_GROUP = "Operators"
# Operators look at everything payments-related and refund; nothing else.
_VIEW = [("payments", m) for m in ("payment", "refund", "paymentevent", "apiclient", "idempotencykey")] + [
    ("gateway", "outboxevent"),
    ("stripe_integration", "stripewebhookevent"),
    ("webhooks", "webhookendpoint"),
    ("webhooks", "webhookdelivery"),
]


def operators_group_ensure() -> Group:
    """Idempotent; run after every migrate (payments.apps)."""
    group, _ = Group.objects.get_or_create(name=OPERATORS_GROUP)
    # Not revoking merchants' keys, nor reprocessing webhooks: those are for administrators.
    wanted = [
        ("payments", "refund_payment"),
        ("payments", "sync_payment"),
        ("payments", "resend_otp_payment"),
        ("payments", "view_overview_payment"),
        ("gateway", "publish_outboxevent"),
        # A merchant's webhook that failed, sent again (the merchant's own endpoint, same event).
        ("webhooks", "resend_webhookdelivery"),
    ] + [(app, f"view_{model}") for app, model in _VIEW]
    permissions = [
        p
        for app, codename in wanted
        for p in Permission.objects.filter(content_type__app_label=app, codename=codename)
    ]
    group.permissions.add(*permissions)
    return group
