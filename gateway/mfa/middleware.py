"""No admin page for a session that has not passed its second factor."""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse

from gateway.mfa.services import mfa_enrolled

ADMIN_PREFIX = "/admin/"
# What a password-only session may still reach: the MFA pages (and their
# WebAuthn ceremony), logging out, and the admin's JavaScript catalogue.
_OPEN_TO_UNVERIFIED = ("/admin/mfa/", "/admin/logout/", "/admin/jsi18n/")


class AdminMfaMiddleware:
    """After django_otp's OTPMiddleware: a signed-in user on an admin page who
    has not passed a second factor in this session goes to verify it, or to
    enrol one when there is none. Superusers included; the API (API keys, no
    session) is not concerned."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path.startswith(ADMIN_PREFIX) and not path.startswith(_OPEN_TO_UNVERIFIED):
            user = request.user
            if user.is_authenticated and not user.is_verified():
                page = "mfa-verify" if mfa_enrolled(user) else "mfa-enrol"
                return redirect(f"{reverse(page)}?{urlencode({'next': request.get_full_path()})}")
        return self.get_response(request)
