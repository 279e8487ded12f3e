"""How a code reaches the payer. E-mail now; an SMS sender implements the same
interface later (settings.OTP_SENDER)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils.html import escape
from django.utils.module_loading import import_string


class OtpDeliveryError(Exception):
    """The code could not be handed over (SMTP down, …); the send is retried."""


@dataclass(frozen=True)
class OtpMessage:
    to: str
    code: str
    merchant: str
    order_id: str
    amount: str  # formatted for people: "$19.99"
    expires_in_minutes: int

    def __repr__(self) -> str:  # the code never reaches a log or a traceback
        return f"OtpMessage(to={mask_email(self.to)!r}, order_id={self.order_id!r})"


class OtpSender(Protocol):
    channel: str

    def send(self, message: OtpMessage) -> None: ...


class EmailOtpSender:
    """Through Django's e-mail framework: console or locmem in development and
    tests, SMTP in production (EMAIL_URL)."""

    channel = "email"

    def send(self, message: OtpMessage) -> None:
        subject = f"Your verification code for order {message.order_id}"
        text = (
            f"Your verification code is {message.code}\n\n"
            f"It confirms a payment of {message.amount} to {message.merchant} for order {message.order_id}.\n"
            f"It expires in {message.expires_in_minutes} minutes and can be used once.\n\n"
            "If you did not start this payment, ignore this message; nothing will be charged."
        )
        html = (
            f'<p>Your verification code is</p><p style="font-size:28px;letter-spacing:4px">'
            f"<strong>{escape(message.code)}</strong></p>"
            f"<p>It confirms a payment of <strong>{escape(message.amount)}</strong> to "
            f"{escape(message.merchant)} for order {escape(message.order_id)}.</p>"
            f"<p>It expires in {message.expires_in_minutes} minutes and can be used once.</p>"
            "<p>If you did not start this payment, ignore this message; nothing will be charged.</p>"
        )
        email = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [message.to])
        email.attach_alternative(html, "text/html")
        try:
            email.send()
        except OSError as exc:  # smtplib's errors are OSErrors, as are refused connections
            raise OtpDeliveryError(f"{type(exc).__name__}") from exc


def get_otp_sender() -> OtpSender:
    return import_string(settings.OTP_SENDER)()


def mask_email(address: str) -> str:
    """j***@example.com: enough for an operator, not a leak."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
