"""Small pieces the payments admin pages share: the status badge and the operator as an actor."""

from __future__ import annotations

from django.utils.html import format_html

STATUS_COLOURS = {
    "succeeded": "#1e7e34",
    "partially_refunded": "#17a2b8",
    "refunded": "#6c757d",
    "failed": "#c82333",
    "canceled": "#6c757d",
    "processing": "#e0a800",
    "requires_otp": "#6f42c1",
    "requires_action": "#fd7e14",
    "requires_capture": "#fd7e14",
    "pending": "#adb5bd",
}


def status_badge(status: str) -> str:
    return format_html(
        '<span style="background:{};color:#fff;padding:2px 8px;border-radius:10px;'
        'font-size:11px;white-space:nowrap">{}</span>',
        STATUS_COLOURS.get(status, "#adb5bd"),
        status.replace("_", " "),
    )


def operator_actor(request) -> str:
    return f"operator:{request.user.get_username()}"
