"""The outbox's gauges, read when Prometheus scrapes (registered with the
ground's gateway.core.metrics from EventsConfig.ready)."""

from __future__ import annotations

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from gateway.events.models import OutboxEvent
from gateway.events.outbox import outbox_pending_by_shard


def outbox_gauges():
    backlog = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(
        n=Count("id"), oldest=Min("created_at")
    )
    yield GaugeMetricFamily("gateway_outbox_pending", "Events waiting to be published.", value=backlog["n"])
    per_shard = GaugeMetricFamily(
        "gateway_outbox_pending_by_shard",
        "Events waiting to be published, per relay shard.",
        labels=["shard"],
    )
    for shard, count in outbox_pending_by_shard().items():
        per_shard.add_metric([str(shard)], count)
    yield per_shard
    age = (timezone.now() - backlog["oldest"]).total_seconds() if backlog["oldest"] else 0
    yield GaugeMetricFamily(
        "gateway_outbox_oldest_age_seconds", "Age of the oldest unpublished event.", value=age
    )
