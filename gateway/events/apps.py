from django.apps import AppConfig


class EventsConfig(AppConfig):
    """The transactional outbox and its relay to Kafka. It knows no payment:
    apps record their own events (payments.receivers) and act on committed
    ones through the outbox_committed signal."""

    name = "gateway.events"
    label = "events"
    verbose_name = "Events (outbox)"

    def ready(self) -> None:
        from gateway.core.health import readiness_check_register
        from gateway.core.metrics import scrape_gauges_register
        from gateway.core.operators import operator_permissions_register
        from gateway.events.health import check_kafka, check_outbox
        from gateway.events.metrics import outbox_gauges

        readiness_check_register("kafka", check_kafka)
        readiness_check_register("outbox", check_outbox)
        scrape_gauges_register(outbox_gauges)
        # Operators see the outbox and may publish what waits in it now.
        operator_permissions_register("events", "view_outboxevent", "publish_outboxevent")
