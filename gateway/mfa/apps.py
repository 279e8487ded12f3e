from django.apps import AppConfig


class MfaConfig(AppConfig):
    """The operators' second factor in the back office (no tables of its own:
    django-otp's and django-otp-webauthn's devices)."""

    name = "gateway.mfa"
    label = "mfa"
    verbose_name = "Operators' second factor"
