"""The operators' second factor in the back office (PCI DSS v4 8.4.2).

Every staff session needs a password and then a second factor before any admin
page: a passkey (WebAuthn, django-otp-webauthn), a code from an authenticator
app (TOTP, django-otp) or a one-time recovery code (django-otp's static
tokens). A first login with a password goes to enrolment; money and keys ask
for the factor again when the last check is older than ADMIN_STEP_UP_SECONDS
(step-up). docs/operators.md shows the pages.
"""
