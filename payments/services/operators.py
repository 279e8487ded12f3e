"""The Operators group: who may look at payments in the admin, and who may refund."""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from gateway.core.operators import operator_permissions

OPERATORS_GROUP = "Operators"


def operators_group_ensure() -> Group:
    """Idempotent; run after every migrate (payments.apps). The permissions are
    the ones each app registered for operators (gateway.core.operators); not
    revoking merchants' keys, nor reprocessing Stripe's webhooks: those are for
    administrators."""
    group, _ = Group.objects.get_or_create(name=OPERATORS_GROUP)
    permissions = [
        p
        for app, codename in operator_permissions()
        for p in Permission.objects.filter(content_type__app_label=app, codename=codename)
    ]
    group.permissions.add(*permissions)
    return group
