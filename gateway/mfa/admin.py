"""Operators in the admin: which second factors each has, and the reset of a
lost one, by another superuser, after a fresh check of their own, audited."""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User

from gateway.errors import GatewayError
from gateway.mfa.services import mfa_factors, mfa_factors_reset
from gateway.mfa.views import mfa_step_up_redirect

admin.site.unregister(User)

# django-otp's own device admins show a TOTP device's secret (its QR page) to
# anyone who may view devices; operators manage their own factors on the MFA
# pages, and superusers reset them below. None is mounted.
for _model in apps.get_models():
    if _model._meta.app_label in (
        "otp_totp",
        "otp_static",
        "django_otp_webauthn",
    ) and admin.site.is_registered(_model):
        admin.site.unregister(_model)


@admin.register(User)
class OperatorAdmin(UserAdmin):
    list_display = [*UserAdmin.list_display, "second_factor"]
    actions = ["reset_second_factors"]

    @admin.display(description="second factor")
    def second_factor(self, user) -> str:
        factors = mfa_factors(user)
        parts = [f"{factors['passkeys']} passkey(s)"] if factors["passkeys"] else []
        if factors["totp"]:
            parts.append("authenticator app")
        if factors["recovery_codes"]:
            parts.append(f"{factors['recovery_codes']} recovery codes")
        return ", ".join(parts) or "none: enrols at next login"

    def has_reset_mfa_permission(self, request) -> bool:
        return request.user.is_superuser

    @admin.action(description="Reset the second factor (lost passkey or phone)…", permissions=["reset_mfa"])
    def reset_second_factors(self, request, queryset):
        step_up = mfa_step_up_redirect(
            request,
            next_url=request.get_full_path(),
            reason="Resetting a second factor needs your own second factor again; then reset it once more.",
        )
        if step_up:
            return step_up
        for user in queryset:
            try:
                removed = mfa_factors_reset(user=user, actor=request.user)
            except GatewayError as exc:
                messages.error(request, f"{user.get_username()}: {exc.message}")
                continue
            self.log_change(
                request, user, f"Second factors reset ({removed} removed) by {request.user.get_username()}"
            )
            messages.success(
                request, f"{user.get_username()}: second factors reset; enrols again at next login."
            )
