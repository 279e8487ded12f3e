"""What the MFA pages and the admin's step-up checks do; the cryptography is
django-otp's and py_webauthn's."""

from __future__ import annotations

import logging
import secrets
import time

from django.conf import settings
from django.contrib.sessions.models import Session
from django.db import transaction
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from gateway.core.errors import PermissionDeniedError

logger = logging.getLogger("gateway.mfa")

VERIFIED_AT_SESSION_KEY = "mfa_verified_at"
RECOVERY_DEVICE_NAME = "Recovery codes"
RECOVERY_CODE_COUNT = 10


def mfa_enrolled(user) -> bool:
    """A confirmed passkey or authenticator app (recovery codes alone are not a factor to enrol with)."""
    return (
        WebAuthnCredential.objects.filter(user=user, confirmed=True).exists()
        or TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    )


def mfa_factors(user) -> dict:
    """What the verify page offers this user."""
    recovery = StaticDevice.objects.filter(user=user, confirmed=True).first()
    return {
        "passkeys": WebAuthnCredential.objects.filter(user=user, confirmed=True).count(),
        "totp": TOTPDevice.objects.filter(user=user, confirmed=True).exists(),
        "recovery_codes": recovery.token_set.count() if recovery else 0,
    }


def mfa_session_verify(request, device) -> None:
    """Marks this session as having passed the second factor now: django-otp's
    mark, a new session key (no fixation across the privilege change), and the
    time the step-up checks read."""
    if device.user_id != request.user.pk:
        raise PermissionDeniedError("This second factor is another user's.")
    otp_login(request, device)
    request.session.cycle_key()
    request.session[VERIFIED_AT_SESSION_KEY] = int(time.time())
    logger.info("Second factor passed by %s (%s)", request.user.get_username(), type(device).__name__)


def mfa_step_up_fresh(request) -> bool:
    """A second factor was checked in this session within ADMIN_STEP_UP_SECONDS."""
    verified_at = request.session.get(VERIFIED_AT_SESSION_KEY)
    if verified_at is None or not request.user.is_verified():
        return False
    return time.time() - verified_at <= settings.ADMIN_STEP_UP_SECONDS


def mfa_code_verify(*, user, method: str, code: str):
    """The device that accepts this code, or None. TOTP codes are checked with
    django-otp's drift window, replay guard and throttle; a recovery code is
    used up by the check."""
    code = "".join(code.split()).replace("-", "").lower()
    if not code or len(code) > 32:
        return None
    model = {"totp": TOTPDevice, "recovery": StaticDevice}.get(method)
    if model is None:
        return None
    # Under the devices' row lock: parallel guesses each count against
    # django-otp's throttle, and a code is used once.
    with transaction.atomic():
        for device in model.objects.select_for_update().filter(user=user, confirmed=True):
            allowed, _ = device.verify_is_allowed()
            if allowed and device.verify_token(code):
                return device
    return None


def mfa_code_throttled(*, user, method: str) -> bool:
    """django-otp's delay after wrong codes is running for every device of this kind."""
    model = {"totp": TOTPDevice, "recovery": StaticDevice}[method]
    devices = list(model.objects.filter(user=user, confirmed=True))
    return bool(devices) and not any(device.verify_is_allowed()[0] for device in devices)


def mfa_totp_pending(*, user) -> TOTPDevice:
    """The authenticator app being set up: an unconfirmed device until its first code."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def mfa_recovery_codes_issue(*, user) -> list[str]:
    """Ten new one-time codes; the earlier ones stop working. Shown once by the caller."""
    codes = [secrets.token_hex(5) for _ in range(RECOVERY_CODE_COUNT)]
    with transaction.atomic():
        device, _ = StaticDevice.objects.get_or_create(
            user=user, name=RECOVERY_DEVICE_NAME, defaults={"confirmed": True}
        )
        device.token_set.all().delete()
        StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def mfa_factors_reset(*, user, actor) -> int:
    """Removes every second factor of `user` (a lost passkey or phone): the next
    login enrols again. Only another superuser may; the caller audits it."""
    if not actor.is_superuser:
        raise PermissionDeniedError("Only a superuser may reset another operator's second factor.")
    if actor.pk == user.pk:
        raise PermissionDeniedError("Another superuser must reset your second factor.")
    with transaction.atomic():
        removed = sum(
            model.objects.filter(user=user).delete()[0]
            for model in (WebAuthnCredential, TOTPDevice, StaticDevice)
        )
        # Sessions of that user end: whoever holds one must sign in (and enrol) again.
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator():
            if session.get_decoded().get("_auth_user_id") == str(user.pk):
                session.delete()
    logger.warning("Second factors of %s reset by %s", user.get_username(), actor.get_username())
    return removed
