import csv
import json
from datetime import UTC

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from payments.models import Payment
from payments.money import format_amount


def _moment(value: str, *, end: bool = False):
    parsed = parse_datetime(value)
    if parsed is None and (day := parse_date(value)):
        parsed = timezone.datetime.combine(
            day, timezone.datetime.max.time() if end else timezone.datetime.min.time()
        )
    if parsed is None:
        raise CommandError(f"Not a date or ISO date-time: {value!r}")
    return timezone.make_aware(parsed, UTC) if timezone.is_naive(parsed) else parsed


class Command(BaseCommand):
    help = "Counts and volumes per status and currency between two dates."

    def add_arguments(self, parser):
        parser.add_argument("--since", required=True, help="Date or ISO date-time (inclusive).")
        parser.add_argument("--until", required=True, help="Date or ISO date-time (inclusive).")
        parser.add_argument("--format", choices=["table", "csv", "json"], default="table")

    def handle(self, *args, since: str, until: str, format: str, **options):
        rows = (
            Payment.objects.filter(created_at__gte=_moment(since), created_at__lte=_moment(until, end=True))
            .values("status", "currency")
            .annotate(
                count=Count("id"),
                amount_minor=Sum("amount_minor"),
                captured_minor=Sum("captured_minor"),
                refunded_minor=Sum("refunded_minor"),
            )
            .order_by("currency", "status")
        )
        report = [
            {
                **row,
                "amount": format_amount(row["amount_minor"], row["currency"]),
                "captured": format_amount(row["captured_minor"], row["currency"]),
                "refunded": format_amount(row["refunded_minor"], row["currency"]),
            }
            for row in rows
        ]
        columns = [
            "currency",
            "status",
            "count",
            "amount",
            "captured",
            "refunded",
            "amount_minor",
            "captured_minor",
            "refunded_minor",
        ]
        if format == "json":
            self.stdout.write(json.dumps(report, indent=2))
        elif format == "csv":
            writer = csv.DictWriter(self.stdout, fieldnames=columns)
            writer.writeheader()
            writer.writerows({c: row[c] for c in columns} for row in report)
        else:
            self.stdout.write(
                f"{'currency':<9}{'status':<20}{'count':>7}{'amount':>16}{'captured':>16}{'refunded':>16}"
            )
            for row in report:
                self.stdout.write(
                    f"{row['currency']:<9}{row['status']:<20}{row['count']:>7}{row['amount']:>16}"
                    f"{row['captured']:>16}{row['refunded']:>16}"
                )
