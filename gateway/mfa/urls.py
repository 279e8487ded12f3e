"""Mounted under /admin/mfa/ (gateway.urls), before the admin site's own URLs."""

from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from django_otp_webauthn.views import BeginCredentialAuthenticationView

from gateway.mfa import views
from gateway.mfa.webauthn import (
    PasskeyAuthenticationComplete,
    PasskeyRegistrationBegin,
    PasskeyRegistrationComplete,
)

# django-otp-webauthn's ceremonies under its own namespace (its template tags
# reverse these names), with the gateway's rules on the three that need them.
_webauthn = (
    [
        path("registration/begin/", PasskeyRegistrationBegin.as_view(), name="credential-registration-begin"),
        path(
            "registration/complete/",
            PasskeyRegistrationComplete.as_view(),
            name="credential-registration-complete",
        ),
        path(
            "authentication/begin/",
            BeginCredentialAuthenticationView.as_view(),
            name="credential-authentication-begin",
        ),
        path(
            "authentication/complete/",
            PasskeyAuthenticationComplete.as_view(),
            name="credential-authentication-complete",
        ),
        path(
            "jsi18n/",
            JavaScriptCatalog.as_view(packages=["django_otp_webauthn"]),
            name="js-i18n-catalog",
        ),
    ],
    "otp_webauthn",
)

urlpatterns = [
    path("", views.mfa_verify, name="mfa-verify"),
    path("enrol/", views.mfa_enrol, name="mfa-enrol"),
    path("recovery/", views.mfa_recovery, name="mfa-recovery"),
    path("webauthn/", include(_webauthn)),
]
