"""The MFA pages of the back office: verify, enrol, recovery codes. Thin: the
rules are in gateway.mfa.services."""

from __future__ import annotations

from urllib.parse import urlencode

import segno
from django import forms
from django.contrib import admin, messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from gateway.mfa.services import (
    mfa_code_throttled,
    mfa_code_verify,
    mfa_enrolled,
    mfa_factors,
    mfa_recovery_codes_issue,
    mfa_session_verify,
    mfa_step_up_fresh,
    mfa_totp_pending,
)

# Wrong codes one password session may send before it is signed out (the
# password, and django-axes' count of it, come first again).
MAX_WRONG_CODES = 5
_WRONG_CODES_SESSION_KEY = "mfa_wrong_codes"


class CodeForm(forms.Form):
    code = forms.CharField(
        max_length=40, strip=True, widget=forms.TextInput(attrs={"autocomplete": "one-time-code"})
    )


def _next_url(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("admin:index")


def mfa_step_up_redirect(request, *, next_url: str, reason: str):
    """None when a second factor was checked within ADMIN_STEP_UP_SECONDS; else
    the redirect to check it again, back to `next_url` after."""
    if mfa_step_up_fresh(request):
        return None
    messages.warning(request, reason)
    return redirect(f"{reverse('mfa-verify')}?{urlencode({'next': next_url, 'step_up': 1})}")


def _render(request, template: str, title: str, **context):
    return TemplateResponse(
        request,
        template,
        {
            **admin.site.each_context(request),
            # No sidebar before the second factor: it would list nothing.
            "is_nav_sidebar_enabled": request.user.is_verified(),
            "title": title,
            "next": _next_url(request),
            **context,
        },
    )


def _refusal(user, method: str) -> str:
    if method in ("totp", "recovery") and mfa_code_throttled(user=user, method=method):
        return "That code is not valid, or came too soon after a wrong one: wait a few seconds and try again."
    return "That code is not valid."


def _wrong_code(request) -> bool:
    """Counts a wrong code, for the session and as a failed login of the
    username from this address (django-axes: it survives signing in again);
    True when the session has used up its tries and was signed out."""
    user_login_failed.send(
        sender=__name__, credentials={"username": request.user.get_username()}, request=request
    )
    wrong = request.session.get(_WRONG_CODES_SESSION_KEY, 0) + 1
    request.session[_WRONG_CODES_SESSION_KEY] = wrong
    if wrong >= MAX_WRONG_CODES:
        logout(request)
        messages.error(request, "Too many wrong codes: sign in again.")
        return True
    return False


@never_cache
@login_required(login_url="admin:login")
@require_http_methods(["GET", "POST"])
def mfa_verify(request):
    user = request.user
    if not mfa_enrolled(user):
        return redirect(f"{reverse('mfa-enrol')}?{urlencode({'next': _next_url(request)})}")
    form = CodeForm(request.POST or None)
    method = request.POST.get("method", "totp")
    if request.method == "POST" and form.is_valid():
        device = mfa_code_verify(user=user, method=method, code=form.cleaned_data["code"])
        if device is not None:
            request.session.pop(_WRONG_CODES_SESSION_KEY, None)
            mfa_session_verify(request, device)
            if method == "recovery":
                left = mfa_factors(user)["recovery_codes"]
                messages.warning(
                    request, f"Recovery code used: {left} left. Make new ones under Second factor."
                )
            return redirect(_next_url(request))
        if _wrong_code(request):
            return redirect("admin:login")
        form.add_error("code", _refusal(user, method))
    return _render(
        request,
        "mfa/verify.html",
        "Confirm it's you" if user.is_verified() else "Second factor",
        form=form,
        method=method,
        factors=mfa_factors(user),
        step_up=user.is_verified(),
    )


@never_cache
@login_required(login_url="admin:login")
@require_http_methods(["GET", "POST"])
def mfa_enrol(request):
    """First login: a passkey or an authenticator app, then recovery codes.
    An enrolled operator adds another factor here after a fresh check."""
    user = request.user
    if mfa_enrolled(user):
        if not user.is_verified():
            return redirect(f"{reverse('mfa-verify')}?{urlencode({'next': request.get_full_path()})}")
        step_up = mfa_step_up_redirect(
            request, next_url=request.get_full_path(), reason="Confirm your second factor to add another."
        )
        if step_up:
            return step_up
    device = mfa_totp_pending(user=user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token("".join(form.cleaned_data["code"].split())):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            first = not user.is_verified()
            mfa_session_verify(request, device)
            if first:
                return _recovery_codes_shown(request)
            messages.success(request, "Authenticator app added.")
            return redirect(_next_url(request))
        form.add_error(
            "code",
            "That code is not valid (or came too soon after a wrong one: wait a few seconds): "
            "check the app's clock and try the next one.",
        )
    return _render(
        request,
        "mfa/enrol.html",
        "Set up a second factor",
        form=form,
        totp_key=device.config_url.split("secret=", 1)[1].split("&", 1)[0],
        totp_qr=segno.make(device.config_url).svg_inline(scale=4),
        enrolled=mfa_enrolled(user),
    )


def _recovery_codes_shown(request):
    codes = mfa_recovery_codes_issue(user=request.user)
    return _render(request, "mfa/recovery.html", "Your recovery codes", codes=codes)


@never_cache
@login_required(login_url="admin:login")
@require_http_methods(["GET", "POST"])
def mfa_recovery(request):
    """New recovery codes (the old ones stop working), shown once in this answer only."""
    if not request.user.is_verified():
        return redirect(f"{reverse('mfa-verify')}?{urlencode({'next': request.get_full_path()})}")
    if request.method == "POST":
        step_up = mfa_step_up_redirect(
            request,
            next_url=reverse("mfa-recovery"),
            reason="Confirm your second factor to make new recovery codes.",
        )
        return step_up or _recovery_codes_shown(request)
    return _render(request, "mfa/recovery.html", "Recovery codes", factors=mfa_factors(request.user))
