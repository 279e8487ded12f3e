"""Payments' gauges for /metrics, read from the database at scrape time
(registered with the ground's gateway.core.metrics in PaymentsConfig.ready)."""

from __future__ import annotations

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily

from payments.models import Payment, Refund


def payments_gauges():
    payments = GaugeMetricFamily(
        "gateway_payments", "Payments by status and currency.", labels=["status", "currency"]
    )
    for row in Payment.objects.values("status", "currency").annotate(n=Count("id")).order_by():
        payments.add_metric([row["status"], row["currency"]], row["n"])
    yield payments
    refunds = GaugeMetricFamily(
        "gateway_refunds", "Refunds by status and currency.", labels=["status", "currency"]
    )
    for row in Refund.objects.values("status", "currency").annotate(n=Count("id")).order_by():
        refunds.add_metric([row["status"], row["currency"]], row["n"])
    yield refunds
    yield GaugeMetricFamily(
        "gateway_payments_needing_review",
        "Payments reconciliation could not settle on its own (review_reason set): an operator decides.",
        value=Payment.objects.exclude(review_reason="").count(),
    )
