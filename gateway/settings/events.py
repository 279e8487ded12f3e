"""Events: Kafka, and the outbox relay that publishes to it (gateway.events)."""

from django.core.exceptions import ImproperlyConfigured

from gateway.settings.environment import env

# --- Kafka ----------------------------------------------------------------------
# Comma-separated host:port list, as in the seed. Empty: events wait in the
# outbox and nothing is lost.
KAFKA_BROKERS = env.list("KAFKA_BROKERS", default=[])
KAFKA_TOPICS = {
    "events": env.str("KAFKA_TOPIC_EVENTS", default="payment-events"),
    "success": env.str("KAFKA_TOPIC_SUCCESS", default="payment-success"),
    "failed": env.str("KAFKA_TOPIC_FAILED", default="payment-failed"),
    "refunded": env.str("KAFKA_TOPIC_REFUNDED", default="payment-refunded"),
}
KAFKA_TOPIC_PARTITIONS = env.int("KAFKA_TOPIC_PARTITIONS", default=3)
KAFKA_REPLICATION_FACTOR = env.int("KAFKA_REPLICATION_FACTOR", default=1)
# Topics created by kafka_create_topics get this min.insync.replicas: with
# acks=all, a write is acknowledged once this many replicas have it (a cluster
# of 3 keeps accepting writes with one broker down, and loses nothing acknowledged).
# Unset: the topic takes the broker's own default.
KAFKA_MIN_INSYNC_REPLICAS = env.int("KAFKA_MIN_INSYNC_REPLICAS", default=None)
# How long one publish may wait for the broker before the outbox keeps the event for later.
KAFKA_REQUEST_TIMEOUT_MS = env.int("KAFKA_REQUEST_TIMEOUT_MS", default=5000)
# TLS and SASL to the brokers (a managed Kafka): PLAINTEXT, SSL, SASL_PLAINTEXT or
# SASL_SSL; PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; the CA bundle for SSL (empty:
# the system's). Only the relay and the commands that read Kafka need the credentials.
KAFKA_SECURITY_PROTOCOL = env.str("KAFKA_SECURITY_PROTOCOL", default="PLAINTEXT").strip().upper()
KAFKA_SASL_MECHANISM = env.str("KAFKA_SASL_MECHANISM", default="SCRAM-SHA-512").strip().upper()
KAFKA_SASL_USERNAME = env.str("KAFKA_SASL_USERNAME", default="")
KAFKA_SASL_PASSWORD = env.str("KAFKA_SASL_PASSWORD", default="")
KAFKA_SSL_CAFILE = env.str("KAFKA_SSL_CAFILE", default="")
if KAFKA_SECURITY_PROTOCOL not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
    raise ImproperlyConfigured("KAFKA_SECURITY_PROTOCOL must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.")
if KAFKA_SECURITY_PROTOCOL.startswith("SASL_") and not (KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD):
    raise ImproperlyConfigured(
        f"KAFKA_SECURITY_PROTOCOL={KAFKA_SECURITY_PROTOCOL} needs KAFKA_SASL_USERNAME and _PASSWORD."
    )

# --- The outbox relay -----------------------------------------------------------
# Rows are spread over this many shards by a hash of their payment id, and one
# relay process serves each shard (`manage.py outbox_relay --shard K`), so that
# relays scale out: each locks only its own shard's rows (SKIP LOCKED), and a
# payment's events, all in one shard, keep their order. 1 (the default) is one
# relay for everything. Changing it on a deploy is safe: rows written before
# keep their shard, and a relay never publishes a payment's event while an
# older one of the same payment waits anywhere else (docs/events.md).
OUTBOX_SHARDS = env.int("OUTBOX_SHARDS", default=1)
if not 1 <= OUTBOX_SHARDS <= 1024:
    raise ImproperlyConfigured("OUTBOX_SHARDS must be between 1 and 1024.")
# A relay waits this long for a wake-up (a Redis BLPOP: the request that wrote
# rows wakes its shard's relay after commit) before it looks at its shard anyway.
# Without Redis (make run) it only polls, this often. The sweeper leaves rows
# younger than five of these to the relays (gateway.events.outbox.SWEEP_AFTER_POLLS).
OUTBOX_RELAY_POLL_SECONDS = env.float("OUTBOX_RELAY_POLL_SECONDS", default=1.0)
# After a wake-up the relay waits this long before it reads its shard, so that
# the commits of that window share one pass (a transaction, a Kafka round trip,
# one UPDATE): at 30 payments/s a pass per payment cost ~5 ms of relay CPU
# each. It adds as much to the event delay. 0: at once.
OUTBOX_RELAY_GATHER_MS = env.int("OUTBOX_RELAY_GATHER_MS", default=50)
# The relay publishes at most this many rows in one transaction, then goes on.
OUTBOX_RELAY_BATCH = env.int("OUTBOX_RELAY_BATCH", default=500)
# A BLPOP longer than Redis's 30 s socket timeout would fail every wait; 0
# would loop on the database without pause.
if not 0 < OUTBOX_RELAY_POLL_SECONDS < 30:
    raise ImproperlyConfigured("OUTBOX_RELAY_POLL_SECONDS must be above 0 and below 30.")
if OUTBOX_RELAY_BATCH < 1 or OUTBOX_RELAY_GATHER_MS < 0:
    raise ImproperlyConfigured("OUTBOX_RELAY_BATCH must be at least 1 and OUTBOX_RELAY_GATHER_MS at least 0.")
# The sweeper (beat, every shard in id order) publishes what no relay did, this often.
OUTBOX_SWEEP_SECONDS = env.int("OUTBOX_SWEEP_SECONDS", default=15)
# After a failed publish, a relay waits this long before it tries its shard again.
OUTBOX_BACKOFF_SECONDS = env.int("OUTBOX_BACKOFF_SECONDS", default=10)
