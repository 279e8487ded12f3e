"""A cap on one username's failed logins from all addresses together.

django-axes locks a username-and-address pair (AXES_LOCKOUT_PARAMETERS), so a
stranger's wrong passwords lock only the stranger. A password guessed from many
addresses is stopped by this cap: past ADMIN_LOGIN_USERNAME_LIMIT failures
within the cool-off, the username may sign in only from an address it signed in
from before (axes' access log). A stranger can close the new addresses of a
known operator for a while, never the ones the operator works from.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Sum, Value
from django.db.models.functions import Least
from django.utils import timezone

from gateway.core.ratelimit import client_ip

logger = logging.getLogger("gateway.mfa")


def login_username_capped(*, username: str, ip_address: str) -> bool:
    now = timezone.now()
    # At most AXES_FAILURE_LIMIT per address: one address, locked already, cannot
    # fill the cap alone; it takes guesses from many.
    failures = (
        AccessAttempt.objects.filter(username=username, attempt_time__gte=now - settings.AXES_COOLOFF_TIME)
        .aggregate(total=Sum(Least("failures_since_start", Value(settings.AXES_FAILURE_LIMIT))))
        .get("total")
        or 0
    )
    if failures < settings.ADMIN_LOGIN_USERNAME_LIMIT:
        return False
    known = AccessLog.objects.filter(
        username=username,
        ip_address=ip_address,
        attempt_time__gte=now - timedelta(days=settings.ADMIN_LOGIN_KNOWN_ADDRESS_DAYS),
    ).exists()
    return not known


class UsernameCapBackend:
    """After axes' backend in AUTHENTICATION_BACKENDS: refuses (PermissionDenied stops the
    other backends, and axes counts the failure) a capped username from an
    address it never signed in from. Authenticates nobody itself, and has no
    get_user: sessions name the backend that did (ModelBackend)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None or not username:
            return None
        ip_address = client_ip(request)
        if login_username_capped(username=username, ip_address=ip_address):
            logger.warning(
                "Login of %s from a new address %s refused: the username's cap is reached",
                username,
                ip_address,
            )
            raise PermissionDenied
        return None
