"""django-otp-webauthn's ceremonies, bound to the gateway's rules: no
passwordless login (settings), a new passkey on an enrolled account only after a
fresh second factor, and every passkey check recorded for step-up."""

from __future__ import annotations

from django.conf import settings
from django_otp_webauthn import exceptions
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.views import (
    BeginCredentialRegistrationView,
    CompleteCredentialAuthenticationView,
    CompleteCredentialRegistrationView,
)

from gateway.mfa.services import mfa_enrolled, mfa_session_verify, mfa_step_up_fresh


def webauthn_rp_id(request) -> str:
    """The relying party is the host the back office is served on (already
    checked against ALLOWED_HOSTS), unless ADMIN_WEBAUTHN_RP_ID names it."""
    return settings.ADMIN_WEBAUTHN_RP_ID or request.get_host().rsplit(":", 1)[0].strip("[]")


class GatewayWebAuthnHelper(WebAuthnHelper):
    def get_allowed_origins(self) -> list[str]:
        # ADMIN_WEBAUTHN_ORIGINS in production (the public https origin); else
        # the origin this request came to, which Django's host check passed.
        return settings.ADMIN_WEBAUTHN_ORIGINS or [f"{self.request.scheme}://{self.request.get_host()}"]


class _RegistrationRules:
    def check_can_register(self):
        super().check_can_register()
        if mfa_enrolled(self.request.user) and not mfa_step_up_fresh(self.request):
            raise exceptions.NotVerified(detail="Confirm your second factor again before adding a passkey.")


class PasskeyRegistrationBegin(_RegistrationRules, BeginCredentialRegistrationView):
    pass


class PasskeyRegistrationComplete(_RegistrationRules, CompleteCredentialRegistrationView):
    def post(self, *args, **kwargs):
        was_verified = self.request.user.is_verified()
        response = super().post(*args, **kwargs)
        # The first factor of an account: its registration is its first check.
        if response.status_code == 200 and not was_verified and self.request.user.otp_device is not None:
            mfa_session_verify(self.request, self.request.user.otp_device)
        return response


class PasskeyAuthenticationComplete(CompleteCredentialAuthenticationView):
    def complete_auth(self, device):
        if not self.request.user.is_authenticated:  # passwordless is off; kept explicit
            raise exceptions.NotAuthenticated()
        mfa_session_verify(self.request, device)
