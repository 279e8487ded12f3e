"""Events that never get lost: a transactional outbox, relayed to Kafka.

models.py       OutboxEvent, written in the same transaction as the change
outbox.py       recording events (the apps' receivers call it) and relaying them
wake.py         shards (a hash of the payment id) and the wake-ups of their relays
relay.py        the relay process's loop: wait for a wake-up, relay the shard
producer.py     the kafka-python producer; kafka.py, the brokers' settings and ping
signals.py      outbox_committed, for apps that act on committed events (webhooks)
tasks.py        beat's sweeper (every shard, id order): the safety net
middleware.py   one wake-up per request, at its end
health.py, metrics.py, admin.py   what the outbox adds to /health/ready, /metrics
                and the back office (registered from apps.py)
management/     outbox_relay, events_replay, events_consume, kafka_create_topics

What an event says is its app's business: a payment's body and schema are
payments.kafka_events (docs/events/payment-event.v1.schema.json), recorded by
the post_save receiver in payments.receivers.
"""
