"""Operators in the admin: which second factors each has, and the reset of a
lost one, by another superuser, after a fresh check of their own, audited."""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied

from gateway.core.errors import GatewayError
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

    # Who may grant what: only a superuser touches superusers, the superuser
    # flag, groups and permissions; and every change of an account (a new one,
    # a password, its rights) needs a fresh second factor.
    _PRIVILEGE_FIELDS = ("is_superuser", "groups", "user_permissions")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else [*fields, *self._PRIVILEGE_FIELDS]

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def _step_up(self, request):
        return mfa_step_up_redirect(
            request,
            next_url=request.get_full_path(),
            reason="Changing an account needs your second factor again.",
        )

    def add_view(self, request, form_url="", extra_context=None):
        return self._step_up(request) or super().add_view(request, form_url, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":
            step_up = self._step_up(request)
            if step_up:
                return step_up
        return super().change_view(request, object_id, form_url, extra_context)

    def user_change_password(self, request, id, form_url=""):
        if (
            not request.user.is_superuser
            and self.get_object(request, id)
            and self.get_object(request, id).is_superuser
        ):
            raise PermissionDenied
        return self._step_up(request) or super().user_change_password(request, id, form_url)

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
