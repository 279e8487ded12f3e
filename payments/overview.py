"""The operators' dashboard: numbers from the database, and a chart drawn as SVG
on the server (the admin must work offline: no CDN, no JavaScript library)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.html import escape

from payments.enums import PaymentStatus
from payments.models import Payment
from payments.money import format_amount, format_money

CAPTURED = (PaymentStatus.SUCCEEDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)
STUCK = (PaymentStatus.PROCESSING, PaymentStatus.REQUIRES_OTP, PaymentStatus.REQUIRES_ACTION)


@dataclass
class DayPoint:
    day: date
    volume_minor: int
    succeeded: int
    failed: int

    @property
    def success_rate(self) -> float | None:
        total = self.succeeded + self.failed
        return self.succeeded / total if total else None


def payments_overview(*, now: datetime | None = None) -> dict:
    now = now or timezone.now()
    today = datetime.combine(timezone.localdate(now), time.min, tzinfo=now.tzinfo)
    since = today - timedelta(days=29)
    recent = Payment.objects.filter(created_at__gte=since)

    def volumes(queryset) -> list[dict]:
        rows = (
            queryset.filter(status__in=CAPTURED)
            .values("currency")
            .annotate(volume=Sum("captured_minor"), refunded=Sum("refunded_minor"), count=Count("id"))
            .order_by("-volume")
        )
        return [
            {
                **row,
                "volume_text": format_money(row["volume"] or 0, row["currency"]),
                "refunded_text": format_money(row["refunded"] or 0, row["currency"]),
            }
            for row in rows
        ]

    outcome = recent.aggregate(
        succeeded=Count("id", filter=Q(status__in=CAPTURED)),
        failed=Count("id", filter=Q(status=PaymentStatus.FAILED)),
        refunded=Count("id", filter=Q(refunded_minor__gt=0)),
    )
    decided = outcome["succeeded"] + outcome["failed"]
    stuck = dict(Payment.objects.filter(status__in=STUCK).values_list("status").annotate(n=Count("id")))
    volume_30d = volumes(recent)
    chart_currency = volume_30d[0]["currency"] if volume_30d else None
    return {
        "today": volumes(Payment.objects.filter(created_at__gte=today)),
        "last_30_days": volume_30d,
        "success_rate": outcome["succeeded"] / decided if decided else None,
        "refund_rate": outcome["refunded"] / outcome["succeeded"] if outcome["succeeded"] else None,
        "stuck": {status: stuck.get(status, 0) for status in STUCK},
        "chart_currency": chart_currency,
        "days": _daily(recent, since.date(), chart_currency),
    }


def _daily(queryset, first_day: date, currency: str | None) -> list[DayPoint]:
    rows = (
        queryset.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            volume=Sum("captured_minor", filter=Q(status__in=CAPTURED, currency=currency)),
            succeeded=Count("id", filter=Q(status__in=CAPTURED)),
            failed=Count("id", filter=Q(status=PaymentStatus.FAILED)),
        )
    )
    by_day = {row["day"]: row for row in rows}
    points = []
    for offset in range(30):
        day = first_day + timedelta(days=offset)
        row = by_day.get(day, {})
        points.append(DayPoint(day, row.get("volume") or 0, row.get("succeeded", 0), row.get("failed", 0)))
    return points


def overview_chart_svg(
    days: list[DayPoint], currency: str | None, *, width: int = 720, height: int = 220
) -> str:
    """Bars: daily volume in the main currency. Line: daily success rate (0-100 %).
    Every text in it is escaped: the admin marks the result safe."""

    def escaped_amount(minor: int, code: str) -> str:
        return escape(format_amount(minor, code))

    pad_left, pad_right, pad_top, pad_bottom = 56, 44, 16, 28
    plot_w, plot_h = width - pad_left - pad_right, height - pad_top - pad_bottom
    top = max((d.volume_minor for d in days), default=0) or 1
    step = plot_w / max(len(days), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'role="img" aria-label="Daily volume and success rate, last 30 days" '
        f'style="font:11px sans-serif;max-width:{width}px">',
        f'<rect x="{pad_left}" y="{pad_top}" width="{plot_w}" height="{plot_h}" fill="#f8f9fa"/>',
    ]
    for index, day in enumerate(days):
        bar_h = plot_h * day.volume_minor / top
        x = pad_left + index * step
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{pad_top + plot_h - bar_h:.1f}" width="{max(step - 2, 1):.1f}" '
            f'height="{bar_h:.1f}" fill="#417690"><title>{day.day}: '
            f"{escaped_amount(day.volume_minor, currency) if currency else 0}</title></rect>"
        )
    line = [
        (pad_left + (i + 0.5) * step, pad_top + plot_h * (1 - d.success_rate))
        for i, d in enumerate(days)
        if d.success_rate is not None
    ]
    if line:
        parts.append(
            '<polyline fill="none" stroke="#e0a800" stroke-width="2" points="'
            + " ".join(f"{x:.1f},{y:.1f}" for x, y in line)
            + '"/>'
        )
        parts.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#e0a800"/>' for x, y in line)
    top_text = escaped_amount(top, currency) if currency else "0"
    first_day, last_day = (days[0].day, days[-1].day) if days else ("", "")
    parts += [
        f'<text x="{pad_left - 6}" y="{pad_top + 10}" text-anchor="end">{top_text}</text>',
        f'<text x="{pad_left - 6}" y="{pad_top + plot_h}" text-anchor="end">0</text>',
        f'<text x="{width - pad_right + 6}" y="{pad_top + 10}">100%</text>',
        f'<text x="{width - pad_right + 6}" y="{pad_top + plot_h}">0%</text>',
        f'<text x="{pad_left}" y="{height - 8}">{first_day}</text>',
        f'<text x="{width - pad_right}" y="{height - 8}" text-anchor="end">{last_day}</text>',
        f'<text x="{pad_left + plot_w / 2}" y="{height - 8}" text-anchor="middle">bars: volume '
        f"({escape((currency or '').upper())}) · line: success rate</text>",
        "</svg>",
    ]
    return "".join(parts)
