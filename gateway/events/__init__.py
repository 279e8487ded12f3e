"""Events that never get lost: a transactional outbox, relayed to Kafka.

models.py     OutboxEvent, written in the same transaction as the change
schema.py     the versioned event body (docs/events/payment-event.v1.schema.json)
outbox.py     recording events (receivers call it) and relaying them
producer.py   the kafka-python producer
signals.py    outbox_committed, for apps that act on committed events (webhooks)
receivers.py  post_save receivers: they record, they hold no rules
"""
