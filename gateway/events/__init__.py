"""Events that never get lost: a transactional outbox, relayed to Kafka.

models.py     OutboxEvent, written in the same transaction as the change
outbox.py     recording events (the apps' receivers call it) and relaying them
producer.py   the kafka-python producer
signals.py    outbox_committed, for apps that act on committed events (webhooks)

What an event says is its app's business: a payment's body and schema are
payments.kafka_events (docs/events/payment-event.v1.schema.json), recorded by
the post_save receiver in payments.receivers.
"""
